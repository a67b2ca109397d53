"""Unchanged rows are not staged: the record hash, the client-side skip and the confirmation of candidates.

A row whose (lot_number, record_hash) its ACTIVE lot already stores is left out of staging.lots; the
window's result must be exactly the one of staging every row (``skip_unchanged=False``)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from lotrows import HOUR, T0, events, ingest, load, lot, lots, record_hash, source, table

from vinops.config import Settings
from vinops.sample import write_sample

pytestmark = pytest.mark.db

VIN_X = "1HGCM82633A004352"

#: Summary entries that are the same whether rows are skipped or not.
_COUNTS = (
    "rows_in", "rows_loaded", "rows_quarantined", "rows_refused", "rows_duplicate", "vehicles_inserted",
    "vehicles_updated", "lots_inserted", "lots_updated", "lots_unchanged", "lots_stale", "lots_pending_result",
    "lots_not_sold", "lots_reappeared", "window_at",
)


def _windows() -> list[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """(rows, window options) of a history that exercises every case the skip must get right."""
    w1 = [
        lot(1),
        lot(2),
        lot(3),
        lot(4),
        lot(5),
        lot(6),
        lot(7, vin=VIN_X),
        lot(8, vin=VIN_X),
        lot(9, auction_at=T0 - 3 * HOUR),
    ]
    later = {"source_updated_at": T0 + HOUR}
    w2 = [
        lot(1),  # unchanged: skipped
        lot(2, high_bid_cents=75_000, **later),  # changed
        lot(3),  # listed twice: this unchanged copy (skipped) …
        lot(3, high_bid_cents=1_000),  # … loses to this later copy with the same time: an update
        lot(4, high_bid_cents=2_000),  # listed twice: this changed copy …
        lot(4),  # … loses to this later unchanged copy (skipped): lot 4 stays as it is
        lot(5),  # listed twice: this unchanged copy (skipped) wins by its newer time …
        lot(5, high_bid_cents=3_000, source_updated_at=T0 - HOUR),  # … over this older one (not stale)
        lot(6, odometer=99.0, **later),  # changed
        lot(7, vin=VIN_X),  # unchanged: skipped
        lot(8, vin=VIN_X),  # unchanged: skipped
        # lot 9 is gone: auction + grace passed → PENDING_RESULT
    ]
    # A late file: lot 8 identical (skipped), first listed two hours before anyone knew: its first_seen_at
    # moves and VIN_X's lots are relinked (8 now comes before 7).
    # And a row a constraint refuses (never in lots, never skipped).
    w3 = [lot(8, vin=VIN_X), lot(20, year=1066)]
    # Everything as stored (skipped), and lot 9 again: it is PENDING_RESULT, so not skipped, and reappears.
    w4 = [
        lot(1),
        lot(2, high_bid_cents=75_000, **later),
        lot(3, high_bid_cents=1_000),
        lot(4),
        lot(5),
        lot(6, odometer=99.0, **later),
        lot(7, vin=VIN_X),
        lot(8, vin=VIN_X),
        lot(9, auction_at=T0 - 3 * HOUR),
    ]
    return [(w1, {}), (w2, {}), (w3, {"window_at": T0 - 2 * HOUR}), (w4, {"window_at": T0 + 2 * HOUR, "force_completion": True})]


def _history(url: str, settings: Settings, skip: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    results = []
    with psycopg.connect(url) as c:
        for i, (rows, kw) in enumerate(_windows()):
            results.append(load(c, source(rows, tag=f"w{i}"), settings, skip_unchanged=skip, **kw))
        tables = {
            "lots": table(c, "lots", "lot_number"),
            "vehicles": table(c, "vehicles", "vin"),
            "lot_events": table(c, "lot_events", "lot_number, at, kind, old::text"),
            "quarantine": table(c, "raw.quarantine", "load_id, row_no"),
            "presence": table(c, "staging.presence", "lot_number"),
        }
    return results, tables


def test_skipping_unchanged_rows_gives_the_same_tables_and_events(new_db: Any, settings: Settings) -> None:
    skipped, with_skip = _history(new_db(), settings, skip=True)
    staged, without_skip = _history(new_db(), settings, skip=False)
    assert with_skip == without_skip
    for a, b in zip(skipped, staged):
        assert {k: a[k] for k in _COUNTS} == {k: b[k] for k in _COUNTS}
        assert a["completion"]["ran"] == b["completion"]["ran"]
    # Staging received only what could change: lots 1, 3, 4, 5, 7 and 8 of window 2 were not COPYed …
    assert [r["rows_skipped"] for r in skipped] == [0, 6, 1, 8]
    assert [r["rows_skipped"] for r in staged] == [0, 0, 0, 0]
    # … and the outcome is the intended one.
    w2 = skipped[1]
    assert (w2["lots_updated"], w2["lots_stale"], w2["rows_duplicate"], skipped[2]["rows_refused"]) == (3, 0, 3, 1)
    assert (w2["lots_pending_result"], skipped[3]["lots_reappeared"]) == (1, 1)
    state = {r["lot_number"]: r for r in with_skip["lots"]}
    assert [state[n]["high_bid_cents"] for n in (3, 4, 5)] == [1_000, 50_000, 50_000]
    assert state[8]["first_seen_at"] == T0 - 2 * HOUR and state[8]["relisted_as"] == 7
    assert state[7]["relisted_as"] is None and state[9]["status"] == "ACTIVE"
    changed = sorted(e["lot_number"] for e in with_skip["lot_events"] if e["kind"] == "changed")
    assert changed == [2, 3, 6]


def test_skipped_lots_are_present_for_completion(conn: psycopg.Connection, settings: Settings) -> None:
    load(conn, source([lot(1), lot(2, auction_at=T0 - 3 * HOUR)]), settings)
    # Lot 2's auction + grace has passed by this window's clock; it is listed (unchanged, so skipped).
    r = load(conn, source([lot(1, source_updated_at=T0 + HOUR), lot(2, auction_at=T0 - 3 * HOUR)]), settings)
    assert r["rows_skipped"] == 1 and r["completion"]["ran"] is True and r["lots_pending_result"] == 0
    assert lots(conn)[2]["status"] == "ACTIVE"
    # Absent, it would be PENDING_RESULT.
    r = load(conn, source([lot(1, source_updated_at=T0 + 2 * HOUR)]), settings, force_completion=True)
    assert r["lots_pending_result"] == 1 and lots(conn)[2]["status"] == "PENDING_RESULT"


def test_a_new_hash_of_equal_values_is_no_update(conn: psycopg.Connection, settings: Settings) -> None:
    rows = [lot(1), lot(2), lot(3)]
    load(conn, source(rows), settings)
    # The same values under other record hashes (a new header order or taxonomy changes the seed), one with a
    # newer Last Updated Time: no update, no event; the new hashes are stored.
    again = [dict(r, record_hash=record_hash(r) ^ 1) for r in rows[:2]] + [
        dict(lot(3, source_updated_at=T0 + HOUR), record_hash=7)
    ]
    r = load(conn, source(again, tag="reseeded"), settings, window_at=T0 + HOUR)
    assert (r["rows_skipped"], r["lots_updated"], r["lots_unchanged"], r["lots_stale"]) == (0, 0, 3, 0)
    assert events(conn) == []
    state = lots(conn)
    assert [state[n]["row_hash"] for n in (1, 2, 3)] == [record_hash(rows[0]) ^ 1, record_hash(rows[1]) ^ 1, 7]
    assert state[3]["source_updated_at"] == T0 + HOUR  # the key moved (a touch)
    # The next window with those records skips them all.
    r = load(conn, source(again, tag="next"), settings, window_at=T0 + 2 * HOUR)
    assert (r["rows_skipped"], r["lots_updated"], r["lots_unchanged"]) == (3, 0, 3)
    # An older record of equal values is not stale; one of other values is.
    older = [dict(lot(1, source_updated_at=T0 - HOUR), record_hash=11), lot(2, high_bid_cents=1, source_updated_at=T0 - HOUR)]
    r = load(conn, source(older, tag="older"), settings, window_at=T0)
    assert (r["lots_updated"], r["lots_stale"]) == (0, 1)
    assert events(conn) == []


def _reorder_columns(src: Path, dst: Path) -> None:
    """The same rows with the header's columns in reverse order (every field quoted, as the feed writes)."""
    text = src.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    width = len(rows[0])
    out = io.StringIO(newline="")
    w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in rows:
        if len(row) == width:
            w.writerow(row[::-1])
    dst.write_text(out.getvalue(), encoding="utf-8")


def test_a_real_file_with_its_columns_reordered_changes_nothing(db_url: str, tmp_path: Path, settings: Settings) -> None:
    first, reordered = tmp_path / "w1.csv", tmp_path / "w2.csv"
    write_sample(first, rows=300, seed=11, defect_rate=0.0)
    r1 = ingest(first, settings, database_url=db_url)
    with psycopg.connect(db_url) as c:
        before = table(c, "lots", "lot_number", drop={"updated_at", "row_hash", "source_window_at", "load_id"})
    w2_at = datetime.fromisoformat(r1["window_at"]) + timedelta(minutes=5)
    _reorder_columns(first, reordered)
    r2 = ingest(reordered, settings, database_url=db_url, window_at=w2_at)
    assert r2["rows_loaded"] == r1["rows_loaded"] > 250
    # Another header: another seed, so no row is skipped, but none changed either.
    assert (r2["rows_skipped"], r2["lots_updated"], r2["lots_inserted"]) == (0, 0, 0)
    with psycopg.connect(db_url) as c:
        assert events(c) == []
        assert table(c, "lots", "lot_number", drop={"updated_at", "row_hash", "source_window_at", "load_id"}) == before
    # The same records again (another file: one more blank line): all skipped.
    third = tmp_path / "w3.csv"
    third.write_bytes(reordered.read_bytes() + b"\n")
    r3 = ingest(third, settings, database_url=db_url, window_at=w2_at + timedelta(minutes=5))
    assert r3["rows_skipped"] == r3["rows_loaded"] == r1["rows_loaded"]
    assert (r3["lots_updated"], r3["lots_unchanged"]) == (0, r1["rows_loaded"] - r1["rows_duplicate"])


def _edited(src: Path, dst: Path, *, change_every: int, drop_every: int, repeat_line: int | None = None) -> int:
    """``src`` with byte-level edits (the other records stay byte-identical): every ``change_every``-th record
    gets a new high bid and a Last Updated Time an hour later, every ``drop_every``-th is removed, and record
    ``repeat_line`` (unchanged) is listed a second time at the end, then a broken record. Returns the number of changed records."""
    lines = src.read_bytes().split(b"\n")
    header = lines[0].decode("utf-8").lstrip("\ufeff").split('","')
    hb, lu = header.index("High Bid =non-vix,Sealed=Vix"), header.index("Last Updated Time")
    out, changed = [lines[0]], 0
    for i, line in enumerate(lines[1:], start=1):
        if not line or i % drop_every == 0:
            continue
        fields = line.split(b'","')
        if i % change_every == 0 and len(fields) == len(header):
            stamp = datetime.fromisoformat(fields[lu].decode().strip('"').replace("Z", "+00:00")) + HOUR
            fields[hb] = b"123456.0"
            fields[lu] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + (b'"' if lu == len(header) - 1 else b"")
            line = b'","'.join(fields)
            changed += 1
        out.append(line)
    if repeat_line is not None:
        out.append(lines[repeat_line])
    out.append(b'"99999999","a record with too few fields"')  # quarantined
    dst.write_bytes(b"\n".join(out) + b"\n")
    return changed


def test_the_parsers_own_skip_gives_what_staging_every_row_gives(
    new_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Rust reader leaves unchanged records out before normalizing them (``set_known``): every table and
    every summary figure but ``rows_skipped`` must be what staging every row gives, unknown taxonomy counts,
    duplicates, quarantined rows and completion included."""
    from vinops.window import load as window_load
    from vinops.window import staging

    # Small batches and no read-ahead, so most records are read after the stored hashes reach the parser.
    monkeypatch.setattr(window_load, "BATCH_ROWS", 128)
    monkeypatch.setattr(staging, "PARSE_AHEAD", 1)
    left_out: list[int] = []
    add_unchanged = staging._add_unchanged

    def spy(out: Any, stored: Any, take: Any, progress: Any) -> None:
        before = out.rows
        add_unchanged(out, stored, take, progress)
        left_out.append(out.rows - before)

    monkeypatch.setattr(staging, "_add_unchanged", spy)
    first, second, third = tmp_path / "w1.csv", tmp_path / "w2.csv", tmp_path / "w3.csv"
    write_sample(first, rows=2000, seed=21, defect_rate=0.01)
    assert _edited(first, second, change_every=9, drop_every=40, repeat_line=5) > 150
    third.write_bytes(second.read_bytes() + b"\n")  # the same records again, another file
    results: dict[bool, list[dict[str, Any]]] = {}
    snapshots: dict[bool, dict[str, Any]] = {}
    for skip in (True, False):
        url = new_db()
        with psycopg.connect(url) as c:  # some colours unknown: their counts must not depend on the skip
            c.execute("DELETE FROM taxonomy.raw_values WHERE domain = 'color' AND raw IN ('BLACK', 'SILVER', 'RED')")
        settings = Settings(data_dir=tmp_path / f"d{skip}", raw_dir=tmp_path / f"raw{skip}")
        results[skip] = [ingest(f, settings, database_url=url, skip_unchanged=skip) for f in (first, second, third)]
        with psycopg.connect(url) as c:
            snapshots[skip] = {
                name: table(c, name, key, drop={"created_at", "updated_at", "loaded_at", "recorded_at", "summary"})
                for name, key in [
                    ("raw.csv_files", "load_id"), ("raw.quarantine", "load_id, row_no"), ("vehicles", "vin"),
                    ("lots", "lot_number"), ("lot_events", "id"), ("audit.unknown_values", "domain, value"),
                    ("staging.presence", "lot_number"), ("staging.presence_window", "load_id"),
                ]
            }  # fmt: skip
    with_skip, full = results[True], results[False]
    assert left_out[0] == 0 and left_out[1] > 1000 and left_out[2] > 1000  # the parser itself left them out
    assert [r["rows_skipped"] for r in full] == [0, 0, 0]
    assert with_skip[1]["rows_skipped"] > 1500 and with_skip[2]["rows_skipped"] == with_skip[2]["rows_loaded"]
    assert with_skip[1]["unknown_values"] > 0 and with_skip[1]["rows_duplicate"] >= 1
    assert with_skip[1]["rows_quarantined"] > 0 and with_skip[1]["lots_pending_result"] + with_skip[1]["lots_updated"] > 0
    ignore = {"seconds", "statement_seconds", "rows_skipped", "source"}
    for a, b in zip(with_skip, full):
        assert {k: v for k, v in a.items() if k not in ignore} == {k: v for k, v in b.items() if k not in ignore}
    assert snapshots[True] == snapshots[False]
