"""`vinops taxonomy export`: the label tables of the taxonomy files, in both languages and both formats."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from vinops.cli import main
from vinops.taxonomy import DOMAINS, LANGS, Taxonomy, export_rows, load

CYRILLIC = re.compile(r"[\u0400-\u04FF]")


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load()


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _check_language(lang: str, labels: list[str]) -> None:
    assert labels and all(x.strip() for x in labels)
    if lang == "ru":
        assert all(CYRILLIC.search(x) for x in labels)
    else:
        assert not any(CYRILLIC.search(x) for x in labels)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_export_csv(lang: str, taxonomy: Taxonomy, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["taxonomy", "export", "--lang", lang], capsys)
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "domain,id,code,state,label"
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert len(rows) == len(taxonomy.terms) + len(taxonomy.title_state_labels)
    general = [r for r in rows if r["state"] == ""]
    assert {(r["domain"], int(r["id"]), r["code"], r["label"]) for r in general} == {
        (t.domain, t.id, t.code, getattr(t, lang)) for t in taxonomy.terms
    }
    assert len(general) == len(taxonomy.terms)
    by_state = {(r["code"], r["state"]): r for r in rows if r["state"]}
    assert len(by_state) == len(taxonomy.title_state_labels)
    for label in taxonomy.title_state_labels:
        r = by_state[(label.code, label.state)]
        assert r["domain"] == "title_type" and r["label"] == getattr(label, lang)
        assert int(r["id"]) == taxonomy.term("title_type", label.code).id
    _check_language(lang, [r["label"] for r in rows])
    # domains in their block order; a title code's state labels right after its general row
    order = [DOMAINS.index(r["domain"]) for r in rows]
    assert order == sorted(order)
    for i, r in enumerate(rows):
        if r["state"]:
            assert rows[i - 1]["code"] == r["code"]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_export_json(lang: str, taxonomy: Taxonomy, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["taxonomy", "export", "--lang", lang, "--format", "json"], capsys)
    assert code == 0 and err == ""
    doc = json.loads(out)
    assert set(doc) == {"lang", "terms", "title_state_labels"} and doc["lang"] == lang
    in_order = sorted(taxonomy.terms, key=lambda t: (DOMAINS.index(t.domain), t.id))
    assert [(t["domain"], t["id"], t["code"], t["label"]) for t in doc["terms"]] == [
        (t.domain, t.id, t.code, getattr(t, lang)) for t in in_order
    ]
    assert {(x["code"], x["state"], x["label"]) for x in doc["title_state_labels"]} == {
        (x.code, x.state, getattr(x, lang)) for x in taxonomy.title_state_labels
    }
    _check_language(lang, [t["label"] for t in doc["terms"]] + [x["label"] for x in doc["title_state_labels"]])
    if lang == "ru":
        assert "\\u04" not in out  # readable UTF-8, not escapes


def test_export_follows_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tx = tmp_path / "taxonomy"
    tx.mkdir()
    terms = "domain,id,code,en,ru\ndrive,9001,FWD,Front-wheel drive,Передний привод\n"
    (tx / "terms.csv").write_text(terms, encoding="utf-8")
    (tx / "values.csv").write_text("domain,raw,code\ndrive,FWD,FWD\n", encoding="utf-8")
    (tx / "title_state_labels.csv").write_text("code,state,en,ru\n", encoding="utf-8")
    monkeypatch.setenv("VINOPS_SQL_DIR", str(tmp_path))
    expected = "domain,id,code,state,label\ndrive,9001,FWD,,Передний привод\n"
    assert _cli(["taxonomy", "export", "--lang", "ru"], capsys) == (0, expected, "")
    (tx / "values.csv").write_text("domain,raw,code\ndrive,FWD,AWD\n", encoding="utf-8")
    code, out, err = _cli(["taxonomy", "export", "--lang", "ru"], capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and "values.csv:2" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["taxonomy", "export"], "needs --lang"),
        (["taxonomy", "export", "--lang", "de"], "unsupported label language 'de'"),
        (["taxonomy", "export", "--lang", "RU"], "unsupported label language 'RU'"),
        (["taxonomy", "export", "--lang", "en", "--format", "xml"], "unsupported format 'xml'"),
    ],
)
def test_export_bad_input_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("vinops: error:") and message in err


def test_export_rows_rejects_a_language(taxonomy: Taxonomy) -> None:
    with pytest.raises(ValueError, match="unsupported label language"):
        export_rows(taxonomy, "fr")


#: Labels the 2026-12 review changed because the old ones changed the meaning (sql/taxonomy/README.md,
#: "Review 2026-12"), as the site must now show them: (domain, code, state) → (en, ru).
REVIEWED = {
    ("title_type", "CT", ""): ("Certificate of title", "Титул (Certificate of Title)"),
    ("title_type", "RR", ""): (
        "Rebuilt and salvage-rebuildable title",
        "Титул с двумя отметками: ТС восстановлено (Rebuilt) и аварийное, подлежит восстановлению (Salvage Rebuildable)",
    ),
    ("title_type", "RC", ""): (
        "Reconstructed, no other brands",
        "Титул восстановленного ТС (Reconstructed), без других отметок",
    ),
    ("title_type", "RT", ""): ("Rebuilt title", "Титул восстановленного ТС (Rebuilt)"),
    ("title_type", "SC", ""): ("Salvage title", "Аварийный титул (Salvage)"),
    ("title_type", "JT", ""): ("Certificate of title – junk", "Титул с отметкой «утиль» (Junk)"),
    ("title_type", "TB", ""): ("Tribal certificate of title", "Титул, выданный властями индейского племени"),
    ("title_type", "GT", ""): ("Government-owned vehicle title", "Титул на ТС госоргана"),
    ("title_type", "SM", "NY"): (
        "New York State salvage certificate (DMV form MV-907A)",
        "Штат Нью-Йорк: аварийное свидетельство (Salvage, форма DMV MV-907A)",
    ),
    ("condition", "NOT_VERIFIED", ""): ("Engine start not verified", "Запуск не подтверждён"),
    ("sale_type", "ON_APPROVAL", ""): (
        "On approval (the seller must approve the sale)",
        "Требует одобрения продавца (On Approval)",
    ),
    ("sale_type", "MINIMUM_BID", ""): ("On minimum bid (reserve price)", "С резервной ценой (On Minimum Bid)"),
    ("odometer_brand", "EXEMPT", ""): ("Exempt (mileage not declared)", "Пробег не декларируется (Exempt)"),
    ("odometer_brand", "EXCEEDS_MECHANICAL_LIMITS", ""): ("Exceeds mechanical limits", "Пробег превышает предел одометра"),
    ("damage", "REJECTED_REPAIR", ""): ("Rejected repair", "Ремонт не принят (Rejected Repair)"),
    ("body_style", "UTILITY", ""): ("Utility vehicle", "Внедорожник (Utility)"),
    ("body_style", "AUTOCYCLE", ""): ("Autocycle (three-wheeler)", "Трицикл (Autocycle)"),
    ("color", "BURNED", ""): ("Burned (color cannot be determined)", "Обгоревший (цвет не определяется)"),
    ("vehicle_type", "OTHER", ""): ("Other", "Другое"),
}


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_export_shows_the_reviewed_labels(lang: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(["taxonomy", "export", "--lang", lang], capsys)
    assert code == 0 and err == ""
    rows = {(r["domain"], r["code"], r["state"]): r["label"] for r in csv.DictReader(io.StringIO(out, newline=""))}
    shown = {key: rows.get(key) for key in REVIEWED}
    assert shown == {key: labels[LANGS.index(lang)] for key, labels in REVIEWED.items()}
    # the one most-used title code (a third of the lots) no longer reads as a clean title
    assert "clean" not in rows[("title_type", "CT", "")].lower() and "чист" not in rows[("title_type", "CT", "")].lower()
