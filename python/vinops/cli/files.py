"""Commands without a database: ``vinops parse``, ``vinops sample``, ``vinops schema``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vinops import _core
from vinops.cli.common import print_json
from vinops.cli.errors import UsageError

__all__ = ["add_arguments", "cmd_parse", "cmd_sample", "cmd_schema"]


def _quarantine_json(items: list[dict[str, Any]], limit: int = 500) -> list[dict[str, Any]]:
    out = []
    for q in items:
        raw = q["raw"].decode("utf-8", "replace")
        out.append({**q, "raw": raw if len(raw) <= limit else raw[:limit] + "…"})
    return out


def cmd_parse(args: argparse.Namespace) -> int:
    from vinops.parse import parse_file
    from vinops.taxonomy import load

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, not {args.batch_size}")
    taxonomy = None if args.no_taxonomy else load().matcher_mapping()
    table, s = parse_file(args.path, engine=args.engine, taxonomy=taxonomy, batch_size=args.batch_size)
    summary = {
        "sha256": s["sha256"],
        "engine": args.engine,
        "rows_in": s["rows_in"],
        "rows_ok": s["rows_ok"],
        "rows_quarantined": s["rows_quarantined"],
        "quarantine": _quarantine_json(s["quarantine"]),
        "unknown": s["unknown"],
        "categorical_cells": s["categorical_cells"],
        "extra_columns": s["extra_columns"],
        "missing_columns": s["missing_columns"],
        "bytes": s["bytes"],
        "seconds": round(s["seconds"], 4),
        "wall_seconds": round(s["wall_seconds"], 4),
    }
    assert table.num_rows == summary["rows_ok"]
    if args.json:
        print_json(summary)
        return 0
    mb = s["bytes"] / 1e6
    rate = mb / s["seconds"] if s["seconds"] else float("inf")
    print(
        f"{args.path}: {s['rows_in']:,} rows, {s['rows_ok']:,} ok, {s['rows_quarantined']:,} quarantined; "
        f"{mb:.1f} MB in {s['seconds']:.3f} s ({rate:,.0f} MB/s, {args.engine} engine)"
    )
    print(f"sha256 {s['sha256']}")
    unknown = sum(len(v) for v in s["unknown"].values())
    if unknown:
        print(f"{unknown} distinct unknown taxonomy values (see --json)")
    if s["extra_columns"]:
        print(f"extra columns ignored: {', '.join(s['extra_columns'])}")
    for q in s["quarantine"][:10]:
        print(f"  row {q['row']} (line {q['line']}): {q['reason']}: {q['detail']}")
    if len(s["quarantine"]) > 10:
        print(f"  … {len(s['quarantine']) - 10} more (see --json)")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from vinops.sample import write_sample

    if args.rows < 0:
        raise UsageError(f"--rows must not be negative, not {args.rows}")
    if not 0.0 <= args.defect_rate <= 1.0:
        raise UsageError(f"--defect-rate must be between 0 and 1, not {args.defect_rate}")
    path = Path(args.path)
    try:
        stats = write_sample(path, rows=args.rows, seed=args.seed, defect_rate=args.defect_rate)
    except OSError as e:
        if e.filename is None or not e.strerror:
            raise
        raise UsageError(f"cannot write {e.filename}: {e.strerror}") from e
    print(f"wrote {stats.rows:,} rows, {stats.bytes / 1e6:.1f} MB to {args.path}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from vinops.parse import SCHEMA

    docs = {name: (nullable, doc) for name, nullable, doc in _core.column_docs()}
    rows = [
        {"name": f.name, "type": str(f.type), "nullable": docs[f.name][0], "doc": docs[f.name][1]} for f in SCHEMA
    ]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            null = "" if r["nullable"] else " not null"
            print(f"{r['name']:<24} {r['type'] + null:<32} {r['doc']}")
    return 0


def add_arguments(sub: Any) -> None:
    """Register ``vinops parse``, ``vinops sample`` and ``vinops schema``."""
    p = sub.add_parser("parse", help="parse a sales-data CSV without a database")
    p.add_argument("path", help="the CSV file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--engine", choices=["rust", "python"], default="rust", help="parser (default: rust)")
    p.add_argument("--batch-size", type=int, default=65_536, help="rows per Arrow batch")
    p.add_argument("--no-taxonomy", action="store_true", help="do not match taxonomy codes")
    p.set_defaults(func=cmd_parse, input_paths=("path",))

    p = sub.add_parser("sample", help="write a realistic synthetic sales-data CSV")
    p.add_argument("path")
    p.add_argument("--rows", type=int, default=150_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--defect-rate", type=float, default=0.002, help="share of rows with each real-world defect")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("schema", help="print the output schema (Arrow columns)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_schema)
