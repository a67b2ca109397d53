"""One window: a sales-data file into PostgreSQL, atomically.

:func:`ingest_file` is what ``vinops ingest PATH`` runs: hash the file (a SHA-256 already loaded ends the
window as *skipped*), parse it (Rust, Arrow batches), then :func:`load_window`, which in ONE transaction,
under an advisory lock (a second window waits):

1. registers the file in ``raw.csv_files`` (its ``load_id`` tags everything the window writes);
2. binary-COPYs the batches (pgpq's encoder) into the UNLOGGED ``staging.lots``, except the rows whose
   record hash (seeded by :func:`vinops.parse.record_seed`) their ACTIVE lot already stores: those are
   unchanged and only counted as listed (``rows_skipped``; see :func:`_copy_batches`);
3. stores quarantined rows with their raw bytes and reason, and counts unknown taxonomy values in ``audit``;
4. keeps rows a table constraint would refuse out of the upsert (quarantined with their typed values) and
   dedupes lots listed twice;
5. runs the set-based upsert of ``sql/window.sql`` (plan → vehicles → lot events → lots → relist links);
   a bulk load (see :data:`BULK_FK_MIN_ROWS`) rebuilds the indexes it dropped before the relist links;
6. validates the file and runs completion (``vinops.completion``) when it is eligible; a bulk load then
   re-adds the foreign keys it dropped;
7. copies the original file into the raw store (in a background thread, beside the SQL work).

Any failure rolls everything back (the raw-store copy is harmless: a rerun reuses it), so a rerun finishes
the window. The returned summary is the object ``vinops ingest --json`` prints.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from vinops import completion as completion_rules
from vinops.config import Settings, parse_duration
from vinops.db import INGEST_LOCK, MIGRATE_LOCK, connect, pending_migrations, taxonomy_mapping
from vinops.rawstore import LocalRawStore
from vinops.statements import load_statements

__all__ = ["IngestError", "WindowSource", "add_arguments", "ingest_file", "load_window", "sha256_file"]

#: A window inserting at least this many lots (and a quarter of the table) loads in bulk: inside the
#: window's transaction the foreign keys from lots and vehicles to other tables and their secondary indexes
#: are dropped, the rows inserted, the indexes rebuilt, relists linked and completion run, then the keys
#: re-added (one validating scan each, about 25 ms per key for 150k lots). Per-row foreign key checks would
#: cost 16 lookups per new lot (about 8 s for 150k lots); per-row index inserts in random order cost more
#: than a rebuild. lots.relisted_as (a key to lots itself) stays: new lots carry none, so its per-row check
#: stops at the NULL. The tables are locked for the duration (a first load or a backfill).
BULK_FK_MIN_ROWS = 10_000

#: Rows per Arrow batch asked of the parser: small enough that a batch and its encoded COPY data stay a few
#: megabytes (peak memory), large enough that per-batch overhead does not show.
BATCH_ROWS = 8_192

#: Columns whose absence from the header makes a file unfit to decide that lots are gone.
_REQUIRED_FOR_COMPLETION = {
    "lot number": "Lot number",
    "lot_number": "Lot number",
    "sale date m/d/cy": "Sale Date M/D/CY",
    "sale_date": "Sale Date M/D/CY",
    "sale time (hhmm)": "Sale time (HHMM)",
    "sale_time_hhmm": "Sale time (HHMM)",
}

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


class IngestError(RuntimeError):
    """A window failed; nothing it wrote remains. ``stage`` names where."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


class _AlreadyLoaded(Exception):
    def __init__(self, load_id: int, loaded_at: datetime) -> None:
        self.load_id = load_id
        self.loaded_at = loaded_at


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


# ---------------------------------------------------------------------------------------------------------
# helpers


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t0)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.seconds.items()}


class _Progress:
    """A tqdm bar on stderr for the long stages (COPY by rows, then the SQL stages), or nothing."""

    def __init__(self, enabled: bool, total_rows: int | None) -> None:
        self.bar: Any = None
        self.stage_bar: Any = None
        if enabled:
            from tqdm import tqdm

            self._tqdm = tqdm
            self.bar = tqdm(total=total_rows, unit=" rows", desc="load", file=sys.stderr, leave=False)

    def rows(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def stage(self, name: str, total: int = 6) -> None:
        if self.bar is None:
            return
        if self.stage_bar is None:
            self.bar.close()
            self.stage_bar = self._tqdm(total=total, desc="upsert", file=sys.stderr, leave=False, unit=" stages")
        else:
            self.stage_bar.update(1)
        self.stage_bar.set_description(name)

    def close(self) -> None:
        for b in (self.bar, self.stage_bar):
            if b is not None:
                b.close()


def _count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
    return max(n - 1, 0)


def _pg_type(t: pa.DataType) -> str | None:
    if t in _ARROW_TO_PG:
        return _ARROW_TO_PG[t]
    if pa.types.is_list(t) and t.value_type in _ARROW_TO_PG:
        return _ARROW_TO_PG[t.value_type] + "[]"
    return None


def _staging_columns(conn: psycopg.Connection) -> dict[str, str]:
    rows = conn.execute(
        """SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
           WHERE attrelid = 'staging.lots'::regclass AND attnum > 0 AND NOT attisdropped"""
    ).fetchall()
    return dict(rows)


def _check_schema(schema: pa.Schema, staging: dict[str, str]) -> None:
    problems = []
    names = set()
    for f in schema:
        names.add(f.name)
        want = staging.get(f.name)
        got = _pg_type(f.type)
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
class _Stored:
    """lot_number, row_hash and first_seen_at (µs since 2000-01-01 UTC) of the ACTIVE lots, read inside the
    window's transaction under the ingest lock (so no other window changes them before the COPY)."""

    lots: pa.Array
    hashes: pa.Array
    first_seen_us: pa.Array


@dataclass
class _Copied:
    #: Rows the parser yielded (staged or skipped as unchanged).
    rows: int = 0
    #: Rows COPYed into staging.lots (rows - skipped).
    staged: int = 0
    #: Every lot number the file lists (skipped rows too): duplicates and completion's presence set.
    lot_numbers: list[pa.Array] = field(default_factory=list)
    max_source_updated_at: datetime | None = None
    with_auction: int = 0
    #: Per batch, of the rows skipped as unchanged: lot_number, source_row, source_updated_at, and the
    #: lot's index in _Stored.
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


def _stored_hashes(conn: psycopg.Connection) -> _Stored | None:
    """The (lot_number, row_hash, first_seen_at) of every ACTIVE lot. One value comes back: the three as
    big-endian int64s (their binary send format; first_seen_at in µs since 2000-01-01) aggregated into one
    bytea, read into Arrow arrays with no Python object per lot (a COPY TO sends a message per row, about
    four times slower here). None when there is none (a first load)."""
    from array import array

    blob = conn.execute(
        """SELECT string_agg(int8send(lot_number) || int8send(row_hash) || timestamptz_send(first_seen_at), ''::bytea)
           FROM lots WHERE status = 'ACTIVE'""",
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
        part = values[k::3]
        return pa.Array.from_buffers(pa.int64(), len(part), [None, pa.py_buffer(part)])

    return _Stored(column(0), column(1), column(2))


#: PostgreSQL's timestamp epoch (the unit of timestamptz_send: µs since then).
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _pg_us(t: datetime) -> int:
    d = t - _PG_EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _skipped_duplicates(copied: _Copied) -> dict[str, list[Any]]:
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


def _skipped_late(copied: _Copied, stored: _Stored | None, window_at: datetime) -> list[int]:
    """The skipped lots first seen after ``window_at`` (plan_skipped_late plans their first_seen_at fix)."""
    import pyarrow.compute as pc

    if stored is None or not copied.skipped_index:
        return []
    index = pa.concat_arrays(copied.skipped_index)
    late = pc.greater(pc.take(stored.first_seen_us, index), _pg_us(window_at))
    if not pc.any(late).as_py():
        return []
    return pc.filter(pc.take(stored.lots, index), late).to_pylist()


def _copy_batches(
    conn: psycopg.Connection,
    load_id: int,
    batches: Iterable[pa.RecordBatch],
    stages: _Stages,
    progress: _Progress,
    stored: _Stored | None = None,
) -> _Copied:
    """Binary COPY of the batches into staging.lots, each tagged with load_id.

    Three stages run at once: a thread parses (the Rust reader releases the GIL), a second encodes (pgpq) the
    batch parsed before, and this thread sends the one encoded before that while the server stores it; on
    two cores they overlap. Keeps, from the Arrow data, what later steps need without reading staging again:
    lot numbers, newest source time, auction count.

    staging.lots was emptied earlier in this transaction (clear_staging), so the COPY may FREEZE its rows
    (PostgreSQL's bulk-load option for a table truncated in the same transaction): every later pass over
    staging skips the per-row visibility checks and sets no hint bits.

    ``stored``: the ACTIVE lots' record hashes. A row whose (lot_number, record_hash) is a stored pair is
    unchanged (same record bytes and same seed: same values, the same Last Updated Time included), so the
    upsert would plan it 'none': it is not COPYed. Its lot number still counts as listed (duplicates,
    completion's presence set), and what dedupe_lots and plan_skipped_late need of it is kept."""
    import queue

    import pgpq
    import pyarrow.compute as pc

    out = _Copied()
    it = iter(batches)
    t0 = time.perf_counter()
    first = next(it, None)
    stages.add("parse", time.perf_counter() - t0)
    if first is None:
        return out
    _check_schema(first.schema, _staging_columns(conn))
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
    timing = {"parse": 0.0, "encode": 0.0}
    done = object()
    parsed: queue.Queue[Any] = queue.Queue(maxsize=2)
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
            batch: pa.RecordBatch | None = first
            while batch is not None and put(parsed, batch):
                t1 = time.perf_counter()
                batch = next(it, None)
                timing["parse"] += time.perf_counter() - t1
            put(parsed, done)
        except BaseException as e:  # noqa: BLE001 - handed on to the writer, which re-raises it
            put(parsed, e)

    def encode() -> None:
        try:
            while not stop.is_set():
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
                    index = pc.index_in(lots, value_set=stored.lots)
                    same = pc.fill_null(pc.equal(pc.take(stored.hashes, index), batch.column("record_hash")), False)
                    if pc.any(same).as_py():
                        out.skipped_lots.append(pc.filter(lots, same))
                        out.skipped_rows.append(pc.filter(batch.column("source_row"), same))
                        out.skipped_updated.append(pc.filter(batch.column("source_updated_at"), same))
                        out.skipped_index.append(pc.filter(index, same))
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

    workers = [
        threading.Thread(target=parse, name="vinops-parse", daemon=True),
        threading.Thread(target=encode, name="vinops-encode", daemon=True),
    ]
    copy_t0 = time.perf_counter()
    try:
        with conn.cursor().copy(statement) as cp:
            cp.write(encoder.write_header())
            for w in workers:
                w.start()
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
                progress.rows(n)
            cp.write(encoder.finish())
    finally:
        stop.set()
        for w in workers:
            if w.is_alive():
                w.join()
    # Parsing and encoding run beside the COPY: "parse" is the parser's share, "copy" the stage's wall time.
    stages.add("parse", timing["parse"])
    stages.add("encode", timing["encode"])
    stages.add("copy", time.perf_counter() - copy_t0)
    return out


def _header_of(source: WindowSource) -> list[str] | None:
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


def _store_quarantine(conn: psycopg.Connection, load_id: int, items: list[dict[str, Any]], header: list[str] | None) -> None:
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


def _store_unknown(conn: psycopg.Connection, load_id: int, window_at: datetime, unknown: dict[str, dict[str, int]]) -> None:
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


def _outgoing_foreign_keys(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """The foreign keys from ``table`` to other tables (a key to the table itself is not listed)."""
    return conn.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = %s::regclass AND contype = 'f' AND confrelid <> conrelid ORDER BY conname""",
        (table,),
    ).fetchall()


def _drop_foreign_keys(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    fks = _outgoing_foreign_keys(conn, table)
    if fks:
        conn.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                sql.SQL(table),
                sql.SQL(", ").join(sql.SQL("DROP CONSTRAINT {}").format(sql.Identifier(n)) for n, _ in fks),
            )
        )
    return fks


def _add_foreign_keys(conn: psycopg.Connection, table: str, fks: list[tuple[str, str]]) -> None:
    """Re-add ``fks`` in one ALTER TABLE (PostgreSQL still validates each with its own scan)."""
    if fks:
        conn.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                sql.SQL(table),
                sql.SQL(", ").join(
                    sql.SQL("ADD CONSTRAINT {} {}").format(sql.Identifier(name), sql.SQL(definition))
                    for name, definition in fks
                ),
            )
        )


def _drop_secondary_indexes(conn: psycopg.Connection, table: str) -> list[str]:
    """Drop the indexes of ``table`` that back no constraint; return their definitions."""
    rows = conn.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
           WHERE i.indrelid = %s::regclass
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
           ORDER BY 1""",
        (table,),
    ).fetchall()
    for name, _ in rows:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    return [definition for _, definition in rows]


def _row_estimate(conn: psycopg.Connection, table: str) -> int:
    est = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]  # type: ignore[index]
    if est is None or est < 0:
        est = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(table))).fetchone()[0]  # type: ignore[index]
    return int(est)


def _validation_errors(
    summary: dict[str, Any], rows_in: int, rows_quarantined: int, rows_listed: int, with_auction: int, max_share: float
) -> list[str]:
    errors = []
    if rows_in == 0:
        errors.append("the file has no data rows")
    elif rows_quarantined / rows_in > max_share:
        errors.append(
            f"{rows_quarantined:,} of {rows_in:,} rows quarantined ({rows_quarantined / rows_in:.2%}, "
            f"more than {max_share:.2%})"
        )
    missing = {
        _REQUIRED_FOR_COMPLETION[str(m).strip().lower()]
        for m in summary.get("missing_columns") or []
        if str(m).strip().lower() in _REQUIRED_FOR_COMPLETION
    }
    if missing:
        errors.append("the header lacks " + ", ".join(sorted(missing)))
    if rows_listed >= 1000 and with_auction == 0:
        errors.append("no row has an auction time (Sale Date / Sale time unreadable?)")
    return errors


def _skipped(sha: str, load_id: int, loaded_at: datetime, t0: float, stages: _Stages) -> dict[str, Any]:
    stages.add("total", time.perf_counter() - t0)
    return {
        "file_sha256": sha,
        "skipped": True,
        "skip_reason": f"already loaded as load {load_id} at {loaded_at.isoformat()}",
        "load_id": load_id,
        "rows_in": 0,
        "rows_loaded": 0,
        "rows_quarantined": 0,
        "vehicles_inserted": 0,
        "vehicles_updated": 0,
        "lots_inserted": 0,
        "lots_updated": 0,
        "lots_unchanged": 0,
        "lots_pending_result": 0,
        "lots_not_sold": 0,
        "unknown_rate": 0.0,
        "seconds": stages.rounded(),
    }


def _record_failure(conn: psycopg.Connection, source: WindowSource, stage: str, error: BaseException) -> None:
    """Best effort: a failed window leaves one row in audit.ingest_errors (after the rollback)."""
    try:
        if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return
        with conn.transaction():
            conn.execute(
                "INSERT INTO audit.ingest_errors (sha256, source_name, stage, error) VALUES (%s, %s, %s, %s)",
                (source.sha256, source.source_name, stage, " ".join(str(error).split())[:2000]),
            )
    except Exception:  # noqa: BLE001 - the original error matters, not this one
        pass


class _RawCopy:
    """Copies the file into the raw store on a thread while the database works."""

    def __init__(self, store: LocalRawStore, path: Path, window_at: datetime, sha: str) -> None:
        self.key: str | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(store, path, window_at, sha), daemon=True)
        self._thread.start()

    def _run(self, store: LocalRawStore, path: Path, window_at: datetime, sha: str) -> None:
        try:
            self.key = store.put(path, window_at, sha)
        except BaseException as e:  # noqa: BLE001 - re-raised by result()
            self.error = e

    def result(self) -> str:
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.key is not None
        return self.key


# ---------------------------------------------------------------------------------------------------------
# the window


def load_window(
    conn: psycopg.Connection,
    source: WindowSource,
    *,
    settings: Settings | None = None,
    raw_store: LocalRawStore | None = None,
    store_raw: bool = True,
    completion: bool = True,
    force_completion: bool = False,
    grace: timedelta | None = None,
    window_at: datetime | None = None,
    progress: bool = False,
    before_stage: Callable[[str, psycopg.Connection], None] | None = None,
    skip_unchanged: bool = True,
) -> dict[str, Any]:
    """Load one window from ``source`` in one transaction; return its summary (see the module doc).

    ``window_at``: the instant the file describes (default: its newest Last Updated Time, capped at now).
    ``skip_unchanged``: leave out of staging the rows whose record hash their ACTIVE lot already stores
    (they change nothing; the summary counts them as ``rows_skipped``). False stages every row (the same
    result, slower; tests compare the two).
    ``before_stage(name, conn)`` is called before the stages copy, upsert, completion, constraints (bulk
    loads only) and commit (tests use it to inject failures)."""
    t_start = time.perf_counter()
    settings = settings or Settings.from_env()
    grace = settings.completion_grace if grace is None else grace
    if store_raw and raw_store is None:
        raw_store = LocalRawStore(settings.raw_root, settings.raw_compression, settings.raw_retention_days)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("load_window needs a connection with no transaction in progress")
    was_autocommit = conn.autocommit
    conn.autocommit = False
    try:
        return _load_window(
            conn, source, settings, grace, raw_store, store_raw, completion, force_completion, window_at, progress,
            before_stage, t_start, skip_unchanged,
        )
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.autocommit = was_autocommit


def _load_window(
    conn: psycopg.Connection,
    source: WindowSource,
    settings: Settings,
    grace: timedelta,
    raw_store: LocalRawStore | None,
    store_raw: bool,
    completion: bool,
    force_completion: bool,
    window_at: datetime | None,
    progress: bool,
    before_stage: Callable[[str, psycopg.Connection], None] | None,
    t_start: float,
    skip_unchanged: bool = True,
) -> dict[str, Any]:
    q = load_statements("window")
    stages = _Stages()
    total_rows = _count_lines(source.path) if progress and source.path is not None else None
    bar = _Progress(progress, total_rows)
    raw_copy: _RawCopy | None = None
    stage = "begin"

    statement_seconds: dict[str, float] = {}

    def run(name: str, params: dict[str, Any] | None = None) -> psycopg.Cursor[Any]:
        t0 = time.perf_counter()
        cur = conn.execute(q[name], params)
        statement_seconds[name] = round(time.perf_counter() - t0, 4)
        return cur

    def enter(name: str) -> None:
        nonlocal stage
        stage = name
        if before_stage is not None:
            before_stage(name, conn)

    try:
        with conn.transaction():
            conn.execute("SET LOCAL work_mem = '256MB'")
            # The window's tables are in shared buffers: joining a few thousand changed rows to lots or
            # vehicles by index beats a scan of the whole table, which the default 4.0 makes look cheaper.
            conn.execute("SET LOCAL random_page_cost = 1.1")
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            stage = "lock"
            with stages("lock_wait"):
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (MIGRATE_LOCK,))
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
            prev = conn.execute(
                "SELECT load_id, loaded_at FROM raw.csv_files WHERE sha256 = %s", (source.sha256,)
            ).fetchone()
            if prev is not None:
                raise _AlreadyLoaded(prev[0], prev[1])
            run("clear_staging")
            load_id = conn.execute(
                """INSERT INTO raw.csv_files (sha256, bytes, source_name, window_at, window_at_source)
                   VALUES (%s, %s, %s, now(), 'clock') RETURNING load_id""",
                (source.sha256, source.bytes, source.source_name),
            ).fetchone()[0]  # type: ignore[index]

            stored = None
            if skip_unchanged:
                # Under the lock: no other window changes lots before this one's COPY.
                with stages("stored_hashes"):
                    stored = _stored_hashes(conn)
            enter("copy")
            copied = _copy_batches(conn, load_id, source.batches, stages, bar, stored)
            rows_copied = copied.rows
            with stages("parse"):
                summary = source.summary()
            if summary.get("sha256") and summary["sha256"] != source.sha256:
                raise ValueError("the file changed while it was being loaded (its SHA-256 differs)")
            rows_in = int(summary["rows_in"])
            parser_quarantined = int(summary["rows_quarantined"])
            if int(summary.get("rows_ok", rows_copied)) != rows_copied or rows_in != rows_copied + parser_quarantined:
                raise ValueError(
                    f"the parser's counts do not add up: {rows_in} rows in, {summary.get('rows_ok')} ok, "
                    f"{parser_quarantined} quarantined, {rows_copied} yielded"
                )

            stage = "prepare"
            with stages("prepare"):
                _store_quarantine(conn, load_id, list(summary.get("quarantine") or []), _header_of(source))
                duplicates = rows_copied - copied.distinct_lots()
                if duplicates:
                    run("dedupe_lots", _skipped_duplicates(copied))
                db_now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
                if window_at is not None:
                    if window_at.tzinfo is None:
                        raise ValueError("window_at must be timezone-aware")
                    w_at, w_source = window_at, "given"
                elif copied.max_source_updated_at is not None:
                    w_at, w_source = min(copied.max_source_updated_at, db_now), "data"
                elif source.mtime is not None:
                    w_at, w_source = datetime.fromtimestamp(source.mtime, timezone.utc), "mtime"
                else:
                    w_at, w_source = db_now, "clock"
                _store_unknown(conn, load_id, w_at, summary.get("unknown") or {})

            params = {"load_id": load_id, "window_at": w_at}
            enter("upsert")
            bar.stage("plan")
            with stages("plan"):
                conn.execute("SET LOCAL default_statistics_target = 10")
                run("plan_keys", params)
                late = _skipped_late(copied, stored, w_at)
                if late:
                    run("plan_skipped_late", {**params, "late_lots": late})
                # Also the flags link_relists filters on: without statistics a flag keeps half the rows.
                conn.execute("ANALYZE staging.lot_keys (lot_number, action, fix_first_seen)")
                (lots_ins, lots_upd, lots_touch, lots_stale, refused, relist_candidates) = run(
                    "plan_counts"
                ).fetchone()  # type: ignore[misc]
                if lots_upd or lots_stale:
                    # A different record hash is a candidate: keep only the lots whose values differ.
                    run("confirm_changes")
                    (lots_ins, lots_upd, lots_touch, lots_stale, refused, relist_candidates) = run(
                        "plan_counts"
                    ).fetchone()  # type: ignore[misc]
                if lots_upd or refused:
                    run("plan_rows", params)
                    conn.execute("ANALYZE staging.lot_plan (lot_number, action)")
                if refused:
                    run("quarantine_refused", params)
                veh_ins = veh_upd = veh_upd_or_touch = 0
                if lots_ins or lots_upd or lots_touch:
                    run("plan_vehicles", params)
                    conn.execute("ANALYZE staging.vehicle_plan (vin, action, relist_check)")
                    veh_ins, veh_upd, veh_upd_or_touch = run("vehicle_counts").fetchone()  # type: ignore[misc]
            if store_raw and source.path is not None and raw_store is not None:
                # Started after the plan, whose statements PostgreSQL may run on both cores: the copy
                # (compression, read-back check) takes the second core while the server writes serially.
                raw_copy = _RawCopy(raw_store, source.path, w_at, source.sha256)
            bulk = lots_ins >= BULK_FK_MIN_ROWS and lots_ins * 4 >= _row_estimate(conn, "public.lots")
            dropped: dict[str, list[tuple[str, str]]] = {}
            dropped_indexes: dict[str, list[str]] = {}
            if bulk:
                with stages("bulk"):
                    for table in ("public.lots", "public.vehicles"):
                        dropped[table] = _drop_foreign_keys(conn, table)
                        dropped_indexes[table] = _drop_secondary_indexes(conn, table)
            bar.stage("vehicles")
            with stages("vehicles"):
                if veh_ins:
                    run("insert_vehicles", params)
                if veh_upd_or_touch:
                    run("update_vehicles", params)
            bar.stage("lots")
            with stages("lots"):
                if lots_upd:
                    run("lot_change_events", params)
                    run("update_lots", params)
                if lots_touch:
                    run("touch_lots", params)
                if lots_ins:
                    run("insert_lots", params)
            if bulk:
                # Before link_relists and completion, which find their lots through these indexes: built
                # after their updates, an index could not serve this transaction (it would index HOT chains
                # this transaction broke).
                with stages("bulk"):
                    # Index builds sort, and the key checks hash, in maintenance_work_mem.
                    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
                    for definitions in dropped_indexes.values():
                        for definition in definitions:
                            conn.execute(definition)  # type: ignore[arg-type]
            if relist_candidates:
                with stages("lots"):
                    run("link_relists", params)

            enter("completion")
            bar.stage("completion")
            rows_refused = int(refused)
            rows_quarantined = parser_quarantined + rows_refused
            rows_loaded = rows_copied - rows_refused
            rows_listed = rows_copied - duplicates - rows_refused
            errors = _validation_errors(
                summary, rows_in, rows_quarantined, rows_listed, copied.with_auction, settings.max_quarantine_share
            )
            with stages("completion"):
                decision = completion_rules.decide(
                    conn,
                    load_id=load_id,
                    rows_in=rows_in,
                    validation_errors=errors,
                    min_ratio=settings.completion_min_ratio,
                    force=force_completion,
                )
                conn.execute(
                    """UPDATE raw.csv_files SET window_at = %s, window_at_source = %s, rows_in = %s, rows_loaded = %s,
                           rows_quarantined = %s, extra_columns = %s, valid = %s, validation_errors = %s,
                           completion_eligible = %s, completion_note = %s
                       WHERE load_id = %s""",
                    (
                        w_at, w_source, rows_in, rows_loaded, rows_quarantined,
                        [str(c) for c in summary.get("extra_columns") or []], not errors, errors,
                        decision.eligible, decision.reason, load_id,
                    ),
                )
                outcome = completion_rules.apply(
                    conn, load_id=load_id, decision=decision, grace=grace, run=completion, lot_numbers=copied.lot_numbers
                )
            if bulk:
                # After completion: once a foreign key is created in this transaction, every UPDATE of a lots
                # row in it checks that key again, so completion's status changes would pay 16 lookups a lot.
                enter("constraints")
                bar.stage("constraints")
                with stages("bulk"):
                    for table, fks in dropped.items():
                        _add_foreign_keys(conn, table, fks)

            bar.stage("raw store")
            raw_key = None
            if raw_copy is not None:
                with stages("raw_store"):
                    raw_key = raw_copy.result()

            cells = int(summary.get("categorical_cells") or 0)
            unknown_total = sum(sum(v.values()) for v in (summary.get("unknown") or {}).values())
            result: dict[str, Any] = {
                "file_sha256": source.sha256,
                "skipped": False,
                "load_id": load_id,
                "source": source.source_name,
                "bytes": source.bytes,
                "window_at": w_at.isoformat(),
                "window_at_source": w_source,
                "rows_in": rows_in,
                "rows_loaded": rows_loaded,
                "rows_quarantined": rows_quarantined,
                "rows_refused": rows_refused,
                "rows_duplicate": int(duplicates),
                "rows_skipped": copied.skipped,
                "vehicles_inserted": int(veh_ins),
                "vehicles_updated": int(veh_upd),
                "lots_inserted": int(lots_ins),
                "lots_updated": int(lots_upd),
                "lots_unchanged": int(rows_listed) - int(lots_ins) - int(lots_upd),
                "lots_stale": int(lots_stale),
                "lots_pending_result": outcome.counts["pending_result"],
                "lots_not_sold": outcome.counts["not_sold"],
                "lots_reappeared": outcome.counts["reappeared"],
                "unknown_rate": unknown_total / cells if cells else 0.0,
                "unknown_values": sum(len(v) for v in (summary.get("unknown") or {}).values()),
                "extra_columns": [str(c) for c in summary.get("extra_columns") or []],
                "validation": {"ok": not errors, "errors": errors},
                "completion": {
                    **outcome.as_dict(),
                    "grace_seconds": grace.total_seconds(),
                    "baseline_rows": decision.baseline_rows,
                },
                "raw_key": raw_key,
                "bulk_foreign_keys": bulk,
                "statement_seconds": statement_seconds,
            }
            conn.execute(
                "UPDATE raw.csv_files SET raw_key = %s, summary = %s WHERE load_id = %s",
                (raw_key, psycopg.types.json.Jsonb({k: v for k, v in result.items() if k != "seconds"}), load_id),
            )
            run("clear_staging")
            enter("commit")
            bar.stage("commit")
            commit_t0 = time.perf_counter()
        stages.add("commit", time.perf_counter() - commit_t0)
    except _AlreadyLoaded as done:
        bar.close()
        return _skipped(source.sha256, done.load_id, done.loaded_at, t_start, stages)
    except BaseException as e:
        bar.close()
        if raw_copy is not None:
            try:
                raw_copy.result()
            except BaseException:  # noqa: BLE001 - the window's error is the one to report
                pass
        _record_failure(conn, source, stage, e)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise IngestError(stage, " ".join(str(e).split()) or type(e).__name__) from e
    bar.close()

    if raw_store is not None and store_raw and raw_store.retention_days > 0:
        with stages("retention"):
            try:
                pruned = raw_store.prune()
                if pruned:
                    with conn.transaction():
                        conn.execute(
                            "UPDATE raw.csv_files SET raw_deleted_at = now() WHERE raw_key = ANY(%s) AND raw_deleted_at IS NULL",
                            (pruned,),
                        )
                result["raw_pruned"] = len(pruned)
            except (OSError, psycopg.Error) as e:
                result["raw_pruned_error"] = " ".join(str(e).split())
    stages.add("total", time.perf_counter() - t_start)
    secs = stages.rounded()
    secs["upsert"] = round(sum(stages.seconds.get(k, 0.0) for k in ("plan", "vehicles", "lots", "bulk")), 4)
    result["seconds"] = secs
    return result


# ---------------------------------------------------------------------------------------------------------
# a file


def ingest_file(
    path: str | os.PathLike[str],
    *,
    database_url: str | None = None,
    conn: psycopg.Connection | None = None,
    settings: Settings | None = None,
    completion: bool = True,
    force_completion: bool = False,
    grace: timedelta | None = None,
    window_at: datetime | None = None,
    raw_store: LocalRawStore | None = None,
    store_raw: bool = True,
    engine: str = "rust",
    read: Callable[..., Any] | None = None,
    progress: bool = False,
    before_stage: Callable[[str, psycopg.Connection], None] | None = None,
    skip_unchanged: bool = True,
) -> dict[str, Any]:
    """Run one window on a local file (``vinops ingest PATH``); return the summary.

    ``conn``: an open connection to use (else one is opened from ``database_url`` / the environment /
    the embedded server, and closed). ``read(path, engine=, taxonomy=, batch_size=, seed=)`` replaces the
    parser (default: ``vinops.parse.read_file``); ``seed`` is :func:`vinops.parse.record_seed` of the file
    and the taxonomy. ``skip_unchanged``: see :func:`load_window`."""
    t0 = time.perf_counter()
    stages = _Stages()
    p = Path(path)
    settings = settings or Settings.from_env(database_url=database_url)
    with stages("hash"):
        st = p.stat()
        sha = sha256_file(p)
    own = conn is None
    if conn is None:
        conn = connect(database_url or settings.database_url)
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ValueError("ingest_file needs a connection with no transaction in progress")
        pending = pending_migrations(conn)
        if pending:
            raise RuntimeError(
                f"the database schema is behind ({len(pending)} pending migration(s), first {pending[0].label}): "
                "run `vinops db migrate`"
            )
        with stages("skip_check"):
            prev = conn.execute("SELECT load_id, loaded_at FROM raw.csv_files WHERE sha256 = %s", (sha,)).fetchone()
            conn.rollback()
        if prev is not None:
            return _skipped(sha, prev[0], prev[1], t0, stages)
        with stages("taxonomy"):
            mapping = taxonomy_mapping(conn)
            conn.rollback()
            from vinops.parse import record_seed

            seed = record_seed(p, mapping)
        if read is None:
            from vinops.parse import read_file as read
        parsed = read(p, engine=engine, taxonomy=mapping, batch_size=BATCH_ROWS, seed=seed)
        source = WindowSource(
            batches=parsed.reader,
            summary=parsed.summary,
            sha256=sha,
            bytes=st.st_size,
            source_name=str(p),
            path=p,
            mtime=st.st_mtime,
        )
        result = load_window(
            conn,
            source,
            settings=settings,
            raw_store=raw_store,
            store_raw=store_raw,
            completion=completion,
            force_completion=force_completion,
            grace=grace,
            window_at=window_at,
            progress=progress,
            before_stage=before_stage,
            skip_unchanged=skip_unchanged,
        )
    finally:
        if own:
            conn.close()
    for k, v in stages.seconds.items():
        result["seconds"][k] = round(result["seconds"].get(k, 0.0) + v, 4) if k != "total" else result["seconds"][k]
    result["seconds"]["total"] = round(time.perf_counter() - t0, 4)
    return result


# ---------------------------------------------------------------------------------------------------------
# command line


def _human(r: dict[str, Any]) -> str:
    if r["skipped"]:
        return f"skipped: {r['skip_reason']} (sha256 {r['file_sha256'][:12]}…, {r['seconds']['total']:.2f} s)"
    c = r["completion"]
    lines = [
        f"load {r['load_id']}: window {r['window_at']} ({r['window_at_source']}), sha256 {r['file_sha256'][:12]}…",
        f"rows     {r['rows_in']:,} in · {r['rows_loaded']:,} loaded · {r['rows_quarantined']:,} quarantined"
        + (f" ({r['rows_refused']:,} refused by constraints)" if r["rows_refused"] else "")
        + f" · unknown taxonomy {r['unknown_rate']:.3%}",
        f"lots     {r['lots_inserted']:,} new · {r['lots_updated']:,} changed · {r['lots_unchanged']:,} unchanged"
        + (f" · {r['lots_stale']:,} older than stored" if r["lots_stale"] else ""),
        f"vehicles {r['vehicles_inserted']:,} new · {r['vehicles_updated']:,} changed",
    ]
    if c["ran"]:
        lines.append(
            f"completion (as of {c['as_of']}): {r['lots_pending_result']:,} → PENDING_RESULT · "
            f"{r['lots_not_sold']:,} → NOT_SOLD · {r['lots_reappeared']:,} reappeared"
        )
    else:
        lines.append(f"completion not run: {c['refused']}")
    if not r["validation"]["ok"]:
        lines.append("validation: " + "; ".join(r["validation"]["errors"]))
    s = r["seconds"]
    parts = " · ".join(f"{k} {s[k]:.2f}" for k in ("parse", "copy", "upsert", "completion", "raw_store") if k in s)
    lines.append(f"{s['total']:.2f} s ({parts})" + (f" · raw {r['raw_key']}" if r.get("raw_key") else ""))
    return "\n".join(lines)


def cmd_ingest(args: argparse.Namespace) -> int:
    try:
        grace = parse_duration(args.grace) if args.grace else None
        window_at = None
        if args.window_at:
            window_at = datetime.fromisoformat(args.window_at.replace("Z", "+00:00"))
            if window_at.tzinfo is None:
                raise ValueError("--window-at needs a UTC offset (e.g. 2026-01-28T09:15:00Z)")
        result = ingest_file(
            args.path,
            database_url=getattr(args, "database_url", None),
            completion=not args.no_completion,
            force_completion=args.force_completion,
            grace=grace,
            window_at=window_at,
            engine=args.engine,
            progress=not args.json and sys.stderr.isatty(),
        )
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - one line on stderr, whatever went wrong
        print(f"vinops: error: {' '.join(str(e).split()) or type(e).__name__}", file=sys.stderr)
        return 2 if isinstance(e, (OSError, ValueError)) or type(e).__name__ == "VinopsError" else 1
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(_human(result))
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops ingest``; it sets ``func(args) -> exit code``."""
    p = subparsers.add_parser("ingest", help="load one sales-data file into the database (one window)")
    p.add_argument("path", help="the CSV file")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--no-completion", action="store_true", help="load only; do not mark vanished or relisted lots")
    p.add_argument(
        "--force-completion",
        action="store_true",
        help="run completion even if the file is much shorter than the previous one (never for an invalid file)",
    )
    p.add_argument("--grace", help="time after an auction before an absent lot is PENDING_RESULT (default 2h)")
    p.add_argument("--window-at", help="the instant the file describes, ISO 8601 with offset (default: from the data)")
    p.add_argument("--engine", choices=["rust", "python"], default="rust", help="parser (default: rust)")
    p.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="PostgreSQL URL (default: $VINOPS_DATABASE_URL, else the embedded server under the user's data folder)",
    )
    p.set_defaults(func=cmd_ingest)
