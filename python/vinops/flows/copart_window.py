"""Flow ``copart-window``: one window of the Copart feed (fetch → ingest → completion), every 15 minutes.

Thin: the window itself is :func:`vinops.pipeline.run_window` (fetch, validation, the load and completion in one
transaction, the run recorded in the database); this module adds what Prefect owns:

* **Retries where they help.** The window task retries 3 times, 1 s, 2 s, 4 s apart plus jitter
  (``retry_jitter_factor``), only when :func:`vinops.errors.is_retryable` says the same window may succeed
  (network errors, 5xx, 429, a lost database connection, a lock timeout …). A rejected file
  (:class:`vinops.errors.RejectedFile`) or refused credentials are never retried. A ``Retry-After`` longer than
  the scheduled delay is honoured: the retry condition waits for the difference (at most
  :data:`MAX_RETRY_AFTER` seconds).
* **No two loads at once.** The window runs under the global concurrency limit :data:`CONCURRENCY_LIMIT`
  (``vinops-database``, 1 slot; created on first use when missing, ``strict``: a missing limit is an error, not
  a silent bypass), so an ad-hoc run and a scheduled run never load together. The deployment adds
  ``concurrency_limit: 1`` with ``CANCEL_NEW`` (``prefect.yaml``): a tick that fires while a window runs is
  cancelled, not queued.
* **Artifacts.** A table artifact (key ``copart-window-summary``) of the window's summary: rows in, loaded,
  quarantined, lots inserted, updated, pending, the unknown-taxonomy rate, seconds per stage. On failure a
  markdown artifact (key ``copart-window-failure``) saying what failed and that the tables were left untouched.
* **Circuit breaker.** After :data:`CIRCUIT_FAILURES` consecutive failed windows (counted in the database by
  :func:`vinops.runs.consecutive_failures`; a success resets it), the deployment of this run is paused
  (``pause_deployment``: no scheduled runs until someone resumes it) and the event :data:`CIRCUIT_EVENT` is
  emitted for an automation to alert on.
* **Photos after a load.** A loaded window emits :data:`LOADED_EVENT` (``vinops.window.loaded``, payload
  ``load_id``); the ``lot-images`` deployment's trigger (``prefect.yaml``) runs the photos of its new lots.
* **Masked logs.** :func:`flows._masking.masked_run_logging`: every handler the run's records reach carries
  :class:`vinops.logs.MaskSecrets`; the package's own log lines go to the run's log in the UI.

Settings come from :func:`vinops.secrets.settings_for_flow` (environment variables and Prefect Secret blocks);
no secret is ever a parameter.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any


from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.events import emit_event

from vinops.flows._masking import masked_run_logging
from vinops.config import parse_duration
from vinops.errors import RejectedFile, is_retryable
from vinops.logs import mask

if TYPE_CHECKING:
    from prefect.client.schemas.objects import TaskRun
    from prefect.states import State

    from vinops.config import Settings
    from vinops.window import WindowOptions

__all__ = [
    "CIRCUIT_EVENT",
    "CIRCUIT_FAILURES",
    "CONCURRENCY_LIMIT",
    "LOADED_EVENT",
    "RETRY_DELAYS",
    "WindowFailed",
    "copart_window",
    "ensure_concurrency_limit",
    "open_circuit",
    "retry_if_retryable",
    "summary_table",
    "window",
]

#: The global concurrency limit around the database stage (one slot: one load at a time, whatever started it).
CONCURRENCY_LIMIT = "vinops-database"
#: Consecutive failed windows that open the circuit (pause the deployment, emit :data:`CIRCUIT_EVENT`).
CIRCUIT_FAILURES = 5
#: The event an automation alerts on when the circuit opens.
CIRCUIT_EVENT = "vinops.window.circuit-open"
#: The event a loaded window emits (payload ``load_id``): the ``lot-images`` deployment's trigger.
LOADED_EVENT = "vinops.window.loaded"
#: Seconds before retry 1, 2, 3 (plus jitter up to half as much again).
RETRY_DELAYS = [1.0, 2.0, 4.0]
RETRY_JITTER = 0.5
#: A server's Retry-After is honoured up to this many seconds.
MAX_RETRY_AFTER = 300.0
#: Artifact keys (lowercase letters, digits and dashes only).
SUMMARY_KEY = "copart-window-summary"
FAILURE_KEY = "copart-window-failure"


class WindowFailed(RuntimeError):
    """The window ended ``failed`` or ``rejected`` without raising (the pipeline's verdict)."""


# ---------------------------------------------------------------------------------------------------------
# the package's functions (looked up at call time: tests replace these three)


def _settings() -> Settings:
    from vinops.secrets import settings_for_flow

    return settings_for_flow()


def _run_window(settings: Settings, options: WindowOptions, flow_run_id: str | None) -> Any:
    from vinops.pipeline import run_window

    return run_window(settings, options, flow_run_id=flow_run_id)


def _consecutive_failures(settings: Settings) -> int:
    from vinops import db
    from vinops.runs import consecutive_failures

    if not settings.database_url:
        raise ValueError("no database URL: cannot count failed windows")
    with db.connect(settings.database_url) as conn:
        return int(consecutive_failures(conn))


# ---------------------------------------------------------------------------------------------------------
# retries


def _error_of(state: State) -> BaseException | None:
    try:
        state.result()
    except BaseException as e:  # noqa: BLE001 - the task's own exception, re-raised by result()
        return e
    return None


def retry_if_retryable(task: Any, task_run: TaskRun, state: State) -> bool:
    """``retry_condition_fn`` of the window task: retry only what :func:`vinops.errors.is_retryable` says may
    succeed (never a :class:`RejectedFile`, never refused credentials, never a bug). When the error carries
    ``retry_after`` (HTTP 429/503 ``Retry-After``) longer than the next scheduled delay, wait for the
    difference here, so the retry starts no earlier than the server asked."""
    error = _error_of(state)
    if error is None or isinstance(error, RejectedFile) or not is_retryable(error):
        return False
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        attempt = max(1, int(getattr(task_run, "run_count", 1) or 1))
        scheduled = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
        extra = min(float(retry_after), MAX_RETRY_AFTER) - scheduled
        if extra > 0:
            time.sleep(extra)
    return True


@task(
    name="window",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_if_retryable,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def window(settings: Settings, options: WindowOptions, flow_run_id: str | None) -> Any:
    """Fetch → ingest → completion of one window, under the ``vinops-database`` concurrency limit (one slot:
    an ad-hoc run waits for a scheduled one instead of loading beside it)."""
    with concurrency(CONCURRENCY_LIMIT, occupy=1, strict=True):
        return _run_window(settings, options, flow_run_id)


def ensure_concurrency_limit(name: str = CONCURRENCY_LIMIT, limit: int = 1) -> bool:
    """Create the global concurrency limit ``name`` with ``limit`` slots when it does not exist (an existing
    one is left as the operator set it). Returns whether it was created."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=limit))
        except ObjectAlreadyExists:  # another run created it meanwhile
            return False
        return True


# ---------------------------------------------------------------------------------------------------------
# artifacts


def _number(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def summary_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the summary artifact: one ``{"figure", "value"}`` per figure, then one per stage's seconds."""
    rows: list[dict[str, Any]] = []
    figures = (
        ("outcome", "outcome"),
        ("rows in", "rows_in"),
        ("rows loaded", "rows_loaded"),
        ("rows quarantined", "rows_quarantined"),
        ("lots inserted", "lots_inserted"),
        ("lots updated", "lots_updated"),
        ("lots unchanged", "lots_unchanged"),
        ("vehicles inserted", "vehicles_inserted"),
        ("vehicles updated", "vehicles_updated"),
        ("lots pending result", "lots_pending_result"),
        ("lots not sold", "lots_not_sold"),
        ("unknown taxonomy rate", "unknown_rate"),
        ("window at", "window_at"),
        ("file sha256", "file_sha256"),
        ("raw key", "raw_key"),
    )
    for label, key in figures:
        if key in summary:
            value = summary[key]
            rows.append({"figure": label, "value": mask(value) if isinstance(value, str) else _number(value)})
    completion = summary.get("completion")
    if isinstance(completion, dict):
        ran = completion.get("ran")
        rows.append({"figure": "completion", "value": "ran" if ran else f"not run: {completion.get('refused')}"})
    for stage, seconds in (summary.get("seconds") or {}).items():
        rows.append({"figure": f"seconds {stage}", "value": _number(seconds)})
    return rows


def _failure_markdown(error: BaseException | str, failures: int | None, circuit_open: bool) -> str:
    if isinstance(error, BaseException):
        stage = getattr(error, "stage", None) or "window"
        what = f"{type(error).__name__}: {mask(str(error))}"
        retryable = is_retryable(error)
        rejected = isinstance(error, RejectedFile)
    else:
        stage, what, retryable, rejected = "window", mask(error), False, False
    lines = [
        "# Window failed",
        "",
        f"* **Stage:** `{stage}`",
        f"* **Error:** {what}",
        "* **Kind:** "
        + ("rejected file (not retried: the same file fails the same way)" if rejected
           else "temporary (retried 3 times, 1 s / 2 s / 4 s plus jitter)" if retryable
           else "permanent (not retried)"),  # fmt: skip
        "",
        "**The tables were left untouched:** the window's transaction was rolled back or never began, so no row "
        "was loaded and completion did not run. The next window starts from the same state.",
    ]
    if failures is not None:
        lines += ["", f"Consecutive failed windows: **{failures}** (the circuit opens at {CIRCUIT_FAILURES})."]
    if circuit_open:
        lines += [
            "",
            f"**Circuit open:** the deployment's schedule is paused and `{CIRCUIT_EVENT}` was emitted. "
            "Resume the deployment once the cause is fixed.",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# circuit breaker


def open_circuit(failures: int, reason: str, *, deployment_id: Any = None, flow_run_id: Any = None) -> dict[str, Any]:
    """Pause the deployment ``deployment_id`` (when the run has one: ``pause_deployment`` deletes its scheduled
    runs; the schedule stays defined, ``prefect deployment resume`` or the UI turns it back on) and emit
    :data:`CIRCUIT_EVENT` (resource ``vinops.window.copart-window``, the deployment and flow run related) with
    the count and the reason. Returns the event's payload."""
    paused = False
    if deployment_id is not None:
        with get_client(sync_client=True) as client:
            client.pause_deployment(deployment_id)
        paused = True
    payload = {"consecutive_failures": failures, "reason": mask(reason), "deployment_paused": paused}
    related = []
    if deployment_id is not None:
        related.append({"prefect.resource.id": f"prefect.deployment.{deployment_id}", "prefect.resource.role": "deployment"})
    if flow_run_id is not None:
        related.append({"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"})
    emit_event(
        event=CIRCUIT_EVENT,
        resource={"prefect.resource.id": "vinops.window.copart-window", "prefect.resource.name": "copart-window"},
        related=related,
        payload=payload,
    )
    return payload


def _after_failure(settings: Settings, error: BaseException | str, recorded: Any = None) -> None:
    """Count the failed windows (the count ``run_window`` read after recording this run, else
    :func:`vinops.runs.consecutive_failures`), open the circuit at :data:`CIRCUIT_FAILURES`, publish the markdown artifact.
    Never raises (the window's own error is what the run reports)."""
    logger = get_run_logger()
    reason = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    failures: int | None = None
    recorded = recorded if recorded is not None else getattr(error, "window_run", None)  # set by run_window
    if recorded is not None and getattr(recorded, "run_id", None) is not None:
        failures = int(recorded.consecutive_failures)
    else:
        try:
            failures = _consecutive_failures(settings)
        except Exception as e:  # noqa: BLE001 - e.g. the database is the thing that is down
            logger.warning("cannot count the failed windows: %s", mask(str(e)))
    circuit_open = False
    if failures is not None and failures >= CIRCUIT_FAILURES:
        ctx = FlowRunContext.get()
        run = ctx.flow_run if ctx else None
        try:
            payload = open_circuit(
                failures,
                reason,
                deployment_id=getattr(run, "deployment_id", None),
                flow_run_id=getattr(run, "id", None),
            )
            circuit_open = True
            logger.error(
                "circuit open: %d consecutive failed windows; deployment paused: %s; event %s emitted",
                failures, payload["deployment_paused"], CIRCUIT_EVENT,
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001
            logger.error("could not open the circuit: %s", mask(str(e)))
    create_markdown_artifact(
        markdown=_failure_markdown(error, failures, circuit_open),
        key=FAILURE_KEY,
        description="What failed in this window (the tables were left untouched)",
    )


# ---------------------------------------------------------------------------------------------------------
# the flow


def _window_options(completion_grace: str | None, force_completion: bool) -> WindowOptions:
    from vinops.window import WindowOptions

    grace = parse_duration(completion_grace) if completion_grace else None
    return WindowOptions(force_completion=force_completion, grace=grace)


@flow(name="copart-window", persist_result=False)
def copart_window(
    completion_grace: str | None = None,
    min_ratio: float | None = None,
    force_completion: bool = False,
) -> dict[str, Any]:
    """One window of the Copart feed: fetch → ingest (load + completion in one transaction) → a summary
    artifact. ``completion_grace`` (e.g. ``2h``, ``90m``) and ``min_ratio`` (0–1) override the settings'
    ``VINOPS_COMPLETION_GRACE`` / ``VINOPS_COMPLETION_MIN_RATIO``; ``force_completion`` runs completion for a
    much shorter file too (never for an invalid one). Returns ``{"outcome", "run_id", "summary"}``."""
    with masked_run_logging():
        logger = get_run_logger()
        settings = _settings()
        if min_ratio is not None:
            settings = replace(settings, completion_min_ratio=float(min_ratio))
        options = _window_options(completion_grace, force_completion)
        if ensure_concurrency_limit():
            logger.info("created the global concurrency limit %r (1 slot)", CONCURRENCY_LIMIT)
        ctx = FlowRunContext.get()
        flow_run_id = str(ctx.flow_run.id) if ctx and ctx.flow_run else None
        try:
            run = window(settings, options, flow_run_id)
        except BaseException as e:
            if isinstance(e, Exception):
                _after_failure(settings, e)
            raise
        outcome = getattr(run, "outcome", None)
        if outcome in ("failed", "rejected"):
            reason = getattr(run, "reason", None) or f"the window ended {outcome}"
            _after_failure(settings, f"{outcome}: {reason}", recorded=run)
            raise WindowFailed(mask(f"window {outcome}: {reason}"))
        result = getattr(run, "result", None)
        summary: dict[str, Any] = result.to_dict() if result is not None else {}
        summary = {"outcome": outcome, **summary}
        fetch = getattr(run, "fetch", None)
        if fetch is not None and isinstance(getattr(fetch, "seconds", None), int | float):
            summary["seconds"] = {"fetch": round(float(fetch.seconds), 4), **(summary.get("seconds") or {})}
        create_table_artifact(
            table=summary_table(summary),
            key=SUMMARY_KEY,
            description=f"Copart window: {outcome}" + (f" ({summary['window_at']})" if summary.get("window_at") else ""),
        )
        logger.info(
            "window %s: %s rows in, %s loaded, %s quarantined",
            outcome, summary.get("rows_in", 0), summary.get("rows_loaded", 0), summary.get("rows_quarantined", 0),
        )  # fmt: skip
        if outcome == "loaded" and summary.get("load_id") is not None:
            # the lot-images deployment's trigger (prefect.yaml) starts its photos, its new lots first
            emit_event(
                event=LOADED_EVENT,
                resource={
                    "prefect.resource.id": "vinops.window.copart-window",
                    "prefect.resource.name": "copart-window",
                },
                payload={"load_id": summary["load_id"], "lots_inserted": summary.get("lots_inserted")},
            )
        return {"outcome": outcome, "run_id": getattr(run, "run_id", None), "summary": summary}


if __name__ == "__main__":
    copart_window()
