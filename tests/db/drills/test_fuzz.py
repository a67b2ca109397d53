"""Drill 7, fuzzing the reader.

1. The differential property of tests/test_differential.py (Copart-shaped files with damaged cells, rows,
   quoting, line ends, headers and records around the 1 MiB cap; the Rust reader and the Python reference
   must give identical batches, summaries and errors) run for 10,000 examples in the full form, 1,000 in the
   short one: a difference, a Rust panic (PanicException) or an error fails it.
2. Full form only: the cargo-fuzz targets ``records`` and ``reader`` for 10 minutes each (``scripts/fuzz.sh``;
   installing cargo-fuzz and building the instrumented targets takes minutes, too long for CI's short form). A
   panic, a hang (an input over 10 s) or an input over 2 GB stops a target with a non-zero exit.

(Lives under tests/db/drills with the other drills; it needs no database.)"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(3 * 3600)


def _differential() -> ModuleType:
    """tests/test_differential.py as a module of its own (imported here, its tests are not collected twice)."""
    name = "vinops_drill_differential"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "test_differential.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_fuzz(drill: Any, tmp_path: Path) -> None:
    examples = drill.runs(1_000, 10_000)
    mod = _differential()
    inner = mod.test_engines_agree_on_copart_shaped_files.hypothesis.inner_test
    ran = 0

    def counted(workdir: Path, shape: Any) -> None:
        nonlocal ran
        ran += 1
        inner(workdir=workdir, shape=shape)

    prop = settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])(given(shape=mod.shapes)(counted))  # fmt: skip
    failures: list[str] = []
    t0 = time.monotonic()
    try:
        prop(workdir=tmp_path)
    except Exception as e:  # a difference or an error: hypothesis re-raises it with the shrunk example
        failures.append(f"differential: {type(e).__name__}: {str(e)[:2000]}")
    except BaseException as e:  # PyO3's PanicException derives from BaseException
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        failures.append(f"differential: panic: {type(e).__name__}: {str(e)[:2000]}")
    figures: dict[str, Any] = {"hypothesis_examples": ran, "hypothesis_seconds": round(time.monotonic() - t0, 1)}

    fuzz_runs, hangs, fuzz_panics = 0, 0, 0
    if drill.full:
        out = subprocess.run(["bash", str(REPO / "scripts" / "fuzz.sh"), "600"], capture_output=True, text=True,
                             timeout=3 * 3600)  # fmt: skip
        lines = re.findall(r"^fuzz (\w+): (\S+) runs in (\S+) s, exit (\d+)$", out.stdout, re.MULTILINE)
        for target, runs, seconds, code in lines:
            figures[f"cargo_fuzz_{target}"] = f"{runs} runs in {seconds} s"
            fuzz_runs += int(runs) if runs.isdigit() else 0
            if code != "0":
                failures.append(f"cargo fuzz {target}: exit {code}")
        hangs = len(re.findall(r"ALARM", out.stdout))
        fuzz_panics = len(re.findall(r"panicked", out.stdout))
        if out.returncode != 0 or len(lines) != 2:
            failures.append(f"scripts/fuzz.sh: exit {out.returncode}: {out.stdout[-1500:]} {out.stderr[-1500:]}")
    else:
        figures["cargo_fuzz"] = "full form only (bash scripts/fuzz.sh)"

    differences = sum(f.startswith("differential: ") and "panic" not in f for f in failures)
    panics = sum(f.startswith("differential: panic") for f in failures) + fuzz_panics
    drill.record(runs=ran + fuzz_runs, failures=len(failures), rows_lost=0, panics=panics, hangs=hangs,
                 differences=differences, **figures)  # fmt: skip
    assert not failures, "\n".join(failures)
    assert ran >= examples * 0.9, f"hypothesis ran {ran} examples of the {examples} asked"
