"""Errors of a window, each saying whether a retry can help.

A flow's retry policy reads :attr:`IngestError.retryable` instead of guessing from messages:

* retryable: the database went away (lost connection, server shut down), a lock or statement timeout, a
  deadlock or serialization failure, a server out of resources (``psycopg.OperationalError`` and its
  subclasses), a network timeout. Running the same window again may succeed.
* not retryable: the file is rejected (:class:`RejectedFile`: not a Copart CSV, no data rows), the data
  breaks a constraint, the schema is behind, a bug. The same input fails the same way.
"""

from __future__ import annotations

import psycopg

__all__ = ["IngestError", "RejectedFile", "is_retryable"]


def is_retryable(error: BaseException) -> bool:
    """Whether running the same window (or command) again may succeed after ``error``: the first error of
    the ``raise … from`` chain that says so itself (a ``retryable`` attribute) decides; else a
    ``psycopg.OperationalError`` (lost connection, admin shutdown, lock or statement timeout, deadlock,
    serialization failure, out of resources), a ``TimeoutError`` or a ``ConnectionError`` in the chain."""
    seen: list[BaseException] = []
    e: BaseException | None = error
    while e is not None and all(e is not x for x in seen):
        seen.append(e)
        flag = getattr(e, "retryable", None)
        if flag is not None:
            return bool(flag)
        if isinstance(e, (psycopg.OperationalError, TimeoutError, ConnectionError)):
            return True
        e = e.__cause__
    return False


class IngestError(RuntimeError):
    """A window failed; nothing it wrote remains. ``stage`` names where, ``retryable`` whether a rerun of
    the same window may succeed."""

    def __init__(self, stage: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.retryable = retryable


class RejectedFile(IngestError):
    """The file is not a usable sales-data file (not a Copart CSV, no data rows): nothing is loaded, the
    rejection is recorded in ``audit.ingest_errors``. Retrying the same file cannot help."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(stage, message, retryable=False)
