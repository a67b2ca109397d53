"""The EN/RU taxonomy of Copart's categorical values, read from the versioned files in ``sql/taxonomy``.

Three files (see ``sql/taxonomy/README.md``):

* ``terms.csv`` (``domain,id,code,en,ru``): one row per concept; ``id`` is the int16 stored on lots.
* ``values.csv`` (``domain,raw,code``): every raw spelling seen in the feed, mapped to a term code.
* ``title_state_labels.csv`` (``code,state,en,ru``): labels of title codes whose meaning depends on the
  title state.

Raw values are matched after :func:`fold` (trim, collapse ASCII whitespace, upper-case ASCII letters), the
rule the Rust core applies (docs/normalization.md, "Taxonomy codes"). :func:`load` validates the files and
raises :class:`ValueError` naming the file and line of the first problem.

The command line (``vinops taxonomy``): ``export --lang en|ru [--format csv|json]`` prints the label tables
of these files (:func:`export_rows`; no database), ``unknown [--json]`` lists ``audit.unknown_values``
(:func:`unknown_values`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "DOMAINS",
    "ID_BLOCK",
    "LANGS",
    "Taxonomy",
    "Term",
    "TitleStateLabel",
    "Value",
    "add_arguments",
    "default_directory",
    "domain_ids",
    "export_rows",
    "fold",
    "load",
    "unknown_values",
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
    """``$VINOPS_SQL_DIR/taxonomy`` when the variable is set, else ``sql/taxonomy`` of the source tree."""
    sql_dir = os.environ.get("VINOPS_SQL_DIR")
    if sql_dir:
        return Path(sql_dir) / "taxonomy"
    return Path(__file__).resolve().parents[2] / "sql" / "taxonomy"


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
# Export and the unknown values (`vinops taxonomy export|unknown`)

EXPORT_COLUMNS: tuple[str, ...] = ("domain", "id", "code", "state", "label")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json")


def _check_lang(lang: str | None) -> str:
    if lang not in LANGS:
        raise ValueError(f"unsupported label language {lang!r} (use {' or '.join(LANGS)})")
    return lang  # type: ignore[return-value]


def export_rows(taxonomy: Taxonomy, lang: str) -> list[dict[str, Any]]:
    """The label table of ``lang``: ``{domain, id, code, state, label}`` per term with ``state`` empty, each
    title code followed by its state-specific labels (``state`` = the title state). Domains in the order of
    :data:`DOMAINS`, terms by id, states alphabetically. A site looks a title up by (code, state) and falls
    back to (code, "")."""
    _check_lang(lang)
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


def _export_json(rows: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    return {
        "lang": lang,
        "terms": [{k: r[k] for k in ("domain", "id", "code", "label")} for r in rows if not r["state"]],
        "title_state_labels": [{k: r[k] for k in ("code", "state", "label")} for r in rows if r["state"]],
    }


def unknown_values(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """``audit.unknown_values``, most frequent first: ``{domain, value, count, first_seen_at, last_seen_at,
    first_load_id, last_load_id, maps_to}``. ``maps_to`` is the code the value has now (a row was added to the
    taxonomy after it was counted, and the database was reseeded), else None."""
    from vinops.db import taxonomy_mapping

    rows = conn.execute(
        """SELECT domain, value, count, first_seen_at, last_seen_at, first_load_id, last_load_id
           FROM audit.unknown_values
           ORDER BY count DESC, domain, value"""
    ).fetchall()
    mapping = taxonomy_mapping(conn)
    codes = dict(conn.execute("SELECT id, code FROM taxonomy.terms").fetchall())
    out = []
    for domain, value, count, first_seen, last_seen, first_load, last_load in rows:
        term_id = mapping.get(domain, {}).get(fold(value))
        out.append(
            {
                "domain": domain,
                "value": value,
                "count": count,
                "first_seen_at": first_seen,
                "last_seen_at": last_seen,
                "first_load_id": first_load,
                "last_load_id": last_load,
                "maps_to": codes.get(term_id) if term_id is not None else None,
            }
        )
    return out


def _utf8_stdout() -> None:
    # Russian labels must reach a pipe or a file as UTF-8 whatever the locale says.
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(encoding="utf-8")


def _error(message: str, code: int) -> int:
    print(f"vinops: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def cmd_export(args: argparse.Namespace) -> int:
    if args.lang is None:
        return _error(f"taxonomy export needs --lang ({' or '.join(LANGS)})", 2)
    try:
        lang = _check_lang(args.lang)
    except ValueError as e:
        return _error(str(e), 2)
    if args.format not in EXPORT_FORMATS:
        return _error(f"unsupported format {args.format!r} (use {' or '.join(EXPORT_FORMATS)})", 2)
    try:
        rows = export_rows(load(), lang)
    except (OSError, ValueError) as e:
        return _error(str(e), 1)
    _utf8_stdout()
    if args.format == "json":
        json.dump(_export_json(rows, lang), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return 0


def _when(t: Any) -> str:
    from datetime import timezone

    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ") if t is not None else ""


def cmd_unknown(args: argparse.Namespace) -> int:
    import psycopg

    from vinops.db import MigrationError, connect

    try:
        with connect(getattr(args, "database_url", None)) as conn:
            items = unknown_values(conn)
    except psycopg.errors.UndefinedTable:
        return _error("the database has no audit.unknown_values table: run `vinops db migrate` first", 1)
    except (psycopg.Error, MigrationError, OSError, ValueError) as e:
        return _error(str(e) or type(e).__name__, 1)
    _utf8_stdout()
    if args.json:
        json.dump(items, sys.stdout, ensure_ascii=False, indent=2, default=lambda t: t.isoformat())
        sys.stdout.write("\n")
        return 0
    if not items:
        print("no unknown taxonomy values")
        return 0
    header = ("domain", "value", "count", "first seen", "last seen", "maps to now")
    table = [
        (i["domain"], i["value"], f"{i['count']:,}", _when(i["first_seen_at"]), _when(i["last_seen_at"]),
         i["maps_to"] or "")
        for i in items
    ]  # fmt: skip
    widths = [max(len(str(row[c])) for row in [header, *table]) for c in range(len(header))]
    for row in [header, *table]:
        cells = [str(v).rjust(w) if c == 2 else str(v).ljust(w) for c, (v, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
    return 0


def add_arguments(subparsers: Any) -> None:
    """Register ``vinops taxonomy export|unknown``. Each sets ``func(args) -> exit code``."""
    p = subparsers.add_parser("taxonomy", help="taxonomy labels (EN/RU) and the values no taxonomy row matches")
    actions = p.add_subparsers(dest="taxonomy_command", required=True, metavar="ACTION")

    e = actions.add_parser(
        "export",
        help="print the label tables of one language (from sql/taxonomy; no database)",
        description="One row per term (domain, id, code, state empty, label), each title code followed by its "
        "title-state-specific labels (state set). Read from the taxonomy files ($VINOPS_SQL_DIR/taxonomy, "
        "else sql/taxonomy): the same data `vinops db migrate` seeds.",
    )
    e.add_argument("--lang", metavar="{en,ru}", help="label language (required)")
    e.add_argument("--format", default="csv", metavar="{csv,json}", help="output format (default: csv)")
    e.set_defaults(func=cmd_export)

    u = actions.add_parser(
        "unknown",
        help="list the categorical values no taxonomy row matched (audit.unknown_values), most frequent first",
    )
    u.add_argument("--json", action="store_true", help="print one JSON array")
    u.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="PostgreSQL URL (default: $VINOPS_DATABASE_URL, else the embedded server under the user's data folder)",
    )
    u.set_defaults(func=cmd_unknown)
