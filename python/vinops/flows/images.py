"""Flows ``lot-images`` and ``image-backfill`` (issue 12): lot photos into the photo store, at one rate for the
whole deployment.

Thin: choosing the lots is :func:`vinops.images.lots_needing_photos`, downloading and storing them is
:func:`vinops.images.fetch_photos` (the photo client, the store from :func:`vinops.images.photo_store_from`,
the ``images`` rows); this module adds what Prefect owns:

* **One rate for every run and pod.** Every HTTP request of the photo client first calls
  ``limiter.acquire()``; the flows pass a :class:`PrefectRateLimiter`, whose ``acquire(n)`` is
  ``prefect.concurrency.sync.rate_limit("vinops-photos", occupy=n * SLOTS_PER_REQUEST, strict=True)``.
  ``vinops-photos`` is a global concurrency limit **with slot decay** held by the Prefect server, counted in
  hundredths of a request (:data:`SLOTS_PER_REQUEST` = 100): ``limit`` = ``photos_burst`` × 100 (default 50
  requests: the burst), ``slot_decay_per_second`` = ``photos_rate`` × 100 (default 10 requests/s: the steady
  rate). Each acquisition occupies slots that the server frees at that rate, so all the runs together (two
  backfills on two pods, a ``lot-images`` beside a backfill, an ad-hoc run) stay at ``photos_rate`` requests per
  second after the first ``photos_burst``. The flows create the limit when it is missing
  (:func:`ensure_rate_limit`; an existing one is left as the operator set it) and ``strict=True`` makes a
  missing limit an error, never a silent bypass. A local :class:`vinops.images.TokenBucket` is only for
  ``vinops images`` without a server.

  Why hundredths: Prefect 3.9's server decays a limit's active slots by ``floor(decay × seconds since the row
  was last updated)``, and every request, granted or denied, updates the row. With whole slots (1 slot = 1
  request) every update drops the fraction of a slot decayed since the last one: measured on loopback with
  two processes, a limit of 10/s burst 50 let through 6.9 requests/s, 20/s burst 20 only 11.7/s. With 100
  slots per request the loss is at most 1/100 of a request per update: 20/s burst 20 gave 18.5/s.
* **Progress.** A progress artifact (key ``lot-images-progress`` / ``image-backfill-progress``) updated while
  the run downloads (lots done / lots chosen), and at the end a table artifact (key ``lot-images-summary`` /
  ``image-backfill-summary``): lots chosen, lots done, lots without photos, photos stored, photos reused, bytes,
  failures, seconds.
* **Masked logs.** :func:`vinops.flows._masking.masked_run_logging`, as for ``copart-window``.

``lot-images`` runs after each loaded window: ``copart-window`` emits ``vinops.window.loaded`` with the window's
``load_id`` in the payload and the deployment's trigger (``prefect.yaml``) starts ``lot-images`` with that
``load_id``. Its lots new in that window come first, then other lots still without photos, ``max_lots`` in all.
``image-backfill`` (every 30 minutes) takes lots without photos, newest auction first (the order of
``lots_needing_photos`` without a ``load_id``), ``max_lots`` per run. A lot whose photos were not found (404,
an empty list) is asked again only after the package's ``retry_after`` interval.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import rate_limit

from vinops.flows._masking import masked_run_logging
from vinops.logs import mask

if TYPE_CHECKING:
    from vinops.config import Settings

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_RATE",
    "RATE_LIMIT",
    "SLOTS_PER_REQUEST",
    "PrefectRateLimiter",
    "ensure_rate_limit",
    "image_backfill",
    "lot_images",
    "stats_table",
]

#: The global concurrency limit (with slot decay) every photo request of every run acquires a slot from.
RATE_LIMIT = "vinops-photos"
#: Slots of :data:`RATE_LIMIT` per request (the limit counts hundredths of a request: see the module's doc).
SLOTS_PER_REQUEST = 100
#: The defaults when the settings name no rate (``VINOPS_PHOTOS_RATE`` requests/s, ``VINOPS_PHOTOS_BURST``).
DEFAULT_RATE = 10.0
DEFAULT_BURST = 50
#: Lots per run unless the deployment says otherwise.
DEFAULT_MAX_LOTS = 500
#: At most one progress update per this many seconds (each one is a request to the API).
PROGRESS_EVERY = 2.0


# ---------------------------------------------------------------------------------------------------------
# the rate limit


class PrefectRateLimiter:
    """The limiter the photo client acquires from before every request: ``acquire(n)`` blocks until the Prefect
    server grants ``n`` requests' worth (``n * SLOTS_PER_REQUEST`` slots) of the global concurrency limit
    ``name`` (``rate_limit``, which retries after the server's ``Retry-After`` while the limit is full).
    ``timeout_seconds`` bounds one wait (``TimeoutError``); ``None`` waits as long as it takes. Thread-safe
    (the client downloads on several threads; Prefect queues one process's calls for a limit one at a time)."""

    def __init__(self, name: str = RATE_LIMIT, *, timeout_seconds: float | None = None) -> None:
        self.name = name
        self.timeout_seconds = timeout_seconds

    def acquire(self, n: int = 1) -> None:
        rate_limit(self.name, occupy=n * SLOTS_PER_REQUEST, timeout_seconds=self.timeout_seconds, strict=True)

    def __repr__(self) -> str:
        return f"PrefectRateLimiter({self.name!r})"


def ensure_rate_limit(name: str = RATE_LIMIT, *, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST) -> bool:
    """Create the global concurrency limit ``name`` for ``rate`` requests/s with bursts of ``burst`` requests
    (``limit=burst * SLOTS_PER_REQUEST``, ``slot_decay_per_second=rate * SLOTS_PER_REQUEST``) when it does not
    exist (an existing one is left as the operator set it: ``prefect gcl update``). Returns
    whether it was created."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    if rate <= 0 or burst < 1:
        raise ValueError(f"a photo rate needs rate > 0 and burst >= 1 (got {rate}/s, burst {burst})")
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return False
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(
                    name=name,
                    limit=int(burst) * SLOTS_PER_REQUEST,
                    slot_decay_per_second=float(rate) * SLOTS_PER_REQUEST,
                )
            )
        except ObjectAlreadyExists:  # another run created it meanwhile
            return False
        return True


def _rate_of(settings: Settings) -> tuple[float, int]:
    return settings.photos_rate, settings.photos_burst


# ---------------------------------------------------------------------------------------------------------
# the package's functions (looked up at call time: tests replace these three)


def _settings() -> Settings:
    from vinops.secrets import settings_for_flow

    return settings_for_flow()


def _lots_needing_photos(settings: Settings, load_id: int | None, limit: int) -> list[Any]:
    from vinops import db
    from vinops.images import lots_needing_photos

    if not settings.database_url:
        raise ValueError("no database URL: cannot choose the lots")
    with db.connect(settings.database_url) as conn:
        return list(lots_needing_photos(conn, load_id=load_id, limit=limit, retry_after=settings.photos_retry_after))


def _fetch_photos(settings: Settings, lots: list[Any], limiter: Any, progress: Any) -> Any:
    from vinops import db
    from vinops.images import fetch_photos, photo_store_from

    if not settings.database_url:
        raise ValueError("no database URL: cannot record the photos")
    store = photo_store_from(settings)
    with db.connect(settings.database_url) as conn:
        return fetch_photos(conn, lots, store, limiter=limiter, settings=settings, progress=progress)


# ---------------------------------------------------------------------------------------------------------
# tasks


def _lot_key(ref: Any) -> Any:
    for name in ("lot_id", "lot_number", "id"):
        value = getattr(ref, name, None)
        if value is not None:
            return value
    return ref


@task(name="choose-lots", cache_policy=NO_CACHE, persist_result=False)
def choose_lots(settings: Settings, load_id: int | None, max_lots: int) -> list[Any]:
    """Lots still without photos: those new in ``load_id`` first (when given), then the others (newest auction
    first), ``max_lots`` in all, each once."""
    chosen: list[Any] = []
    seen: set[Any] = set()
    batches = [load_id, None] if load_id is not None else [None]
    for batch in batches:
        if len(chosen) >= max_lots:
            break
        for ref in _lots_needing_photos(settings, batch, max_lots):
            key = _lot_key(ref)
            if key in seen:
                continue
            seen.add(key)
            chosen.append(ref)
            if len(chosen) >= max_lots:
                break
    return chosen


class _Progress:
    """The progress callback handed to ``fetch_photos``: accepts the stats so far (``lots_done``), a count, or
    nothing (one more lot), and updates the progress artifact at most every :data:`PROGRESS_EVERY` seconds. A
    failed update is logged, never raised (the photos matter, not the bar)."""

    def __init__(self, artifact_id: Any, total: int) -> None:
        self.artifact_id = artifact_id
        self.total = max(total, 1)
        self.done = 0
        self.updates = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        value = args[0] if args else kwargs.get("stats", kwargs.get("lots_done"))
        with self._lock:
            if value is None:
                self.done += 1
            elif isinstance(value, int | float):
                self.done = int(value)
            else:
                self.done = int(getattr(value, "lots_done", self.done + 1))
            now = time.monotonic()
            if now - self._last < PROGRESS_EVERY and self.done < self.total:
                return
            self._last = now
            self._update()

    def _update(self) -> None:
        try:
            update_progress_artifact(self.artifact_id, progress=min(100.0, 100.0 * self.done / self.total))
            self.updates += 1
        except Exception as e:  # noqa: BLE001
            logging.getLogger("vinops.flows.images").warning("progress artifact not updated: %s", mask(str(e)))

    def finish(self) -> None:
        with self._lock:
            self.done = self.total
            self._update()


# ---------------------------------------------------------------------------------------------------------
# artifacts


def _stats_dict(stats: Any) -> dict[str, Any]:
    if stats is None:
        return {}
    if hasattr(stats, "to_dict"):
        return dict(stats.to_dict())
    if isinstance(stats, dict):
        return dict(stats)
    return {k: v for k, v in vars(stats).items() if not k.startswith("_")}


def stats_table(stats: dict[str, Any], chosen: int) -> list[dict[str, Any]]:
    """The rows of the summary artifact: one ``{"figure", "value"}`` per figure."""
    failures = stats.get("failures", 0)
    failure_count = len(failures) if isinstance(failures, list | tuple | dict) else failures
    rows = [{"figure": "lots chosen", "value": chosen}]
    for label, key in (
        ("lots done", "lots_done"),
        ("lots without photos", "lots_without_photos"),
        ("photos stored", "photos_stored"),
        ("photos reused", "photos_reused"),
        ("bytes", "bytes"),
    ):
        rows.append({"figure": label, "value": stats.get(key, 0)})
    rows.append({"figure": "failures", "value": failure_count})
    seconds = stats.get("seconds")
    if isinstance(seconds, int | float):
        rows.append({"figure": "seconds", "value": round(float(seconds), 3)})
        if seconds > 0:
            rows.append({"figure": "photos per second", "value": round(stats.get("photos_stored", 0) / seconds, 3)})
    return rows


# ---------------------------------------------------------------------------------------------------------
# the flows


def _photos(flow_name: str, load_id: int | None, max_lots: int) -> dict[str, Any]:
    logger = get_run_logger()
    settings = _settings()
    rate, burst = _rate_of(settings)
    if ensure_rate_limit(RATE_LIMIT, rate=rate, burst=burst):
        logger.info(
            "created the global concurrency limit %r (%s requests/s, bursts of %d; %d slots per request)",
            RATE_LIMIT, rate, burst, SLOTS_PER_REQUEST,
        )  # fmt: skip
    if max_lots < 1:
        raise ValueError(f"max_lots must be at least 1 (got {max_lots})")
    lots = choose_lots(settings, load_id, max_lots)
    logger.info("%d lot(s) need photos%s", len(lots), f" (window load {load_id} first)" if load_id is not None else "")
    artifact_id = create_progress_artifact(
        progress=0.0, key=f"{flow_name}-progress", description=f"{flow_name}: lots done of {len(lots)}"
    )
    progress = _Progress(artifact_id, len(lots))
    stats: dict[str, Any] = {}
    if lots:
        stats = _stats_dict(_fetch_photos(settings, lots, PrefectRateLimiter(RATE_LIMIT), progress))
    progress.finish()
    create_table_artifact(
        table=stats_table(stats, len(lots)),
        key=f"{flow_name}-summary",
        description=f"{flow_name}: photos of {len(lots)} lot(s)"
        + (f" (load {load_id})" if load_id is not None else ""),
    )
    failures = stats.get("failures", 0)
    logger.info(
        "%s lot(s) done, %s photo(s) stored, %s reused, %s byte(s), %s failure(s)",
        stats.get("lots_done", 0), stats.get("photos_stored", 0), stats.get("photos_reused", 0),
        stats.get("bytes", 0), len(failures) if isinstance(failures, list | tuple | dict) else failures,
    )  # fmt: skip
    return {"load_id": load_id, "lots": len(lots), "stats": stats}


@flow(name="lot-images", persist_result=False)
def lot_images(load_id: int | None = None, max_lots: int = DEFAULT_MAX_LOTS) -> dict[str, Any]:
    """Photos of the lots new in the window ``load_id`` (the trigger passes the ``vinops.window.loaded``
    event's ``load_id``), then of other lots still without photos, ``max_lots`` lots in all. Returns
    ``{"load_id", "lots", "stats"}``."""
    with masked_run_logging():
        return _photos("lot-images", load_id, max_lots)


@flow(name="image-backfill", persist_result=False)
def image_backfill(max_lots: int = DEFAULT_MAX_LOTS) -> dict[str, Any]:
    """Photos of lots still without them, newest auction first, ``max_lots`` lots per run."""
    with masked_run_logging():
        return _photos("image-backfill", None, max_lots)


if __name__ == "__main__":
    image_backfill()
