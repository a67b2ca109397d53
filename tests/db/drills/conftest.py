"""Reliability drills (issue 15): tests that try to break a guarantee many times and record how often it held.

Short form by default (what CI runs); the full form with ``VINOPS_DRILL=full`` (``bash scripts/drills.sh --full``).
Every drill calls :meth:`Drill.record` once, before it asserts, so ``bench/drill_report.py`` can print the
Reliability table from the records (``VINOPS_DRILL_OUT``, default ``build/drills``) whether the drill held or not.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Drill:
    name: str
    full: bool
    out: Path
    started: float = field(default_factory=time.monotonic)

    def runs(self, short: int, full: int) -> int:
        """How many times to repeat: ``short`` in CI, ``full`` in the full form."""
        return full if self.full else short

    def record(self, *, runs: int, failures: int, rows_lost: int, **figures: object) -> None:
        """Write this drill's outcome: how many runs, how many broke a guarantee, rows lost (must be 0), and any
        figures worth publishing (seconds, peak RSS …)."""
        self.out.mkdir(parents=True, exist_ok=True)
        record = {
            "drill": self.name,
            "form": "full" if self.full else "short",
            "runs": runs,
            "failures": failures,
            "rows_lost": rows_lost,
            "seconds": round(time.monotonic() - self.started, 1),
            "figures": figures,
        }
        (self.out / f"{self.name}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


@pytest.fixture
def drill(request: pytest.FixtureRequest) -> Drill:
    """The drill of the test: its name is the test's name without ``test_``."""
    out = Path(os.environ.get("VINOPS_DRILL_OUT") or REPO / "build" / "drills")
    name = request.node.name.removeprefix("test_").split("[")[0]
    return Drill(name=name, full=os.environ.get("VINOPS_DRILL") == "full", out=out)
