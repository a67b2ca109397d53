"""The one result of a window, loaded or skipped: the object ``vinops ingest --json`` prints, the Python API
returns and a flow publishes. Every field is present in both cases (a skipped window counts zeros)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["WindowResult"]


@dataclass
class WindowResult:
    #: SHA-256 of the file (hex).
    file_sha256: str
    #: True when the file was already loaded: nothing was written (``skip_reason`` says by which load).
    skipped: bool
    skip_reason: str | None = None
    #: The load that wrote this window (for a skipped window: the earlier load of the same file).
    load_id: int | None = None
    #: Where the file came from (its path), and its size in bytes.
    source: str | None = None
    bytes: int = 0
    #: The instant the file describes (ISO 8601, UTC): the caller's ``window_at``, else the newest Last
    #: Updated Time in the file capped at the database's clock, else the file's mtime, else the clock.
    window_at: str | None = None
    #: Which of those: ``given``, ``data``, ``mtime`` or ``clock``.
    window_at_source: str | None = None
    #: Data rows read. Always ``rows_in == rows_loaded + rows_quarantined``.
    rows_in: int = 0
    #: Rows that reached a lot (unchanged rows included).
    rows_loaded: int = 0
    #: Rows the parser could not read plus rows a table constraint would refuse (``raw.quarantine``).
    rows_quarantined: int = 0
    #: Of the quarantined rows, those refused by a constraint (kept with their typed values).
    rows_refused: int = 0
    #: Rows whose lot the file lists again (the newest copy wins).
    rows_duplicate: int = 0
    #: Rows identical to their lot's stored record (same record hash): not staged.
    rows_skipped: int = 0
    vehicles_inserted: int = 0
    vehicles_updated: int = 0
    lots_inserted: int = 0
    lots_updated: int = 0
    #: Lots listed with nothing new.
    lots_unchanged: int = 0
    #: Lots whose row is older than the stored one (never written: last write wins).
    lots_stale: int = 0
    #: Completion's transitions in this window.
    lots_pending_result: int = 0
    lots_not_sold: int = 0
    lots_reappeared: int = 0
    #: Unknown categorical cells / non-empty categorical cells; distinct unknown values.
    unknown_rate: float = 0.0
    unknown_values: int = 0
    #: Header columns vinops does not know (ignored).
    extra_columns: list[str] = field(default_factory=list)
    #: ``{"ok": bool, "errors": [str]}``: a file that fails validation loads but does not run completion.
    validation: dict[str, Any] = field(default_factory=lambda: {"ok": True, "errors": []})
    #: ``{"ran", "refused", "as_of", "reference_load_id", "lots_*", "grace_seconds", "baseline_rows"}``.
    completion: dict[str, Any] = field(default_factory=lambda: {"ran": False, "refused": None})
    #: Key of the file in the raw store (None when not stored), and raw files pruned after the window.
    raw_key: str | None = None
    raw_pruned: int = 0
    #: Whether the window loaded in bulk (keys and secondary indexes dropped and rebuilt).
    bulk_foreign_keys: bool = False
    #: Seconds per stage (``total`` is the whole window); seconds per SQL statement.
    seconds: dict[str, float] = field(default_factory=dict)
    statement_seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with every field, in the order above."""
        return asdict(self)

    @property
    def outcome(self) -> str:
        return "skipped" if self.skipped else "loaded"
