"""The compiled core (Rust, `vinops_core/src/python.rs`). Rules: docs/normalization.md."""

from collections.abc import Mapping
from os import PathLike
from typing import Any, Literal

__version__: str

class VinopsError(Exception):
    """A file vinops cannot read at all. `code` is stable: io, empty_file, missing_lot_number_column, taxonomy."""

    code: str

class CsvReader:
    """Streams a Copart sales-data CSV as Arrow record batches (one pass: parse, normalize, hash).

    The header is read on construction (raising VinopsError for an empty or non-Copart file). Consume the
    batches once through the Arrow C stream interface, e.g. `pyarrow.RecordBatchReader.from_stream(reader)`;
    the Rust side runs without the GIL. `summary()` is complete once the stream is exhausted.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        batch_size: int = 65536,
        taxonomy: Mapping[str, Mapping[str, int]] | None = None,
        seed: int = 0,
    ) -> None:
        """`seed` (0 to 2**64 - 1): the seed of every row's `record_hash`, XXH3-64 of the record's raw bytes."""
    def __arrow_c_schema__(self) -> object: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def set_known(self, lots: list[int], hashes: list[int]) -> None:
        """Records the caller already stores (`lots[i]` stores a record hashed `hashes[i]`): from now on a
        record whose lot stores its very hash is left out of the batches (counted as read and ok, its
        taxonomy values counted) and listed by `take_unchanged()`."""
    def take_unchanged(self) -> tuple[list[int], list[int], list[int]]:
        """`(lots, source_rows, positions)` of the records left out since the last call."""
    def summary(self) -> dict[str, Any]:
        """sha256, rows_in, rows_ok, rows_quarantined, quarantine [{row, line, reason, detail, raw}], unknown
        {domain: {value: count}}, categorical_cells, extra_columns, missing_columns, header_width, bytes,
        seconds (time spent reading and normalizing), finished."""

class OutputSchema:
    """The schema of every batch; `pyarrow.schema(OutputSchema())` reads it."""

    def __init__(self) -> None: ...
    def __arrow_c_schema__(self) -> object: ...

def column_docs() -> list[tuple[str, bool, str]]:
    """(name, nullable, description) of every output column, in order."""

def tokenize(
    data: bytes, expected_fields: int | None = None
) -> list[tuple[Literal["row"], list[bytes], bool] | tuple[Literal["bad"], str, bytes]]:
    """Splits bytes into records with the Copart dialect, without header semantics (tests, debugging)."""

def zones_csv() -> str:
    """The zone table compiled into the core (`kind,key,zone,note`; vinops_core/data/zones.csv)."""
