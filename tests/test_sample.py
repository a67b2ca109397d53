"""`vinops sample`: the synthetic Copart file generator (python/vinops/sample.py)."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from vinops.sample import DEFECT_KINDS, HEADERS, SampleStats, write_sample

WIDTH = 59
# Real shares over 181,249 lots (value-distributions-181k-lots.json) and the Oct 2025 full file.
FRONT_END_SHARE = 93663 / 181249
V_SHARE = 172441 / 181249
SALE_DATE_ZERO_SHARE = 82079 / 153983

HEADER_WHOLESALE = (
    '"Id","Yard number","Yard name","Sale Date M/D/CY","Day of Week","Sale time (HHMM)","Time Zone","Item#",'
    '"Lot number","Vehicle Type","Year","Make","Model Group","Model Detail","Body Style","Color",'
    '"Damage Description","Secondary Damage","Sale Title State","Sale Title Type","Has Keys-Yes or No",'
    '"Lot Cond. Code","VIN","Odometer","Odometer Brand","Est. Retail Value","Repair cost","Engine","Drive",'
    '"Transmission","Fuel Type","Cylinders","Runs/Drives","Sale Status","High Bid =non-vix,Sealed=Vix",'
    '"Special Note","Location city","Location state","Location ZIP","Location country","Currency Code",'
    '"Image Thumbnail","Create Date/Time","Grid/Row","Make-an-Offer Eligible","Buy-It-Now Price","Image URL",'
    '"Trim","Last Updated Time","Rentals","Wholesale","Seller Name","Offsite Address1","Offsite State",'
    '"Offsite City","Offsite Zip","Sale Light","AutoGrade","Announcements"'
)
HEADER_COPART_SELECT = HEADER_WHOLESALE.replace('"Wholesale"', '"Copart Select"')
HEADER_56 = HEADER_COPART_SELECT.removesuffix(',"Sale Light","AutoGrade","Announcements"')
HEADER_49 = HEADER_56.removesuffix(
    ',"Rentals","Copart Select","Seller Name","Offsite Address1","Offsite State","Offsite City","Offsite Zip"'
)
EXPECTED_HEADERS = {
    "wholesale": HEADER_WHOLESALE, "copart_select": HEADER_COPART_SELECT, "56": HEADER_56, "49": HEADER_49,
}  # fmt: skip

MONEY = re.compile(r"^(0\.0|[1-9][0-9]*\.[0-9]{1,2})$")
DB2 = "%Y-%m-%d-%H.%M.%S.%f"
DAYLIGHT = {"EDT", "CDT", "MDT", "PDT", "AKDT"}
STANDARD = {"EST", "CST", "MST", "PST", "ASDT"}  # the feed prints ASDT for Alaska in winter


def _dst(d: date) -> bool:
    march = date(d.year, 3, 8)
    nov = date(d.year, 11, 1)
    return march + timedelta((6 - march.weekday()) % 7) <= d < nov + timedelta((6 - nov.weekday()) % 7)


def tolerant_split(line: str) -> list[str]:
    """docs/normalization.md §1, tolerant pass, for one line: inside a quoted field a quote closes it only
    when followed by a comma or the end of the line."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            j = i + 1
            while True:
                k = line.index('"', j)
                if k + 1 == n or line[k + 1] == ",":
                    break
                j = k + 1
            fields.append(line[i + 1 : k])
            i = k + 1
        else:
            k = line.find(",", i)
            k = n if k < 0 else k
            fields.append(line[i:k])
            i = k
        if i >= n:
            return fields
        i += 1  # the comma


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == ""  # newline-terminated, like the real file
    lines.pop()
    header = next(csv.reader([lines[0]]))
    return header, [tolerant_split(line) for line in lines[1:]]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[SampleStats, list[dict[str, str]], str]:
    path = tmp_path_factory.mktemp("sample") / "salesdata.csv"
    stats = write_sample(path, 20_000, 20260216, defect_rate=0.0)
    header, rows = read_rows(path)
    assert all(len(r) == WIDTH for r in rows)
    return stats, [dict(zip(header, r)) for r in rows], path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------------
# the file


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    digests = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_sample(tmp_path / name, 3000, seed, defect_rate=0.01)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_row_count_and_stats(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    stats = write_sample(path, 1234, 1)
    data = path.read_bytes()
    assert stats == SampleStats(
        path=path, rows=1234, bytes=len(data), header="wholesale", defects=stats.defects,
        relisted_vins=stats.relisted_vins, legacy_vins=stats.legacy_vins,
    )  # fmt: skip
    assert set(stats.defects) == set(DEFECT_KINDS)
    assert data.count(b"\n") == 1235
    assert data.endswith(b'"\n')
    assert write_sample(tmp_path / "empty.csv", 0, 1).rows == 0
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8") == HEADER_WHOLESALE + "\n"


@pytest.mark.parametrize("version", sorted(HEADERS))
def test_header_exact(tmp_path: Path, version: str) -> None:
    path = tmp_path / f"{version}.csv"
    write_sample(path, 300, 2, header=version, defect_rate=0.0)
    first, _, rest = path.read_text(encoding="utf-8").partition("\n")
    assert first == EXPECTED_HEADERS[version]
    width = len(HEADERS[version])
    assert next(csv.reader([first])) == list(HEADERS[version])
    assert all(len(row) == width for row in csv.reader(rest.splitlines()))


def test_headers_match_the_real_files(copart_data: Path) -> None:
    real_59 = (copart_data / "header-59-2025-10.csv").read_text(encoding="utf-8").splitlines()[0]
    real_49 = (copart_data / "raw-excerpt-2020-06-49col.csv").read_bytes().split(b"\n")[0].decode()
    assert HEADER_COPART_SELECT == real_59
    assert HEADER_49 == real_49


def test_every_field_quoted(big: tuple) -> None:
    _, _, text = big
    for line in text.split("\n")[1:2000]:
        fields = tolerant_split(line)
        assert len(fields) == WIDTH
        assert line == '"' + '","'.join(fields) + '"'
        assert '"' not in "".join(fields)  # no stray quotes without the defect


def test_crlf_and_bom(tmp_path: Path) -> None:
    write_sample(tmp_path / "lf.csv", 500, 9)
    write_sample(tmp_path / "crlf.csv", 500, 9, line_ending="\r\n", bom=True)
    lf = (tmp_path / "lf.csv").read_bytes()
    crlf = (tmp_path / "crlf.csv").read_bytes()
    assert crlf.startswith(b"\xef\xbb\xbf\"Id\",")
    assert crlf.count(b"\r\n") == crlf.count(b"\n") == 501
    assert crlf[3:].replace(b"\r\n", b"\n") == lf
    with (tmp_path / "crlf.csv").open(encoding="utf-8-sig", newline="") as f:
        assert next(csv.reader(f))[0] == "Id"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="header"):
        write_sample(tmp_path / "x", 1, 1, header="45")
    with pytest.raises(ValueError, match="line_ending"):
        write_sample(tmp_path / "x", 1, 1, line_ending="\r")
    with pytest.raises(ValueError, match="defect_rate"):
        write_sample(tmp_path / "x", 1, 1, defect_rate=2)


# --------------------------------------------------------------------------------------------------------
# values


def test_vins_have_valid_check_digits(big: tuple) -> None:
    import vininfo
    _, rows, _ = big
    codes = "ABCDEFGHJKLMNPRSTVWXY123456789"
    full = [r for r in rows if len(r["VIN"]) == 17]
    assert len(full) > 0.99 * len(rows)
    for r in full:
        vin = r["VIN"]
        assert re.fullmatch(r"[0-9A-HJ-NPR-Z]{17}", vin), vin
        assert vininfo.Vin(vin).verify_checksum(check_year=False), vin
        assert vin[9] == codes[(int(r["Year"]) - 1980) % 30], (vin, r["Year"])
    # the rest are pre-1981 vehicles with short manufacturer serials
    assert all(int(r["Year"]) < 1981 and 11 <= len(r["VIN"]) <= 13 for r in rows if len(r["VIN"]) != 17)


def test_distributions_roughly_real(big: tuple) -> None:
    _, rows, _ = big
    n = len(rows)
    damage = Counter(r["Damage Description"] for r in rows)
    assert damage.most_common(1)[0][0] == "FRONT END"
    assert abs(damage["FRONT END"] / n - FRONT_END_SHARE) < 0.02
    assert abs(sum(r["Vehicle Type"] == "V" for r in rows) / n - V_SHARE) < 0.01
    assert abs(sum(r["Sale Date M/D/CY"] == "0" for r in rows) / n - SALE_DATE_ZERO_SHARE) < 0.02
    assert len({r["Make"] for r in rows}) > 150
    assert len({r["Yard name"] for r in rows}) > 150
    engines = Counter(r["Engine"] for r in rows)
    assert engines["2.4L  4"] > 0 and engines["2.4L 4"] > 0  # legacy and new spacing


def test_lots_and_relists(big: tuple) -> None:
    stats, rows, _ = big
    lots = [r["Lot number"] for r in rows]
    assert len(set(lots)) == len(lots)
    assert all(re.fullmatch(r"[1-9][0-9]{7}", lot) for lot in lots)
    assert [r["Id"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    shared = [v for v, c in Counter(r["VIN"] for r in rows).items() if c > 1]
    assert len(shared) == stats.relisted_vins >= 1
    for vin in shared:
        pair = [r for r in rows if r["VIN"] == vin]
        assert pair[0]["Lot number"] != pair[1]["Lot number"]
        assert (pair[0]["Make"], pair[0]["Year"]) == (pair[1]["Make"], pair[1]["Year"])


def test_sale_date_time_zone(big: tuple) -> None:
    _, rows, _ = big
    start = date(2026, 2, 16)
    for r in rows:
        tz = r["Time Zone"]
        if r["Sale Date M/D/CY"] == "0":
            assert r["Day of Week"] == r["Sale time (HHMM)"] == "" and r["Item#"] == "0"
            day = start
        else:
            day = datetime.strptime(r["Sale Date M/D/CY"], "%Y%m%d").date()
            assert abs((day - start).days) <= 30
            assert r["Day of Week"] == day.strftime("%A").upper()
            assert re.fullmatch(r"(7|8|9|1[0-9]|20|21)00", r["Sale time (HHMM)"])
        name = r["Yard name"]
        if name.startswith("AZ - "):
            assert tz == ("PDT" if _dst(day) else "MST")
        elif name == "ATLANTIC CANADA AUCTION" or name[:2] in ("NB", "NS"):
            assert tz == "AKST"
        elif tz in DAYLIGHT | STANDARD:
            assert (tz in DAYLIGHT) == _dst(day), (name, day, tz)
        else:
            assert tz == "HST"


def test_row_consistency(big: tuple) -> None:
    _, rows, _ = big
    pairs = {"D": "Run & Drive Verified", "S": "Vehicle Starts", "E": "DEFAULT", "": ""}
    created = [datetime.strptime(r["Create Date/Time"], DB2) for r in rows]
    assert created[0] == datetime(2026, 2, 16, 7, 25, 12, 1)
    assert all(b - a == timedelta(microseconds=1) for a, b in zip(created, created[1:]))
    for r in rows:
        assert pairs[r["Lot Cond. Code"]] == r["Runs/Drives"]
        assert (r["Currency Code"], r["Location country"]) in {("USD", "USA"), ("CAD", "CAN")}
        for col in ("Est. Retail Value", "Repair cost", "High Bid =non-vix,Sealed=Vix", "Buy-It-Now Price"):
            assert MONEY.match(r[col]), (col, r[col])
        assert re.fullmatch(r"(0|[1-9][0-9]*)\.0", r["Odometer"])
        assert r["Image URL"] == (
            f"http://inventoryv2.copart.io/v1/lotImages/{r['Lot number']}"
            f"?country=us&brand=cprt&yardNumber={r['Yard number']}"
        )
        assert r["Image Thumbnail"] == "" or r["Image Thumbnail"].startswith("cs.copart.com/v1/AUTH_svc.pdoc00001/")
        assert r["Grid/Row"] == "" or len(r["Grid/Row"]) == 5
        assert re.fullmatch(r"2026-0[12]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z", r["Last Updated Time"])
        assert r["Last Updated Time"] <= "2026-02-16T07:25:12Z"
        assert r["Make-an-Offer Eligible"] == "N" or r["Sale Status"] == "On Minimum Bid"
        assert r["Wholesale"] == ("Y" if r["Yard number"] == "855" else "N")
    assert any(r["Grid/Row"].startswith(" ") for r in rows)
    notes = [r["Special Note"] for r in rows if r["Special Note"]]
    assert notes and any(len(s) == 28 and s.endswith(" ") for s in notes)


def test_start_moves_the_window(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_sample(path, 2000, 3, start=datetime(2025, 7, 1, 12, 0, 0))
    _, rows = read_rows(path)
    dated = [datetime.strptime(r[3], "%Y%m%d").date() for r in rows if r[3] != "0"]
    assert dated and all(abs((d - date(2025, 7, 1)).days) <= 30 for d in dated)
    assert rows[0][42] == "2025-07-01-12.00.00.000001"
    assert {r[6] for r in rows if r[2].startswith("AZ - ")} <= {"PDT"}


# --------------------------------------------------------------------------------------------------------
# defects


def test_defects(tmp_path: Path) -> None:
    stats = write_sample(tmp_path / "d.csv", 4000, 11, defect_rate=0.05)
    clean = write_sample(tmp_path / "clean.csv", 4000, 11, defect_rate=0.0)
    assert all(stats.defects[k] > 0 for k in DEFECT_KINDS), stats.defects
    assert clean.defects == dict.fromkeys(DEFECT_KINDS, 0)

    lines = (tmp_path / "d.csv").read_text(encoding="utf-8").split("\n")[1:-1]
    _, clean_rows = read_rows(tmp_path / "clean.csv")
    assert len(lines) == len(clean_rows) == 4000
    seen = Counter()
    misread = 0
    for line, ok in zip(lines, clean_rows):
        row = tolerant_split(line)
        assert len(row) == WIDTH  # every defective row still parses under the rules
        quoted = False
        for i in (j for j in range(WIDTH) if row[j] != ok[j]):
            got, was = row[i], ok[i]
            if i == 22:  # VIN
                if got == "":
                    seen["missing_vin"] += 1
                elif got.strip() == was.lower() and got != got.strip():
                    seen["lowercase_vin"] += 1
                else:
                    assert 11 <= len(got) <= 13 and got.isalnum() and got.isupper(), got
                    seen["short_vin"] += 1
            elif i in (13, 47) and '"' in got:  # Model Detail, Trim
                assert got.endswith('"') if i == 13 else '" ' in got
                seen["unescaped_quote"] += 1
                quoted = True
            else:
                assert got.strip() == was.strip() and got != was, (i, got, was)
                seen["padding"] += 1
        if len(next(csv.reader([line]))) != WIDTH:
            misread += 1  # Python's csv module splits a row only where the quote defect is
            assert quoted, line
    assert seen == Counter(stats.defects)
    assert 0 < misread <= stats.defects["unescaped_quote"]
    assert stats.legacy_vins == clean.legacy_vins
