"""The named SQL statements of ``sql/<name>.sql``, with their column lists written out from one definition.

A statement file holds statements that each start with a line ``-- name: <id>``; :func:`load_statements`
returns them by id. Statements take psycopg named parameters (``%(load_id)s``); a literal percent sign is
never used.

The upsert of a window (``sql/window.sql``) names the data columns of a lot or a vehicle in many places
(compare, update, insert, record the change). It names them through placeholders, written out when the file
is loaded from the two lists below, the only place they are spelled:

``{lot_columns}``             the data columns of ``lots`` (:data:`LOT_COLUMNS`): ``auction_at, vehicle_type_code, …``
``{lot_columns:p.}``          the same, each prefixed: ``p.auction_at, p.vehicle_type_code, …``
``{vehicle_columns}``         the data columns of ``vehicles`` (:data:`VEHICLE_COLUMNS`), also ``{vehicle_columns:s.}``
``{lot_changes:t.}``          for each lot data column ``c`` whose value differs between the plan row ``p`` and
                              the lot ``t``, its value in ``t`` (``{lot_changes:p.}``: in ``p``), as one jsonb
                              object: ``CASE WHEN p.c IS DISTINCT FROM t.c THEN jsonb_build_object('c', t.c)
                              ELSE '{}' END || …`` (the statement must call the plan row ``p`` and the lot ``t``)

A list continues on the next lines at the placeholder's column (``||`` chains align under it), so the
statements PostgreSQL receives read like hand-written ones. A placeholder is ``{`` + a lower-case name
(+ ``:`` + a prefix ending in ``.``) + ``}``; an unknown name is an error, and nothing else in a statement
file is touched (``'{}'`` and regular-expression counts such as ``{64}`` are not placeholders). The
expansion introduces no ``%``, so psycopg's parameters are unaffected.

The lists are the columns of ``lots`` and ``vehicles`` minus their bookkeeping columns, in table order;
``staging.lots`` has each of them with the same type. ``tests/db/test_sql_contract.py`` compares both lists
with the catalog exactly, and the expanded statements' column lists with the lists: a column added to
``lots`` but not here, or a statement that leaves one out, fails the test.
"""

from __future__ import annotations

import re
from pathlib import Path

from vinops.config import sql_dir

__all__ = ["LOT_COLUMNS", "VEHICLE_COLUMNS", "StatementError", "expand", "load_statements"]

#: The data columns of ``lots`` (those a feed row sets), in the table's order: every column but the
#: bookkeeping ones (lot_number, row_hash, source_updated_at, source_window_at, first_seen_at, relisted_as,
#: status, status_reason, status_changed_at, updated_at, retail_value_usd, load_id, created_at).
LOT_COLUMNS: tuple[str, ...] = (
    "auction_at",
    "vehicle_type_code", "body_style_code", "color_code", "damage_primary_code", "damage_secondary_code",
    "title_type_code", "has_keys_code", "lot_cond_code", "odometer_brand_code", "drive_code", "transmission_code",
    "fuel_code", "runs_drives_code", "sale_status_code", "sale_light_code",
    "vin",
    "yard_number", "yard_name", "sale_date", "sale_day_of_week", "sale_time_hhmm", "time_zone_abbr", "sale_tz",
    "item_number", "vehicle_type", "year", "make", "model_group", "model_detail", "trim", "body_style", "color",
    "damage_primary", "damage_secondary", "title_state", "title_type", "has_keys", "lot_cond", "odometer",
    "odometer_brand", "retail_value_cents", "repair_cost_cents", "engine", "drive", "transmission", "fuel",
    "cylinders", "runs_drives", "sale_status", "high_bid_cents", "buy_it_now_cents", "currency_code",
    "make_offer_eligible", "rentals", "wholesale", "sale_light", "autograde", "announcements", "announcement_codes",
    "special_note", "grid_row", "seller_name", "location_city", "location_state", "location_zip", "location_country",
    "offsite_address1", "offsite_state", "offsite_city", "offsite_zip", "image_thumbnail", "image_url",
)  # fmt: skip

#: The data columns of ``vehicles``, in the table's order: every column but vin, source_lot_number,
#: source_updated_at, source_window_at, load_id, created_at, updated_at.
VEHICLE_COLUMNS: tuple[str, ...] = (
    "vin_valid_iso", "vin_check_digit_ok", "vin_short_or_legacy", "vin_model_year", "year", "make", "model_group",
    "model_detail", "trim", "vehicle_type", "vehicle_type_code", "body_style", "body_style_code", "color",
    "color_code", "engine", "drive", "drive_code", "transmission", "transmission_code", "fuel", "fuel_code",
    "cylinders",
)  # fmt: skip

_COLUMN_LISTS = {"lot_columns": LOT_COLUMNS, "vehicle_columns": VEHICLE_COLUMNS}
_PLACEHOLDER = re.compile(r"\{([a-z][a-z_]*)(?::([a-z_][a-z0-9_]*\.))?\}")
_STATEMENT_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)
#: Column lists wrap before this width (the width of the SQL files).
_WIDTH = 116


class StatementError(ValueError):
    """A statement file is malformed (no statements, an id twice, an unknown placeholder)."""


def _wrap(items: list[str], column: int) -> str:
    """``items`` joined by ``, ``, continued on new lines indented to ``column`` before ``_WIDTH``."""
    lines: list[str] = []
    line = ""
    for i, item in enumerate(items):
        piece = item + ("," if i + 1 < len(items) else "")
        if line and column + len(line) + 1 + len(piece) > _WIDTH:
            lines.append(line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    lines.append(line)
    return ("\n" + " " * column).join(lines)


def _changes(prefix: str, column: int) -> str:
    """The jsonb object of the lot columns that differ between ``p`` and ``t``, with their values in ``prefix``."""
    terms = [
        f"CASE WHEN p.{c} IS DISTINCT FROM t.{c} THEN jsonb_build_object('{c}', {prefix}{c}) ELSE '{{}}' END"
        for c in LOT_COLUMNS
    ]
    return ("\n" + " " * max(column - 3, 0) + "|| ").join(terms)


def expand(text: str, source: str = "<sql>") -> str:
    """``text`` with its column placeholders written out (see the module's documentation)."""

    def one(m: re.Match[str]) -> str:
        name, prefix = m.group(1), m.group(2) or ""
        column = m.start() - (text.rfind("\n", 0, m.start()) + 1)
        if name in _COLUMN_LISTS:
            return _wrap([prefix + c for c in _COLUMN_LISTS[name]], column)
        if name == "lot_changes" and prefix in ("p.", "t."):
            return _changes(prefix, column)
        line = text.count("\n", 0, m.start()) + 1
        raise StatementError(f"{source}:{line}: unknown placeholder {m.group(0)}")

    return _PLACEHOLDER.sub(one, text)


def load_statements(name: str, root: Path | None = None) -> dict[str, str]:
    """The named statements of ``root/<name>.sql`` (``sql/`` by default), placeholders written out.

    Each statement starts with a line ``-- name: <id>``; its text runs to the next such line, without the
    final semicolon."""
    path = (root or sql_dir()) / f"{name}.sql"
    text = expand(path.read_text(encoding="utf-8"), str(path))
    marks = list(_STATEMENT_NAME.finditer(text))
    if not marks:
        raise StatementError(f"{path}: no '-- name: …' statements")
    out: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[m.end() : end].strip().rstrip(";").strip()
        if m.group(1) in out:
            raise StatementError(f"{path}: statement {m.group(1)!r} defined twice")
        out[m.group(1)] = body
    return out
