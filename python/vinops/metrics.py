"""Prometheus metrics of vinops, computed from the database at each scrape (``/metrics`` of ``vinops serve``).

:class:`VinopsCollector` is a prometheus-client custom collector: each scrape reads one
:class:`~vinops.health.Snapshot` (the same figures ``/health`` judges) and turns it into metric families with
:func:`families`. Nothing is counted in the process, so every replica reports the same values and a restart
loses nothing. When the database cannot be read, the scrape still answers: ``vinops_database_up 0`` and
nothing else of vinops.

The metrics (``METRICS`` lists each name as exposed; the README's "Health and metrics" explains them):
the windows by outcome and the consecutive failures, the last loaded window (its age, rows, quarantine
share, unknown taxonomy rate, vehicle and lot changes, completion's transitions, seconds per stage), sums over
every loaded window, vehicles and lots, lots whose vehicle is missing, the raw store, and photos once the
photo flows have run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vinops.health import OUTCOMES, Snapshot
from vinops.logs import mask

__all__ = ["METRICS", "VinopsCollector", "families"]

log = logging.getLogger(__name__)

#: Every metric name /metrics can expose (counters with their ``_total`` suffix).
METRICS: tuple[str, ...] = (
    "vinops_database_up",
    "vinops_scrape_seconds",
    "vinops_migrations_pending",
    "vinops_windows_total",
    "vinops_consecutive_failed_windows",
    "vinops_ingest_errors_total",
    "vinops_last_loaded_window_timestamp_seconds",
    "vinops_last_loaded_window_age_seconds",
    "vinops_last_window_rows",
    "vinops_last_window_quarantine_share",
    "vinops_last_window_unknown_rate",
    "vinops_last_window_vehicles",
    "vinops_last_window_lots",
    "vinops_last_window_transitions",
    "vinops_last_window_stage_seconds",
    "vinops_rows_total",
    "vinops_vehicles_changed_total",
    "vinops_lots_changed_total",
    "vinops_lot_transitions_total",
    "vinops_vehicles",
    "vinops_lots",
    "vinops_lots_missing_vehicle",
    "vinops_raw_store_files",
    "vinops_raw_store_bytes",
    "vinops_raw_store_pruned_files",
    "vinops_photos_stored",
    "vinops_photo_bytes",
    "vinops_photo_lots",
    "vinops_photo_coverage_ratio",
    "vinops_photo_backlog_lots",
)

_LAST_ROWS = ("in", "loaded", "quarantined", "refused", "duplicate", "skipped")
_LOT_CHANGES = ("inserted", "updated", "unchanged", "stale")
_TRANSITIONS = ("pending_result", "not_sold", "reappeared")


def _family(family: type[GaugeMetricFamily] | type[CounterMetricFamily], name: str, doc: str,
            value: float | None, labels: dict[str, float] | None, label: str) -> Any:  # fmt: skip
    if labels is None:
        return family(name, doc, value=value)
    metric = family(name, doc, labels=[label])
    for key, v in labels.items():
        metric.add_metric([key], v)
    return metric


def _gauge(name: str, doc: str, value: float | None = None, labels: dict[str, float] | None = None,
           label: str = "") -> GaugeMetricFamily:  # fmt: skip
    return _family(GaugeMetricFamily, name, doc, value, labels, label)  # type: ignore[no-any-return]


def _counter(name: str, doc: str, value: float | None = None, labels: dict[str, float] | None = None,
             label: str = "") -> CounterMetricFamily:  # fmt: skip
    # prometheus-client adds the _total suffix itself
    return _family(CounterMetricFamily, name.removesuffix("_total"), doc, value, labels, label)  # type: ignore[no-any-return]


def _last_window(s: Snapshot) -> Iterator[Metric]:
    load = s.last_load
    if load is None:
        return
    summary: dict[str, Any] = load.get("summary") or {}
    n = lambda key: float(summary.get(key) or 0)  # noqa: E731 - a window loaded before a field existed has none
    yield _gauge("vinops_last_loaded_window_timestamp_seconds",
                 "When the newest loaded window committed (Unix time).", load["loaded_at"].timestamp())  # fmt: skip
    yield _gauge("vinops_last_loaded_window_age_seconds",
                 "Seconds since the newest loaded window committed (the database's clock).", float(load["age_seconds"]))  # fmt: skip
    rows = {"in": float(load["rows_in"]), "loaded": float(load["rows_loaded"]),
            "quarantined": float(load["rows_quarantined"]), "refused": n("rows_refused"),
            "duplicate": n("rows_duplicate"), "skipped": n("rows_skipped")}  # fmt: skip
    yield _gauge("vinops_last_window_rows",
                 "Rows of the newest loaded window: in (read), loaded, quarantined (refused included), refused by "
                 "a constraint, duplicate (lot listed twice), skipped (identical to the stored record).",
                 labels=rows, label="kind")  # fmt: skip
    share = rows["quarantined"] / rows["in"] if rows["in"] else 0.0
    yield _gauge("vinops_last_window_quarantine_share", "Quarantined rows / rows in, of the newest loaded window.", share)
    yield _gauge("vinops_last_window_unknown_rate",
                 "Unknown categorical cells / non-empty categorical cells, of the newest loaded window.",
                 n("unknown_rate"))  # fmt: skip
    yield _gauge("vinops_last_window_vehicles", "Vehicles the newest loaded window inserted or updated.",
                 labels={"inserted": n("vehicles_inserted"), "updated": n("vehicles_updated")}, label="change")  # fmt: skip
    yield _gauge("vinops_last_window_lots",
                 "Lots of the newest loaded window: inserted, updated, unchanged, stale (older than the stored row).",
                 labels={c: n(f"lots_{c}") for c in _LOT_CHANGES}, label="change")  # fmt: skip
    yield _gauge("vinops_last_window_transitions",
                 "Completion's transitions in the newest loaded window: to PENDING_RESULT, to NOT_SOLD (relisted), "
                 "back to ACTIVE (reappeared).",
                 labels={t: n(f"lots_{t}") for t in _TRANSITIONS}, label="transition")  # fmt: skip
    seconds = load.get("seconds")
    if isinstance(seconds, dict) and seconds:
        yield _gauge("vinops_last_window_stage_seconds",
                     "Seconds per stage of the newest loaded window, as its run recorded them (total: the whole "
                     "window). Absent for a window loaded by `vinops ingest` outside a run.",
                     labels={str(k): float(v) for k, v in seconds.items() if isinstance(v, (int, float))},
                     label="stage")  # fmt: skip


def _photos(s: Snapshot) -> Iterator[Metric]:
    if not s.photos_started:
        return
    p = s.photos
    yield _gauge("vinops_photos_stored", "Photos stored (rows of images: every kept variant of every sequence).",
                 float(p["stored"]))  # fmt: skip
    yield _gauge("vinops_photo_bytes", "Bytes of the stored photos.", float(p["bytes"]))
    yield _gauge("vinops_photo_lots", "Lots by the outcome of their newest photo check (photos, none, failed).",
                 labels={k: float(v) for k, v in p["checks"].items()}, label="outcome")  # fmt: skip
    if p.get("coverage") is not None:
        yield _gauge("vinops_photo_coverage_ratio", "Share of ACTIVE lots with at least one stored photo.",
                     float(p["coverage"]))  # fmt: skip
    yield _gauge("vinops_photo_backlog_lots",
                 "ACTIVE lots with an image address, no stored photo, and no check yet or a failed one.",
                 float(p.get("backlog") or 0))  # fmt: skip


def families(s: Snapshot) -> list[Metric]:
    """The metric families of one snapshot (without ``vinops_database_up`` and ``vinops_scrape_seconds``)."""
    out: list[Metric] = [
        _gauge("vinops_migrations_pending", "Migrations not applied to the database (ingest refuses to run).",
               float(s.migrations_pending + (1 if s.migration_error else 0))),  # fmt: skip
    ]
    if s.migrations_pending or s.migration_error:
        return out
    t = s.totals
    out += [
        _counter("vinops_windows_total",
                 "Windows by outcome: the runs of audit.window_runs, plus loads made by `vinops ingest` outside a "
                 "run (counted as loaded).",
                 labels={o: float(s.windows_by_outcome.get(o, 0)) for o in OUTCOMES}, label="outcome"),  # fmt: skip
        _gauge("vinops_consecutive_failed_windows",
               "Failed or rejected windows since the newest good one (what the circuit breaker reads).",
               float(s.consecutive_failures)),  # fmt: skip
        _counter("vinops_ingest_errors_total", "Windows rolled back (rows of audit.ingest_errors).",
                 float(s.ingest_errors)),  # fmt: skip
        *_last_window(s),
        _counter("vinops_rows_total", "Rows over every loaded window: in, quarantined.",
                 labels={"in": float(t["rows_in"]), "quarantined": float(t["rows_quarantined"])}, label="kind"),  # fmt: skip
        _counter("vinops_vehicles_changed_total", "Vehicles inserted or updated, over every loaded window.",
                 labels={"inserted": float(t["vehicles_inserted"]), "updated": float(t["vehicles_updated"])},
                 label="change"),  # fmt: skip
        _counter("vinops_lots_changed_total", "Lots inserted or updated, over every loaded window.",
                 labels={"inserted": float(t["lots_inserted"]), "updated": float(t["lots_updated"])},
                 label="change"),  # fmt: skip
        _counter("vinops_lot_transitions_total", "Completion's transitions, over every loaded window.",
                 labels={tr: float(t[f"lots_{tr}"]) for tr in _TRANSITIONS}, label="transition"),  # fmt: skip
        _gauge("vinops_vehicles", "Vehicles (one row per VIN).", float(s.vehicles)),
        _gauge("vinops_lots", "Lots by status.",
               labels={st: float(s.lots_by_status.get(st, 0)) for st in ("ACTIVE", "PENDING_RESULT", "NOT_SOLD", "SOLD")},
               label="status"),  # fmt: skip
        _gauge("vinops_lots_missing_vehicle", "Lots naming a VIN with no vehicle row (must stay 0).",
               float(s.lots_missing_vehicle)),  # fmt: skip
        _gauge("vinops_raw_store_files", "Files the raw store keeps (loaded windows with a raw key, not pruned).",
               float(s.raw_files)),  # fmt: skip
        _gauge("vinops_raw_store_bytes",
               "Original size in bytes of the files the raw store keeps (stored compressed when zstd is on).",
               float(s.raw_bytes)),  # fmt: skip
        _gauge("vinops_raw_store_pruned_files", "Raw files deleted by the retention.", float(s.raw_pruned)),
        *_photos(s),
    ]
    return out


class VinopsCollector(Collector):
    """Reads a snapshot at each scrape (``snapshot()``: e.g. a fresh connection and
    :func:`vinops.health.read_snapshot`) and yields :func:`families`; never raises: a failed read yields
    ``vinops_database_up 0``."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def describe(self) -> list[Metric]:
        # Registering must not touch the database.
        return []

    def collect(self) -> Iterator[Metric]:
        t0 = time.perf_counter()
        try:
            snap = self._snapshot()
        except Exception as e:  # noqa: BLE001 - a scrape reports the failure instead of failing
            log.warning("metrics: the database could not be read: %s", mask(" ".join(str(e).split())))
            yield _gauge("vinops_database_up", "1 when this scrape read the database, else 0.", 0.0)
            yield _gauge("vinops_scrape_seconds", "Seconds this scrape spent reading the database.", time.perf_counter() - t0)
            return
        yield _gauge("vinops_database_up", "1 when this scrape read the database, else 0.", 1.0)
        yield from families(snap)
        yield _gauge("vinops_scrape_seconds", "Seconds this scrape spent reading the database.", time.perf_counter() - t0)
