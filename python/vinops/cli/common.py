"""What the commands share: the settings read from the environment, the database the command line chooses,
input-file checks and output helpers. Only the command line reads the environment (library functions take
settings and a URL or connection from their caller)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

from vinops import db
from vinops.cli.errors import UsageError
from vinops.config import Settings
from vinops.logs import add_secret, mask

__all__ = [
    "MIGRATED",
    "SERVER",
    "Database",
    "check_inputs",
    "database_option",
    "print_json",
    "resolve_database",
    "settings_from_env",
    "utf8_stdout",
]

log = logging.getLogger("vinops.cli")

#: ``set_defaults(database=…)`` of a command that uses a database: the embedded one migrated first (so a
#: fresh machine just works) or merely started (``db migrate`` migrates it itself; ``db url`` only prints).
MIGRATED = "migrated"
SERVER = "server"


@dataclass(frozen=True)
class Database:
    url: str
    embedded: bool


def settings_from_env(args: argparse.Namespace) -> Settings:
    """The settings of this run: the environment (``VINOPS_*``), ``--database-url`` winning over
    ``VINOPS_DATABASE_URL``. An invalid value is a usage error."""
    try:
        settings = Settings.from_env(database_url=getattr(args, "database_url", None) or None)
    except ValueError as e:
        raise UsageError(f"invalid setting: {e}") from e
    _register_password(settings.database_url)
    return settings


def _register_password(url: str | None) -> None:
    """Mask the password of ``url`` verbatim too (e.g. percent-decoded by libpq in an error message)."""
    if not url:
        return
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(url).get("password")
    except Exception:  # noqa: BLE001 - an invalid URL is reported where it is used
        return
    if isinstance(password, str):
        add_secret(password)


def resolve_database(settings: Settings, mode: str) -> Database:
    """The database of this command: ``--database-url``, else ``VINOPS_DATABASE_URL`` (both already in
    ``settings.database_url``), else the embedded PostgreSQL under ``settings.data_dir``, started on demand.
    With ``mode`` :data:`MIGRATED`, pending migrations are applied to the embedded database (never to one
    given by URL: that is ``vinops db migrate``'s job)."""
    if settings.database_url:
        _check_url(settings.database_url)
        log.debug("database: %s", settings.database_url)
        return Database(settings.database_url, embedded=False)
    log.info("no --database-url or VINOPS_DATABASE_URL: the embedded PostgreSQL under %s", settings.data_dir)
    url = db.embedded_url(settings.data_dir)
    if mode == MIGRATED:
        with db.connect(url, autocommit=True) as conn:
            if db.pending_migrations(conn):
                result = db.migrate(conn)
                log.info("migrated the embedded database to version %04d", result["version"])
    return Database(url, embedded=True)


def _check_url(url: str) -> None:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except ProgrammingError as e:
        raise UsageError(f"invalid database URL {mask(url)!r}: {mask(str(e))}") from None


def check_inputs(args: argparse.Namespace) -> None:
    """Each argument named in ``args.input_paths`` is a file this process can open for reading, else a usage
    error ``cannot read PATH: <reason>`` (the same line for every command)."""
    for name in getattr(args, "input_paths", ()):
        path = getattr(args, name, None)
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as e:
            raise UsageError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from e


def database_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="PostgreSQL URL (default: $VINOPS_DATABASE_URL, else the embedded server under the user's data folder)",
    )


def print_json(obj: Any, *, ensure_ascii: bool = True) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=ensure_ascii, default=_json_default)
    sys.stdout.write("\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def utf8_stdout() -> None:
    """Russian labels must reach a pipe or a file as UTF-8 whatever the locale says."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")
