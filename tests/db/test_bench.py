"""Smoke test of the side-by-side benchmark (bench/compare.py): every contender runs and is reported.

Lives under tests/db/ for the session's PostgreSQL (``pg_server_url``); the window contenders create and
drop their own databases on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parents[2]
COMPARE = REPO / "bench" / "compare.py"

CONTENDERS = {
    "parse.rust", "parse.reference", "parse.pyarrow_1t", "parse.pyarrow", "parse.csv_module",
    "window.rust", "window.reference", "window.floor",
}  # fmt: skip
RATIOS = {"window_speedup_vs_reference", "parse_vs_pyarrow_1t", "window_vs_floor"}


@pytest.mark.timeout(120)
def test_compare_runs_every_contender(pg_server_url: str, tmp_path: Path) -> None:
    rows = 2000
    out, md = tmp_path / "compare.json", tmp_path / "BENCHMARKS.md"
    p = subprocess.run(
        [sys.executable, str(COMPARE), "--rows", str(rows), "--seed", "3", "--repeat", "1",
         "--database-url", pg_server_url, "--sample-dir", str(tmp_path / "sample"),
         "--out", str(out), "--markdown", str(md)],
        capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-4000:]
    report = json.loads(out.read_text())

    assert set(report["contenders"]) == CONTENDERS
    for key, c in report["contenders"].items():
        assert c["seconds"] > 0, key
        assert c["peak_rss_mb"] > 0, key
        assert c["rows"] > 0, key
        assert c["mb_per_s"] > 0, key
    # the vinops engines read every row of the sample (a few may be quarantined), pyarrow skips some
    c = report["contenders"]
    assert c["parse.rust"]["rows_in"] == rows
    assert c["parse.rust"]["rows"] + c["parse.rust"]["rows_quarantined"] == rows
    assert c["window.rust"]["counts"]["rows_in"] == rows
    assert c["parse.pyarrow_1t"]["rows"] + c["parse.pyarrow_1t"]["rows_skipped"] == rows
    assert {"hash", "parse", "copy", "upsert", "completion"} <= set(c["window.rust"]["stages"])
    assert set(c["window.floor"]["stages"]) == {"csv_copy", "upsert", "completion"}
    # the test server runs on this machine as a superuser: it reads the file itself, as the floor does
    assert c["window.floor"]["copy_from"] == "server file"

    assert set(report["ratios"]) == RATIOS
    for name, r in report["ratios"].items():
        assert r["value"] > 0, name
        assert isinstance(r["pass"], bool), name
    assert report["ratios"]["window_vs_floor"]["value"] == pytest.approx(
        c["window.rust"]["seconds"] / c["window.floor"]["seconds"], rel=1e-2
    )
    assert report["agreement"]["parse"]["same"], report["agreement"]
    assert report["agreement"]["window"]["same"], report["agreement"]

    m = report["machine"]
    assert m["cores"] >= 1 and m["ram_gb"] > 0 and m["versions"]["pyarrow"] and m["versions"]["python"]
    assert report["postgres"]["server_version"]
    assert "bench/compare.py" in report["command"] and "--rows 2000" in report["command"]

    text = md.read_text()
    for c in report["contenders"].values():
        assert f"| {c['label']} |" in text
    assert text.count("| PASS |") + text.count("| MISS |") == len(RATIOS)
    assert "PASS" in p.stdout or "MISS" in p.stdout
