"""The SQL and the schema stay in step: staging mirrors schema.rs, the upsert covers every data column, the
refusal tests mirror every data CHECK constraint."""

from __future__ import annotations

import re

import psycopg
import pyarrow as pa
import pytest
from lotrows import lot, source, table

from vinops.config import Settings
from vinops.db import load_statements
from vinops.ingest import _pg_type, load_window
from vinops.parse import SCHEMA

pytestmark = pytest.mark.db

#: lots columns that are not copied from a feed row.
LOT_BOOKKEEPING = {
    "lot_number", "status", "status_changed_at", "status_reason", "relisted_as", "retail_value_usd", "row_hash",
    "source_updated_at", "source_window_at", "first_seen_at", "load_id", "created_at", "updated_at",
}  # fmt: skip
VEHICLE_BOOKKEEPING = {
    "vin", "source_lot_number", "source_updated_at", "source_window_at", "load_id", "created_at", "updated_at",
}  # fmt: skip
#: CHECK constraints about the lifecycle, not about a feed row's values.
LIFECYCLE_CHECKS = {
    "lots_status_check", "lots_status_reason_check", "lots_status_change_recorded", "lots_status_reason_fits",
    "lots_not_own_relist",
}  # fmt: skip


def _columns(conn: psycopg.Connection, table_name: str) -> dict[str, str]:
    rows = conn.execute(
        """SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
           WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
        (table_name,),
    ).fetchall()
    return dict(rows)


def test_staging_mirrors_the_parser_schema(conn: psycopg.Connection) -> None:
    staging = _columns(conn, "staging.lots")
    assert list(staging) == ["load_id", *SCHEMA.names]
    for f in SCHEMA:
        assert _pg_type(f.type) == staging[f.name], f.name
    plan = _columns(conn, "staging.lot_plan")
    assert list(plan)[7:] == list(staging)  # the plan carries a full staging row


def test_upsert_statements_cover_every_data_column(conn: psycopg.Connection) -> None:
    q = load_statements("window")
    lot_data = [c for c in _columns(conn, "lots") if c not in LOT_BOOKKEEPING]
    vehicle_data = [c for c in _columns(conn, "vehicles") if c not in VEHICLE_BOOKKEEPING]
    staging = _columns(conn, "staging.lots")
    lots_cols = _columns(conn, "lots")
    for c in lot_data:
        assert staging.get(c) == lots_cols[c], f"lots.{c} must have the type of staging.lots.{c}"
        for prefix in ("s", "t"):
            assert f"{prefix}.{c}," in q["confirm_changes"] or f"{prefix}.{c})" in q["confirm_changes"], (
                f"confirm_changes does not compare {c}"
            )
        assert f"p.{c} IS DISTINCT FROM t.{c} THEN" in q["lot_change_events"], f"lot_change_events misses {c}"
        assert f"p.{c}" in q["update_lots"] and f"p.{c}" in q["insert_lots"], f"update/insert_lots miss {c}"
        assert f"'{c}'" in q["lot_change_events"], f"lot_change_events misses {c}"
    for c in vehicle_data:
        assert f"t.{c}" in q["plan_vehicles"] and f"p.{c}" in q["insert_vehicles"] and f"p.{c}" in q["update_vehicles"], c


def test_statements_use_only_named_parameters() -> None:
    for name in ("window", "completion"):
        for key, text in load_statements(name).items():
            stray = re.sub(r"%\(\w+\)s", "", text)
            assert "%" not in stray, f"{name}.{key} has a literal percent sign"


def test_refusals_mirror_the_data_checks(conn: psycopg.Connection) -> None:
    checks = {
        name
        for (name,) in conn.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid IN ('lots'::regclass, 'vehicles'::regclass)"
        ).fetchall()
    }
    conn.rollback()
    data_checks = checks - LIFECYCLE_CHECKS
    plan = load_statements("window")["plan_keys"]
    missing = {c for c in data_checks if f"'{c}'" not in plan}
    assert not missing, f"plan_keys does not refuse rows that {missing} would reject"


VIOLATIONS = {
    "lots_year_range": {"year": 1850},
    "vehicles_vin_normalized": {"vin": "abc123"},
    "vehicles_vin_model_year_range": {"vin_model_year": 1970},
    "lots_sale_time_valid": {"sale_time_hhmm": 1275},
    "lots_odometer_nonneg": {"odometer": -1.0},
    "lots_money_nonneg": {"repair_cost_cents": -5},
    "lots_auction_has_date": {"sale_date": None},
    "vehicles_year_range": {"year": 2200},
}


@pytest.mark.parametrize("check", sorted(VIOLATIONS))
def test_each_violation_is_quarantined(conn: psycopg.Connection, check: str) -> None:
    settings = Settings(raw_compression="none")
    r = load_window(conn, source([lot(1), lot(2, **VIOLATIONS[check])]), settings=settings, store_raw=False)
    assert (r["rows_loaded"], r["rows_quarantined"]) == (1, 1)
    q = table(conn, "raw.quarantine", "row_no", drop=set())
    assert check in q[0]["detail"]


def test_lot_number_must_be_positive(conn: psycopg.Connection) -> None:
    r = load_window(conn, source([lot(1), lot(-4)]), settings=Settings(), store_raw=False)
    assert r["rows_refused"] == 1 and "lots_lot_number_positive" in table(conn, "raw.quarantine", "row_no")[0]["detail"]


def test_schema_mismatch_is_reported_clearly(conn: psycopg.Connection) -> None:
    from vinops.ingest import IngestError, WindowSource

    bad = pa.RecordBatch.from_pydict({"lot_number": pa.array([1], pa.int64()), "year": pa.array([2015], pa.int32())})
    src = WindowSource(
        batches=[bad],
        summary=lambda: {"rows_in": 1, "rows_ok": 1, "rows_quarantined": 0},
        sha256="c" * 64,
        bytes=1,
    )
    with pytest.raises(IngestError, match=r"year: Arrow int32 is integer, staging.lots has smallint"):
        load_window(conn, src, settings=Settings(), store_raw=False)
