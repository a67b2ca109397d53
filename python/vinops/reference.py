"""The pure-Python reference engine: Copart sales-data CSV → Arrow record batches.

It implements docs/normalization.md for clarity, not speed, and must give exactly the batches, quarantine
records and counts of the Rust core (`vinops_core`); a differential test compares the two. Read top to
bottom it follows the data path:

1. bytes → records: the Copart CSV dialect (strict RFC 4180 pass, tolerant pass), BOM, blank lines, line
   numbers, the 1 MiB record cap (`_RecordStream`);
2. the header → which field feeds which output column (`_map_header`);
3. each row's values → typed values, or the first failure in schema order → quarantine (`_Row`);
4. derived columns: VIN flags, the sale's zone and UTC auction time, taxonomy codes;
5. rows → `pa.RecordBatch` of `SCHEMA`, streamed `batch_size` rows at a time.

Decisions where the contract leaves room are marked "Reading:" in comments.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import xxhash

from vinops import _core
from vinops._core import VinopsError

__all__ = ["MAX_RECORD", "SCHEMA", "ReferenceReader", "VinopsError", "check_digit"]

#: Longest record accepted, in bytes, not counting its line break (§1).
MAX_RECORD = 1 << 20

_READ_CHUNK = 4 << 20


# --------------------------------------------------------------------------------------------------
# Errors


def _error(code: str, message: str) -> VinopsError:
    """The Rust core's exception (`vinops.VinopsError`), so that callers catch one type whichever engine
    runs. `.code` is one of the core's stable codes (`io`, `empty_file`, `missing_lot_number_column`,
    `taxonomy`) or, for a replacement zone table given to the reference only, `zones`."""
    error = VinopsError(message)
    error.code = code
    return error


# --------------------------------------------------------------------------------------------------
# The output schema (vinops_core/src/schema.rs `COLUMNS`, in order)

_ARROW_TYPES: dict[str, pa.DataType] = {
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

# (name, kind, nullable)
_COLUMNS: list[tuple[str, str, bool]] = [
    ("lot_number", "Int64", False),
    ("source_updated_at", "UtcTime", True),
    ("export_id", "Int64", True),
    ("yard_number", "Int32", True),
    ("yard_name", "Text", True),
    ("sale_date", "Date", True),
    ("sale_day_of_week", "Text", True),
    ("sale_time_hhmm", "Int16", True),
    ("time_zone_abbr", "Text", True),
    ("sale_tz", "Text", True),
    ("auction_at", "UtcTime", True),
    ("item_number", "Int32", True),
    ("vehicle_type", "Text", True),
    ("vehicle_type_code", "Int16", True),
    ("year", "Int16", True),
    ("make", "Text", True),
    ("model_group", "Text", True),
    ("model_detail", "Text", True),
    ("body_style", "Text", True),
    ("body_style_code", "Int16", True),
    ("color", "Text", True),
    ("color_code", "Int16", True),
    ("damage_primary", "Text", True),
    ("damage_primary_code", "Int16", True),
    ("damage_secondary", "Text", True),
    ("damage_secondary_code", "Int16", True),
    ("title_state", "Text", True),
    ("title_type", "Text", True),
    ("title_type_code", "Int16", True),
    ("has_keys", "Text", True),
    ("has_keys_code", "Int16", True),
    ("lot_cond", "Text", True),
    ("lot_cond_code", "Int16", True),
    ("vin", "Text", True),
    ("vin_valid_iso", "Bool", True),
    ("vin_check_digit_ok", "Bool", True),
    ("vin_short_or_legacy", "Bool", True),
    ("vin_model_year", "Int16", True),
    ("odometer", "Float64", True),
    ("odometer_brand", "Text", True),
    ("odometer_brand_code", "Int16", True),
    ("retail_value_cents", "Int64", True),
    ("repair_cost_cents", "Int64", True),
    ("engine", "Text", True),
    ("drive", "Text", True),
    ("drive_code", "Int16", True),
    ("transmission", "Text", True),
    ("transmission_code", "Int16", True),
    ("fuel", "Text", True),
    ("fuel_code", "Int16", True),
    ("cylinders", "Int16", True),
    ("runs_drives", "Text", True),
    ("runs_drives_code", "Int16", True),
    ("sale_status", "Text", True),
    ("sale_status_code", "Int16", True),
    ("high_bid_cents", "Int64", True),
    ("special_note", "Text", True),
    ("location_city", "Text", True),
    ("location_state", "Text", True),
    ("location_zip", "Text", True),
    ("location_country", "Text", True),
    ("currency_code", "Text", True),
    ("image_thumbnail", "Text", True),
    ("export_created_at", "NaiveTime", True),
    ("grid_row", "Text", True),
    ("make_offer_eligible", "Bool", True),
    ("buy_it_now_cents", "Int64", True),
    ("image_url", "Text", True),
    ("trim", "Text", True),
    ("rentals", "Bool", True),
    ("wholesale", "Bool", True),
    ("seller_name", "Text", True),
    ("offsite_address1", "Text", True),
    ("offsite_state", "Text", True),
    ("offsite_city", "Text", True),
    ("offsite_zip", "Text", True),
    ("sale_light", "Text", True),
    ("sale_light_code", "Int16", True),
    ("autograde", "Float64", True),
    ("announcements", "Text", True),
    ("announcement_codes", "CodeList", True),
    ("source_row", "Int64", False),
    ("quote_repaired", "Bool", False),
    ("utf8_lossy", "Bool", False),
    ("record_hash", "Int64", False),
]

#: The Arrow schema of every batch.
SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, _ARROW_TYPES[kind], nullable=nullable) for name, kind, nullable in _COLUMNS]
)
_KIND = {name: kind for name, kind, _ in _COLUMNS}
_NAMES = tuple(name for name, _, _ in _COLUMNS)


# --------------------------------------------------------------------------------------------------
# Input columns: which header name feeds which output column, and how its text is read.
# In output-schema order, which is also the order values are checked in (the first failure quarantines).
# `kind`: int (range from the output type), money, odometer, decimal, flag, sale_date, sale_time,
# source_time, db2_time, engine, vin, text.


class _Input(NamedTuple):
    column: str  # the output column it feeds
    name: str  # the canonical header name (also names the column in quarantine details)
    kind: str


_INPUTS: list[_Input] = [
    _Input("lot_number", "Lot number", "int"),
    _Input("source_updated_at", "Last Updated Time", "source_time"),
    _Input("export_id", "Id", "int"),
    _Input("yard_number", "Yard number", "int"),
    _Input("yard_name", "Yard name", "text"),
    _Input("sale_date", "Sale Date M/D/CY", "sale_date"),
    _Input("sale_day_of_week", "Day of Week", "text"),
    _Input("sale_time_hhmm", "Sale time (HHMM)", "sale_time"),
    _Input("time_zone_abbr", "Time Zone", "text"),
    _Input("item_number", "Item#", "int"),
    _Input("vehicle_type", "Vehicle Type", "text"),
    _Input("year", "Year", "int"),
    _Input("make", "Make", "text"),
    _Input("model_group", "Model Group", "text"),
    _Input("model_detail", "Model Detail", "text"),
    _Input("body_style", "Body Style", "text"),
    _Input("color", "Color", "text"),
    _Input("damage_primary", "Damage Description", "text"),
    _Input("damage_secondary", "Secondary Damage", "text"),
    _Input("title_state", "Sale Title State", "text"),
    _Input("title_type", "Sale Title Type", "text"),
    _Input("has_keys", "Has Keys-Yes or No", "text"),
    _Input("lot_cond", "Lot Cond. Code", "text"),
    _Input("vin", "VIN", "vin"),
    _Input("odometer", "Odometer", "odometer"),
    _Input("odometer_brand", "Odometer Brand", "text"),
    _Input("retail_value_cents", "Est. Retail Value", "money"),
    _Input("repair_cost_cents", "Repair cost", "money"),
    _Input("engine", "Engine", "engine"),
    _Input("drive", "Drive", "text"),
    _Input("transmission", "Transmission", "text"),
    _Input("fuel", "Fuel Type", "text"),
    _Input("cylinders", "Cylinders", "int"),
    _Input("runs_drives", "Runs/Drives", "text"),
    _Input("sale_status", "Sale Status", "text"),
    _Input("high_bid_cents", "High Bid =non-vix,Sealed=Vix", "money"),
    _Input("special_note", "Special Note", "text"),
    _Input("location_city", "Location city", "text"),
    _Input("location_state", "Location state", "text"),
    _Input("location_zip", "Location ZIP", "text"),
    _Input("location_country", "Location country", "text"),
    _Input("currency_code", "Currency Code", "text"),
    _Input("image_thumbnail", "Image Thumbnail", "text"),
    _Input("export_created_at", "Create Date/Time", "db2_time"),
    _Input("grid_row", "Grid/Row", "text"),
    _Input("make_offer_eligible", "Make-an-Offer Eligible", "flag"),
    _Input("buy_it_now_cents", "Buy-It-Now Price", "money"),
    _Input("image_url", "Image URL", "text"),
    _Input("trim", "Trim", "text"),
    _Input("rentals", "Rentals", "flag"),
    _Input("wholesale", "Wholesale", "flag"),
    _Input("seller_name", "Seller Name", "text"),
    _Input("offsite_address1", "Offsite Address1", "text"),
    _Input("offsite_state", "Offsite State", "text"),
    _Input("offsite_city", "Offsite City", "text"),
    _Input("offsite_zip", "Offsite Zip", "text"),
    _Input("sale_light", "Sale Light", "text"),
    _Input("autograde", "AutoGrade", "decimal"),
    _Input("announcements", "Announcements", "text"),
]

#: Other header names (after folding) that mean the same input.
_ALIASES = {"Copart Select": "Wholesale", "Lot ACV": "Est. Retail Value"}

#: The current header names in the order of the 59-column header (vinops_core/src/header.rs `NAMES`):
#: `missing_columns` lists the absent ones in this order.
_HEADER_ORDER: tuple[str, ...] = (
    "Id", "Yard number", "Yard name", "Sale Date M/D/CY", "Day of Week", "Sale time (HHMM)", "Time Zone", "Item#",
    "Lot number", "Vehicle Type", "Year", "Make", "Model Group", "Model Detail", "Body Style", "Color",
    "Damage Description", "Secondary Damage", "Sale Title State", "Sale Title Type", "Has Keys-Yes or No",
    "Lot Cond. Code", "VIN", "Odometer", "Odometer Brand", "Est. Retail Value", "Repair cost", "Engine", "Drive",
    "Transmission", "Fuel Type", "Cylinders", "Runs/Drives", "Sale Status", "High Bid =non-vix,Sealed=Vix",
    "Special Note", "Location city", "Location state", "Location ZIP", "Location country", "Currency Code",
    "Image Thumbnail", "Create Date/Time", "Grid/Row", "Make-an-Offer Eligible", "Buy-It-Now Price", "Image URL",
    "Trim", "Last Updated Time", "Rentals", "Wholesale", "Seller Name", "Offsite Address1", "Offsite State",
    "Offsite City", "Offsite Zip", "Sale Light", "AutoGrade", "Announcements",
)  # fmt: skip

#: Taxonomy domain → the text columns it codes (each gets `<column>_code`).
_DOMAIN_COLUMNS: dict[str, tuple[str, ...]] = {
    "vehicle_type": ("vehicle_type",),
    "body_style": ("body_style",),
    "color": ("color",),
    "damage": ("damage_primary", "damage_secondary"),
    "title_type": ("title_type",),
    "has_keys": ("has_keys",),
    "condition": ("lot_cond", "runs_drives"),
    "odometer_brand": ("odometer_brand",),
    "drive": ("drive",),
    "transmission": ("transmission",),
    "fuel": ("fuel",),
    "sale_type": ("sale_status",),
    "sale_light": ("sale_light",),
    "announcement": ("announcements",),
}


# --------------------------------------------------------------------------------------------------
# Text helpers. Everything here is ASCII-only on purpose: Python's str.strip/upper/lower/casefold are
# Unicode-aware (they strip U+00A0, turn "ß" into "SS" and "ſ" into "S"), the rules are not.

_WS = " \t\n\r\x0b\x0c"  # the trim set of §3
_WS_RUN = re.compile("[ \t\n\r\x0b\x0c]+")
_TO_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _trim(s: str) -> str:
    return s.strip(_WS)


def _collapse(s: str) -> str:
    """Trims, then replaces each inner run of ASCII whitespace by one space."""
    return _WS_RUN.sub(" ", _trim(s))


def _ascii_upper(s: str) -> str:
    return s.translate(_TO_UPPER)


def _fold_header(name: str) -> str:
    """Header names match after trimming, collapsing inner whitespace and folding ASCII case."""
    return _collapse(name).translate(_TO_LOWER)


def _fold_value(value: str) -> str:
    """Taxonomy values (and zone keys) match after trimming, collapsing whitespace, ASCII upper-casing."""
    return _collapse(value).translate(_TO_UPPER)


def record_hash(raw: bytes, seed: int = 0) -> int:
    """`record_hash`: XXH3-64 of the record's raw bytes (without its line break) with `seed`, as a signed
    int64 (the two's-complement reading of the unsigned digest, as the core's `as i64`)."""
    h = xxhash.xxh3_64_intdigest(raw, seed=seed)
    return h - (1 << 64) if h >= 1 << 63 else h


def _decode(raw: bytes) -> tuple[str, bool]:
    """UTF-8, invalid bytes → U+FFFD by the "maximal subpart" rule; True when a byte was replaced."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


# --------------------------------------------------------------------------------------------------
# §1 The dialect: one record starting at `data[start]`.
#
# Both passes look at the window `data[start:stop]`, which holds either everything up to the end of the
# input (`at_eof`) or at least MAX_RECORD + 2 bytes: enough to see a whole record and its line break
# whenever the record is not too long. A record's *content* is its bytes without the line break; its
# *length* is the content's length. Positions are absolute; the lengths returned are from `start`.

_CR, _LF, _QUOTE, _COMMA = 0x0D, 0x0A, 0x22, 0x2C
_UNQUOTED_END = re.compile(rb"[,\r\n]")
_QUOTE_OR_BREAK = re.compile(b'["\r\n]')
_BREAK = re.compile(rb"[\r\n]")


class _Parsed(NamedTuple):
    fields: list[bytes]
    length: int  # content bytes (the record without its line break)
    consumed: int  # content + line break


def _break_len(data: bytes, at: int) -> int:
    """Length of the line break starting at `data[at]` (a CR or an LF): CRLF is one break."""
    if data[at] == _CR and at + 1 < len(data) and data[at + 1] == _LF:
        return 2
    return 1


def strict_pass(data: bytes, start: int, stop: int, at_eof: bool) -> _Parsed | None:
    """RFC 4180: in a quoted field `""` is one quote and the next lone quote closes it; a quote inside an
    unquoted field is literal. None when the record is irregular (a closing quote followed by anything
    other than a comma, a line break or the end of input; the input ending inside a quoted field) or
    longer than MAX_RECORD (it does not end inside the window)."""
    fields: list[bytes] = []
    pos = start
    while True:
        if pos < stop and data[pos] == _QUOTE:  # a quoted field
            pos += 1
            pieces = []
            while True:
                q = data.find(b'"', pos, stop)
                if q < 0:
                    return None  # the input (or the window: a too-long record) ends inside the quotes
                pieces.append(data[pos:q])
                if q + 1 < stop and data[q + 1] == _QUOTE:  # "" is one literal quote
                    pieces.append(b'"')
                    pos = q + 2
                    continue
                pos = q + 1
                break
            fields.append(b"".join(pieces))
            if pos == stop:
                if not at_eof:
                    return None  # cannot see what follows: the record is too long
                end, after = pos, pos  # the input ends right after the closing quote
                break
            if data[pos] == _COMMA:
                pos += 1
                continue
            if data[pos] in (_CR, _LF):
                end, after = pos, pos + _break_len(data, pos)
                break
            return None  # irregular: something other than , or a line break follows a closing quote
        m = _UNQUOTED_END.search(data, pos, stop)  # an unquoted field
        if m is None:
            if not at_eof:
                return None  # too long
            fields.append(data[pos:stop])
            end, after = stop, stop
            break
        fields.append(data[pos : m.start()])
        if data[m.start()] == _COMMA:
            pos = m.end()
            continue
        end, after = m.start(), m.start() + _break_len(data, m.start())
        break
    if end - start > MAX_RECORD:
        return None
    return _Parsed(fields, end - start, after - start)


def tolerant_pass(data: bytes, start: int, stop: int, at_eof: bool) -> _Parsed | None:
    """The Copart rule: inside a quoted field a quote closes it only when the next byte is a comma, a line
    break or the end of input, otherwise it is literal (so `""` is two quotes; nothing is unescaped); a line
    break always ends the record, inside quotes too. None when the record is longer than MAX_RECORD."""
    fields: list[bytes] = []
    pos = start
    end = after = -1
    while end < 0:
        if pos < stop and data[pos] == _QUOTE:  # a quoted field
            first = pos + 1
            scan = first
            while True:
                m = _QUOTE_OR_BREAK.search(data, scan, stop)
                if m is None:
                    if not at_eof:
                        return None  # too long
                    fields.append(data[first:stop])  # the input ends inside the quotes
                    end = after = stop
                    break
                k = m.start()
                if data[k] != _QUOTE:  # a line break inside the quotes ends the field and the record
                    fields.append(data[first:k])
                    end, after = k, k + _break_len(data, k)
                    break
                if k + 1 == stop:
                    if not at_eof:
                        return None  # too long
                    fields.append(data[first:k])  # a quote at the end of input closes the field
                    end = after = stop
                    break
                if data[k + 1] == _COMMA:  # the quote closes the field; the next one follows
                    fields.append(data[first:k])
                    pos = k + 2
                    break
                if data[k + 1] in (_CR, _LF):  # the quote closes the field and the line break the record
                    fields.append(data[first:k])
                    end, after = k + 1, k + 1 + _break_len(data, k + 1)
                    break
                scan = k + 1  # a literal quote
            continue
        m = _UNQUOTED_END.search(data, pos, stop)  # an unquoted field
        if m is None:
            if not at_eof:
                return None  # too long
            fields.append(data[pos:stop])
            end = after = stop
        elif data[m.start()] == _COMMA:
            fields.append(data[pos : m.start()])
            pos = m.end()
        else:
            fields.append(data[pos : m.start()])
            end, after = m.start(), m.start() + _break_len(data, m.start())
    if end - start > MAX_RECORD:
        return None
    return _Parsed(fields, end - start, after - start)


def _count_breaks(data: bytes, start: int, stop: int) -> int:
    """Physical line breaks in `data[start:stop]`: LF, CRLF and a lone CR each count once."""
    return data.count(b"\n", start, stop) + data.count(b"\r", start, stop) - data.count(b"\r\n", start, stop)


# --------------------------------------------------------------------------------------------------
# §1 Streaming records


class _Record(NamedTuple):
    row: int  # 0 for the header, then 1, 2, ... for every data record (rows and quarantined ones)
    line: int  # 1-based physical line where the record starts
    raw: bytes  # the record's bytes without its line break (the first MAX_RECORD for a too-long one)
    fields: list[bytes] | None  # None: too long
    quote_repaired: bool


class _RecordStream:
    """Records from a binary file read in chunks; the SHA-256 and the byte count cover every byte read."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._buf = b""
        self._pos = 0
        self._eof = False
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0
        self._line = 1
        self._row = 0
        self._fill(3)
        if self._buf.startswith(b"\xef\xbb\xbf"):  # a BOM at the very start is skipped
            self._pos = 3

    def _read_chunk(self) -> None:
        chunk = self._file.read(_READ_CHUNK)
        if not chunk:
            self._eof = True
            return
        self.sha256.update(chunk)
        self.bytes_read += len(chunk)
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0

    def _fill(self, need: int) -> None:
        """Makes at least `need` bytes available from the current position, or all there are."""
        while len(self._buf) - self._pos < need and not self._eof:
            self._read_chunk()

    def _skip_past_line_break(self) -> None:
        """Consumes up to and including the next line break (or to the end), without keeping the bytes."""
        while True:
            m = _BREAK.search(self._buf, self._pos)
            if m is not None:
                self._pos = m.start()
                self._fill(2)  # a CR at the end of the buffer may be the first half of a CRLF
                self._pos += _break_len(self._buf, self._pos)
                self._line += 1
                return
            self._pos = len(self._buf)
            if self._eof:
                return
            self._read_chunk()

    def drain(self) -> None:
        """Reads whatever is left, so that the hash and the byte count cover the whole file."""
        while not self._eof:
            self._pos = len(self._buf)
            self._read_chunk()

    def next_record(self, expected_fields: int | None) -> _Record | None:
        """The next non-blank record, or None at the end. `expected_fields` None (the header): any count."""
        while True:
            self._fill(MAX_RECORD + 2)
            if self._pos >= len(self._buf):
                return None
            if self._buf[self._pos] not in (_CR, _LF):
                break
            self._pos += _break_len(self._buf, self._pos)  # a record of zero bytes: a blank line, not a row
            self._line += 1
        line, row = self._line, self._row
        self._row += 1
        data, start = self._buf, self._pos
        stop = min(len(data), start + MAX_RECORD + 2)
        at_eof = self._eof and stop == len(data)

        parsed = strict_pass(data, start, stop, at_eof)
        repaired = False
        if parsed is None or (expected_fields is not None and len(parsed.fields) != expected_fields):
            parsed = tolerant_pass(data, start, stop, at_eof)
            repaired = True
        if parsed is None:  # too long: keep the first MAX_RECORD bytes, resume after the next line break
            raw = data[start : start + MAX_RECORD]
            self._pos = start + MAX_RECORD
            self._skip_past_line_break()
            return _Record(row, line, raw, None, True)
        self._pos = start + parsed.consumed
        self._line += _count_breaks(data, start, self._pos)
        return _Record(row, line, data[start : start + parsed.length], parsed.fields, repaired)


# --------------------------------------------------------------------------------------------------
# §3 Values. Each parser takes trimmed, non-empty text and returns the value or raises _Invalid(what).


class _Invalid(Exception):
    """`what` completes the detail sentence "<Column>: '<value>' is not a valid <what>"."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


_INT = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_INT_BOUNDS = {"Int16": 1 << 15, "Int32": 1 << 31, "Int64": 1 << 63}
_INT64_MAX = (1 << 63) - 1


def _digits_value(digits: str) -> int:
    """int() of an ASCII digit string of any length (Python refuses > 4300 digits; such values are huge
    anyway, so only their magnitude matters: anything past 20 significant digits is clamped)."""
    significant = digits.lstrip("0")
    if len(significant) > 20:
        return 10**21
    return int(significant or "0")


def parse_int(text: str, kind: str) -> int:
    """`-?[0-9]+` that fits the column's type (Int16, Int32, Int64)."""
    if not _INT.fullmatch(text):
        raise _Invalid("integer")
    negative = text.startswith("-")
    value = _digits_value(text.lstrip("-"))
    value = -value if negative else value
    bound = _INT_BOUNDS[kind]
    if not -bound <= value < bound:
        raise _Invalid("integer")
    return value


def parse_cents(text: str) -> int | None:
    """Money `-?[0-9]+(\\.[0-9]+)?` → cents, rounded half away from zero from the exact decimal.
    Reading: NULL when the decimal itself is zero (`0`, `0.0`, `-0.00`); a non-zero amount under half a
    cent (`0.004`) is 0 cents. The cents must fit an int64."""
    m = _DECIMAL.fullmatch(text)
    if m is None:
        raise _Invalid("amount")
    sign, whole, frac = m.group(1), m.group(2), m.group(3) or ""
    if not (whole + frac).strip("0"):
        return None
    cents = _digits_value(whole) * 100 + int((frac + "00")[:2])
    if len(frac) > 2 and frac[2] >= "5":  # the rest is at least half a cent: away from zero
        cents += 1
    if sign:
        cents = -cents
    if not -(1 << 63) <= cents <= _INT64_MAX:
        raise _Invalid("amount")
    return cents


def parse_decimal(text: str) -> float:
    """`-?[0-9]+(\\.[0-9]+)?` → the correctly rounded float64 (Python's float() is correctly rounded)."""
    if not _DECIMAL.fullmatch(text):
        raise _Invalid("number")
    return float(text)


_TRUE = {"Y", "YES", "TRUE", "1"}
_FALSE = {"N", "NO", "FALSE", "0"}


def parse_flag(text: str) -> bool:
    upper = _ascii_upper(text)
    if upper in _TRUE:
        return True
    if upper in _FALSE:
        return False
    raise _Invalid("flag")


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _days(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a real date (years 1-9999, proleptic Gregorian); ValueError otherwise."""
    return date(year, month, day).toordinal() - _EPOCH_ORDINAL


def parse_sale_date(text: str) -> int | None:
    """`0` (exactly) → NULL; `YYYYMMDD`, a real date (years 0001-9999) → days since the epoch."""
    if text == "0":
        return None
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise _Invalid("date")
    try:
        return _days(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise _Invalid("date") from None


def parse_sale_time(text: str) -> int | None:
    """`0` (exactly) → NULL; otherwise 1-4 ASCII digits read as the number HHMM written without leading
    zeros (`700` is 07:00, `30` is 00:30, `7` is 00:07): hours = v // 100 ≤ 23, minutes = v % 100 ≤ 59.
    `00`, `000` and `0000` are midnight (0), not NULL."""
    if text == "0":
        return None
    if not 1 <= len(text) <= 4 or not text.isascii() or not text.isdigit():
        raise _Invalid("sale time")
    hours, minutes = divmod(int(text), 100)
    if hours > 23 or minutes > 59:
        raise _Invalid("sale time")
    return hours * 100 + minutes


_SOURCE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(Z|([+-])([0-9]{2}):?([0-9]{2}))?"
)
_DB2_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})-([0-9]{2})\.([0-9]{2})\.([0-9]{2})(?:\.([0-9]{1,6}))?")
_US_PER_DAY = 86_400_000_000


def _naive_micros(groups: tuple[str | None, ...]) -> int:
    """µs since 1970-01-01T00:00 of (Y, M, D, h, m, s, fraction or None); ValueError if not real."""
    year, month, day, hour, minute, second = (int(g) for g in groups[:6])  # type: ignore[arg-type]
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("time out of range")
    micros = int(((groups[6] or "") + "000000")[:6])
    return _days(year, month, day) * _US_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros


def parse_source_time(text: str) -> int:
    """`YYYY-MM-DD[T ]HH:MM:SS[.f{1,6}][Z|±HH:MM|±HHMM]`, no offset = UTC → µs since the epoch, UTC.
    Reading: offsets up to ±23:59; `T` and `Z` upper-case only; seconds 00-59."""
    m = _SOURCE_TIME.fullmatch(text)
    if m is None:
        raise _Invalid("timestamp")
    try:
        local = _naive_micros(m.groups()[:7])
    except ValueError:
        raise _Invalid("timestamp") from None
    if m.group(9) is None:  # no offset, or Z
        return local
    off_hours, off_minutes = int(m.group(10)), int(m.group(11))
    if off_hours > 23 or off_minutes > 59:
        raise _Invalid("timestamp")
    offset = (off_hours * 60 + off_minutes) * 60_000_000
    return local - offset if m.group(9) == "+" else local + offset


def parse_db2_time(text: str) -> int:
    """DB2 `YYYY-MM-DD-HH.MM.SS[.f{1,6}]` → naive µs since 1970-01-01T00:00."""
    m = _DB2_TIME.fullmatch(text)
    if m is None:
        raise _Invalid("timestamp")
    try:
        return _naive_micros(m.groups())
    except ValueError:
        raise _Invalid("timestamp") from None


# --------------------------------------------------------------------------------------------------
# VIN

_ISO_ALPHABET = frozenset("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9))),
    **dict(zip("JKLMN", range(1, 6))),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10))),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_MODEL_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # the n-th (from 0) names 1980+n and 2010+n


def _valid_iso(vin: str) -> bool:
    return len(vin) == 17 and all(c in _ISO_ALPHABET for c in vin)


def check_digit(vin: str) -> str | None:
    """The North-American check digit ('0'-'9' or 'X') of a 17-character ISO 3779 VIN; None otherwise."""
    if not _valid_iso(vin):
        return None
    total = sum(_TRANSLITERATION[c] * w for c, w in zip(vin, _WEIGHTS))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


class _VinInfo(NamedTuple):
    valid_iso: bool
    check_digit_ok: bool
    short_or_legacy: bool
    model_year: int | None


def analyze_vin(vin: str, year: int | None) -> _VinInfo:
    """Flags and model year of a normalized (trimmed, ASCII upper-cased) VIN. Lengths are in characters."""
    valid = _valid_iso(vin)
    model_year = None
    if valid and vin[9] in _MODEL_YEAR_CODES:
        n = _MODEL_YEAR_CODES.index(vin[9])
        early, late = 1980 + n, 2010 + n
        if year is not None:
            model_year = late if abs(late - year) <= abs(early - year) else early
        else:
            model_year = early if vin[6].isdigit() else late
    return _VinInfo(
        valid_iso=valid,
        check_digit_ok=valid and vin[8] == check_digit(vin),
        short_or_legacy=len(vin) < 17,
        model_year=model_year,
    )


# --------------------------------------------------------------------------------------------------
# Auction time: the zone table and local wall-clock time → UTC

_STATE_PREFIX = re.compile(r"([A-Z]{2}) - ")


class _Zones:
    """A zone table (`kind,key,zone,note`, kind ∈ yard/state/abbr): `data` are its bytes, `path` names it in
    errors. Keys match after `_fold_value`."""

    def __init__(self, data: bytes, path: str) -> None:
        self.by_kind: dict[str, dict[str, str]] = {"yard": {}, "state": {}, "abbr": {}}
        self._tz: dict[str, ZoneInfo] = {}
        with io.BytesIO(data) as f:
            stream = _RecordStream(f)
            header = stream.next_record(None)
            if header is None or header.fields is None:
                raise _error("zones", f"{path}: no header")
            names = [_fold_header(_decode(v)[0]) for v in header.fields]
            try:
                at = {k: names.index(k) for k in ("kind", "key", "zone")}
            except ValueError:
                raise _error("zones", f"{path}: the header must name kind, key and zone") from None
            while (record := stream.next_record(len(names))) is not None:
                if record.fields is None or len(record.fields) != len(names):
                    raise _error("zones", f"{path}: line {record.line} is malformed")
                kind, key, zone = (_trim(_decode(record.fields[at[k]])[0]) for k in ("kind", "key", "zone"))
                if kind not in self.by_kind:
                    raise _error("zones", f"{path}: line {record.line}: unknown kind {kind!r}")
                folded = _fold_value(key)
                if folded in self.by_kind[kind]:
                    raise _error("zones", f"{path}: line {record.line}: {kind} {key!r} is listed twice")
                try:
                    self._tz[zone] = ZoneInfo(zone)
                except (ZoneInfoNotFoundError, ValueError):
                    raise _error("zones", f"{path}: line {record.line}: unknown zone {zone!r}") from None
                self.by_kind[kind][folded] = zone

    def resolve(self, yard_name: str | None, location_state: str | None, abbreviation: str | None) -> str | None:
        """The IANA zone name by the rules' order: yard row, the yard name's `XX - ` state prefix,
        `Location state`, the `Time Zone` abbreviation. Inputs are trimmed text or None."""
        if yard_name is not None:
            yard = _fold_value(yard_name)
            if yard in self.by_kind["yard"]:
                return self.by_kind["yard"][yard]
            m = _STATE_PREFIX.match(yard)
            if m is not None and m.group(1) in self.by_kind["state"]:
                return self.by_kind["state"][m.group(1)]
        if location_state is not None:
            zone = self.by_kind["state"].get(_fold_value(location_state))
            if zone is not None:
                return zone
        if abbreviation is not None:
            return self.by_kind["abbr"].get(_fold_value(abbreviation))
        return None

    def local_to_utc(self, zone: str, days: int, hhmm: int) -> int:
        """Local date + HHMM in `zone` → µs since the epoch, UTC. A time that occurs twice takes the earlier
        instant, one in a spring-forward gap the offset in force before the gap: both are what `fold=0`
        means (PEP 495)."""
        day = date.fromordinal(days + _EPOCH_ORDINAL)
        hour, minute = divmod(hhmm, 100)
        local = datetime(day.year, day.month, day.day, hour, minute, fold=0, tzinfo=self._tz[zone])
        offset = local.utcoffset()
        assert offset is not None
        wall = days * _US_PER_DAY + (hour * 60 + minute) * 60_000_000
        return wall - offset // timedelta(microseconds=1)


_ZONES_CACHE: dict[str | None, _Zones] = {}


def _load_zones(path: str | os.PathLike[str] | None = None) -> _Zones:
    """The zone table at `path`, or with None the one compiled into the Rust core (`_core.zones_csv()`, the
    table of § "Auction time"), so both engines read the same bytes."""
    key = None if path is None else os.fspath(path)
    if key not in _ZONES_CACHE:
        if key is None:
            _ZONES_CACHE[key] = _Zones(_core.zones_csv().encode(), "vinops._core.zones_csv()")
        else:
            with open(key, "rb") as f:
                _ZONES_CACHE[key] = _Zones(f.read(), key)
    return _ZONES_CACHE[key]


# --------------------------------------------------------------------------------------------------
# Taxonomy


def _fold_taxonomy(taxonomy: Mapping[str, Mapping[str, int]] | None) -> dict[str, dict[str, int]]:
    """{domain: {folded value: code}}. Unknown domains, codes outside int16 and two raw values that fold
    to one with different codes are errors (code `taxonomy`)."""
    folded: dict[str, dict[str, int]] = {}
    for domain, values in (taxonomy or {}).items():
        if domain not in _DOMAIN_COLUMNS:
            raise _error("taxonomy", f"invalid taxonomy mapping: unknown domain {domain!r}")
        table: dict[str, int] = {}
        for raw, code in values.items():
            if isinstance(code, bool) or not isinstance(code, int) or not -(1 << 15) <= code < (1 << 15):
                raise _error("taxonomy", f"invalid taxonomy mapping: {domain}: code {code!r} of {raw!r} is not an int16")
            key = _fold_value(raw)
            if not key:
                continue  # a value is never empty after trimming, so an empty key can never match
            if table.get(key, code) != code:
                raise _error(
                    "taxonomy",
                    f"invalid taxonomy mapping: {domain}: {raw!r} folds to {key!r}, which is mapped to both "
                    f"{table[key]} and {code}",
                )
            table[key] = code
        folded[domain] = table
    return folded


# --------------------------------------------------------------------------------------------------
# §2 Header


def _map_header(names: list[str]) -> tuple[dict[str, int], list[str], list[str]]:
    """{output column: field index} for the known names, the names left over (`extra_columns`, in header
    order) and the current names of the known inputs the header lacks (`missing_columns`, in `_HEADER_ORDER`).

    Current names are matched first, then aliases: when a file has both spellings of a field, the current
    one feeds it and the alias is an extra column, whatever the order. Of two columns with the same
    spelling, the first feeds the field. `names` are trimmed already."""
    current = {_fold_header(i.name): i.column for i in _INPUTS}
    aliases = {_fold_header(alias): current[_fold_header(name)] for alias, name in _ALIASES.items()}
    folded = [_fold_header(name) for name in names]
    index: dict[str, int] = {}
    used = [False] * len(names)
    for table in (current, aliases):
        for i, key in enumerate(folded):
            column = table.get(key)
            if column is not None and not used[i] and column not in index:
                index[column] = i
                used[i] = True
    extra = [name for name, u in zip(names, used, strict=True) if not u]
    column_of_name = {i.name: i.column for i in _INPUTS}
    missing = [name for name in _HEADER_ORDER if column_of_name[name] not in index]
    return index, extra, missing


# --------------------------------------------------------------------------------------------------
# The reader


class _Quarantined(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class ReferenceReader:
    """Reads one Copart sales-data CSV into batches of `SCHEMA`. The header is read when the reader is made
    (raising `VinopsError` with code `io`, `empty_file`, `missing_lot_number_column` or `taxonomy`);
    `batches()` streams the rows once; `summary()` is complete once the batches are exhausted.

    `zones` (not part of the Rust reader's interface) replaces the core's zone table with a file, for tests."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        taxonomy: Mapping[str, Mapping[str, int]] | None = None,
        batch_size: int = 65536,
        zones: str | os.PathLike[str] | None = None,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0 <= seed < 1 << 64:
            raise OverflowError("seed must be an unsigned 64-bit integer")
        self._seed = seed
        self._started = time.perf_counter()
        self._seconds = 0.0
        self._batch_size = batch_size
        self._taxonomy = _fold_taxonomy(taxonomy)
        self._zones = _load_zones(zones)
        self._path = os.fspath(path)
        try:
            self._file = open(path, "rb")  # noqa: SIM115 - closed when the batches end
        except OSError as e:
            raise _error("io", f"cannot read {self._path}: {e}") from e
        try:
            self._records = _RecordStream(self._file)
            header = self._records.next_record(None)
            if header is None:
                raise _error("empty_file", "the file is empty")
            # A header too long to be a record is one name (its first MAX_RECORD bytes), as in the core.
            names = [_decode(f)[0] for f in header.fields] if header.fields is not None else [_decode(header.raw)[0]]
            self._header = [_trim(name) for name in names]
            self._index, self._extra, self._missing = _map_header(self._header)
            if "lot_number" not in self._index:
                start = ",".join(names)[:80]
                raise _error(
                    "missing_lot_number_column",
                    f"not a Copart sales-data CSV: the header has no 'Lot number' column (it starts {start!r})",
                )
        except OSError as e:
            self._file.close()
            raise _error("io", f"cannot read {self._path}: {e}") from e
        except BaseException:
            self._file.close()
            raise
        self._seconds = time.perf_counter() - self._started  # busy time: reading the header so far
        self._width = len(self._header)
        self._inputs = [(i, self._index.get(i.column)) for i in _INPUTS]
        self._rows_in = 0
        self._rows_ok = 0
        self._quarantine: list[dict[str, Any]] = []
        self._unknown: dict[str, dict[str, int]] = {}
        self._categorical_cells = 0
        self._started_batches = False
        self._done = False

    @property
    def schema(self) -> pa.Schema:
        return SCHEMA

    def close(self) -> None:
        """Closes the file (done by itself when the batches end); for a caller that stops early."""
        self._file.close()

    # -- streaming

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, `batch_size` at a time (the last batch may be shorter; no empty batch)."""
        if self._started_batches:
            raise RuntimeError("batches() can be called once")
        self._started_batches = True
        return self._generate()

    def _generate(self) -> Iterator[pa.RecordBatch]:
        """`seconds` counts the time spent here, not the time the consumer holds a batch."""
        columns: dict[str, list[Any]] = {name: [] for name in _NAMES}
        pending = 0
        resumed = time.perf_counter()
        try:
            while (record := self._records.next_record(self._width)) is not None:
                self._rows_in += 1
                try:
                    row = self._convert(record)
                except _Quarantined as q:
                    self._quarantine.append(
                        {"row": record.row, "line": record.line, "reason": q.reason, "detail": q.detail, "raw": record.raw}
                    )
                    continue
                self._rows_ok += 1
                for name, value in row.items():
                    columns[name].append(value)
                pending += 1
                if pending == self._batch_size:
                    batch = self._batch(columns)
                    self._seconds += time.perf_counter() - resumed
                    yield batch
                    resumed = time.perf_counter()
                    columns = {name: [] for name in _NAMES}
                    pending = 0
            if pending:
                batch = self._batch(columns)
                self._seconds += time.perf_counter() - resumed
                yield batch
                resumed = time.perf_counter()
            self._records.drain()
            self._done = True
            self._seconds += time.perf_counter() - resumed
        finally:
            self._file.close()

    @staticmethod
    def _batch(columns: dict[str, list[Any]]) -> pa.RecordBatch:
        arrays = [pa.array(columns[field.name], type=field.type) for field in SCHEMA]
        return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)

    # -- one record → one row (a dict in schema order) or _Quarantined

    def _convert(self, record: _Record) -> dict[str, Any]:
        if record.fields is None:
            raise _Quarantined("record_too_long", f"record longer than {MAX_RECORD} bytes")
        if len(record.fields) != self._width:
            raise _Quarantined("field_count", f"expected {self._width} fields, found {len(record.fields)}")

        # Decode and trim the fields that feed a column (the values of extra columns are ignored).
        text: dict[str, str | None] = {}
        lossy = False
        for spec, at in self._inputs:
            if at is None:
                text[spec.column] = None
                continue
            value, replaced = _decode(record.fields[at])
            lossy = lossy or replaced
            value = _trim(value)
            text[spec.column] = value if value else None

        # Every fallible value, in schema order: the first failure quarantines the row.
        typed: dict[str, Any] = {}
        for spec, _ in self._inputs:
            value = text[spec.column]
            if spec.column == "lot_number" and value is None:
                raise _Quarantined("missing_lot_number", "Lot number is empty")
            if value is None:
                typed[spec.column] = None
                continue
            try:
                typed[spec.column] = self._typed_value(spec, value)
            except _Invalid as e:
                raise _Quarantined("invalid_value", f"{spec.name}: '{value}' is not a valid {e.what}") from None

        # Derived columns (none of them can fail).
        zone = self._zones.resolve(text["yard_name"], text["location_state"], text["time_zone_abbr"])
        auction_at = None
        if zone is not None and typed["sale_date"] is not None and typed["sale_time_hhmm"] is not None:
            auction_at = self._zones.local_to_utc(zone, typed["sale_date"], typed["sale_time_hhmm"])
        vin = typed["vin"]
        info = analyze_vin(vin, typed["year"]) if vin is not None else None

        row: dict[str, Any] = dict.fromkeys(_NAMES)
        row.update(typed)
        row["sale_tz"] = zone
        row["auction_at"] = auction_at
        if info is not None:
            row["vin_valid_iso"] = info.valid_iso
            row["vin_check_digit_ok"] = info.check_digit_ok
            row["vin_short_or_legacy"] = info.short_or_legacy
            row["vin_model_year"] = info.model_year
        if row["announcements"] is not None:
            row["announcement_codes"] = []  # the codes of the known items (none without the domain)
        self._codes(row)
        row["source_row"] = record.row
        row["quote_repaired"] = record.quote_repaired
        row["utf8_lossy"] = lossy
        row["record_hash"] = record_hash(record.raw, self._seed)
        return row

    def _typed_value(self, spec: _Input, value: str) -> Any:
        kind = spec.kind
        if kind == "text":
            return value
        if kind == "int":
            return parse_int(value, _KIND[spec.column])
        if kind == "money":
            return parse_cents(value)
        if kind == "odometer":
            number = parse_decimal(value)
            return None if number == 0.0 else number
        if kind == "decimal":
            return parse_decimal(value)
        if kind == "flag":
            return parse_flag(value)
        if kind == "sale_date":
            return parse_sale_date(value)
        if kind == "sale_time":
            return parse_sale_time(value)
        if kind == "source_time":
            return parse_source_time(value)
        if kind == "db2_time":
            return parse_db2_time(value)
        if kind == "engine":
            return _collapse(value)
        if kind == "vin":
            return _ascii_upper(value)
        raise AssertionError(kind)

    def _codes(self, row: dict[str, Any]) -> None:
        """Fills the `_code` columns and `announcement_codes`; counts cells and unknown values. Only for
        rows that are loaded, and only for domains present in the taxonomy."""
        for domain, table in self._taxonomy.items():
            for column in _DOMAIN_COLUMNS[domain]:
                value = row[column]
                if value is None:
                    continue
                if domain == "announcement":
                    items = [item for item in (_trim(i) for i in value.split(",")) if item]
                    codes = []
                    for item in items:
                        code = self._lookup(domain, table, item)
                        if code is not None:
                            codes.append(code)
                    row["announcement_codes"] = codes
                else:
                    row[f"{column}_code"] = self._lookup(domain, table, value)

    def _lookup(self, domain: str, table: dict[str, int], value: str) -> int | None:
        self._categorical_cells += 1
        code = table.get(_fold_value(value))
        if code is None:
            counts = self._unknown.setdefault(domain, {})
            counts[value] = counts.get(value, 0) + 1
        return code

    # -- after the batches

    def summary(self) -> dict[str, Any]:
        """The keys of the Rust core's summary (vinops_core/src/python.rs). Complete once `finished` is true;
        before that the counts so far, `sha256` None and `bytes` what has been read (buffering differs from
        the core's, so only a finished summary is comparable)."""
        return {
            "sha256": self._records.sha256.hexdigest() if self._done else None,
            "rows_in": self._rows_in,
            "rows_ok": self._rows_ok,
            "rows_quarantined": len(self._quarantine),
            "quarantine": [dict(q) for q in self._quarantine],
            "unknown": {domain: dict(counts) for domain, counts in self._unknown.items()},
            "categorical_cells": self._categorical_cells,
            "extra_columns": list(self._extra),
            "missing_columns": list(self._missing),
            "header_width": self._width,
            "bytes": self._records.bytes_read,
            "seconds": self._seconds,
            "finished": self._done,
        }
