"""The whole window as one plain function (no Prefect): fetch the feed, load it, record the run.

```python
from vinops.pipeline import run_window
from vinops.secrets import settings_for_flow

run = run_window(settings_for_flow())
print(run.outcome, run.consecutive_failures, run.result and run.result.lots_inserted)
```

:func:`run_window`:

1. reads :func:`vinops.runs.last_good` (the last good file's ETag, Last-Modified, size and SHA-256);
2. fetches the feed (:mod:`vinops.fetch`: the tokenized address, or the member login) conditionally, into the
   raw store of the settings (:func:`vinops.rawstore.raw_store_from`);
3. a 304 records ``not_modified``, a body with the last good SHA-256 records ``skipped``: nothing parsed;
4. else loads the fetched file (:func:`vinops.window.ingest_file`, one transaction: load + completion),
   telling the window its raw key so the file is not stored twice, and records ``loaded`` (or ``skipped``
   when the same content was already loaded);
5. removes the temporary download.

A rejected file (:class:`~vinops.errors.RejectedFile`: an HTML page, a truncated or short file, no data rows)
records ``rejected``; any other error records ``failed`` with ``retryable`` (:func:`vinops.errors.is_retryable`).
Both are recorded in their own transaction after the window rolled back, with the masked one-line reason, and
the error is re-raised with a ``window_run`` attribute (a :class:`WindowRun`: the run's id and the count of
consecutive failures that the circuit breaker reads). Retrying is the caller's (the flow's) policy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psycopg

from vinops.config import Settings
from vinops.errors import IngestError, RejectedFile, is_retryable
from vinops.fetch import FeedClient, FeedSource, FetchResult, Login, fetch_feed
from vinops.rawstore import raw_store_from
from vinops.runs import consecutive_failures, last_good, one_line, record_run
from vinops.window import WindowOptions, WindowResult, ingest_file

if TYPE_CHECKING:
    import httpx

__all__ = ["WindowRun", "feed_source_from", "run_window"]

log = logging.getLogger(__name__)


@dataclass
class WindowRun:
    """One run of :func:`run_window`. ``outcome``: ``loaded``, ``skipped``, ``not_modified`` (or, on the
    ``window_run`` attribute of a raised error, ``rejected`` / ``failed``); ``run_id``: its row in
    ``audit.window_runs`` (None when it could not be recorded); ``consecutive_failures``: failed windows
    since the newest good run, this one included (0 after a success; :func:`vinops.runs.consecutive_failures`:
    the retried attempts of one ``flow_run_id`` count once)."""

    outcome: str
    result: WindowResult | None
    fetch: FetchResult | None
    run_id: int | None
    consecutive_failures: int
    reason: str | None = None
    retryable: bool | None = None
    started_at: datetime | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the outcome, the run, the window's result and the download (no secrets)."""
        fetch = None
        if self.fetch is not None:
            f = self.fetch
            fetch = {"status": f.status, "http_status": f.http_status, "bytes": f.bytes, "sha256": f.sha256,
                     "etag": f.etag, "last_modified": f.last_modified, "raw_key": f.raw_key,
                     "seconds": round(f.seconds, 4), "url": f.url}  # fmt: skip
        return {
            "outcome": self.outcome,
            "run_id": self.run_id,
            "consecutive_failures": self.consecutive_failures,
            "reason": self.reason,
            "retryable": self.retryable,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "seconds": round(self.seconds, 4),
            "fetch": fetch,
            "result": self.result.to_dict() if self.result is not None else None,
        }


def feed_source_from(settings: Settings, **overrides: Any) -> FeedSource:
    """The feed the settings name: the tokenized address (``feed_url``), or the file's address behind the member
    login (``feed_login_url``, ``feed_username``, ``feed_password``); with the settings' User-Agent and Referer.
    ``overrides`` go to :class:`~vinops.fetch.FeedSource` (timeouts, ``min_ratio``). ValueError without a feed."""
    if not settings.feed_url:
        if settings.feed_login_url:
            raise ValueError("the member login needs the file's address: set VINOPS_FEED_URL (or the vinops-feed-url block)")
        raise ValueError(
            "no feed configured: set VINOPS_FEED_URL (the tokenized address; or the Secret block vinops-feed-url), "
            "or the member login VINOPS_FEED_LOGIN_URL, VINOPS_FEED_USERNAME, VINOPS_FEED_PASSWORD with the file's "
            "address in VINOPS_FEED_URL"
        )
    login = None
    if settings.feed_login_url:
        if not settings.feed_username or not settings.feed_password:
            raise ValueError("the member login needs VINOPS_FEED_USERNAME and VINOPS_FEED_PASSWORD")
        login = Login(settings.feed_login_url, settings.feed_username, settings.feed_password)
    return FeedSource(url=settings.feed_url, login=login, user_agent=settings.feed_user_agent,
                      referer=settings.feed_referer, **overrides)  # fmt: skip


def _fail_run(
    conn: psycopg.Connection | None,
    error: BaseException,
    started_at: datetime,
    fetch: FetchResult | None,
    flow_run_id: str | None,
) -> WindowRun:
    """Record a rejected or failed run (best effort, in its own transaction after the window rolled back)."""
    outcome = "rejected" if isinstance(error, RejectedFile) else "failed"
    retryable = is_retryable(error)
    reason = one_line(str(error) or type(error).__name__)
    if not isinstance(error, IngestError):
        reason = one_line(f"{type(error).__name__}: {reason}")
    run = WindowRun(outcome=outcome, result=None, fetch=fetch, run_id=None, consecutive_failures=0, reason=reason,
                    retryable=retryable, started_at=started_at,
                    seconds=(datetime.now(timezone.utc) - started_at).total_seconds())  # fmt: skip
    if conn is None or conn.closed:
        return run
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        run.run_id = record_run(conn, outcome=outcome, started_at=started_at, reason=reason, retryable=retryable,
                                fetch=fetch if fetch is not None and fetch.status == "fetched" else None,
                                flow_run_id=flow_run_id)  # fmt: skip
        run.consecutive_failures = consecutive_failures(conn)
    except Exception as e:  # noqa: BLE001 - the window's error matters; this one is logged
        log.warning("could not record the %s run in audit.window_runs: %s", outcome, one_line(f"{type(e).__name__}: {e}"))
    return run


def run_window(
    settings: Settings,
    options: WindowOptions | None = None,
    *,
    conn: psycopg.Connection | None = None,
    client: FeedClient | None = None,
    flow_run_id: str | None = None,
    transport: httpx.BaseTransport | None = None,
    window_at: datetime | None = None,
) -> WindowRun:
    """Fetch, load and record one window (module doc); return the :class:`WindowRun`.

    ``conn``: an open connection (left open; it must have no transaction in progress), else one to
    ``settings.database_url``. ``client``: a :class:`~vinops.fetch.FeedClient` kept between windows (its login
    session is reused), else a fresh one for the feed of the settings (``transport`` goes to it). ``window_at``:
    the instant of the raw store's key (default: now). Raises ValueError when the settings have no feed or no
    database; on a rejected file or a failure, records the run and re-raises (``error.window_run``)."""
    options = options or WindowOptions()
    source = client.source if client is not None else feed_source_from(settings)
    if conn is None and not settings.database_url:
        raise ValueError("no database: pass conn= or set Settings.database_url (VINOPS_DATABASE_URL)")
    started_at = datetime.now(timezone.utc)
    own = conn is None
    fetch: FetchResult | None = None
    if conn is None:
        try:
            conn = psycopg.connect(settings.database_url, application_name="vinops")  # type: ignore[arg-type]
        except psycopg.Error as e:
            error = IngestError("connect", one_line(str(e)), retryable=is_retryable(e))
            error.window_run = _fail_run(None, error, started_at, None, flow_run_id)  # type: ignore[attr-defined]
            raise error from e
    try:
        try:
            store = raw_store_from(settings)
            good = last_good(conn)
            fetch_at = window_at or options.window_at or started_at
            kwargs: dict[str, Any] = dict(
                etag=good.etag if good else None,
                last_modified=good.last_modified if good else None,
                last_size=good.bytes if good else None,
                last_sha256=good.sha256 if good else None,
            )
            if client is not None:
                fetch = client.fetch(store, fetch_at, **kwargs)
            else:
                fetch = fetch_feed(source, store, fetch_at, transport=transport, **kwargs)
            result: WindowResult | None = None
            if fetch.status == "fetched":
                assert fetch.path is not None
                opts = replace(options, raw_key=fetch.raw_key) if fetch.raw_key else options
                result = ingest_file(fetch.path, settings, opts, conn=conn, raw_store=store)
                outcome = result.outcome
            else:
                outcome = "not_modified" if fetch.status == "not_modified" else "skipped"
        except Exception as e:
            e.window_run = _fail_run(conn, e, started_at, fetch, flow_run_id)  # type: ignore[attr-defined]
            log.info("window %s (%s): %s", e.window_run.outcome,  # type: ignore[attr-defined]
                     "retryable" if e.window_run.retryable else "not retryable", e.window_run.reason)  # type: ignore[attr-defined]  # fmt: skip
            raise
        reason = result.skip_reason if result is not None and result.skipped else None
        if reason is None and fetch.status == "unchanged":
            reason = "the file is unchanged (same SHA-256 as the last good file)"
        elif reason is None and fetch.status == "not_modified":
            reason = "HTTP 304 not modified"
        run_id = record_run(conn, outcome=outcome, started_at=started_at, reason=reason, result=result,
                            fetch=fetch, flow_run_id=flow_run_id)  # fmt: skip
        run = WindowRun(outcome=outcome, result=result, fetch=fetch, run_id=run_id,
                        consecutive_failures=consecutive_failures(conn), reason=reason, started_at=started_at,
                        seconds=(datetime.now(timezone.utc) - started_at).total_seconds())  # fmt: skip
        log.info("window %s in %.2f s (run %d)%s", outcome, run.seconds, run_id, f": {reason}" if reason else "")
        return run
    finally:
        if fetch is not None:
            fetch.cleanup()
        if own and conn is not None:
            conn.close()
