"""Completion: which windows may decide that lots are gone, and the lifecycle transitions they cause.

A window is *completion-eligible* when its file passed validation and has at least ``min_ratio`` (80 %) of
the rows of the previous eligible window. The newest eligible window, W*, is the reference: its lot numbers
are kept in ``staging.presence`` and "absent" means absent from W*, judged by W*'s clock (its window_at).
That makes the result independent of the order files are loaded in. The rules (``sql/completion.sql``):

1. reappeared: a PENDING_RESULT or NOT_SOLD lot listed again in W* becomes ACTIVE again;
2. not_sold: a lot absent from W* whose VIN is listed under a newer lot becomes NOT_SOLD;
3. pending_result: an ACTIVE lot absent from W* whose auction time + grace has passed becomes PENDING_RESULT.

Each transition is one UPDATE of rows still in the old status plus one lot_events row: running the rules
again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pyarrow as pa

from vinops.statements import load_statements

__all__ = ["Decision", "Outcome", "apply", "decide", "store_presence"]


@dataclass
class Decision:
    """Whether this window may run completion, and why not."""

    eligible: bool
    reason: str | None
    baseline_rows: int | None = None
    baseline_load_id: int | None = None


@dataclass
class Outcome:
    ran: bool
    reason: str | None
    as_of: datetime | None = None
    reference_load_id: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"reappeared": 0, "not_sold": 0, "pending_result": 0})

    def as_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "refused": self.reason,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "reference_load_id": self.reference_load_id,
            **{f"lots_{k}": v for k, v in self.counts.items()},
        }


def _statements() -> dict[str, str]:
    return load_statements("completion")


def decide(
    conn: psycopg.Connection,
    *,
    load_id: int,
    rows_in: int,
    validation_errors: list[str],
    min_ratio: float,
    force: bool = False,
) -> Decision:
    """Eligibility of this window. ``force`` waives the size rule (never the validation)."""
    q = _statements()
    base = conn.execute(q["baseline"], {"load_id": load_id}).fetchone()
    baseline_load, baseline_rows = (base[0], base[1]) if base else (None, None)
    if validation_errors:
        return Decision(False, "the file failed validation: " + "; ".join(validation_errors), baseline_rows, baseline_load)
    if baseline_rows and not force and rows_in < min_ratio * baseline_rows:
        share = rows_in / baseline_rows
        return Decision(
            False,
            f"the file has {rows_in:,} rows, {share:.0%} of the previous complete window's {baseline_rows:,} "
            f"(below {min_ratio:.0%}): a short download must not mark lots as gone",
            baseline_rows,
            baseline_load,
        )
    return Decision(True, None, baseline_rows, baseline_load)


def store_presence(conn: psycopg.Connection, load_id: int, window_at: datetime, lot_numbers: Iterable[pa.Array]) -> None:
    """Make ``lot_numbers`` (the window's, as Arrow int64 arrays) plus the lot numbers of its quarantined rows
    the presence set of W*. Binary COPY: no second read of staging."""
    import pgpq

    q = _statements()
    conn.execute(q["clear_presence"])
    schema = pa.schema([pa.field("lot_number", pa.int64(), nullable=False)])
    encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
    with conn.cursor().copy("COPY staging.presence (lot_number) FROM STDIN (FORMAT BINARY)") as cp:
        cp.write(encoder.write_header())
        for arr in lot_numbers:
            cp.write(encoder.write_batch(pa.RecordBatch.from_arrays([arr], schema=schema)))
        cp.write(encoder.finish())
    conn.execute(q["fill_presence_quarantine"], {"load_id": load_id})
    conn.execute(q["mark_presence"], {"load_id": load_id, "as_of": window_at})


def apply(
    conn: psycopg.Connection,
    *,
    load_id: int,
    decision: Decision,
    grace: timedelta,
    run: bool = True,
    lot_numbers: Iterable[pa.Array] = (),
) -> Outcome:
    """Keep W*'s presence set current, then (if ``run`` and the window is eligible) apply the rules.

    Call after the window's row in raw.csv_files records its eligibility. ``lot_numbers``: every lot number
    the window's file lists (Arrow int64 arrays)."""
    q = _statements()
    newest = conn.execute(q["newest_eligible"]).fetchone()
    if decision.eligible and newest is not None and newest[0] == load_id:
        # This window is the new W*: its lot numbers become the presence set.
        store_presence(conn, load_id, newest[1], lot_numbers)
    if not decision.eligible:
        return Outcome(False, decision.reason)
    if not run:
        return Outcome(False, "completion disabled (--no-completion)")
    assert newest is not None
    reference, as_of = newest[0], newest[1]
    marked = conn.execute(q["presence_window"]).fetchone()
    if marked is None or marked[0] != reference:
        return Outcome(False, f"the presence set of the newest complete window (load {reference}) is missing")
    params = {"load_id": load_id, "as_of": as_of, "grace": grace}
    out = Outcome(True, None, as_of=as_of, reference_load_id=reference)
    if reference == load_id:
        out.counts["reappeared"] = conn.execute(q["reappeared"], params).rowcount
    out.counts["not_sold"] = conn.execute(q["not_sold"], params).rowcount
    out.counts["pending_result"] = conn.execute(q["pending_result"], params).rowcount
    return out
