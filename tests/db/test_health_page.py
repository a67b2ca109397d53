"""The health page in headless Chromium (Debian's ``chromium``; ``scripts/test.sh`` installs it when missing):
after a day of real windows (loaded, not modified, rejected; spread over the last hours by moving their
timestamps back), the DOM Chromium built shows the state, each part and the figures of the last window, and
the chart one bar per window; a phone-wide and a desktop-wide screenshot go to ``build/screenshots/``
(``docs/health.png`` is a copy of ``health-docs.png``, the desktop width a little taller). Then the last window made 3 h old: the page says degraded.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_serve import age_windows, feed, sample_body, serve  # noqa: F401 - fixtures

from vinops.config import Settings
from vinops.errors import RejectedFile
from vinops.pipeline import run_window
from vinops.sample import write_sample

pytestmark = pytest.mark.db

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PHONE, DESKTOP = (390, 844), (1280, 900)


class Dom(HTMLParser):
    """What the test reads from the DOM: the body's state, each part's state, each figure, the chart's bars."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.status: str | None = None
        self.parts: dict[str, str] = {}
        self.figures: dict[str, dict[str, str]] = {}
        self.keys: dict[str, str] = {}
        self.bars: list[str] = []
        self.badge = ""
        self._part: str | None = None
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.status = a.get("data-status")
        elif tag == "section" and "data-part" in a:
            self._part = a["data-part"]
            if "data-status" in a:
                self.parts[self._part] = a["data-status"]
        elif tag == "dd" and "data-figure" in a and self._part:
            self.figures.setdefault(self._part, {})[a["data-figure"]] = a.get("data-value", "")
        elif tag == "dd" and "data-key" in a:
            self._in = "key:" + a["data-key"]
        elif tag == "span" and a.get("id") == "status":
            self._in = "badge"
        elif tag == "rect" and "data-outcome" in a:
            self.bars.append(a["data-outcome"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dd", "span"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "badge":
            self.badge += data
        elif self._in and self._in.startswith("key:"):
            self.keys[self._in[4:]] = self.keys.get(self._in[4:], "") + data


def chromium(*args: str) -> str:
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed: scripts/test.sh installs it (apt-get install chromium)"
    done = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                           "--user-data-dir=" + str(SCREENSHOTS.parent / "chromium-profile"), *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom(url: str) -> Dom:
    return Dom(chromium("--dump-dom", url))


def screenshot(url: str, name: str, size: tuple[int, int]) -> Path:
    path = SCREENSHOTS / name
    path.unlink(missing_ok=True)
    chromium(f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url)
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one
    return path


def test_the_page_in_chromium(
    feed: Any, settings: Settings, db_url: str, serve: Any, tmp_path: Path  # noqa: F811 - fixtures
) -> None:
    state, feed_url = feed
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    s = replace(settings, database_url=db_url, feed_url=feed_url)
    bodies = [state["body"]]
    for seed in (15, 16):
        write_sample(tmp_path / f"s{seed}.csv", rows=400, seed=seed)
        bodies.append((tmp_path / f"s{seed}.csv").read_bytes())
    # a day of windows: a new file now and then, 304s between, one HTML page; each step 1.5 h apart
    script = ["file:0", "same", "same", "html", "file:1", "same", "file:2", "same"]
    outcomes = []
    for i, step in enumerate(script):
        if step.startswith("file:"):
            n = int(step[5:])
            state.update(body=bodies[n], etag=f'"body-{n}"', mode="file")
        state["mode"] = "html" if step == "html" else "file"
        try:
            outcomes.append(run_window(s).outcome)
        except RejectedFile:
            outcomes.append("rejected")
        if i < len(script) - 1:
            age_windows(db_url, 1.5)
    assert outcomes == ["loaded", "not_modified", "not_modified", "rejected", "loaded", "not_modified", "loaded",
                        "not_modified"]  # fmt: skip
    with psycopg.connect(db_url) as c:  # photos for a few lots, as the photo flows record them
        lots = [r[0] for r in c.execute("SELECT lot_number FROM lots WHERE image_url IS NOT NULL ORDER BY 1 LIMIT 40")]
        for lot in lots:
            c.execute("INSERT INTO photo_checks (lot_number, outcome, photos) VALUES (%s, 'photos', 2)", (lot,))
            for variant, size in (("ful", 61234), ("thb", 5120)):
                c.execute("INSERT INTO images (lot_number, seq, variant, storage_key, content_sha256, bytes)"
                          " VALUES (%s, 1, %s, %s, md5(%s::text) || md5(%s::text), %s)",
                          (lot, variant, f"photos/{lot}-{variant}", lot, variant, size))  # fmt: skip
        (last_rows, last_new) = c.execute(
            "SELECT rows_in, (summary ->> 'lots_inserted')::int FROM raw.csv_files ORDER BY load_id DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        (active,) = c.execute("SELECT count(*) FROM lots WHERE status = 'ACTIVE'").fetchone()  # type: ignore[misc]

    server = serve(db_url)
    url = f"{server.base}/health"
    page = dom(url)
    assert page.status == "healthy" and page.badge.strip() == "healthy"
    assert page.parts == dict.fromkeys(("database", "last_window", "fetch", "photos", "raw_store"), "healthy")
    assert page.figures["last_window"]["rows_in"] == str(last_rows)
    assert page.figures["last_window"]["lots_inserted"] == str(last_new)
    assert page.figures["database"]["active_lots"] == str(active)
    assert page.figures["photos"]["stored"] == str(2 * len(lots))
    assert page.figures["fetch"]["last_run_outcome"] == "not_modified"
    assert page.figures["raw_store"]["files"] == "3"
    assert page.keys["last_window_age"].endswith("ago") and page.keys["active_lots"] == f"{active:,}"
    assert page.bars == ["loaded", "not_modified", "not_modified", "rejected", "loaded", "not_modified", "loaded",
                         "not_modified"]  # fmt: skip
    phone = screenshot(url, "health-phone.png", PHONE)
    desktop = screenshot(url, "health-desktop.png", DESKTOP)
    assert phone.exists() and desktop.exists()
    screenshot(url, "health-docs.png", (1280, 1040))  # every card in one picture: docs/health.png

    age_windows(db_url, 3)
    page = dom(url)
    assert page.status == "degraded" and page.badge.strip() == "degraded"
    assert page.parts["last_window"] == "degraded" and page.parts["database"] == "healthy"
    screenshot(url, "health-degraded-phone.png", PHONE)
