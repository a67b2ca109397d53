"""Parse a Copart sales-data CSV into Arrow record batches, without a database.

`read_file` is the one entry point: the Rust engine (default) or the pure-Python reference
(`engine="python"`) behind the same interface, with the same schema and the same summary.
"""

from __future__ import annotations

import json
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

#: Bump whenever a change of the parsing rules (docs/normalization.md) or of either engine could give a record
#: other values: it is part of :func:`record_seed`, so every stored ``lots.row_hash`` stops matching and the
#: next window compares every row again instead of skipping it as unchanged.
NORMALIZATION_VERSION = 1


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

    @property
    def set_known(self) -> Any:
        """The Rust reader's ``set_known(lots, hashes)`` (None for the reference engine): records whose lot
        stores their very record hash are then left out of the batches; ``take_unchanged`` lists them."""
        return getattr(self._source, "set_known", None)

    @property
    def take_unchanged(self) -> Any:
        return getattr(self._source, "take_unchanged", None)


def read_file(
    path: str | os.PathLike[str],
    *,
    engine: Engine = "rust",
    taxonomy: Mapping[str, Mapping[str, int]] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
) -> Parsed:
    """Opens `path` and reads its header; raises `VinopsError` for a file that is not a Copart CSV.

    `seed` seeds every row's `record_hash` (the ingest passes :func:`record_seed`)."""
    mapping = {d: dict(v) for d, v in taxonomy.items()} if taxonomy is not None else None
    if engine == "rust":
        core = _core.CsvReader(os.fspath(path), batch_size=batch_size, taxonomy=mapping, seed=seed)
        return Parsed(pa.RecordBatchReader.from_stream(core), core, engine)
    if engine == "python":
        from vinops.reference import ReferenceReader

        ref = ReferenceReader(path, taxonomy=mapping, batch_size=batch_size, seed=seed)
        return Parsed(pa.RecordBatchReader.from_batches(SCHEMA, ref.batches()), ref, engine)
    raise ValueError(f"unknown engine {engine!r} (choose 'rust' or 'python')")


def record_seed(path: str | os.PathLike[str], taxonomy: Mapping[str, Mapping[str, int]] | None) -> int:
    """The seed of `record_hash` for parsing `path` with `taxonomy`: a fingerprint (XXH3-64) of everything
    besides a record's own bytes that determines its row: the header record's raw bytes (column order and
    names), the taxonomy mapping, the zone table, the core's version and :data:`NORMALIZATION_VERSION`. So two
    rows with the same record hash (same record bytes, same seed) have the same values: the ingest skips a row
    whose hash its lot already stores. Reads only the file's first record."""
    import xxhash

    from vinops.reference import _RecordStream

    with open(path, "rb") as f:
        header = _RecordStream(f).next_record(None)
    h = xxhash.xxh3_64()

    def part(data: bytes) -> None:
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)

    part(f"vinops-normalization {NORMALIZATION_VERSION} core {_core.__version__}".encode())
    part(header.raw if header is not None else b"")
    mapping = {d: dict(v) for d, v in taxonomy.items()} if taxonomy is not None else None
    part(json.dumps(mapping, sort_keys=True, separators=(",", ":"), default=str).encode())
    part(_core.zones_csv().encode())  # the bytes of vinops_core/data/zones.csv
    return h.intdigest()


def parse_file(
    path: str | os.PathLike[str],
    *,
    engine: Engine = "rust",
    taxonomy: Mapping[str, Mapping[str, int]] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Any = None,
    seed: int = 0,
) -> tuple[pa.Table, dict[str, Any]]:
    """Parses the whole file: the rows as one table (batches kept, no copy) and the summary."""
    started = time.perf_counter()
    parsed = read_file(path, engine=engine, taxonomy=taxonomy, batch_size=batch_size, seed=seed)
    batches = []
    for batch in parsed.reader:
        batches.append(batch)
        if on_batch is not None:
            on_batch(batch)
    summary = parsed.summary()
    summary["wall_seconds"] = time.perf_counter() - started
    return pa.Table.from_batches(batches, schema=SCHEMA), summary


