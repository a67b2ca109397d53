"""The SQL and the schema stay in step: staging mirrors schema.rs, the column lists of vinops.statements are
exactly the tables' data columns and the upsert statements use exactly those lists, the refusal tests mirror
every data CHECK constraint."""

from __future__ import annotations

import re

import psycopg
import pyarrow as pa
import pytest
from lotrows import load, lot, source, table

from vinops.config import Settings
from vinops.window.staging import pg_type
from vinops.parse import SCHEMA
from vinops.statements import LOT_COLUMNS, VEHICLE_COLUMNS, StatementError, expand, load_statements

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
        assert pg_type(f.type) == staging[f.name], f.name
    plan = _columns(conn, "staging.lot_plan")
    assert list(plan)[7:] == list(staging)  # the plan carries a full staging row


def test_column_lists_are_the_tables_data_columns(conn: psycopg.Connection) -> None:
    """The one definition of the column lists is exactly the tables' data columns, in table order."""
    lots, vehicles = _columns(conn, "lots"), _columns(conn, "vehicles")
    staging, vehicle_plan = _columns(conn, "staging.lots"), _columns(conn, "staging.vehicle_plan")
    assert LOT_BOOKKEEPING <= set(lots) and VEHICLE_BOOKKEEPING <= set(vehicles)
    assert list(LOT_COLUMNS) == [c for c in lots if c not in LOT_BOOKKEEPING]
    assert list(VEHICLE_COLUMNS) == [c for c in vehicles if c not in VEHICLE_BOOKKEEPING]
    for c in LOT_COLUMNS:
        assert staging.get(c) == lots[c], f"lots.{c} must have the type of staging.lots.{c}"
    for c in VEHICLE_COLUMNS:
        assert staging.get(c) == vehicles[c] == vehicle_plan[c], f"vehicles.{c}, staging.lots.{c}, vehicle_plan.{c}"
    assert list(vehicle_plan) == ["vin", "lot_number", "action", "relist_check", "source_updated_at", *VEHICLE_COLUMNS]


def _flat(statement: str) -> str:
    """``statement`` without comments, its white space collapsed, no space inside parentheses."""
    text = " ".join(re.sub(r"--[^\n]*", "", statement).split())
    return text.replace("( ", "(").replace(" )", ")")


_CHANGE = re.compile(
    r"CASE WHEN p\.(\w+) IS DISTINCT FROM t\.(\w+) THEN jsonb_build_object\('(\w+)', (\w+)\.(\w+)\) ELSE '\{\}' END"
)


def _list_problems(q: dict[str, str], lot: tuple[str, ...], vehicle: tuple[str, ...]) -> list[str]:
    """Where the statements' column lists are not exactly ``lot`` / ``vehicle`` (each list is matched whole,
    with what surrounds it, so a column renamed, dropped or added in a list is found)."""

    def cols(names: tuple[str, ...], prefix: str = "") -> str:
        return ", ".join(prefix + c for c in names)

    lots, lots_p = cols(lot), cols(lot, "p.")
    veh, veh_p, veh_s = cols(vehicle), cols(vehicle, "p."), cols(vehicle, "s.")
    expected = {
        "plan_keys": [
            f"row_hash, source_updated_at, vin, {veh} FROM (",
            f"s.row_hash, s.source_updated_at, s.vin, {veh_s} FROM (SELECT",
            f"s.currency_code, {veh_s}, s.record_hash AS row_hash FROM staging.lots s)",
        ],
        "confirm_changes": [f"AND ({cols(lot, 't.')}) IS NOT DISTINCT FROM ({cols(lot, 's.')})"],
        "plan_vehicles": [
            f"staging.vehicle_plan (vin, lot_number, action, relist_check, source_updated_at, {veh}) SELECT",
            f"source_updated_at, {veh} FROM (",
            f"({cols(vehicle, 't.')}) IS DISTINCT FROM ({cols(vehicle, 'v.')}) AS differs",
            f"s.vin, s.lot_number, s.source_updated_at, {veh_s}, count(*) OVER w",
        ],
        "insert_vehicles": [
            f"INSERT INTO vehicles (vin, {veh}, source_lot_number, source_updated_at, source_window_at, load_id)",
            f"SELECT p.vin, {veh_p}, p.lot_number,",
        ],
        "update_vehicles": [f"SET ({veh}) = ({veh_p}), source_lot_number"],
        "update_lots": [f"SET ({lots}) = ({lots_p}), retail_value_usd"],
        "insert_lots": [
            f"INSERT INTO lots (lot_number, {lots}, row_hash, source_updated_at, source_window_at, first_seen_at,",
            f"SELECT p.lot_number, {lots_p}, k.row_hash,",
        ],
    }
    problems = []
    for name, snippets in expected.items():
        text = _flat(q[name])
        for snippet in snippets:
            if snippet not in text:
                problems.append(f"{name}: expected {snippet!r}")
    # lot_change_events: per column (the Last Updated Time first) p against t, old values from t, then new from p
    text = _flat(q["lot_change_events"])
    changes = _CHANGE.findall(text)
    tracked = ("source_updated_at", *lot)
    want = [(c, c, c, "t", c) for c in tracked] + [(c, c, c, "p", c) for c in tracked]
    if changes != want or text.count("CASE WHEN") != len(changes):
        got = [c[0] for c in changes]
        problems.append(
            f"lot_change_events: expected old then new of {list(tracked)}, found {got} "
            f"(missing {sorted(set(tracked) - set(got))}, extra {sorted(set(got) - set(tracked))})"
        )
    return problems


def test_statements_use_exactly_the_column_lists() -> None:
    assert _list_problems(load_statements("window"), LOT_COLUMNS, VEHICLE_COLUMNS) == []


@pytest.mark.parametrize(
    ("statement", "old", "new"),
    [
        ("update_lots", "p.color,", "p.color_code,"),  # a column renamed in a list
        ("confirm_changes", "s.image_thumbnail, s.image_url)", "s.image_thumbnail)"),  # one dropped
        ("insert_vehicles", "p.make,", "p.make, p.model,"),  # one added
        ("lot_change_events", "jsonb_build_object('trim', p.trim)", "jsonb_build_object('trim', t.trim)"),
        ("lot_change_events", "p.color IS DISTINCT FROM t.color", "p.color IS DISTINCT FROM t.color_code"),
        ("plan_keys", "s.record_hash AS row_hash", "s.year, s.record_hash AS row_hash"),
    ],
)
def test_a_changed_column_list_is_found(statement: str, old: str, new: str) -> None:
    q = load_statements("window")
    assert old in q[statement]
    q[statement] = q[statement].replace(old, new, 1)
    problems = _list_problems(q, LOT_COLUMNS, VEHICLE_COLUMNS)
    assert problems and all(p.startswith(f"{statement}:") for p in problems), problems


def test_a_column_missing_from_a_list_is_found() -> None:
    q = load_statements("window")
    lot = tuple(c for c in LOT_COLUMNS if c != "color")  # as if lots had a column the statements do not know
    problems = _list_problems(q, lot, VEHICLE_COLUMNS)
    assert {p.split(":")[0] for p in problems} == {"confirm_changes", "update_lots", "insert_lots", "lot_change_events"}


def test_placeholders() -> None:
    text = "SELECT {lot_columns:p.}, '{}', x ~ 'a{64}'\n  FROM t WHERE ({vehicle_columns}) IS NULL"
    out = expand(text)
    assert out.startswith("SELECT p.auction_at, p.vehicle_type_code,") and "'{}', x ~ 'a{64}'" in out
    assert out.count("p.") == len(LOT_COLUMNS) and "{" not in out.replace("'{}'", "").replace("{64}", "")
    assert f"({', '.join(VEHICLE_COLUMNS)}) IS NULL" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 116
    with pytest.raises(StatementError, match=r"<sql>:2: unknown placeholder \{lot_colums\}"):
        expand("SELECT 1,\n {lot_colums}")
    with pytest.raises(StatementError, match="unknown placeholder"):
        expand("{lot_changes:s.}")


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
    r = load(conn, source([lot(1), lot(2, **VIOLATIONS[check])]), settings, store_raw=False)
    assert (r["rows_loaded"], r["rows_quarantined"]) == (1, 1)
    q = table(conn, "raw.quarantine", "row_no", drop=set())
    assert check in q[0]["detail"]


def test_lot_number_must_be_positive(conn: psycopg.Connection) -> None:
    r = load(conn, source([lot(1), lot(-4)]), Settings(), store_raw=False)
    assert r["rows_refused"] == 1 and "lots_lot_number_positive" in table(conn, "raw.quarantine", "row_no")[0]["detail"]


def test_schema_mismatch_is_reported_clearly(conn: psycopg.Connection) -> None:
    from vinops.errors import IngestError
    from vinops.window import WindowSource

    bad = pa.RecordBatch.from_pydict({"lot_number": pa.array([1], pa.int64()), "year": pa.array([2015], pa.int32())})
    src = WindowSource(
        batches=[bad],
        summary=lambda: {"rows_in": 1, "rows_ok": 1, "rows_quarantined": 0},
        sha256="c" * 64,
        bytes=1,
    )
    with pytest.raises(IngestError, match=r"year: Arrow int32 is integer, staging.lots has smallint"):
        load(conn, src, Settings(), store_raw=False)
