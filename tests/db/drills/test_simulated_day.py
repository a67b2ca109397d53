"""Drill 6, a simulated day: successive windows 15 minutes apart (96 in the full form, 12 in the short one) with
realistic churn (daygen: 2 % of the lots change per window, 0.5 % leave after their sale day, 0.5 % arrive, a
fifth of those relisting a lot that left), each loaded by ``vinops ingest`` in a fresh process, back to back,
into one database.

Recorded, not asserted (timings): each window's seconds (first, median, last) and the processes' peak RSS.
Asserted: after every window the staging tables are empty; the ``lots`` table grows by no more than the row
versions the windows wrote (new lots and changed lots, at the first window's bytes per row, plus slack for page
fill): no unbounded bloat; and every completion transition is explained by the files: a lot that became
PENDING_RESULT was absent from that window's file and its auction plus the grace had passed; a NOT_SOLD one was
absent and relisted under a newer lot with its VIN; a reappeared one is listed again."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import psycopg
import pytest
from daygen import Day
from drilldb import cli_env, run_cli

pytestmark = pytest.mark.timeout(3600)

GRACE_HOURS = 2


def _sizes(conn: psycopg.Connection) -> dict[str, int]:
    row = conn.execute(
        """SELECT pg_database_size(current_database()), pg_relation_size('lots'), pg_total_relation_size('lots'),
                  pg_total_relation_size('lot_events'),
                  (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'staging' AND c.relkind = 'r'),
                  (SELECT count(*) FROM staging.lots) + (SELECT count(*) FROM staging.lot_plan)
                    + (SELECT count(*) FROM staging.vehicle_plan),
                  (SELECT count(*) FROM lots)"""
    ).fetchone()
    conn.rollback()
    keys = ("database", "lots_heap", "lots_total", "lot_events_total", "staging_total", "staging_rows", "lots")
    return dict(zip(keys, row, strict=True))  # type: ignore[arg-type]


def _unexplained(conn: psycopg.Connection, load_id: int, listed: set[int]) -> list[str]:
    """The status transitions of ``load_id`` that the window's file does not explain."""
    out = []
    for lot, reason, new, auction_at, as_of, relisted_as, vin, next_vin in conn.execute(
        """SELECT e.lot_number, e.reason, e.new, l.auction_at, e.at, l.relisted_as, l.vin, r.vin
           FROM lot_events e JOIN lots l USING (lot_number) LEFT JOIN lots r ON r.lot_number = l.relisted_as
           WHERE e.load_id = %s AND e.kind = 'status'""",
        (load_id,),
    ):
        if reason == "vanished_after_auction":
            ok = lot not in listed and auction_at is not None and auction_at.timestamp() <= as_of.timestamp() - GRACE_HOURS * 3600
        elif reason == "relisted":
            ok = lot not in listed and relisted_as is not None and vin is not None and vin == next_vin
        elif reason == "reappeared":
            ok = lot in listed
        else:
            ok = False
        if not ok:
            out.append(f"load {load_id}: lot {lot} {reason} → {new}")
    conn.rollback()
    return out


def test_simulated_day(drill: Any, db_url: str, tmp_path: Path) -> None:
    n_windows = drill.runs(12, 96)
    rows = drill.runs(5_000, 150_000)
    day = Day(tmp_path, rows, seed=606, windows=n_windows)
    env = cli_env(tmp_path, VINOPS_RAW_DIR=str(tmp_path / "raw"), VINOPS_RAW_RETENTION_DAYS="0",
                  VINOPS_COMPLETION_GRACE=f"{GRACE_HOURS}h")  # fmt: skip
    seconds: list[float] = []
    rss: list[float] = []
    problems: list[str] = []
    transitions = {"pending_result": 0, "not_sold": 0, "reappeared": 0}
    written_versions = 0  # row versions of lots the windows wrote (inserts and updates)
    with psycopg.connect(db_url) as conn:
        start = _sizes(conn)
        first: dict[str, int] | None = None
        for i in range(n_windows):
            w = day.first() if i == 0 else day.next()
            out = run_cli(["ingest", str(w.path), "--json", "--database-url", db_url], env)
            if out["returncode"] != 0:
                problems.append(f"window {i}: exit {out['returncode']}: {out['stderr'][-400:]}")
                break
            r = json.loads(out["stdout"])
            w.path.unlink()
            seconds.append(r["seconds"]["total"])
            rss.append(round(out["peak_rss_kb"] / 1024, 1))
            for k in transitions:
                transitions[k] += r[f"lots_{k}"]
            if not r["completion"]["ran"]:
                problems.append(f"window {i}: completion did not run: {r['completion']['refused']}")
            written_versions += r["lots_inserted"] + r["lots_updated"] + r["lots_pending_result"] + r["lots_not_sold"] \
                + r["lots_reappeared"]  # fmt: skip
            problems += _unexplained(conn, r["load_id"], w.lots)
            size = _sizes(conn)
            if size["staging_rows"]:
                problems.append(f"window {i}: {size['staging_rows']} rows left in staging")
            if first is None:
                first = size
        end = _sizes(conn)
        # Rows lost: lots of the last file missing from the table, or not holding their newest row.
        got = {lot: (lu, bid) for lot, lu, bid in conn.execute("SELECT lot_number, source_updated_at, high_bid_cents FROM lots")}
        conn.rollback()
        rows_lost = sum(1 for lot, want in day.expected().items() if got.get(lot) != want)
    assert first is not None
    # Growth of the lots heap after the first window: at most one new row version per row written, at the first
    # window's bytes per lot, plus 25 % and 1 MiB of slack (page fill, fillfactor, free space not yet reused).
    per_row = first["lots_heap"] / max(1, first["lots"])
    allowed = 1.25 * per_row * (written_versions - first["lots"]) + (1 << 20)
    grown = end["lots_heap"] - first["lots_heap"]
    if grown > allowed:
        problems.append(f"lots grew by {grown} bytes, more than the {allowed:.0f} its {written_versions} row versions explain")
    if end["staging_total"] > max(first["staging_total"], start["staging_total"]) + (1 << 20):
        problems.append(f"staging grew from {first['staging_total']} to {end['staging_total']} bytes")
    mib = 1 << 20
    drill.record(
        runs=len(seconds), failures=len(problems), rows_lost=rows_lost, lots=end["lots"],
        seconds_first=seconds[0] if seconds else None,
        seconds_median=round(statistics.median(seconds[1:]), 3) if len(seconds) > 1 else None,
        seconds_last=seconds[-1] if seconds else None,
        peak_rss_mib_first=rss[0] if rss else None,
        peak_rss_mib_median=statistics.median(rss[1:]) if len(rss) > 1 else None,
        peak_rss_mib_last=rss[-1] if rss else None,
        db_mib=f"{start['database'] / mib:.1f} → {end['database'] / mib:.1f}",
        lots_heap_mib=f"{first['lots_heap'] / mib:.1f} → {end['lots_heap'] / mib:.1f}",
        lot_events_mib=f"{first['lot_events_total'] / mib:.1f} → {end['lot_events_total'] / mib:.1f}",
        transitions=transitions,
    )  # fmt: skip
    assert not problems and rows_lost == 0, "\n".join(problems[:30])
    assert transitions["pending_result"] > 0 and transitions["not_sold"] > 0, transitions
