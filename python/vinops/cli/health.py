"""``vinops health [--json]``: the verdict ``/health`` gives (:mod:`vinops.health`), in the terminal. Exit code
0 healthy, 1 degraded, 2 unhealthy (a database that cannot be reached is unhealthy, not an error)."""

from __future__ import annotations

import argparse
from typing import Any

from vinops.cli.common import MIGRATED, database_option, print_json

__all__ = ["add_arguments", "cmd_health"]

_MARK = {"healthy": "ok", "degraded": "!!", "unhealthy": "XX", "unknown": "--"}


def _human(report: Any) -> str:
    lines = [f"vinops: {report.status.upper()} (checked {report.checked_at.strftime('%Y-%m-%d %H:%M:%S UTC')})"]
    for part in report.parts:
        lines.append(f"  [{_MARK.get(part.status, '??')}] {part.title:<12} {part.status:<9} {part.summary}")
        lines.extend(f"{'':<8}- {reason}" for reason in part.reasons)
    return "\n".join(lines)


def cmd_health(args: argparse.Namespace) -> int:
    import psycopg

    from vinops.health import collect, unreachable

    try:
        with psycopg.connect(args.database.url, connect_timeout=args.connect_timeout,
                             application_name="vinops-health") as conn:  # fmt: skip
            report = collect(conn)
    except (psycopg.Error, OSError) as e:
        report = unreachable(e)
    if args.json:
        print_json(report.to_dict())
    else:
        print(_human(report))
    return report.exit_code


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops health``."""
    p = subparsers.add_parser("health", help="print the health verdict (exit 0 healthy, 1 degraded, 2 unhealthy)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object (what /health answers)")
    p.add_argument("--connect-timeout", type=int, default=3, metavar="S",
                   help="seconds to wait for the database (default 3)")  # fmt: skip
    database_option(p)
    p.set_defaults(func=cmd_health, database=MIGRATED)
