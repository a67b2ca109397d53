"""Flow ``raw-retention``: delete the raw store's files past their retention (``VINOPS_RAW_RETENTION_DAYS``;
0 keeps everything), daily. Thin: :func:`vinops.rawstore.raw_store_from` picks the local folder or the
S3-compatible bucket, its ``prune()`` deletes and returns the keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from vinops.flows._masking import masked_run_logging
from vinops.flows.copart_window import _settings, retry_if_retryable

if TYPE_CHECKING:
    from vinops.config import Settings

__all__ = ["prune", "raw_retention"]

RETENTION_KEY = "raw-retention"


def _raw_store(settings: Settings) -> Any:
    from vinops.rawstore import raw_store_from

    return raw_store_from(settings)


@task(name="prune", retries=2, retry_delay_seconds=[5, 30], retry_jitter_factor=0.5,
      retry_condition_fn=retry_if_retryable, cache_policy=NO_CACHE, persist_result=False)  # fmt: skip
def prune(settings: Settings) -> list[str]:
    """The keys deleted from the raw store (a temporary S3 error is retried)."""
    return list(_raw_store(settings).prune())


@flow(name="raw-retention", persist_result=False)
def raw_retention() -> dict[str, Any]:
    """Delete raw files older than the retention; a table artifact lists how many and the oldest kept rule."""
    with masked_run_logging():
        logger = get_run_logger()
        settings = _settings()
        deleted = prune(settings)
        logger.info("deleted %d raw file(s) older than %d day(s)", len(deleted), settings.raw_retention_days)
        create_table_artifact(
            table=[
                {"figure": "retention days", "value": settings.raw_retention_days},
                {"figure": "files deleted", "value": len(deleted)},
                {"figure": "first deleted", "value": deleted[0] if deleted else None},
                {"figure": "last deleted", "value": deleted[-1] if deleted else None},
            ],
            key=RETENTION_KEY,
            description="Raw files deleted past their retention",
        )
        return {"retention_days": settings.raw_retention_days, "deleted": deleted}


if __name__ == "__main__":
    raw_retention()
