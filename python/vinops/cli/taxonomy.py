"""``vinops taxonomy export|unknown``: the label tables of the taxonomy files, the values no row matched."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import timezone
from typing import Any

import psycopg

from vinops import db, taxonomy
from vinops.cli.common import MIGRATED, database_option, print_json, utf8_stdout
from vinops.cli.errors import Failure, UsageError
from vinops.taxonomy_tables import unknown_values

__all__ = ["add_arguments", "cmd_export", "cmd_unknown"]


def cmd_export(args: argparse.Namespace) -> int:
    if args.lang is None:
        raise UsageError(f"taxonomy export needs --lang ({' or '.join(taxonomy.LANGS)})")
    try:
        lang = taxonomy.check_lang(args.lang)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.format not in taxonomy.EXPORT_FORMATS:
        raise UsageError(f"unsupported format {args.format!r} (use {' or '.join(taxonomy.EXPORT_FORMATS)})")
    rows = taxonomy.export_rows(taxonomy.load(), lang)
    utf8_stdout()
    if args.format == "json":
        print_json(taxonomy.export_object(rows, lang), ensure_ascii=False)
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=taxonomy.EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0


def _when(t: Any) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if t is not None else ""


def cmd_unknown(args: argparse.Namespace) -> int:
    try:
        with db.connect(args.database.url) as conn:
            items = unknown_values(conn)
    except psycopg.errors.UndefinedTable:
        raise Failure("the database has no audit.unknown_values table: run `vinops db migrate` first") from None
    utf8_stdout()
    if args.json:
        print_json(items, ensure_ascii=False)
        return 0
    if not items:
        print("no unknown taxonomy values")
        return 0
    header = ("domain", "value", "count", "first seen", "last seen", "maps to now")
    table = [
        (i["domain"], i["value"], f"{i['count']:,}", _when(i["first_seen_at"]), _when(i["last_seen_at"]),
         i["maps_to"] or "")
        for i in items
    ]  # fmt: skip
    widths = [max(len(str(row[c])) for row in [header, *table]) for c in range(len(header))]
    for row in [header, *table]:
        cells = [str(v).rjust(w) if c == 2 else str(v).ljust(w) for c, (v, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops taxonomy export|unknown``."""
    p = subparsers.add_parser("taxonomy", help="taxonomy labels (EN/RU) and the values no taxonomy row matches")
    actions = p.add_subparsers(dest="taxonomy_command", required=True, metavar="ACTION")

    e = actions.add_parser(
        "export",
        help="print the label tables of one language (from sql/taxonomy; no database)",
        description="One row per term (domain, id, code, state empty, label), each title code followed by its "
        "title-state-specific labels (state set). Read from the taxonomy files ($VINOPS_SQL_DIR/taxonomy, "
        "else sql/taxonomy): the same data `vinops db migrate` seeds.",
    )
    e.add_argument("--lang", metavar="{en,ru}", help="label language (required)")
    e.add_argument("--format", default="csv", metavar="{csv,json}", help="output format (default: csv)")
    e.set_defaults(func=cmd_export)

    u = actions.add_parser(
        "unknown",
        help="list the categorical values no taxonomy row matched (audit.unknown_values), most frequent first",
    )
    u.add_argument("--json", action="store_true", help="print one JSON array")
    database_option(u)
    u.set_defaults(func=cmd_unknown, database=MIGRATED)
