"""Properties of the CSV dialect: round-trips what Python's csv module writes; survives any bytes."""

from __future__ import annotations

import csv
import io
import os
import tempfile

import pyarrow as pa
from hypothesis import assume, given
from hypothesis import strategies as st

import vinops
from vinops import _core

# Any text Python can encode as UTF-8 (no lone surrogates).
field_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
rows = st.lists(st.lists(field_text, min_size=1, max_size=8), min_size=1, max_size=12)


@given(
    rows=rows,
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    terminator=st.sampled_from(["\r\n", "\n"]),
)
def test_whatever_python_csv_writes_reads_back(rows: list[list[str]], quoting: int, terminator: str) -> None:
    # With lineterminator "\n" Python's writer leaves a "\r" unquoted, which no reader (Python's included)
    # can tell from a line break: that file is ambiguous, not a parser bug.
    assume(not (terminator == "\n" and quoting == csv.QUOTE_MINIMAL and any("\r" in f for r in rows for f in r)))
    if rows[0][0].startswith("\ufeff"):
        rows[0][0] = "x" + rows[0][0]  # a leading byte-order mark is always dropped, by design
    buf = io.StringIO()
    csv.writer(buf, quoting=quoting, lineterminator=terminator).writerows(rows)
    records = _core.tokenize(buf.getvalue().encode())
    assert [r[0] for r in records] == ["row"] * len(rows)
    assert [[f.decode() for f in r[1]] for r in records] == rows
    assert not any(r[2] for r in records), "a well-formed file never needs the tolerant pass"


HEADER = b'"Lot number","Year","VIN","Trim","Sale Date M/D/CY","Sale time (HHMM)","Last Updated Time"\n'
noise = st.lists(
    st.sampled_from([b'"', b",", b"\n", b"\r", b"\r\n", b"1", b"2026", b"A", b" ", b'""', b"\xff", b"\xc3", b"\xa9"]),
    max_size=200,
).map(b"".join)


@given(body=st.one_of(st.binary(max_size=400), noise), with_header=st.booleans())
def test_any_bytes_never_crash_and_every_row_is_accounted_for(body: bytes, with_header: bool) -> None:
    data = (HEADER if with_header else b"") + body
    fd, path = tempfile.mkstemp(suffix=".csv")
    try:
        os.write(fd, data)
        os.close(fd)
        try:
            reader = _core.CsvReader(path, batch_size=7)
        except vinops.VinopsError as e:
            assert e.code in {"empty_file", "missing_lot_number_column"}
            return
        table = pa.RecordBatchReader.from_stream(reader).read_all()
        s = reader.summary()
        assert s["finished"]
        assert s["rows_in"] == s["rows_ok"] + s["rows_quarantined"]
        assert table.num_rows == s["rows_ok"]
        assert s["rows_quarantined"] == len(s["quarantine"])
        assert s["bytes"] == len(data)
        assert table.schema == pa.schema(_core.OutputSchema())
    finally:
        os.unlink(path)
