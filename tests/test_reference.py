"""The pure-Python reference engine (vinops.reference) against docs/normalization.md.

Real samples, hand-written malformed inputs with the quarantine they must give, and the schema against
vinops_core/src/schema.rs. Everything here is small and fast.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from vinops import VinopsError, reference
from vinops.reference import MAX_RECORD, SCHEMA, ReferenceReader, check_digit

ROOT = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc

SMALL_ZONES = """kind,key,zone,note
yard,IN - DYER,America/Chicago,a yard of its own
yard,ATLANTIC CANADA AUCTION,America/Halifax,virtual sale
state,IN,America/Indiana/Indianapolis,
state,CA,America/Los_Angeles,
state,NY,America/New_York,
state,NS,America/Halifax,
state,AZ,America/Phoenix,
abbr,PDT,America/Los_Angeles,
abbr,AKST,America/Halifax,a lie
"""


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    path = tmp_path / "zones.csv"
    path.write_text(SMALL_ZONES)
    return path


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def csv_bytes(header: list[str], rows: list[list[str]], *, eol: str = "\n") -> bytes:
    """A well-formed file, every field quoted (as the feed writes its header)."""
    lines = [",".join(_quote(h) for h in header)]
    lines += [",".join(_quote(v) for v in row) for row in rows]
    return (eol.join(lines) + eol).encode()


def read(
    path: Path, zones: Path | None = None, **kwargs: Any
) -> tuple[pa.Table, dict[str, Any], list[pa.RecordBatch]]:
    reader = ReferenceReader(path, zones=zones, **kwargs)
    batches = list(reader.batches())
    for b in batches:
        assert b.schema == SCHEMA
    return pa.Table.from_batches(batches, schema=SCHEMA), reader.summary(), batches


def read_bytes(tmp_path: Path, data: bytes, zones: Path | None = None, **kwargs: Any):
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    return read(path, zones, **kwargs)


def only_row(table: pa.Table) -> dict[str, Any]:
    assert table.num_rows == 1
    return table.to_pylist()[0]


def reasons(summary: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    return [(q["row"], q["line"], q["reason"], q["detail"]) for q in summary["quarantine"]]


# --------------------------------------------------------------------------------------------------
# Schema


KIND_TO_ARROW = {
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "Text": pa.string(),
    "Date": pa.date32(),
    "UtcTime": pa.timestamp("us", tz="UTC"),
    "NaiveTime": pa.timestamp("us"),
    "CodeList": pa.list_(pa.field("item", pa.int16(), nullable=False)),
}


def schema_rs_columns() -> list[tuple[str, str, bool]]:
    """(name, kind, nullable) of every entry of `COLUMNS` in schema.rs, in order."""
    text = (ROOT / "vinops_core/src/schema.rs").read_text()
    body = text[text.index("pub const COLUMNS") :]
    body = body[: body.index("\n];")]
    out = []
    for m in re.finditer(
        r'Column \{ name: "(\w+)", kind: Kind::(\w+), nullable: (true|false)|col\("(\w+)", Kind::(\w+)', body
    ):
        if m.group(1):
            out.append((m.group(1), m.group(2), m.group(3) == "true"))
        else:
            out.append((m.group(4), m.group(5), True))
    return out


def test_schema_matches_schema_rs() -> None:
    expected = pa.schema([pa.field(n, KIND_TO_ARROW[k], nullable=null) for n, k, null in schema_rs_columns()])
    assert len(expected) > 80
    assert SCHEMA.equals(expected), set(SCHEMA) ^ set(expected)
    assert [f.name for f in SCHEMA if not f.nullable] == ["lot_number", "source_row", "quote_repaired", "utf8_lossy", "record_hash"]


# --------------------------------------------------------------------------------------------------
# Real samples


def test_real_147_rows_all_load(copart_data: Path) -> None:
    table, summary, _ = read(copart_data / "real-rows-147.csv")
    data = (copart_data / "real-rows-147.csv").read_bytes()
    assert summary["rows_in"] == 147
    assert summary["rows_ok"] == 147
    assert summary["rows_quarantined"] == 0
    assert summary["quarantine"] == []
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()
    assert summary["bytes"] == len(data)
    # Both spellings of column 51: the current name `Wholesale` feeds the field, though `Copart Select` comes first.
    assert summary["extra_columns"] == ["Copart Select", "_db_date_update_created", "_db_nulls"]
    assert summary["missing_columns"] == ["Id"]
    assert summary["header_width"] == 61 and summary["finished"] is True
    assert summary["unknown"] == {} and summary["categorical_cells"] == 0
    assert table.column("source_row").to_pylist() == list(range(1, 148))
    assert not any(table.column("quote_repaired").to_pylist())
    assert not any(table.column("utf8_lossy").to_pylist())
    assert table.column("export_id").null_count == 147  # this file has no `Id`

    # Cross-check the text columns against Python's csv module (a strict RFC 4180 reader suffices here).
    records = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header = records[0]
    rows = table.to_pylist()
    text_columns = {"yard_name": "Yard name", "make": "Make", "special_note": "Special Note", "grid_row": "Grid/Row"}
    for got, record in zip(rows, records[1:], strict=True):
        for column, name in text_columns.items():
            value = record[header.index(name)].strip(" \t\n\r\x0b\x0c")
            assert got[column] == (value or None)
        assert got["lot_number"] == int(record[header.index("Lot number")])
        assert got["vin"] == record[header.index("VIN")].strip().upper()

    first = rows[0]
    assert first["lot_number"] == 21256415
    assert first["sale_date"] == dt.date(2026, 1, 28)
    assert first["sale_tz"] == "America/New_York"
    assert first["auction_at"] == dt.datetime(2026, 1, 28, 15, 0, tzinfo=UTC)  # 10:00 EST
    assert first["grid_row"] == "G330"  # leading spaces trimmed
    assert first["odometer"] is None  # 0.0 = no reading
    assert first["engine"] == "5.0L 10"
    assert first["export_created_at"] == dt.datetime(2026, 1, 28, 7, 25, 12, 551)
    assert first["source_updated_at"] == dt.datetime(2026, 1, 28, 9, 0, 17, tzinfo=UTC)
    # `Wholesale` feeds the field; the rows of the older version have it empty (their `Copart Select` is ignored).
    assert first["wholesale"] is False and rows[1]["wholesale"] is None
    dyer = next(r for r in rows if r["yard_name"] == "IN - DYER")
    assert dyer["sale_tz"] == "America/Chicago"  # a yard row beats the IN prefix
    assert all(r["vin_valid_iso"] is not None for r in rows if r["vin"] is not None)


def test_2020_excerpt_49_columns(copart_data: Path) -> None:
    excerpt = copart_data / "raw-excerpt-2020-06-49col.csv"
    header = excerpt.read_bytes().split(b"\n", 1)[0]
    assert len(next(csv.reader([header.decode()]))) == 49
    table, summary, _ = read(excerpt)
    assert (summary["rows_in"], summary["rows_ok"], summary["rows_quarantined"]) == (2, 2, 0)
    assert summary["extra_columns"] == []
    assert summary["header_width"] == 49
    assert summary["missing_columns"] == ["Rentals", "Wholesale", "Seller Name", "Offsite Address1", "Offsite State",
                                          "Offsite City", "Offsite Zip", "Sale Light", "AutoGrade", "Announcements"]  # fmt: skip
    first, second = table.to_pylist()

    assert first["lot_number"] == 26519090
    assert first["sale_date"] is None and first["auction_at"] is None  # `0`: not scheduled
    assert first["sale_day_of_week"] is None
    assert first["odometer"] == 172691.0
    assert first["retail_value_cents"] == 1256300
    assert first["repair_cost_cents"] is None and first["high_bid_cents"] is None  # 0.0
    assert first["engine"] == "4.6L 8"
    assert first["vin"] == "4JGBF7BE5AA585531" and first["vin_check_digit_ok"] is True

    assert second["lot_number"] == 27573150
    assert second["export_id"] == 2
    assert second["sale_date"] == dt.date(2020, 7, 2)
    assert second["sale_time_hhmm"] == 1200
    assert second["sale_tz"] == "America/Los_Angeles"
    assert second["auction_at"] == dt.datetime(2020, 7, 2, 19, 0, tzinfo=UTC)  # 12:00 PDT in Vallejo
    assert second["repair_cost_cents"] == 2031423
    assert second["high_bid_cents"] == 27500
    assert second["cylinders"] == 6
    assert second["make_offer_eligible"] is False
    assert second["export_created_at"] == dt.datetime(2020, 6, 30, 10, 50, 12, 198)
    assert second["source_updated_at"] == dt.datetime(2020, 6, 29, 14, 48, 47, tzinfo=UTC)
    assert second["vin_model_year"] == 2017
    for absent in ("rentals", "wholesale", "seller_name", "sale_light", "autograde", "announcements"):
        assert first[absent] is None and second[absent] is None


def test_header_59_maps_every_column(tmp_path: Path, zones: Path, copart_data: Path) -> None:
    data = (copart_data / "header-59-2025-10.csv").read_bytes().rstrip(b"\r\n") + b"\n"
    _, summary, _ = read_bytes(tmp_path, data, zones)
    assert summary["extra_columns"] == [] and summary["rows_in"] == 0
    assert summary["missing_columns"] == [] and summary["header_width"] == 59


def test_header_order_matches_header_rs() -> None:
    """`missing_columns` follows the order of `NAMES` in header.rs; the reference keeps its own copy."""
    text = (ROOT / "vinops_core/src/header.rs").read_text()
    body = text[text.index("pub const NAMES") :]
    body = body[body.index("[", body.index("=")) : body.index("\n];")]
    names = re.findall(r'^\s+"(.*)",$', body, flags=re.M)
    assert len(names) == 59
    assert list(reference._HEADER_ORDER) == names
    assert sorted(names) == sorted(i.name for i in reference._INPUTS)


# --------------------------------------------------------------------------------------------------
# §1 Records


def test_bom_line_breaks_blank_lines_and_line_numbers(tmp_path: Path, zones: Path) -> None:
    data = (
        b"\xef\xbb\xbfLot number,Make\r\n"  # line 1
        b"\r\n"  # 2 blank
        b"1,A\r"  # 3 (a lone CR: the next byte is not LF)
        b"\r\n"  # 4 blank
        b'2,"multi\r\nline"\n'  # 5-6
        b"\n\n"  # 7, 8 blank
        b"3,C"  # 9, no final line break
    )
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert table.column("lot_number").to_pylist() == [1, 2, 3]
    assert table.column("make").to_pylist() == ["A", "multi\r\nline", "C"]
    assert table.column("source_row").to_pylist() == [1, 2, 3]
    assert summary["rows_in"] == 3
    # A bad record after all that reports the right line.
    data2 = data + b"\n4,D,extra\n5,E\n"
    table, summary, _ = read_bytes(tmp_path, data2, zones)
    assert reasons(summary) == [(4, 10, "field_count", "expected 2 fields, found 3")]
    assert summary["quarantine"][0]["raw"] == b"4,D,extra"
    assert table.column("source_row").to_pylist() == [1, 2, 3, 5]


def test_unescaped_quotes_take_the_tolerant_pass(tmp_path: Path, zones: Path) -> None:
    data = (
        b'"Lot number","Model Detail","Make"\n'
        b'"1","113" SLEEPER CAB","FORD"\n'
        b'"2","SUMMIT 850 X 165"",""\n'
        b'"3","plain ""quoted"" text","X"\n'
    )
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert summary["rows_quarantined"] == 0
    rows = table.to_pylist()
    assert [r["model_detail"] for r in rows] == ['113" SLEEPER CAB', 'SUMMIT 850 X 165"', 'plain "quoted" text']
    assert [r["make"] for r in rows] == ["FORD", None, "X"]
    assert [r["quote_repaired"] for r in rows] == [True, True, False]


def test_tolerant_pass_for_a_regular_record_with_the_wrong_count(tmp_path: Path, zones: Path) -> None:
    # Strict: `"a"",""b"` is one field `a","b` (2 fields in all); tolerant: `a"` and `"b` (3 fields).
    data = b'Lot number,Make,Model Group\n7,"a"",""b"\n'
    table, summary, _ = read_bytes(tmp_path, data, zones)
    row = only_row(table)
    assert (row["make"], row["model_group"], row["quote_repaired"]) == ('a"', '"b', True)


def test_a_damaged_row_never_swallows_the_next(tmp_path: Path, zones: Path) -> None:
    # Row 1's quote would (strictly) run on to row 3; the tolerant pass ends it at its line break.
    data = b'Lot number,Make,Model Group\n1,"open quote\n2,B,C\n3,"x"y,z\n4,D,E\n5,"never closed'
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert table.column("lot_number").to_pylist() == [2, 4]
    assert reasons(summary) == [
        (1, 2, "field_count", "expected 3 fields, found 2"),
        (3, 4, "field_count", "expected 3 fields, found 2"),
        (5, 6, "field_count", "expected 3 fields, found 2"),
    ]
    assert [q["raw"] for q in summary["quarantine"]] == [b'1,"open quote', b'3,"x"y,z', b'5,"never closed']


def test_unterminated_quote_repaired_when_count_fits(tmp_path: Path, zones: Path) -> None:
    data = b'Lot number,Make\n1,"open\n2,"closed at eof"'
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert table.column("make").to_pylist() == ["open", "closed at eof"]
    assert table.column("quote_repaired").to_pylist() == [True, False]


def test_whitespace_only_line_is_a_record(tmp_path: Path, zones: Path) -> None:
    table, summary, _ = read_bytes(tmp_path, b"Lot number,Make\n  \n1,A\n", zones)
    assert reasons(summary) == [(1, 2, "field_count", "expected 2 fields, found 1")]
    assert table.column("source_row").to_pylist() == [2]


def test_record_too_long(tmp_path: Path, zones: Path) -> None:
    head = b"Lot number,Make\n"
    exact = b"1," + b"x" * (MAX_RECORD - 2)  # exactly MAX_RECORD bytes: accepted
    over = b"2," + b"y" * (MAX_RECORD - 1)  # one more: too long
    data = head + exact + b"\r\n" + over + b"\r\n3,C\n"
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert table.column("lot_number").to_pylist() == [1, 3]
    assert table.column("source_row").to_pylist() == [1, 3]
    assert reasons(summary) == [(2, 3, "record_too_long", f"record longer than {MAX_RECORD} bytes")]
    assert summary["quarantine"][0]["raw"] == over[:MAX_RECORD]
    assert summary["bytes"] == len(data)
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()


def test_strict_record_that_cannot_end_within_the_cap_falls_to_the_tolerant_pass(
    tmp_path: Path, zones: Path
) -> None:
    # A quote opened on row 1 never closes on its line; what follows is over 1 MiB of short lines.
    lines = b"".join(b"%d,%s\n" % (i, b"L" * 200) for i in range(2, 6_000))
    data = b'Lot number,Make\n1,"open\n' + lines
    assert len(data) > MAX_RECORD + 100
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert table.num_rows == 6_000 - 1
    assert table.column("make").to_pylist()[:2] == ["open", "L" * 200]
    assert table.column("quote_repaired").to_pylist()[:2] == [True, False]


def test_too_long_header_and_empty_files(tmp_path: Path, zones: Path) -> None:
    for data in (b"", b"\xef\xbb\xbf", b"\n\r\n\r"):
        with pytest.raises(VinopsError, match="^the file is empty$") as e:
            read_bytes(tmp_path, data, zones)
        assert e.value.code == "empty_file"
    with pytest.raises(VinopsError) as e:
        read_bytes(tmp_path, b"Lot number," + b"x" * MAX_RECORD + b"\n1,2\n", zones)
    assert e.value.code == "missing_lot_number_column"
    # A too-long header is one name, its first MAX_RECORD bytes (as in the core): here, trimmed, `Lot number`.
    table, summary, _ = read_bytes(tmp_path, b"Lot number" + b" " * MAX_RECORD + b"\n7\n", zones)
    assert table.column("lot_number").to_pylist() == [7]
    assert summary["header_width"] == 1 and summary["extra_columns"] == []


def test_unreadable_path_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(VinopsError) as e:
        ReferenceReader(tmp_path / "absent.csv")
    assert e.value.code == "io"
    with pytest.raises(VinopsError) as e:
        ReferenceReader(tmp_path)  # a directory
    assert e.value.code == "io"


def test_chunk_boundaries_do_not_matter(tmp_path: Path, zones: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = []
    for i in range(1, 6001):
        note = 'two\r\nlines' if i % 7 == 0 else ('113" CAB' if i % 11 == 0 else "n" * (i % 97 * 9))
        rows.append(f'{i},"{note}","CA - VALLEJO",20240310,{200 + i % 3 * 100}\r')
    data = ("Lot number,Special Note,Yard name,Sale Date M/D/CY,Sale time (HHMM)\r\n" + "\n".join(rows)).encode()
    assert len(data) > 2 * MAX_RECORD
    expected_table, expected_summary, _ = read_bytes(tmp_path, data, zones)
    assert expected_summary["rows_ok"] == 6000
    monkeypatch.setattr(reference, "_READ_CHUNK", 65_537)
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert table.equals(expected_table)
    summary.pop("seconds"), expected_summary.pop("seconds")
    assert summary == expected_summary


# --------------------------------------------------------------------------------------------------
# §2 Header


def test_header_folding_aliases_and_duplicates(tmp_path: Path, zones: Path) -> None:
    header = ["  lot   NUMBER ", "Lot ACV", "copart select", "Wholesale", "Est. Retail Value", "Mystery", "",
              "Make", " make\x0b", "\x0bLot ACV "]  # fmt: skip
    row = ["5", "10.5", "Y", "N", "99", "?", "?", "A", "B", "1"]
    table, summary, _ = read_bytes(tmp_path, csv_bytes(header, [row]), zones)
    row = only_row(table)
    assert row["lot_number"] == 5
    assert row["retail_value_cents"] == 9900  # the current name feeds the field, whatever the order
    assert row["wholesale"] is False
    assert row["make"] == "A"  # of two columns with one spelling, the first
    assert summary["extra_columns"] == ["Lot ACV", "copart select", "Mystery", "", "make", "Lot ACV"]  # trimmed
    assert summary["header_width"] == len(header)
    # Only the alias: it feeds the field.
    table, summary, _ = read_bytes(tmp_path, csv_bytes(["Lot number", "lot acv", "Copart Select"], [["1", "2", "y"]]), zones)
    assert (only_row(table)["retail_value_cents"], only_row(table)["wholesale"]) == (200, True)
    assert summary["extra_columns"] == [] and "Est. Retail Value" not in summary["missing_columns"]


def test_missing_lot_number_column(tmp_path: Path, zones: Path) -> None:
    with pytest.raises(VinopsError, match="^not a Copart sales-data CSV: ") as e:
        read_bytes(tmp_path, b"Lot,Make\n1,A\n", zones)
    assert e.value.code == "missing_lot_number_column"
    assert type(e.value) is VinopsError  # the core's exception: callers catch one type


# --------------------------------------------------------------------------------------------------
# §3 Values


def one_value(tmp_path: Path, zones: Path, column: str, value: str) -> tuple[dict[str, Any] | None, list]:
    table, summary, _ = read_bytes(tmp_path, csv_bytes(["Lot number", column], [["1", value]]), zones)
    return (table.to_pylist()[0] if table.num_rows else None), reasons(summary)


@pytest.mark.parametrize(
    ("column", "value", "output", "expected"),
    [
        ("Year", " 2017 ", "year", 2017),
        ("Year", "-0", "year", 0),
        ("Year", "32767", "year", 32767),
        ("Year", "-32768", "year", -32768),
        ("Item#", "2147483647", "item_number", 2147483647),
        ("Id", "9223372036854775807", "export_id", 9223372036854775807),
        ("Id", "000000000000000000000000000042", "export_id", 42),
        ("Repair cost", "20314.23", "repair_cost_cents", 2031423),
        ("Repair cost", "12.345", "repair_cost_cents", 1235),
        ("Repair cost", "0.005", "repair_cost_cents", 1),
        ("Repair cost", "-0.005", "repair_cost_cents", -1),
        ("Repair cost", "0.004", "repair_cost_cents", 0),
        ("Repair cost", "-0.00", "repair_cost_cents", None),
        ("Repair cost", "000", "repair_cost_cents", None),
        ("Repair cost", "1.2", "repair_cost_cents", 120),
        ("Repair cost", "92233720368547758.07", "repair_cost_cents", 9223372036854775807),
        ("Repair cost", "-92233720368547758.08", "repair_cost_cents", -9223372036854775808),
        ("Odometer", "172691.0", "odometer", 172691.0),
        ("Odometer", "0.000", "odometer", None),
        ("Odometer", "-0", "odometer", None),
        ("AutoGrade", "0", "autograde", 0.0),
        ("AutoGrade", "3.5", "autograde", 3.5),
        ("AutoGrade", "9" * 400, "autograde", float("inf")),
        ("Rentals", "yes", "rentals", True),
        ("Rentals", "False", "rentals", False),
        ("Rentals", "0", "rentals", False),
        ("Rentals", "y", "rentals", True),
        ("Sale Date M/D/CY", "0", "sale_date", None),
        ("Sale Date M/D/CY", "20240229", "sale_date", dt.date(2024, 2, 29)),
        ("Sale Date M/D/CY", "00010101", "sale_date", dt.date(1, 1, 1)),
        ("Sale time (HHMM)", "0", "sale_time_hhmm", None),
        ("Sale time (HHMM)", "7", "sale_time_hhmm", 7),  # the number HHMM: 00:07
        ("Sale time (HHMM)", "30", "sale_time_hhmm", 30),  # 00:30
        ("Sale time (HHMM)", "24", "sale_time_hhmm", 24),  # 00:24
        ("Sale time (HHMM)", "700", "sale_time_hhmm", 700),
        ("Sale time (HHMM)", "930", "sale_time_hhmm", 930),
        ("Sale time (HHMM)", "0700", "sale_time_hhmm", 700),
        ("Sale time (HHMM)", "00", "sale_time_hhmm", 0),
        ("Sale time (HHMM)", "0000", "sale_time_hhmm", 0),
        ("Sale time (HHMM)", "2359", "sale_time_hhmm", 2359),
        ("Last Updated Time", "2026-01-28T09:00:17Z", "source_updated_at", dt.datetime(2026, 1, 28, 9, 0, 17, tzinfo=UTC)),
        ("Last Updated Time", "2026-01-28 09:00:17", "source_updated_at", dt.datetime(2026, 1, 28, 9, 0, 17, tzinfo=UTC)),
        ("Last Updated Time", "2026-01-28T09:00:17.5+02:00", "source_updated_at", dt.datetime(2026, 1, 28, 7, 0, 17, 500000, tzinfo=UTC)),
        ("Last Updated Time", "2026-01-01T00:30:00.000001-0130", "source_updated_at", dt.datetime(2026, 1, 1, 2, 0, 0, 1, tzinfo=UTC)),
        ("Create Date/Time", "2026-01-28-07.25.12.000551", "export_created_at", dt.datetime(2026, 1, 28, 7, 25, 12, 551)),
        ("Create Date/Time", "2026-01-28-07.25.12", "export_created_at", dt.datetime(2026, 1, 28, 7, 25, 12)),
        ("Create Date/Time", "2026-01-28-07.25.12.5", "export_created_at", dt.datetime(2026, 1, 28, 7, 25, 12, 500000)),
        ("Engine", "2.4L \t 4", "engine", "2.4L 4"),
        ("Make", "\x0b MERCEDES  BENZ \x0c", "make", "MERCEDES  BENZ"),
        ("Special Note", "\u00a0NOTE\u00a0", "special_note", "\u00a0NOTE\u00a0"),  # NBSP is not ASCII space
        ("Make", "   ", "make", None),
    ],
)
def test_values(tmp_path: Path, zones: Path, column: str, value: str, output: str, expected: Any) -> None:
    row, bad = one_value(tmp_path, zones, column, value)
    assert bad == []
    assert row is not None and row[output] == expected
    if expected == 0.0 and isinstance(expected, float):
        assert str(row[output]) == str(expected)


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("Year", "ABCD", "integer"),
        ("Year", "32768", "integer"),
        ("Year", "+5", "integer"),
        ("Year", "1_000", "integer"),
        ("Year", "\u0661\u0662", "integer"),  # Arabic-Indic digits are not [0-9]
        ("Yard number", "2147483648", "integer"),
        ("Id", "1" * 5000, "integer"),
        ("Repair cost", "1.", "amount"),
        ("Repair cost", ".5", "amount"),
        ("Repair cost", "1e3", "amount"),
        ("Repair cost", "92233720368547758.08", "amount"),
        ("Repair cost", "$5", "amount"),
        ("Odometer", "12,000", "number"),
        ("AutoGrade", "nan", "number"),
        ("Rentals", "T", "flag"),
        ("Rentals", "YEſ", "flag"),  # ſ upper-cases to S in Unicode, not in ASCII
        ("Sale Date M/D/CY", "20230229", "date"),
        ("Sale Date M/D/CY", "00000101", "date"),
        ("Sale Date M/D/CY", "2023-01-01", "date"),
        ("Sale Date M/D/CY", "00", "date"),
        ("Sale time (HHMM)", "60", "sale time"),
        ("Sale time (HHMM)", "99", "sale time"),
        ("Sale time (HHMM)", "2400", "sale time"),
        ("Sale time (HHMM)", "1260", "sale time"),
        ("Sale time (HHMM)", "7:00", "sale time"),
        ("Sale time (HHMM)", "12000", "sale time"),
        ("Sale time (HHMM)", "-1", "sale time"),
        ("Last Updated Time", "2026-01-28T09:00:60Z", "timestamp"),
        ("Last Updated Time", "2026-01-28t09:00:00Z", "timestamp"),
        ("Last Updated Time", "2026-01-28T09:00:00.1234567Z", "timestamp"),
        ("Last Updated Time", "2026-01-28T09:00:00+24:00", "timestamp"),
        ("Last Updated Time", "2026-01-28T09:00:00+1:00", "timestamp"),
        ("Last Updated Time", "2026-01-28T09:00", "timestamp"),
        ("Create Date/Time", "2026-01-28 07.25.12", "timestamp"),
        ("Create Date/Time", "2026-01-28-07:25:12", "timestamp"),
        ("Create Date/Time", "2026-02-30-07.25.12", "timestamp"),
    ],
)
def test_invalid_values(tmp_path: Path, zones: Path, column: str, value: str, what: str) -> None:
    row, bad = one_value(tmp_path, zones, column, value)
    assert row is None
    assert bad == [(1, 2, "invalid_value", f"{column}: '{value.strip()}' is not a valid {what}")]


def test_canonical_names_in_details_and_first_failure_in_schema_order(tmp_path: Path, zones: Path) -> None:
    header = ["Odometer", "Year", "Lot ACV", "Last Updated Time", "Lot number"]
    rows = [
        ["x", "y", "1", "bad", "1"],  # Last Updated Time comes first in the schema
        ["x", "y", "1", "", "2"],  # then Year
        ["1", "2000", "z", "", "3"],  # Lot ACV is named by its current name
        ["x", "y", "z", "bad", " "],  # no Lot number beats everything
    ]
    table, summary, _ = read_bytes(tmp_path, csv_bytes(header, rows), zones)
    assert table.num_rows == 0
    assert [q["detail"] for q in summary["quarantine"]] == [
        "Last Updated Time: 'bad' is not a valid timestamp",
        "Year: 'y' is not a valid integer",
        "Est. Retail Value: 'z' is not a valid amount",
        "Lot number is empty",
    ]
    assert [q["reason"] for q in summary["quarantine"]][-1] == "missing_lot_number"
    assert summary["quarantine"][0]["raw"] == b'"x","y","1","bad","1"'
    assert (summary["rows_in"], summary["rows_ok"], summary["rows_quarantined"]) == (4, 0, 4)


def test_utf8_lossy(tmp_path: Path, zones: Path) -> None:
    data = b"Lot number,Make,Unknown\n1,BAD\xff\xfeX,ok\n2,ok,\xff\n3,\xe2\x82,x\n"
    table, _, _ = read_bytes(tmp_path, data, zones)
    assert table.column("make").to_pylist() == ["BAD\ufffd\ufffdX", "ok", "\ufffd"]
    assert table.column("utf8_lossy").to_pylist() == [True, False, True]  # extra columns are ignored


# --------------------------------------------------------------------------------------------------
# VIN


def test_check_digit_and_vin_flags(tmp_path: Path, zones: Path) -> None:
    assert check_digit("1M8GDM9AXKP042788") == "X"  # the textbook example
    assert check_digit("5TDYZ3DCXHS795095") == "X"
    assert check_digit("4JGBF7BE5AA585531") == "5"
    assert check_digit("1M8GDM9AXKP04278") is None and check_digit("IM8GDM9AXKP042788") is None
    header = ["Lot number", "VIN", "Year"]
    rows = [
        ["1", " 5tdyz3dcxhs795095 ", "2017"],  # upper-cased, check digit X
        ["2", "5TDYZ3DC0HS795095", ""],  # wrong check digit; position 7 a letter → 2010+n
        ["3", "WDB1234", "1975"],  # short
        ["4", "1M8GDM9AXKP04278IOQ", ""],  # too long: not ISO, not short
        ["5", "1M8GDM9AIKP042788", ""],  # I in the VIN: kept, not ISO
        ["6", "straße", ""],  # only ASCII letters change
        ["7", "", "2000"],  # no VIN: kept, flags NULL
        ["8", "1M8GDM9AXKP042788", "2000"],  # K = 1989 / 2019; 2000 is nearer 1989
        ["9", "1M8GDM9AXKP042788", "2004"],  # tie (15 years each side) → the later one
        ["10", "1M8GDM9AXKP042788", ""],  # position 7 is '9' → 1989
        ["11", "1M8GDM9AXUP042788", ""],  # U is not a year code
    ]
    table, summary, _ = read_bytes(tmp_path, csv_bytes(header, rows), zones)
    assert summary["rows_ok"] == len(rows)
    got = [
        (r["vin"], r["vin_valid_iso"], r["vin_check_digit_ok"], r["vin_short_or_legacy"], r["vin_model_year"])
        for r in table.to_pylist()
    ]
    assert got == [
        ("5TDYZ3DCXHS795095", True, True, False, 2017),
        ("5TDYZ3DC0HS795095", True, False, False, 2017),
        ("WDB1234", False, False, True, None),
        ("1M8GDM9AXKP04278IOQ", False, False, False, None),
        ("1M8GDM9AIKP042788", False, False, False, None),
        ("STRAßE", False, False, True, None),
        (None, None, None, None, None),
        ("1M8GDM9AXKP042788", True, True, False, 1989),
        ("1M8GDM9AXKP042788", True, True, False, 2019),
        ("1M8GDM9AXKP042788", True, True, False, 1989),
        ("1M8GDM9AXUP042788", True, False, False, None),
    ]


def test_check_digit_agrees_with_vininfo(copart_data: Path) -> None:
    import vininfo

    records = list(csv.DictReader(io.StringIO((copart_data / "real-rows-147.csv").read_text())))
    checked = 0
    for record in records:
        vin = record["VIN"].strip().upper()
        if check_digit(vin) is None:
            continue
        checked += 1
        assert (check_digit(vin) == vin[8]) == vininfo.Vin(vin).verify_checksum(check_year=False), vin
    assert checked > 100


# --------------------------------------------------------------------------------------------------
# Auction time


def test_zone_resolution_order(tmp_path: Path, zones: Path) -> None:
    header = ["Lot number", "Yard name", "Location state", "Time Zone", "Sale Date M/D/CY", "Sale time (HHMM)"]
    rows = [
        ["1", "in  -  dyer", "IN", "EST", "20250115", "1000"],  # yard row (folded) → Chicago
        ["2", "IN - INDIANAPOLIS", "CA", "PDT", "20250115", "1000"],  # prefix IN
        ["3", "XX - SOMEWHERE", "ca", "EST", "20250115", "1000"],  # unknown prefix → Location state
        ["4", "MYSTERY", "", "AKST", "20250715", "1000"],  # abbreviation (AKST is Atlantic)
        ["5", "MYSTERY", "ZZ", "ZZT", "20250115", "1000"],  # no zone
        ["6", "ATLANTIC CANADA AUCTION", "", "", "0", "1000"],  # no date: zone still named
        ["7", "CA - SAN DIEGO", "", "", "20250115", ""],  # no time
        ["8", "AZ - PHOENIX", "", "PDT", "20250715", "1200"],  # Arizona: no DST
    ]
    table, _, _ = read_bytes(tmp_path, csv_bytes(header, rows), zones)
    got = [(r["sale_tz"], r["auction_at"]) for r in table.to_pylist()]
    assert got == [
        ("America/Chicago", dt.datetime(2025, 1, 15, 16, 0, tzinfo=UTC)),
        ("America/Indiana/Indianapolis", dt.datetime(2025, 1, 15, 15, 0, tzinfo=UTC)),
        ("America/Los_Angeles", dt.datetime(2025, 1, 15, 18, 0, tzinfo=UTC)),
        ("America/Halifax", dt.datetime(2025, 7, 15, 13, 0, tzinfo=UTC)),
        (None, None),
        ("America/Halifax", None),
        ("America/Los_Angeles", None),
        ("America/Phoenix", dt.datetime(2025, 7, 15, 19, 0, tzinfo=UTC)),
    ]


def test_dst_gap_and_overlap(tmp_path: Path, zones: Path) -> None:
    header = ["Lot number", "Location state", "Sale Date M/D/CY", "Sale time (HHMM)"]
    rows = [
        ["1", "CA", "20250309", "230"],  # spring forward: 02:30 does not exist → read as PST (-8)
        ["2", "CA", "20251102", "130"],  # fall back: 01:30 twice → the earlier instant (PDT, -7)
        ["3", "CA", "20250309", "300"],  # just after the gap: PDT
        ["4", "NY", "20251102", "0"],  # no time
    ]
    table, _, _ = read_bytes(tmp_path, csv_bytes(header, rows), zones)
    assert table.column("auction_at").to_pylist() == [
        dt.datetime(2025, 3, 9, 10, 30, tzinfo=UTC),
        dt.datetime(2025, 11, 2, 8, 30, tzinfo=UTC),
        dt.datetime(2025, 3, 9, 10, 0, tzinfo=UTC),
        None,
    ]


def test_shared_zone_table_loads() -> None:
    zones = reference._load_zones()  # the core's table, vinops._core.zones_csv()
    assert zones.resolve("TX - EL PASO", "TX", "CST") == "America/Denver"
    assert zones.resolve("NB - MONCTON", None, "AKST") == "America/Moncton"
    assert zones.resolve(None, None, "AKST") == "America/Halifax"


def test_bad_zone_tables(tmp_path: Path) -> None:
    for bad in ("kind,key,zone,note\nstate,XX,America/Nowhere,\n", "kind,key,zone,note\ncounty,XX,UTC,\n"):
        path = tmp_path / "zones.csv"
        path.write_text(bad)
        (tmp_path / "in.csv").write_bytes(b"Lot number\n1\n")
        with pytest.raises(VinopsError) as e:
            ReferenceReader(tmp_path / "in.csv", zones=path)
        assert e.value.code == "zones"
        reference._ZONES_CACHE.clear()


# --------------------------------------------------------------------------------------------------
# Taxonomy


def test_taxonomy_codes_unknown_counts_and_announcements(tmp_path: Path, zones: Path) -> None:
    taxonomy = {
        "drive": {"Front-wheel Drive": 1, "FRONT WHEEL DRIVE": 1},
        "damage": {"FRONT END": 10, "REAR END": 11},
        "condition": {"D": 20, "Run & Drive Verified": 21},
        "announcement": {"FLOOD": 30, "Hail  damage": 31},
    }
    header = ["Lot number", "Drive", "Damage Description", "Secondary Damage", "Runs/Drives", "Lot Cond. Code",
              "Color", "Announcements"]  # fmt: skip
    rows = [
        ["1", " front-WHEEL \t drive ", "FRONT END", "", "run & drive verified", "D", "RED", "FLOOD, hail damage"],
        ["2", "HOVER", "rear end", "SIDE", "DEFAULT", "", "BLUE", " ,MYSTERY,, FLOOD "],
        ["3", "HOVER", "", "", "", "", "", ""],
        ["x", "HOVER", "", "", "", "", "", ""],  # quarantined rows are not counted
    ]
    table, summary, _ = read_bytes(tmp_path, csv_bytes(header, rows), zones, taxonomy=taxonomy)
    got = [
        (r["drive_code"], r["damage_primary_code"], r["damage_secondary_code"], r["runs_drives_code"],
         r["lot_cond_code"], r["color_code"], r["announcement_codes"])
        for r in table.to_pylist()
    ]  # fmt: skip
    assert got == [
        (1, 10, None, 21, 20, None, [30, 31]),
        (None, 11, None, None, None, None, [30]),
        (None, None, None, None, None, None, None),
    ]
    assert table.column("drive").to_pylist()[0] == "front-WHEEL \t drive"  # raw text stays
    assert summary["unknown"] == {"drive": {"HOVER": 2}, "damage": {"SIDE": 1}, "condition": {"DEFAULT": 1},
                                  "announcement": {"MYSTERY": 1}}  # fmt: skip
    # drive 3, damage 3, condition 3, announcements 2 + 2 (colour is not in the mapping)
    assert summary["categorical_cells"] == 13


def test_announcement_codes_without_the_domain(tmp_path: Path, zones: Path) -> None:
    data = csv_bytes(["Lot number", "Announcements"], [["1", "FLOOD"], ["2", ""]])
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert table.column("announcement_codes").to_pylist() == [[], None]
    assert summary["categorical_cells"] == 0 and summary["unknown"] == {}


@pytest.mark.parametrize(
    "taxonomy",
    [{"colour": {"RED": 1}}, {"color": {"RED": 1, " red ": 2}}, {"color": {"RED": 40000}}],
)
def test_bad_taxonomy(tmp_path: Path, zones: Path, taxonomy: dict) -> None:
    with pytest.raises(VinopsError) as e:
        read_bytes(tmp_path, b"Lot number\n1\n", zones, taxonomy=taxonomy)
    assert e.value.code == "taxonomy"


# --------------------------------------------------------------------------------------------------
# Batches and summary


def test_batches_stream_in_batch_size(tmp_path: Path, zones: Path) -> None:
    data = csv_bytes(["Lot number"], [[str(i)] for i in range(5)] + [["bad"]])
    _, summary, batches = read_bytes(tmp_path, data, zones, batch_size=2)
    assert [b.num_rows for b in batches] == [2, 2, 1]
    assert set(summary) == {"sha256", "rows_in", "rows_ok", "rows_quarantined", "quarantine", "unknown",
                            "categorical_cells", "extra_columns", "missing_columns", "header_width", "bytes",
                            "seconds", "finished"}  # fmt: skip
    assert (summary["rows_in"], summary["rows_ok"], summary["rows_quarantined"]) == (6, 5, 1)
    _, _, batches = read_bytes(tmp_path, b"Lot number\n", zones)
    assert batches == []


def test_summary_is_complete_once_finished(tmp_path: Path, zones: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"Lot number\n1\n")
    reader = ReferenceReader(path, zones=zones)
    assert reader.schema == SCHEMA
    before = reader.summary()
    assert (before["finished"], before["sha256"], before["rows_in"]) == (False, None, 0)
    batches = reader.batches()
    with pytest.raises(RuntimeError):
        reader.batches()
    assert sum(b.num_rows for b in batches) == 1
    after = reader.summary()
    assert (after["finished"], after["rows_ok"]) == (True, 1)
    assert after["sha256"] == hashlib.sha256(b"Lot number\n1\n").hexdigest()


def test_line_break_split_across_reads(tmp_path: Path, zones: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = b"Lot number,Make\r\n1,A\r\n"
    data = head + b"2," + b"y" * (MAX_RECORD + 1000) + b"\r\n3,C\r\n"
    cr = data.index(b"\r", len(head))
    expected = [(2, 3, "record_too_long", f"record longer than {MAX_RECORD} bytes")]
    for chunk in (cr + 1, cr, 65_536):  # a read that ends on the CR of the CRLF, and others
        monkeypatch.setattr(reference, "_READ_CHUNK", chunk)
        table, summary, _ = read_bytes(tmp_path, data, zones)
        assert reasons(summary) == expected
        assert table.column("lot_number").to_pylist() == [1, 3]
        assert summary["sha256"] == hashlib.sha256(data).hexdigest() and summary["bytes"] == len(data)
    # Tiny reads: the BOM and every line break are split.
    monkeypatch.setattr(reference, "_READ_CHUNK", 1)
    table, summary, _ = read_bytes(tmp_path, b"\xef\xbb\xbfLot number\r\n\r\n1\r2\r\n", zones)
    assert table.column("lot_number").to_pylist() == [1, 2]
    assert summary["extra_columns"] == []


def test_whitespace_folding_includes_vertical_tab(tmp_path: Path, zones: Path) -> None:
    data = csv_bytes(["Lot\x0bNUMBER", "Engine", "Drive"], [["1", "2.4L\x0b\x0b4", "front\x0bwheel"]])
    table, summary, _ = read_bytes(tmp_path, data, zones, taxonomy={"drive": {"FRONT WHEEL": 7}})
    row = only_row(table)
    assert (row["engine"], row["drive_code"]) == ("2.4L 4", 7)


# --------------------------------------------------------------------------------------------------
# Property: a well-formed RFC 4180 file (a field is quoted when it must be, or at random) reads back with
# the strict pass exactly as Python's csv module reads it.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TEXT = st.text(alphabet=st.sampled_from(list('ab ,"\r\n\t\x0bé\u00a0\u2028')), max_size=12)


def _field(value: str, quote: bool) -> str:
    return _quote(value) if quote or any(c in value for c in ',"\r\n') else value


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(st.integers(-(2**63), 2**63 - 1), _TEXT, _TEXT, _TEXT, st.lists(st.booleans(), min_size=4, max_size=4)),
        max_size=8,
    ),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_rfc4180_round_trip(tmp_path: Path, zones: Path, rows: list, eol: str, bom: bool) -> None:
    header = ["Lot number", "Make", "Model Group", "Special Note"]
    lines = [",".join(header)] + [
        ",".join(_field(str(v), q) for v, q in zip(row[:4], row[4], strict=True)) for row in rows
    ]
    text = eol.join(lines) + eol
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert summary["rows_quarantined"] == 0 and summary["sha256"] == hashlib.sha256(data).hexdigest()
    oracle = [r for r in csv.reader(io.StringIO(text, newline="")) if r][1:]
    ws = " \t\n\r\x0b\x0c"
    expected = [
        {"lot_number": int(lot), "make": a.strip(ws) or None, "model_group": b.strip(ws) or None,
         "special_note": c.strip(ws) or None, "source_row": i, "quote_repaired": False}
        for i, (lot, a, b, c) in enumerate(oracle, start=1)
    ]  # fmt: skip
    assert len(expected) == len(rows)
    got = table.select(["lot_number", "make", "model_group", "special_note", "source_row", "quote_repaired"])
    assert got.to_pylist() == expected


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | st.lists(st.sampled_from([b'"', b",", b"\r", b"\n", b"1", b"x", b"\xff", b" "]),
                                              max_size=60).map(b"".join))  # fmt: skip
def test_any_bytes_are_rows_or_quarantine(tmp_path: Path, zones: Path, body: bytes) -> None:
    data = b"Lot number,Make,Sale Date M/D/CY\n" + body
    table, summary, _ = read_bytes(tmp_path, data, zones)
    assert summary["rows_in"] == summary["rows_ok"] + summary["rows_quarantined"] == table.num_rows + len(
        summary["quarantine"]
    )
    numbers = sorted(table.column("source_row").to_pylist() + [q["row"] for q in summary["quarantine"]])
    assert numbers == list(range(1, summary["rows_in"] + 1))
    lines = [q["line"] for q in summary["quarantine"]]
    assert all(2 <= line <= 2 + body.count(b"\n") + body.count(b"\r") for line in lines)
    assert summary["bytes"] == len(data)
