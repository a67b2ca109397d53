"""``vinops run``: one window of the feed (fetch → load → completion) through the ``copart-window`` flow itself,
on this machine. With no ``PREFECT_API_URL`` Prefect runs in its ephemeral mode (a temporary local API started
for the run, nothing to install or register); with one, the run appears on that server like any other.

The flow reads the feed and the database from the environment (``VINOPS_FEED_URL`` …, see
:mod:`vinops.secrets`) or Secret blocks; the database is the command line's as for every command
(``--database-url``, else ``VINOPS_DATABASE_URL``, else the embedded PostgreSQL, migrated). It prints the
window's summary (``--json``: the flow's result as one object); errors map to the exit codes of
:mod:`vinops.cli` (a rejected file 2, a failure a retry can help 75 once the flow's own retries are spent).

The flow is :mod:`vinops.flows.copart_window`, part of the installed package.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from vinops.cli.common import MIGRATED, database_option, print_json
from vinops.cli.errors import UsageError
from vinops.config import parse_duration

__all__ = ["add_arguments", "cmd_run", "load_flow"]

#: Seconds Prefect waits for its ephemeral API to start (Prefect's default, 20 s, is too short on a small
#: machine's first run).
EPHEMERAL_STARTUP_TIMEOUT = "120"


def load_flow() -> Any:
    """The ``copart_window`` flow (importing it imports Prefect, so it is not imported with the CLI)."""
    from vinops.flows.copart_window import copart_window

    return copart_window


def _run_environment(verbose: int, database_url: str) -> dict[str, str]:
    """The environment of the run: the database the command line chose (the flow reads its settings from the
    environment), and what Prefect reads when it is imported: a longer ephemeral start-up timeout, Prefect's
    own log lines at the command line's level (its console handler writes to stderr). Variables already set
    win, except the database."""
    wanted = {"VINOPS_DATABASE_URL": database_url}
    for name, value in (("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_TIMEOUT),
                        ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
                        ("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")):  # fmt: skip
        if name not in os.environ:
            wanted[name] = value
    return wanted


def _human(out: dict[str, Any]) -> str:
    from vinops.cli.ingest import _human_window

    summary = out.get("summary") or {}
    head = f"window {out.get('outcome')}" + (f" (run {out['run_id']})" if out.get("run_id") is not None else "")
    if "file_sha256" in summary and "seconds" in summary and "total" in summary["seconds"]:
        return head + "\n" + _human_window(summary)
    return head


def cmd_run(args: argparse.Namespace) -> int:
    grace = None
    if args.grace:
        try:
            parse_duration(args.grace)
        except ValueError as e:
            raise UsageError(f"--grace: {e}") from None
        grace = args.grace
    if args.min_ratio is not None and not 0.0 <= args.min_ratio <= 1.0:
        raise UsageError("--min-ratio must be between 0 and 1")
    wanted = _run_environment(int(getattr(args, "verbose", 0) or 0), args.database.url)
    previous = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        flow = load_flow()
        out = flow(completion_grace=grace, min_ratio=args.min_ratio, force_completion=args.force_completion)
    finally:  # a caller's environment (a test session, a program calling main()) as it was
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if args.json:
        print_json(out)
    else:
        print(_human(out))
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops run``."""
    p = subparsers.add_parser(
        "run",
        help="fetch the feed and load one window through the copart-window flow (Prefect's ephemeral mode)",
        description="Fetch the feed (VINOPS_FEED_URL …) and load one window through the copart-window Prefect "
        "flow, locally: without PREFECT_API_URL Prefect starts a temporary API for the run.",
    )
    p.add_argument("--json", action="store_true", help="print the flow's result as one JSON object")
    p.add_argument("--grace", help="time after an auction before an absent lot is PENDING_RESULT (default: settings)")
    p.add_argument("--min-ratio", type=float, default=None,
                   help="completion runs only for a file with at least this share of the previous window's rows")  # fmt: skip
    p.add_argument("--force-completion", action="store_true",
                   help="run completion even for a much shorter file (never for an invalid one)")  # fmt: skip
    database_option(p)
    p.set_defaults(func=cmd_run, database=MIGRATED)
