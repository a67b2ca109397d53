"""Drill 9, database roles (migration 0005): a login that is a member of ``vinops_reader`` reads every table and
view of the vinops schemas and can write none of them, nor draw from a sequence, nor call a function that may
write; a login that is a member of ``vinops_writer`` runs windows (``vinops ingest`` with its own URL) into a
database the owner migrated, and the tables equal those the owner loads.

Which functions may the reader call? A function PostgreSQL forbids to modify data (STABLE or IMMUTABLE, not
SECURITY DEFINER) may be granted to it; every VOLATILE function must answer "permission denied". The test
lists them from ``pg_proc``, so a later migration's function is held to the same rule. To check the default
privileges too, the owner creates a table, a sequence and a writing function after the migration: the reader
may read the table and nothing more.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo
from cliproc import cli_env, make_windows, run_cli
from rowdigest import digest, rows_lost

pytestmark = pytest.mark.db

SCHEMAS = ["public", "raw", "staging", "taxonomy", "audit"]
#: Enough rows that a first window into empty tables would take the bulk path (drop and re-add the keys).
ROWS = 12_000


@pytest.fixture
def logins(db_url: str) -> Iterator[dict[str, str]]:
    """Two LOGIN roles (unique names: roles are cluster-wide), members of vinops_reader and vinops_writer;
    their URLs. Dropped after the test."""
    password = secrets.token_hex(12)
    names = {"reader": f"drill_reader_{uuid.uuid4().hex[:8]}", "writer": f"drill_writer_{uuid.uuid4().hex[:8]}"}
    with psycopg.connect(db_url, autocommit=True) as owner:
        for kind, name in names.items():
            owner.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                    sql.Identifier(name), sql.Literal(password), sql.Identifier(f"vinops_{kind}")
                )
            )
    try:
        yield {kind: make_conninfo(db_url, user=name, password=password) for kind, name in names.items()}
    finally:
        with psycopg.connect(db_url, autocommit=True) as owner:
            for name in names.values():
                owner.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                owner.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _denied(conn: psycopg.Connection, statement: sql.Composable) -> bool:
    """Whether ``statement`` fails with permission denied (anything else, success included, is False)."""
    try:
        conn.execute(statement)
    except errors.InsufficientPrivilege:
        return True
    except psycopg.Error:
        return False
    return False


def _probes(owner: psycopg.Connection) -> None:
    """Objects made after the migration by the migrating role: default privileges must cover them."""
    owner.execute("CREATE TABLE raw.drill_probe (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text)")
    owner.execute("CREATE SEQUENCE audit.drill_probe_seq")
    owner.execute(
        "CREATE FUNCTION public.drill_probe_write(note text) RETURNS void LANGUAGE sql"
        " AS $$ INSERT INTO raw.drill_probe (note) VALUES (note) $$"
    )


def test_roles(drill, db_url: str, new_db, logins: dict[str, str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    checks = 0
    with psycopg.connect(db_url, autocommit=True) as owner:
        _probes(owner)
        tables = owner.execute(
            """SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1, 2""",
            (SCHEMAS,),
        ).fetchall()
        sequences = owner.execute(
            """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = ANY(%s) AND c.relkind = 'S' ORDER BY 1, 2""",
            (SCHEMAS,),
        ).fetchall()
        functions = owner.execute(
            """SELECT p.oid::regprocedure::text, p.provolatile, p.prosecdef, p.proretset,
                      coalesce((SELECT array_agg(format_type(t, NULL) ORDER BY i)
                                FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), '{}')
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = ANY(%s) AND p.prokind = 'f'
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
               ORDER BY 1""",
            (SCHEMAS,),
        ).fetchall()
    base_tables = [(s, t) for s, t, kind in tables if kind in ("r", "p")]
    assert len(base_tables) >= 15 and ("raw", "drill_probe") in base_tables
    assert any(f[0].startswith("drill_probe_write") for f in functions)

    # -- the reader: every table and view readable; no write of any kind anywhere
    denied_writes = 0
    read_only_functions: list[str] = []
    with psycopg.connect(logins["reader"], autocommit=True) as reader:
        for schema, name, _ in tables:
            checks += 1
            try:
                reader.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(schema, name))).fetchall()
            except psycopg.Error as e:
                problems.append(f"reader cannot SELECT {schema}.{name}: {e}")
        for schema, name in base_tables:
            t = sql.Identifier(schema, name)
            first = reader.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
                " AND attidentity = '' AND attgenerated = '' ORDER BY attnum LIMIT 1",
                (f"{schema}.{name}",),
            ).fetchone()[0]  # type: ignore[index]
            c = sql.Identifier(first)
            for verb, statement in (
                ("INSERT", sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t)),
                ("UPDATE", sql.SQL("UPDATE {} SET {} = {} WHERE false").format(t, c, c)),
                ("DELETE", sql.SQL("DELETE FROM {} WHERE false").format(t)),
                ("TRUNCATE", sql.SQL("TRUNCATE {}").format(t)),
            ):
                checks += 1
                if _denied(reader, statement):
                    denied_writes += 1
                else:
                    problems.append(f"reader was not refused {verb} on {schema}.{name}")
        for schema, name in sequences:
            checks += 1
            if not _denied(reader, sql.SQL("SELECT nextval({})").format(sql.Literal(f"{schema}.{name}"))):
                problems.append(f"reader was not refused nextval of {schema}.{name}")
        for signature, volatility, definer, returns_set, argtypes in functions:
            checks += 1
            name = signature.split("(", 1)[0]
            call = sql.SQL("SELECT {}{}({})").format(
                sql.SQL("* FROM ") if returns_set else sql.SQL(""),
                sql.SQL(name),
                sql.SQL(", ").join(sql.SQL("NULL::{}").format(sql.SQL(a)) for a in argtypes),
            )
            refused = _denied(reader, call)
            if volatility == "v" or definer:
                if not refused:
                    problems.append(f"reader may call {signature} (VOLATILE or SECURITY DEFINER: it may write)")
            elif refused:
                problems.append(f"reader is refused {signature}, a read-only function the site needs")
            else:
                read_only_functions.append(signature)
        checks += 1
        if not _denied(reader, sql.SQL("CREATE TABLE staging.drill_reader_table (x int)")):
            problems.append("reader may create a table in staging")

    # -- the reader cannot run a window; the tables stay as they were
    windows = make_windows(tmp_path / "windows", ROWS, seed=95)
    env = cli_env(tmp_path / "cli")
    with psycopg.connect(db_url) as conn:
        before = digest(conn)
    checks += 1
    done = run_cli(["ingest", str(windows[0]), "--json", "--database-url", logins["reader"]], env)
    with psycopg.connect(db_url) as conn:
        _, diff = rows_lost(before, digest(conn))
    if done.returncode == 0 or diff or "permission denied" not in done.stderr:
        problems.append(f"a reader's window: exit {done.returncode}, tables changed {diff}: {done.stderr[-300:]}")

    # -- the writer runs both windows; the tables equal the owner's
    control = new_db()
    with psycopg.connect(control, autocommit=True) as owner:
        _probes(owner)
    writer_seconds = []
    for path in windows:
        checks += 1
        done = run_cli(["ingest", str(path), "--json", "--database-url", control], env)
        assert done.returncode == 0, done.stderr
        done = run_cli(["ingest", str(path), "--json", "--database-url", logins["writer"]], env)
        if done.returncode != 0:
            problems.append(f"the writer's window {path.name} exited {done.returncode}: {done.stderr[-500:]}")
        else:
            writer_seconds.append(json.loads(done.stdout)["seconds"]["total"])
    with psycopg.connect(control) as a, psycopg.connect(db_url) as b:
        lost, diff = rows_lost(digest(a), digest(b))
    if diff:
        problems.append(f"the writer's tables differ from the owner's (missing, extra rows): {diff}")
    checks += 1
    with psycopg.connect(logins["writer"], autocommit=True) as writer:
        if not _denied(writer, sql.SQL("DELETE FROM public.vinops_migrations WHERE false")):
            problems.append("the writer may change the migration record")
        if _denied(writer, sql.SQL("SELECT public.drill_probe_write('x')")):
            problems.append("the writer cannot call a function a later migration made")

    drill.record(
        runs=checks,
        failures=len(problems),
        rows_lost=lost,
        tables=len(tables),
        writes_refused=denied_writes,
        sequences=len(sequences),
        functions_read_only=len(read_only_functions),
        functions_refused=len(functions) - len(read_only_functions),
        writer_window_seconds=writer_seconds,
    )
    assert not problems, "\n".join(problems)
    assert lost == 0
