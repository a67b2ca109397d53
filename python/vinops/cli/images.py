"""``vinops images [--lots N] [--json]``: the photos of N lots that need them (:func:`vinops.images.lots_needing_photos`,
newest auction first) fetched into the photo store of the settings, at the local rate limit (a
:class:`~vinops.images.TokenBucket` of ``VINOPS_PHOTOS_RATE``/``VINOPS_PHOTOS_BURST``; the flows use Prefect's
global limit instead). Prints the :class:`~vinops.images.PhotoStats`."""

from __future__ import annotations

import argparse
from typing import Any

from vinops.cli.common import MIGRATED, database_option, print_json
from vinops.cli.errors import UsageError

__all__ = ["add_arguments", "cmd_images"]


def _human(s: dict[str, Any]) -> str:
    lines = [
        f"lots     {s['lots_done']:,} done · {s['lots_without_photos']:,} without photos · {s['lots_failed']:,} failed",
        f"photos   {s['photos_stored']:,} stored · {s['photos_reused']:,} already in the store · "
        f"{s['photos_skipped']:,} already recorded",
        f"{s['bytes']:,} bytes · {s['requests']:,} requests · {s['seconds']:.2f} s",
    ]
    for f in s["failures"][:20]:
        lines.append(f"failed   lot {f['lot_number']}: {f['reason']}")
    if len(s["failures"]) > 20:
        lines.append(f"failed   … and {len(s['failures']) - 20} more (SELECT * FROM photo_failures)")
    return "\n".join(lines)


def cmd_images(args: argparse.Namespace) -> int:
    from vinops import db
    from vinops.images import TokenBucket, fetch_photos, lots_needing_photos, photo_store_from

    if args.lots < 0:
        raise UsageError("--lots must be >= 0")
    settings = args.settings
    try:
        store = photo_store_from(settings)
    except ValueError as e:
        raise UsageError(f"invalid setting: {e}") from None
    limiter = TokenBucket(settings.photos_rate, settings.photos_burst)
    with db.connect(args.database.url) as conn:
        lots = lots_needing_photos(conn, limit=args.lots, retry_after=settings.photos_retry_after)
        conn.commit()
        stats = fetch_photos(conn, lots, store, limiter=limiter, settings=settings, concurrency=args.concurrency)
    if args.json:
        print_json(stats.to_dict())
    else:
        print(_human(stats.to_dict()))
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops images``."""
    p = subparsers.add_parser("images", help="fetch the photos of lots that have none (newest auction first)")
    p.add_argument("--lots", type=int, default=100, metavar="N", help="at most this many lots (default 100)")
    p.add_argument("--concurrency", type=int, default=4, metavar="K", help="lots fetched at once (default 4)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    database_option(p)
    p.set_defaults(func=cmd_images, database=MIGRATED)
