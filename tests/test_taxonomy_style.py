"""The label rules of sql/taxonomy/README.md ("Label style", "Codes that share a label", "Ids"): what a buyer
reads must not claim more than Copart's code says, look-alike codes must be told apart or documented, and
relabelling never moves an id."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from vinops.taxonomy import Taxonomy, load

REPO = Path(__file__).resolve().parents[1]
TAXONOMY_DIR = REPO / "sql" / "taxonomy"
README = TAXONOMY_DIR / "README.md"
IDS_LOCK = TAXONOMY_DIR / "ids.lock.csv"
DESCRIPTIONS = REPO / "tests" / "data" / "copart" / "title-code-descriptions-legacy.tsv"

OTHER = ("Other", "Другое")
UNKNOWN = ("Unknown", "Неизвестно")
# Whole labels that would be a second word for OTHER or UNKNOWN.
OTHER_UNKNOWN_SYNONYMS = {"прочее", "прочие", "другой", "другая", "неизвестен", "неизвестна", "не указано"}
# Title Case leaves these lower case.
SMALL_WORDS = {"of", "and", "or", "by", "to", "for", "the"}
BRITISH = re.compile(r"\b(colour|grey|tyre|centre|licence|metre|programme)", re.IGNORECASE)
CLEAN_SOURCE = re.compile(r"(?<![A-Z0-9])(?:CLEAN|CLN)(?![A-Z0-9])")
CLEAN_EN = re.compile(r"\bclean\b", re.IGNORECASE)
CLEAN_RU = re.compile(r"(?<![а-яё])чист", re.IGNORECASE)
QUOTED = re.compile(r"«[^«»]*»")
PARENS = re.compile(r"\(([^()]*)\)")
# A word that starts with a Latin letter; "4x4" and "6x4" are numbers, not English.
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9'-]*")
ACCENTED = re.compile(r"[à-ÿœæÀ-ß]")

#: Title states and provinces of title_state_labels.csv: kind, Russian name (never declined after the kind),
#: English name. Names that are also a large city's carry the kind in English too (README, "States").
STATES = {
    "QC": ("Провинция", "Квебек", "Quebec province"),
    "ON": ("Провинция", "Онтарио", "Ontario"),
    "AB": ("Провинция", "Альберта", "Alberta"),
    "NY": ("Штат", "Нью-Йорк", "New York State"),
    "WA": ("Штат", "Вашингтон", "Washington State"),
    "MD": ("Штат", "Мэриленд", "Maryland"),
    "TX": ("Штат", "Техас", "Texas"),
    "FL": ("Штат", "Флорида", "Florida"),
    "CA": ("Штат", "Калифорния", "California"),
    "MI": ("Штат", "Мичиган", "Michigan"),
    "NC": ("Штат", "Северная Каролина", "North Carolina"),
}
CITY_NAMES = {"New York": "New York State", "Washington": "Washington State", "Quebec": "Quebec province"}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load(TAXONOMY_DIR)


def _norm(text: str) -> str:
    """Labels compared as a reader sees them: case, spacing and ё/е do not tell two labels apart."""
    return " ".join(text.casefold().replace("ё", "е").split())


def _readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _descriptions() -> dict[str, str]:
    """Copart's own description of each title code."""
    lines = DESCRIPTIONS.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "code\tdescription"
    return dict(line.split("\t", 1) for line in lines[1:])


def _brand_table() -> dict[str, list[str]]:
    """README's table of US title brands: brand term → Copart's spellings that name it."""
    table = {}
    for line in _readme_section("Label style").splitlines():
        m = re.fullmatch(r"\| ([A-Z][A-Za-z-]+) \| ((?:`[A-Z0-9-]+`(?:, )?)+) \|", line)
        if m:
            table[m.group(1)] = re.findall(r"`([A-Z0-9-]+)`", m.group(2))
    return table


def _brands_named(description: str, table: dict[str, list[str]]) -> set[str]:
    return {
        brand
        for brand, spellings in table.items()
        if any(re.search(rf"(?<![A-Z0-9]){re.escape(s)}(?![A-Z0-9])", description) for s in spellings)
    }


def _brand_pattern(brand: str, *, whole_word: bool = True) -> re.Pattern[str]:
    """The brand in a label, with or without its hyphen (Non-repairable, Nonrepairable); as a whole word, or
    as the start of one ("Junking certificate" names Junk)."""
    body = re.escape(brand).replace(r"\-", "-?")
    end = r"(?![A-Za-z])" if whole_word else ""
    return re.compile(rf"(?<![A-Za-z]){body}{end}", re.IGNORECASE)


def _english_in_parentheses(ru: str) -> str:
    """The text inside parentheses of a Russian label, verbatim quotations «…» left out."""
    return " ".join(PARENS.findall(QUOTED.sub("", ru)))


def _title_labels(taxonomy: Taxonomy) -> Iterator[tuple[str, str, str, str]]:
    """(where, code, en, ru) of every general and state-specific title label."""
    for t in taxonomy.terms:
        if t.domain == "title_type":
            yield f"title_type/{t.code}", t.code, t.en, t.ru
    for x in taxonomy.title_state_labels:
        yield f"{x.code}/{x.state}", x.code, x.en, x.ru


def _all_labels(taxonomy: Taxonomy) -> Iterator[tuple[str, str, str]]:
    """(where, en, ru) of every label the site shows."""
    for t in taxonomy.terms:
        yield f"{t.domain}/{t.code}", t.en, t.ru
    for x in taxonomy.title_state_labels:
        yield f"{x.code}/{x.state}", x.en, x.ru


# --- ids ----------------------------------------------------------------------------------------------


def test_relabelling_keeps_every_locked_id(taxonomy: Taxonomy) -> None:
    with IDS_LOCK.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == ["domain", "id", "code"]
    locked = {(r["domain"], int(r["id"]), r["code"]) for r in rows}
    assert len(locked) == len(rows), "a line of ids.lock.csv is repeated"
    assert len({i for _, i, _ in locked}) == len(locked), "ids.lock.csv gives one id twice"
    terms = {(t.domain, t.id, t.code) for t in taxonomy.terms}
    lost = sorted(locked - terms, key=lambda x: x[1])
    assert not lost, f"locked (domain, id, code) missing from terms.csv; lots store these ids: {lost}"
    new = sorted(terms - locked, key=lambda x: x[1])
    assert not new, f"terms not in ids.lock.csv (append their domain,id,code there): {new}"


# --- brands and the word "clean" ------------------------------------------------------------------------


def test_the_brand_table_reads_the_descriptions() -> None:
    table = _brand_table()
    assert set(table) == {"Salvage", "Rebuilt", "Reconstructed", "Junk", "Scrap", "Non-repairable", "Irreparable"}
    d = _descriptions()
    assert _brands_named(d["RR"], table) == {"Rebuilt", "Salvage"}  # CERT OF TTL-REBUILT&SLVG RBLD
    assert _brands_named(d["R1"], table) == {"Salvage"}  # REBLD is rebuildable, not rebuilt
    assert _brands_named(d["CB"], table) == {"Salvage", "Reconstructed"}
    assert _brands_named(d["PL"], table) == {"Salvage"}  # MV907A, New York's salvage certificate
    assert _brands_named(d["AR"], table) == {"Non-repairable"}
    assert _brands_named(d["CT"], table) == set() and _brands_named(d["SB"], table) == {"Salvage"}


def test_russian_title_labels_give_each_named_brand_once_in_parentheses(taxonomy: Taxonomy) -> None:
    table, descriptions = _brand_table(), _descriptions()
    wrong = []
    for where, code, _en, ru in _title_labels(taxonomy):
        named = _brands_named(descriptions.get(code, ""), table)
        inside = _english_in_parentheses(ru)
        in_parentheses = {b for b in table if _brand_pattern(b).search(inside)}
        repeated = [b for b in named if len(_brand_pattern(b).findall(ru)) != 1]
        if in_parentheses != named or repeated:
            wrong.append((where, sorted(named), ru))
    assert not wrong, f"(label, brands Copart names, Russian label): {wrong}"


def test_english_title_labels_name_the_brands(taxonomy: Taxonomy) -> None:
    table, descriptions = _brand_table(), _descriptions()
    missing = [
        (where, brand, en)
        for where, code, en, _ru in _title_labels(taxonomy)
        for brand in _brands_named(descriptions.get(code, ""), table)
        if not _brand_pattern(brand, whole_word=False).search(en)
    ]
    assert not missing, missing


def test_clean_only_where_copart_says_clean(taxonomy: Taxonomy) -> None:
    allowed = {code for code, text in _descriptions().items() if CLEAN_SOURCE.search(text)}
    assert {"PR", "CZ", "DE", "C0"} <= allowed and "CT" not in allowed  # DE says CLN; CT names no brand
    overclaiming = []
    for t in taxonomy.terms:
        says_clean = CLEAN_EN.search(t.en) or CLEAN_RU.search(t.ru)
        if says_clean and not (t.domain == "title_type" and t.code in allowed):
            overclaiming.append((t.domain, t.code, t.en, t.ru))
    for x in taxonomy.title_state_labels:
        if (CLEAN_EN.search(x.en) or CLEAN_RU.search(x.ru)) and x.code not in allowed:
            overclaiming.append(("title_state_labels", f"{x.code}/{x.state}", x.en, x.ru))
    assert not overclaiming, f"labels saying clean where Copart does not: {overclaiming}"
    ct = taxonomy.term("title_type", "CT")
    assert not CLEAN_EN.search(ct.en) and not CLEAN_RU.search(ct.ru)


# --- English in Russian labels, spelling ------------------------------------------------------------------


def test_english_in_russian_labels_is_title_case_in_parentheses(taxonomy: Taxonomy) -> None:
    wrong = []
    for where, _en, ru in _all_labels(taxonomy):
        unquoted = QUOTED.sub("", ru)
        for word in LATIN_WORD.findall(_english_in_parentheses(ru)):
            if word not in SMALL_WORDS and not word[0].isupper():
                wrong.append((where, word, ru))
        for word in LATIN_WORD.findall(PARENS.sub("", unquoted)):
            if word != word.upper():  # outside parentheses only abbreviations and form numbers
                wrong.append((where, word, ru))
    assert not wrong, f"(label, word, Russian label): {wrong}"


def test_verbatim_foreign_wording_is_quoted_and_english_is_american(taxonomy: Taxonomy) -> None:
    for where, en, ru in _all_labels(taxonomy):
        for text in (en, ru):
            assert not ACCENTED.search(QUOTED.sub("", text)), f"{where}: French outside «…»: {text!r}"
            assert text.count("«") == text.count("»"), f"{where}: unbalanced quotes: {text!r}"
        assert not BRITISH.search(en), f"{where}: British spelling in {en!r}"


def test_other_and_unknown_are_one_word_each(taxonomy: Taxonomy) -> None:
    fixed = {"OTHER": OTHER, "UNKNOWN": UNKNOWN}
    domains = defaultdict(set)
    for t in taxonomy.terms:
        if t.code in fixed:
            assert (t.en, t.ru) == fixed[t.code], f"{t.domain}/{t.code}: {(t.en, t.ru)}"
            domains[t.code].add(t.domain)
            continue
        for label in (t.en, t.ru):
            text = _norm(label)
            assert text not in {_norm(w) for pair in fixed.values() for w in pair}, f"{t.domain}/{t.code}: {label!r}"
            assert text not in OTHER_UNKNOWN_SYNONYMS, f"{t.domain}/{t.code}: a second word for other/unknown"
    assert len(domains["OTHER"]) >= 3 and len(domains["UNKNOWN"]) >= 3, domains


# --- states -------------------------------------------------------------------------------------------------


def test_state_labels_name_the_jurisdiction_so_it_is_not_a_city(taxonomy: Taxonomy) -> None:
    for x in taxonomy.title_state_labels:
        assert x.state in STATES, f"{x.code}/{x.state}: add the state to STATES (README, States)"
        kind, name, english = STATES[x.state]
        assert x.ru.startswith(f"{kind} {name}: "), f"{x.code}/{x.state}: {x.ru!r}"
        assert english in x.en, f"{x.code}/{x.state}: {x.en!r} should say {english!r}"
        for city, with_kind in CITY_NAMES.items():
            bare = x.en.replace(with_kind, "")
            assert city not in bare, f"{x.code}/{x.state}: {city!r} without its kind in {x.en!r}"
    # general labels name no state, in no case form
    stems = {name[:-1] if name[-1] in "аояи" else name for _, name, _ in STATES.values()}
    for t in taxonomy.terms:
        for stem in stems:
            assert stem not in t.ru, f"{t.domain}/{t.code}: a state in a general label: {t.ru!r}"
        for _, _, english in STATES.values():
            assert english.split(" State")[0].split(" province")[0] not in t.en, f"{t.domain}/{t.code}: {t.en!r}"


# --- look-alike codes ---------------------------------------------------------------------------------


def _documented_groups() -> dict[str, list[frozenset[str]]]:
    """README's "Codes that share a label": domain → groups of codes that mean the same to a buyer."""
    groups: dict[str, list[frozenset[str]]] = defaultdict(list)
    for line in _readme_section("Codes that share a label").splitlines():
        m = re.match(r"- `([a-z_]+)` ((?:`[A-Z0-9_]+`(?:, )?)+): \S", line)
        if m:
            groups[m.group(1)].append(frozenset(re.findall(r"`([A-Z0-9_]+)`", m.group(2))))
    return groups


def test_the_documented_groups_are_well_formed(taxonomy: Taxonomy) -> None:
    groups = _documented_groups()
    assert groups["title_type"], "the README lists no group: the parser no longer matches its format"
    for domain, listed in groups.items():
        codes = [c for g in listed for c in g]
        assert len(codes) == len(set(codes)), f"{domain}: a code is in two groups"
        for group in listed:
            assert len(group) >= 2, (domain, group)
            for code in group:
                taxonomy.term(domain, code)  # raises KeyError for a code that does not exist


def test_no_two_codes_share_a_label_unless_documented(taxonomy: Taxonomy) -> None:
    groups = _documented_groups()
    undocumented = []
    for lang in ("en", "ru"):
        by_label: dict[tuple[str, str], set[str]] = defaultdict(set)
        for t in taxonomy.terms:
            by_label[(t.domain, _norm(getattr(t, lang)))].add(t.code)
        for (domain, label), codes in by_label.items():
            if len(codes) > 1 and not any(codes <= g for g in groups.get(domain, [])):
                undocumented.append((domain, lang, sorted(codes), label))
    assert not undocumented, (
        "codes a buyer cannot tell apart: give each its own label, or list them in README "
        f"'Codes that share a label' with the reason: {undocumented}"
    )


def test_documented_groups_still_share_their_labels(taxonomy: Taxonomy) -> None:
    stale = []
    for domain, listed in _documented_groups().items():
        for group in listed:
            labels = {(_norm(t.en), _norm(t.ru)) for t in (taxonomy.term(domain, c) for c in group)}
            if len(labels) != 1:
                stale.append((domain, sorted(group), sorted(labels)))
    assert not stale, f"listed as sharing a label but they do not (update the README list): {stale}"


def test_state_labels_are_unique_within_their_state(taxonomy: Taxonomy) -> None:
    for lang in ("en", "ru"):
        seen: dict[tuple[str, str], str] = {}
        for x in taxonomy.title_state_labels:
            key = (x.state, _norm(getattr(x, lang)))
            assert seen.setdefault(key, x.code) == x.code, f"{x.state}: {seen[key]} and {x.code} read alike ({lang})"
