"""k8s/prometheus-rules.yaml: a valid Prometheus rules file (promtool is not used: Debian's `prometheus`
package that ships it is a 96 MB server install), every alert the issue asks for, and each expression naming
only metrics ``/metrics`` exposes: compared with :data:`vinops.metrics.METRICS` and with the exposition the
real collector writes (tests/db/test_serve.py checks that a scrape after a real window exposes exactly
``METRICS``, and that it holds every metric the rules name)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vinops.health import Snapshot, WindowPoint
from vinops.metrics import METRICS, VinopsCollector

RULES = Path(__file__).resolve().parents[1] / "k8s" / "prometheus-rules.yaml"

# Prometheus durations: one or more number+unit pairs, largest unit first (model/time.go ParseDuration).
_DURATION = re.compile(r"^(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?:\d+ms)?$")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "on", "ignoring", "group_left", "group_right", "by", "without", "bool",
             "offset", "inf", "nan"}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers that are not functions or aggregations (followed
    by ``(``), keywords, label lists of ``by``/``without``/``on``/``ignoring``, ranges, strings or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries: [30m], [2h:5m]
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group(0)
        if word.lower() in _KEYWORDS or text[m.end():].lstrip().startswith("("):
            continue
        if text[max(0, m.start() - 1)].isdigit():  # the unit of a number such as 2e3
            continue
        names.add(word)
    return names


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert isinstance(doc, dict) and set(doc) == {"groups"}
    out = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"} and group["name"] and group["rules"]
        out.extend(group["rules"])
    return out


def full_exposition() -> set[str]:
    """The sample names the real collector writes for a snapshot with every section (a window, photos)."""
    now = datetime.now(timezone.utc)
    snap = Snapshot(
        now=now, migrations_applied=4, vehicles=10, lots_by_status={"ACTIVE": 12}, windows_by_outcome={"loaded": 1},
        last_load={"load_id": 1, "loaded_at": now, "window_at": now, "age_seconds": 5.0, "rows_in": 12,
                   "rows_loaded": 12, "rows_quarantined": 0, "valid": True, "validation_errors": [],
                   "completion_eligible": True, "completion_note": None, "raw_key": "copart/x.csv.zst",
                   "raw_deleted_at": None, "summary": {"lots_inserted": 12}, "seconds": {"total": 1.0}},
        windows_24h=[WindowPoint(now, "loaded", 1.0, 12, 12)],
        totals=dict.fromkeys(("loads", "vehicles_inserted", "vehicles_updated", "lots_inserted", "lots_updated",
                              "lots_pending_result", "lots_not_sold", "lots_reappeared", "rows_in",
                              "rows_quarantined"), 1),
        photos={"stored": 2, "bytes": 10, "checks": {"photos": 1, "none": 0, "failed": 0}, "checked_24h": 1,
                "failed_24h": 0, "last_check_at": now, "coverage": 0.5, "with_photos": 1, "backlog": 3},
    )  # fmt: skip
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VinopsCollector(lambda: snap))
    text = generate_latest(registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_structure_and_durations(rules: list[dict[str, Any]]) -> None:
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Vinops[A-Z][A-Za-z]+", rule["alert"])
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
        assert _DURATION.fullmatch(rule["for"]) and rule["for"] != "", rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        notes = rule["annotations"]
        assert set(notes) == {"summary", "description", "runbook"}, rule["alert"]
        assert all(isinstance(v, str) and len(v) > 20 for v in notes.values()), rule["alert"]


def test_the_alerts_the_issue_asks_for(rules: list[dict[str, Any]]) -> None:
    by_name = {r["alert"]: r for r in rules}
    wanted = {
        # alert: (metric it reads, threshold in the expression, for)
        "VinopsNoLoadedWindow": ("vinops_last_loaded_window_age_seconds", "> 2 * 3600", None),
        "VinopsConsecutiveFailedWindows": ("vinops_consecutive_failed_windows", ">= 3", None),
        "VinopsQuarantineShareHigh": ("vinops_last_window_quarantine_share", "> 0.01", None),
        "VinopsUnknownTaxonomyRateHigh": ("vinops_last_window_unknown_rate", "> 0.01", None),
        "VinopsLotsMissingVehicle": ("vinops_lots_missing_vehicle", "> 0", None),
        "VinopsPhotoBacklogGrowing": ("vinops_photo_backlog_lots", "> 0", "2h"),
    }
    for alert, (metric, threshold, duration) in wanted.items():
        rule = by_name[alert]
        assert metric_names(rule["expr"]) == {metric}, alert
        assert rule["expr"].rstrip().endswith(threshold), alert
        if duration:
            assert rule["for"] == duration
    assert "deriv(vinops_photo_backlog_lots[" in by_name["VinopsPhotoBacklogGrowing"]["expr"]


def test_every_expression_names_exposed_metrics(rules: list[dict[str, Any]]) -> None:
    exposed = full_exposition()
    assert exposed == set(METRICS)
    for rule in rules:
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= exposed, (rule["alert"], names - exposed)


def test_metric_names_extraction() -> None:
    assert metric_names("max without (instance, pod) (deriv(a_b[30m])) > 0") == {"a_b"}
    assert metric_names('sum by (x) (rate(c_total{job="v"}[5m])) / on (x) d and e offset 1h > 2e3') == {"c_total", "d", "e"}
