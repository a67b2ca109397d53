"""The taxonomy data (sql/taxonomy) against the real feed values, and the loader's validation."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from vinops.taxonomy import DOMAINS, ID_BLOCK, Taxonomy, domain_ids, fold, load

REPO = Path(__file__).resolve().parents[1]
TAXONOMY_DIR = REPO / "sql" / "taxonomy"
# The real samples, the repository's copy (tests/data/copart/PROVENANCE.md).
SHARED = REPO / "tests" / "data" / "copart"
DISTRIBUTIONS = SHARED / "value-distributions-181k-lots.json"
TITLE_CODES_OBSERVED = SHARED / "title-codes-observed.tsv"
TITLE_CODES_LEGACY = SHARED / "title-code-descriptions-legacy.tsv"
REAL_ROWS = SHARED / "real-rows-147.csv"

# Field of the distribution file (camelCase) → taxonomy domain.
DISTRIBUTION_FIELDS = {
    "vehicleType": "vehicle_type",
    "bodyStyle": "body_style",
    "exteriorColor": "color",
    "damageDescription": "damage",
    "secondaryDamage": "damage",
    "saleTitleType": "title_type",
    "hasKeys": "has_keys",
    "lotCondCode": "condition",
    "runsDrives": "condition",
    "odometerBrand": "odometer_brand",
    "drivetrain": "drive",
    "transmission": "transmission",
    "fuelType": "fuel",
    "saleStatus": "sale_type",
    "saleLight": "sale_light",
    "announcements": "announcement",
}
# Real header name of the feed → taxonomy domain.
HEADER_FIELDS = {
    "Vehicle Type": "vehicle_type",
    "Body Style": "body_style",
    "Color": "color",
    "Damage Description": "damage",
    "Secondary Damage": "damage",
    "Sale Title Type": "title_type",
    "Has Keys-Yes or No": "has_keys",
    "Lot Cond. Code": "condition",
    "Runs/Drives": "condition",
    "Odometer Brand": "odometer_brand",
    "Drive": "drive",
    "Transmission": "transmission",
    "Fuel Type": "fuel",
    "Sale Status": "sale_type",
    "Sale Light": "sale_light",
    "Announcements": "announcement",
}
# Field of the distribution file → the feed's header name.
_FIELD_HEADER = {
    "vehicleType": "Vehicle Type",
    "bodyStyle": "Body Style",
    "exteriorColor": "Color",
    "damageDescription": "Damage Description",
    "secondaryDamage": "Secondary Damage",
    "saleTitleType": "Sale Title Type",
    "hasKeys": "Has Keys-Yes or No",
    "lotCondCode": "Lot Cond. Code",
    "runsDrives": "Runs/Drives",
    "odometerBrand": "Odometer Brand",
    "drivetrain": "Drive",
    "transmission": "Transmission",
    "fuelType": "Fuel Type",
    "saleStatus": "Sale Status",
    "saleLight": "Sale Light",
    "announcements": "Announcements",
}
# Feed header name → the parser's code column.
_HEADER_CODE_COLUMN = {
    "Vehicle Type": "vehicle_type_code",
    "Body Style": "body_style_code",
    "Color": "color_code",
    "Damage Description": "damage_primary_code",
    "Secondary Damage": "damage_secondary_code",
    "Sale Title Type": "title_type_code",
    "Has Keys-Yes or No": "has_keys_code",
    "Lot Cond. Code": "lot_cond_code",
    "Runs/Drives": "runs_drives_code",
    "Odometer Brand": "odometer_brand_code",
    "Drive": "drive_code",
    "Transmission": "transmission_code",
    "Fuel Type": "fuel_code",
    "Sale Status": "sale_status_code",
    "Sale Light": "sale_light_code",
    "Announcements": "announcement_codes",
}
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
PLACEHOLDER = re.compile(r"TODO|TBD|FIXME|XXX|\?", re.IGNORECASE)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load(TAXONOMY_DIR)


def _items(field: str, value: str) -> list[str]:
    """The raw values a feed cell holds: announcements are a comma list, other fields one value."""
    if field in ("announcements", "Announcements"):
        return [item for item in value.split(",") if item.strip()]
    return [value] if value.strip() else []


def _read_csv(name: str) -> list[dict[str, str]]:
    with (TAXONOMY_DIR / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _observed_title_codes() -> dict[str, set[str]]:
    """Title code → the states listed for it in title-codes-observed.tsv."""
    codes: dict[str, set[str]] = {}
    lines = TITLE_CODES_OBSERVED.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t")[0] == "code"
    for line in lines[1:]:
        code, _count, _desc, states = line.split("\t")
        if code != "(empty)":
            codes[code] = {part.split(":")[0].strip() for part in states.split(",") if part.strip()}
    return codes


# --- the real values ---------------------------------------------------------------------------------


def test_every_distribution_value_maps_to_a_labelled_term(taxonomy: Taxonomy) -> None:
    fields = json.loads(DISTRIBUTIONS.read_text(encoding="utf-8"))["fields"]
    assert set(DISTRIBUTION_FIELDS.values()) == set(DOMAINS), "a domain is not checked against the real values"
    assert set(HEADER_FIELDS.values()) == set(DOMAINS)
    listed = {(v.domain, v.raw) for v in taxonomy.values}
    unmapped, not_verbatim = [], []
    for field, domain in DISTRIBUTION_FIELDS.items():
        distribution = fields[field]
        assert len(distribution["values"]) == distribution["distinct"], f"{field}: value list is truncated"
        for value, _count in distribution["values"]:
            for raw in _items(field, value):
                term = taxonomy.lookup(domain, raw)
                if term is None or not term.en.strip() or not term.ru.strip():
                    unmapped.append((field, raw))
                if (domain, raw) not in listed:
                    not_verbatim.append((field, raw))
    assert not unmapped, f"values without a labelled term: {unmapped}"
    assert not not_verbatim, f"values not listed verbatim in values.csv: {not_verbatim}"


@pytest.mark.parametrize("engine", ["rust", "python"])
def test_real_values_through_the_parser_are_all_known(taxonomy: Taxonomy, tmp_path: Path, engine: str) -> None:
    """Every distinct value of the 181k lots, each in its own row of a feed file, parsed with the matcher the
    ingest uses: no unknown value (unknown rate 0), a code labelled in both languages for every non-empty cell."""
    from vinops.parse import parse_file
    from vinops.sample import HEADERS

    assert {f: HEADER_FIELDS[h] for f, h in _FIELD_HEADER.items()} == DISTRIBUTION_FIELDS
    header = HEADERS["wholesale"]
    fields = json.loads(DISTRIBUTIONS.read_text(encoding="utf-8"))["fields"]
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(header)
    cells: list[tuple[str, str]] = []  # (header name, value) of each row
    for field, column in _FIELD_HEADER.items():
        for value, _count in fields[field]["values"]:
            row = dict.fromkeys(header, "")
            row["Lot number"] = str(10_000_000 + len(cells))
            row[column] = value
            writer.writerow([row[h] for h in header])
            cells.append((column, value))
    path = tmp_path / "distinct-values.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    table, summary = parse_file(path, engine=engine, taxonomy=taxonomy.matcher_mapping())
    assert summary["rows_quarantined"] == 0 and summary["rows_ok"] == len(cells)
    assert summary["unknown"] == {}
    assert summary["categorical_cells"] >= sum(1 for _, v in cells if v.strip())
    ids = {t.id: t for t in taxonomy.terms}
    codes = {column: table.column(name).to_pylist() for column, name in _HEADER_CODE_COLUMN.items()}
    for i, (column, value) in enumerate(cells):
        found = codes[column][i]
        items = _items(column, value)
        got = (found or []) if column == "Announcements" else [found] if found is not None else []
        assert len(got) == len(items), (column, value, found)
        for term_id in got:
            assert ids[term_id].en.strip() and ids[term_id].ru.strip(), (column, value)


def test_every_value_of_the_real_rows_maps(taxonomy: Taxonomy) -> None:
    with REAL_ROWS.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 147
    unmapped = {
        (header, raw)
        for row in rows
        for header, domain in HEADER_FIELDS.items()
        for raw in _items(header, row[header] or "")
        if taxonomy.lookup(domain, raw) is None
    }
    assert not unmapped, f"unmapped values: {sorted(unmapped)}"


def test_every_title_code_is_covered(taxonomy: Taxonomy) -> None:
    observed = _observed_title_codes()
    assert len(observed) == 178  # 179 distinct values in the feed, one of them empty
    legacy = [line.split("\t")[0] for line in TITLE_CODES_LEGACY.read_text(encoding="utf-8").splitlines()[1:]]
    codes = {t.code for t in taxonomy.terms if t.domain == "title_type"}
    raws = {v.raw for v in taxonomy.values if v.domain == "title_type"}
    missing = sorted((set(observed) | set(legacy)) - (codes & raws))
    assert not missing, f"title codes without a term and a value: {missing}"
    for code in observed:
        assert taxonomy.lookup("title_type", code) == taxonomy.term("title_type", code)


def test_title_state_labels_have_evidence(taxonomy: Taxonomy) -> None:
    observed = _observed_title_codes()
    assert taxonomy.title_state_labels
    for label in taxonomy.title_state_labels:
        assert label.state in observed.get(label.code, set()), (
            f"{label.code}/{label.state}: the state is not among the code's observed title states"
        )
    sr_quebec = taxonomy.title_label("SR", "QC")
    assert sr_quebec is not None and sr_quebec != taxonomy.title_label("SR", "MI")
    general = taxonomy.term("title_type", "SR")
    assert taxonomy.title_label("SR", "MI") == (general.en, general.ru)
    assert taxonomy.title_label("SR", None) == (general.en, general.ru)


def test_both_vocabularies_map_to_one_code(taxonomy: Taxonomy) -> None:
    same = {
        "drive": [
            ("Front-wheel Drive", "FRONT WHEEL DRIVE", "Front Wheel Drive"),
            ("Rear-wheel drive", "REAR WHEEL DRIVE", "Rear Wheel Drive"),
            ("All wheel drive", "ALL WHEEL DRIVE", "All Wheel Drive"),
            ("4x4 w/Rear Wheel Drv", "4X4 W/REAR WHEEL DRV", "Rear Wheel Drive w/4x4"),
            ("4x4 w/Front Whl Drv", "4X4 W/FRONT WHL DRV", "Front Wheel Drive w/4x4"),
        ],
        "fuel": [("FLEXIBLE FUEL", "FLEXIBLE", "Flexible"), ("HYBRID ENGINE", "ELECTRIC AND GAS HYBRID")],
        "body_style": [("SEDAN 4D", "SEDAN", "Sedan"), ("4DR SPOR", "4DR SPORT UTILITY"), ("CREW PIC", "CREW PICKUP")],
        "condition": [("D", "Run & Drive Verified"), ("S", "Vehicle Starts"), ("E", "DEFAULT")],
        "transmission": [("AUTOMATIC", "Automatic"), ("MANUAL", "Manual")],
    }
    for domain, groups in same.items():
        for group in groups:
            terms = {taxonomy.lookup(domain, raw) for raw in group}
            assert len(terms) == 1 and None not in terms, f"{domain}: {group} map to {terms}"
    assert taxonomy.lookup("condition", "D") != taxonomy.lookup("condition", "S")
    assert taxonomy.lookup("drive", "AWD") is None  # only exact spellings match, nothing fuzzy
    assert taxonomy.lookup("damage", "WATER/FLOOD").code == "WATER_FLOOD"  # type: ignore[union-attr]


# --- the files themselves ----------------------------------------------------------------------------


def test_labels_are_real_words(taxonomy: Taxonomy) -> None:
    for term in taxonomy.terms:
        for text in (term.en, term.ru):
            assert text.strip(), f"{term.domain}/{term.code}: empty label"
            assert not PLACEHOLDER.search(text), f"{term.domain}/{term.code}: placeholder in {text!r}"
        assert CYRILLIC.search(term.ru), f"{term.domain}/{term.code}: Russian label without Cyrillic: {term.ru!r}"
        assert not CYRILLIC.search(term.en), f"{term.domain}/{term.code}: Cyrillic in the English label"
    for label in taxonomy.title_state_labels:
        assert not PLACEHOLDER.search(label.en) and not PLACEHOLDER.search(label.ru), label
        assert CYRILLIC.search(label.ru) and not CYRILLIC.search(label.en), label


def test_ids_are_unique_and_inside_their_block() -> None:
    rows = _read_csv("terms.csv")
    ids = Counter(int(row["id"]) for row in rows)
    assert not [i for i, n in ids.items() if n > 1], "duplicate ids"
    for row in rows:
        start = (DOMAINS.index(row["domain"]) + 1) * ID_BLOCK
        assert start <= int(row["id"]) < start + ID_BLOCK, row
        assert int(row["id"]) in domain_ids(row["domain"])
    assert max(ids) <= 32767


def test_codes_are_unique_per_domain_and_every_domain_is_filled(taxonomy: Taxonomy) -> None:
    rows = _read_csv("terms.csv")
    codes = Counter((row["domain"], row["code"]) for row in rows)
    assert not [c for c, n in codes.items() if n > 1], "duplicate codes"
    for row in rows:
        assert re.fullmatch(r"[A-Z0-9]+(?:_[A-Z0-9]+)*", row["code"]), row["code"]
    assert {t.domain for t in taxonomy.terms} == set(DOMAINS)


def test_every_term_has_a_raw_value(taxonomy: Taxonomy) -> None:
    used = {(v.domain, v.code) for v in taxonomy.values}
    orphans = [(t.domain, t.code) for t in taxonomy.terms if (t.domain, t.code) not in used]
    assert not orphans, f"terms no raw value maps to: {orphans}"


def test_spellings_that_fold_alike_map_alike() -> None:
    seen: dict[tuple[str, str], str] = {}
    for row in _read_csv("values.csv"):
        key = (row["domain"], fold(row["raw"]))
        assert row["raw"].strip(), row
        assert seen.setdefault(key, row["code"]) == row["code"], row


def test_matcher_mapping(taxonomy: Taxonomy) -> None:
    mapping = taxonomy.matcher_mapping()
    assert set(mapping) == set(DOMAINS)
    ids = {t.id for t in taxonomy.terms}
    for domain, table in mapping.items():
        assert table, domain
        for key, term_id in table.items():
            assert key == fold(key) and key
            assert term_id in ids and term_id in domain_ids(domain)
    fwd = taxonomy.term("drive", "FWD").id
    assert mapping["drive"][fold("Front-wheel Drive")] == mapping["drive"][fold("FRONT WHEEL DRIVE")] == fwd
    assert mapping["damage"]["WATER/FLOOD"] == taxonomy.term("damage", "WATER_FLOOD").id
    assert mapping["announcement"]["MAINTENANCE"] == taxonomy.term("announcement", "MAINTENANCE").id


def test_fold() -> None:
    assert fold("  Front-wheel \t  Drive\r\n") == "FRONT-WHEEL DRIVE"
    assert fold("2.4l  4") == "2.4L 4"
    assert fold("électrique") == "éLECTRIQUE"  # only ASCII letters change case
    assert fold("A\u00a0B") == "A\u00a0B"  # a no-break space is not ASCII whitespace
    assert fold("\v\f") == ""
    assert fold(fold(" run  & drive verified ")) == fold(" run  & drive verified ") == "RUN & DRIVE VERIFIED"


def test_default_directory_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "taxonomy")
    monkeypatch.setenv("VINOPS_SQL_DIR", str(tmp_path))
    assert [t.code for t in load().terms] == ["FWD", "RWD"]
    monkeypatch.delenv("VINOPS_SQL_DIR")
    assert len(load().terms) == len(load(TAXONOMY_DIR).terms)


# --- loader errors -----------------------------------------------------------------------------------

TERMS_OK = "domain,id,code,en,ru\ndrive,9001,FWD,Front-wheel drive,Передний привод\ndrive,9002,RWD,Rear-wheel drive,Задний привод\n"
VALUES_OK = "domain,raw,code\ndrive,Front-wheel Drive,FWD\ndrive,FRONT WHEEL DRIVE,FWD\ndrive,Rear-wheel drive,RWD\n"
LABELS_OK = "code,state,en,ru\n"


def _write(directory: Path, terms: str = TERMS_OK, values: str = VALUES_OK, labels: str = LABELS_OK) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "terms.csv").write_text(terms, encoding="utf-8")
    (directory / "values.csv").write_text(values, encoding="utf-8")
    (directory / "title_state_labels.csv").write_text(labels, encoding="utf-8")
    return directory


def test_minimal_files_load(tmp_path: Path) -> None:
    taxonomy = load(_write(tmp_path))
    assert taxonomy.matcher_mapping()["drive"] == {"FRONT-WHEEL DRIVE": 9001, "FRONT WHEEL DRIVE": 9001, "REAR-WHEEL DRIVE": 9002}
    assert taxonomy.matcher_mapping()["color"] == {}


@pytest.mark.parametrize(
    ("files", "where", "message"),
    [
        pytest.param(
            {"terms": TERMS_OK + "drive,9003,AWD,All-wheel drive\n"}, "terms.csv:4", "expected 5 fields", id="field-count"
        ),
        pytest.param({"terms": "domain;id;code;en;ru\n"}, "terms.csv:1", "header", id="bad-header"),
        pytest.param({"terms": ""}, "terms.csv", "empty file", id="empty-file"),
        pytest.param(
            {"terms": TERMS_OK + 'drive,9003,AWD,"All-wheel drive\n'}, "terms.csv:4", "malformed CSV", id="open-quote"
        ),
        pytest.param(
            {"terms": TERMS_OK + "wheels,9003,AWD,All-wheel drive,Полный привод\n"},
            "terms.csv:4",
            "unknown domain 'wheels'",
            id="unknown-domain-term",
        ),
        pytest.param(
            {"values": VALUES_OK + "wheels,AWD,AWD\n"}, "values.csv:5", "unknown domain 'wheels'", id="unknown-domain-value"
        ),
        pytest.param(
            {"values": VALUES_OK + "drive,All wheel drive,AWD\n"}, "values.csv:5", "'AWD', which is not in", id="missing-code"
        ),
        pytest.param(
            {"terms": TERMS_OK + "drive,9002,AWD,All-wheel drive,Полный привод\n"},
            "terms.csv:4",
            "duplicate id 9002 (first on line 3)",
            id="duplicate-id",
        ),
        pytest.param(
            {"terms": TERMS_OK + "color,9003,WHITE,White,Белый\n"}, "terms.csv:4", "outside the block of color", id="id-block"
        ),
        pytest.param(
            {"terms": TERMS_OK + "drive,9003,RWD,Rear,Задний\n"}, "terms.csv:4", "duplicate code 'RWD'", id="duplicate-code"
        ),
        pytest.param(
            {"terms": TERMS_OK + "drive,9003,all-wheel,All-wheel drive,Полный привод\n"},
            "terms.csv:4",
            "not upper-snake",
            id="bad-code",
        ),
        pytest.param(
            {"terms": TERMS_OK + "drive,9003,AWD,All-wheel drive,\n"}, "terms.csv:4", "empty ru label", id="empty-label"
        ),
        pytest.param(
            {"values": VALUES_OK + "drive,  rear-WHEEL   drive ,FWD\n"},
            "values.csv:5",
            "'Rear-wheel drive' (line 4) folds to the same text 'REAR-WHEEL DRIVE' and maps to 'RWD'",
            id="fold-conflict",
        ),
        pytest.param(
            {"values": VALUES_OK + "drive,Rear-wheel drive,RWD\n"}, "values.csv:5", "duplicate drive value", id="duplicate-value"
        ),
        pytest.param({"values": VALUES_OK + "drive, ,RWD\n"}, "values.csv:5", "empty raw value", id="empty-raw"),
        pytest.param(
            {"labels": LABELS_OK + "SR,QC,Severely damaged,Серьёзно повреждён\n"},
            "title_state_labels.csv:2",
            "title code 'SR' is not a title_type code",
            id="label-unknown-code",
        ),
    ],
)
def test_loader_rejects(tmp_path: Path, files: dict[str, str], where: str, message: str) -> None:
    directory = _write(tmp_path, **files)
    with pytest.raises(ValueError) as caught:
        load(directory)
    text = str(caught.value)
    assert f"{directory / where.split(':')[0]}" in text
    assert f"{where}:" in text or where.count(":") == 0, text
    assert message in text, text


def test_loader_rejects_a_bad_state(tmp_path: Path) -> None:
    terms = TERMS_OK + "title_type,5001,SR,Severely damaged,Серьёзно повреждён\n"
    values = VALUES_OK + "title_type,SR,SR\n"
    load(_write(tmp_path, terms, values, LABELS_OK + "SR,QC,Quebec: severely damaged,Квебек: серьёзно повреждён\n"))
    with pytest.raises(ValueError, match=r"title_state_labels\.csv:2: state 'Quebec'"):
        load(_write(tmp_path, terms, values, LABELS_OK + "SR,Quebec,Quebec: severely damaged,Квебек\n"))
    with pytest.raises(ValueError, match=r"title_state_labels\.csv:3: duplicate label for SR in QC"):
        load(_write(tmp_path, terms, values, LABELS_OK + "SR,QC,Quebec,Квебек\nSR,QC,Quebec again,Квебек\n"))


def test_loader_rejects_invalid_utf8(tmp_path: Path) -> None:
    directory = _write(tmp_path)
    (directory / "values.csv").write_bytes(b"domain,raw,code\ndrive,\xff,FWD\n")
    with pytest.raises(ValueError, match=r"values\.csv: not valid UTF-8"):
        load(directory)
