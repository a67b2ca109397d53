"""Build python/vinops/data/sample_model.json, the compact model behind `vinops sample`.

Run from the repository root (needs the real samples in tests/data/copart, not needed at run time):

    .venv/bin/python bench/build_sample_model.py
    # options: --src tests/data/copart  --out python/vinops/data/sample_model.json

Inputs (all real data, see the README next to them):
- value-distributions-181k-lots.json: categorical values with counts over 181,249 lots (2026);
- third-party-2000-lots.csv: 2,000 real lots (vehicles, yards, locations, mileage, repair cost, grid rows);
- real-rows-147.csv: 147 raw rows (real VINs, money fields, thumbnails, seller names, padding);
- title-codes-observed.tsv: title type codes with their main title states.
Optional: the `vininfo` package (test extra) supplies real WMIs for makes without a real VIN in the samples.

The output is deterministic: same inputs -> byte-identical JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SRC = ROOT / "tests" / "data" / "copart"
DEFAULT_OUT = ROOT / "python" / "vinops" / "data" / "sample_model.json"

# Time-zone class of a state or province and the abbreviations the feed prints for it
# (standard time, daylight time). The feed's abbreviations are quirky and reproduced as seen:
# Arizona prints MST in winter and PDT in summer, Atlantic Canada prints AKST all year,
# Alaska prints ASDT in winter (ADDT/AKDT later in the year).
ZONE_ABBR = {
    "E": ("EST", "EDT"),
    "C": ("CST", "CDT"),
    "M": ("MST", "MDT"),
    "P": ("PST", "PDT"),
    "AZ": ("MST", "PDT"),
    "H": ("HST", "HST"),
    "AK": ("ASDT", "AKDT"),
    "ATL": ("AKST", "AKST"),
    "SK": ("CST", "CST"),
}
STATE_ZONE = {
    **dict.fromkeys(
        "CT DC DE FL GA IN KY MA MD ME MI NC NH NJ NY OH PA RI SC VA VT WV ON QC".split(), "E"
    ),
    **dict.fromkeys("AL AR IA IL KS LA MN MO MS ND NE OK SD TN TX WI MB".split(), "C"),
    **dict.fromkeys("CO ID MT NM UT WY AB".split(), "M"),
    **dict.fromkeys("CA NV OR WA BC".split(), "P"),
    "AZ": "AZ",
    "HI": "H",
    "AK": "AK",
    "SK": "SK",
    **dict.fromkeys("NB NS PE NL".split(), "ATL"),
}
# Yards in states that span two zones, where the samples give no evidence.
YARD_ZONE_OVERRIDE = {"TX - EL PASO": "M", "TN - KNOXVILLE": "E", "FL - PENSACOLA": "C"}
ABBR_ZONE = {
    "EST": "E", "EDT": "E", "CST": "C", "CDT": "C", "MDT": "M", "PST": "P",
    "PDT": "P", "MST": "M", "HST": "H", "AKST": "ATL", "AKDT": "AK", "ASDT": "AK", "ADDT": "AK",
}  # fmt: skip
CANADA = set("AB BC MB NB NL NS ON PE QC SK".split())

# Vehicle type of makes that never occur in the sampled rows, by name fragment (first match wins).
# Makes matched by none of these get the vehicle type whose share is furthest below its real share.
MAKE_TYPE_HINTS = [
    ("U", "KENWORTH,FREIG,FRHT,PETERBILT,PTRB,WESTERN STAR,STERLING,MACK,AUTOCAR,KALMAR"),
    ("K", "HINO,ISUZU,WORKHORSE,NISSAN DIESEL,FUSO"),
    ("B", "BLUEBIRD,BLUE BIRD,BLUB,IC CORP,IC BUS,ICRP,THOMAS,COLLINS,PREVOST"),
    ("J", "SEA DOO,SEA-DOO,SEADOO,JET SKI,WAVERUNNER"),
    ("S", "SKI-DOO,SKI DOO,SKIDOO,SKID,LYNX,SNOWMOBILE"),
    ("A", "CF MOTO,CFMOTO,CAN AM,CAN,POLARIS,POLARI,POLS,CLUB CAR,EZGO,DENAGO,ARCTIC CAT,ARCT,ARTI"),
    ("C", "MOTORRAD,MOTORCYCLE,KTM,INDIAN,VESPA,APRILIA,VICTORY,PIAGGIO,HUSQVARNA,ROYAL ENFIELD,"
          "MOTO GUZZI,SCOOTER,YAMAHA,YAMA,YAM,HRLD,KAWA,SUZUKI,TRIUMPH,DUCATI"),
    ("M", "BOAT,SEA RAY,TRACKER,FOUR WINNS,REGAL,GULF CRAFT,BOSTON WHALER,CROWNLINE,HURRICANE,"
          "BAYLINER,MASTERCRAFT,MARINE,CENTURY"),
    ("R", "WILDWOOD,HEARTLAND,GRAND DESI,GRANDESIGN,GULF STREAM,GULFSTREAM,KEYSTONE,KEYS,KYRV,"
          "DUTCHM,ROCKWOOD,PUMA,KZ,WINNEBAGO,WINN,FLEETWOOD,AIRSTREAM,SALEM,CROSS ROADS,CROSSROADS,"
          "FOREST RIV,FORESTER RIVER,FRRV,FORE,JAYC,JAY,JACO,CHEROKEE,PALOMINO,THOR,COACHM,"
          "ARCTIC FOX,COLEMAN,HIGHLAND RIDGE,LANCE,COUGAR,PROWLER,BRAXTON,HIDE,BOUNDER,SURVEYOR,"
          "SPRINGDALE,SANDSTORM,RV"),
    ("N", "BOBCAT,KUBOTA,KUTB,CATERILLAR,CATERPILLAR,CAT,SKYJACK,CLARK,JCB,MOFFETT,SNOWEX,JLG,"
          "JOHN DEERE,GENIE,TEREX"),
    ("H", "TRAILER,TRAI,WELLS CARGO"),
    ("V", "LINCOLN,HUMMER,INFINITY,POLESTAR,OLDSMOBILE,VOLV,SAAB,TOYT,SMART,HOND,PLYMOUTH,MERCEDES,"
          "ASTON MARTIN,ROLLS,HYUN,MCLAREN,GEO,BUIC,CHRY,LEXS,FISKER,MERZ,LOTUS,FERRARI,BENTLY,MG,"
          "DATSUN,ALFA,LINC,TOYO,INEOS,RENAULT,JEP,AUTOMOBILE,RAM TRUCKS,SPRINTER"),
]  # fmt: skip

ISO_VIN = set("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
TEMPLATE_FIELDS = [
    "vehicle_type", "year", "make", "model_group", "model_detail", "trim", "body", "engine",
    "drive", "transmission", "fuel", "cylinders", "lot_prefix", "vin_prefix",
]  # fmt: skip
# template field -> distribution in value-distributions-181k-lots.json (raked to these marginals)
RAKE = {
    "make": "make", "vehicle_type": "vehicleType", "body": "bodyStyle", "engine": "engine",
    "drive": "drivetrain", "transmission": "transmission", "fuel": "fuelType", "cylinders": "cylinders",
}  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def table(pairs: list[list], drop: tuple[str, ...] = ()) -> list[list]:
    """[[value, count], ...] -> [[values...], [counts...]] without the values in `drop`."""
    kept = [(v, c) for v, c in pairs if v not in drop]
    return [[v for v, _ in kept], [c for _, c in kept]]


def quantiles(values: list[float], n: int) -> list[float]:
    """n+1 evenly spaced quantile points (linear interpolation), rounded to 0.01."""
    s = sorted(values)
    out = []
    for i in range(n + 1):
        pos = i * (len(s) - 1) / n
        lo = int(pos)
        hi = min(lo + 1, len(s) - 1)
        out.append(round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 2))
    return out


def clean_text(v: str) -> bool:
    """Values the generator may emit without creating an (uncounted) defect."""
    return '"' not in v and "\n" not in v and "\r" not in v


# ---------------------------------------------------------------------------------------------
# yards


def build_yards(dist: dict, tp: list[dict], rr: list[dict]) -> list[list]:
    names: dict[str, Counter] = defaultdict(Counter)
    locs: dict[str, Counter] = defaultdict(Counter)
    abbrs: dict[str, Counter] = defaultdict(Counter)
    for r in tp:
        y = r["yardNumber"]
        names[y][r["yardName"]] += 1
        locs[y][(r["locationCity"], r["locationState"], r["locationZip"], r["locationCountry"])] += 1
        abbrs[y][r["saleTimeZone"]] += 1
    for r in rr:
        y = r["Yard number"]
        if r["Yard name"]:
            names[y][r["Yard name"]] += 1
        locs[y][(r["Location city"], r["Location state"], r["Location ZIP"], r["Location country"])] += 1
        abbrs[y][r["Time Zone"]] += 1

    numbers = dist["yardNumber"]["values"]
    all_names = dict((n, c) for n, c in dist["yardName"]["values"])
    used_names = {n for c in names.values() for n in c}
    # A yard number never seen in the samples is paired with the unseen yard name of exactly
    # the same lot count (each yard number and its name are counted over the same lots).
    free = defaultdict(list)
    for n, c in all_names.items():
        if n not in used_names:
            free[c].append(n)
    by_state_city: dict[tuple[str, str], tuple] = {}
    by_state: dict[str, tuple] = {}
    for y in sorted(locs, key=int):
        for (city, st, zp, country), _ in locs[y].most_common():
            by_state_city.setdefault((st, city), (city, st, zp, country))
            by_state.setdefault(st, (city, st, zp, country))

    yards = []
    unmatched = []
    for y, count in numbers:
        if names.get(y):
            name = names[y].most_common(1)[0][0]
        elif len(free.get(count, [])) == 1:
            name = free[count].pop()
        else:
            unmatched.append((y, count))
            continue
        state = name[:2] if re.match(r"^[A-Z]{2} - ", name) else ""
        if y in locs:
            loc = [[*k, c] for k, c in sorted(locs[y].items(), key=lambda kv: (-kv[1], kv[0]))]
            borrowed = False
        else:
            city = re.sub(r"\b(NORTH|SOUTH|EAST|WEST)\b|-SUBLOT", "", name[5:]).strip()
            base = by_state_city.get((state, city)) or by_state.get(state)
            if base is None:
                unmatched.append((y, count))
                continue
            # the yard's own ZIP is unknown: borrow the ZIP of a known yard in the same state
            loc = [[city, state, base[2], "CAN" if state in CANADA else "USA", 1]]
            borrowed = True
        observed = abbrs.get(y, Counter())
        seen = Counter()
        for a, c in observed.items():
            if a in ABBR_ZONE:
                seen[ABBR_ZONE[a]] += c
        if name in YARD_ZONE_OVERRIDE:
            zone = YARD_ZONE_OVERRIDE[name]
        elif state == "AZ" or ("PDT" in observed and "MST" in observed):
            zone = "AZ"
        elif seen and STATE_ZONE.get(state) not in seen:
            # a yard in a state spanning two zones, or a virtual sale: trust what the feed printed
            zone = seen.most_common(1)[0][0]
        else:
            zone = STATE_ZONE.get(state, "E")
        yards.append([int(y), name, count, *ZONE_ABBR[zone], loc] + ([1] if borrowed else []))
    print(f"yards: {len(yards)} kept, unmatched numbers: {unmatched}")
    return yards


# ---------------------------------------------------------------------------------------------
# vehicle templates


def vin_prefix_ok(vin: str) -> bool:
    return len(vin) == 17 and set(vin) <= ISO_VIN


def build_templates(dist: dict, tp: list[dict], rr: list[dict]) -> tuple[list[list], list[float]]:
    rows: list[list] = []
    for r in tp:
        rows.append([
            r["vehicleType"], int(r["year"]), r["make"], r["modelGroup"], r["modelDetail"], r["trim"],
            r["bodyStyle"], r["engine"], r["drivetrain"], r["transmission"], r["fuelType"],
            r["cylinders"], r["lotId"][:2], "",
        ])  # fmt: skip
    for r in rr:
        vin = r["VIN"]
        rows.append([
            r["Vehicle Type"], int(r["Year"]), r["Make"], r["Model Group"], r["Model Detail"], r["Trim"],
            r["Body Style"], r["Engine"], r["Drive"], r["Transmission"], r["Fuel Type"], r["Cylinders"],
            r["Lot number"][:2], vin[:8] + vin[10] if vin_prefix_ok(vin) else "",
        ])  # fmt: skip
    rows = [t for t in rows if all(clean_text(str(v)) for v in t)]
    real = len(rows)

    # makes never seen in the samples: one synthetic template each, specs copied from a real
    # template of a plausible vehicle type, model "UNKNOWN" (as the feed shows for such makes).
    seen_makes = {t[2] for t in rows}
    make_counts = dict((m, c) for m, c in dist["make"]["values"])
    type_target = dict((v, c) for v, c in dist["vehicleType"]["values"])
    by_make_type: dict[str, Counter] = defaultdict(Counter)
    for t in rows:
        by_make_type[t[2]][t[0]] += 1
    expected = Counter()
    for m, counts in by_make_type.items():
        tot = sum(counts.values())
        for vt, c in counts.items():
            expected[vt] += make_counts.get(m, 0) * c / tot
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(rows):
        by_type[t[0]].append(i)
    rng = random.Random(20260216)
    for make, count in dist["make"]["values"]:
        if make in seen_makes or not clean_text(make):
            continue
        key = " " + re.sub(r"[^A-Z0-9]+", " ", make.upper()).strip() + " "
        vt = next(
            (
                vt
                for vt, phrases in MAKE_TYPE_HINTS
                for w in phrases.split(",")
                if f" {w} " in key or key.strip().startswith(w)
            ),
            None,
        )
        if vt is None:
            vt = max(type_target, key=lambda k: (type_target[k] - expected[k], k))
        expected[vt] += count
        if by_type.get(vt):
            base = rows[rng.choice(by_type[vt])]
            specs = base[6:12]
            year, prefix = base[1], base[12]
        else:
            specs = ["", "", "", "", "", ""]
            year, prefix = rng.choice(rows)[1], rng.choice(rows)[12]
        rows.append([vt, year, make, "UNKNOWN", "UNKNOWN", "", *specs, prefix, ""])

    # raking (iterative proportional fitting): template weights so that the weighted shares of
    # make, vehicle type, body, engine, drive, transmission, fuel and cylinders match the 181k lots
    w = [1.0] * len(rows)
    for _ in range(60):
        for field, dname in RAKE.items():
            col = TEMPLATE_FIELDS.index(field)
            target = dict((v, c) for v, c in dist[dname]["values"])
            cur = Counter()
            for t, wt in zip(rows, w):
                cur[t[col]] += wt
            reach = [v for v in cur if v in target]
            tgt_total = sum(target[v] for v in reach)
            cur_total = sum(cur[v] for v in reach)
            factor = {v: target[v] / tgt_total * cur_total / cur[v] for v in reach}
            w = [wt * factor.get(t[col], 1.0) for t, wt in zip(rows, w)]
    total = sum(w)
    weights = [round(x / total * 1e6, 3) for x in w]
    print(f"templates: {real} real + {len(rows) - real} synthetic (unseen makes)")
    for field, dname in RAKE.items():
        col = TEMPLATE_FIELDS.index(field)
        cur = Counter()
        for t, wt in zip(rows, weights):
            cur[t[col]] += wt
        top = dist[dname]["values"][0]
        tot = sum(c for _, c in dist[dname]["values"])
        print(f"  {field}: top {top[0]!r} real {top[1] / tot:.3f} model {cur[top[0]] / 1e6:.3f}")
    return rows, weights


def compact_templates(rows: list[list], weights: list[float]) -> dict:
    """Merge identical templates; store each field's distinct values once and rows as indexes."""
    merged: dict[tuple, float] = defaultdict(float)
    for t, wt in zip(rows, weights):
        merged[tuple(t)] += wt
    keys = sorted(merged, key=lambda t: tuple(str(v) for v in t))
    values = [sorted({t[i] for t in keys}, key=str) for i in range(len(TEMPLATE_FIELDS))]
    index = [{v: j for j, v in enumerate(vals)} for vals in values]
    return {
        "fields": TEMPLATE_FIELDS,
        "values": values,
        "rows": [[index[i][v] for i, v in enumerate(t)] for t in keys],
        "weights": [round(merged[t], 2) for t in keys],
    }


def build_vin(tp_rows: list[list]) -> dict:
    """Real WMIs per make: from the real VINs (with VDS and plant), then vininfo's WMI table."""
    prefixes: dict[str, list[str]] = defaultdict(list)
    for t in tp_rows:
        if t[13]:
            prefixes[t[2]].append(t[13])
    wmi: dict[str, list[str]] = {}
    all_wmi: set[str] = {p[:3] for ps in prefixes.values() for p in ps}
    try:
        from vininfo.dicts.wmi import WMI  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - optional
        WMI = {}
    norm = lambda s: re.sub(r"[^A-Z]", "", str(s).upper())  # noqa: E731
    makes = sorted({t[2] for t in tp_rows})
    for make in makes:
        mk = norm(make)
        if len(mk) < 3:
            continue
        # a WMI of this make: its manufacturer's name starts with the make, or the make with the name
        # ("LINCOLN TOWNHOUSE" -> Lincoln); North American, Asian and European WMIs only
        found = sorted(
            code for code, man in WMI.items()
            if len(code) == 3 and set(code) <= ISO_VIN and code[0] in "12345JKLSWYZ"
            and (norm(man).startswith(mk) or (len(norm(man)) >= 4 and mk.startswith(norm(man))))
        )  # fmt: skip
        if found:
            wmi[make] = found[:12]
            all_wmi.update(found[:12])
    return {
        "prefixes": {m: sorted(set(v)) for m, v in sorted(prefixes.items())},
        "wmi": wmi,
        "generic_wmi": sorted(all_wmi),
    }


# ---------------------------------------------------------------------------------------------
# title codes


def build_titles(path: Path, state_counts: dict[str, int]) -> dict:
    """Sale Title Type per Sale Title State.

    The observed list gives each code's count and its (up to six) main states. The rest of a code's
    count (e.g. ST is common in more than six states) is spread over the other states in proportion to
    how many of their titles the listed counts leave unexplained, so that both the codes' and the
    states' totals come out about right and state-specific codes (SV: TX only) stay in their state."""
    by_state: dict[str, Counter] = defaultdict(Counter)
    rest: dict[str, float] = {}
    listed: dict[str, set[str]] = {}
    with path.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            code, count, _desc, states = line.rstrip("\n").split("\t")
            code = "" if code == "(empty)" else code  # the file's placeholder for an empty cell
            listed[code] = set()
            done = 0
            for part in states.split(","):
                part = part.strip()
                if ":" in part:
                    st, c = part.split(":")
                    by_state[st][code] += int(c)
                    listed[code].add(st)
                    done += int(c)
            rest[code] = int(count) - done
    room = {st: max(0, n - sum(by_state[st].values())) for st, n in state_counts.items() if st}
    for code, r in sorted(rest.items()):
        if r <= 0:
            continue
        free = {st: w for st, w in room.items() if w > 0 and st not in listed[code]}
        total = sum(free.values())
        for st, w in sorted(free.items()):
            share = round(r * w / total)
            if share:
                by_state[st][code] += share
    return {
        st: [[c for c, _ in cnt.most_common()], [n for _, n in cnt.most_common()]]
        for st, cnt in sorted(by_state.items())
        if cnt
    }


# ---------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    src: Path = args.src

    dist = json.loads((src / "value-distributions-181k-lots.json").read_text(encoding="utf-8"))["fields"]
    tp = read_csv(src / "third-party-2000-lots.csv")
    rr = read_csv(src / "real-rows-147.csv")
    V = lambda name: dist[name]["values"]  # noqa: E731

    cat = {
        "day_of_week": table(V("saleDayOfWeek"), drop=("",)),
        "sale_time": table(V("saleTime"), drop=("", "0")),
        "damage": table(V("damageDescription")),
        "damage_secondary": table(V("secondaryDamage")),
        "color": table(V("exteriorColor")),
        "title_state": table(V("saleTitleState"), drop=("",)),
        "title_type": table(V("saleTitleType")),
        "has_keys": table(V("hasKeys")),
        "lot_cond": table(V("lotCondCode")),
        "odometer_brand": table(V("odometerBrand")),
        "sale_status": table(V("saleStatus")),
        "sale_light": table(V("saleLight")),
        "auto_grade": [[f"{float(v):.1f}" if v else "" for v in t] if i == 0 else t
                       for i, t in enumerate(table(V("autoGrade")))],
        "announcements": table(V("announcements")),
        "special_note": table([[v, c] for v, c in V("specialNote") if clean_text(v)], drop=("",)),
    }  # fmt: skip
    # the distribution lists only the 300 commonest notes: keep the real share of empty notes
    sn_total = sum(c for _, c in V("specialNote"))
    sn_empty = dict(V("specialNote"))[""]
    cat["special_note_fill"] = round(1 - sn_empty / sn_total, 5)

    seller = Counter(r["Seller Name"] for r in rr if r["Seller Name"])
    grid = Counter(r["gridRow"] for r in tp if r["gridRow"])
    offsite = Counter(
        (r["offsiteAddress1"], r["offsiteCity"], r["offsiteState"], r["offsiteZip"]) for r in tp if r["offsiteAddress1"]
    )
    offsite_total = sum(c for _, c in V("offsiteState"))
    thumbs = Counter()
    folders: dict[str, Counter] = defaultdict(Counter)
    for r in rr:
        m = re.search(r"AUTH_svc\.pdoc00001/(.*)$", r["Image Thumbnail"])
        if not m:
            continue
        tail = m.group(1)
        if tail.startswith("lpp/"):
            thumbs["lpp"] += 1
            folders["lpp"][tail.split("/")[1]] += 1
        elif tail.startswith("LPP"):
            thumbs["LPP"] += 1
            folders["LPP"][tail.split("/")[0]] += 1
        elif tail.startswith("PIX") or tail.startswith("NAP"):
            thumbs["PIX"] += 1
            folders["PIX"][tail.split("/")[0]] += 1

    # numbers --------------------------------------------------------------------------------
    def money(col: str, rows: list[dict]) -> dict:
        vals = [float(r[col]) for r in rows]
        nz = [v for v in vals if v != 0]
        cents = sum(1 for v in nz if v != int(v))
        return {"zero": round(1 - len(nz) / len(vals), 4), "cents": round(cents / max(len(nz), 1), 4),
                "q": quantiles(nz, 40)}  # fmt: skip

    ages = defaultdict(list)
    zero_by_brand: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in tp:
        age = 2026 - int(r["year"])
        km = int(r["mileage"])
        zero_by_brand[r["odometerBrand"]][0] += km == 0
        zero_by_brand[r["odometerBrand"]][1] += 1
        if km:
            bucket = 0 if age <= 1 else 1 if age <= 4 else 2 if age <= 8 else 3 if age <= 13 else 4
            ages[bucket].append(km)
    repair = [float(r["repairCost"]) for r in tp]
    repair_nz = [v for v in repair if v]
    rr_repair = [float(r["Repair cost"]) for r in rr if float(r["Repair cost"])]
    stale = []
    for r in tp:
        a = datetime.fromisoformat(r["_lastSeenAt"])
        b = datetime.fromisoformat(r["updatedAt"])
        stale.append(max((a - b).total_seconds(), 1.0))
    lut_minute0 = sum(1 for r in rr if r["Last Updated Time"][14:16] == "00") / len(rr)
    items = [int(r["itemNumber"]) for r in tp if r["itemNumber"] != "0"]
    dated = [r for r in tp if r["saleDate"]]
    item_zero_dated = sum(1 for r in dated if r["itemNumber"] == "0") / len(dated)
    last_digit = Counter(r["lotId"][-1] for r in tp)
    title_eq_loc = sum(1 for r in tp if r["saleTitleState"] == r["locationState"]) / len(tp)
    numeric = {
        "mileage_by_age": [quantiles(ages[b], 40) for b in range(5)],
        "mileage_age_buckets": [1, 4, 8, 13],
        "odometer_zero_by_brand": {b: round(z / n, 4) for b, (z, n) in sorted(zero_by_brand.items())},
        "est_retail_value": money("Est. Retail Value", rr),
        "repair_cost": {"zero": round(1 - len(repair_nz) / len(repair), 4),
                        "cents": round(sum(1 for v in rr_repair if v != int(v)) / len(rr_repair), 4),
                        "q": quantiles(repair_nz, 40)},
        "high_bid": money("High Bid =non-vix,Sealed=Vix", rr),
        "buy_it_now": money("Buy-It-Now Price", rr),
        "staleness_seconds": quantiles(stale, 40),
        "lut_minute0": round(lut_minute0, 4),
        "item_number": quantiles(items, 40),
        "item_zero_when_dated": round(item_zero_dated, 4),
    }  # fmt: skip

    rates = {
        # Oct 2025 full file (153,983 rows): 82,079 rows with Sale Date 0
        "sale_date_zero": round(82079 / 153983, 4),
        "make_offer_given_min_bid": round(
            dict(V("makeOfferEligible"))["true"] / dict(V("saleStatus"))["On Minimum Bid"], 4
        ),
        "rentals_yard_838": round(dict(V("rentals"))["true"] / dict(V("yardNumber"))["838"], 4),
        "seller_fill": 0.344,  # Oct 2025 fill rate
        "offsite_fill": round(1 - dict(V("offsiteState"))[""] / offsite_total, 5),
        "title_state_is_location": round(title_eq_loc, 4),
        "thumbnail_fill": 0.9998,
        "grid_fill": 0.999,
    }  # fmt: skip

    templates, weights = build_templates(dist, tp, rr)
    model = {
        "about": "Generated by bench/build_sample_model.py from real Copart sales-data samples; do not edit.",
        "categorical": cat,
        "rates": rates,
        "numeric": numeric,
        "yards": build_yards(dist, tp, rr),
        "yard_fields": [
            "number", "name", "weight", "tz_standard", "tz_daylight",
            "locations[city,state,zip,country,weight]", "zip_borrowed (only when 1)",
        ],
        "titles_by_state": build_titles(src / "title-codes-observed.tsv", dict(V("saleTitleState"))),
        "templates": compact_templates(templates, weights),
        "vin": build_vin(templates),
        "seller_names": [[k for k, _ in seller.most_common()], [v for _, v in seller.most_common()]],
        "grid_rows": [[k for k, _ in sorted(grid.items())], [v for _, v in sorted(grid.items())]],
        "offsite": [[list(k) for k, _ in sorted(offsite.items())], [v for _, v in sorted(offsite.items())]],
        "thumbnails": {k: [thumbs[k], sorted(folders[k])] for k in sorted(thumbs)},
        "lot_last_digit": [[k for k, _ in sorted(last_digit.items())], [v for _, v in sorted(last_digit.items())]],
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(model, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()):,} bytes)")


if __name__ == "__main__":
    main()
