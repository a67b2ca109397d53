"""Builders of parser output for the database tests: Arrow batches with the exact schema of
vinops_core/src/schema.rs (``vinops.parse.SCHEMA``), from short dicts, plus table snapshots."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import psycopg
import pyarrow as pa

from vinops.config import Settings
from vinops.window import WindowOptions, WindowSource, ingest_file, load_window
from vinops.parse import SCHEMA
from vinops.taxonomy import load

UTC = timezone.utc
#: A moment safely in the past (window_at is capped at the database's now()).
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)

_TX = load()


def code(domain: str, raw: str) -> int:
    term = _TX.lookup(domain, raw)
    assert term is not None, (domain, raw)
    return term.id


def lot(lot_number: int, **values: Any) -> dict[str, Any]:
    """A typical parsed row; keyword arguments override (``auction_at=None`` for an unscheduled lot)."""
    auction = values.pop("auction_at", T0 + 48 * HOUR)
    row: dict[str, Any] = {
        "lot_number": lot_number,
        "source_updated_at": T0,
        "yard_number": 56,
        "yard_name": "CA - SUN VALLEY",
        "sale_date": auction.date() if auction else None,
        "sale_day_of_week": "TUESDAY" if auction else None,
        "sale_time_hhmm": 1000 if auction else None,
        "time_zone_abbr": "PDT",
        "sale_tz": "America/Los_Angeles",
        "auction_at": auction,
        "item_number": 1000 + lot_number % 1000,
        "vehicle_type": "V",
        "vehicle_type_code": code("vehicle_type", "V"),
        "year": 2015,
        "make": "TOYOTA",
        "model_group": "CAMRY",
        "model_detail": "CAMRY LE",
        "body_style": "SEDAN 4D",
        "body_style_code": code("body_style", "SEDAN 4D"),
        "color": "WHITE",
        "color_code": code("color", "WHITE"),
        "damage_primary": "FRONT END",
        "damage_primary_code": code("damage", "FRONT END"),
        "title_state": "CA",
        "title_type": "SC",
        "title_type_code": code("title_type", "SC"),
        "has_keys": "YES",
        "has_keys_code": code("has_keys", "YES"),
        "lot_cond": "D",
        "lot_cond_code": code("condition", "D"),
        "vin": f"4T1BF1FK{lot_number % 10}FU{lot_number % 1000000:06d}",
        "vin_valid_iso": True,
        "vin_check_digit_ok": False,
        "vin_short_or_legacy": False,
        "vin_model_year": 2015,
        "odometer": 123456.0,
        "odometer_brand": "A",
        "odometer_brand_code": code("odometer_brand", "A"),
        "retail_value_cents": 1_250_000,
        "repair_cost_cents": 300_000,
        "engine": "2.5L 4",
        "drive": "Front-wheel Drive",
        "drive_code": code("drive", "Front-wheel Drive"),
        "transmission": "AUTOMATIC",
        "transmission_code": code("transmission", "AUTOMATIC"),
        "fuel": "GAS",
        "fuel_code": code("fuel", "GAS"),
        "cylinders": 4,
        "runs_drives": "RUN & DRIVE VERIFIED",
        "runs_drives_code": code("condition", "RUN & DRIVE VERIFIED"),
        "sale_status": "Pure Sale",
        "sale_status_code": code("sale_type", "Pure Sale"),
        "high_bid_cents": 50_000,
        "location_city": "SUN VALLEY",
        "location_state": "CA",
        "location_zip": "91352",
        "location_country": "USA",
        "currency_code": "USD",
        "image_thumbnail": f"cs.copart.com/v1/AUTH_svc.pdoc00001/{lot_number}_thb.jpg",
        "export_created_at": datetime(2025, 6, 2, 7, 25, 12),
        "grid_row": "A001",
        "make_offer_eligible": False,
        "image_url": f"http://inventoryv2.copart.io/v1/lotImages/{lot_number}?country=us&brand=cprt&yardNumber=56",
        "rentals": False,
        "wholesale": False,
        "announcements": None,
        "announcement_codes": None,
        "quote_repaired": False,
        "utf8_lossy": False,
    }
    row.update(values)
    return row


def record_hash(row: dict[str, Any]) -> int:
    """A stand-in for the parser's record hash: a hash of the row's values (a row is its own "record"; the
    position fields source_row and export_id are left out, as a record's bytes do not hold its position)."""
    values = {k: v for k, v in row.items() if k not in ("source_row", "export_id", "record_hash")}
    return int.from_bytes(hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).digest()[:8], "little", signed=True)


def batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    unknown = {k for r in rows for k in r} - set(SCHEMA.names)
    assert not unknown, f"not in the schema: {unknown}"
    cols = []
    for f in SCHEMA:
        if f.name == "source_row":
            values: list[Any] = [r.get("source_row", i + 1) for i, r in enumerate(rows)]
        elif f.name == "export_id":
            values = [r.get("export_id", i + 1) for i, r in enumerate(rows)]
        elif f.name == "record_hash":
            values = [r["record_hash"] if "record_hash" in r else record_hash(r) for r in rows]
        else:
            values = [r.get(f.name) for r in rows]
        cols.append(pa.array(values, type=f.type))
    return pa.RecordBatch.from_arrays(cols, schema=SCHEMA)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def source(
    rows: list[dict[str, Any]],
    *,
    quarantine: list[dict[str, Any]] | None = None,
    unknown: dict[str, dict[str, int]] | None = None,
    extra_rows_in: int = 0,
    tag: str | None = None,
    header: list[str] | None = None,
) -> WindowSource:
    """A WindowSource as the parser would hand it over: batches of 3 rows, then the summary."""
    quarantine = quarantine or []
    b = batch(rows) if rows else None
    sha = _digest({"rows": rows, "quarantine": [dict(q, raw=q["raw"].hex()) for q in quarantine], "tag": tag})
    summary = {
        "sha256": sha,
        "rows_in": len(rows) + len(quarantine) + extra_rows_in,
        "rows_ok": len(rows),
        "rows_quarantined": len(quarantine),
        "quarantine": quarantine,
        "unknown": unknown or {},
        "categorical_cells": 20 * max(len(rows), 1),
        "extra_columns": [],
    }
    batches = [b.slice(i, 3) for i in range(0, len(rows), 3)] if b is not None else []
    return WindowSource(batches=batches, summary=lambda: summary, sha256=sha, bytes=1000 + len(rows), header=header)


# -- snapshots -------------------------------------------------------------------------------------------

#: Bookkeeping that legitimately depends on the order or the time of loading.
BOOKKEEPING = {"created_at", "updated_at", "load_id", "source_window_at", "recorded_at", "id"}


def table(conn: psycopg.Connection, name: str, key: str, drop: set[str] = BOOKKEEPING) -> list[dict[str, Any]]:
    cur = conn.execute(f"SELECT * FROM {name} ORDER BY {key}")  # noqa: S608 - test helper, fixed names
    cols = [d.name for d in cur.description or []]
    out = [{c: v for c, v in zip(cols, row) if c not in drop} for row in cur.fetchall()]
    conn.rollback()
    return out


def lots(conn: psycopg.Connection) -> dict[int, dict[str, Any]]:
    return {r["lot_number"]: r for r in table(conn, "lots", "lot_number")}


def snapshot(conn: psycopg.Connection) -> dict[str, Any]:
    """Every table the ingest writes, complete (for "nothing changed" checks)."""
    out = {}
    for name, key in [
        ("raw.csv_files", "load_id"),
        ("raw.quarantine", "load_id, row_no"),
        ("vehicles", "vin"),
        ("lots", "lot_number"),
        ("lot_events", "id"),
        ("audit.unknown_values", "domain, value"),
        ("staging.presence", "lot_number"),
        ("staging.presence_window", "load_id"),
    ]:
        out[name] = table(conn, name, key, drop=set())
    return out


def events(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return table(conn, "lot_events", "id", drop={"recorded_at", "id"})


# -- running windows ---------------------------------------------------------------------------------------


def load(conn: psycopg.Connection, src: WindowSource, settings: Settings, *, before_stage: Any = None, **options: Any) -> dict[str, Any]:
    """``load_window`` with options as keywords; the result as the dict ``vinops ingest --json`` prints."""
    return load_window(conn, src, settings, WindowOptions(**options), before_stage=before_stage).to_dict()


def ingest(path: Any, settings: Settings, *, database_url: str, read: Any = None, **options: Any) -> dict[str, Any]:
    """``ingest_file`` with options as keywords; the result as a dict."""
    return ingest_file(path, settings, WindowOptions(**options), database_url=database_url, read=read).to_dict()


__all__ = ["HOUR", "T0", "batch", "code", "date", "events", "ingest", "load", "lot", "lots", "snapshot", "source", "table"]
