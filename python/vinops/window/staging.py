"""Stage rows: the parser's Arrow batches into ``staging.lots`` by binary COPY, and what the window keeps
of them on the way (lot numbers, newest source time, rows skipped as unchanged), plus the quarantine and
unknown-value records of the file."""

from __future__ import annotations

import csv
import io
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pyarrow as pa
from psycopg import sql

__all__ = [
    "PARSE_AHEAD",
    "Copied",
    "Stored",
    "WindowSource",
    "copy_batches",
    "header_of",
    "pg_type",
    "skipped_duplicates",
    "skipped_late",
    "store_quarantine",
    "store_unknown",
    "stored_hashes",
]


@dataclass
class WindowSource:
    """What a window loads: Arrow batches (schema of vinops_core/src/schema.rs), consumed once, and the
    parser's summary, valid after the batches are exhausted."""

    batches: Iterable[pa.RecordBatch]
    summary: Callable[[], dict[str, Any]]
    sha256: str
    bytes: int
    source_name: str | None = None
    #: The file itself: kept in the raw store, and its header tells where the lot number is in a
    #: quarantined row. None for batches that did not come from a file (tests).
    path: Path | None = None
    mtime: float | None = None
    #: The header's column names, when there is no file to read them from.
    header: list[str] | None = None
    #: The parser's own skip of unchanged records (the Rust reader; None for others): ``set_known(lots,
    #: hashes)`` tells it which record each ACTIVE lot stores, ``take_unchanged()`` returns ``(lots,
    #: source_rows, positions)`` of the records it then left out of the batches.
    set_known: Callable[[list[int], list[int]], None] | None = None
    take_unchanged: Callable[[], tuple[list[int], list[int], list[int]]] | None = None


#: Batches the parser may read ahead of the encoder (each a few megabytes at 8,192 rows): the parse starts
#: while the stored hashes are read, and keeps going while the encoder waits on the COPY.
PARSE_AHEAD = 3


class RowProgress(Protocol):
    def rows(self, n: int) -> None: ...


class StageClock(Protocol):
    def add(self, name: str, seconds: float) -> None: ...


_ARROW_TO_PG: dict[pa.DataType, str] = {
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float64(): "double precision",
    pa.bool_(): "boolean",
    pa.string(): "text",
    pa.large_string(): "text",
    pa.date32(): "date",
    pa.timestamp("us", tz="UTC"): "timestamp with time zone",
    pa.timestamp("us"): "timestamp without time zone",
}


def pg_type(t: pa.DataType) -> str | None:
    if t in _ARROW_TO_PG:
        return _ARROW_TO_PG[t]
    if pa.types.is_list(t) and t.value_type in _ARROW_TO_PG:
        return _ARROW_TO_PG[t.value_type] + "[]"
    return None


def staging_columns(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute(
        """SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
           WHERE attrelid = 'staging.lots'::regclass AND attnum > 0 AND NOT attisdropped"""
    ).fetchall()
    return dict(rows)


def check_schema(schema: pa.Schema, staging: dict[str, str]) -> None:
    problems = []
    names = set()
    for f in schema:
        names.add(f.name)
        want = staging.get(f.name)
        got = pg_type(f.type)
        if f.name == "load_id":
            problems.append(f"{f.name} is reserved for the loader")
        elif want is None:
            problems.append(f"column {f.name} is not in staging.lots")
        elif got is None:
            problems.append(f"column {f.name}: Arrow type {f.type} has no binary COPY mapping")
        elif got != want:
            problems.append(f"column {f.name}: Arrow {f.type} is {got}, staging.lots has {want}")
    if "lot_number" not in names:
        problems.append("the batches have no lot_number column")
    if problems:
        raise ValueError(
            "the parser's batches do not match staging.lots (is the database migrated for this version?): "
            + "; ".join(problems)
        )


@dataclass
class Stored:
    """lot_number, row_hash, first_seen_at (µs since 2000-01-01 UTC), source_updated_at and auction presence
    of the ACTIVE lots, read inside the window's transaction under the ingest lock (so no other window
    changes them before the COPY)."""

    lots: pa.Array
    hashes: pa.Array
    first_seen_us: pa.Array
    #: The stored rows' source_updated_at (timestamp, UTC) and whether they have an auction time: for a
    #: record left out as unchanged these are its own values (same bytes, same seed).
    updated: pa.Array
    has_auction: pa.Array

    def __post_init__(self) -> None:
        # Built once for the whole file: lot → position, and the hashes as Python ints. pc.index_in would
        # build a hash table of every stored lot again for each batch (about 15 ms a batch for 150k lots).
        self.lot_list = self.lots.to_pylist()
        self.hash_list = self.hashes.to_pylist()
        self._position = {lot: i for i, lot in enumerate(self.lot_list)}

    def unchanged(self, lots: pa.Array, hashes: pa.Array) -> tuple[pa.Array, pa.Array]:
        """For a batch's lot numbers and record hashes: a mask of the rows whose lot stores that very hash,
        and those rows' positions in this object's arrays."""
        position, stored = self._position, self.hash_list
        same: list[bool] = []
        index: list[int] = []
        for lot, h in zip(lots.to_pylist(), hashes.to_pylist()):
            i = position.get(lot)
            if i is not None and stored[i] == h:
                same.append(True)
                index.append(i)
            else:
                same.append(False)
        return pa.array(same, pa.bool_()), pa.array(index, pa.int64())


@dataclass
class Copied:
    #: Rows the parser yielded (staged or skipped as unchanged).
    rows: int = 0
    #: Rows COPYed into staging.lots (rows - skipped).
    staged: int = 0
    #: Every lot number the file lists (skipped rows too): duplicates and completion's presence set.
    lot_numbers: list[pa.Array] = field(default_factory=list)
    max_source_updated_at: datetime | None = None
    with_auction: int = 0
    #: Per batch, of the rows skipped as unchanged: lot_number, source_row, source_updated_at, and the
    #: lot's index in Stored.
    skipped_lots: list[pa.Array] = field(default_factory=list)
    skipped_rows: list[pa.Array] = field(default_factory=list)
    skipped_updated: list[pa.Array] = field(default_factory=list)
    skipped_index: list[pa.Array] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.rows - self.staged

    def distinct_lots(self) -> int:
        if not self.lot_numbers:
            return 0
        import pyarrow.compute as pc

        return int(pc.count_distinct(pa.chunked_array(self.lot_numbers, pa.int64())).as_py())


def stored_hashes(conn: psycopg.Connection) -> Stored | None:
    """The (lot_number, row_hash, first_seen_at, source_updated_at, has auction time) of every ACTIVE lot. One
    value comes back: the five as big-endian int64s (their binary send format; times in µs since 2000-01-01)
    aggregated into one
    bytea, read into Arrow arrays with no Python object per lot (a COPY TO sends a message per row, about
    four times slower here). None when there is none (a first load)."""
    from array import array

    blob = conn.execute(
        """SELECT string_agg(int8send(lot_number) || int8send(row_hash) || timestamptz_send(first_seen_at)
                             || coalesce(timestamptz_send(source_updated_at), int8send(%s))
                             || int8send((auction_at IS NOT NULL)::int::int8), ''::bytea)
           FROM lots WHERE status = 'ACTIVE'""",
        (_NO_TIME,),
        binary=True,
    ).fetchone()[0]  # type: ignore[index]
    if not blob:
        return None
    values = array("q")
    assert values.itemsize == 8
    values.frombytes(blob)
    if sys.byteorder == "little":
        values.byteswap()

    def column(k: int) -> pa.Array:
        part = values[k::5]
        return pa.Array.from_buffers(pa.int64(), len(part), [None, pa.py_buffer(part)])

    import pyarrow.compute as pc

    updated_pg = column(3)
    updated = pc.if_else(
        pc.equal(updated_pg, _NO_TIME), pa.scalar(None, pa.int64()), pc.add(updated_pg, _PG_EPOCH_UNIX_US)
    ).cast(pa.timestamp("us", tz="UTC"))
    return Stored(column(0), column(1), column(2), updated, column(4))


#: PostgreSQL's timestamp epoch (the unit of timestamptz_send: µs since then), and its distance from 1970.
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_PG_EPOCH_UNIX_US = 946_684_800_000_000
#: Stands for a NULL time in the stored-hashes blob.
_NO_TIME = -(2**63)


def _pg_us(t: datetime) -> int:
    d = t - _PG_EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def skipped_duplicates(copied: Copied) -> dict[str, list[Any]]:
    """The skipped copies of lots the file lists more than once, as dedupe_lots' parameters."""
    import pyarrow.compute as pc

    empty: dict[str, list[Any]] = {"skipped_lots": [], "skipped_rows": [], "skipped_updated": []}
    if not copied.skipped_lots:
        return empty
    counts = pc.value_counts(pa.chunked_array(copied.lot_numbers, pa.int64()))
    twice = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    lots = pa.concat_arrays(copied.skipped_lots)
    keep = pc.is_in(lots, value_set=twice)
    if not pc.any(keep).as_py():
        return empty
    return {
        "skipped_lots": pc.filter(lots, keep).to_pylist(),
        "skipped_rows": pc.filter(pa.concat_arrays(copied.skipped_rows), keep).to_pylist(),
        "skipped_updated": pc.filter(pa.concat_arrays(copied.skipped_updated), keep).to_pylist(),
    }


def skipped_late(copied: Copied, stored: Stored | None, window_at: datetime) -> list[int]:
    """The skipped lots first seen after ``window_at`` (plan_skipped_late plans their first_seen_at fix)."""
    import pyarrow.compute as pc

    if stored is None or not copied.skipped_index:
        return []
    index = pa.concat_arrays(copied.skipped_index)
    late = pc.greater(pc.take(stored.first_seen_us, index), _pg_us(window_at))
    if not pc.any(late).as_py():
        return []
    return pc.filter(pc.take(stored.lots, index), late).to_pylist()


def copy_batches(
    conn: psycopg.Connection,
    load_id: int,
    batches: Iterable[pa.RecordBatch],
    stages: StageClock,
    progress: RowProgress | None,
    load_stored: Callable[[], Stored | None] | None = None,
    set_known: Callable[[list[int], list[int]], None] | None = None,
    take_unchanged: Callable[[], tuple[list[int], list[int], list[int]]] | None = None,
) -> Copied:
    """Binary COPY of the batches into staging.lots, each tagged with load_id.

    Three stages run at once: a thread parses (the Rust reader releases the GIL), a second encodes (pgpq) the
    batch parsed before, and this thread sends the one encoded before that while the server stores it; on
    two cores they overlap. Keeps, from the Arrow data, what later steps need without reading staging again:
    lot numbers, newest source time, auction count.

    staging.lots was emptied earlier in this transaction (clear_staging), so the COPY may FREEZE its rows
    (PostgreSQL's bulk-load option for a table truncated in the same transaction): every later pass over
    staging skips the per-row visibility checks and sets no hint bits.

    ``load_stored()``: the ACTIVE lots' record hashes, read on ``conn`` while the parser starts on the file
    (it runs up to :data:`PARSE_AHEAD` batches ahead meanwhile). A row whose (lot_number, record_hash) is a stored pair is
    unchanged (same record bytes and same seed: same values, the same Last Updated Time included), so the
    upsert would plan it 'none': it is not COPYed. Its lot number still counts as listed (duplicates,
    completion's presence set), and what dedupe_lots and plan_skipped_late need of it is kept.

    ``set_known`` / ``take_unchanged`` (the Rust reader's): the stored pairs are handed to the parser as soon
    as they are read, so from then on it leaves unchanged records out before normalizing them (the batches
    parsed before that are filtered here); after the stream, the records it left out are added to what the
    window keeps, with their source time and auction presence taken from the stored rows."""
    import queue

    import pgpq
    import pyarrow.compute as pc

    out = Copied()
    it = iter(batches)
    timing = {"parse": 0.0, "encode": 0.0}
    done = object()
    parsed: queue.Queue[Any] = queue.Queue(maxsize=PARSE_AHEAD)
    chunks: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(q: queue.Queue[Any], item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def parse() -> None:
        try:
            while True:
                t1 = time.perf_counter()
                batch = next(it, None)
                timing["parse"] += time.perf_counter() - t1
                if batch is None or not put(parsed, batch):
                    break
            put(parsed, done)
        except BaseException as e:  # noqa: BLE001 - handed on to the writer, which re-raises it
            put(parsed, e)

    parser = threading.Thread(target=parse, name="vinops-parse", daemon=True)
    parser.start()
    try:
        stored = None
        if load_stored is not None:
            t0 = time.perf_counter()
            stored = load_stored()
            if stored is not None and set_known is not None:
                set_known(stored.lot_list, stored.hash_list)
            stages.add("stored_hashes", time.perf_counter() - t0)
        first = parsed.get()
    except BaseException:
        stop.set()
        parser.join()
        raise
    if isinstance(first, BaseException):
        parser.join()
        raise first
    if first is done:
        parser.join()
        stages.add("parse", timing["parse"])
        _add_unchanged(out, stored, take_unchanged, progress)
        return out
    check_schema(first.schema, staging_columns(conn))
    schema = first.schema.append(pa.field("load_id", pa.int64(), nullable=False))
    encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
    # FREEZE needs no snapshot registered by this transaction: true under READ COMMITTED (the default).
    freeze = conn.execute("SHOW transaction_isolation").fetchone()[0] == "read committed"  # type: ignore[index]
    statement = sql.SQL("COPY staging.lots ({}) FROM STDIN (FORMAT BINARY{})").format(
        sql.SQL(", ").join(sql.Identifier(f.name) for f in schema), sql.SQL(", FREEZE" if freeze else "")
    )
    has_source = "source_updated_at" in first.schema.names
    has_auction = "auction_at" in first.schema.names
    if "record_hash" not in first.schema.names or "source_row" not in first.schema.names or not has_source:
        stored = None
    tags: dict[int, pa.Array] = {}
    empty_ids = pa.array([], pa.int64())
    pending = [first]

    def encode() -> None:
        try:
            while not stop.is_set():
                if pending:
                    batch = pending.pop()
                else:
                    try:
                        batch = parsed.get(timeout=0.1)
                    except queue.Empty:
                        continue
                if batch is done or isinstance(batch, BaseException):
                    put(chunks, batch)
                    return
                n = batch.num_rows
                if not n:
                    continue
                if not batch.schema.equals(first.schema):
                    raise ValueError("the parser's batches changed schema mid-file")
                t1 = time.perf_counter()
                lots = batch.column("lot_number").cast(pa.int64())
                # A copy: an imported batch's memory lives as long as any of its arrays does.
                out.lot_numbers.append(pa.concat_arrays([lots, empty_ids]))
                staged = batch
                if stored is not None:
                    same, index = stored.unchanged(lots, batch.column("record_hash"))
                    if len(index):
                        out.skipped_lots.append(pc.filter(lots, same))
                        out.skipped_rows.append(pc.filter(batch.column("source_row"), same))
                        out.skipped_updated.append(pc.filter(batch.column("source_updated_at"), same))
                        out.skipped_index.append(index)
                        staged = batch.filter(pc.invert(same))
                k = staged.num_rows
                data = None
                if k:
                    tag = tags.get(k)
                    if tag is None:
                        tag = tags.setdefault(k, pa.array([load_id] * k, pa.int64()))
                    data = encoder.write_batch(pa.RecordBatch.from_arrays([*staged.columns, tag], schema=schema))
                del staged
                if has_source:
                    newest = pc.max(batch.column("source_updated_at")).as_py()
                    if newest is not None and (out.max_source_updated_at is None or newest > out.max_source_updated_at):
                        out.max_source_updated_at = newest
                if has_auction:
                    col = batch.column("auction_at")
                    out.with_auction += len(col) - col.null_count
                del batch
                timing["encode"] += time.perf_counter() - t1
                if not put(chunks, (n, k, data)):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the writer, which re-raises it
            put(chunks, e)

    workers = [parser, threading.Thread(target=encode, name="vinops-encode", daemon=True)]
    copy_t0 = time.perf_counter()
    try:
        with conn.cursor().copy(statement) as cp:
            cp.write(encoder.write_header())
            workers[1].start()
            while True:
                item = chunks.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                n, k, data = item
                if data is not None:
                    cp.write(data)
                out.rows += n
                out.staged += k
                if progress is not None:
                    progress.rows(n)
            cp.write(encoder.finish())
    finally:
        stop.set()
        for w in workers:
            if w.is_alive():
                w.join()
        del pending
    _add_unchanged(out, stored, take_unchanged, progress)
    # Parsing and encoding run beside the COPY: "parse" is the parser's share, "copy" the stage's wall time.
    stages.add("parse", timing["parse"])
    stages.add("encode", timing["encode"])
    stages.add("copy", time.perf_counter() - copy_t0)
    return out


def _add_unchanged(
    out: Copied,
    stored: Stored | None,
    take_unchanged: Callable[[], tuple[list[int], list[int], list[int]]] | None,
    progress: RowProgress | None,
) -> None:
    """Count the records the parser left out as unchanged as listed and skipped (see :func:`copy_batches`)."""
    if take_unchanged is None:
        return
    lots, rows, positions = take_unchanged()
    if not lots:
        return
    if stored is None:
        raise RuntimeError("the parser left records out as unchanged, but no stored hashes were given to it")
    import pyarrow.compute as pc

    lot_array = pa.array(lots, pa.int64())
    index = pa.array(positions, pa.int64())
    updated = pc.take(stored.updated, index)
    out.rows += len(lots)
    out.lot_numbers.append(lot_array)
    out.skipped_lots.append(lot_array)
    out.skipped_rows.append(pa.array(rows, pa.int64()))
    out.skipped_updated.append(updated)
    out.skipped_index.append(index)
    newest = pc.max(updated).as_py()
    if newest is not None and (out.max_source_updated_at is None or newest > out.max_source_updated_at):
        out.max_source_updated_at = newest
    out.with_auction += int(pc.sum(pc.take(stored.has_auction, index)).as_py() or 0)
    if progress is not None:
        progress.rows(len(lots))


def header_of(source: WindowSource) -> list[str] | None:
    if source.header is not None:
        return source.header
    if source.path is None:
        return None
    try:
        with open(source.path, "rb") as f:
            first = f.readline(1 << 20)
    except OSError:
        return None
    text = first.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
    try:
        row = next(csv.reader(io.StringIO(text, newline="")), None)
    except csv.Error:
        return None
    return row or None


def _lot_number_of(raw: bytes, index: int | None) -> int | None:
    """The lot number of a quarantined row, best effort (the field at the header's Lot number position)."""
    if index is None or not raw:
        return None
    try:
        fields = next(csv.reader(io.StringIO(raw.decode("utf-8", "replace"), newline="")), [])
    except csv.Error:
        return None
    if len(fields) > index:
        value = fields[index].strip()
        if value.isdigit() and 0 < int(value) < 2**63:
            return int(value)
    return None


def store_quarantine(conn: psycopg.Connection, load_id: int, items: list[dict[str, Any]], header: list[str] | None) -> None:
    if not items:
        return
    index = None
    if header:
        folded = [" ".join(h.split()).lower() for h in header]
        if "lot number" in folded:
            index = folded.index("lot number")
    with conn.cursor().copy(
        "COPY raw.quarantine (load_id, row_no, line_no, reason, detail, raw, lot_number) FROM STDIN"
    ) as cp:
        for q in items:
            raw = bytes(q.get("raw") or b"")
            cp.write_row(
                (load_id, q["row"], q.get("line"), q["reason"], q.get("detail"), raw, _lot_number_of(raw, index))
            )


def store_unknown(conn: psycopg.Connection, load_id: int, window_at: datetime, unknown: dict[str, dict[str, int]]) -> None:
    domains, values, counts = [], [], []
    for domain, by_value in sorted(unknown.items()):
        for value, count in sorted(by_value.items()):
            if count > 0:
                domains.append(domain)
                values.append(value)
                counts.append(count)
    if not domains:
        return
    conn.execute(
        """INSERT INTO audit.unknown_values AS u
               (domain, value, count, first_seen_at, last_seen_at, first_load_id, last_load_id)
           SELECT d, v, c, %(w)s, %(w)s, %(load_id)s, %(load_id)s
           FROM unnest(%(domains)s::text[], %(values)s::text[], %(counts)s::bigint[]) AS x(d, v, c)
           ON CONFLICT (domain, value) DO UPDATE SET
               count = u.count + EXCLUDED.count,
               first_load_id = CASE WHEN EXCLUDED.first_seen_at < u.first_seen_at THEN EXCLUDED.first_load_id ELSE u.first_load_id END,
               last_load_id = CASE WHEN EXCLUDED.last_seen_at >= u.last_seen_at THEN EXCLUDED.last_load_id ELSE u.last_load_id END,
               first_seen_at = least(u.first_seen_at, EXCLUDED.first_seen_at),
               last_seen_at = greatest(u.last_seen_at, EXCLUDED.last_seen_at)""",
        {"w": window_at, "load_id": load_id, "domains": domains, "values": values, "counts": counts},
    )

