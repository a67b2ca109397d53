"""Secrets never reach Prefect's logs: :class:`vinops.logs.MaskSecrets` on every handler a flow's records can
reach (Prefect's API handler, its console handler, the root logger's handlers), and the package's own
``vinops.*`` loggers sent to the flow run's log in the UI (what ``PREFECT_LOGGING_EXTRA_LOGGERS=vinops`` does,
with the mask)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from vinops.logs import MaskSecrets

__all__ = ["LOGGERS", "mask_handlers", "masked_run_logging"]

#: Loggers whose handlers get the mask: Prefect's run loggers (API handler), ``prefect`` (console), the root
#: logger (whatever the process added: pytest, a CLI), the package and the HTTP libraries.
LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.extra", "vinops", "httpx", "httpcore")


def _prefect_handler(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("prefect.")


def mask_handlers(names: tuple[str, ...] = LOGGERS) -> list[tuple[str, logging.Handler, logging.Filter]]:
    """Add :class:`MaskSecrets` to every handler of the loggers ``names`` that has none yet (idempotent; the
    filter never drops a record). Returns the logger's name, the handler and the filter of each one added."""
    added: list[tuple[str, logging.Handler, logging.Filter]] = []
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskSecrets) for f in handler.filters):
                f = MaskSecrets()
                handler.addFilter(f)
                added.append((name, handler, f))
    return added


@contextmanager
def masked_run_logging(level: int = logging.INFO) -> Iterator[None]:
    """For the duration of a flow run: every handler masked, and the ``vinops`` loggers (a window's stages with
    their counts and seconds) sent to the run's log through Prefect's API handler (unless
    ``PREFECT_LOGGING_EXTRA_LOGGERS`` already put one there), at ``level`` unless the process chose a level for
    ``vinops`` itself (``vinops run -v``).

    Prefect's own handlers on its run loggers (the API handler of ``prefect.flow_runs`` and
    ``prefect.task_runs``) keep the mask for good: the engine logs the run's final state, with the error's text,
    after the flow function returns, and the masked record then reaches the root logger's handlers masked
    (the filter rewrites the record). Every other handler, the root logger's included (Prefect's console
    handler, a test's capture handler, a command line's), gets back as it was, like the ``vinops`` logger."""
    from prefect.logging.handlers import APILogHandler

    vinops_logger = logging.getLogger("vinops")
    added: logging.Handler | None = None
    if not any(isinstance(h, APILogHandler) for h in vinops_logger.handlers):
        added = APILogHandler()
        vinops_logger.addHandler(added)
    previous = vinops_logger.level
    if previous == logging.NOTSET:  # not chosen by the process (a command line's -v/-q stays as it is)
        vinops_logger.setLevel(level)
    masked = mask_handlers()
    try:
        yield
    finally:
        for name, handler, f in masked:
            if name == "" or (handler is not added and not _prefect_handler(handler)):
                handler.removeFilter(f)
        if added is not None:
            vinops_logger.removeHandler(added)
        vinops_logger.setLevel(previous)
