"""One window, stage by stage. :func:`load_window` runs the stages in ONE transaction under an advisory lock
(a second window waits); :func:`ingest_file` hashes and parses a file first. The stages, in order:

lock       take the ingest lock; a file whose SHA-256 is already loaded ends the window as skipped
register   a ``raw.csv_files`` row: its ``load_id`` tags everything the window writes
stage      the parser's batches into ``staging.lots`` by binary COPY (rows their lot already stores are left
           out), the file's quarantine and unknown values, duplicates, the window's instant
plan       which lots and vehicles are new, changed, stale or refused (``sql/window.sql``)
write      vehicles, lot events, lots, relist links (a bulk load drops and rebuilds keys and indexes)
complete   validation, then completion (``vinops.completion``) when the file is eligible
summarize  the :class:`~vinops.window.result.WindowResult`, recorded on the ``raw.csv_files`` row

Any failure rolls everything back and raises :class:`~vinops.errors.IngestError` (``retryable`` says whether
a rerun may help); a rerun of the same file finishes the window. The original file goes to the raw store on a
thread beside the SQL work; storing it again on a rerun is harmless.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import psycopg

from vinops import completion as completion_rules
from vinops._core import VinopsError
from vinops.config import Settings
from vinops.db import INGEST_LOCK, MIGRATE_LOCK, pending_migrations
from vinops.errors import IngestError, RejectedFile, is_retryable
from vinops.rawstore import LocalRawStore, RawStore
from vinops.statements import load_statements
from vinops.taxonomy_tables import taxonomy_mapping
from vinops.window import bulk
from vinops.window.result import WindowResult
from vinops.window.staging import (
    Copied,
    Stored,
    WindowSource,
    copy_batches,
    header_of,
    skipped_duplicates,
    skipped_late,
    store_quarantine,
    store_unknown,
    stored_hashes,
)

__all__ = ["BATCH_ROWS", "Progress", "WindowOptions", "ingest_file", "load_window", "sha256_file"]

log = logging.getLogger(__name__)

#: Rows per Arrow batch asked of the parser: small enough that a batch and its encoded COPY data stay a few
#: megabytes (peak memory), large enough that per-batch overhead does not show.
BATCH_ROWS = 8_192

#: Columns every header version carries. A file without one is rejected: loaded, it would erase that field
#: (the auction time, above all) of every lot it updates, and it cannot tell which lots are gone.
_REQUIRED_COLUMNS = {
    "lot number": "Lot number",
    "lot_number": "Lot number",
    "sale date m/d/cy": "Sale Date M/D/CY",
    "sale_date": "Sale Date M/D/CY",
    "sale time (hhmm)": "Sale time (HHMM)",
    "sale_time_hhmm": "Sale time (HHMM)",
}


@dataclass(frozen=True)
class WindowOptions:
    """How one window runs (the settings say where things are and the defaults)."""

    #: Run completion (PENDING_RESULT / NOT_SOLD) when the file is eligible.
    completion: bool = True
    #: Run completion even for a file much shorter than the previous one (never for an invalid file).
    force_completion: bool = False
    #: Time after an auction before an absent lot is PENDING_RESULT (None: the settings' grace).
    grace: timedelta | None = None
    #: The instant the file describes (None: its newest Last Updated Time, capped at the database's clock).
    window_at: datetime | None = None
    #: Keep the original file in the raw store.
    store_raw: bool = True
    #: Leave rows whose record hash their lot already stores out of staging (False stages every row: the
    #: same result, slower; tests compare the two).
    skip_unchanged: bool = True
    #: Parser: ``rust`` or the ``python`` reference engine.
    engine: str = "rust"
    #: The key of the file when it already lies in the raw store (put there by the fetch step): the window
    #: records it and does not store the file again.
    raw_key: str | None = None

    def __post_init__(self) -> None:
        if self.window_at is not None and self.window_at.tzinfo is None:
            raise ValueError("window_at must be timezone-aware (e.g. 2026-01-28T09:15:00+00:00)")
        if self.grace is not None and self.grace < timedelta(0):
            raise ValueError("grace must not be negative")
        if self.engine not in ("rust", "python"):
            raise ValueError(f"unknown engine {self.engine!r} (choose 'rust' or 'python')")


class Progress(Protocol):
    """What a window reports while it runs (the CLI draws a bar from it)."""

    def rows(self, n: int) -> None: ...
    def stage(self, name: str) -> None: ...
    def close(self) -> None: ...


#: ``before_stage(name, conn)``: called before the stages copy, plan, completion, constraints (bulk loads
#: only) and commit; tests use it to inject failures.
BeforeStage = Callable[[str, psycopg.Connection], None]


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class _AlreadyLoaded(Exception):
    def __init__(self, load_id: int, loaded_at: datetime) -> None:
        self.load_id = load_id
        self.loaded_at = loaded_at


class _Clock:
    """Seconds per stage, summed."""

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


@dataclass
class _Plan:
    lots_inserted: int = 0
    lots_updated: int = 0
    lots_touched: int = 0
    lots_stale: int = 0
    refused: int = 0
    relist_candidates: int = 0
    vehicles_inserted: int = 0
    vehicles_updated: int = 0
    vehicles_updated_or_touched: int = 0


@dataclass
class _Window:
    """One window's state as its stages run."""

    conn: psycopg.Connection
    source: WindowSource
    settings: Settings
    options: WindowOptions
    raw_store: RawStore | None
    progress: Progress | None
    before_stage: BeforeStage | None
    statements: dict[str, str] = field(default_factory=lambda: load_statements("window"))
    clock: _Clock = field(default_factory=_Clock)
    statement_seconds: dict[str, float] = field(default_factory=dict)
    stage: str = "begin"
    load_id: int = 0
    stored: Stored | None = None
    copied: Copied = field(default_factory=Copied)
    summary: dict[str, Any] = field(default_factory=dict)
    window_at: datetime | None = None
    window_at_source: str = "clock"
    duplicates: int = 0
    raw_copy: _RawCopy | None = None
    #: The key of a file that already lies in the raw store (put there by the fetch step).
    raw_key: str | None = None
    dropped_keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    dropped_indexes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def grace(self) -> timedelta:
        return self.settings.completion_grace if self.options.grace is None else self.options.grace

    @property
    def bulk(self) -> bool:
        return bool(self.dropped_keys or self.dropped_indexes)

    @property
    def params(self) -> dict[str, Any]:
        return {"load_id": self.load_id, "window_at": self.window_at}

    def run(self, name: str, params: dict[str, Any] | None = None) -> psycopg.Cursor[Any]:
        t0 = time.perf_counter()
        cur = self.conn.execute(self.statements[name], params)  # type: ignore[arg-type]
        self.statement_seconds[name] = round(self.statement_seconds.get(name, 0.0) + time.perf_counter() - t0, 4)
        return cur

    def enter(self, name: str, hook: bool = False) -> None:
        """Mark the start of a stage (``hook``: call ``before_stage`` with its name)."""
        self.stage = name
        log.info("load %s: %s", self.load_id or "-", name, extra={"load_id": self.load_id or None, "stage": name})
        if self.progress is not None:
            self.progress.stage(name)
        if hook and self.before_stage is not None:
            self.before_stage(name, self.conn)

    def done(self, name: str, t0: float, **counts: Any) -> None:
        seconds = time.perf_counter() - t0
        figures = " ".join(f"{k}={v}" for k, v in counts.items())
        log.info(
            "load %s: %s done in %.3f s%s", self.load_id or "-", name, seconds, f" ({figures})" if figures else "",
            extra={"load_id": self.load_id or None, "stage": name, "seconds": round(seconds, 4), "done": True, **counts},
        )


# ---------------------------------------------------------------------------------------------------------
# the stages


def _lock(w: _Window) -> None:
    t0 = time.perf_counter()
    w.enter("lock")
    w.conn.execute("SET LOCAL work_mem = '256MB'")
    # The window's tables are in shared buffers: joining a few thousand changed rows to lots or vehicles by
    # index beats a scan of the whole table, which the default 4.0 makes look cheaper.
    w.conn.execute("SET LOCAL random_page_cost = 1.1")
    w.conn.execute("SET LOCAL TimeZone = 'UTC'")
    with w.clock("lock_wait"):
        w.conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (MIGRATE_LOCK,))
        w.conn.execute("SELECT pg_advisory_xact_lock(%s)", (INGEST_LOCK,))
    prev = w.conn.execute("SELECT load_id, loaded_at FROM raw.csv_files WHERE sha256 = %s", (w.source.sha256,)).fetchone()
    if prev is not None:
        raise _AlreadyLoaded(prev[0], prev[1])
    w.done("lock", t0)


def _register(w: _Window) -> None:
    t0 = time.perf_counter()
    w.enter("register")
    w.run("clear_staging")
    w.load_id = w.conn.execute(
        """INSERT INTO raw.csv_files (sha256, bytes, source_name, window_at, window_at_source)
           VALUES (%s, %s, %s, now(), 'clock') RETURNING load_id""",
        (w.source.sha256, w.source.bytes, w.source.source_name),
    ).fetchone()[0]  # type: ignore[index]
    w.done("register", t0, sha256=w.source.sha256[:12], source=w.source.source_name)


def _stage_rows(w: _Window) -> None:
    t0 = time.perf_counter()
    w.enter("copy", hook=True)

    def load_stored() -> Stored | None:
        # Under the lock: no other window changes lots before this one's COPY.
        w.stored = stored_hashes(w.conn)
        return w.stored

    skip = w.options.skip_unchanged
    w.copied = copy_batches(
        w.conn, w.load_id, w.source.batches, w.clock, w.progress,
        load_stored=load_stored if skip else None,
        set_known=w.source.set_known if skip else None,
        take_unchanged=w.source.take_unchanged if skip else None,
    )  # fmt: skip
    with w.clock("parse"):
        w.summary = w.source.summary()
    s = w.summary
    if s.get("sha256") and s["sha256"] != w.source.sha256:
        raise ValueError("the file changed while it was being loaded (its SHA-256 differs)")
    rows_in, quarantined = int(s["rows_in"]), int(s["rows_quarantined"])
    if int(s.get("rows_ok", w.copied.rows)) != w.copied.rows or rows_in != w.copied.rows + quarantined:
        raise ValueError(
            f"the parser's counts do not add up: {rows_in} rows in, {s.get('rows_ok')} ok, "
            f"{quarantined} quarantined, {w.copied.rows} yielded"
        )
    if rows_in == 0:
        raise RejectedFile(w.stage, "the file has no data rows (a header alone)")
    absent = {str(m).strip().lower() for m in s.get("missing_columns") or []}
    if missing := sorted({_REQUIRED_COLUMNS[k] for k in absent if k in _REQUIRED_COLUMNS}):
        raise RejectedFile(w.stage, f"the header lacks {', '.join(missing)} (renamed or left out?)")

    w.enter("prepare")
    with w.clock("prepare"):
        store_quarantine(w.conn, w.load_id, list(s.get("quarantine") or []), header_of(w.source))
        w.duplicates = w.copied.rows - w.copied.distinct_lots()
        if w.duplicates:
            w.run("dedupe_lots", skipped_duplicates(w.copied))
        db_now = w.conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        if w.options.window_at is not None:
            w.window_at, w.window_at_source = w.options.window_at, "given"
        elif w.copied.max_source_updated_at is not None:
            w.window_at, w.window_at_source = min(w.copied.max_source_updated_at, db_now), "data"
        elif w.source.mtime is not None:
            w.window_at, w.window_at_source = datetime.fromtimestamp(w.source.mtime, timezone.utc), "mtime"
        else:
            w.window_at, w.window_at_source = db_now, "clock"
        store_unknown(w.conn, w.load_id, w.window_at, s.get("unknown") or {})
    w.done(
        "stage", t0, rows_in=rows_in, rows_staged=w.copied.staged, rows_skipped=w.copied.skipped,
        rows_quarantined=quarantined, rows_duplicate=w.duplicates,
    )


def _plan(w: _Window) -> _Plan:
    t0 = time.perf_counter()
    w.enter("plan", hook=True)
    p = _Plan()

    def counts() -> None:
        (p.lots_inserted, p.lots_updated, p.lots_touched, p.lots_stale, p.refused, p.relist_candidates) = w.run(
            "plan_counts"
        ).fetchone()  # type: ignore[misc]

    with w.clock("plan"):
        w.conn.execute("SET LOCAL default_statistics_target = 10")
        w.run("plan_keys", w.params)
        assert w.window_at is not None
        late = skipped_late(w.copied, w.stored, w.window_at)
        if late:
            w.run("plan_skipped_late", {**w.params, "late_lots": late})
        # Also the flags link_relists filters on: without statistics a flag keeps half the rows.
        w.conn.execute("ANALYZE staging.lot_keys (lot_number, action, fix_first_seen)")
        counts()
        if p.lots_updated or p.lots_stale:
            # A different record hash is a candidate: keep only the lots whose values differ.
            w.run("confirm_changes")
            counts()
        if p.lots_updated or p.refused:
            w.run("plan_rows", w.params)
            w.conn.execute("ANALYZE staging.lot_plan (lot_number, action)")
        if p.refused:
            w.run("quarantine_refused", w.params)
        if p.lots_inserted or p.lots_updated or p.lots_touched:
            w.run("plan_vehicles", w.params)
            w.conn.execute("ANALYZE staging.vehicle_plan (vin, action, relist_check)")
            (p.vehicles_inserted, p.vehicles_updated, p.vehicles_updated_or_touched) = w.run(
                "vehicle_counts"
            ).fetchone()  # type: ignore[misc]
    w.done(
        "plan", t0, lots_new=p.lots_inserted, lots_changed=p.lots_updated, lots_stale=p.lots_stale,
        rows_refused=p.refused, vehicles_new=p.vehicles_inserted, vehicles_changed=p.vehicles_updated,
    )
    return p


def _write(w: _Window, p: _Plan) -> None:
    t0 = time.perf_counter()
    w.enter("write")
    if (
        p.lots_inserted >= bulk.BULK_FK_MIN_ROWS
        and p.lots_inserted * 4 >= bulk.row_estimate(w.conn, "public.lots")
        and bulk.may_alter(w.conn, "public.lots", "public.vehicles")
    ):
        with w.clock("bulk"):
            for table in ("public.lots", "public.vehicles"):
                w.dropped_keys[table] = bulk.drop_foreign_keys(w.conn, table)
                w.dropped_indexes[table] = bulk.drop_secondary_indexes(w.conn, table)
    w.enter("vehicles")
    with w.clock("vehicles"):
        if p.vehicles_inserted:
            w.run("insert_vehicles", w.params)
        if p.vehicles_updated_or_touched:
            w.run("update_vehicles", w.params)
    w.enter("lots")
    with w.clock("lots"):
        if p.lots_updated:
            w.run("lot_change_events", w.params)
            w.run("update_lots", w.params)
        if p.lots_touched:
            w.run("touch_lots", w.params)
        if p.lots_inserted:
            w.run("insert_lots", w.params)
    if w.bulk:
        # Before link_relists and completion, which find their lots through these indexes: built after their
        # updates, an index could not serve this transaction (it would index HOT chains it broke).
        with w.clock("bulk"):
            # Index builds sort, and the key checks hash, in maintenance_work_mem.
            w.conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for definitions in w.dropped_indexes.values():
                for definition in definitions:
                    w.conn.execute(definition)  # type: ignore[arg-type]
    if p.relist_candidates:
        with w.clock("lots"):
            w.run("link_relists", w.params)
    w.done("write", t0, bulk=w.bulk)


def _validation_errors(w: _Window, rows_quarantined: int, rows_listed: int) -> list[str]:
    s, rows_in = w.summary, int(w.summary["rows_in"])
    errors = []
    share = rows_quarantined / rows_in
    if share > w.settings.max_quarantine_share:
        errors.append(
            f"{rows_quarantined:,} of {rows_in:,} rows quarantined ({share:.2%}, "
            f"more than {w.settings.max_quarantine_share:.2%})"
        )
    if rows_listed >= 1000 and w.copied.with_auction == 0:
        errors.append("no row has an auction time (Sale Date / Sale time unreadable?)")
    if _ends_inside_a_row(w.source.path, s.get("quarantine") or [], rows_in):
        # A file cut short (a transfer saved as complete) would make every lot after the cut look gone.
        errors.append(f"the file ends inside its last row (row {rows_in} is incomplete and has no line break): truncated?")
    return errors


def _ends_inside_a_row(path: Path | None, quarantine: list[dict[str, Any]], rows_in: int) -> bool:
    """Whether the last row was quarantined and the file does not end with a line break."""
    if path is None or not any(q.get("row") == rows_in and q.get("reason") == "field_count" for q in quarantine):
        return False
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) not in (b"\n", b"\r")
    except OSError:
        return False


def _complete(w: _Window, p: _Plan) -> tuple[list[str], completion_rules.Decision, completion_rules.Outcome]:
    t0 = time.perf_counter()
    w.enter("completion", hook=True)
    rows_in = int(w.summary["rows_in"])
    rows_quarantined = int(w.summary["rows_quarantined"]) + p.refused
    rows_listed = w.copied.rows - w.duplicates - p.refused
    errors = _validation_errors(w, rows_quarantined, rows_listed)
    with w.clock("completion"):
        decision = completion_rules.decide(
            w.conn,
            load_id=w.load_id,
            rows_in=rows_in,
            validation_errors=errors,
            min_ratio=w.settings.completion_min_ratio,
            force=w.options.force_completion,
        )
        w.conn.execute(
            """UPDATE raw.csv_files SET window_at = %s, window_at_source = %s, rows_in = %s, rows_loaded = %s,
                   rows_quarantined = %s, extra_columns = %s, valid = %s, validation_errors = %s,
                   completion_eligible = %s, completion_note = %s
               WHERE load_id = %s""",
            (
                w.window_at, w.window_at_source, rows_in, w.copied.rows - p.refused, rows_quarantined,
                [str(c) for c in w.summary.get("extra_columns") or []], not errors, errors,
                decision.eligible, decision.reason, w.load_id,
            ),
        )
        outcome = completion_rules.apply(
            w.conn, load_id=w.load_id, decision=decision, grace=w.grace, run=w.options.completion,
            lot_numbers=w.copied.lot_numbers,
        )
    if w.bulk:
        # After completion: once a foreign key is created in this transaction, every UPDATE of a lots row in
        # it checks that key again, so completion's status changes would pay 16 lookups a lot.
        w.enter("constraints", hook=True)
        with w.clock("bulk"):
            for table, keys in w.dropped_keys.items():
                bulk.add_foreign_keys(w.conn, table, keys)
    w.done("complete", t0, valid=not errors, ran=outcome.ran, **{f"lots_{k}": v for k, v in outcome.counts.items()})
    return errors, decision, outcome


def _summarize(
    w: _Window, p: _Plan, errors: list[str], decision: completion_rules.Decision, outcome: completion_rules.Outcome
) -> WindowResult:
    w.enter("raw store")
    raw_key = w.raw_key
    if w.raw_copy is not None:
        assert w.window_at is not None
        with w.clock("raw_store"):
            raw_key = w.raw_copy.result(w.window_at)
            w.raw_copy = None
    s = w.summary
    cells = int(s.get("categorical_cells") or 0)
    unknown = s.get("unknown") or {}
    unknown_total = sum(sum(v.values()) for v in unknown.values())
    rows_listed = w.copied.rows - w.duplicates - p.refused
    assert w.window_at is not None
    result = WindowResult(
        file_sha256=w.source.sha256,
        skipped=False,
        load_id=w.load_id,
        source=w.source.source_name,
        bytes=w.source.bytes,
        window_at=w.window_at.isoformat(),
        window_at_source=w.window_at_source,
        rows_in=int(s["rows_in"]),
        rows_loaded=w.copied.rows - p.refused,
        rows_quarantined=int(s["rows_quarantined"]) + p.refused,
        rows_refused=p.refused,
        rows_duplicate=w.duplicates,
        rows_skipped=w.copied.skipped,
        vehicles_inserted=p.vehicles_inserted,
        vehicles_updated=p.vehicles_updated,
        lots_inserted=p.lots_inserted,
        lots_updated=p.lots_updated,
        lots_unchanged=rows_listed - p.lots_inserted - p.lots_updated,
        lots_stale=p.lots_stale,
        lots_pending_result=outcome.counts["pending_result"],
        lots_not_sold=outcome.counts["not_sold"],
        lots_reappeared=outcome.counts["reappeared"],
        unknown_rate=unknown_total / cells if cells else 0.0,
        unknown_values=sum(len(v) for v in unknown.values()),
        extra_columns=[str(c) for c in s.get("extra_columns") or []],
        validation={"ok": not errors, "errors": errors},
        completion={
            **outcome.as_dict(),
            "grace_seconds": w.grace.total_seconds(),
            "baseline_rows": decision.baseline_rows,
        },
        raw_key=raw_key,
        bulk_foreign_keys=w.bulk,
        statement_seconds=w.statement_seconds,
    )
    record = {k: v for k, v in result.to_dict().items() if k != "seconds"}
    w.conn.execute(
        "UPDATE raw.csv_files SET raw_key = %s, summary = %s WHERE load_id = %s",
        (raw_key, psycopg.types.json.Jsonb(record), w.load_id),
    )
    w.run("clear_staging")
    return result


# ---------------------------------------------------------------------------------------------------------
# around the stages


def _skipped(sha: str, load_id: int, loaded_at: datetime, clock: _Clock, t0: float) -> WindowResult:
    clock.add("total", time.perf_counter() - t0)
    log.info("file %s… already loaded as load %s: window skipped", sha[:12], load_id)
    return WindowResult(
        file_sha256=sha,
        skipped=True,
        skip_reason=f"already loaded as load {load_id} at {loaded_at.isoformat()}",
        load_id=load_id,
        completion={"ran": False, "refused": "the file was already loaded"},
        seconds=clock.rounded(),
    )


def _record_failure(conn: psycopg.Connection, source: WindowSource, stage: str, error: BaseException) -> None:
    """Best effort: a failed or rejected window leaves one row in audit.ingest_errors (after the rollback)."""
    try:
        if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return
        with conn.transaction():
            conn.execute(
                "INSERT INTO audit.ingest_errors (sha256, source_name, stage, error) VALUES (%s, %s, %s, %s)",
                (source.sha256, source.source_name, stage, " ".join(str(error).split())[:2000]),
            )
    except Exception:  # noqa: BLE001 - the original error matters, not this one
        log.debug("could not record the failure in audit.ingest_errors", exc_info=True)


class _RawCopy:
    """Copies the file into the raw store on a thread while the window works. The copy (compression and the
    read-back check) starts with the window; its key depends on the window's instant, so :meth:`result`
    places it once that is known."""

    def __init__(self, store: RawStore, path: Path, sha: str) -> None:
        self.store, self.sha = store, sha
        self.prepared: Path | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), name="vinops-raw-store", daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self.prepared = self.store.prepare(path, self.sha)
        except BaseException as e:  # noqa: BLE001 - re-raised by result()
            self.error = e

    def result(self, window_at: datetime) -> str:
        self._thread.join()
        if self.error is not None:
            raise self.error
        assert self.prepared is not None
        return self.store.place(self.prepared, window_at, self.sha)

    def discard(self) -> None:
        self._thread.join()
        if self.prepared is not None:
            self.store.discard(self.prepared)


def _as_ingest_error(stage: str, e: BaseException) -> IngestError:
    if isinstance(e, IngestError):
        return e
    message = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, VinopsError):  # the parser found the file unreadable mid-way
        return RejectedFile(stage, message)
    return IngestError(stage, message, retryable=is_retryable(e))


def _prune(w: _Window, result: WindowResult) -> None:
    if w.raw_store is None or not w.options.store_raw or w.raw_store.retention_days <= 0:
        return
    with w.clock("retention"):
        try:
            pruned = w.raw_store.prune()
            if pruned:
                with w.conn.transaction():
                    w.conn.execute(
                        "UPDATE raw.csv_files SET raw_deleted_at = now() WHERE raw_key = ANY(%s) AND raw_deleted_at IS NULL",
                        (pruned,),
                    )
            result.raw_pruned = len(pruned)
        except (OSError, psycopg.Error):
            # The window is committed; an old raw file left behind is retried after the next window.
            log.warning("raw store retention failed", exc_info=True)


def load_window(
    conn: psycopg.Connection,
    source: WindowSource,
    settings: Settings,
    options: WindowOptions | None = None,
    *,
    raw_store: RawStore | None = None,
    progress: Progress | None = None,
    before_stage: BeforeStage | None = None,
) -> WindowResult:
    """Load one window from ``source`` in one transaction on ``conn``; return its result (module doc).

    ``raw_store``: where the original file goes (default: a local store at ``settings.raw_root``; an
    :class:`~vinops.rawstore.S3RawStore` works the same)."""
    options = options or WindowOptions()
    t_start = time.perf_counter()
    if options.store_raw and raw_store is None:
        raw_store = LocalRawStore(settings.raw_root, settings.raw_compression, settings.raw_retention_days)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("load_window needs a connection with no transaction in progress")
    w = _Window(conn, source, settings, options, raw_store, progress, before_stage)
    if options.store_raw and source.path is not None and raw_store is not None:
        # A file the fetch step already put in the store is not copied again.
        w.raw_key = options.raw_key or raw_store.key_of(source.path)
        if w.raw_key is None:
            w.raw_copy = _RawCopy(raw_store, source.path, source.sha256)
    was_autocommit = conn.autocommit
    conn.autocommit = False
    try:
        try:
            with conn.transaction():
                _lock(w)
                _register(w)
                _stage_rows(w)
                plan = _plan(w)
                _write(w, plan)
                errors, decision, outcome = _complete(w, plan)
                result = _summarize(w, plan, errors, decision, outcome)
                w.enter("commit", hook=True)
                commit_t0 = time.perf_counter()
            w.clock.add("commit", time.perf_counter() - commit_t0)
        except _AlreadyLoaded as done:
            if w.raw_copy is not None:
                w.raw_copy.discard()
            return _skipped(source.sha256, done.load_id, done.loaded_at, w.clock, t_start)
        except BaseException as e:
            if w.raw_copy is not None:
                w.raw_copy.discard()
            _record_failure(conn, source, w.stage, e)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            error = _as_ingest_error(w.stage, e)
            # INFO: the error is raised to the caller, who reports it; the rejection is in audit.ingest_errors.
            log.info(
                "load %s %s (%s): %s", w.load_id or "-", "rejected" if isinstance(error, RejectedFile) else "failed",
                "retryable" if error.retryable else "not retryable", error,
                extra={"load_id": w.load_id or None, "stage": w.stage, "retryable": error.retryable},
            )
            if error is e:
                raise
            raise error from e
        finally:
            if progress is not None:
                progress.close()
    finally:
        if not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.autocommit = was_autocommit
    _prune(w, result)
    w.clock.add("total", time.perf_counter() - t_start)
    seconds = w.clock.rounded()
    seconds["upsert"] = round(sum(w.clock.seconds.get(k, 0.0) for k in ("plan", "vehicles", "lots", "bulk")), 4)
    result.seconds = seconds
    log.info(
        "load %s: window %s loaded in %.2f s: %s rows in, %s new lots, %s changed, %s quarantined",
        result.load_id, result.window_at, seconds["total"], result.rows_in, result.lots_inserted,
        result.lots_updated, result.rows_quarantined,
        extra={"load_id": result.load_id, "stage": "window", "seconds": seconds["total"]},
    )
    return result


# ---------------------------------------------------------------------------------------------------------
# a file


def ingest_file(
    path: str | os.PathLike[str],
    settings: Settings,
    options: WindowOptions | None = None,
    *,
    conn: psycopg.Connection | None = None,
    database_url: str | None = None,
    raw_store: RawStore | None = None,
    read: Callable[..., Any] | None = None,
    progress: Progress | None = None,
    before_stage: BeforeStage | None = None,
) -> WindowResult:
    """Run one window on a local file; return its result.

    The database is ``conn`` (an open connection, left open), else ``database_url``, else
    ``settings.database_url``; with none of them this raises ValueError (a library call never picks a
    database by itself). The schema must be current (``vinops db migrate``).
    ``read(path, engine=, taxonomy=, batch_size=, seed=)`` replaces the parser (default:
    :func:`vinops.parse.read_file`); ``seed`` is :func:`vinops.parse.record_seed` of the file and taxonomy.

    Raises OSError for a file that cannot be read, :class:`~vinops.errors.RejectedFile` for a file that is not
    a usable sales-data file, :class:`~vinops.errors.IngestError` (see ``retryable``) for a failed window."""
    options = options or WindowOptions()
    url = database_url or settings.database_url
    if conn is None and not url:
        raise ValueError("no database: pass conn= or database_url=, or set Settings.database_url")
    t0 = time.perf_counter()
    clock = _Clock()
    p = Path(path)
    with clock("hash"):
        st = p.stat()
        sha = sha256_file(p)
    log.info("file %s: %s bytes, sha256 %s…", p, st.st_size, sha[:12])
    own = conn is None
    if conn is None:
        try:
            conn = psycopg.connect(url, application_name="vinops")  # type: ignore[arg-type]
        except psycopg.Error as e:
            raise IngestError("connect", " ".join(str(e).split()), retryable=is_retryable(e)) from e
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise ValueError("ingest_file needs a connection with no transaction in progress")
        try:
            pending = pending_migrations(conn)
            if pending:
                raise IngestError(
                    "schema",
                    f"the database schema is behind ({len(pending)} pending migration(s), first "
                    f"{pending[0].label}): run `vinops db migrate`",
                )
            with clock("skip_check"):
                prev = conn.execute("SELECT load_id, loaded_at FROM raw.csv_files WHERE sha256 = %s", (sha,)).fetchone()
                conn.rollback()
            if prev is not None:
                result = _skipped(sha, prev[0], prev[1], clock, t0)
                result.source, result.bytes = str(p), st.st_size
                return result
            with clock("taxonomy"):
                mapping = taxonomy_mapping(conn)
                conn.rollback()
        except psycopg.Error as e:
            raise IngestError("prepare", " ".join(str(e).split()), retryable=is_retryable(e)) from e
        from vinops.parse import read_file, record_seed

        try:
            seed = record_seed(p, mapping)
            parsed = (read or read_file)(p, engine=options.engine, taxonomy=mapping, batch_size=BATCH_ROWS, seed=seed)
        except VinopsError as e:
            error = RejectedFile("parse", " ".join(str(e).split()))
            _record_failure(conn, WindowSource([], dict, sha, st.st_size, str(p)), "parse", error)
            log.info("file %s rejected: %s", p, error, extra={"stage": "parse"})
            raise error from e
        source = WindowSource(
            batches=parsed.reader,
            summary=parsed.summary,
            sha256=sha,
            bytes=st.st_size,
            source_name=str(p),
            path=p,
            mtime=st.st_mtime,
            set_known=getattr(parsed, "set_known", None),
            take_unchanged=getattr(parsed, "take_unchanged", None),
        )
        result = load_window(
            conn, source, settings, options, raw_store=raw_store, progress=progress, before_stage=before_stage
        )
    finally:
        if own:
            conn.close()
    for k, v in clock.seconds.items():
        if k != "total":
            result.seconds[k] = round(result.seconds.get(k, 0.0) + v, 4)
    result.seconds["total"] = round(time.perf_counter() - t0, 4)
    return result
