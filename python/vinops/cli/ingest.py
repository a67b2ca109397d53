"""``vinops ingest PATH``: one window (:func:`vinops.window.ingest_file`), a progress bar on a terminal, then
a short summary or, with ``--json``, the :class:`~vinops.window.WindowResult` as one object."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from vinops.cli.common import MIGRATED, database_option, print_json
from vinops.cli.errors import UsageError
from vinops.config import parse_duration

__all__ = ["add_arguments", "cmd_ingest"]


class _Bar:
    """A tqdm bar on stderr: rows while the file is staged, then one tick per stage."""

    _STAGES = ("prepare", "plan", "write", "vehicles", "lots", "completion", "constraints", "raw store", "commit")

    def __init__(self, total_rows: int | None) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bar: Any = tqdm(total=total_rows, unit=" rows", desc="load", file=sys.stderr, leave=False)
        self.stages: Any = None

    def rows(self, n: int) -> None:
        self.bar.update(n)

    def stage(self, name: str) -> None:
        if name not in self._STAGES:
            return
        if self.stages is None:
            self.bar.close()
            self.stages = self._tqdm(total=len(self._STAGES), desc=name, file=sys.stderr, leave=False, unit=" stages")
        self.stages.update(1)
        self.stages.set_description(name)

    def close(self) -> None:
        for b in (self.bar, self.stages):
            if b is not None:
                b.close()


def _count_lines(path: Path) -> int | None:
    try:
        with open(path, "rb") as f:
            n = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 22), b""))
    except OSError:
        return None
    return max(n - 1, 0)


def _human_window(r: dict[str, Any]) -> str:
    if r["skipped"]:
        return f"skipped: {r['skip_reason']} (sha256 {r['file_sha256'][:12]}…, {r['seconds']['total']:.2f} s)"
    c = r["completion"]
    lines = [
        f"load {r['load_id']}: window {r['window_at']} ({r['window_at_source']}), sha256 {r['file_sha256'][:12]}…",
        f"rows     {r['rows_in']:,} in · {r['rows_loaded']:,} loaded · {r['rows_quarantined']:,} quarantined"
        + (f" ({r['rows_refused']:,} refused by constraints)" if r["rows_refused"] else "")
        + f" · unknown taxonomy {r['unknown_rate']:.3%}",
        f"lots     {r['lots_inserted']:,} new · {r['lots_updated']:,} changed · {r['lots_unchanged']:,} unchanged"
        + (f" · {r['lots_stale']:,} older than stored" if r["lots_stale"] else ""),
        f"vehicles {r['vehicles_inserted']:,} new · {r['vehicles_updated']:,} changed",
    ]
    if c["ran"]:
        lines.append(
            f"completion (as of {c['as_of']}): {r['lots_pending_result']:,} → PENDING_RESULT · "
            f"{r['lots_not_sold']:,} → NOT_SOLD · {r['lots_reappeared']:,} reappeared"
        )
    else:
        lines.append(f"completion not run: {c['refused']}")
    if not r["validation"]["ok"]:
        lines.append("validation: " + "; ".join(r["validation"]["errors"]))
    s = r["seconds"]
    parts = " · ".join(f"{k} {s[k]:.2f}" for k in ("parse", "copy", "upsert", "completion", "raw_store") if k in s)
    lines.append(f"{s['total']:.2f} s ({parts})" + (f" · raw {r['raw_key']}" if r.get("raw_key") else ""))
    return "\n".join(lines)


def cmd_ingest(args: argparse.Namespace) -> int:
    from vinops.window import WindowOptions, ingest_file

    try:
        grace = parse_duration(args.grace) if args.grace else None
    except ValueError as e:
        raise UsageError(f"--grace: {e}") from None
    window_at = None
    if args.window_at:
        try:
            window_at = datetime.fromisoformat(args.window_at.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--window-at: not an ISO 8601 time: {args.window_at!r}") from None
        if window_at.tzinfo is None:
            raise UsageError("--window-at needs a UTC offset (e.g. 2026-01-28T09:15:00Z)")
    options = WindowOptions(
        completion=not args.no_completion,
        force_completion=args.force_completion,
        grace=grace,
        window_at=window_at,
        engine=args.engine,
    )
    path = Path(args.path)
    bar = _Bar(_count_lines(path)) if not args.json and sys.stderr.isatty() else None
    result = ingest_file(path, args.settings, options, database_url=args.database.url, progress=bar)
    if args.json:
        print_json(result.to_dict())
    else:
        print(_human_window(result.to_dict()))
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops ingest``."""
    p = subparsers.add_parser("ingest", help="load one sales-data file into the database (one window)")
    p.add_argument("path", help="the CSV file")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--no-completion", action="store_true", help="load only; do not mark vanished or relisted lots")
    p.add_argument(
        "--force-completion",
        action="store_true",
        help="run completion even if the file is much shorter than the previous one (never for an invalid file)",
    )
    p.add_argument("--grace", help="time after an auction before an absent lot is PENDING_RESULT (default 2h)")
    p.add_argument("--window-at", help="the instant the file describes, ISO 8601 with offset (default: from the data)")
    p.add_argument("--engine", choices=["rust", "python"], default="rust", help="parser (default: rust)")
    database_option(p)
    p.set_defaults(func=cmd_ingest, database=MIGRATED, input_paths=("path",))
