"""Drill 5, out of order: five successive windows (daygen: a fifth of the lots change in each, some leave after
their auction, new lots and relists arrive) loaded in shuffled orders, each order into a fresh database. After
each order, for every lot the row with the newest Last Updated Time across the five files must have won (the
expectation is computed from the files), every order must end with the same lots (values and status), and
``lot_events`` must tell one consistent story per lot: value changes in increasing Last Updated Time, each
change starting from the values the previous one left, the last one ending at the lot's values; status
transitions chained from ACTIVE to the lot's status."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from daygen import Day, Window, _fields

from vinops.config import Settings
from vinops.window import WindowOptions, ingest_file

pytestmark = pytest.mark.timeout(1800)

#: Columns that record when or by which load a row was written: they depend on the order by design.
BOOKKEEPING = ("created_at", "updated_at", "load_id", "source_window_at", "status_changed_at", "row_hash")


def _expected(day: Day, windows: list[Window]) -> dict[int, tuple[datetime, int | None]]:
    """Per lot: the Last Updated Time and high bid (cents) of its newest row across all files."""
    best: dict[int, tuple[datetime, int | None]] = {}
    for w in windows:
        for line in w.path.read_bytes().rstrip(b"\n").split(b"\n")[1:]:
            f = _fields(line)
            lot = int(f[day.i_lot])
            lu = datetime.fromisoformat(f[day.i_lu].decode().replace("Z", "+00:00"))
            bid = round(float(f[day.i_bid]) * 100) if f[day.i_bid] else 0
            if lot not in best or lu > best[lot][0]:
                best[lot] = (lu, bid or None)
    return best


def _ts(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _story_errors(conn: psycopg.Connection) -> list[str]:
    """Lots whose lot_events do not chain into their current row (see the module doc)."""
    lots = {r[0]: r for r in conn.execute("SELECT lot_number, to_jsonb(l), status FROM lots l")}
    errors: list[str] = []
    last: dict[int, dict[str, Any]] = {}
    last_lu: dict[int, datetime] = {}
    status: dict[int, str] = {}
    for lot, kind, reason, old, new in conn.execute(
        "SELECT lot_number, kind, reason, old, new FROM lot_events ORDER BY id"
    ):
        if kind == "changed":
            seen = last.setdefault(lot, {})
            for col, value in old.items():
                if col != "source_updated_at" and col in seen and seen[col] != value:
                    errors.append(f"lot {lot}: a change of {col} starts from {value!r}, the previous left {seen[col]!r}")
            old_lu, new_lu = _ts(old.get("source_updated_at")), _ts(new.get("source_updated_at"))
            if new_lu is None or (old_lu is not None and new_lu <= old_lu) or (lot in last_lu and new_lu <= last_lu[lot]):
                errors.append(f"lot {lot}: a change to Last Updated Time {new_lu} after {last_lu.get(lot)} (from {old_lu})")
            if new_lu is not None:
                last_lu[lot] = new_lu
            seen.update({k: v for k, v in new.items() if k != "source_updated_at"})
        else:
            was = status.get(lot, "ACTIVE")
            if old.get("status") != was:
                errors.append(f"lot {lot}: a {reason} transition from {old.get('status')}, the lot was {was}")
            status[lot] = new["status"]
    for lot, values in last.items():
        row = lots[lot][1]
        for col, value in values.items():
            if json.dumps(row.get(col), sort_keys=True) != json.dumps(value, sort_keys=True) and \
                    _ts_equal(row.get(col), value) is False:  # fmt: skip
                errors.append(f"lot {lot}: {col} is {row.get(col)!r}, its last change set {value!r}")
    for lot, (_, _, st) in lots.items():
        if status.get(lot, "ACTIVE") != st:
            errors.append(f"lot {lot}: status {st}, its last transition left {status.get(lot, 'ACTIVE')}")
    conn.rollback()
    return errors


def _ts_equal(a: Any, b: Any) -> bool:
    """Timestamps written by to_jsonb in two forms (row and event) compared as instants; else False."""
    try:
        return _ts(a) == _ts(b)
    except ValueError:
        return False


def _final_lots(conn: psycopg.Connection) -> dict[int, dict[str, Any]]:
    cols = ", ".join(f"'{c}'" for c in BOOKKEEPING)
    rows = conn.execute(f"SELECT lot_number, to_jsonb(l) - ARRAY[{cols}] FROM lots l").fetchall()  # noqa: S608
    conn.rollback()
    return dict(rows)


def _diff(a: dict[int, Any], b: dict[int, Any], lots: list[int]) -> dict[int, Any]:
    return {lot: {k: (a.get(lot, {}).get(k), b.get(lot, {}).get(k)) for k in (a.get(lot, {}).keys() | b.get(lot, {}).keys())
                  if a.get(lot, {}).get(k) != b.get(lot, {}).get(k)} for lot in lots}


def test_out_of_order(drill: Any, new_db: Callable[[], str], settings: Settings, tmp_path: Path) -> None:
    rows = drill.runs(1500, 10_000)
    orders = drill.runs(3, 10)
    day = Day(tmp_path, rows, seed=505, change=0.2, vanish=0.02, arrive=0.02, relist=0.3, windows=5)
    windows = [day.first()] + [day.next() for _ in range(4)]
    expected = _expected(day, windows)
    rng = random.Random(55)
    permutations = [list(range(5))]  # in order first: the reference the shuffled orders are compared with
    while len(permutations) < orders:
        p = rng.sample(range(5), 5)
        if p not in permutations:
            permutations.append(p)

    failures, rows_lost, reference, details = 0, 0, None, []
    events = []
    for order in permutations:
        url = new_db()
        for i in order:
            ingest_file(windows[i].path, settings, WindowOptions(store_raw=False), database_url=url)
        with psycopg.connect(url) as conn:
            got = dict(
                (lot, (lu, bid)) for lot, lu, bid in conn.execute("SELECT lot_number, source_updated_at, high_bid_cents FROM lots")
            )
            conn.rollback()
            lost = sum(1 for lot in expected if lot not in got)
            wrong = [lot for lot, want in expected.items() if lot in got and got[lot] != want]
            story = _story_errors(conn)
            final = _final_lots(conn)
            events.append(conn.execute("SELECT count(*) FROM lot_events").fetchone()[0])  # type: ignore[index]
        if reference is None:
            reference = final
        differs = sorted(lot for lot in final.keys() | reference.keys() if final.get(lot) != reference.get(lot))
        if lost or wrong or story or differs or len(got) != len(expected):
            failures += 1
            details.append(f"order {order}: {lost} lost, {len(wrong)} wrong (e.g. {wrong[:3]}), "
                           f"{len(differs)} differ from the in-order load (e.g. {_diff(final, reference, differs[:2])}), story: {story[:3]}")  # fmt: skip
        rows_lost += lost

    drill.record(runs=len(permutations), failures=failures, rows_lost=rows_lost, windows=5, lots=len(expected),
                 changed_per_window=len(windows[1].changed), events_per_order=f"{min(events)}–{max(events)}")  # fmt: skip
    assert failures == 0 and rows_lost == 0, "\n".join(details)
