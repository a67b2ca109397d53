"""Is vinops healthy? The figures, read from the database, and the verdict of the rules below.

Every window's record is in the database (``raw.csv_files``, ``audit.window_runs``, ``audit.ingest_errors``,
``photo_checks``), so any replica of ``vinops serve`` and any ``vinops health`` report the same truth.

* :func:`read_snapshot` reads every figure in one read-only, repeatable-read transaction (``sql/health.sql``):
  the :class:`Snapshot` that both ``/metrics`` (:mod:`vinops.metrics`) and ``/health`` are made from.
* :func:`verdict` applies the rules to a snapshot: pure, no database.
* :func:`collect` is the two together; :func:`unreachable` is the report when the database cannot be reached.

The rules (thresholds in :class:`Rules`; the README's "Health and metrics" lists the same). Each part gets
the worst state one of its rules gives; the overall state is the worst part's.

=============  ===============================================================================================
part           unhealthy when … / degraded when …
=============  ===============================================================================================
database       unhealthy: unreachable, migrations pending (or an applied one edited), lots whose vehicle is
               missing (> 0)
last window    unhealthy: no window loaded for 6 h; degraded: none loaded yet, none for 2 h, its quarantine
               share > 1 %, its unknown taxonomy rate > 1 %, it failed validation (completion did not run)
fetch          unhealthy: 5 consecutive failed windows (the circuit breaker pauses the deployment);
               degraded: 3 consecutive failed windows
photos         degraded: more than 10 % of the lots checked in the last 24 h failed (none checked: healthy)
raw store      degraded: the last loaded window's file is not in the raw store
=============  ===============================================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any

import psycopg

from vinops.logs import mask

__all__ = [
    "STATES",
    "HealthReport",
    "Part",
    "Rules",
    "Snapshot",
    "WindowPoint",
    "collect",
    "read_snapshot",
    "unreachable",
    "verdict",
]

#: The states, best first. A part that could not be read (the database is down) is "unknown".
STATES: tuple[str, ...] = ("healthy", "degraded", "unhealthy")
#: HTTP status of /health and exit code of ``vinops health`` per state.
HTTP_STATUS = {"healthy": 200, "degraded": 200, "unhealthy": 503}
EXIT_CODE = {"healthy": 0, "degraded": 1, "unhealthy": 2}
#: The parts, in the order the page shows them.
PARTS: tuple[tuple[str, str], ...] = (
    ("database", "Database"),
    ("last_window", "Last window"),
    ("fetch", "Fetch"),
    ("photos", "Photos"),
    ("raw_store", "Raw store"),
)
#: The window outcomes (audit.window_runs), in the order metrics and charts list them.
OUTCOMES: tuple[str, ...] = ("loaded", "skipped", "not_modified", "rejected", "failed")


@dataclass(frozen=True)
class Rules:
    """The thresholds of :func:`verdict`."""

    stale_after: timedelta = timedelta(hours=2)
    dead_after: timedelta = timedelta(hours=6)
    max_quarantine_share: float = 0.01
    max_unknown_rate: float = 0.01
    failures_degraded: int = 3
    failures_unhealthy: int = 5
    max_photo_failed_share: float = 0.10


@dataclass(frozen=True)
class WindowPoint:
    """One window of the chart: when it ended, its outcome, its seconds (None for a load made outside a run),
    its rows and the lots it inserted or updated."""

    at: datetime
    outcome: str
    seconds: float | None
    rows_in: int | None
    lots_changed: int | None


@dataclass
class Snapshot:
    """Every figure /metrics and /health report, read at ``now`` (the database's clock)."""

    now: datetime
    migrations_applied: int = 0
    migrations_pending: int = 0
    migration_error: str | None = None
    vehicles: int = 0
    lots_by_status: dict[str, int] = field(default_factory=dict)
    lots_missing_vehicle: int = 0
    #: audit.window_runs by outcome, loads outside runs added to ``loaded``.
    windows_by_outcome: dict[str, int] = field(default_factory=dict)
    consecutive_failures: int = 0
    #: The newest load (raw.csv_files): its row and summary; None before the first.
    last_load: dict[str, Any] | None = None
    #: The newest run (audit.window_runs) and the newest failed or rejected one.
    last_run: dict[str, Any] | None = None
    last_failed_run: dict[str, Any] | None = None
    windows_24h: list[WindowPoint] = field(default_factory=list)
    #: Sums over every loaded window: loads, vehicles_inserted, …, rows_quarantined.
    totals: dict[str, int] = field(default_factory=dict)
    ingest_errors: int = 0
    raw_files: int = 0
    raw_bytes: int = 0
    raw_pruned: int = 0
    photos: dict[str, Any] = field(default_factory=dict)

    @property
    def lots(self) -> int:
        return sum(self.lots_by_status.values())

    @property
    def active_lots(self) -> int:
        return self.lots_by_status.get("ACTIVE", 0)

    @property
    def photos_started(self) -> bool:
        """Whether the photo flows ever ran (a lot checked or a photo stored)."""
        return bool(self.photos.get("stored") or sum(self.photos.get("checks", {}).values()))


@dataclass(frozen=True)
class Part:
    """One card of the page: its state, one line, why it is not healthy, and its figures."""

    name: str
    title: str
    status: str
    summary: str
    reasons: tuple[str, ...] = ()
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthReport:
    status: str
    checked_at: datetime
    parts: tuple[Part, ...]
    windows_24h: tuple[WindowPoint, ...] = ()

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.status]

    @property
    def exit_code(self) -> int:
        return EXIT_CODE[self.status]

    def part(self, name: str) -> Part:
        return next(p for p in self.parts if p.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the state, each part (state, summary, reasons, figures) and the last 24 h of windows."""
        return {
            "status": self.status,
            "http_status": self.http_status,
            "checked_at": self.checked_at.isoformat(),
            "parts": {p.name: {"title": p.title, "status": p.status, "summary": p.summary,
                               "reasons": list(p.reasons), "figures": p.figures} for p in self.parts},  # fmt: skip
            "windows_24h": [{**asdict(w), "at": w.at.isoformat()} for w in self.windows_24h],
        }


# ---------------------------------------------------------------------------------------------------------
# reading


@cache
def _statements() -> dict[str, str]:
    from vinops.statements import load_statements

    return load_statements("health")


def _one(conn: psycopg.Connection, name: str, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
    return conn.execute(_statements()[name], params).fetchone()  # type: ignore[arg-type]


def _all(conn: psycopg.Connection, name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    return conn.execute(_statements()[name], params).fetchall()  # type: ignore[arg-type]


def _named(conn: psycopg.Connection, name: str) -> dict[str, Any] | None:
    cur = conn.execute(_statements()[name])
    row = cur.fetchone()
    if row is None:
        return None
    return {d.name: v for d, v in zip(cur.description or (), row, strict=True)}


def read_snapshot(conn: psycopg.Connection, *, history: timedelta = timedelta(hours=24)) -> Snapshot:
    """Every figure, from one read-only repeatable-read transaction on ``conn`` (which must have no
    transaction in progress; left idle). ``history``: how far back the chart's windows go."""
    from vinops.db import MigrationError, migrations, pending_migrations
    from vinops.runs import consecutive_failures

    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError("read_snapshot needs a connection with no transaction in progress")
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        now = _one(conn, "clock")[0]  # type: ignore[index]
        snap = Snapshot(now=now)
        try:
            pending = pending_migrations(conn)
            snap.migrations_pending = len(pending)
            snap.migrations_applied = len(migrations()) - len(pending)
        except MigrationError as e:
            snap.migration_error = mask(str(e))
        if snap.migrations_pending or snap.migration_error:
            # The tables below may not exist yet (or may not be what this code expects).
            return snap
        snap.lots_by_status = {str(s): int(n) for s, n in _all(conn, "lots_by_status")}
        snap.vehicles = int(_one(conn, "vehicles")[0])  # type: ignore[index]
        snap.lots_missing_vehicle = int(_one(conn, "lots_missing_vehicle")[0])  # type: ignore[index]
        by_outcome = dict.fromkeys(OUTCOMES, 0)
        for outcome, n in _all(conn, "runs_by_outcome"):
            by_outcome[str(outcome)] = by_outcome.get(str(outcome), 0) + int(n)
        by_outcome["loaded"] += int(_one(conn, "loads_outside_runs")[0])  # type: ignore[index]
        snap.windows_by_outcome = by_outcome
        snap.consecutive_failures = consecutive_failures(conn)
        snap.last_load = _named(conn, "last_load")
        snap.last_run = _named(conn, "last_run")
        snap.last_failed_run = _named(conn, "last_failed_run")
        snap.windows_24h = [
            WindowPoint(at, str(outcome), float(s) if s is not None else None,
                        int(r) if r is not None else None, int(c) if c is not None else None)  # fmt: skip
            for at, outcome, s, r, c in _all(conn, "windows_since", {"since": now - history})
        ]
        t = _one(conn, "totals")
        assert t is not None
        keys = ("loads", "vehicles_inserted", "vehicles_updated", "lots_inserted", "lots_updated",
                "lots_pending_result", "lots_not_sold", "lots_reappeared", "rows_in", "rows_quarantined")  # fmt: skip
        snap.totals = {k: int(v) for k, v in zip(keys, t, strict=True)}
        snap.ingest_errors = int(_one(conn, "ingest_errors")[0])  # type: ignore[index]
        raw = _one(conn, "raw_store")
        assert raw is not None
        snap.raw_files, snap.raw_bytes, snap.raw_pruned = int(raw[0]), int(raw[1]), int(raw[2])
        p = _one(conn, "photos")
        assert p is not None
        snap.photos = {
            "stored": int(p[0]),
            "bytes": int(p[1]),
            "checks": {"photos": int(p[2]), "none": int(p[3]), "failed": int(p[4])},
            "checked_24h": int(p[5]),
            "failed_24h": int(p[6]),
            "last_check_at": p[7],
        }
        if snap.photos_started:
            active, with_photos, backlog = _one(conn, "photo_lots")  # type: ignore[misc]
            snap.photos["coverage"] = int(with_photos) / int(active) if active else None
            snap.photos["with_photos"] = int(with_photos)
            snap.photos["backlog"] = int(backlog)
    return snap


# ---------------------------------------------------------------------------------------------------------
# the rules


def _worst(states: list[str]) -> str:
    """The worst of ``states`` (a part that could not be read, "unknown", does not count)."""
    return max((x for x in states if x in STATES), key=STATES.index, default="healthy")


def _ago(seconds: float) -> str:
    """``3 h 05 min ago``, ``12 min ago``, ``40 s ago``."""
    s = max(0, int(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min ago"
    if s >= 60:
        return f"{s // 60} min ago"
    return f"{s} s ago"


def _share(part: int | float, whole: int | float) -> float:
    return float(part) / float(whole) if whole else 0.0


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _database(s: Snapshot, rules: Rules) -> Part:
    reasons: list[tuple[str, str]] = []
    if s.migration_error:
        reasons.append(("unhealthy", f"migrations: {s.migration_error}"))
    elif s.migrations_pending:
        reasons.append(("unhealthy", f"{s.migrations_pending} migration(s) pending: run `vinops db migrate`"))
    if s.lots_missing_vehicle:
        reasons.append(("unhealthy", f"{s.lots_missing_vehicle:,} lot(s) name a VIN with no vehicle row"))
    figures = {
        "vehicles": s.vehicles,
        "lots": s.lots,
        "active_lots": s.active_lots,
        "lots_by_status": dict(sorted(s.lots_by_status.items())),
        "lots_missing_vehicle": s.lots_missing_vehicle,
        "migrations_applied": s.migrations_applied,
        "migrations_pending": s.migrations_pending,
    }
    summary = f"{s.vehicles:,} vehicles · {s.lots:,} lots · {s.active_lots:,} active"
    return _part("database", summary, reasons, figures)


def _last_window(s: Snapshot, rules: Rules) -> Part:
    load = s.last_load
    if load is None:
        return _part("last_window", "no window loaded yet", [("degraded", "no window loaded yet")], {})
    summary_row: dict[str, Any] = load.get("summary") or {}
    age = float(load["age_seconds"])
    rows_in = int(load["rows_in"])
    quarantine_share = _share(int(load["rows_quarantined"]), rows_in)
    unknown_rate = float(summary_row.get("unknown_rate") or 0.0)
    reasons: list[tuple[str, str]] = []
    if age > rules.dead_after.total_seconds():
        reasons.append(("unhealthy", f"no window loaded for {_ago(age).removesuffix(' ago')}"))
    elif age > rules.stale_after.total_seconds():
        reasons.append(("degraded", f"no window loaded for {_ago(age).removesuffix(' ago')}"))
    if quarantine_share > rules.max_quarantine_share:
        reasons.append(("degraded", f"quarantine share {_pct(quarantine_share)} > {_pct(rules.max_quarantine_share)}"))
    if unknown_rate > rules.max_unknown_rate:
        reasons.append(("degraded", f"unknown taxonomy rate {_pct(unknown_rate)} > {_pct(rules.max_unknown_rate)}"))
    if not load["valid"]:
        errors = "; ".join(load.get("validation_errors") or []) or "validation failed"
        reasons.append(("degraded", f"failed validation, completion did not run: {errors}"))
    seconds = load.get("seconds") or {}
    figures = {
        "load_id": load["load_id"],
        "loaded_at": load["loaded_at"].isoformat(),
        "window_at": load["window_at"].isoformat(),
        "age_seconds": round(age, 1),
        "rows_in": rows_in,
        "rows_loaded": int(load["rows_loaded"]),
        "rows_quarantined": int(load["rows_quarantined"]),
        "rows_skipped": int(summary_row.get("rows_skipped") or 0),
        "quarantine_share": round(quarantine_share, 6),
        "unknown_rate": round(unknown_rate, 6),
        "vehicles_inserted": int(summary_row.get("vehicles_inserted") or 0),
        "vehicles_updated": int(summary_row.get("vehicles_updated") or 0),
        "lots_inserted": int(summary_row.get("lots_inserted") or 0),
        "lots_updated": int(summary_row.get("lots_updated") or 0),
        "lots_pending_result": int(summary_row.get("lots_pending_result") or 0),
        "lots_not_sold": int(summary_row.get("lots_not_sold") or 0),
        "seconds": seconds.get("total"),
        "stage_seconds": seconds,
        "completion": load.get("completion_note") or ("ran" if load["completion_eligible"] else "did not run"),
    }
    summary = (f"loaded {_ago(age)} · {rows_in:,} rows · {figures['lots_inserted']:,} new, "
               f"{figures['lots_updated']:,} changed lots")  # fmt: skip
    return _part("last_window", summary, reasons, figures)


def _fetch(s: Snapshot, rules: Rules) -> Part:
    run = s.last_run
    day = {o: 0 for o in OUTCOMES}
    for w in s.windows_24h:
        day[w.outcome] = day.get(w.outcome, 0) + 1
    figures: dict[str, Any] = {
        "consecutive_failures": s.consecutive_failures,
        "windows_24h": day,
        "windows_total": dict(s.windows_by_outcome),
        "ingest_errors": s.ingest_errors,
    }
    reasons: list[tuple[str, str]] = []
    if s.consecutive_failures >= rules.failures_unhealthy:
        reasons.append(("unhealthy", f"{s.consecutive_failures} consecutive failed windows (the circuit breaker "
                                     "pauses the deployment)"))  # fmt: skip
    elif s.consecutive_failures >= rules.failures_degraded:
        reasons.append(("degraded", f"{s.consecutive_failures} consecutive failed windows"))
    if s.last_failed_run is not None:
        figures["last_failure"] = {"at": s.last_failed_run["finished_at"].isoformat(),
                                   "outcome": s.last_failed_run["outcome"],
                                   "reason": mask(s.last_failed_run["reason"] or "")}  # fmt: skip
    if run is None:
        summary = "no runs recorded (windows loaded with `vinops ingest` only)"
    else:
        fetch = run.get("fetch") or {}
        figures.update(last_run_outcome=run["outcome"], last_run_at=run["finished_at"].isoformat(),
                       last_run_seconds=run["seconds"], http_status=fetch.get("http_status"))  # fmt: skip
        summary = f"last run {run['outcome'].replace('_', ' ')} {_ago(float(run['age_seconds']))}"
        if s.consecutive_failures:
            summary += f" · {s.consecutive_failures} failed in a row"
    return _part("fetch", summary, reasons, figures)


def _photos(s: Snapshot, rules: Rules) -> Part:
    if not s.photos_started:
        return _part("photos", "no photos yet (the photo flows have not run)", [], {"stored": 0})
    p = s.photos
    failed_share = _share(p["failed_24h"], p["checked_24h"])
    reasons: list[tuple[str, str]] = []
    if failed_share > rules.max_photo_failed_share:
        reasons.append(("degraded", f"{_pct(failed_share)} of the lots checked in 24 h failed "
                                    f"(> {_pct(rules.max_photo_failed_share)})"))  # fmt: skip
    last = p.get("last_check_at")
    figures = {
        "stored": p["stored"],
        "bytes": p["bytes"],
        "coverage": p.get("coverage"),
        "backlog": p.get("backlog"),
        "lots_failed": p["checks"]["failed"],
        "lots_checked_24h": p["checked_24h"],
        "lots_failed_24h": p["failed_24h"],
        "last_check_at": last.isoformat() if last else None,
    }
    coverage = p.get("coverage")
    summary = (f"{p['stored']:,} photos · coverage {_pct(coverage) if coverage is not None else 'n/a'} · "
               f"{p.get('backlog') or 0:,} lots waiting")  # fmt: skip
    return _part("photos", summary, reasons, figures)


def _raw_store(s: Snapshot, rules: Rules) -> Part:
    reasons: list[tuple[str, str]] = []
    load = s.last_load
    if load is not None and not load.get("raw_key"):
        reasons.append(("degraded", f"the last window's file (load {load['load_id']}) is not in the raw store"))
    figures = {"files": s.raw_files, "bytes": s.raw_bytes, "pruned": s.raw_pruned,
               "last_key": load.get("raw_key") if load else None}  # fmt: skip
    summary = (f"{s.raw_files:,} file{'s' if s.raw_files != 1 else ''} kept · {s.raw_bytes / 1e6:,.1f} MB "
               f"(original size) · {s.raw_pruned:,} pruned")  # fmt: skip
    return _part("raw_store", summary, reasons, figures)


def _part(name: str, summary: str, reasons: list[tuple[str, str]], figures: dict[str, Any]) -> Part:
    title = dict(PARTS)[name]
    return Part(name, title, _worst([r[0] for r in reasons]), summary, tuple(r[1] for r in reasons), figures)


def verdict(snapshot: Snapshot, rules: Rules | None = None) -> HealthReport:
    """The report of ``snapshot`` under ``rules`` (module doc): each part's state, the worst of them overall."""
    rules = rules or Rules()
    if snapshot.migrations_pending or snapshot.migration_error:
        db = _database(snapshot, rules)
        rest = [Part(n, t, "unknown", "not read: the schema is not current") for n, t in PARTS[1:]]
        parts = (db, *rest)
    else:
        parts = (_database(snapshot, rules), _last_window(snapshot, rules), _fetch(snapshot, rules),
                 _photos(snapshot, rules), _raw_store(snapshot, rules))  # fmt: skip
    return HealthReport(_worst([p.status for p in parts]), snapshot.now, parts, tuple(snapshot.windows_24h))


def collect(conn: psycopg.Connection, rules: Rules | None = None) -> HealthReport:
    """:func:`verdict` of :func:`read_snapshot` of ``conn``."""
    return verdict(read_snapshot(conn), rules)


def unreachable(error: BaseException | str, now: datetime | None = None) -> HealthReport:
    """The report when the database cannot be reached (or a read failed): unhealthy, ``error`` masked."""
    text = mask(" ".join(str(error).split()) or type(error).__name__)
    now = now or datetime.now(timezone.utc)
    db = Part("database", "Database", "unhealthy", "unreachable", (f"database unreachable: {text}",), {})
    rest = [Part(n, t, "unknown", "not read: the database is unreachable") for n, t in PARTS[1:]]
    return HealthReport("unhealthy", now, (db, *rest))

