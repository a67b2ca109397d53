"""Run records: one row of ``audit.window_runs`` per window a flow ran (migration ``0003_window_runs``).

* :func:`record_run` writes a run (its own committed transaction): outcome ``loaded``, ``skipped``,
  ``not_modified``, ``rejected`` or ``failed``, the fetched file's validators (ETag, Last-Modified, size,
  SHA-256), the window's load and summary, and on failure a masked one-line reason and whether a retry may help.
* :func:`consecutive_failures`: failed windows (failed or rejected runs; the attempts of one flow run count once)
  since the newest good run (``loaded``, ``skipped``, ``not_modified``): what the circuit breaker reads. Kept in
  the database, so every worker sees the same count.
* :func:`last_good`: the validators of the newest run whose fetched file loaded or was skipped: what the next
  conditional GET (``If-None-Match`` / ``If-Modified-Since``), the size check and the unchanged check need.

"Newest" is the highest ``id`` (the order runs were recorded in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

import psycopg
from psycopg.types.json import Jsonb

from vinops.logs import mask

if TYPE_CHECKING:
    from vinops.fetch import FetchResult
    from vinops.window.result import WindowResult

__all__ = ["FAILED_OUTCOMES", "GOOD_OUTCOMES", "OUTCOMES", "LastGood", "Outcome", "consecutive_failures",
           "last_good", "one_line", "record_run"]  # fmt: skip

Outcome = Literal["loaded", "skipped", "not_modified", "rejected", "failed"]
OUTCOMES: tuple[str, ...] = ("loaded", "skipped", "not_modified", "rejected", "failed")
GOOD_OUTCOMES: tuple[str, ...] = ("loaded", "skipped", "not_modified")
FAILED_OUTCOMES: tuple[str, ...] = ("rejected", "failed")

#: The longest reason kept (characters).
REASON_CHARS = 2000


@dataclass(frozen=True)
class LastGood:
    """The newest run whose fetched file loaded or was skipped."""

    run_id: int
    etag: str | None
    last_modified: str | None
    bytes: int | None
    sha256: str | None
    started_at: datetime | None = None


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` masked (:func:`vinops.logs.mask`), on one line, at most ``limit`` characters."""
    line = mask(" ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _idle(conn: psycopg.Connection, what: str) -> None:
    status = conn.info.transaction_status
    if status != psycopg.pq.TransactionStatus.IDLE:
        raise ValueError(f"{what} needs a connection with no transaction in progress (status {status.name})")


def _read(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """One row, leaving the connection as idle as it was (a non-autocommit connection's implicit transaction is
    ended, so a window can start on it next)."""
    was_idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    try:
        return conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    finally:
        if was_idle and not conn.autocommit and not conn.closed:
            conn.rollback()


def record_run(
    conn: psycopg.Connection,
    *,
    outcome: str,
    started_at: datetime,
    reason: str | None = None,
    retryable: bool | None = None,
    result: WindowResult | None = None,
    fetch: FetchResult | None = None,
    flow_run_id: str | None = None,
    finished_at: datetime | None = None,
) -> int:
    """Record one run in ``audit.window_runs`` and commit it; return its id.

    ``conn`` must have no transaction in progress (after a failed window: rolled back). ``reason`` is masked
    and made one line; a ``rejected`` or ``failed`` run needs one. From ``result``: the load, the SHA-256, the
    size and the summary (``result.to_dict()``); from ``fetch``: the validators, size and SHA-256 of the
    download (they win over the result's), and ``summary["fetch"]`` (status, HTTP status, seconds, raw key,
    masked URL)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown run outcome {outcome!r} (one of {', '.join(OUTCOMES)})")
    if started_at.tzinfo is None:
        raise ValueError("started_at must be timezone-aware")
    if outcome in FAILED_OUTCOMES and not reason:
        raise ValueError(f"a {outcome} run needs a reason")
    _idle(conn, "record_run")
    finished = finished_at or datetime.now(timezone.utc)
    seconds = max(0.0, (finished - started_at).total_seconds())
    summary: dict[str, Any] | None = result.to_dict() if result is not None else None
    sha256 = result.file_sha256 if result is not None else None
    size: int | None = result.bytes if result is not None and result.bytes else None
    etag = last_modified = None
    if fetch is not None:
        etag, last_modified = fetch.etag, fetch.last_modified
        sha256 = fetch.sha256 or sha256
        size = fetch.bytes if fetch.sha256 else size
        summary = dict(summary or {})
        summary["fetch"] = {
            "status": fetch.status,
            "http_status": fetch.http_status,
            "seconds": round(fetch.seconds, 4),
            "bytes": fetch.bytes,
            "raw_key": fetch.raw_key,
            "url": mask(fetch.url),
        }
    load_id = result.load_id if result is not None else None
    with conn.transaction():
        row = conn.execute(
            """INSERT INTO audit.window_runs (started_at, finished_at, outcome, load_id, sha256, bytes, etag,
                   last_modified, reason, retryable, seconds, flow_run_id, summary)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
            (started_at, finished, outcome, load_id, sha256, size, etag, last_modified,
             one_line(reason) if reason else None, retryable, seconds, flow_run_id,
             Jsonb(summary) if summary is not None else None),
        ).fetchone()  # fmt: skip
    if not conn.autocommit:
        conn.commit()  # conn.transaction() on an idle non-autocommit connection commits already; harmless
    assert row is not None
    return int(row[0])


def consecutive_failures(conn: psycopg.Connection) -> int:
    """Failed windows since the newest good run (loaded, skipped, not_modified); all of them when there is no
    good run yet. A window is a flow run: the failed or rejected attempts of one ``flow_run_id`` (a flow's
    retries) count once; a run recorded without a flow run id counts by itself."""
    row = _read(
        conn,
        """SELECT count(DISTINCT coalesce('flow:' || flow_run_id, 'run:' || id)) FROM audit.window_runs
           WHERE outcome IN ('failed', 'rejected')
             AND id > coalesce((SELECT max(id) FROM audit.window_runs
                                WHERE outcome IN ('loaded', 'skipped', 'not_modified')), 0)""",
    )
    return int(row[0]) if row else 0


def last_good(conn: psycopg.Connection) -> LastGood | None:
    """The newest run whose fetched file (a SHA-256 and a size are known) loaded or was skipped, else None."""
    row = _read(
        conn,
        """SELECT id, etag, last_modified, bytes, sha256, started_at FROM audit.window_runs
           WHERE outcome IN ('loaded', 'skipped') AND sha256 IS NOT NULL
           ORDER BY id DESC LIMIT 1""",
    )
    if row is None:
        return None
    return LastGood(run_id=int(row[0]), etag=row[1], last_modified=row[2],
                    bytes=int(row[3]) if row[3] is not None else None, sha256=row[4], started_at=row[5])  # fmt: skip
