"""Bulk loads: a window inserting most of the table drops the foreign keys from ``lots`` and ``vehicles`` to
other tables and their secondary indexes inside its transaction, inserts, rebuilds the indexes and re-adds the
keys (one validating scan each) instead of paying per-row checks and random index inserts."""

from __future__ import annotations

import psycopg
from psycopg import sql

__all__ = [
    "BULK_FK_MIN_ROWS",
    "add_foreign_keys",
    "drop_foreign_keys",
    "drop_secondary_indexes",
    "may_alter",
    "row_estimate",
]

#: A window inserting at least this many lots (and a quarter of the table) loads in bulk: inside the
#: window's transaction the foreign keys from lots and vehicles to other tables and their secondary indexes
#: are dropped, the rows inserted, the indexes rebuilt, relists linked and completion run, then the keys
#: re-added (one validating scan each, about 25 ms per key for 150k lots). Per-row foreign key checks would
#: cost 16 lookups per new lot (about 8 s for 150k lots); per-row index inserts in random order cost more
#: than a rebuild. lots.relisted_as (a key to lots itself) stays: new lots carry none, so its per-row check
#: stops at the NULL. The tables are locked for the duration (a first load or a backfill).
BULK_FK_MIN_ROWS = 10_000


def may_alter(conn: psycopg.Connection, *tables: str) -> bool:
    """Whether this session may drop and re-add the keys and indexes of every table: only their owner (or a
    member of the owning role) may. A loader logged in with the ``vinops_writer`` role (migration 0005) is not,
    and loads with per-row checks instead: the same rows, slower."""
    return bool(
        conn.execute(
            "SELECT bool_and(pg_has_role(relowner, 'USAGE')) FROM pg_class WHERE oid = ANY(%s::regclass[])",
            (list(tables),),
        ).fetchone()[0]  # type: ignore[index]
    )


def _outgoing_foreign_keys(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """The foreign keys from ``table`` to other tables (a key to the table itself is not listed)."""
    return conn.execute(
        """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE conrelid = %s::regclass AND contype = 'f' AND confrelid <> conrelid ORDER BY conname""",
        (table,),
    ).fetchall()


def drop_foreign_keys(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    fks = _outgoing_foreign_keys(conn, table)
    if fks:
        conn.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                sql.SQL(table),
                sql.SQL(", ").join(sql.SQL("DROP CONSTRAINT {}").format(sql.Identifier(n)) for n, _ in fks),
            )
        )
    return fks


def add_foreign_keys(conn: psycopg.Connection, table: str, fks: list[tuple[str, str]]) -> None:
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


def drop_secondary_indexes(conn: psycopg.Connection, table: str) -> list[str]:
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


def row_estimate(conn: psycopg.Connection, table: str) -> int:
    est = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]  # type: ignore[index]
    if est is None or est < 0:
        est = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(table))).fetchone()[0]  # type: ignore[index]
    return int(est)

