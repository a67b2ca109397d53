"""The `vinops` command line. Each command is a thin wrapper over plain functions of the package.

This package is the only place that reads the environment (``VINOPS_*``, :func:`vinops.config.Settings.from_env`),
chooses a database, parses arguments, prints, and turns errors into exit codes.

Database (commands that use one): ``--database-url``, else ``VINOPS_DATABASE_URL``, else the embedded
PostgreSQL kept under the data folder (``VINOPS_DATA_DIR``), started on demand and left running (``vinops db
stop``); pending migrations are applied automatically to the embedded database only. Library functions never
pick a database: :func:`vinops.db.connect` without a URL raises ValueError.

Exit codes, the same for every command (:mod:`vinops.cli.errors`):

====  ==========================================================================================================
0     success (a skipped window too)
1     a failure that is not the input's fault and that a retry will not fix: a bug, a broken installation
      (an invalid taxonomy file), a migration that fails or an edited applied one, a schema that is behind
2     bad input or usage: a missing or unreadable file, a file that is not a Copart CSV, a rejected file,
      invalid options or settings (``VINOPS_*``), an invalid database URL
75    a failure a retry can help (EX_TEMPFAIL): lost or refused connection, a lock or statement timeout, a
      deadlock; that is a ``psycopg.OperationalError`` or any error carrying ``retryable = True``
130   interrupted (Ctrl-C)
====  ==========================================================================================================

An error is one line on stderr, ``vinops: error: <message>``: a missing path reads ``cannot read PATH: No such
file or directory``; text that came from a file (a header of random bytes) is a short excerpt with every
non-printable or non-ASCII character escaped (``\\x00``, ``\\ufffd``); a database password never appears
(:func:`vinops.logs.mask`).

Logging goes to stderr, human-readable, every line masked: warnings and errors by default, ``-v`` adds
progress (info), ``-vv`` debug (and the traceback of a failure), ``-q`` errors only. The options go before or
after the command (``vinops -v ingest f.csv`` or ``vinops ingest f.csv -v``). ``VINOPS_LOG_FORMAT=json`` writes
one JSON object a line instead (:class:`vinops.logs.JsonFormatter`), masked the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, NoReturn

from vinops import _core, config
from vinops.cli import common, errors
from vinops.cli import db as db_commands
from vinops.cli import files as file_commands
from vinops.cli import health as health_commands
from vinops.cli import images as image_commands
from vinops.cli import ingest as ingest_commands
from vinops.cli import run as run_commands
from vinops.cli import serve as serve_commands
from vinops.cli import taxonomy as taxonomy_commands
from vinops.logs import stderr_handler

__all__ = ["build_parser", "main"]

_SUMMARY = "vinops: the Copart sales-data feed into PostgreSQL (parse, sample, ingest, run, migrate, taxonomy labels)."
_EPILOG = """\
database: --database-url, else $VINOPS_DATABASE_URL, else the embedded PostgreSQL under $VINOPS_DATA_DIR
          (started on demand and migrated; `vinops db stop` stops it)
logging:  on stderr; warnings by default, -v progress (info), -vv debug, -q errors only
exit:     0 success (or a skipped window), 1 failure a retry will not fix, 2 bad input or usage,
          75 temporary failure (a retry can help), 130 interrupted"""


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line too (exit 2)."""

    def error(self, message: str) -> NoReturn:
        line = errors.escape(f"{message} (see `{self.prog} --help`)")
        self.exit(errors.EXIT_USAGE, f"vinops: error: {line}\n")


def _logging_options(p: argparse.ArgumentParser, *, top: bool) -> None:
    default: Any = 0 if top else argparse.SUPPRESS
    g = p.add_argument_group("logging (stderr)")
    g.add_argument(
        "-v", "--verbose", action="count", default=default,
        help="more log lines: -v progress (info), -vv debug and tracebacks (default: warnings only)",
    )  # fmt: skip
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS if not top else False,
                   help="errors only")  # fmt: skip


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                out.extend(_leaf_parsers(child) or [child])
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vinops",
        description=_SUMMARY,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vinops {_core.__version__}")
    _logging_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    file_commands.add_arguments(sub)  # parse, sample, schema
    db_commands.add_arguments(sub)  # db migrate|url|stop

    ingest_commands.add_arguments(sub)  # ingest
    run_commands.add_arguments(sub)  # run (one window through the copart-window flow)
    taxonomy_commands.add_arguments(sub)  # taxonomy export|unknown
    image_commands.add_arguments(sub)  # images (lot photos)
    serve_commands.add_arguments(sub)  # serve (/metrics, /health, /healthz, /readyz)
    health_commands.add_arguments(sub)  # health (the verdict in the terminal)

    for leaf in _leaf_parsers(parser):
        _logging_options(leaf, top=False)
    return parser


def _configure_logging(args: argparse.Namespace) -> tuple[logging.Handler, int]:
    """A masked stderr handler on the root logger; ``vinops.*`` at the chosen level, other libraries at
    warning. Returns the handler and the previous level of ``vinops`` (restored after the command)."""
    verbose = int(getattr(args, "verbose", 0) or 0)
    quiet = bool(getattr(args, "quiet", False))
    if quiet:
        level = logging.ERROR
    elif verbose >= 2:
        level = logging.DEBUG
    elif verbose == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    try:
        log_format = config.log_format(os.environ)
    except ValueError:
        log_format = "text"  # the settings report the invalid value as a usage error
    handler = stderr_handler(logging.ERROR if quiet else logging.NOTSET, log_format)
    logger = logging.getLogger("vinops")
    previous = logger.level
    logger.setLevel(level)
    logging.getLogger().addHandler(handler)
    return handler, previous


def _prepare(args: argparse.Namespace) -> None:
    """What the command needs before it runs: readable input files, the settings, the database."""
    common.check_inputs(args)
    mode = getattr(args, "database", None)
    if mode is not None or getattr(args, "settings_needed", False):
        args.settings = common.settings_from_env(args)
    if mode is not None:
        args.database = common.resolve_database(args.settings, mode)


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; every error becomes a one-line message and an exit code."""
    try:
        _prepare(args)
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `vinops schema | head`
        sys.stderr.close()
        return errors.EXIT_OK
    except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - the one place errors become exit codes
        return errors.report(e)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, a usage error (already printed)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else errors.EXIT_USAGE)
    handler, previous = _configure_logging(args)
    try:
        return run(args)
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("vinops").setLevel(previous)
