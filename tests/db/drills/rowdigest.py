"""What the drills compare between a database that went through a drill and a control database, and what they
look for that a broken window would leave behind.

**Row digests.** Every table of the vinops schemas (``public``, ``raw``, ``staging``, ``taxonomy``,
``audit``), listed from ``information_schema``, is read as one MD5 per row over every column except those
that record when (or how fast) the row was written. Decided from ``sql/migrations/0001..0004``:

* write time: every timestamp column whose default is ``now()`` (``raw.csv_files.loaded_at``,
  ``vehicles/lots.created_at`` and ``updated_at``, ``lot_events.recorded_at``, ``images.fetched_at``,
  ``photo_checks.checked_at``, ``vinops_migrations.applied_at``, ``audit.*.at/finished_at``), plus
  ``raw.csv_files.raw_deleted_at`` (set to ``now()`` by retention) and ``vinops_migrations.seconds``;
* sequence values: identity columns (``raw.csv_files.load_id``, ``lot_events.id`` …) come from sequences,
  which a rolled-back window still advances. A column holding a load id (``load_id``, ``first_load_id``,
  ``last_load_id``) is compared as the SHA-256 of that window's file; ``lot_events`` keeps its order as
  each lot's event number; ``raw.csv_files.summary`` without its ``load_id``, the completion's
  ``reference_load_id``, ``statement_seconds`` (timings) and ``bulk_foreign_keys`` (how the keys were
  checked: only a table's owner may drop and re-add them, so a ``vinops_writer`` login checks them per row).

``window_at``, ``first_seen_at``, ``status_changed_at``, ``source_window_at`` … are NOT write times: they come
from the files and must match. The attempt logs ``audit.ingest_errors`` and ``audit.window_runs`` are not
compared: a killed run cannot write its row, a cut one may.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import psycopg
from psycopg import sql

__all__ = ["ATTEMPT_LOGS", "Digest", "digest", "leftovers", "rows_lost", "wait_for_no_backends"]

SCHEMAS = ("public", "raw", "staging", "taxonomy", "audit")
ATTEMPT_LOGS = frozenset({"audit.ingest_errors", "audit.window_runs"})
WRITE_TIME_EXTRA = frozenset({"raw.csv_files.raw_deleted_at", "public.vinops_migrations.seconds"})
LOAD_ID_COLUMNS = frozenset({"load_id", "first_load_id", "last_load_id"})
#: The staging tables a migrated database has between windows (``staging.lot_keys`` lives inside a window).
STAGING_TABLES = frozenset({"lots", "lot_plan", "vehicle_plan", "presence", "presence_window"})
#: Working tables that are empty between windows.
STAGING_EMPTY = ("staging.lots", "staging.lot_plan", "staging.vehicle_plan")


@dataclass
class Digest:
    """Per table, the multiset of row digests."""

    rows: dict[str, Counter[str]]

    def counts(self) -> dict[str, int]:
        return {t: sum(c.values()) for t, c in self.rows.items()}


def _columns(conn: psycopg.Connection) -> dict[str, list[tuple[str, str, str | None, str]]]:
    cur = conn.execute(
        """SELECT c.table_schema || '.' || c.table_name, c.column_name, c.data_type, c.column_default, c.is_identity
           FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE t.table_type = 'BASE TABLE' AND c.table_schema = ANY(%s)
           ORDER BY 1, c.ordinal_position""",
        (list(SCHEMAS),),
    )
    out: dict[str, list[tuple[str, str, str | None, str]]] = {}
    for table, column, dtype, default, identity in cur.fetchall():
        out.setdefault(table, []).append((column, dtype, default, identity))
    return out


def _write_time(table: str, column: str, dtype: str, default: str | None) -> bool:
    if f"{table}.{column}" in WRITE_TIME_EXTRA:
        return True
    return dtype.startswith("timestamp") and default is not None and "now()" in default.lower()


def _select(table: str, columns: list[tuple[str, str, str | None, str]]) -> sql.Composed:
    names = {c for c, *_ in columns}
    exprs: list[sql.Composable] = []
    for column, dtype, default, identity in columns:
        col = sql.Identifier("x", column)
        if _write_time(table, column, dtype, default):
            continue
        if identity == "YES":
            if table == "public.lot_events":
                exprs.append(sql.SQL("row_number() OVER (PARTITION BY x.lot_number ORDER BY x.id)"))
            continue
        if column in LOAD_ID_COLUMNS:
            exprs.append(sql.SQL("(SELECT f.sha256 FROM raw.csv_files f WHERE f.load_id = {})").format(col))
        elif table == "raw.csv_files" and column == "summary":
            exprs.append(sql.SQL(
                "{} - 'load_id' - 'statement_seconds' - 'bulk_foreign_keys' #- '{{completion,reference_load_id}}'"
            ).format(col))  # fmt: skip
        else:
            exprs.append(col)
    assert exprs and names
    schema, name = table.split(".")
    return sql.SQL("SELECT md5(t::text) FROM (SELECT {} FROM {} x) t").format(
        sql.SQL(", ").join(exprs), sql.Identifier(schema, name)
    )


def digest(conn: psycopg.Connection) -> Digest:
    """The row digests of every compared table (module doc)."""
    rows: dict[str, Counter[str]] = {}
    for table, columns in _columns(conn).items():
        if table in ATTEMPT_LOGS:
            continue
        rows[table] = Counter(r[0] for r in conn.execute(_select(table, columns)).fetchall())
    conn.rollback()
    return Digest(rows)


def rows_lost(control: Digest, drilled: Digest) -> tuple[int, dict[str, tuple[int, int]]]:
    """Rows of the control missing from the drilled database (the figure that must be 0), and per table that
    differs: (rows missing, rows extra)."""
    lost = 0
    diff: dict[str, tuple[int, int]] = {}
    for table in sorted(set(control.rows) | set(drilled.rows)):
        a, b = control.rows.get(table, Counter()), drilled.rows.get(table, Counter())
        missing, extra = sum((a - b).values()), sum((b - a).values())
        lost += missing
        if missing or extra:
            diff[table] = (missing, extra)
    return lost, diff


_ORPHANS = {
    "lots without their window": "SELECT count(*) FROM lots l WHERE NOT EXISTS (SELECT 1 FROM raw.csv_files f WHERE f.load_id = l.load_id)",
    "vehicles without their window": "SELECT count(*) FROM vehicles v WHERE NOT EXISTS (SELECT 1 FROM raw.csv_files f WHERE f.load_id = v.load_id)",
    "events without their window": "SELECT count(*) FROM lot_events e WHERE NOT EXISTS (SELECT 1 FROM raw.csv_files f WHERE f.load_id = e.load_id)",
    "lots without their vehicle": "SELECT count(*) FROM lots l WHERE l.vin IS NOT NULL AND NOT EXISTS (SELECT 1 FROM vehicles v WHERE v.vin = l.vin)",
    "vehicles without a lot": "SELECT count(*) FROM vehicles v WHERE NOT EXISTS (SELECT 1 FROM lots l WHERE l.lot_number = v.source_lot_number)",
    "events without their lot": "SELECT count(*) FROM lot_events e WHERE NOT EXISTS (SELECT 1 FROM lots l WHERE l.lot_number = e.lot_number)",
    "windows never finished": "SELECT count(*) FROM raw.csv_files WHERE summary = '{}'::jsonb",
    "images without their lot": "SELECT count(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM lots l WHERE l.lot_number = i.lot_number)",
}


def leftovers(conn: psycopg.Connection) -> dict[str, int]:
    """What a broken window would leave behind, each a count that must be 0: advisory locks held in this
    database by another session, rows in the staging working tables, staging tables beyond the fixed set,
    and orphan rows (module ``_ORPHANS``)."""
    out: dict[str, int] = {}
    out["advisory locks"] = conn.execute(
        """SELECT count(*) FROM pg_locks
           WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
    ).fetchone()[0]  # type: ignore[index]
    for table in STAGING_EMPTY:
        out[f"rows in {table}"] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(table))).fetchone()[0]  # type: ignore[index]
    extra = conn.execute(
        "SELECT array_agg(tablename::text) FROM pg_tables WHERE schemaname = 'staging' AND NOT tablename = ANY(%s)",
        (sorted(STAGING_TABLES),),
    ).fetchone()[0]  # type: ignore[index]
    out["extra staging tables"] = len(extra or [])
    for name, query in _ORPHANS.items():
        out[name] = conn.execute(query).fetchone()[0]  # type: ignore[index]
    conn.rollback()
    return out


def wait_for_no_backends(conn: psycopg.Connection, application_name: str = "vinops", limit: float = 60.0) -> int:
    """Wait until no other session of this database carries ``application_name`` (a killed client's backend
    ends once it notices its socket closed); return how many were still there when the wait ended."""
    deadline = time.monotonic() + limit
    while True:
        n = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()",
            (application_name,),
        ).fetchone()[0]  # type: ignore[index]
        conn.rollback()
        if n == 0 or time.monotonic() > deadline:
            return int(n)
        time.sleep(0.1)
