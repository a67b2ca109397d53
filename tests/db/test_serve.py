"""``vinops serve`` against a real PostgreSQL after real windows (run_window through a loopback feed server):
``/metrics`` scraped with httpx and parsed with prometheus-client's own parser, each metric checked against
the window's result and the audit rows; ``/health`` healthy, degraded (the last window made 3 h old) and
unhealthy (a PostgreSQL server that was stopped), each as JSON and as HTML; ``/healthz``, ``/readyz``; and
``vinops health`` exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from vinops.cli import main
from vinops.config import Settings
from vinops.db import migrate
from vinops.metrics import METRICS
from vinops.pipeline import WindowRun, run_window
from vinops.sample import write_sample
from vinops.web import App, make_server

pytestmark = pytest.mark.db

ROWS = 400


# ---------------------------------------------------------------------------------------------------------
# a loopback feed and a running `vinops serve`


class FeedHandler(BaseHTTPRequestHandler):
    """Serves the sample with an ETag; a 304 for a matching If-None-Match; an HTML page when told to."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        feed = self.server.feed
        if feed["mode"] == "html":
            body = b"<!DOCTYPE html><html><body>Member Login</body></html>"
            headers = {"Content-Type": "text/html"}
        elif self.headers.get("If-None-Match") == feed["etag"]:
            self.send_response(304)
            self.send_header("ETag", feed["etag"])
            self.end_headers()
            return
        else:
            body, headers = feed["body"], {"Content-Type": "application/octet-stream", "ETag": feed["etag"]}
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True


def serving(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def sample_body(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("feed") / "salesdata.csv"
    write_sample(path, rows=ROWS, seed=14)
    return path.read_bytes()


@pytest.fixture
def feed(sample_body: bytes) -> Iterator[tuple[dict[str, Any], str]]:
    server = QuietServer(("127.0.0.1", 0), FeedHandler)
    state: dict[str, Any] = {"body": sample_body, "etag": '"sample-14"', "mode": "file"}
    server.feed = state  # type: ignore[attr-defined]
    thread = serving(server)
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/FTPLSTDM/salesdata.cgi?authKey=k-0123456789"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def load_window(settings: Settings, db_url: str, feed_url: str) -> WindowRun:
    """One real window: fetched from the loopback feed, loaded, recorded in audit.window_runs."""
    run = run_window(replace(settings, database_url=db_url, feed_url=feed_url), flow_run_id="flow-1")
    assert run.outcome == "loaded" and run.result is not None
    return run


class Serve:
    """``vinops serve``'s server in this process, on a free port."""

    def __init__(self, database_url: str, **app_options: Any) -> None:
        self.server = make_server(App(database_url, **app_options), "127.0.0.1", 0)
        self.thread = serving(self.server)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.client = httpx.Client(base_url=self.base, timeout=30)

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.client.get(path, headers=headers)

    def close(self) -> None:
        self.client.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def serve() -> Iterator[Any]:
    made: list[Serve] = []

    def start(database_url: str, **options: Any) -> Serve:
        s = Serve(database_url, **options)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def scrape(s: Serve) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed by prometheus-client: {(sample name, sorted labels): value}."""
    r = s.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics: dict[Any, float], name: str, **labels: str) -> float:
    return metrics[(name, tuple(sorted(labels.items())))]


def names(metrics: dict[Any, float]) -> set[str]:
    return {name for name, _ in metrics}


def health_json(s: Serve) -> tuple[int, dict[str, Any]]:
    r = s.get("/health", Accept="application/json")
    assert r.headers["content-type"] == "application/json"
    return r.status_code, r.json()


def health_html(s: Serve) -> tuple[int, str]:
    r = s.get("/health", Accept="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    return r.status_code, r.text


def page_status(page: str) -> str:
    m = re.search(r'<body data-status="([a-z]+)"', page)
    assert m is not None
    return m.group(1)


def part_status(page: str, part: str) -> str:
    m = re.search(rf'data-part="{part}" data-status="([a-z]+)"', page)
    assert m is not None, part
    return m.group(1)


def age_windows(db_url: str, hours: float) -> None:
    """Move every window (loads and runs) ``hours`` into the past."""
    with psycopg.connect(db_url) as c:
        c.execute("UPDATE raw.csv_files SET loaded_at = loaded_at - make_interval(secs => %s),"
                  " window_at = window_at - make_interval(secs => %s)", (hours * 3600, hours * 3600))  # fmt: skip
        c.execute("UPDATE audit.window_runs SET started_at = started_at - make_interval(secs => %s),"
                  " finished_at = finished_at - make_interval(secs => %s)", (hours * 3600, hours * 3600))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# /metrics


def test_metrics_after_real_windows(feed: Any, settings: Settings, db_url: str, serve: Any) -> None:
    state, feed_url = feed
    run = load_window(settings, db_url, feed_url)
    r = run.result
    assert r is not None and r.rows_in == ROWS
    s = serve(db_url)
    m = scrape(s)

    assert value(m, "vinops_database_up") == 1
    assert value(m, "vinops_migrations_pending") == 0
    assert value(m, "vinops_windows_total", outcome="loaded") == 1
    for outcome in ("skipped", "not_modified", "rejected", "failed"):
        assert value(m, "vinops_windows_total", outcome=outcome) == 0
    assert value(m, "vinops_consecutive_failed_windows") == 0
    assert value(m, "vinops_ingest_errors_total") == 0
    assert 0 <= value(m, "vinops_last_loaded_window_age_seconds") < 600
    # the last window, against its WindowResult
    rows = {"in": r.rows_in, "loaded": r.rows_loaded, "quarantined": r.rows_quarantined, "refused": r.rows_refused,
            "duplicate": r.rows_duplicate, "skipped": r.rows_skipped}  # fmt: skip
    for kind, n in rows.items():
        assert value(m, "vinops_last_window_rows", kind=kind) == n, kind
    assert value(m, "vinops_last_window_quarantine_share") == pytest.approx(r.rows_quarantined / r.rows_in)
    assert value(m, "vinops_last_window_unknown_rate") == pytest.approx(r.unknown_rate)
    assert value(m, "vinops_last_window_vehicles", change="inserted") == r.vehicles_inserted > 0
    assert value(m, "vinops_last_window_vehicles", change="updated") == r.vehicles_updated
    for change in ("inserted", "updated", "unchanged", "stale"):
        assert value(m, "vinops_last_window_lots", change=change) == getattr(r, f"lots_{change}"), change
    for t in ("pending_result", "not_sold", "reappeared"):
        assert value(m, "vinops_last_window_transitions", transition=t) == getattr(r, f"lots_{t}"), t
    assert r.seconds and set(r.seconds) >= {"total", "parse", "plan"}
    for stage, seconds in r.seconds.items():
        assert value(m, "vinops_last_window_stage_seconds", stage=stage) == pytest.approx(seconds), stage
    # sums over every loaded window (one so far)
    assert value(m, "vinops_rows_total", kind="in") == r.rows_in
    assert value(m, "vinops_rows_total", kind="quarantined") == r.rows_quarantined
    assert value(m, "vinops_lots_changed_total", change="inserted") == r.lots_inserted
    assert value(m, "vinops_vehicles_changed_total", change="inserted") == r.vehicles_inserted
    assert value(m, "vinops_lot_transitions_total", transition="pending_result") == r.lots_pending_result
    # the tables, against the database
    with psycopg.connect(db_url) as c:
        (lots,) = c.execute("SELECT count(*) FROM lots WHERE status = 'ACTIVE'").fetchone()  # type: ignore[misc]
        (vehicles,) = c.execute("SELECT count(*) FROM vehicles").fetchone()  # type: ignore[misc]
        (with_url,) = c.execute("SELECT count(*) FROM lots WHERE status = 'ACTIVE' AND image_url IS NOT NULL").fetchone()  # type: ignore[misc]
    assert value(m, "vinops_lots", status="ACTIVE") == lots == r.lots_inserted
    assert value(m, "vinops_vehicles") == vehicles
    assert value(m, "vinops_lots_missing_vehicle") == 0
    assert value(m, "vinops_raw_store_files") == 1
    assert value(m, "vinops_raw_store_bytes") == r.bytes == len(state["body"])
    assert "vinops_photos_stored" not in names(m)  # no photo flow has run yet

    # photos of one lot: the photo metrics appear
    with psycopg.connect(db_url) as c:
        (lot,) = c.execute("SELECT min(lot_number) FROM lots WHERE image_url IS NOT NULL").fetchone()  # type: ignore[misc]
        c.execute("INSERT INTO photo_checks (lot_number, outcome, photos) VALUES (%s, 'photos', 2)", (lot,))
        for variant, size in (("ful", 60000), ("thb", 5000)):
            c.execute("INSERT INTO images (lot_number, seq, variant, storage_key, content_sha256, bytes)"
                      " VALUES (%s, 1, %s, 'photos/x', %s, %s)", (lot, variant, f"{size:064x}", size))  # fmt: skip
    m = scrape(s)
    assert value(m, "vinops_photos_stored") == 2 and value(m, "vinops_photo_bytes") == 65000
    assert value(m, "vinops_photo_lots", outcome="photos") == 1 and value(m, "vinops_photo_lots", outcome="failed") == 0
    assert value(m, "vinops_photo_coverage_ratio") == pytest.approx(1 / lots)
    assert value(m, "vinops_photo_backlog_lots") == with_url - 1
    assert names(m) == set(METRICS)
    # every metric an alert rule reads is in this live scrape (tests/test_alert_rules.py parses the rules fully)
    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "k8s" / "prometheus-rules.yaml").read_text())
    named = {n for g in rules["groups"] for rule in g["rules"] for n in re.findall(r"\bvinops_[a-z_]+", rule["expr"])}
    assert len(named) >= 6 and named <= names(m), named - names(m)

    # the same file again (304), then an HTML page twice: the outcomes and the failures count
    assert run_window(replace(settings, database_url=db_url, feed_url=feed_url)).outcome == "not_modified"
    state["mode"] = "html"
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - RejectedFile; the run is what matters here
            run_window(replace(settings, database_url=db_url, feed_url=feed_url))
    m = scrape(s)
    assert value(m, "vinops_windows_total", outcome="not_modified") == 1
    assert value(m, "vinops_windows_total", outcome="rejected") == 2
    assert value(m, "vinops_consecutive_failed_windows") == 2
    assert value(m, "vinops_windows_total", outcome="loaded") == 1


def test_a_load_outside_a_run_counts_as_a_loaded_window(
    db_url: str, serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VINOPS_DATA_DIR", str(tmp_path / "data"))  # the raw store goes there
    path = tmp_path / "salesdata.csv"
    write_sample(path, rows=120, seed=3)
    code = main(["ingest", str(path), "--json", "--database-url", db_url])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    m = scrape(serve(db_url))
    assert value(m, "vinops_windows_total", outcome="loaded") == 1
    assert value(m, "vinops_last_window_rows", kind="in") == out["rows_in"] == 120
    assert value(m, "vinops_last_window_lots", change="inserted") == out["lots_inserted"]
    # `vinops ingest` records no run: raw.csv_files keeps no stage seconds
    assert "vinops_last_window_stage_seconds" not in names(m)


# ---------------------------------------------------------------------------------------------------------
# /health states, /healthz, /readyz, `vinops health`


def cli_health(db_url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code = main(["health", "--json", "--database-url", db_url])
    as_json = json.loads(capsys.readouterr().out)
    text_code = main(["health", "--database-url", db_url])
    text = capsys.readouterr().out
    assert text_code == code
    return code, as_json, text


def test_healthy_then_degraded_when_the_last_window_is_3_hours_old(
    feed: Any, settings: Settings, db_url: str, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, feed_url = feed
    s = serve(db_url)
    # no window yet: degraded
    status, body = health_json(s)
    assert (status, body["status"], body["parts"]["last_window"]["status"]) == (200, "degraded", "degraded")

    run = load_window(settings, db_url, feed_url)
    assert run.result is not None
    status, body = health_json(s)
    assert (status, body["status"]) == (200, "healthy"), body
    assert {p["status"] for p in body["parts"].values()} == {"healthy"}
    figures = body["parts"]["last_window"]["figures"]
    assert figures["rows_in"] == run.result.rows_in and figures["lots_inserted"] == run.result.lots_inserted
    assert body["parts"]["database"]["figures"]["lots"] == run.result.lots_inserted
    assert [w["outcome"] for w in body["windows_24h"]] == ["loaded"]
    status, page = health_html(s)
    assert status == 200 and page_status(page) == "healthy"
    assert f'data-figure="rows_in" data-value="{run.result.rows_in}"' in page
    assert 'data-outcome="loaded"' in page and "<svg" in page
    code, as_json, text = cli_health(db_url, capsys)
    assert (code, as_json["status"]) == (0, "healthy") and "HEALTHY" in text

    age_windows(db_url, 3)
    status, body = health_json(s)
    assert (status, body["status"], body["parts"]["last_window"]["status"]) == (200, "degraded", "degraded")
    assert any("no window loaded for 3 h" in reason for reason in body["parts"]["last_window"]["reasons"])
    assert body["windows_24h"][0]["at"] < body["checked_at"]
    status, page = health_html(s)
    assert (status, page_status(page), part_status(page, "last_window")) == (200, "degraded", "degraded")
    assert "no window loaded for 3 h" in page
    code, as_json, text = cli_health(db_url, capsys)
    assert (code, as_json["status"]) == (1, "degraded") and "no window loaded for 3 h" in text

    age_windows(db_url, 4)  # 7 h: unhealthy
    status, body = health_json(s)
    assert (status, body["status"]) == (503, "unhealthy")
    assert cli_health(db_url, capsys)[0] == 2


def test_a_stopped_database_is_unhealthy_and_not_ready(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from vinops.db import _pgserver

    base = Path(tempfile.mkdtemp(prefix="vinops-pg-stopped-"))
    server = _pgserver().get_server(base / "data", cleanup_mode="delete")
    try:
        url = str(server.get_uri())
        with psycopg.connect(url) as c:
            migrate(c)
        s = serve(url, connect_timeout=2)
        assert s.get("/readyz").status_code == 200
        assert value(scrape(s), "vinops_database_up") == 1
        server.cleanup()  # stops the server (and removes its folder)

        t0 = time.monotonic()
        status, body = health_json(s)
        assert (status, body["status"]) == (503, "unhealthy")
        assert body["parts"]["database"]["status"] == "unhealthy"
        assert "database unreachable" in body["parts"]["database"]["reasons"][0]
        assert {p["status"] for n, p in body["parts"].items() if n != "database"} == {"unknown"}
        status, page = health_html(s)
        assert (status, page_status(page), part_status(page, "database")) == (503, "unhealthy", "unhealthy")
        ready = s.get("/readyz")
        assert ready.status_code == 503 and ready.text.startswith("database unreachable")
        assert s.get("/healthz").status_code == 200  # the process itself is alive
        m = scrape(s)
        assert value(m, "vinops_database_up") == 0 and names(m) == {"vinops_database_up", "vinops_scrape_seconds"}
        code, as_json, text = cli_health(url, capsys)
        assert (code, as_json["status"]) == (2, "unhealthy") and "UNHEALTHY" in text
        print(f"answers with the database stopped: {time.monotonic() - t0:.2f} s")
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def test_readyz_needs_current_migrations(empty_db: str, db_url: str, serve: Any) -> None:
    behind = serve(empty_db)
    r = behind.get("/readyz")
    assert r.status_code == 503 and "pending" in r.text and "vinops db migrate" in r.text
    status, body = health_json(behind)
    assert (status, body["parts"]["database"]["status"]) == (503, "unhealthy")
    assert "migration(s) pending" in body["parts"]["database"]["reasons"][0]
    assert value(scrape(behind), "vinops_migrations_pending") > 0
    current = serve(db_url)
    assert current.get("/readyz").status_code == 200 and current.get("/readyz").text == "ready\n"


def test_routes_and_content_negotiation(db_url: str, serve: Any) -> None:
    s = serve(db_url)
    assert s.get("/healthz").text == "ok\n"
    assert s.get("/nope").status_code == 404
    root = s.client.get("/", follow_redirects=False)
    assert root.status_code == 302 and root.headers["location"] == "/health"
    # a browser names text/html; curl's */* and an explicit JSON preference get JSON; ?format= wins
    assert s.get("/health", Accept="*/*").headers["content-type"] == "application/json"
    assert s.get("/health", Accept="text/html;q=0.5, application/json").headers["content-type"] == "application/json"
    assert s.get("/health?format=html", Accept="application/json").headers["content-type"].startswith("text/html")
    assert s.get("/health?format=json", Accept="text/html").headers["content-type"] == "application/json"


def test_a_read_only_login_reports_what_the_owner_reports(
    db_url: str, serve: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart lets `vinops serve` read through a login in vinops_reader (migration 0005): health, readiness
    and every metric must be the same as through the owner."""
    import secrets as token
    import uuid

    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    monkeypatch.setenv("VINOPS_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "salesdata.csv"
    write_sample(path, rows=150, seed=4)
    assert main(["ingest", str(path), "--database-url", db_url]) == 0
    capsys.readouterr()
    name, password = f"site_{uuid.uuid4().hex[:8]}", token.token_hex(12)
    with psycopg.connect(db_url, autocommit=True) as owner:
        owner.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE vinops_reader").format(
            sql.Identifier(name), sql.Literal(password)))  # fmt: skip
    reader_url = make_conninfo(db_url, user=name, password=password)
    try:
        owner_code, owner_health, _ = cli_health(db_url, capsys)
        reader_code, reader_health, _ = cli_health(reader_url, capsys)
        assert owner_code == reader_code == 0
        assert reader_health["status"] == owner_health["status"] == "healthy"
        def verdicts(health: dict[str, Any]) -> dict[str, Any]:  # figures hold ages, which move on
            return {name: (p["status"], p["reasons"]) for name, p in health["parts"].items()}
        assert verdicts(reader_health) == verdicts(owner_health)
        reader_serve = serve(reader_url)
        owner_metrics, reader_metrics = scrape(serve(db_url)), scrape(reader_serve)
        clock = ("seconds",)  # scrape time and ages move between the two scrapes
        same = {k: v for k, v in owner_metrics.items() if not k[0].endswith(clock)}
        assert len(same) > 20
        assert {k: reader_metrics.get(k) for k in same} == same
        assert value(reader_metrics, "vinops_database_up") == 1
        assert reader_serve.get("/readyz").status_code == 200
    finally:
        with psycopg.connect(db_url, autocommit=True) as owner:
            owner.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
