"""Parse a Copart sales-data CSV into Arrow record batches, without a database.

`read_file` is the one entry point: the Rust engine (default) or the pure-Python reference
(`engine="python"`) behind the same interface, with the same schema and the same summary.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pyarrow as pa

from vinops import _core

Engine = Literal["rust", "python"]

#: The schema of every batch either engine yields (defined once, in vinops_core/src/schema.rs).
SCHEMA: pa.Schema = pa.schema(_core.OutputSchema())

DEFAULT_BATCH_SIZE = 65_536


class _Source(Protocol):
    def summary(self) -> dict[str, Any]: ...


@dataclass
class Parsed:
    """One file being parsed: consume `reader` once, then read `summary()`."""

    reader: pa.RecordBatchReader
    _source: _Source
    engine: Engine

    def summary(self) -> dict[str, Any]:
        return self._source.summary()


def read_file(
    path: str | os.PathLike[str],
    *,
    engine: Engine = "rust",
    taxonomy: Mapping[str, Mapping[str, int]] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Parsed:
    """Opens `path` and reads its header; raises `VinopsError` for a file that is not a Copart CSV."""
    mapping = {d: dict(v) for d, v in taxonomy.items()} if taxonomy is not None else None
    if engine == "rust":
        core = _core.CsvReader(os.fspath(path), batch_size=batch_size, taxonomy=mapping)
        return Parsed(pa.RecordBatchReader.from_stream(core), core, engine)
    if engine == "python":
        from vinops.reference import ReferenceReader

        ref = ReferenceReader(path, taxonomy=mapping, batch_size=batch_size)
        return Parsed(pa.RecordBatchReader.from_batches(SCHEMA, ref.batches()), ref, engine)
    raise ValueError(f"unknown engine {engine!r} (choose 'rust' or 'python')")


def parse_file(
    path: str | os.PathLike[str],
    *,
    engine: Engine = "rust",
    taxonomy: Mapping[str, Mapping[str, int]] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Any = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Parses the whole file: the rows as one table (batches kept, no copy) and the summary."""
    started = time.perf_counter()
    parsed = read_file(path, engine=engine, taxonomy=taxonomy, batch_size=batch_size)
    batches = []
    for batch in parsed.reader:
        batches.append(batch)
        if on_batch is not None:
            on_batch(batch)
    summary = parsed.summary()
    summary["wall_seconds"] = time.perf_counter() - started
    return pa.Table.from_batches(batches, schema=SCHEMA), summary


