"""Realistic synthetic Copart sales-data files (`vinops sample`).

`write_sample` writes a file in the feed's format: the real header of a chosen version, every field
quoted, values drawn from real distributions (``data/sample_model.json``, built from real samples by
``bench/build_sample_model.py``), plus a controlled rate of the defects the real feed carries.
The output depends only on the arguments: the same seed and arguments give a byte-identical file.

Every defect written parses under docs/normalization.md (the unescaped quotes need its tolerant pass);
rows that cannot parse at all belong in hand-written tests, not here.
"""

from __future__ import annotations

import json
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Any

__all__ = ["HEADERS", "DEFECT_KINDS", "SampleStats", "write_sample"]

_MODEL_PATH = Path(__file__).with_name("data") / "sample_model.json"

_COLUMNS_49 = (
    "Id", "Yard number", "Yard name", "Sale Date M/D/CY", "Day of Week", "Sale time (HHMM)", "Time Zone",
    "Item#", "Lot number", "Vehicle Type", "Year", "Make", "Model Group", "Model Detail", "Body Style", "Color",
    "Damage Description", "Secondary Damage", "Sale Title State", "Sale Title Type", "Has Keys-Yes or No",
    "Lot Cond. Code", "VIN", "Odometer", "Odometer Brand", "Est. Retail Value", "Repair cost", "Engine", "Drive",
    "Transmission", "Fuel Type", "Cylinders", "Runs/Drives", "Sale Status", "High Bid =non-vix,Sealed=Vix",
    "Special Note", "Location city", "Location state", "Location ZIP", "Location country", "Currency Code",
    "Image Thumbnail", "Create Date/Time", "Grid/Row", "Make-an-Offer Eligible", "Buy-It-Now Price", "Image URL",
    "Trim", "Last Updated Time",
)  # fmt: skip
_COLUMNS_56 = _COLUMNS_49 + (
    "Rentals", "Copart Select", "Seller Name", "Offsite Address1", "Offsite State", "Offsite City", "Offsite Zip",
)  # fmt: skip
_COLUMNS_59_SELECT = _COLUMNS_56 + ("Sale Light", "AutoGrade", "Announcements")

#: Column names per header version, in file order.
HEADERS: dict[str, tuple[str, ...]] = {
    "wholesale": tuple("Wholesale" if c == "Copart Select" else c for c in _COLUMNS_59_SELECT),  # Nov 2025 on
    "copart_select": _COLUMNS_59_SELECT,  # Oct 2025
    "56": _COLUMNS_56,  # about 2023-2025
    "49": _COLUMNS_49,  # mid 2020
}

#: Defect kinds, each injected at `defect_rate`.
DEFECT_KINDS = ("unescaped_quote", "padding", "missing_vin", "short_vin", "lowercase_vin")

#: Default export time: fixed, so the output is deterministic.
DEFAULT_START = datetime(2026, 2, 16, 7, 25, 12)

_LINE_ENDINGS = ("\n", "\r\n")
_DATE_WINDOW_DAYS = 30
_DAY_NAMES = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_RUNS_DRIVES = {"D": "Run & Drive Verified", "S": "Vehicle Starts", "E": "DEFAULT", "": "", "N": ""}

# Real unescaped-quote values (`125" SLEEPER CAB` and `SUMMIT 850 X 165"` were seen raw; `113"` in rebrowser's copy).
_QUOTED_TRIMS = ('113" SLEEPER CAB', '125" SLEEPER CAB', '72" SLEEPER')
_QUOTED_MODEL_DETAILS = ('SUMMIT 850 X 165"', 'SUMMIT X 154"')
# Columns that receive extra padding (never Trim/Model Detail, which carry the quote defect).
_PAD_COLUMNS = (
    "Lot number", "Make", "Model Group", "Color", "Damage Description", "Odometer", "Est. Retail Value",
    "Location city", "Sale Title Type", "Cylinders",
)  # fmt: skip

# ISO 3779 check digit
_VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_VIN_VALUE = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9))),
    **dict(zip("JKLMN", range(1, 6))),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10))),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # position 10: 1980+n and 2010+n
_SERIAL_HI = [7 * (n // 100) + 6 * (n // 10 % 10) + 5 * (n % 10) for n in range(1000)]
_SERIAL_LO = [4 * (n // 100) + 3 * (n // 10 % 10) + 2 * (n % 10) for n in range(1000)]


@dataclass(frozen=True)
class SampleStats:
    """What `write_sample` wrote."""

    path: Path
    rows: int
    bytes: int
    header: str
    #: rows that received each defect kind (see DEFECT_KINDS)
    defects: dict[str, int] = field(default_factory=dict)
    #: VINs written on two lots (relists)
    relisted_vins: int = 0
    #: rows of pre-1981 vehicles, whose (correct) VINs are shorter than 17 characters
    legacy_vins: int = 0


# ---------------------------------------------------------------------------------------------------------
# the model


class _Table:
    """Values with cumulative weights, sampled with `Random.choices`."""

    __slots__ = ("values", "cum", "total")

    def __init__(self, values: list[Any], weights: list[float]) -> None:
        if not values:
            raise ValueError("empty table")
        self.values = values
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def draw(self, rng: Random, k: int) -> list[Any]:
        return rng.choices(self.values, cum_weights=self.cum, k=k)

    def one(self, u: float) -> Any:
        return self.values[bisect(self.cum, u * self.total)]


class _Model:
    def __init__(self, raw: dict[str, Any]) -> None:
        cat = raw["categorical"]
        self.cat = {k: _Table(*v) for k, v in cat.items() if isinstance(v, list)}
        self.special_note_fill: float = cat["special_note_fill"]
        self.rates: dict[str, float] = raw["rates"]
        self.num: dict[str, Any] = raw["numeric"]
        self.title_by_state = {st: _Table(*v) for st, v in raw["titles_by_state"].items()}
        self.seller = _Table(*raw["seller_names"])
        self.grid = _Table([g.rjust(5) for g in raw["grid_rows"][0]], raw["grid_rows"][1])
        self.offsite = _Table([tuple(t) for t in raw["offsite"][0]], raw["offsite"][1])
        self.lot_last_digit = _Table(*raw["lot_last_digit"])
        self.thumbs = _Table(
            [(kind, folders) for kind, (_, folders) in sorted(raw["thumbnails"].items())],
            [n for _, (n, _) in sorted(raw["thumbnails"].items())],
        )

        # yards: (number, name, standard-time abbr, daylight-time abbr, locations table)
        self.yards = []
        weights = []
        for y in raw["yards"]:
            number, name, weight, std, dst, locs = y[:6]
            loc_table = _Table([tuple(loc[:4]) for loc in locs], [loc[4] for loc in locs])
            self.yards.append((str(number), name, std, dst, loc_table))
            weights.append(weight)
        self.yard_table = _Table(list(range(len(self.yards))), weights)

        # vehicle templates, decoded to output strings
        tpl = raw["templates"]
        fields = tpl["fields"]
        values = tpl["values"]
        vin = raw["vin"]
        prefixes = {m: [(p[:8], p[8]) for p in ps] for m, ps in vin["prefixes"].items()}
        self.templates = []
        for row in tpl["rows"]:
            t = {f: values[i][j] for i, (f, j) in enumerate(zip(fields, row))}
            make = t["make"]
            if t["vin_prefix"]:
                source: tuple[str, list] = ("full", [(t["vin_prefix"][:8], t["vin_prefix"][8])])
            elif make in prefixes:
                source = ("full", prefixes[make])
            elif make in vin["wmi"]:
                source = ("wmi", vin["wmi"][make])
            else:
                source = ("wmi", vin["generic_wmi"])
            self.templates.append(
                (
                    t["vehicle_type"], int(t["year"]), make, t["model_group"], t["model_detail"], t["trim"],
                    t["body"], t["engine"], t["drive"], t["transmission"], t["fuel"], str(t["cylinders"]),
                    t["lot_prefix"], source,
                )  # fmt: skip
            )
        self.template_table = _Table(list(range(len(self.templates))), tpl["weights"])


@lru_cache(maxsize=1)
def _model() -> _Model:
    return _Model(json.loads(_MODEL_PATH.read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------------------
# helpers


def _quantile(q: list[float], u: float) -> float:
    """Inverse CDF from evenly spaced quantile points (piecewise linear)."""
    pos = u * (len(q) - 1)
    i = int(pos)
    if i >= len(q) - 1:
        return q[-1]
    return q[i] + (q[i + 1] - q[i]) * (pos - i)


def _us_dst(d: date) -> bool:
    """US/Canada daylight time (second Sunday of March to first Sunday of November), by date."""
    march = date(d.year, 3, 8)
    start = march + timedelta(days=(6 - march.weekday()) % 7)
    nov = date(d.year, 11, 1)
    end = nov + timedelta(days=(6 - nov.weekday()) % 7)
    return start <= d < end


def _prefix_sum(prefix8: str) -> int:
    """Weighted sum of VIN positions 1-8 (ISO 3779 transliteration)."""
    return sum(_VIN_VALUE[c] * w for c, w in zip(prefix8, _VIN_WEIGHTS))


# ---------------------------------------------------------------------------------------------------------
# the generator


def write_sample(
    path: Path,
    rows: int,
    seed: int,
    *,
    defect_rate: float = 0.002,
    header: str = "wholesale",
    line_ending: str = "\n",
    bom: bool = False,
    start: datetime | None = None,
) -> SampleStats:
    """Write a synthetic Copart sales-data CSV of `rows` rows to `path`.

    header: "wholesale" (59 columns, current), "copart_select" (59, Oct 2025), "56" or "49" (older files).
    defect_rate: share of rows receiving each defect kind (DEFECT_KINDS), chosen deterministically.
    start: export time (naive = UTC); sale dates fall within 30 days of it. Default: DEFAULT_START.
    """
    if header not in HEADERS:
        raise ValueError(f"header must be one of {sorted(HEADERS)}, not {header!r}")
    if line_ending not in _LINE_ENDINGS:
        raise ValueError(r"line_ending must be '\n' or '\r\n'")
    if not isinstance(rows, int) or rows < 0:
        raise ValueError("rows must be a non-negative integer")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError("defect_rate must be between 0 and 1")
    if start is None:
        start = DEFAULT_START
    elif start.tzinfo is not None:
        start = start.astimezone(timezone.utc).replace(tzinfo=None)

    m = _model()
    rng = Random(seed)
    n = rows
    columns = HEADERS[header]
    cols, legacy = _generate(m, rng, n, start)
    relisted = _relist(rng, cols, n)
    defects = _inject_defects(rng, cols, n, defect_rate, relisted[1])

    path = Path(path)
    head = ",".join(f'"{c}"' for c in columns) + line_ending
    ordered = [cols[c] for c in columns]
    written = 0
    with path.open("wb", buffering=1 << 20) as f:
        if bom:
            written += f.write(b"\xef\xbb\xbf")
        written += f.write(head.encode("utf-8"))
        sep = '","'
        end = '"' + line_ending + '"'
        chunk = 20_000
        for lo in range(0, n, chunk):
            lines = [sep.join(r) for r in zip(*(c[lo : lo + chunk] for c in ordered))]
            text = '"' + end.join(lines) + '"' + line_ending
            written += f.write(text.encode("utf-8"))
    return SampleStats(
        path=path,
        rows=n,
        bytes=written,
        header=header,
        defects=defects,
        relisted_vins=relisted[0],
        legacy_vins=legacy,
    )


def _generate(m: _Model, rng: Random, n: int, start: datetime) -> tuple[dict[str, list[str]], int]:
    """All columns (of every header version) as lists of output strings, and the count of pre-1981 VINs."""
    rates = m.rates
    num = m.num
    cat = m.cat
    rand = rng.random
    out: dict[str, list[str]] = {}

    out["Id"] = [str(i) for i in range(1, n + 1)]

    # yard and location -------------------------------------------------------------------------------
    yard_idx = m.yard_table.draw(rng, n)
    yards = m.yards
    ys = [yards[i] for i in yard_idx]
    yard_no = [y[0] for y in ys]
    yard_name = [y[1] for y in ys]
    locs = [y[4].values[0] if len(y[4].values) == 1 else y[4].one(rand()) for y in ys]
    loc_city = [loc[0] for loc in locs]
    loc_state = [loc[1] for loc in locs]
    loc_zip = [loc[2] for loc in locs]
    loc_country = [loc[3] for loc in locs]
    currency = ["CAD" if c == "CAN" else "USD" for c in loc_country]
    out.update({
        "Yard number": yard_no, "Yard name": yard_name, "Location city": loc_city, "Location state": loc_state,
        "Location ZIP": loc_zip, "Location country": loc_country, "Currency Code": currency,
    })  # fmt: skip

    # sale date, time, zone, item -----------------------------------------------------------------------
    day0 = start.date()
    by_weekday: dict[str, list[tuple[str, bool]]] = {d: [] for d in _DAY_NAMES}
    for off in range(-_DATE_WINDOW_DAYS, _DATE_WINDOW_DAYS + 1):
        d = day0 + timedelta(days=off)
        by_weekday[_DAY_NAMES[d.weekday()]].append((d.strftime("%Y%m%d"), _us_dst(d)))
    export_dst = _us_dst(day0)
    zero_rate = rates["sale_date_zero"]
    weekdays = cat["day_of_week"].draw(rng, n)
    times = cat["sale_time"].draw(rng, n)
    item_q = num["item_number"]
    item_zero = num["item_zero_when_dated"]
    sale_date, dow, sale_time, tz, item = ([] for _ in range(5))
    for i in range(n):
        _number, _name, std, dst, _locs = ys[i]
        if rand() < zero_rate:
            sale_date.append("0")
            dow.append("")
            sale_time.append("")
            tz.append(dst if export_dst else std)
            item.append("0")
        else:
            days = by_weekday[weekdays[i]]
            ymd, is_dst = days[int(rand() * len(days))]
            sale_date.append(ymd)
            dow.append(weekdays[i])
            sale_time.append(times[i])
            tz.append(dst if is_dst else std)
            item.append("0" if rand() < item_zero else str(round(_quantile(item_q, rand()))))
    out.update({
        "Sale Date M/D/CY": sale_date, "Day of Week": dow, "Sale time (HHMM)": sale_time, "Time Zone": tz,
        "Item#": item,
    })  # fmt: skip

    # vehicle ------------------------------------------------------------------------------------------
    tpl_idx = m.template_table.draw(rng, n)
    templates = m.templates
    lot_digits = m.lot_last_digit.draw(rng, n)
    seen_lots: set[str] = set()
    tpls = [templates[i] for i in tpl_idx]
    year = [str(t[1]) for t in tpls]
    out.update({
        "Vehicle Type": [t[0] for t in tpls], "Year": year, "Make": [t[2] for t in tpls],
        "Model Group": [t[3] for t in tpls], "Model Detail": [t[4] for t in tpls], "Trim": [t[5] for t in tpls],
        "Body Style": [t[6] for t in tpls], "Engine": [t[7] for t in tpls], "Drive": [t[8] for t in tpls],
        "Transmission": [t[9] for t in tpls], "Fuel Type": [t[10] for t in tpls], "Cylinders": [t[11] for t in tpls],
    })  # fmt: skip
    lots: list[str] = []
    vins: list[str] = []
    prefix_sums: dict[str, int] = {}
    seen_vins: set[str] = set()
    legacy = 0
    for i in range(n):
        t = tpls[i]
        while True:
            lot = f"{t[12]}{int(rand() * 100_000):05d}{lot_digits[i]}"
            if lot not in seen_lots:
                seen_lots.add(lot)
                break
            lot_digits[i] = m.lot_last_digit.one(rand())
        lots.append(lot)
        if t[1] < 1981:
            # pre-1981 vehicles carry manufacturer-specific serials (`10867S100838`, a 1961 Corvette)
            vins.append("".join(rng.choices("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", k=11 + int(rand() * 3))))
            legacy += 1
            continue
        kind, options = t[13]
        if kind == "full":
            prefix8, plant = options[int(rand() * len(options))]
        else:
            wmi = options[int(rand() * len(options))]
            prefix8 = wmi + "".join(rng.choices(_VIN_ALPHABET, k=5))
            plant = _VIN_ALPHABET[int(rand() * 33)]
        s8 = prefix_sums.get(prefix8)
        if s8 is None:
            s8 = prefix_sums[prefix8] = _prefix_sum(prefix8)
        ychar = _YEAR_CODES[(t[1] - 1980) % 30]
        while True:
            serial = int(rand() * 1_000_000)
            hi, lo = divmod(serial, 1000)
            r = (s8 + 9 * _VIN_VALUE[ychar] + 8 * _VIN_VALUE[plant] + _SERIAL_HI[hi] + _SERIAL_LO[lo]) % 11
            vin = f"{prefix8}{'X' if r == 10 else r}{ychar}{plant}{serial:06d}"
            if vin not in seen_vins:  # one VIN per vehicle: the only shared VINs are the relists
                seen_vins.add(vin)
                break
        vins.append(vin)
    out["Lot number"] = lots
    out["VIN"] = vins

    # condition, damage, title ------------------------------------------------------------------------------
    out["Color"] = cat["color"].draw(rng, n)
    out["Damage Description"] = cat["damage"].draw(rng, n)
    out["Secondary Damage"] = cat["damage_secondary"].draw(rng, n)
    out["Has Keys-Yes or No"] = cat["has_keys"].draw(rng, n)
    cond = cat["lot_cond"].draw(rng, n)
    out["Lot Cond. Code"] = ["" if c == "N" else c for c in cond]
    out["Runs/Drives"] = [_RUNS_DRIVES[c] for c in cond]
    status = cat["sale_status"].draw(rng, n)
    out["Sale Status"] = status
    p_offer = rates["make_offer_given_min_bid"]
    out["Make-an-Offer Eligible"] = ["Y" if s == "On Minimum Bid" and rand() < p_offer else "N" for s in status]
    p_same = rates["title_state_is_location"]
    title_states = cat["title_state"].draw(rng, n)
    title_state = [ls if rand() < p_same else ts for ls, ts in zip(loc_state, title_states)]
    by_state = m.title_by_state
    any_title = cat["title_type"]
    out["Sale Title State"] = title_state
    out["Sale Title Type"] = [(by_state.get(st) or any_title).one(rand()) for st in title_state]

    # odometer and money ---------------------------------------------------------------------------------------
    brands = cat["odometer_brand"].draw(rng, n)
    out["Odometer Brand"] = brands
    zero_by_brand = num["odometer_zero_by_brand"]
    buckets = num["mileage_age_buckets"]
    by_age = num["mileage_by_age"]
    ref_year = start.year
    odo = []
    for b, y in zip(brands, year):
        if rand() < zero_by_brand.get(b, 0.0):
            odo.append("0.0")
            continue
        age = ref_year - int(y)
        q = by_age[bisect(buckets, age - 1)] if age > 0 else by_age[0]
        odo.append(f"{round(_quantile(q, rand()))}.0")
    out["Odometer"] = odo

    def money(spec: dict, step: int = 0) -> list[str]:
        zero, cents, q = spec["zero"], spec["cents"], spec["q"]
        last = len(q) - 1
        qq = q + q[-1:]  # one guard point: no bounds check in the loop
        res = []
        app = res.append
        for _ in range(n):
            if rand() < zero:
                app("0.0")
                continue
            pos = rand() * last
            i = int(pos)
            v = qq[i] + (qq[i + 1] - qq[i]) * (pos - i)
            if step:
                app(f"{max(step, round(v / step) * step)}.0")
            elif rand() < cents:
                app(repr(round(v, 2)))
            else:
                app(f"{round(v)}.0")
        return res

    out["Est. Retail Value"] = money(num["est_retail_value"])
    out["Repair cost"] = money(num["repair_cost"])
    out["High Bid =non-vix,Sealed=Vix"] = money(num["high_bid"], step=25)
    out["Buy-It-Now Price"] = money(num["buy_it_now"], step=25)

    # notes, people, flags ---------------------------------------------------------------------------------------
    sn_fill = m.special_note_fill
    sn = cat["special_note"]
    out["Special Note"] = [sn.one(rand()) if rand() < sn_fill else "" for _ in range(n)]
    seller_fill = rates["seller_fill"]
    out["Seller Name"] = [m.seller.one(rand()) if rand() < seller_fill else "" for _ in range(n)]
    off_fill = rates["offsite_fill"]
    offsite = [m.offsite.one(rand()) if rand() < off_fill else ("", "", "", "") for _ in range(n)]
    out["Offsite Address1"] = [o[0] for o in offsite]
    out["Offsite City"] = [o[1] for o in offsite]
    out["Offsite State"] = [o[2] for o in offsite]
    out["Offsite Zip"] = [o[3] for o in offsite]
    p_rental = rates["rentals_yard_838"]
    out["Rentals"] = ["Y" if y == "838" and rand() < p_rental else "N" for y in yard_no]
    wholesale = ["Y" if y == "855" else "N" for y in yard_no]
    out["Wholesale"] = wholesale
    out["Copart Select"] = wholesale
    out["Sale Light"] = cat["sale_light"].draw(rng, n)
    out["AutoGrade"] = cat["auto_grade"].draw(rng, n)
    out["Announcements"] = cat["announcements"].draw(rng, n)
    grid_fill = rates["grid_fill"]
    out["Grid/Row"] = [m.grid.one(rand()) if rand() < grid_fill else "" for _ in range(n)]

    # media -------------------------------------------------------------------------------------------------
    thumb_fill = rates["thumbnail_fill"]
    bits = rng.getrandbits
    thumbs = []
    for _ in range(n):
        if rand() >= thumb_fill:
            thumbs.append("")
            continue
        kind, folders = m.thumbs.one(rand())
        folder = folders[int(rand() * len(folders))]
        h = f"{bits(128):032x}"
        if kind == "PIX":
            tail = f"{folder}/{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}.JPG"
        elif kind == "lpp":
            tail = f"lpp/{folder}/{h}_thb.jpg"
        else:
            tail = f"{folder}/{h}_thb.jpg"
        thumbs.append("cs.copart.com/v1/AUTH_svc.pdoc00001/" + tail)
    out["Image Thumbnail"] = thumbs
    out["Image URL"] = [
        f"http://inventoryv2.copart.io/v1/lotImages/{lot}?country=us&brand=cprt&yardNumber={y}"
        for lot, y in zip(lots, yard_no)
    ]

    # export and update times -------------------------------------------------------------------------------
    base = start.replace(microsecond=0)
    base_us = start.microsecond
    stamp_cache: dict[int, str] = {}
    created = []
    for i in range(1, n + 1):
        sec, us = divmod(base_us + i, 1_000_000)
        s = stamp_cache.get(sec)
        if s is None:
            s = stamp_cache[sec] = (base + timedelta(seconds=sec)).strftime("%Y-%m-%d-%H.%M.%S")
        created.append(f"{s}.{us:06d}")
    out["Create Date/Time"] = created
    epoch = int(start.replace(tzinfo=timezone.utc).timestamp())
    stale_q = num["staleness_seconds"]
    p_min0 = num["lut_minute0"]
    day_cache: dict[int, str] = {}
    updated = []
    for _ in range(n):
        t = epoch - int(_quantile(stale_q, rand()))
        day, sod = divmod(t, 86400)
        ds = day_cache.get(day)
        if ds is None:
            ds = day_cache[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        hh, rest = divmod(sod, 3600)
        mm, ss = divmod(rest, 60)
        if rand() < p_min0:
            mm = 0
        updated.append(f"{ds}T{hh:02d}:{mm:02d}:{ss:02d}Z")
    out["Last Updated Time"] = updated
    return out, legacy


_VEHICLE_COLUMNS = (
    "Vehicle Type", "Year", "Make", "Model Group", "Model Detail", "Body Style", "Color", "Trim", "Engine",
    "Drive", "Transmission", "Fuel Type", "Cylinders", "VIN",
)  # fmt: skip


def _relist(rng: Random, cols: dict[str, list[str]], n: int) -> tuple[int, set[int]]:
    """Copy the vehicle (VIN included) of a few lots onto other lots: about 10 per 150,000 rows."""
    pairs = 0 if n < 2 else max(1, round(n * 10 / 150_000))
    vins = cols["VIN"]
    eligible = [i for i in range(n) if len(vins[i]) == 17]
    if len(eligible) < 2 * pairs:
        return 0, set()
    chosen = rng.sample(eligible, 2 * pairs)
    for a, b in zip(chosen[::2], chosen[1::2]):
        for c in _VEHICLE_COLUMNS:
            cols[c][b] = cols[c][a]
    return pairs, set(chosen)


def _count(rng: Random, n: int, rate: float) -> int:
    x = n * rate
    return min(n, int(x + rng.random()))  # stochastic rounding, deterministic per seed


def _inject_defects(
    rng: Random, cols: dict[str, list[str]], n: int, rate: float, protected: set[int]
) -> dict[str, int]:
    rand = rng.random
    done = dict.fromkeys(DEFECT_KINDS, 0)

    # unescaped quotes inside a quoted field (parse only with the tolerant pass)
    k = _count(rng, n, rate)
    for j, i in enumerate(rng.sample(range(n), k)):
        if j % 2 == 0:
            cols["Trim"][i] = _QUOTED_TRIMS[int(rand() * len(_QUOTED_TRIMS))]
        else:
            cols["Model Detail"][i] = _QUOTED_MODEL_DETAILS[int(rand() * len(_QUOTED_MODEL_DETAILS))]
    done["unescaped_quote"] = k

    # extra padding (ASCII spaces, trimmed by every reader)
    k = _count(rng, n, rate)
    for i in rng.sample(range(n), k):
        c = _PAD_COLUMNS[int(rand() * len(_PAD_COLUMNS))]
        cols[c][i] = " " * int(rand() * 3) + cols[c][i] + " " * (1 + int(rand() * 8))
    done["padding"] = k

    # VIN defects, on distinct rows that are neither relists nor pre-1981 vehicles
    vins = cols["VIN"]
    eligible = [i for i in range(n) if i not in protected and len(vins[i]) == 17]
    wanted = [_count(rng, n, rate) for _ in range(3)]
    total = min(sum(wanted), len(eligible))
    picked = rng.sample(eligible, total)
    k_missing = min(wanted[0], total)
    k_short = min(wanted[1], total - k_missing)
    k_lower = total - k_missing - k_short
    for i in picked[:k_missing]:
        vins[i] = ""
    for i in picked[k_missing : k_missing + k_short]:
        vins[i] = "".join(rng.choices("0123456789ABCDEFGHJKLMNPRSTUVWXYZ", k=11 + int(rand() * 3)))
    for i in picked[k_missing + k_short :]:
        vins[i] = " " * (1 + int(rand() * 2)) + vins[i].lower() + " " * (1 + int(rand() * 2))
    done.update(missing_vin=k_missing, short_vin=k_short, lowercase_vin=k_lower)
    return done
