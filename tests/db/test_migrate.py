"""`vinops db migrate`: ordered, recorded, transactional, locked, idempotent; the taxonomy seed."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from vinops import taxonomy
from vinops.config import sql_dir
from vinops.db import MigrationError, migrate, migrations, pending_migrations

pytestmark = pytest.mark.db


def _sql_copy(tmp_path: Path) -> Path:
    root = tmp_path / "sql"
    shutil.copytree(sql_dir(), root)
    return root


def test_fresh_database_is_migrated_once(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        assert [m.label for m in pending_migrations(conn)] == [m.label for m in migrations()]
        first = migrate(conn)
        assert first["applied"] == [m.label for m in migrations()]
        assert first["taxonomy"]["terms"] == len(taxonomy.load().terms)
        second = migrate(conn)
        assert second["applied"] == [] and pending_migrations(conn) == []
        rows = conn.execute("SELECT version, name, sha256 FROM vinops_migrations ORDER BY version").fetchall()
        assert rows == [(m.version, m.name, m.sha256) for m in migrations()]
        names = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
        assert {"raw", "staging", "taxonomy", "audit", "public"} <= names
        for table in ("lots", "vehicles", "lot_events", "images"):
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None  # default search path
        persistence = conn.execute("SELECT relpersistence FROM pg_class WHERE oid = 'staging.lots'::regclass").fetchone()
        assert persistence == ("u",)  # UNLOGGED


def test_contract_columns_of_lots(conn: psycopg.Connection) -> None:
    cols = dict(
        conn.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_schema = 'public' AND table_name = 'lots'"""
        ).fetchall()
    )
    assert cols["lot_number"] == "bigint"
    assert cols["vin"] == "text"
    assert cols["status"] == "text"
    assert cols["auction_at"] == "timestamp with time zone"
    assert cols["source_updated_at"] == "timestamp with time zone"
    assert cols["retail_value_usd"] == "numeric"
    pk = conn.execute(
        """SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
           WHERE i.indrelid = 'lots'::regclass AND i.indisprimary"""
    ).fetchall()
    assert pk == [("lot_number",)]
    vpk = conn.execute(
        """SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
           WHERE i.indrelid = 'vehicles'::regclass AND i.indisprimary"""
    ).fetchall()
    assert vpk == [("vin",)]
    code_fks = conn.execute(
        """SELECT count(*) FROM pg_constraint WHERE conrelid = 'lots'::regclass AND contype = 'f'
           AND confrelid = 'taxonomy.terms'::regclass"""
    ).fetchone()[0]  # type: ignore[index]
    code_cols = [c for c in cols if c.endswith("_code") and c != "currency_code"]
    assert code_fks == len(code_cols) == 15


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("INSERT INTO lots (lot_number, status, row_hash, source_window_at, first_seen_at, load_id) VALUES (1, 'SOLDISH', 0, now(), now(), 1)", psycopg.errors.CheckViolation),
        ("INSERT INTO vehicles (vin, year, source_lot_number, source_window_at, load_id) VALUES ('X1', 1850, 1, now(), 1)", psycopg.errors.CheckViolation),
        ("INSERT INTO vehicles (vin, source_lot_number, source_window_at, load_id) VALUES ('abc', 1, now(), 1)", psycopg.errors.CheckViolation),
        ("INSERT INTO lots (lot_number, vin, row_hash, source_window_at, first_seen_at, load_id) VALUES (1, 'NOSUCHVIN', 0, now(), now(), 1)", psycopg.errors.ForeignKeyViolation),
        ("INSERT INTO lots (lot_number, color_code, row_hash, source_window_at, first_seen_at, load_id) VALUES (1, 32000, 0, now(), now(), 1)", psycopg.errors.ForeignKeyViolation),
        ("INSERT INTO lots (lot_number, status, row_hash, source_window_at, first_seen_at, load_id) VALUES (1, 'PENDING_RESULT', 0, now(), now(), 1)", psycopg.errors.CheckViolation),
    ],
)  # fmt: skip
def test_constraints_refuse_bad_states(conn: psycopg.Connection, statement: str, error: type[Exception]) -> None:
    conn.execute(
        """INSERT INTO raw.csv_files (sha256, bytes, window_at, window_at_source) OVERRIDING SYSTEM VALUE
           VALUES (repeat('a', 64), 1, now(), 'clock')"""
    )
    with pytest.raises(error):
        conn.execute(statement)


def test_unique_lot_number_and_vin(conn: psycopg.Connection) -> None:
    conn.execute("INSERT INTO raw.csv_files (sha256, bytes, window_at, window_at_source) VALUES (repeat('b', 64), 1, now(), 'clock')")
    load = conn.execute("SELECT max(load_id) FROM raw.csv_files").fetchone()[0]  # type: ignore[index]
    conn.execute("INSERT INTO vehicles (vin, source_lot_number, source_window_at, load_id) VALUES ('V1', 1, now(), %s)", (load,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        with conn.transaction():
            conn.execute("INSERT INTO vehicles (vin, source_lot_number, source_window_at, load_id) VALUES ('V1', 2, now(), %s)", (load,))
    conn.execute("INSERT INTO lots (lot_number, row_hash, source_window_at, first_seen_at, load_id) VALUES (7, 0, now(), now(), %s)", (load,))
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("INSERT INTO lots (lot_number, row_hash, source_window_at, first_seen_at, load_id) VALUES (7, 0, now(), now(), %s)", (load,))


def test_edited_migration_is_refused(empty_db: str, tmp_path: Path) -> None:
    root = _sql_copy(tmp_path)
    with psycopg.connect(empty_db) as conn:
        migrate(conn, root=root)
        first = sorted((root / "migrations").glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="edited after it was applied"):
            migrate(conn, root=root)
        with pytest.raises(MigrationError):
            pending_migrations(conn, root=root)


def test_failing_migration_leaves_nothing_behind(empty_db: str, tmp_path: Path) -> None:
    root = _sql_copy(tmp_path)
    n = len(migrations(root))
    bad = root / "migrations" / f"{n + 1:04d}_broken.sql"
    bad.write_text("CREATE TABLE public.half_done (x int);\nSELECT * FROM no_such_table;\n")
    with psycopg.connect(empty_db) as conn:
        with pytest.raises(MigrationError, match="broken"):
            migrate(conn, root=root)
        assert conn.execute("SELECT to_regclass('public.half_done')").fetchone() == (None,)
        versions = [v for (v,) in conn.execute("SELECT version FROM vinops_migrations ORDER BY 1").fetchall()]
        assert versions == list(range(1, n + 1))
        bad.write_text("CREATE TABLE public.half_done (x int);\n")
        assert migrate(conn, root=root)["applied"] == [f"{n + 1:04d}_broken"]


def test_gap_in_versions_is_refused(tmp_path: Path) -> None:
    root = _sql_copy(tmp_path)
    (root / "migrations" / "0009_far.sql").write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match="without gaps"):
        migrations(root)


def test_two_migrators_do_not_race(empty_db: str) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        with psycopg.connect(empty_db) as conn:
            barrier.wait()
            try:
                results.append(migrate(conn)["applied"])
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                results.append(e)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(map(len, results)) == [0, len(migrations())], results
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM vinops_migrations").fetchone() == (len(migrations()),)


def test_taxonomy_seed_is_idempotent_and_follows_the_files(conn: psycopg.Connection, tmp_path: Path) -> None:
    tx = taxonomy.load()
    assert conn.execute("SELECT count(*) FROM taxonomy.terms").fetchone() == (len(tx.terms),)
    assert conn.execute("SELECT count(*) FROM taxonomy.raw_values").fetchone() == (len(tx.values),)
    conn.rollback()
    folder = tmp_path / "taxonomy"
    shutil.copytree(taxonomy.default_directory(), folder)
    terms = (folder / "terms.csv").read_text(encoding="utf-8")
    first = tx.terms[0]
    (folder / "terms.csv").write_text(terms.replace(first.en, first.en + " (renamed)", 1), encoding="utf-8")
    from vinops.taxonomy_tables import seed_taxonomy

    seed_taxonomy(conn, folder)
    seed_taxonomy(conn, folder)
    assert conn.execute("SELECT en FROM taxonomy.terms WHERE id = %s", (first.id,)).fetchone() == (first.en + " (renamed)",)
    assert conn.execute("SELECT count(*) FROM taxonomy.terms").fetchone() == (len(tx.terms),)


def test_ingest_refuses_an_unmigrated_database(empty_db: str, tmp_path: Path) -> None:
    from vinops.config import Settings
    from vinops.errors import IngestError
    from vinops.window import WindowOptions, ingest_file

    f = tmp_path / "x.csv"
    f.write_bytes(b'"Lot number"\n"1"\n')
    with pytest.raises(IngestError, match="vinops db migrate") as err:
        ingest_file(f, Settings(), WindowOptions(store_raw=False), database_url=empty_db)
    assert err.value.stage == "schema" and not err.value.retryable
