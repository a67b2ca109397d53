"""Taxonomy in the database: labels of loaded lots (lot_labels / vehicle_labels, migration 0002), unknown
values counted per window in audit.unknown_values, and `vinops taxonomy unknown`."""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from lotrows import T0, code, ingest, lot, source, table
from lotrows import load as load_window

from vinops.cli import main
from vinops.config import Settings, sql_dir
from vinops.parse import parse_file
from vinops.sample import write_sample
from vinops.taxonomy import Taxonomy, load
from vinops.taxonomy_tables import seed_taxonomy

pytestmark = pytest.mark.db

CYRILLIC = re.compile(r"[\u0400-\u04FF]")
TX: Taxonomy = load()
BY_ID = {t.id: t for t in TX.terms}

#: The coded columns of lots: (column, domain). Their labels in lot_labels have the column's name.
LOT_FIELDS = [
    ("vehicle_type", "vehicle_type"),
    ("body_style", "body_style"),
    ("color", "color"),
    ("damage_primary", "damage"),
    ("damage_secondary", "damage"),
    ("title_type", "title_type"),
    ("has_keys", "has_keys"),
    ("lot_cond", "condition"),
    ("runs_drives", "condition"),
    ("odometer_brand", "odometer_brand"),
    ("drive", "drive"),
    ("transmission", "transmission"),
    ("fuel", "fuel"),
    ("sale_status", "sale_type"),
    ("sale_light", "sale_light"),
]
VEHICLE_FIELDS = ["vehicle_type", "body_style", "color", "drive", "transmission", "fuel"]


def _rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[dict[str, Any]]:
    cur = conn.execute(query, params)
    cols = [d.name for d in cur.description or []]
    out = [dict(zip(cols, r)) for r in cur.fetchall()]
    conn.rollback()
    return out


def _expected_label(domain: str, term_id: int, lang: str, title_state: str | None) -> str:
    term = BY_ID[term_id]
    assert term.domain == domain
    if domain == "title_type":
        en, ru = TX.title_label(term.code, title_state)  # type: ignore[misc]
        return ru if lang == "ru" else en
    return term.ru if lang == "ru" else term.en


# --- labels of loaded lots ---------------------------------------------------------------------------------


def test_russian_labels_of_a_loaded_sample(db_url: str, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "sample.csv"
    write_sample(path, rows=400, seed=11)
    r = ingest(path, settings, database_url=db_url, store_raw=False)
    assert r["rows_loaded"] > 390
    with psycopg.connect(db_url) as conn:
        lots = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lots")}
        ru = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lot_labels('ru')")}
        en = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lot_labels('en')")}
    assert set(ru) == set(en) == set(lots)
    checked = 0
    for n, row in lots.items():
        for field, domain in LOT_FIELDS:
            term_id = row[f"{field}_code"]
            if term_id is None:
                assert ru[n][field] is None and ru[n][f"{field}_code"] is None, (n, field)
                continue
            label = ru[n][field]
            assert label and CYRILLIC.search(label), (n, field, label)
            assert label == _expected_label(domain, term_id, "ru", row["title_state"]), (n, field)
            assert en[n][field] == _expected_label(domain, term_id, "en", row["title_state"]), (n, field)
            assert not CYRILLIC.search(en[n][field]), (n, field)
            assert ru[n][f"{field}_code"] == en[n][f"{field}_code"] == BY_ID[term_id].code
            checked += 1
        codes = row["announcement_codes"]
        if codes is None:
            assert ru[n]["announcements"] is None and ru[n]["announcement_codes"] is None
        else:
            assert ru[n]["announcement_codes"] == [BY_ID[i].code for i in codes]
            assert ru[n]["announcements"] == [BY_ID[i].ru for i in codes]
            assert en[n]["announcements"] == [BY_ID[i].en for i in codes]
            assert all(CYRILLIC.search(x) for x in ru[n]["announcements"])
            checked += 1
    assert checked > 400 * 10
    # one lot with (nearly) every field mapped: each label Russian
    full = max(lots.values(), key=lambda x: sum(x[f"{f}_code"] is not None for f, _ in LOT_FIELDS))
    labels = ru[full["lot_number"]]
    mapped = [f for f, _ in LOT_FIELDS if full[f"{f}_code"] is not None]
    assert len(mapped) >= 12
    assert all(CYRILLIC.search(labels[f]) for f in mapped), labels


def test_vehicle_labels(db_url: str, settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "sample.csv"
    write_sample(path, rows=100, seed=12)
    ingest(path, settings, database_url=db_url, store_raw=False)
    with psycopg.connect(db_url) as conn:
        vehicles = {x["vin"]: x for x in _rows(conn, "SELECT * FROM vehicles")}
        ru = {x["vin"]: x for x in _rows(conn, "SELECT * FROM vehicle_labels('ru')")}
    assert len(vehicles) > 50 and set(ru) == set(vehicles)
    for vin, v in vehicles.items():
        for field in VEHICLE_FIELDS:
            term_id = v[f"{field}_code"]
            if term_id is None:
                assert ru[vin][field] is None
            else:
                assert ru[vin][field] == BY_ID[term_id].ru and CYRILLIC.search(ru[vin][field])
                assert ru[vin][f"{field}_code"] == BY_ID[term_id].code


def test_title_state_label_announcements_and_unknown_values(conn: psycopg.Connection, settings: Settings) -> None:
    maint, safety = code("announcement", "Maintenance"), code("announcement", "Safety")
    sr = code("title_type", "SR")
    rows = [
        lot(1, title_state="QC", title_type="SR", title_type_code=sr, announcements="Safety,Maintenance",
            announcement_codes=[safety, maint]),
        lot(2, title_state="MI", title_type="SR", title_type_code=sr),
        lot(3, color="PUCE", color_code=None, drive=None, drive_code=None),
    ]  # fmt: skip
    load_window(conn, source(rows), settings, store_raw=False)
    ru = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lot_labels('ru') ORDER BY lot_number")}
    en = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lot_labels(%s)", ("en",))}
    quebec = TX.title_label("SR", "QC")
    general = TX.term("title_type", "SR")
    assert quebec is not None and quebec != (general.en, general.ru)
    assert (en[1]["title_type"], ru[1]["title_type"]) == quebec
    assert (en[2]["title_type"], ru[2]["title_type"]) == (general.en, general.ru)
    assert ru[1]["title_type_code"] == ru[2]["title_type_code"] == "SR"
    assert ru[1]["announcement_codes"] == ["SAFETY", "MAINTENANCE"]
    assert ru[1]["announcements"] == [TX.term("announcement", "SAFETY").ru, TX.term("announcement", "MAINTENANCE").ru]
    assert en[1]["announcements"] == [TX.term("announcement", "SAFETY").en, TX.term("announcement", "MAINTENANCE").en]
    assert ru[2]["announcements"] is None
    # an unknown value: raw text on the lot, no code and no label
    assert (ru[3]["color_code"], ru[3]["color"], ru[3]["drive"]) == (None, None, None)
    assert conn.execute("SELECT color, color_code FROM lots WHERE lot_number = 3").fetchone() == ("PUCE", None)
    conn.rollback()


def test_label_lookup_by_lot_number_is_an_index_lookup(conn: psycopg.Connection, settings: Settings) -> None:
    load_window(conn, source([lot(n) for n in range(1, 30)]), settings, store_raw=False)
    conn.execute("ANALYZE lots")
    conn.execute("ANALYZE vehicles")
    conn.execute("SET enable_seqscan = off")  # tiny tables: make the only acceptable plan the cheap one
    for query, params, index in [
        ("SELECT * FROM lot_labels('ru') WHERE lot_number = 7", None, "lots_pkey"),
        ("SELECT * FROM lot_labels(%s) WHERE lot_number = %s", ("en", 7), "lots_pkey"),
        ("SELECT * FROM vehicle_labels('ru') WHERE vin = %s", (lot(7)["vin"],), "vehicles_pkey"),
    ]:
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {query}", params).fetchall())
        assert "Function Scan on lot_labels" not in plan and "Function Scan on vehicle_labels" not in plan, plan
        assert f"Index Scan using {index}" in plan, plan
        assert "Seq Scan on lots" not in plan and "Seq Scan on vehicles" not in plan, plan
    conn.rollback()
    row = _rows(conn, "SELECT lot_number, color FROM lot_labels('ru') WHERE lot_number = 7")
    assert row == [{"lot_number": 7, "color": TX.term("color", "WHITE").ru}]


@pytest.mark.parametrize("lang", ["de", "RU", "", " en", None])
def test_unsupported_language_is_an_error(conn: psycopg.Connection, lang: str | None) -> None:
    for function in ("lot_labels", "vehicle_labels"):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"unsupported label language .*en and ru"):
            conn.execute(f"SELECT * FROM {function}(%s) LIMIT 0", (lang,)).fetchall()  # no rows: still an error
        conn.rollback()


# --- unknown values through real windows ------------------------------------------------------------------

W1 = T0
W2 = T0 + timedelta(hours=1)
W3 = T0 + timedelta(hours=2)


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = list(reader.fieldnames or [])
    for row in rows:
        # The sample model writes the placeholder "(empty)" of title-codes-observed.tsv as a title code
        # (about 1 row in 12,000): an empty cell is what the real feed has.
        if row["Sale Title Type"] == "(empty)":
            row["Sale Title Type"] = ""
    return header, rows


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def _audit(db_url: str) -> dict[tuple[str, str], dict[str, Any]]:
    with psycopg.connect(db_url) as c:
        return {(u["domain"], u["value"]): u for u in table(c, "audit.unknown_values", "domain, value", drop=set())}


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_unknown_values_are_counted_once_per_value_per_window(
    db_url: str, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sample(tmp_path / "base.csv", rows=300, seed=21, defect_rate=0.0)
    header, base = _read(tmp_path / "base.csv")

    # window 1: 7 unknown cells, 3 distinct values (damage is one domain for both damage columns)
    rows = [dict(r) for r in base]
    for i in (0, 1, 2):
        rows[i]["Color"] = "PUCE"
    rows[3]["Damage Description"] = "ALIENS"
    rows[4]["Damage Description"] = "ALIENS"
    rows[5]["Secondary Damage"] = "ALIENS"
    rows[6]["Announcements"] = "Maintenance,Gremlins"
    f1 = _write(tmp_path / "w1.csv", header, rows)
    _, parsed = parse_file(f1, taxonomy=TX.matcher_mapping())
    assert parsed["unknown"] == {"color": {"PUCE": 3}, "damage": {"ALIENS": 3}, "announcement": {"Gremlins": 1}}
    r1 = ingest(f1, settings, database_url=db_url, store_raw=False, window_at=W1)
    assert r1["skipped"] is False and r1["rows_loaded"] == r1["rows_in"] == 300
    assert r1["validation"]["ok"] and r1["completion"]["ran"]
    assert r1["unknown_values"] == 3
    assert r1["unknown_rate"] == pytest.approx(7 / parsed["categorical_cells"])
    audit = _audit(db_url)
    assert {k: v["count"] for k, v in audit.items()} == {
        ("color", "PUCE"): 3,
        ("damage", "ALIENS"): 3,
        ("announcement", "Gremlins"): 1,
    }
    for u in audit.values():
        assert (u["first_seen_at"], u["last_seen_at"]) == (W1, W1)
        assert (u["first_load_id"], u["last_load_id"]) == (r1["load_id"], r1["load_id"])
    with psycopg.connect(db_url) as c:
        lot0 = int(rows[0]["Lot number"])
        assert c.execute("SELECT color, color_code FROM lots WHERE lot_number = %s", (lot0,)).fetchone() == ("PUCE", None)
        lot6 = int(rows[6]["Lot number"])
        stored = c.execute("SELECT announcements, announcement_codes FROM lots WHERE lot_number = %s", (lot6,)).fetchone()
        assert stored == ("Maintenance,Gremlins", [code("announcement", "Maintenance")])

    # window 2 (a later file): PUCE twice more; ALIENS and Gremlins absent
    rows2 = [dict(r) for r in base]
    rows2[10]["Color"] = "PUCE"
    rows2[11]["Color"] = "PUCE"
    r2 = ingest(_write(tmp_path / "w2.csv", header, rows2), settings, database_url=db_url,
                     store_raw=False, window_at=W2)  # fmt: skip
    assert r2["skipped"] is False and r2["unknown_values"] == 1 and r2["validation"]["ok"]
    audit = _audit(db_url)
    assert len(audit) == 3
    puce = audit[("color", "PUCE")]
    assert puce["count"] == 5
    assert (puce["first_seen_at"], puce["last_seen_at"]) == (W1, W2)
    assert (puce["first_load_id"], puce["last_load_id"]) == (r1["load_id"], r2["load_id"])
    aliens = audit[("damage", "ALIENS")]
    assert (aliens["count"], aliens["last_seen_at"], aliens["last_load_id"]) == (3, W1, r1["load_id"])

    # window 3: every row's colour unknown; the window still loads and validates
    rows3 = [dict(r, Color="PUCE") for r in base]
    r3 = ingest(_write(tmp_path / "w3.csv", header, rows3), settings, database_url=db_url,
                     store_raw=False, window_at=W3)  # fmt: skip
    assert r3["rows_loaded"] == 300 and r3["validation"]["ok"] and r3["completion"]["ran"]
    assert r3["unknown_values"] == 1 and r3["unknown_rate"] > 0.01
    assert _audit(db_url)[("color", "PUCE")]["count"] == 305

    # vinops taxonomy unknown: most frequent first
    code_, out, err = _cli(["taxonomy", "unknown", "--json", "--database-url", db_url], capsys)
    assert code_ == 0, err
    listed = json.loads(out)
    assert [(x["domain"], x["value"], x["count"]) for x in listed] == [
        ("color", "PUCE", 305),
        ("damage", "ALIENS", 3),
        ("announcement", "Gremlins", 1),
    ]
    assert listed[0]["first_seen_at"] == W1.isoformat() and listed[0]["last_seen_at"] == W3.isoformat()
    assert listed[0]["last_load_id"] == r3["load_id"] and all(x["maps_to"] is None for x in listed)
    code_, out, err = _cli(["taxonomy", "unknown", "--database-url", db_url], capsys)
    assert code_ == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["domain", "value", "count"]
    assert [ln.split()[:3] for ln in lines[1:]] == [["color", "PUCE", "305"], ["damage", "ALIENS", "3"],
                                                   ["announcement", "Gremlins", "1"]]  # fmt: skip
    assert "2025-06-02 12:00:00Z" in lines[1] and "2025-06-02 14:00:00Z" in lines[1]

    # the README's procedure: add the spelling to values.csv, reseed; the listing shows what it maps to now
    tx_dir = tmp_path / "taxonomy"
    shutil.copytree(sql_dir() / "taxonomy", tx_dir)
    with (tx_dir / "values.csv").open("a", encoding="utf-8") as f:
        f.write("color,Puce,PURPLE\n")
    with psycopg.connect(db_url) as c:
        seed_taxonomy(c, tx_dir)
    code_, out, err = _cli(["taxonomy", "unknown", "--json", "--database-url", db_url], capsys)
    assert code_ == 0 and [x["maps_to"] for x in json.loads(out)] == ["PURPLE", None, None]
    code_, out, err = _cli(["taxonomy", "unknown", "--database-url", db_url], capsys)
    assert out.splitlines()[1].split()[-1] == "PURPLE"


def test_taxonomy_unknown_cli_empty_and_errors(
    db_url: str, empty_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli(["taxonomy", "unknown", "--database-url", db_url], capsys) == (0, "no unknown taxonomy values\n", "")
    code_, out, err = _cli(["taxonomy", "unknown", "--json", "--database-url", db_url], capsys)
    assert code_ == 0 and json.loads(out) == []
    code_, out, err = _cli(["taxonomy", "unknown", "--database-url", empty_db], capsys)
    assert code_ == 1 and out == "" and err.count("\n") == 1 and "vinops db migrate" in err
    # a server that cannot be reached: a retry may help (EX_TEMPFAIL)
    code_, out, err = _cli(["taxonomy", "unknown", "--database-url", "postgresql:///nowhere?host=/nonexistent"], capsys)
    assert code_ == 75 and out == "" and err.count("\n") == 1 and err.startswith("vinops: error:")


# --- relabelling: `vinops db migrate` replaces the labels of an existing database ----------------------

#: Labels as the files had them before the 2026-12 review (a sample of the rows it changed):
#: (domain, code) → (en, ru), and the title-state labels (code, state) → (en, ru).
LABELS_BEFORE_REVIEW = {
    ("title_type", "CT"): ("Certificate of title (clean)", "Чистый титул (Certificate of Title)"),
    ("title_type", "RR"): ("Rebuilt and salvage-rebuildable title", "Восстановленный (Rebuilt), ранее аварийный"),
    ("title_type", "SM"): ("Salvage certificate (MV-907A)", "Аварийное свидетельство (MV-907A)"),
    ("condition", "NOT_VERIFIED"): ("Not verified", "Не проверялся"),
    ("sale_type", "ON_APPROVAL"): ("On approval by the seller", "С одобрением продавца"),
    ("sale_type", "MINIMUM_BID"): ("Minimum bid (reserve)", "С минимальной ставкой (резерв)"),
    ("odometer_brand", "EXEMPT"): ("Exempt", "Освобождён от указания пробега"),
    ("color", "BURNED"): ("Burned (colour cannot be determined)", "Обгорел (цвет не определить)"),
}
STATE_LABELS_BEFORE_REVIEW = {
    ("SM", "NY"): (
        "New York salvage certificate (DMV form MV-907A)",
        "Аварийное свидетельство штата Нью-Йорк (форма DMV MV-907A)",
    ),
}


def _rewrite_labels(path: Path, key: tuple[str, str], labels: dict[tuple[str, str], tuple[str, str]]) -> None:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    for row in rows:
        old = labels.get((row[key[0]], row[key[1]]))
        if old:
            row["en"], row["ru"] = old
    assert sum((r[key[0]], r[key[1]]) in labels for r in rows) == len(labels)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_migrate_replaces_labels_seeded_before_the_review(
    db_url: str, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tmp_path / "taxonomy"
    shutil.copytree(sql_dir() / "taxonomy", before)
    _rewrite_labels(before / "terms.csv", ("domain", "code"), LABELS_BEFORE_REVIEW)
    _rewrite_labels(before / "title_state_labels.csv", ("code", "state"), STATE_LABELS_BEFORE_REVIEW)
    rows = [
        lot(1, title_state="NY", title_type="SM", title_type_code=code("title_type", "SM"),
            lot_cond="E", lot_cond_code=code("condition", "E"),
            runs_drives="DEFAULT", runs_drives_code=code("condition", "DEFAULT"),
            sale_status="On Approval", sale_status_code=code("sale_type", "On Approval"),
            odometer_brand="E", odometer_brand_code=code("odometer_brand", "E")),
        lot(2, title_state="MI", title_type="CT", title_type_code=code("title_type", "CT"),
            sale_status="On Minimum Bid", sale_status_code=code("sale_type", "On Minimum Bid"),
            color="BURN", color_code=code("color", "BURN")),
        lot(3, title_state="FL", title_type="RR", title_type_code=code("title_type", "RR")),
    ]  # fmt: skip
    lot_codes = "SELECT lot_number, title_type_code, lot_cond_code, runs_drives_code, sale_status_code, " \
        "odometer_brand_code, color_code FROM lots ORDER BY lot_number"  # fmt: skip
    with psycopg.connect(db_url) as conn:
        seed_taxonomy(conn, before)
        load_window(conn, source(rows), settings, store_raw=False)
        ids_before = _rows(conn, "SELECT id, domain, code FROM taxonomy.terms ORDER BY id")
        lots_before = _rows(conn, lot_codes)
        old = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lot_labels('ru')")}
    # what a database seeded from the old files shows today
    assert old[2]["title_type"] == "Чистый титул (Certificate of Title)"
    assert old[1]["title_type"] == "Аварийное свидетельство штата Нью-Йорк (форма DMV MV-907A)"
    assert (old[1]["lot_cond"], old[1]["runs_drives"]) == ("Не проверялся", "Не проверялся")

    exit_code, out, err = _cli(["db", "migrate", "--database-url", db_url], capsys)
    assert exit_code == 0, err
    assert f"taxonomy: {len(TX.terms)} terms" in out

    with psycopg.connect(db_url) as conn:
        terms = _rows(conn, "SELECT domain, id, code, en, ru FROM taxonomy.terms ORDER BY id")
        states = _rows(conn, "SELECT code, state, en, ru FROM taxonomy.title_state_labels")
        ru = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lot_labels('ru')")}
        en = {x["lot_number"]: x for x in _rows(conn, "SELECT * FROM lot_labels('en')")}
        # codes and ids are untouched, so every lot keeps its meaning
        assert _rows(conn, "SELECT id, domain, code FROM taxonomy.terms ORDER BY id") == ids_before
        assert _rows(conn, lot_codes) == lots_before
    assert [(t["domain"], t["id"], t["code"], t["en"], t["ru"]) for t in terms] == [
        (t.domain, t.id, t.code, t.en, t.ru) for t in sorted(TX.terms, key=lambda t: t.id)
    ]
    assert {(s["code"], s["state"], s["en"], s["ru"]) for s in states} == {
        (x.code, x.state, x.en, x.ru) for x in TX.title_state_labels
    }
    for (domain, term_code), (old_en, old_ru) in LABELS_BEFORE_REVIEW.items():
        assert (TX.term(domain, term_code).en, TX.term(domain, term_code).ru) != (old_en, old_ru)
    assert ru[2]["title_type"] == TX.term("title_type", "CT").ru == "Титул (Certificate of Title)"
    assert en[2]["title_type"] == "Certificate of title"
    assert ru[1]["title_type"] == TX.title_label("SM", "NY")[1]  # type: ignore[index]
    assert ru[1]["title_type"].startswith("Штат Нью-Йорк: ")
    assert ru[1]["lot_cond"] == ru[1]["runs_drives"] == TX.term("condition", "NOT_VERIFIED").ru == "Запуск не подтверждён"
    assert (ru[1]["sale_status"], ru[2]["sale_status"]) == (
        TX.term("sale_type", "ON_APPROVAL").ru, TX.term("sale_type", "MINIMUM_BID").ru)  # fmt: skip
    assert ru[1]["odometer_brand"] == TX.term("odometer_brand", "EXEMPT").ru
    assert (ru[2]["color"], en[2]["color"]) == (TX.term("color", "BURNED").ru, TX.term("color", "BURNED").en)
    assert ru[3]["title_type"] == TX.term("title_type", "RR").ru and "ранее" not in ru[3]["title_type"]
