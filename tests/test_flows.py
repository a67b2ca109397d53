"""The Prefect flows (``flows/``) against one real Prefect API for the whole session (``prefect_test_harness``:
a temporary SQLite database and an API server on loopback, PREFECT_HOME in a temporary folder, analytics off).

The window itself (``vinops.pipeline.run_window``), the settings and the failure count are replaced by stubs:
these tests are about what the flow adds (retries, artifacts, the circuit breaker, masked logs), not the load.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

# Not imported here: Prefect fixes its settings (its home) when first imported, which the session fixture does
# under a temporary PREFECT_HOME.

from vinops.config import Settings  # noqa: E402
from vinops.errors import IngestError, RejectedFile  # noqa: E402
from vinops.fetch import CredentialsRefused, FetchError  # noqa: E402
from vinops.logs import add_secret  # noqa: E402
from vinops.window.result import WindowResult  # noqa: E402

FEED_KEY = "k3y-Fe3d-9f8e7d6c5b4a"
DB_PASSWORD = "pw-Zq81-very-secret"


@dataclass
class FakeRun:
    """What ``vinops.pipeline.run_window`` returns (the fields the flow reads)."""

    outcome: str
    result: WindowResult | None = None
    run_id: int | None = 1
    consecutive_failures: int = 0
    reason: str | None = None
    fetch: Any = None


def _result() -> WindowResult:
    return WindowResult(
        file_sha256="ab" * 32, skipped=False, load_id=7, window_at="2026-12-06T21:15:00+00:00",
        rows_in=1000, rows_loaded=990, rows_quarantined=10, lots_inserted=120, lots_updated=45,
        lots_unchanged=825, lots_pending_result=6, lots_not_sold=2, unknown_rate=0.0125,
        completion={"ran": True, "refused": None, "as_of": "2026-12-06T21:15:00+00:00"},
        seconds={"fetch": 1.5, "parse": 0.25, "upsert": 0.5, "completion": 0.125, "total": 2.5},
    )  # fmt: skip


@pytest.fixture
def stubs(prefect_api: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """The flow's three package calls replaced: ``state["window"]`` is a list of what successive attempts do
    (an exception to raise or a FakeRun to return); ``state["failures"]`` what the failure count says."""
    import vinops.flows.copart_window as cw

    state: dict[str, Any] = {"window": [], "calls": 0, "failures": 0, "settings": []}

    def settings() -> Settings:
        s = Settings(database_url=f"postgresql://vinops:{DB_PASSWORD}@127.0.0.1:1/vinops", data_dir=tmp_path)
        state["settings"].append(s)
        return s

    def run_window(settings: Settings, options: Any, flow_run_id: str | None) -> Any:
        state["calls"] += 1
        state["options"] = options
        state["window_settings"] = settings
        state["flow_run_id"] = flow_run_id
        step = state["window"][min(state["calls"], len(state["window"])) - 1]
        if callable(step) and not isinstance(step, type):
            step = step()
        if isinstance(step, BaseException):
            raise step
        return step

    monkeypatch.setattr(cw, "_settings", settings)
    monkeypatch.setattr(cw, "_run_window", run_window)
    monkeypatch.setattr(cw, "_consecutive_failures", lambda settings: state["failures"])
    return state


def _client() -> Any:
    from prefect import get_client

    return get_client(sync_client=True)


def _artifacts(flow_run_id: UUID) -> list[Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with _client() as c:
        return c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))


def _task_runs(flow_run_id: UUID) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with _client() as c:
        return c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def _logs(flow_run_id: UUID) -> list[str]:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler.flush(APILogHandler())
    with _client() as c:
        logs = c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200)
    return [log.message for log in logs]


def test_retry_then_success(stubs: dict[str, Any]) -> None:
    from vinops.flows.copart_window import copart_window

    stubs["window"] = [
        FetchError("503 Service Unavailable", retryable=True, status=503),
        IngestError("load", "lock timeout", retryable=True),
        FakeRun("loaded", _result()),
    ]
    started = time.monotonic()
    state = copart_window(completion_grace="90m", min_ratio=0.5, return_state=True)
    elapsed = time.monotonic() - started
    assert state.is_completed(), state
    assert stubs["calls"] == 3
    assert elapsed >= 1.0 + 2.0  # the 1 s and 2 s backoffs (plus jitter)
    out = state.result()
    assert out["outcome"] == "loaded" and out["summary"]["rows_in"] == 1000
    assert stubs["options"].grace.total_seconds() == 90 * 60
    assert stubs["window_settings"].completion_min_ratio == 0.5
    (task_run,) = _task_runs(state.state_details.flow_run_id)
    assert task_run.run_count == 3 and task_run.state.is_completed()
    assert stubs["flow_run_id"] == str(state.state_details.flow_run_id)


def test_rejected_file_is_not_retried_and_fails_with_markdown(stubs: dict[str, Any]) -> None:
    from vinops.flows.copart_window import FAILURE_KEY, copart_window

    stubs["window"] = [RejectedFile("fetch", "an HTML page instead of the file (Sign in)")]
    stubs["failures"] = 1
    state = copart_window(return_state=True)
    assert state.is_failed()
    assert stubs["calls"] == 1
    (task_run,) = _task_runs(state.state_details.flow_run_id)
    assert task_run.run_count == 1
    artifacts = _artifacts(state.state_details.flow_run_id)
    (md,) = [a for a in artifacts if a.type == "markdown"]
    assert md.key == FAILURE_KEY
    assert "left untouched" in md.data and "RejectedFile" in md.data and "`fetch`" in md.data
    assert "Consecutive failed windows: **1**" in md.data
    assert not [a for a in artifacts if a.type == "table"]


def test_refused_credentials_are_not_retried(stubs: dict[str, Any]) -> None:
    from vinops.flows.copart_window import copart_window

    stubs["window"] = [CredentialsRefused("the feed refused the key (HTTP 403)", status=403), FakeRun("loaded", _result())]
    state = copart_window(return_state=True)
    assert state.is_failed() and stubs["calls"] == 1


def test_retry_after_is_honoured() -> None:
    """The retry condition waits for the part of Retry-After the scheduled delay does not cover."""
    from types import SimpleNamespace

    from prefect.states import Failed

    from vinops.flows.copart_window import retry_if_retryable

    error = FetchError("429 Too Many Requests", retryable=True, retry_after=2.5, status=429)
    started = time.monotonic()
    assert retry_if_retryable(None, SimpleNamespace(run_count=1), Failed(data=error)) is True
    assert 1.4 <= time.monotonic() - started < 3.0  # 2.5 s asked, 1 s scheduled: waits 1.5 s
    assert retry_if_retryable(None, SimpleNamespace(run_count=1), Failed(data=RejectedFile("fetch", "empty"))) is False
    assert retry_if_retryable(None, SimpleNamespace(run_count=1), Failed(data=ValueError("bug"))) is False


def test_success_artifact_holds_the_summary(stubs: dict[str, Any]) -> None:
    from vinops.flows.copart_window import SUMMARY_KEY, copart_window

    stubs["window"] = [FakeRun("loaded", _result())]
    state = copart_window(return_state=True)
    assert state.is_completed()
    artifacts = _artifacts(state.state_details.flow_run_id)
    (table,) = [a for a in artifacts if a.type == "table"]
    assert table.key == SUMMARY_KEY
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    figures = {r["figure"]: r["value"] for r in rows}
    assert figures["outcome"] == "loaded"
    assert figures["rows in"] == 1000 and figures["rows loaded"] == 990 and figures["rows quarantined"] == 10
    assert figures["lots inserted"] == 120 and figures["lots updated"] == 45
    assert figures["lots pending result"] == 6 and figures["unknown taxonomy rate"] == 0.0125
    assert figures["seconds fetch"] == 1.5 and figures["seconds total"] == 2.5
    assert figures["completion"] == "ran"
    assert not [a for a in artifacts if a.type == "markdown"]


def test_not_modified_window_completes(stubs: dict[str, Any]) -> None:
    from vinops.flows.copart_window import copart_window

    stubs["window"] = [FakeRun("not_modified", None)]
    out = copart_window()
    assert out["outcome"] == "not_modified" and out["summary"] == {"outcome": "not_modified"}


def test_five_failures_pause_the_deployment_and_emit_the_event(
    stubs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real deployment in the harness, a flow run created from it and run in this process: the 5th
    consecutive failure pauses the deployment and emits ``vinops.window.circuit-open``."""
    import vinops.flows.copart_window as cw
    from prefect.flow_engine import run_flow

    emitted: list[Any] = []
    real_emit = cw.emit_event

    def recording_emit(**kwargs: Any) -> Any:
        event = real_emit(**kwargs)
        emitted.append(event)
        return event

    monkeypatch.setattr(cw, "emit_event", recording_emit)
    deployment_id = cw.copart_window.to_deployment(name="circuit-test", cron="*/15 * * * *").apply()
    with _client() as c:
        assert c.read_deployment(deployment_id).paused is False
        # four failures: the circuit stays closed
        stubs["window"] = [IngestError("load", "constraint violated")]
        stubs["failures"] = 4
        run4 = c.create_flow_run_from_deployment(deployment_id)
        state = run_flow(cw.copart_window, flow_run=run4, parameters={}, return_type="state")
        assert state.is_failed() and not emitted
        assert c.read_deployment(deployment_id).paused is False
        # the fifth opens it
        stubs["failures"] = 5
        run5 = c.create_flow_run_from_deployment(deployment_id)
        state = run_flow(cw.copart_window, flow_run=run5, parameters={}, return_type="state")
        assert state.is_failed()
        assert c.read_deployment(deployment_id).paused is True
    (event,) = emitted
    assert event is not None and event.event == cw.CIRCUIT_EVENT
    assert event.payload["consecutive_failures"] == 5 and event.payload["deployment_paused"] is True
    related = {r.id for r in event.related}
    assert f"prefect.deployment.{deployment_id}" in related and f"prefect.flow-run.{run5.id}" in related
    (md,) = [a for a in _artifacts(run5.id) if a.type == "markdown"]
    assert "Circuit open" in md.data
    # read back through the API (the events worker sends it asynchronously)
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)
    found: list[Any] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not found:
        with _client() as c:
            page = c.read_events(filter=EventFilter(event=EventNameFilter(name=[cw.CIRCUIT_EVENT])), limit=50)
        found = [e for e in page.events if e.id == event.id]
        if not found:
            time.sleep(0.5)
    assert found, "the circuit event never reached the API"


def test_open_circuit_without_a_deployment_only_emits(prefect_api: str) -> None:
    from vinops.flows.copart_window import open_circuit

    payload = open_circuit(5, f"fetch: refused {FEED_KEY}")
    assert payload["deployment_paused"] is False


def test_secrets_never_reach_prefect_logs_or_artifacts(stubs: dict[str, Any]) -> None:
    from vinops.flows.copart_window import copart_window

    add_secret(FEED_KEY)
    add_secret(DB_PASSWORD)

    def window() -> Any:
        from prefect import get_run_logger

        logging.getLogger("vinops.fetch").warning("GET https://feed.example/data.csv?authKey=%s", FEED_KEY)
        logging.getLogger("vinops.window.load").warning(
            "connecting to postgresql://vinops:%s@127.0.0.1/vinops", DB_PASSWORD
        )
        get_run_logger().warning("key in use: %s; Cookie: session=%s", FEED_KEY, FEED_KEY)
        return IngestError("fetch", f"the feed at https://feed.example/?authKey={FEED_KEY} said no ({DB_PASSWORD})")

    stubs["window"] = [window]
    state = copart_window(return_state=True)
    assert state.is_failed()
    flow_run_id = state.state_details.flow_run_id
    messages = _logs(flow_run_id)
    text = "\n".join(messages)
    assert "authKey=***" in text  # the package's own line reached the run's log, masked
    assert "postgresql://vinops:***@" in text
    assert "key in use: ***" in text
    assert FEED_KEY not in text and DB_PASSWORD not in text
    artifacts = _artifacts(flow_run_id)
    assert artifacts
    for a in artifacts:
        body = a.data if isinstance(a.data, str) else json.dumps(a.data)
        assert FEED_KEY not in body and DB_PASSWORD not in body
        assert FEED_KEY not in (a.description or "")


def test_vinops_run_prints_the_summary_and_maps_errors(
    stubs: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """``vinops run`` runs the same flow (here against the session's API: PREFECT_API_URL is set) and maps
    its errors to the command line's exit codes."""
    from vinops.cli import main

    url = f"postgresql://vinops:{DB_PASSWORD}@127.0.0.1:1/vinops"
    stubs["window"] = [FakeRun("loaded", _result())]
    assert main(["run", "--database-url", url, "--json", "--grace", "3h", "--min-ratio", "0.7"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "loaded" and out["summary"]["lots_inserted"] == 120
    assert stubs["options"].grace.total_seconds() == 3 * 3600
    assert stubs["window_settings"].completion_min_ratio == 0.7

    stubs["calls"] = 0
    stubs["window"] = [FakeRun("loaded", _result())]
    assert main(["run", "--database-url", url]) == 0
    human = capsys.readouterr().out
    assert human.startswith("window loaded (run 1)") and "1,000 in · 990 loaded · 10 quarantined" in human
    stubs["calls"] = 0
    stubs["window"] = [RejectedFile("fetch", "a truncated body")]
    assert main(["run", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert "vinops: error:" in err and "truncated" in err and DB_PASSWORD not in err
    assert main(["run", "--database-url", url, "--min-ratio", "2"]) == 2


def test_raw_retention_deletes_old_raw_files(prefect_api: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The raw-retention flow prunes the raw store the settings name (here a local folder) and reports it."""
    import hashlib
    from datetime import datetime, timezone

    import vinops.flows.raw_retention as rr
    from vinops.rawstore import LocalRawStore

    settings = Settings(data_dir=tmp_path / "data", raw_dir=tmp_path / "raw", raw_retention_days=7)
    store = LocalRawStore(settings.raw_root, settings.raw_compression, settings.raw_retention_days)
    keys = {}
    for name, day in (("old", 1), ("new", 9)):
        f = tmp_path / f"{name}.csv"
        f.write_bytes(f"the {name} window\n".encode())
        when = datetime(2026, 1, day, 9, 0, tzinfo=timezone.utc)
        keys[name] = store.put(f, when, hashlib.sha256(f.read_bytes()).hexdigest())
    ten_days_ago = time.time() - 10 * 86400
    os.utime(store.path(keys["old"]), (ten_days_ago, ten_days_ago))
    monkeypatch.setattr(rr, "_settings", lambda: settings)

    state = rr.raw_retention(return_state=True)
    assert state.is_completed(), state
    assert state.result()["deleted"] == [keys["old"]]
    assert not store.path(keys["old"]).exists() and store.path(keys["new"]).exists()
    table = next(a for a in _artifacts(state.state_details.flow_run_id) if a.key == rr.RETENTION_KEY)
    assert {"figure": "files deleted", "value": 1} in (json.loads(table.data) if isinstance(table.data, str) else table.data)
