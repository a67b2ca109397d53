"""The EN/RU taxonomy of Copart's categorical values, read from the versioned files in ``sql/taxonomy``.

Three files (see ``sql/taxonomy/README.md``):

* ``terms.csv`` (``domain,id,code,en,ru``): one row per concept; ``id`` is the int16 stored on lots.
* ``values.csv`` (``domain,raw,code``): every raw spelling seen in the feed, mapped to a term code.
* ``title_state_labels.csv`` (``code,state,en,ru``): labels of title codes whose meaning depends on the
  title state.

Raw values are matched after :func:`fold` (trim, collapse ASCII whitespace, upper-case ASCII letters), the
rule the Rust core applies (docs/normalization.md, "Taxonomy codes"). :func:`load` validates the files and
raises :class:`ValueError` naming the file and line of the first problem.

:func:`export_rows` and :func:`export_object` give the label tables of one language (what
``vinops taxonomy export`` prints). This module never touches a database: the taxonomy's tables (the seed,
the parser's mapping read back, the unknown values) are :mod:`vinops.taxonomy_tables`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vinops.config import sql_dir

__all__ = [
    "DOMAINS",
    "EXPORT_COLUMNS",
    "EXPORT_FORMATS",
    "ID_BLOCK",
    "LANGS",
    "Taxonomy",
    "Term",
    "TitleStateLabel",
    "Value",
    "check_lang",
    "default_directory",
    "domain_ids",
    "export_object",
    "export_rows",
    "fold",
    "load",
]

#: The taxonomy domains, in the order of their id blocks: the n-th domain (from 0) owns the ids
#: ``(n + 1) * ID_BLOCK`` to ``(n + 2) * ID_BLOCK - 1``.
DOMAINS: tuple[str, ...] = (
    "vehicle_type",
    "body_style",
    "color",
    "damage",
    "title_type",
    "has_keys",
    "condition",
    "odometer_brand",
    "drive",
    "transmission",
    "fuel",
    "sale_type",
    "sale_light",
    "announcement",
)
ID_BLOCK = 1000

#: The label languages (the columns ``en`` and ``ru`` of the files and of ``taxonomy.terms``).
LANGS: tuple[str, ...] = ("en", "ru")

TERMS_FILE = "terms.csv"
VALUES_FILE = "values.csv"
TITLE_STATE_LABELS_FILE = "title_state_labels.csv"

_ASCII_WS = " \t\n\r\v\f"
_ASCII_WS_RUN = re.compile(r"[ \t\n\r\v\f]+")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Upper-case letters and digits in groups joined by single underscores. Title-type codes are Copart's own
# two-character codes, some of which start with a digit (`1R`, `S1`).
_CODE = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)*")
_STATE = re.compile(r"[A-Z]{2}")
_INT16_MAX = 32767


def fold(text: str) -> str:
    """The matching key of a raw value: trim ASCII whitespace, collapse inner runs of ASCII whitespace to
    one space, upper-case ASCII letters only (``é`` stays ``é``; a no-break space is not whitespace here)."""
    return _ASCII_WS_RUN.sub(" ", text.strip(_ASCII_WS)).translate(_ASCII_UPPER)


def domain_ids(domain: str) -> range:
    """The block of ids reserved for ``domain``."""
    start = (DOMAINS.index(domain) + 1) * ID_BLOCK
    return range(start, start + ID_BLOCK)


@dataclass(frozen=True)
class Term:
    """One concept: ``id`` is stable forever and never reused; ``code`` is unique within its domain."""

    domain: str
    id: int
    code: str
    en: str
    ru: str


@dataclass(frozen=True)
class Value:
    """One raw spelling of the feed (verbatim) and the code of the term it means."""

    domain: str
    raw: str
    code: str


@dataclass(frozen=True)
class TitleStateLabel:
    """The label of a title code in one title state, where the meaning depends on the state."""

    code: str
    state: str
    en: str
    ru: str


@dataclass(frozen=True)
class Taxonomy:
    terms: list[Term]
    values: list[Value]
    title_state_labels: list[TitleStateLabel]
    _by_code: dict[tuple[str, str], Term] = field(init=False, repr=False, compare=False)
    _by_key: dict[tuple[str, str], Term] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code = {(t.domain, t.code): t for t in self.terms}
        by_key = {(v.domain, fold(v.raw)): by_code[(v.domain, v.code)] for v in self.values}
        object.__setattr__(self, "_by_code", by_code)
        object.__setattr__(self, "_by_key", by_key)

    def matcher_mapping(self) -> dict[str, dict[str, int]]:
        """``{domain: {value: term id}}`` for the Rust matcher, every domain present. The keys are the
        folded raw spellings: fold is idempotent, so a matcher that folds its keys again gets the same map."""
        mapping: dict[str, dict[str, int]] = {domain: {} for domain in DOMAINS}
        for (domain, key), term in self._by_key.items():
            mapping[domain][key] = term.id
        return mapping

    def term(self, domain: str, code: str) -> Term:
        """The term of ``code`` in ``domain`` (KeyError if there is none)."""
        return self._by_code[(domain, code)]

    def lookup(self, domain: str, raw: str) -> Term | None:
        """The term a raw feed value means, or None for an empty or unknown value."""
        return self._by_key.get((domain, fold(raw)))

    def title_label(self, code: str, state: str | None = None) -> tuple[str, str] | None:
        """``(en, ru)`` of a title code, the state-specific label when the state has one."""
        if state is not None:
            folded_state = fold(state)
            for label in self.title_state_labels:
                if label.code == code and label.state == folded_state:
                    return label.en, label.ru
        term = self._by_code.get(("title_type", code))
        return None if term is None else (term.en, term.ru)


def default_directory() -> Path:
    """``taxonomy/`` of :func:`vinops.config.sql_dir` (``$VINOPS_SQL_DIR``, else the package's ``vinops/sql``)."""
    return sql_dir() / "taxonomy"


def load(directory: Path | None = None) -> Taxonomy:
    """Read and validate the three taxonomy files of ``directory`` (default: :func:`default_directory`)."""
    base = default_directory() if directory is None else Path(directory)
    terms = _load_terms(base / TERMS_FILE)
    values = _load_values(base / VALUES_FILE, terms)
    labels = _load_title_state_labels(base / TITLE_STATE_LABELS_FILE, terms)
    return Taxonomy(terms=terms, values=values, title_state_labels=labels)


class _Rows:
    """CSV rows of one file with the physical line each starts on; errors name the file and line."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self.line = 0

    def error(self, message: str, line: int | None = None) -> ValueError:
        return ValueError(f"{self.path}:{self.line if line is None else line}: {message}")

    def __iter__(self) -> Iterator[dict[str, str]]:
        try:
            text = self.path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{self.path}: not valid UTF-8 ({exc})") from None
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        next_line = 1
        try:
            for row in reader:
                self.line = next_line
                next_line = reader.line_num + 1
                if self.line == 1:
                    if row != self.header:
                        raise self.error(f"header must be {','.join(self.header)!r}, found {','.join(row)!r}")
                    continue
                if not row or row == [""]:
                    raise self.error("empty line")
                if len(row) != len(self.header):
                    raise self.error(f"expected {len(self.header)} fields ({','.join(self.header)}), found {len(row)}")
                yield dict(zip(self.header, row, strict=True))
        except csv.Error as exc:
            raise self.error(f"malformed CSV: {exc}", reader.line_num) from None
        if next_line == 1:
            raise ValueError(f"{self.path}: empty file (expected the header {','.join(self.header)!r})")


def _label(rows: _Rows, record: dict[str, str], column: str) -> str:
    text = record[column]
    if not text.strip():
        raise rows.error(f"empty {column} label")
    if text != text.strip():
        raise rows.error(f"{column} label has leading or trailing whitespace: {text!r}")
    return text


def _domain(rows: _Rows, record: dict[str, str]) -> str:
    domain = record["domain"]
    if domain not in DOMAINS:
        raise rows.error(f"unknown domain {domain!r} (known: {', '.join(DOMAINS)})")
    return domain


def _load_terms(path: Path) -> list[Term]:
    rows = _Rows(path, ["domain", "id", "code", "en", "ru"])
    terms: list[Term] = []
    id_lines: dict[int, int] = {}
    code_lines: dict[tuple[str, str], int] = {}
    for record in rows:
        domain = _domain(rows, record)
        if not re.fullmatch(r"[0-9]+", record["id"]):
            raise rows.error(f"id {record['id']!r} is not a non-negative integer")
        term_id = int(record["id"])
        if term_id > _INT16_MAX:
            raise rows.error(f"id {term_id} does not fit a smallint")
        block = domain_ids(domain)
        if term_id not in block:
            raise rows.error(f"id {term_id} is outside the block of {domain} ({block.start}-{block.stop - 1})")
        if term_id in id_lines:
            raise rows.error(f"duplicate id {term_id} (first on line {id_lines[term_id]})")
        code = record["code"]
        if not _CODE.fullmatch(code):
            raise rows.error(f"code {code!r} is not upper-snake (A-Z, 0-9, single underscores)")
        if (domain, code) in code_lines:
            raise rows.error(f"duplicate code {code!r} in {domain} (first on line {code_lines[(domain, code)]})")
        id_lines[term_id] = rows.line
        code_lines[(domain, code)] = rows.line
        terms.append(Term(domain, term_id, code, _label(rows, record, "en"), _label(rows, record, "ru")))
    return terms


def _load_values(path: Path, terms: list[Term]) -> list[Value]:
    rows = _Rows(path, ["domain", "raw", "code"])
    codes = {(t.domain, t.code) for t in terms}
    values: list[Value] = []
    seen: dict[tuple[str, str], tuple[int, str, str]] = {}
    for record in rows:
        domain = _domain(rows, record)
        raw, code = record["raw"], record["code"]
        key = fold(raw)
        if not key:
            raise rows.error("empty raw value (empty values are never matched)")
        if (domain, code) not in codes:
            raise rows.error(f"{domain} value {raw!r} maps to code {code!r}, which is not in {TERMS_FILE}")
        if (domain, key) in seen:
            line, first_raw, first_code = seen[(domain, key)]
            if first_code != code:
                raise rows.error(
                    f"{domain} value {raw!r} maps to {code!r} but {first_raw!r} (line {line}) folds to the same "
                    f"text {key!r} and maps to {first_code!r}"
                )
            if first_raw == raw:
                raise rows.error(f"duplicate {domain} value {raw!r} (first on line {line})")
        else:
            seen[(domain, key)] = (rows.line, raw, code)
        values.append(Value(domain, raw, code))
    return values


def _load_title_state_labels(path: Path, terms: list[Term]) -> list[TitleStateLabel]:
    rows = _Rows(path, ["code", "state", "en", "ru"])
    title_codes = {t.code for t in terms if t.domain == "title_type"}
    labels: list[TitleStateLabel] = []
    seen: dict[tuple[str, str], int] = {}
    for record in rows:
        code, state = record["code"], record["state"]
        if code not in title_codes:
            raise rows.error(f"title code {code!r} is not a title_type code in {TERMS_FILE}")
        if not _STATE.fullmatch(state):
            raise rows.error(f"state {state!r} is not a two-letter upper-case state or province code")
        if (code, state) in seen:
            raise rows.error(f"duplicate label for {code} in {state} (first on line {seen[(code, state)]})")
        seen[(code, state)] = rows.line
        labels.append(TitleStateLabel(code, state, _label(rows, record, "en"), _label(rows, record, "ru")))
    return labels


# ---------------------------------------------------------------------------------------------------------
# Export (`vinops taxonomy export`)

EXPORT_COLUMNS: tuple[str, ...] = ("domain", "id", "code", "state", "label")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json")


def check_lang(lang: str | None) -> str:
    """``lang`` if it is one of :data:`LANGS` (ValueError otherwise)."""
    if lang not in LANGS:
        raise ValueError(f"unsupported label language {lang!r} (use {' or '.join(LANGS)})")
    return lang  # type: ignore[return-value]


def export_rows(taxonomy: Taxonomy, lang: str) -> list[dict[str, Any]]:
    """The label table of ``lang``: ``{domain, id, code, state, label}`` per term with ``state`` empty, each
    title code followed by its state-specific labels (``state`` = the title state). Domains in the order of
    :data:`DOMAINS`, terms by id, states alphabetically. A site looks a title up by (code, state) and falls
    back to (code, "")."""
    check_lang(lang)
    by_code: dict[str, list[TitleStateLabel]] = {}
    for label in sorted(taxonomy.title_state_labels, key=lambda x: (x.code, x.state)):
        by_code.setdefault(label.code, []).append(label)
    rows: list[dict[str, Any]] = []
    for term in sorted(taxonomy.terms, key=lambda t: (DOMAINS.index(t.domain), t.id)):
        key = {"domain": term.domain, "id": term.id, "code": term.code}
        rows.append({**key, "state": "", "label": getattr(term, lang)})
        if term.domain == "title_type":
            rows.extend({**key, "state": x.state, "label": getattr(x, lang)} for x in by_code.get(term.code, []))
    return rows


def export_object(rows: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """The JSON form of :func:`export_rows`: ``{lang, terms: [{domain, id, code, label}], title_state_labels:
    [{code, state, label}]}``."""
    return {
        "lang": lang,
        "terms": [{k: r[k] for k in ("domain", "id", "code", "label")} for r in rows if not r["state"]],
        "title_state_labels": [{k: r[k] for k in ("code", "state", "label")} for r in rows if r["state"]],
    }
