"""Smoke tests of the benchmarks: every contender of bench/compare.py runs and is reported; bench/window.py's
steady sequence runs its four windows in order and reports each against its target. Structure only, never
speed.

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
WINDOW = REPO / "bench" / "window.py"

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


@pytest.mark.timeout(180)
def test_window_steady_sequence(pg_server_url: str, tmp_path: Path) -> None:
    rows = 3000
    out = tmp_path / "out"
    p = subprocess.run(
        [sys.executable, str(WINDOW), "--steady-only", "--rows", str(rows), "--seed", "3", "--repeat", "1",
         "--database-url", pg_server_url, "--out", str(out)],
        capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-4000:]
    (written,) = out.glob("window-*.json")
    report = json.loads(written.read_text())
    assert "figures" not in report  # --steady-only: no single-window figures
    assert report["rows"] == rows and report["repeat"] == 1
    assert "--steady-only" in report["command"]
    assert len(report["load_average_at_start"]) == 3

    st = report["steady"]
    floor = st["floor"]
    assert floor["seconds"] > 0 and floor["copy_from"] == "server file"
    assert 0.99 * rows <= floor["rows"] <= rows  # the strict copy leaves out the rows COPY would reject

    f = st["files"]
    assert f["file2_rows"] == f["file3_rows"] == rows  # 1 % gone, 1 % new
    assert f["file2_gone"] == f["file2_new"] == round(0.01 * rows)
    assert f["file2_changed"] == round(0.05 * rows)
    assert f["file3_changed"] == round(0.005 * rows)

    w = {x["key"]: x for x in st["windows"]}
    assert [x["key"] for x in st["windows"]] == ["first", "changed_5", "changed_0_5", "same_again"]
    for x in st["windows"]:
        assert x["seconds"] > 0 and x["total"] > 0 and x["process_wall"] > 0, x["key"]
        assert x["peak_rss_mb"] > 0, x["key"]
        assert x["ratio_to_floor"] == pytest.approx(x["seconds"] / floor["seconds"], rel=0.02, abs=0.01), x["key"]
        assert isinstance(x["met"], bool) and x["target"], x["key"]
        assert {"rows_loaded", "rows_skipped", "lots_inserted", "lots_updated"} <= set(x["counts"]), x["key"]
        assert "total" in x["stages"], x["key"]
    # what each file is: the first fills empty tables, the next two change what the issue says, the last is skipped
    c1, c2, c3 = w["first"]["counts"], w["changed_5"]["counts"], w["changed_0_5"]["counts"]
    assert c1["rows_in"] == rows and c1["lots_inserted"] > 0.99 * rows and c1["rows_skipped"] == 0
    assert c2["lots_inserted"] == f["file2_new"] and c2["lots_updated"] == f["file2_changed"]
    assert c2["rows_skipped"] == rows - f["file2_new"] - f["file2_changed"]
    assert c3["lots_inserted"] == 0 and c3["lots_updated"] == f["file3_changed"]
    assert c3["rows_skipped"] == rows - f["file3_changed"]
    assert w["same_again"]["skipped"] and not any(w[k]["skipped"] for k in ("first", "changed_5", "changed_0_5"))
    # the same file again is measured as the whole CLI process
    assert w["same_again"]["measure"] == "process wall"
    assert w["same_again"]["seconds"] == w["same_again"]["process_wall"]
    assert w["same_again"]["target"] == "≤ 0.3 s"

    assert "Steady sequence" in p.stdout
    for x in st["windows"]:
        assert x["window"] in p.stdout


@pytest.mark.timeout(180)
def test_photos_bench_reports_both_runs() -> None:
    """bench/photos.py (its own embedded PostgreSQL and loopback server): both runs print their figures and
    store every photo the answers list (two sequences of _ful and _thb per lot, the video skipped)."""
    p = subprocess.run(
        [sys.executable, str(REPO / "bench" / "photos.py"), "--lots", "4", "--per-lot", "2"],
        capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    lines = [line for line in p.stdout.splitlines() if "photos/s" in line]
    assert len(lines) == 2, p.stdout
    for line in lines:
        assert "4 lots" in line and "16 photos" in line and "20 requests" in line and "failed" not in line, line
