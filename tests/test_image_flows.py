"""The photo flows (``lot-images``, ``image-backfill``) and their shared rate limit, against the session's one
Prefect API (the ``prefect_api`` harness of tests/conftest.py: a temporary SQLite database, the API on
loopback).

The package calls (``lots_needing_photos``, ``fetch_photos``, the settings) are replaced by stubs: these tests
are about what the flows add (the lots' order and bound, the artifacts, the limiter on Prefect's global
concurrency limit). The rate test runs two flow runs at once, each acquiring from the same real global
concurrency limit with slot decay, and measures the aggregate rate.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

# Not imported here: Prefect fixes its settings (its home) when first imported, which the session fixture does
# under a temporary PREFECT_HOME.

DB_PASSWORD = "pw-Img-7731-secret"


@dataclass(frozen=True)
class Ref:
    """What ``lots_needing_photos`` returns (the field the flow dedupes on)."""

    lot_id: int


@dataclass
class Stats:
    lots_done: int = 0
    lots_without_photos: int = 0
    photos_stored: int = 0
    photos_reused: int = 0
    bytes: int = 0
    failures: list[Any] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _settings(rate: float = 10.0, burst: int = 50) -> Any:
    return SimpleNamespace(
        database_url=f"postgresql://vinops:{DB_PASSWORD}@127.0.0.1:1/vinops", photos_rate=rate, photos_burst=burst
    )


@pytest.fixture
def stubs(prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The flows' three package calls replaced. ``state["lots"]`` maps a ``load_id`` (or None) to the refs
    ``lots_needing_photos`` returns; ``state["fetch"]`` does the fetch (default: acquire once per lot, report
    progress, return stats)."""
    import vinops.flows.images as fi

    state: dict[str, Any] = {"lots": {}, "queries": [], "fetched": [], "settings": _settings()}

    def lots_needing_photos(settings: Any, load_id: int | None, limit: int) -> list[Any]:
        state["queries"].append((load_id, limit))
        return list(state["lots"].get(load_id, []))[:limit]

    def default_fetch(settings: Any, lots: list[Any], limiter: Any, progress: Any) -> Any:
        stats = Stats()
        for _ref in lots:
            limiter.acquire()
            stats.lots_done += 1
            stats.photos_stored += 3
            stats.bytes += 3 * 120_000
            progress(stats)
        stats.photos_reused, stats.lots_without_photos = 2, 1
        stats.failures = [{"lot": 9, "reason": "503"}]
        stats.seconds = 0.5
        return stats

    def fetch_photos(settings: Any, lots: list[Any], limiter: Any, progress: Any) -> Any:
        state["fetched"].append(list(lots))
        state["limiter"] = limiter
        return (state.get("fetch") or default_fetch)(settings, lots, limiter, progress)

    monkeypatch.setattr(fi, "_settings", lambda: state["settings"])
    monkeypatch.setattr(fi, "_lots_needing_photos", lots_needing_photos)
    monkeypatch.setattr(fi, "_fetch_photos", fetch_photos)
    return state


def _client() -> Any:
    from prefect import get_client

    return get_client(sync_client=True)


def _artifacts(flow_run_id: UUID) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with _client() as c:
        return c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def _table(artifact: Any) -> dict[str, Any]:
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    return {r["figure"]: r["value"] for r in rows}


def test_lot_images_takes_the_window_first_and_publishes_its_artifacts(stubs: dict[str, Any]) -> None:
    from vinops.flows.images import RATE_LIMIT, lot_images

    stubs["lots"] = {7: [Ref(1), Ref(2)], None: [Ref(2), Ref(3), Ref(4), Ref(5)]}
    state = lot_images(load_id=7, max_lots=4, return_state=True)
    assert state.is_completed(), state
    out = state.result()
    assert stubs["queries"] == [(7, 4), (None, 4)]
    assert stubs["fetched"] == [[Ref(1), Ref(2), Ref(3), Ref(4)]]  # the window's lots first, each once, 4 in all
    assert out["lots"] == 4 and out["stats"]["photos_stored"] == 12
    assert stubs["limiter"].name == RATE_LIMIT
    artifacts = _artifacts(state.state_details.flow_run_id)
    (progress,) = [a for a in artifacts if a.type == "progress"]
    assert progress.key == "lot-images-progress" and float(progress.data) == 100.0
    (table,) = [a for a in artifacts if a.type == "table"]
    assert table.key == "lot-images-summary"
    figures = _table(table)
    assert figures["lots chosen"] == 4 and figures["lots done"] == 4
    assert figures["photos stored"] == 12 and figures["photos reused"] == 2
    assert figures["bytes"] == 4 * 3 * 120_000 and figures["failures"] == 1 and figures["lots without photos"] == 1
    for a in artifacts:
        assert DB_PASSWORD not in json.dumps(a.data) and DB_PASSWORD not in (a.description or "")
    # the flow created the deployment-wide limit with the settings' rate (an existing one is left alone)
    with _client() as c:
        gcl = c.read_global_concurrency_limit_by_name(RATE_LIMIT)
    assert gcl.limit == 50 * 100 and gcl.slot_decay_per_second == 10.0 * 100  # hundredths of a request


def test_lot_images_stops_at_the_window_when_it_fills_max_lots(stubs: dict[str, Any]) -> None:
    from vinops.flows.images import lot_images

    stubs["lots"] = {7: [Ref(1), Ref(2), Ref(3)], None: [Ref(9)]}
    out = lot_images(load_id=7, max_lots=2)
    assert stubs["queries"] == [(7, 2)] and stubs["fetched"] == [[Ref(1), Ref(2)]] and out["lots"] == 2


def test_image_backfill_is_bounded_and_reports_progress(stubs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import vinops.flows.images as fi

    monkeypatch.setattr(fi, "PROGRESS_EVERY", 0.0)  # every lot updates the bar
    updates: list[float] = []
    real_update = fi.update_progress_artifact

    def recording_update(artifact_id: Any, progress: float, **kw: Any) -> Any:
        updates.append(progress)
        return real_update(artifact_id, progress=progress, **kw)

    monkeypatch.setattr(fi, "update_progress_artifact", recording_update)
    stubs["lots"] = {None: [Ref(n) for n in range(10, 0, -1)]}  # newest auction first, as the package orders them
    state = fi.image_backfill(max_lots=4, return_state=True)
    assert state.is_completed(), state
    assert stubs["queries"] == [(None, 4)] and stubs["fetched"] == [[Ref(10), Ref(9), Ref(8), Ref(7)]]
    assert updates[:4] == [25.0, 50.0, 75.0, 100.0]
    artifacts = _artifacts(state.state_details.flow_run_id)
    (progress,) = [a for a in artifacts if a.type == "progress"]
    assert progress.key == "image-backfill-progress" and float(progress.data) == 100.0
    (table,) = [a for a in artifacts if a.type == "table"]
    assert table.key == "image-backfill-summary" and _table(table)["lots done"] == 4


def test_image_backfill_with_nothing_to_do(stubs: dict[str, Any]) -> None:
    from vinops.flows.images import image_backfill

    state = image_backfill(return_state=True)
    assert state.is_completed() and stubs["fetched"] == []
    figures = _table(next(a for a in _artifacts(state.state_details.flow_run_id) if a.type == "table"))
    assert figures["lots chosen"] == 0 and figures["photos stored"] == 0


def test_the_limiter_calls_rate_limit(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    import vinops.flows.images as fi

    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(fi, "rate_limit", lambda *a, **kw: calls.append((a, kw)))
    limiter = fi.PrefectRateLimiter()
    limiter.acquire()
    limiter.acquire(3)
    assert calls == [
        (("vinops-photos",), {"occupy": 100, "timeout_seconds": None, "strict": True}),
        (("vinops-photos",), {"occupy": 300, "timeout_seconds": None, "strict": True}),
    ]


def test_a_missing_limit_is_an_error_not_a_bypass(prefect_api: str) -> None:
    from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

    from vinops.flows.images import PrefectRateLimiter

    with pytest.raises(ConcurrencySlotAcquisitionError):
        PrefectRateLimiter("vinops-photos-never-created").acquire()


def test_ensure_rate_limit_creates_once_with_slot_decay(prefect_api: str) -> None:
    from vinops.flows.images import ensure_rate_limit

    assert ensure_rate_limit("vinops-photos-ensure-test", rate=7.5, burst=12) is True
    assert ensure_rate_limit("vinops-photos-ensure-test", rate=1, burst=1) is False  # left as it was
    with _client() as c:
        gcl = c.read_global_concurrency_limit_by_name("vinops-photos-ensure-test")
    assert gcl.limit == 1200 and gcl.slot_decay_per_second == 750.0
    with pytest.raises(ValueError):
        ensure_rate_limit("vinops-photos-bad", rate=0, burst=5)


# ---------------------------------------------------------------------------------------------------------
# the rate test

# The production default rate (10/s): an acquisition the limit does not hold takes ~20 ms on this loopback
# server, so two runs could ask far faster; the test checks that the limit, not the clients, set the pace.
RATE = 10.0
BURST = 20
PER_RUN = 150  # two runs: 300 acquisitions, the 260 after the first 2 * BURST take ~26 s at 10/s

#: One ``image-backfill`` flow run in a child process (a pod of its own: its own Prefect client and slot
#: service), against the session's API: the package calls stubbed, the "fetch" acquires from the flow's limiter
#: once per lot from a common start time (after one warm-up acquisition) and prints when each acquisition was granted.
CHILD = r"""
import json, sys, time
from types import SimpleNamespace
import vinops.flows.images as fi

name, rate, burst, n, start_at = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
fi.RATE_LIMIT = name
fi._settings = lambda: SimpleNamespace(database_url="postgresql://127.0.0.1:1/x", photos_rate=rate, photos_burst=burst)
fi._lots_needing_photos = lambda settings, load_id, limit: list(range(n))[:limit]
grants = []
waits = []
ready = None

def fetch(settings, lots, limiter, progress):
    global ready
    limiter.acquire()  # warm up (the process's slot service and client), before the common start
    ready = time.time()
    while time.time() < start_at:
        time.sleep(0.005)
    for _ in lots:
        asked = time.time()
        limiter.acquire()
        grants.append(time.time())
        waits.append(grants[-1] - asked)
        progress(len(grants))
    return {"lots_done": len(grants)}

fi._fetch_photos = fetch
state = fi.image_backfill(max_lots=n, return_state=True)
print("GRANTS " + json.dumps({"completed": state.is_completed(), "ready": ready, "grants": grants, "waits": waits}))
"""


def test_two_concurrent_runs_hold_the_deployment_rate(prefect_api: str, prefect_home: Any, tmp_path: Any) -> None:
    """Two ``image-backfill`` runs at once, each in its own process, each acquiring from the flow's limiter
    ``PER_RUN`` times: the real global concurrency limit of the harness (``RATE`` requests/s, bursts of
    ``BURST``) holds their aggregate rate. Measured after the first ``2 * BURST`` grants (the burst the limit
    lets through at once, and what decayed while the burst was taken), while both runs acquire: within 10 % of
    ``RATE``. Most of the time the runs spent acquiring in that part was in acquisitions the server held
    (longer than 0.1 s; unheld, one takes a request's latency, ~20 ms), so the rate measured is the limit's, not
    the clients'."""
    import os
    import subprocess
    import sys

    from vinops.flows.images import SLOTS_PER_REQUEST, ensure_rate_limit

    name = "vinops-photos-rate-test"
    assert ensure_rate_limit(name, rate=RATE, burst=BURST) is True
    script = tmp_path / "run_backfill.py"
    script.write_text(CHILD)
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(prefect_home)}
    start_at = time.time() + 30  # both children imported Prefect and started their flow runs by then
    children = [
        subprocess.Popen(
            [sys.executable, str(script), name, str(RATE), str(BURST), str(PER_RUN), str(start_at)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        for _ in range(2)
    ]
    runs = []
    for child in children:
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err[-3000:]
        (line,) = [x for x in out.splitlines() if x.startswith("GRANTS ")]
        runs.append(json.loads(line.removeprefix("GRANTS ")))
    assert all(r["completed"] for r in runs)
    assert all(r["ready"] < start_at for r in runs), "a run was not ready at the common start: no measurement"
    assert all(len(r["grants"]) == PER_RUN for r in runs)
    assert min(r["grants"][0] for r in runs) >= start_at  # nobody started early: the window is the same
    with _client() as c:
        gcl = c.read_global_concurrency_limit_by_name(name)
    assert gcl.limit == BURST * SLOTS_PER_REQUEST and gcl.slot_decay_per_second == RATE * SLOTS_PER_REQUEST

    times = sorted(t for r in runs for t in r["grants"])
    # the steady part: after the first 2 * BURST grants, while both runs acquire (from the second run's first
    # grant to the first run's last one: a run alone is one client waiting on the server's Retry-After)
    both_until = min(r["grants"][-1] for r in runs)
    both_from = max(r["grants"][0] for r in runs)
    steady = [t for t in times[2 * BURST :] if both_from <= t <= both_until]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    held = sorted(w for r in runs for t, w in zip(r["grants"], r["waits"]) if steady[0] <= t <= steady[-1])
    # the time the runs spent in acquisitions the server held (longer than 0.1 s: unheld, one takes ~20 ms)
    held_share = sum(w for w in held if w > 0.1) / max(sum(held), 1e-9)
    print(
        f"\n{len(times)} acquisitions by 2 runs in 2 processes in {times[-1] - times[0]:.2f} s; both runs acquiring after the first {2 * BURST}: {len(steady) - 1} in "
        f"{steady[-1] - steady[0]:.2f} s = {rate:.2f}/s (limit {RATE}/s); the second run's first grant after "
        f"{both_from - times[0]:.2f} s; {sum(w > 0.1 for w in held)} of {len(held)} "
        f"acquisitions held by the server, {held_share:.0%} of the time spent acquiring"
    )
    assert len(steady) >= 100, "too short a concurrent part to measure"
    assert held_share >= 0.5, f"only {held_share:.0%} of the time in held acquisitions: the clients set the pace"
    assert abs(rate - RATE) <= 0.10 * RATE, f"aggregate rate {rate:.2f}/s, configured {RATE}/s"
    # no second of the steady part went past the rate by more than the burst
    j = 0
    for i, t in enumerate(steady):
        while steady[j] < t - 1.0:
            j += 1
        assert i - j + 1 <= RATE + BURST


def test_a_loaded_window_emits_the_event_that_triggers_lot_images(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``copart-window`` emits ``vinops.window.loaded`` with the window's ``load_id`` (what the ``lot-images``
    trigger in prefect.yaml reads); a skipped window emits nothing."""
    import yaml

    import vinops.flows.copart_window as cw
    from vinops.config import Settings
    from vinops.window.result import WindowResult

    emitted: list[dict[str, Any]] = []
    monkeypatch.setattr(cw, "emit_event", lambda **kw: emitted.append(kw))
    monkeypatch.setattr(cw, "_settings", lambda: Settings(data_dir=tmp_path))
    monkeypatch.setattr(cw, "_consecutive_failures", lambda settings: 0)
    result = WindowResult(file_sha256="cd" * 32, skipped=False, load_id=42, rows_in=10, rows_loaded=10, lots_inserted=3)
    run = SimpleNamespace(outcome="loaded", result=result, run_id=1, fetch=None)
    monkeypatch.setattr(cw, "_run_window", lambda settings, options, flow_run_id: run)
    assert cw.copart_window()["outcome"] == "loaded"
    (event,) = emitted
    assert event["event"] == cw.LOADED_EVENT == "vinops.window.loaded"
    assert event["resource"]["prefect.resource.id"] == "vinops.window.copart-window"
    assert event["payload"] == {"load_id": 42, "lots_inserted": 3}
    skipped = SimpleNamespace(outcome="not_modified", result=None, run_id=2, fetch=None)
    monkeypatch.setattr(cw, "_run_window", lambda settings, options, flow_run_id: skipped)
    cw.copart_window()
    assert len(emitted) == 1

    # and the trigger of the lot-images deployment matches that event and passes its load_id
    from pathlib import Path

    from vinops.flows.images import lot_images

    prefect_yaml = Path(__file__).resolve().parents[1] / "prefect.yaml"
    deployments = {d["name"]: d for d in yaml.safe_load(prefect_yaml.read_text())["deployments"]}
    (trigger,) = deployments["lot-images"]["triggers"]
    assert trigger["expect"] == ["vinops.window.loaded"]
    assert trigger["match"] == {"prefect.resource.id": "vinops.window.copart-window"}
    assert trigger["parameters"] == {"load_id": "{{ event.payload.load_id }}"}
    assert deployments["lot-images"]["entrypoint"] == "flows/images.py:lot_images" and lot_images.name == "lot-images"
    backfill = deployments["image-backfill"]
    assert backfill["schedules"][0]["cron"] == "*/30 * * * *" and backfill["schedules"][0]["timezone"] == "UTC"
    assert backfill["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
