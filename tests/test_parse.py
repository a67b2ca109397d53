"""The Rust engine seen from Python: real samples, malformed inputs, errors, schema, GIL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

import vinops
from vinops import _core
from vinops.parse import SCHEMA, parse_file, read_file

HEADER = '"Lot number","Year","VIN","Trim","Sale Date M/D/CY","Last Updated Time"\n'


def rows_by_lot(table: pa.Table) -> dict[int, dict]:
    return {r["lot_number"]: r for r in table.to_pylist()}


def write(tmp_path: Path, body: bytes | str, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(body.encode() if isinstance(body, str) else body)
    return p


def test_real_rows_147_all_parse(copart_data: Path) -> None:
    table, s = parse_file(copart_data / "real-rows-147.csv")
    assert (s["rows_in"], s["rows_ok"], s["rows_quarantined"]) == (147, 147, 0)
    assert table.num_rows == 147
    # The sample carries both spellings of column 51 and two helper columns of its own.
    assert s["extra_columns"] == ["Copart Select", "_db_date_update_created", "_db_nulls"]
    assert s["missing_columns"] == ["Id"]
    rows = rows_by_lot(table)
    lambo = rows[21256415]
    assert lambo["make"] == "LAMBORGHINI"
    assert lambo["yard_name"] == "NY - LONG ISLAND"
    assert lambo["sale_date"] == date(2026, 1, 28)
    assert lambo["sale_tz"] == "America/New_York"
    assert lambo["auction_at"] == datetime(2026, 1, 28, 15, 0, tzinfo=timezone.utc)  # 10:00 EST
    assert lambo["source_updated_at"] == datetime(2026, 1, 28, 9, 0, 17, tzinfo=timezone.utc)
    assert lambo["export_created_at"] == datetime(2026, 1, 28, 7, 25, 12, 551)
    assert lambo["odometer"] is None  # 0.0 = no reading
    assert lambo["retail_value_cents"] == 14_100_000
    assert lambo["repair_cost_cents"] == 15_309_600
    assert lambo["high_bid_cents"] == 600_000
    assert lambo["buy_it_now_cents"] is None
    assert lambo["grid_row"] == "G330"
    assert lambo["vin"] == "ZHWGU6AU3ALA09227"
    assert lambo["vin_model_year"] == 2010
    assert lambo["engine"] == "5.0L 10"
    dyer = rows[25883209]  # Dyer, Indiana keeps Central time although Indiana is mostly Eastern
    assert dyer["sale_tz"] == "America/Chicago"
    assert dyer["auction_at"] == datetime(2026, 2, 23, 18, 0, tzinfo=timezone.utc)
    assert dyer["engine"] == "2.2L 4"
    assert all(r["quote_repaired"] is False and r["utf8_lossy"] is False for r in rows.values())


def test_real_vins_are_kept_and_mostly_check(copart_data: Path) -> None:
    table, _ = parse_file(copart_data / "real-rows-147.csv")
    vins = [v for v in table.column("vin").to_pylist() if v]
    assert len(vins) >= 140
    ok = table.column("vin_check_digit_ok").to_pylist()
    assert sum(bool(x) for x in ok) >= 0.9 * len(vins)


def test_2020_excerpt_49_columns(copart_data: Path) -> None:
    table, s = parse_file(copart_data / "raw-excerpt-2020-06-49col.csv")
    assert (s["rows_in"], s["rows_ok"], s["rows_quarantined"]) == (2, 2, 0)
    assert s["extra_columns"] == []
    assert "Wholesale" in s["missing_columns"] and "Announcements" in s["missing_columns"]
    rows = rows_by_lot(table)
    unscheduled = rows[26519090]
    assert unscheduled["sale_date"] is None and unscheduled["auction_at"] is None
    assert unscheduled["odometer"] == 172691.0
    assert unscheduled["wholesale"] is None  # column absent in 2020
    sienna = rows[27573150]
    assert sienna["sale_date"] == date(2020, 7, 2)
    assert sienna["auction_at"] == datetime(2020, 7, 2, 19, 0, tzinfo=timezone.utc)  # 12:00 PDT, Vallejo CA
    assert sienna["repair_cost_cents"] == 2_031_423
    assert sienna["export_id"] == 2


def test_schema_is_the_documented_one() -> None:
    assert SCHEMA.field("lot_number").type == pa.int64() and not SCHEMA.field("lot_number").nullable
    assert SCHEMA.field("auction_at").type == pa.timestamp("us", tz="UTC")
    assert SCHEMA.field("export_created_at").type == pa.timestamp("us")
    assert SCHEMA.field("sale_date").type == pa.date32()
    assert SCHEMA.field("announcement_codes").type == pa.list_(pa.field("item", pa.int16(), nullable=False))
    names = [name for name, _, _ in _core.column_docs()]
    assert names == SCHEMA.names
    assert all(SCHEMA.field(n).type == pa.int16() for n in names if n.endswith("_code") and n != "currency_code")


def test_batches_are_streamed_with_the_requested_size(tmp_path: Path) -> None:
    body = HEADER + "".join(f'"{lot}","2010","","","0","2026-01-01T00:00:00Z"\n' for lot in range(1, 1001))
    parsed = read_file(write(tmp_path, body), batch_size=128)
    sizes = [b.num_rows for b in parsed.reader]
    assert sizes == [128] * 7 + [104]
    assert parsed.summary()["rows_ok"] == 1000


MALFORMED = [
    # (body line, expected reason or None for a row, checks on the row)
    ('"1","2010","1M8GDM9AXKP042788","LX","0","2026-01-01T00:00:00Z"', None, {"vin_check_digit_ok": True}),
    ('"2","2010","VIN","LX","0"', "field_count", None),
    ('"3","2010","VIN","LX","0","2026-01-01T00:00:00Z","extra"', "field_count", None),
    ('"4","ABCD","VIN","LX","0","2026-01-01T00:00:00Z"', "invalid_value", None),
    ('"","2010","VIN","LX","0","2026-01-01T00:00:00Z"', "missing_lot_number", None),
    ('"x5","2010","VIN","LX","0","2026-01-01T00:00:00Z"', "invalid_value", None),
    ('"6","2010","VIN","LX","0","yesterday"', "invalid_value", None),
    ('"7","2010","VIN","LX","20260230","2026-01-01T00:00:00Z"', "invalid_value", None),
    ('"8","2010","VIN","113" SLEEPER CAB","0","2026-01-01T00:00:00Z"', None, {"trim": '113" SLEEPER CAB', "quote_repaired": True}),
    ('"9","2010","VIN","SUMMIT 850 X 165"","0","2026-01-01T00:00:00Z"', None, {"trim": 'SUMMIT 850 X 165"', "quote_repaired": True}),
    ('"10","2010"," 1m8gdm9axkp042788 ","  padded  ","0","2026-01-01T00:00:00Z"', None, {"vin": "1M8GDM9AXKP042788", "trim": "padded"}),
    ('"11","2010","10867S100838","","0","2026-01-01T00:00:00Z"', None, {"vin_short_or_legacy": True, "vin_valid_iso": False, "trim": None}),
    ('"12","99999","VIN","LX","0","2026-01-01T00:00:00Z"', "invalid_value", None),  # Year overflows int16
]


@pytest.mark.parametrize(("line", "reason", "checks"), MALFORMED, ids=[m[0][:24] for m in MALFORMED])
def test_malformed_rows(tmp_path: Path, line: str, reason: str | None, checks: dict | None) -> None:
    table, s = parse_file(write(tmp_path, HEADER + line + "\n" + '"100","2020","","","0",""\n'))
    assert s["rows_in"] == 2 == s["rows_ok"] + s["rows_quarantined"]
    if reason is None:
        assert s["rows_quarantined"] == 0, s["quarantine"]
        row = table.to_pylist()[0]
        for key, value in (checks or {}).items():
            assert row[key] == value, key
    else:
        assert s["rows_quarantined"] == 1
        (q,) = s["quarantine"]
        assert (q["reason"], q["row"], q["line"]) == (reason, 1, 2)
        assert q["detail"]
        assert table.column("lot_number").to_pylist() == [100], "the next row survives"


def test_quarantine_keeps_raw_bytes(tmp_path: Path) -> None:
    line = b'"3","2010","VIN","LX","0","2026-01-01T00:00:00Z","extra"'
    _, s = parse_file(write(tmp_path, HEADER.encode() + line + b"\r\n"))
    assert s["quarantine"][0]["raw"] == line


def test_invalid_utf8_is_replaced_and_flagged(tmp_path: Path) -> None:
    table, s = parse_file(write(tmp_path, HEADER.encode() + b'"1","2010","VIN","CAF\xe9 \xff","0",""\n'))
    assert s["rows_ok"] == 1
    row = table.to_pylist()[0]
    assert row["trim"] == "CAF\ufffd \ufffd" and row["utf8_lossy"] is True


def test_bom_crlf_and_no_final_newline(tmp_path: Path) -> None:
    body = "\ufeff" + HEADER.replace("\n", "\r\n") + '"1","2010","","","0",""\r\n\r\n"2","2011","","","0",""'
    table, s = parse_file(write(tmp_path, body))
    assert s["rows_ok"] == 2 and table.column("year").to_pylist() == [2010, 2011]


def test_record_too_long_is_quarantined_and_reading_goes_on(tmp_path: Path) -> None:
    huge = "A" * (2 << 20)
    body = HEADER + f'"1","2010","","{huge}","0",""\n' + '"2","2011","","","0",""\n'
    table, s = parse_file(write(tmp_path, body))
    assert [q["reason"] for q in s["quarantine"]] == ["record_too_long"]
    assert table.column("lot_number").to_pylist() == [2]


def test_sha256_and_bytes(tmp_path: Path) -> None:
    import hashlib

    body = (HEADER + '"1","2010","","","0",""\n').encode()
    _, s = parse_file(write(tmp_path, body))
    assert s["sha256"] == hashlib.sha256(body).hexdigest()
    assert s["bytes"] == len(body)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty_file"),
        (b"\n\n", "empty_file"),
        (b"<!DOCTYPE html><html><body>Please log in</body></html>\n", "missing_lot_number_column"),
        (b"\x00\x01\x02\xff\xfe garbage", "missing_lot_number_column"),
        (b'"VIN","Year"\n"X","2010"\n', "missing_lot_number_column"),
    ],
)
def test_unreadable_files_raise_a_clear_error(tmp_path: Path, body: bytes, code: str) -> None:
    with pytest.raises(vinops.VinopsError) as err:
        read_file(write(tmp_path, body))
    assert err.value.code == code


def test_missing_file() -> None:
    with pytest.raises(vinops.VinopsError) as err:
        read_file("/nonexistent/salesdata.csv")
    assert err.value.code == "io"


def test_cli_parse_json_and_errors(tmp_path: Path, copart_data: Path) -> None:
    import json

    out = subprocess.run(
        [sys.executable, "-m", "vinops.cli", "parse", str(copart_data / "real-rows-147.csv"), "--json"],
        capture_output=True, text=True, check=True,
    )
    s = json.loads(out.stdout)
    for key in ("sha256", "rows_in", "rows_ok", "rows_quarantined", "quarantine", "unknown", "extra_columns", "bytes", "seconds"):
        assert key in s
    assert s["rows_in"] == s["rows_ok"] + s["rows_quarantined"] == 147
    bad = subprocess.run(
        [sys.executable, "-m", "vinops.cli", "parse", str(write(tmp_path, b"<html>nope</html>"))],
        capture_output=True, text=True,
    )
    assert bad.returncode != 0
    assert bad.stderr.count("\n") == 1 and "Lot number" in bad.stderr


def test_parsing_releases_the_gil(tmp_path: Path) -> None:
    """With a huge switch interval a second thread can only run while the parser has released the GIL."""
    body = HEADER + "".join(f'"{lot}","2010","1M8GDM9AXKP042788","LX","20260301","2026-01-01T00:00:00Z"\n' for lot in range(1, 200_001))
    path = write(tmp_path, body)
    ticks: list[float] = []
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0)  # hands the GIL back, so the main thread never waits on this one

    parsed = read_file(path, batch_size=1_000_000)
    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        t = threading.Thread(target=spin)
        t.start()
        time.sleep(0.01)  # main thread blocks without the GIL: the spinner starts
        ticks.clear()
        start = time.perf_counter()
        batch = parsed.reader.read_next_batch()
        end = time.perf_counter()
        stop.set()
    finally:
        sys.setswitchinterval(old)
    t.join()
    assert batch.num_rows == 200_000
    assert any(start < x < end for x in ticks), "no Python ran while the batch was being parsed"


def test_utf8_lossy_is_set_by_the_fields_that_feed_a_column(tmp_path: Path) -> None:
    # Invalid bytes in an ignored (extra) column replace nothing that is kept: the flag stays false.
    body = b"Lot number,Make,Unknown,make\n1,ok,\xff,\xfe\n2,\xff,ok,ok\n3,ok,ok,ok\n"
    table, _ = parse_file(write(tmp_path, body))
    assert table.column("utf8_lossy").to_pylist() == [False, True, False]
    assert table.column("make").to_pylist() == ["ok", "\ufffd", "ok"]


def _signed(h: int) -> int:
    return h - (1 << 64) if h >= 1 << 63 else h


@pytest.mark.parametrize("engine", ["rust", "python"])
def test_record_hash_is_xxh3_of_the_raw_record_with_the_seed(tmp_path: Path, engine: str) -> None:
    import xxhash

    records = [
        b'"1","2010","VIN","LX","0","2026-01-01T00:00:00Z"',
        b'"2","2010","VIN","two\r\nlines","0","2026-01-01T00:00:00Z"',  # a quoted line break is part of it
        b'"3","2010","VIN","113" SLEEPER CAB","0","2026-01-01T00:00:00Z"',  # repaired quote
    ]
    path = write(tmp_path, b"\xef\xbb\xbf" + HEADER.encode().replace(b"\n", b"\r\n") + b"\r\n".join(records))
    for seed in (0, 1, 2**63 + 5, 2**64 - 1):
        table, _ = parse_file(path, engine=engine, seed=seed)  # type: ignore[arg-type]
        want = [_signed(xxhash.xxh3_64_intdigest(r, seed=seed)) for r in records]
        assert table.column("record_hash").to_pylist() == want


def test_record_seed_fingerprints_the_header_and_the_taxonomy_not_the_rows(tmp_path: Path) -> None:
    from vinops.parse import record_seed

    rows = '"1","2010","VIN","LX","0","2026-01-01T00:00:00Z"\n'
    a = write(tmp_path, HEADER + rows, "a.csv")
    b = write(tmp_path, HEADER + rows.replace("LX", "EX") + rows, "b.csv")
    reordered = write(tmp_path, '"Year","Lot number","VIN","Trim","Sale Date M/D/CY","Last Updated Time"\n' + rows, "c.csv")
    quoted_break = write(tmp_path, HEADER.replace('"Trim"', '"Trim\nX"') + rows, "d.csv")
    tx = {"color": {"RED": 1}}
    assert record_seed(a, None) == record_seed(b, None)
    assert record_seed(a, tx) == record_seed(b, {"color": {"RED": 1}})
    seeds = {record_seed(a, None), record_seed(a, tx), record_seed(a, {"color": {"RED": 2}}), record_seed(reordered, None),
             record_seed(quoted_break, None)}  # fmt: skip
    assert len(seeds) == 5


def test_known_records_are_left_out_before_conversion(tmp_path: Path) -> None:
    """set_known: a record whose lot stores its very record hash is not in the batches but in
    take_unchanged(), with its position; counts and unknown taxonomy values are those of a full read."""
    from vinops.sample import write_sample
    from vinops.taxonomy import load

    path = tmp_path / "s.csv"
    write_sample(path, rows=600, seed=8, defect_rate=0.01)
    mapping = load().matcher_mapping()
    mapping["color"] = {k: v for k, v in mapping["color"].items() if k not in ("BLACK", "WHITE")}
    full, full_summary = parse_file(path, taxonomy=mapping, seed=5)
    rows = full.to_pylist()
    known = rows[::3]
    lots = [r["lot_number"] for r in known]
    hashes = [r["record_hash"] if i % 10 else r["record_hash"] ^ 1 for i, r in enumerate(known)]  # some differ

    parsed = read_file(path, taxonomy=mapping, seed=5, batch_size=64)
    assert parsed.set_known is not None and parsed.take_unchanged is not None
    parsed.set_known(lots, hashes)
    kept = pa.Table.from_batches(list(parsed.reader), schema=SCHEMA).to_pylist()
    summary = parsed.summary()
    left, source_rows, positions = parsed.take_unchanged()

    expected = {i for i, r in enumerate(known) if i % 10}
    assert sorted(positions) == sorted(expected)
    assert [lots[p] for p in positions] == left
    by_row = {r["source_row"]: r for r in rows}
    assert all(by_row[s]["lot_number"] == lot for s, lot in zip(source_rows, left))
    assert kept == [r for r in rows if r["source_row"] not in set(source_rows)]
    for k in ("rows_in", "rows_ok", "rows_quarantined", "unknown", "categorical_cells", "sha256"):
        assert summary[k] == full_summary[k], k
    assert summary["unknown"]["color"]  # the skipped rows' unknown colours are counted too
    assert parsed.take_unchanged() == ([], [], [])  # taken once
