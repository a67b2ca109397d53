"""``vinops db migrate|url|stop``: migrations and the embedded server."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vinops import db
from vinops.cli.common import SERVER, database_option, print_json
from vinops.logs import mask

__all__ = ["add_arguments", "cmd_migrate", "cmd_stop", "cmd_url"]


def cmd_migrate(args: argparse.Namespace) -> int:
    with db.connect(args.database.url, autocommit=True) as conn:
        result = db.migrate(conn)
    if args.json:
        print_json(result)
        return 0
    done = ", ".join(result["applied"]) if result["applied"] else "nothing to apply"
    tx = result["taxonomy"]
    print(
        f"schema version {result['version']:04d} ({done}); taxonomy: {tx.get('terms', 0)} terms, "
        f"{tx.get('values', 0)} values, {tx.get('title_state_labels', 0)} title labels"
        + (f" (missing: {', '.join(tx['missing'])})" if tx.get("missing") else "")
    )
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    url = args.database.url
    print(url if args.show_password else mask(url))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    if db.stop_embedded(args.settings.data_dir):
        print("stopped the embedded server", file=sys.stderr)
    else:
        print("the embedded server is not running", file=sys.stderr)
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops db migrate|url|stop``."""
    p = subparsers.add_parser("db", help="database: migrations and the embedded server")
    actions = p.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    m = actions.add_parser("migrate", help="apply pending migrations and seed the taxonomy (idempotent)")
    database_option(m)
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=cmd_migrate, database=SERVER)

    u = actions.add_parser(
        "url",
        help="print the database URL in use (starts the embedded server if needed; a password is masked)",
    )
    database_option(u)
    u.add_argument("--show-password", action="store_true", help="print the URL's password too")
    u.set_defaults(func=cmd_url, database=SERVER)

    s = actions.add_parser("stop", help="stop the embedded server (under VINOPS_DATA_DIR)")
    s.set_defaults(func=cmd_stop, settings_needed=True)
