"""Windows against a real PostgreSQL: counts, history, order independence, completion, atomicity, locking."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from lotrows import HOUR, T0, events, load, lot, lots, snapshot, source, table

from vinops.config import Settings
from vinops.errors import IngestError

pytestmark = pytest.mark.db

VIN_X = "1HGCM82633A004352"


def run(conn: psycopg.Connection, src: Any, settings: Settings, **kw: Any) -> dict[str, Any]:
    return load(conn, src, settings, **kw)


def window1() -> list[dict[str, Any]]:
    return [
        lot(1),  # stays, unchanged
        lot(2),  # changes in window 2
        lot(3, auction_at=T0 - 3 * HOUR),  # gone in window 2, auction + grace passed by then
        lot(4, auction_at=T0),  # gone in window 2, but auction + grace (T0 + 2 h) not yet passed
        lot(5, vin=None, vin_valid_iso=None, vin_check_digit_ok=None, vin_short_or_legacy=None, vin_model_year=None),
        lot(6, auction_at=None),  # gone in window 2, never scheduled
        lot(9, vin=VIN_X),  # relisted in window 2 as lot 10
    ]


def window2() -> list[dict[str, Any]]:
    return [
        lot(1),
        lot(2, source_updated_at=T0 + HOUR, high_bid_cents=75_000, odometer=123_460.0),
        lot(5, vin=None, vin_valid_iso=None, vin_check_digit_ok=None, vin_short_or_legacy=None, vin_model_year=None),
        lot(7, source_updated_at=T0 + HOUR),
        lot(8, source_updated_at=T0 + HOUR),
        lot(10, vin=VIN_X, source_updated_at=T0 + HOUR),
    ]


def test_window1_then_window2_counts_and_history(conn: psycopg.Connection, settings: Settings) -> None:
    r1 = run(conn, source(window1()), settings)
    assert r1["skipped"] is False
    assert (r1["rows_in"], r1["rows_loaded"], r1["rows_quarantined"]) == (7, 7, 0)
    assert (r1["lots_inserted"], r1["lots_updated"], r1["lots_unchanged"]) == (7, 0, 0)
    assert (r1["vehicles_inserted"], r1["vehicles_updated"]) == (6, 0)  # lot 5 has no VIN
    assert (r1["lots_pending_result"], r1["lots_not_sold"]) == (0, 0)
    assert r1["window_at"] == T0.isoformat() and r1["window_at_source"] == "data"
    assert r1["completion"]["ran"] is True
    assert events(conn) == []

    r2 = run(conn, source(window2()), settings)
    assert (r2["rows_in"], r2["rows_loaded"], r2["rows_quarantined"]) == (6, 6, 0)
    assert (r2["lots_inserted"], r2["lots_updated"], r2["lots_unchanged"]) == (3, 1, 2)
    assert (r2["vehicles_inserted"], r2["vehicles_updated"]) == (2, 0)
    assert (r2["lots_pending_result"], r2["lots_not_sold"], r2["lots_reappeared"]) == (1, 1, 0)
    assert r2["completion"]["as_of"] == (T0 + HOUR).isoformat()

    state = lots(conn)
    assert {n: s["status"] for n, s in state.items()} == {
        1: "ACTIVE", 2: "ACTIVE", 3: "PENDING_RESULT", 4: "ACTIVE", 5: "ACTIVE", 6: "ACTIVE",
        7: "ACTIVE", 8: "ACTIVE", 9: "NOT_SOLD", 10: "ACTIVE",
    }  # fmt: skip
    assert state[2]["high_bid_cents"] == 75_000 and state[2]["source_updated_at"] == T0 + HOUR
    assert state[2]["first_seen_at"] == T0
    assert state[9]["relisted_as"] == 10 and state[9]["status_reason"] == "relisted"
    assert state[3]["status_reason"] == "vanished_after_auction" and state[3]["status_changed_at"] == T0 + HOUR
    assert state[5]["vin"] is None  # a lot without a VIN is kept
    assert state[1]["retail_value_usd"] == 12500

    ev = events(conn)
    assert len(ev) == 3, ev
    changed = [e for e in ev if e["kind"] == "changed"]
    assert changed == [
        {
            "lot_number": 2,
            "load_id": r2["load_id"],
            "at": T0 + HOUR,
            "kind": "changed",
            "reason": None,
            "old": {"source_updated_at": "2025-06-02T12:00:00+00:00", "odometer": 123456.0, "high_bid_cents": 50000},
            "new": {"source_updated_at": "2025-06-02T13:00:00+00:00", "odometer": 123460.0, "high_bid_cents": 75000},
        }
    ]
    status = sorted((e["lot_number"], e["reason"], e["old"], e["new"]["status"]) for e in ev if e["kind"] == "status")
    assert status == [
        (3, "vanished_after_auction", {"status": "ACTIVE"}, "PENDING_RESULT"),
        (9, "relisted", {"status": "ACTIVE"}, "NOT_SOLD"),
    ]
    # The vehicle of the relisted VIN now describes its newest listing.
    vx = table(conn, "vehicles", "vin", drop=set())
    assert [v["source_lot_number"] for v in vx if v["vin"] == VIN_X] == [10]


def test_loading_window2_before_window1_gives_the_same_tables(new_db: Any, settings: Settings) -> None:
    in_order, reversed_ = new_db(), new_db()
    with psycopg.connect(in_order) as a:
        run(a, source(window1()), settings)
        run(a, source(window2()), settings)
        expected_lots, expected_vehicles = lots(a), table(a, "vehicles", "vin")
    with psycopg.connect(reversed_) as b:
        r2 = run(b, source(window2()), settings)
        r1 = run(b, source(window1()), settings)
        assert r1["lots_stale"] == 1  # lot 2's older row was not applied
        assert r1["completion"]["reference_load_id"] == r2["load_id"]  # judged against the newest window
        got_lots, got_vehicles = lots(b), table(b, "vehicles", "vin")
    assert got_lots == expected_lots
    assert got_vehicles == expected_vehicles


def test_same_source_twice_is_skipped_and_changes_nothing(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source(window1()), settings)
    before = snapshot(conn)
    again = run(conn, source(window1()), settings)
    assert again["skipped"] is True and again["rows_in"] == again["rows_loaded"] + again["rows_quarantined"]
    assert snapshot(conn) == before


def test_identical_rows_in_a_new_file_write_nothing(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source(window1()), settings)
    before = table(conn, "lots", "lot_number", drop=set())
    r = run(conn, source(window1(), tag="another download"), settings)
    assert (r["lots_inserted"], r["lots_updated"], r["lots_unchanged"]) == (0, 0, 7)
    assert table(conn, "lots", "lot_number", drop=set()) == before  # not even updated_at moved
    assert events(conn) == []


def test_lot_gone_before_auction_plus_grace_stays_until_grace_passes(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source([lot(1), lot(2, auction_at=T0 + HOUR)]), settings)
    # One hour after its auction (grace 2 h): lot 2 is gone but stays as it was.
    r = run(conn, source([lot(1, source_updated_at=T0 + 2 * HOUR)]), settings, force_completion=True)
    assert r["completion"]["ran"] and r["lots_pending_result"] == 0
    assert lots(conn)[2]["status"] == "ACTIVE" and lots(conn)[2]["status_changed_at"] is None
    # Three hours after: now it is PENDING_RESULT, once.
    r = run(conn, source([lot(1, source_updated_at=T0 + 4 * HOUR)]), settings, force_completion=True)
    assert r["lots_pending_result"] == 1 and lots(conn)[2]["status"] == "PENDING_RESULT"
    r = run(conn, source([lot(1, source_updated_at=T0 + 5 * HOUR)]), settings, force_completion=True)
    assert r["lots_pending_result"] == 0
    assert [e["lot_number"] for e in events(conn) if e["kind"] == "status"] == [2]


def test_grace_is_configurable(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source([lot(1), lot(2, auction_at=T0 - 30 * 60 * timedelta(seconds=1))]), settings)
    r = run(conn, source([lot(1, source_updated_at=T0 + HOUR)]), settings, force_completion=True, grace=timedelta(minutes=15))
    assert r["lots_pending_result"] == 1 and r["completion"]["grace_seconds"] == 900


def test_short_file_does_not_run_completion(conn: psycopg.Connection, settings: Settings) -> None:
    past = T0 - 5 * HOUR
    full = [lot(n, auction_at=past if n > 7 else T0 + 48 * HOUR) for n in range(1, 11)]
    run(conn, source(full), settings)
    short = [lot(n, source_updated_at=T0 + HOUR) for n in range(1, 8)]  # 70 % of the rows
    before = lots(conn)
    r = run(conn, source(short), settings)
    assert r["completion"]["ran"] is False
    assert "80%" in r["completion"]["refused"] and "10" in r["completion"]["refused"]
    assert (r["lots_pending_result"], r["lots_not_sold"]) == (0, 0)
    assert {n: s["status"] for n, s in lots(conn).items()} == {n: s["status"] for n, s in before.items()}
    # The short file is no baseline: a file as short again is still refused…
    r = run(conn, source(short[:6] + [lot(7, source_updated_at=T0 + 2 * HOUR)]), settings)
    assert r["completion"]["ran"] is False
    # …and a full-size file runs completion (lots 8-10 vanished after their auction).
    r = run(conn, source(full[:7] + [lot(11), lot(12), lot(13)], tag="full again"), settings)
    assert r["completion"]["ran"] is True and r["lots_pending_result"] == 3


def test_file_failing_validation_does_not_run_completion(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source([lot(n) for n in range(1, 11)]), settings)
    bad = [{"row": 11, "line": 12, "reason": "field_count", "detail": "expected 59 fields, found 9", "raw": b'"x","y"'}]
    r = run(conn, source([lot(n, source_updated_at=T0 + HOUR) for n in range(1, 11)], quarantine=bad), settings)
    assert r["validation"]["ok"] is False and "quarantined" in r["validation"]["errors"][0]
    assert r["completion"]["ran"] is False and "failed validation" in r["completion"]["refused"]
    row = conn.execute("SELECT valid, completion_eligible FROM raw.csv_files WHERE load_id = %s", (r["load_id"],)).fetchone()
    assert row == (False, False)


def test_no_completion_flag(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source([lot(1), lot(2, auction_at=T0 - 5 * HOUR)]), settings)
    r = run(conn, source([lot(1, source_updated_at=T0 + HOUR), lot(3)]), settings, completion=False)
    assert r["completion"]["ran"] is False and "disabled" in r["completion"]["refused"]
    assert lots(conn)[2]["status"] == "ACTIVE"


def test_relisted_vin_marks_the_earlier_lot_not_sold(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source([lot(1), lot(20, vin=VIN_X, auction_at=T0 + 72 * HOUR)]), settings)
    r = run(conn, source([lot(1), lot(21, vin=VIN_X, source_updated_at=T0 + HOUR)]), settings)
    assert r["lots_not_sold"] == 1 and r["lots_pending_result"] == 0
    state = lots(conn)
    assert (state[20]["status"], state[20]["relisted_as"], state[21]["status"]) == ("NOT_SOLD", 21, "ACTIVE")
    ev = [e for e in events(conn) if e["kind"] == "status"]
    assert [(e["lot_number"], e["new"]) for e in ev] == [(20, {"status": "NOT_SOLD", "relisted_as": 21})]
    # Both listed at once (the feed does that): nobody is NOT_SOLD until the older one is gone.
    later = {"source_updated_at": T0 + 2 * HOUR}
    y = "JH4KA7561PC008269"
    run(conn, source([lot(1, **later), lot(21, vin=VIN_X, **later), lot(30, vin=y, **later), lot(31, vin=y, **later)]), settings)
    assert lots(conn)[30]["status"] == "ACTIVE" and lots(conn)[30]["relisted_as"] == 31
    assert lots(conn)[20]["status"] == "NOT_SOLD"


def test_late_file_that_moves_a_first_listing_earlier_relinks_the_stored_vin(
    conn: psycopg.Connection, settings: Settings
) -> None:
    run(conn, source([lot(1, vin=VIN_X), lot(2, vin=VIN_X)]), settings, window_at=T0 + HOUR)
    assert (lots(conn)[1]["relisted_as"], lots(conn)[2]["relisted_as"]) == (2, None)
    # An older file arrives late: lot 2 was listed at T0 already, in an older row with another VIN. The row
    # is stale (lot 2 keeps VIN_X), but lot 2 now comes first among the lots of VIN_X.
    run(conn, source([lot(2, vin="JH4KA7561PC008269", source_updated_at=T0 - HOUR)]), settings, window_at=T0)
    state = lots(conn)
    assert (state[2]["vin"], state[2]["first_seen_at"]) == (VIN_X, T0)
    assert (state[2]["relisted_as"], state[1]["relisted_as"]) == (1, None)


def test_lot_whose_vin_changes_is_relinked_under_both_vins(conn: psycopg.Connection, settings: Settings) -> None:
    y = "JH4KA7561PC008269"
    run(conn, source([lot(1, vin=VIN_X), lot(2, vin=VIN_X), lot(3, vin=y)]), settings, window_at=T0 + HOUR)
    assert [lots(conn)[n]["relisted_as"] for n in (1, 2, 3)] == [2, None, None]
    later = {"source_updated_at": T0 + 2 * HOUR}
    r = run(conn, source([lot(1, vin=VIN_X, **later), lot(2, vin=y, **later), lot(3, vin=y, **later)]), settings)
    assert r["lots_updated"] == 1
    assert [lots(conn)[n]["relisted_as"] for n in (1, 2, 3)] == [None, 3, None]


def test_lot_that_reappears_is_active_again(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source([lot(1), lot(2, auction_at=T0 - 5 * HOUR)]), settings)
    run(conn, source([lot(1, source_updated_at=T0 + HOUR)]), settings, force_completion=True)
    assert lots(conn)[2]["status"] == "PENDING_RESULT"
    r = run(conn, source([lot(1, source_updated_at=T0 + HOUR), lot(2, auction_at=T0 - 5 * HOUR)], tag="back"), settings)
    assert r["lots_reappeared"] == 1 and r["lots_pending_result"] == 0
    assert (lots(conn)[2]["status"], lots(conn)[2]["status_reason"]) == ("ACTIVE", "reappeared")


def test_an_older_row_never_overwrites_a_newer_one(conn: psycopg.Connection, settings: Settings) -> None:
    run(conn, source([lot(1, source_updated_at=T0 + 2 * HOUR, high_bid_cents=90_000)]), settings)
    r = run(conn, source([lot(1, source_updated_at=T0, high_bid_cents=10_000)]), settings)
    assert (r["lots_updated"], r["lots_stale"], r["lots_unchanged"]) == (0, 1, 1)
    state = lots(conn)[1]
    assert state["high_bid_cents"] == 90_000 and state["source_updated_at"] == T0 + 2 * HOUR
    assert state["first_seen_at"] == T0  # …but it was listed earlier than we knew


def test_equal_source_times_newer_window_wins_in_any_order(new_db: Any, settings: Settings) -> None:
    a = source([lot(1, high_bid_cents=1_000)])
    b = source([lot(1, high_bid_cents=2_000)])
    results = []
    for first, second, w1, w2 in [(a, b, T0, T0 + HOUR), (b, a, T0 + HOUR, T0)]:
        with psycopg.connect(new_db()) as c:
            run(c, first, settings, window_at=w1)
            run(c, second, settings, window_at=w2)
            results.append(lots(c)[1]["high_bid_cents"])
    assert results == [2_000, 2_000]


def test_duplicate_lot_in_one_file_latest_copy_wins(conn: psycopg.Connection, settings: Settings) -> None:
    rows = [lot(1, high_bid_cents=1), lot(1, high_bid_cents=2, source_updated_at=T0 + HOUR), lot(2)]
    r = run(conn, source(rows), settings)
    assert (r["rows_in"], r["rows_loaded"], r["rows_duplicate"], r["lots_inserted"]) == (3, 3, 1, 2)
    assert lots(conn)[1]["high_bid_cents"] == 2


def test_row_refused_by_a_constraint_is_quarantined_not_fatal(conn: psycopg.Connection, settings: Settings) -> None:
    r = run(conn, source([lot(1), lot(2, year=1066), lot(3)]), settings)
    assert (r["rows_in"], r["rows_loaded"], r["rows_quarantined"], r["rows_refused"]) == (3, 2, 1, 1)
    assert sorted(lots(conn)) == [1, 3]
    q = table(conn, "raw.quarantine", "row_no", drop=set())
    assert [(x["row_no"], x["reason"], x["detail"], x["lot_number"], x["raw"]) for x in q] == [
        (2, "constraint", "lots_year_range, vehicles_year_range", 2, None)
    ]
    assert q[0]["data"]["year"] == 1066 and q[0]["data"]["lot_number"] == 2


def test_quarantine_and_unknown_values(conn: psycopg.Connection, settings: Settings) -> None:
    header = ["Id", "Yard number", "Lot number", "Make"]
    raw = b'"7","56","4242","FORD","extra"'
    quarantine = [{"row": 3, "line": 4, "reason": "field_count", "detail": "expected 4 fields, found 5", "raw": raw}]
    unknown = {"color": {"PUCE": 3, "TEAL": 1}, "damage": {"ALIENS": 2}}
    r = run(
        conn,
        source([lot(n) for n in range(1, 200)], quarantine=quarantine, unknown=unknown, header=header),
        settings,
    )
    assert (r["rows_in"], r["rows_loaded"], r["rows_quarantined"]) == (200, 199, 1)
    assert r["unknown_rate"] == pytest.approx(6 / (20 * 199))
    q = table(conn, "raw.quarantine", "row_no", drop=set())
    assert [(x["row_no"], x["line_no"], x["reason"], bytes(x["raw"]), x["lot_number"]) for x in q] == [
        (3, 4, "field_count", raw, 4242)
    ]
    assert conn.execute("SELECT lot_number FROM staging.presence WHERE lot_number = 4242").fetchone() == (4242,)
    conn.rollback()
    r2 = run(conn, source([lot(n, source_updated_at=T0 + HOUR) for n in range(1, 200)], unknown={"color": {"PUCE": 5}}), settings)
    uv = {(u["domain"], u["value"]): u for u in table(conn, "audit.unknown_values", "domain, value", drop=set())}
    assert len(uv) == 3
    puce = uv[("color", "PUCE")]
    assert (puce["count"], puce["first_seen_at"], puce["last_seen_at"]) == (8, T0, T0 + HOUR)
    assert (puce["first_load_id"], puce["last_load_id"]) == (r["load_id"], r2["load_id"])
    assert uv[("damage", "ALIENS")]["count"] == 2


def test_concurrent_windows_wait_for_each_other(db_url: str, settings: Settings) -> None:
    inside, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def hold(stage: str, conn: psycopg.Connection) -> None:
        if stage == "plan":
            inside.set()
            assert release.wait(60)

    def first() -> None:
        with psycopg.connect(db_url) as c:
            results["a"] = run(c, source([lot(n) for n in range(1, 11)]), settings, before_stage=hold)

    def second() -> None:
        with psycopg.connect(db_url) as c:
            results["b"] = run(c, source([lot(n, source_updated_at=T0 + HOUR) for n in range(5, 16)]), settings)

    ta = threading.Thread(target=first)
    ta.start()
    assert inside.wait(30)
    tb = threading.Thread(target=second)
    tb.start()
    with psycopg.connect(db_url, autocommit=True) as watcher:
        for _ in range(200):
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            ).fetchone()[0]  # type: ignore[index]
            if waiting:
                break
            time.sleep(0.05)
    assert waiting == 1 and "b" not in results  # the second window waits on the advisory lock
    time.sleep(0.3)
    release.set()
    ta.join(60)
    tb.join(60)
    assert results["a"]["lots_inserted"] == 10
    assert (results["b"]["lots_inserted"], results["b"]["lots_unchanged"]) == (5, 6)
    assert results["b"]["seconds"]["lock_wait"] >= 0.3


@pytest.mark.parametrize("stage", ["copy", "plan", "completion", "commit"])
def test_failure_at_any_stage_leaves_the_previous_state(db_url: str, settings: Settings, stage: str) -> None:
    with psycopg.connect(db_url) as c:
        run(c, source(window1()), settings)
        before = snapshot(c)

    def boom(name: str, conn: psycopg.Connection) -> None:
        if name == stage:
            raise RuntimeError(f"injected at {name}")

    with psycopg.connect(db_url) as c:
        with pytest.raises(IngestError, match=f"injected at {stage}"):
            run(c, source(window2()), settings, before_stage=boom)
        assert snapshot(c) == before
        errors = c.execute("SELECT stage, error FROM audit.ingest_errors").fetchall()
        assert errors == [(stage, f"injected at {stage}")]
        c.execute("DELETE FROM audit.ingest_errors")
        c.commit()
        # A clean rerun finishes the window.
        r = run(c, source(window2()), settings)
        assert (r["lots_inserted"], r["lots_updated"], r["lots_pending_result"]) == (3, 1, 1)


def test_constraint_violated_between_copy_and_upsert_rolls_back(db_url: str, settings: Settings) -> None:
    with psycopg.connect(db_url) as c:
        run(c, source(window1()), settings)
        before = snapshot(c)

    def craft(name: str, conn: psycopg.Connection) -> None:
        if name == "plan":  # a taxonomy code that does not exist: a foreign key refuses it
            conn.execute("UPDATE staging.lots SET color_code = 32000 WHERE lot_number = 7")

    with psycopg.connect(db_url) as c:
        with pytest.raises(IngestError, match="foreign key") as err:
            run(c, source(window2()), settings, before_stage=craft)
        assert isinstance(err.value.__cause__, psycopg.errors.ForeignKeyViolation)
        assert err.value.stage == "vehicles" and err.value.retryable is False  # the data breaks a key
        c.execute("DELETE FROM audit.ingest_errors")
        c.commit()
        assert snapshot(c) == before
        r = run(c, source(window2()), settings)
        assert r["lots_inserted"] == 3


def test_connection_lost_between_copy_and_upsert_rolls_back(db_url: str, settings: Settings) -> None:
    with psycopg.connect(db_url) as c:
        run(c, source(window1()), settings)
        before = snapshot(c)

    def cut(name: str, conn: psycopg.Connection) -> None:
        if name == "plan":  # the server ends the session, as a failover or a restart would
            with psycopg.connect(db_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    c = psycopg.connect(db_url)
    with pytest.raises(IngestError) as err:
        run(c, source(window2()), settings, before_stage=cut)
    assert err.value.retryable is True, err.value  # a lost connection: the flow may run the window again
    assert c.closed
    with psycopg.connect(db_url) as c2:
        assert snapshot(c2) == before
        r = run(c2, source(window2()), settings)
        assert (r["lots_inserted"], r["lots_updated"], r["lots_not_sold"]) == (3, 1, 1)


def test_bulk_load_path_keeps_foreign_keys(conn: psycopg.Connection, settings: Settings, monkeypatch: Any) -> None:
    from vinops.window import bulk

    monkeypatch.setattr(bulk, "BULK_FK_MIN_ROWS", 5)
    fks = conn.execute(
        "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' AND conrelid = 'lots'::regclass ORDER BY 1"
    ).fetchall()
    conn.rollback()
    r = run(conn, source(window1()), settings)
    assert r["bulk_foreign_keys"] is True and r["lots_inserted"] == 7
    after = conn.execute(
        "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' AND conrelid = 'lots'::regclass ORDER BY 1"
    ).fetchall()
    conn.rollback()
    assert after == fks and len(fks) >= 17

    def craft(name: str, c: psycopg.Connection) -> None:
        if name == "plan":
            c.execute("UPDATE staging.lots SET fuel_code = 32000 WHERE lot_number = 7")

    with pytest.raises(IngestError, match="foreign key"):
        run(conn, source([lot(n) for n in range(7, 20)]), settings, before_stage=craft)
