"""run_window end to end on loopback: an HTTP server plays the feed, a real PostgreSQL takes the window.

A loaded window records ``loaded`` and the lots; the same file again (ETag → 304) records ``not_modified``
and writes nothing else; a server that ignores conditional requests gets ``skipped`` (same SHA-256); an HTML
page is rejected with every table as it was, the failures count up and a success resets the count; a 503 is a
retryable failure; the feed key and the member password never reach a log line nor ``audit.window_runs``."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from lotrows import snapshot
from loopback import serving

from vinops.config import Settings
from vinops.errors import RejectedFile
from vinops.fetch import FetchError
from vinops.pipeline import WindowRun, feed_source_from, run_window
from vinops.runs import consecutive_failures, last_good, record_run
from vinops.sample import write_sample

AUTH_KEY = "pk-" + secrets.token_hex(12)
USERNAME = "member-8123"
PASSWORD = "pw-" + secrets.token_hex(10) + " &z"
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Member Login | Copart</title></head><body>"
    b'<form method="post" action="/login"><input name="username"><input type="password" name="password">'
    b"</form></body></html>"
)


class Feed:
    """What the server serves; ``script``: modes for the next file requests (``html``, ``503``, ``ignore-304``)."""

    def __init__(self, body: bytes) -> None:
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.sessions: set[str] = set()
        self.lock = threading.Lock()
        self.serve(body)

    def serve(self, body: bytes) -> None:
        self.body = body
        self.etag = f'"{time.monotonic_ns():x}-{len(body):x}"'
        self.last_modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() - 60))

    def next_mode(self) -> str | None:
        with self.lock:
            return self.script.pop(0) if self.script else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request line names the key
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        feed: Feed = self.server.feed
        url = urlsplit(self.path)
        feed.requests.append({"path": url.path, "headers": dict(self.headers.items())})
        if url.path == "/FTPLSTDM/salesdata.cgi":
            if parse_qs(url.query).get("authKey") != [AUTH_KEY]:
                return self._send(403, b"forbidden", {"Content-Type": "text/plain"})
            return self._serve_file(feed)
        if url.path == "/member/salesdata.csv":
            jar = SimpleCookie(self.headers.get("Cookie", ""))
            if "sess" not in jar or jar["sess"].value not in feed.sessions:
                return self._send(302, b"", {"Location": "/login?next=/member/salesdata.csv"})
            return self._serve_file(feed)
        if url.path == "/login":
            return self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        self._send(404, b"not found", {"Content-Type": "text/plain"})

    def do_POST(self) -> None:  # noqa: N802
        feed: Feed = self.server.feed
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("ascii"))
        if urlsplit(self.path).path == "/login" and form.get("username") == [USERNAME] and form.get("password") == [PASSWORD]:
            token = secrets.token_hex(16)
            feed.sessions.add(token)
            return self._send(302, b"", {"Location": "/", "Set-Cookie": f"sess={token}; Path=/; HttpOnly"})
        self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})

    def _serve_file(self, feed: Feed) -> None:
        mode = feed.next_mode()
        if mode == "503":
            return self._send(503, b"<html>busy</html>", {"Content-Type": "text/html"})
        if mode == "html":
            return self._send(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        validators = {"ETag": feed.etag, "Last-Modified": feed.last_modified}
        if mode != "ignore-304" and self.headers.get("If-None-Match") == feed.etag:
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name, value)
            self.end_headers()
            return None
        self._send(200, feed.body, {"Content-Type": "application/octet-stream", **validators})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _sample(tmp: Path, seed: int) -> bytes:
    path = tmp / f"sample-{seed}.csv"
    write_sample(path, rows=300, seed=seed)
    return path.read_bytes()


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[int, bytes]:
    tmp = tmp_path_factory.mktemp("feed")
    return {seed: _sample(tmp, seed) for seed in (11, 12)}


@pytest.fixture
def feed(samples: dict[int, bytes]) -> Iterator[tuple[Feed, str]]:
    state = Feed(samples[11])
    with serving(Handler, Server, feed=state) as url:
        yield state, url


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in (AUTH_KEY, PASSWORD, PASSWORD.replace(" ", "+").replace("&", "%26")):
        assert secret not in text


@pytest.fixture
def feed_settings(settings: Settings, db_url: str, feed: tuple[Feed, str]) -> Settings:
    _, base = feed
    return replace(settings, database_url=db_url, feed_url=f"{base}/FTPLSTDM/salesdata.cgi?authKey={AUTH_KEY}")


def _runs(conn: psycopg.Connection) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT id, outcome, load_id, sha256, bytes, etag, last_modified, reason, retryable, seconds, flow_run_id,"
        " summary FROM audit.window_runs ORDER BY id"
    )
    names = [d.name for d in cur.description or ()]
    rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    conn.rollback()
    return rows


def _state(conn: psycopg.Connection) -> dict[str, Any]:
    """Every table the ingest writes, and its error log (everything but audit.window_runs)."""
    state = snapshot(conn)
    state["audit.ingest_errors"] = conn.execute("SELECT * FROM audit.ingest_errors ORDER BY id").fetchall()
    conn.rollback()
    return state


def _raw_files(settings: Settings) -> list[Path]:
    return sorted(p for p in settings.raw_root.rglob("*") if p.is_file() and "incoming" not in p.parts)


def _assert_clean(runs: list[dict[str, Any]]) -> None:
    for run in runs:
        blob = f"{run['reason']} {run['summary']}"
        assert AUTH_KEY not in blob and PASSWORD not in blob


def test_loaded_then_not_modified(feed: tuple[Feed, str], feed_settings: Settings, db_url: str) -> None:
    state, _ = feed
    run = run_window(feed_settings, flow_run_id="flow-run-1")
    assert isinstance(run, WindowRun)
    assert run.outcome == "loaded" and run.consecutive_failures == 0 and run.reason is None
    assert run.result is not None and run.fetch is not None and run.run_id is not None
    assert run.result.lots_inserted > 0 and run.result.rows_in == 300
    # the file went to the raw store once, by the fetch; the window recorded that key and stored nothing more
    assert run.fetch.raw_key is not None and run.result.raw_key == run.fetch.raw_key
    assert [p.relative_to(feed_settings.raw_root).as_posix() for p in _raw_files(feed_settings)] == [run.fetch.raw_key]
    assert run.fetch.path is not None and not run.fetch.path.exists()  # the temporary download is gone

    with psycopg.connect(db_url) as conn:
        runs = _runs(conn)
        assert len(runs) == 1
        r = runs[0]
        assert r["outcome"] == "loaded" and r["load_id"] == run.result.load_id and r["flow_run_id"] == "flow-run-1"
        assert r["etag"] == state.etag and r["last_modified"] == state.last_modified
        assert r["bytes"] == len(state.body) and r["sha256"] == run.result.file_sha256
        assert r["retryable"] is None and r["reason"] is None and r["seconds"] >= 0
        assert r["summary"]["lots_inserted"] == run.result.lots_inserted
        assert r["summary"]["fetch"]["status"] == "fetched" and AUTH_KEY not in r["summary"]["fetch"]["url"]
        assert conn.execute("SELECT count(*) FROM lots").fetchone() == (run.result.lots_inserted,)
        assert conn.execute("SELECT raw_key FROM raw.csv_files").fetchall() == [(run.fetch.raw_key,)]
        good = last_good(conn)
        assert good is not None and (good.etag, good.bytes, good.sha256) == (state.etag, len(state.body), r["sha256"])
        before = _state(conn)

        # the same file again: the conditional GET gets a 304, nothing is parsed or written but the run
        again = run_window(feed_settings, conn=conn)
        assert again.outcome == "not_modified" and again.result is None and again.consecutive_failures == 0
        assert state.requests[-1]["headers"].get("If-None-Match") == state.etag
        assert _state(conn) == before
        runs = _runs(conn)
        assert [x["outcome"] for x in runs] == ["loaded", "not_modified"]
        assert runs[1]["load_id"] is None and runs[1]["etag"] == state.etag
        assert len(_raw_files(feed_settings)) == 1
        assert not conn.closed  # a caller's connection is left open

        # a server that ignores the conditional request: the same SHA-256 ends the window as skipped
        state.script = ["ignore-304"]
        same = run_window(feed_settings, conn=conn)
        assert same.outcome == "skipped" and same.result is None and same.fetch is not None
        assert same.fetch.status == "unchanged"
        assert _state(conn) == before and len(_raw_files(feed_settings)) == 1
        assert _runs(conn)[-1]["sha256"] == r["sha256"] and consecutive_failures(conn) == 0
        _assert_clean(_runs(conn))


def test_rejected_html_counts_failures_until_a_success(
    feed: tuple[Feed, str], feed_settings: Settings, db_url: str, samples: dict[int, bytes]
) -> None:
    state, _ = feed
    assert run_window(feed_settings).outcome == "loaded"
    with psycopg.connect(db_url) as conn:
        before = _state(conn)
        raw_before = _raw_files(feed_settings)
        for n in (1, 2, 3):
            state.script = ["html"]
            with pytest.raises(RejectedFile) as info:
                run_window(feed_settings, conn=conn)
            run: WindowRun = info.value.window_run  # type: ignore[attr-defined]
            assert run.outcome == "rejected" and run.retryable is False and run.consecutive_failures == n
            assert run.run_id is not None and "html" in (run.reason or "").lower()
            assert consecutive_failures(conn) == n
            assert _state(conn) == before  # every table as it was
            assert _raw_files(feed_settings) == raw_before  # nothing stored
        runs = _runs(conn)
        assert [x["outcome"] for x in runs] == ["loaded", "rejected", "rejected", "rejected"]
        assert all(x["retryable"] is False and x["reason"] and "\n" not in x["reason"] for x in runs[1:])

        # a new file loads and resets the count
        state.serve(samples[12])
        ok = run_window(feed_settings, conn=conn)
        assert ok.outcome == "loaded" and ok.consecutive_failures == 0 and consecutive_failures(conn) == 0
        assert ok.result is not None and ok.result.load_id != runs[0]["load_id"]
        _assert_clean(_runs(conn))


def test_503_is_a_retryable_failure(feed: tuple[Feed, str], feed_settings: Settings, db_url: str) -> None:
    state, _ = feed
    state.script = ["503"]
    with pytest.raises(FetchError) as info:
        run_window(feed_settings)
    assert info.value.retryable and info.value.status == 503
    run: WindowRun = info.value.window_run  # type: ignore[attr-defined]
    assert run.outcome == "failed" and run.retryable is True and run.consecutive_failures == 1
    with psycopg.connect(db_url) as conn:
        runs = _runs(conn)
        assert [(x["outcome"], x["retryable"]) for x in runs] == [("failed", True)]
        assert "503" in runs[0]["reason"] and "authKey=***" in runs[0]["reason"]
        assert conn.execute("SELECT count(*) FROM lots").fetchone() == (0,)
        _assert_clean(runs)
    # the retry succeeds and resets the count
    ok = run_window(feed_settings)
    assert ok.outcome == "loaded" and ok.consecutive_failures == 0


def test_member_login_and_secrets(feed: tuple[Feed, str], feed_settings: Settings, db_url: str) -> None:
    state, base = feed
    settings = replace(feed_settings, feed_url=f"{base}/member/salesdata.csv", feed_login_url=f"{base}/login",
                       feed_username=USERNAME, feed_password=PASSWORD)  # fmt: skip
    assert PASSWORD not in repr(settings) and AUTH_KEY not in repr(feed_settings)
    run = run_window(settings)
    assert run.outcome == "loaded" and state.sessions
    with psycopg.connect(db_url) as conn:
        _assert_clean(_runs(conn))
        for token in state.sessions:
            assert token not in str(_runs(conn))


def test_feed_and_database_are_required(settings: Settings, db_url: str) -> None:
    with pytest.raises(ValueError, match="no feed configured"):
        run_window(replace(settings, database_url=db_url))
    with pytest.raises(ValueError, match="no feed configured"):
        feed_source_from(settings)
    with pytest.raises(ValueError, match="no database"):
        run_window(replace(settings, feed_url="https://example.invalid/salesdata.cgi?authKey=x"))


def test_record_run_rules(db_url: str) -> None:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    with psycopg.connect(db_url) as conn:
        with pytest.raises(ValueError, match="needs a reason"):
            record_run(conn, outcome="failed", started_at=now)
        with pytest.raises(ValueError, match="unknown run outcome"):
            record_run(conn, outcome="exploded", started_at=now, reason="x")
        assert consecutive_failures(conn) == 0 and last_good(conn) is None
        record_run(conn, outcome="failed", started_at=now, reason=f"GET https://h/x?authKey={AUTH_KEY}\nboom",
                   retryable=True)  # fmt: skip
        record_run(conn, outcome="rejected", started_at=now, reason="an HTML page")
        assert consecutive_failures(conn) == 2
        record_run(conn, outcome="not_modified", started_at=now)
        assert consecutive_failures(conn) == 0
        record_run(conn, outcome="failed", started_at=now, reason="down", retryable=True)
        assert consecutive_failures(conn) == 1
        # a flow's retries: the attempts of one flow run are one failed window
        for _ in range(3):
            record_run(conn, outcome="failed", started_at=now, reason="down", retryable=True, flow_run_id="fr-1")
        assert consecutive_failures(conn) == 2
        record_run(conn, outcome="rejected", started_at=now, reason="an HTML page", flow_run_id="fr-2")
        assert consecutive_failures(conn) == 3
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        reasons = [x["reason"] for x in _runs(conn)]
        assert reasons[0] == "GET https://h/x?authKey=*** boom"
    with psycopg.connect(db_url, autocommit=True) as conn:  # committed: another session sees them
        assert conn.execute("SELECT count(*) FROM audit.window_runs").fetchone() == (8,)



S3_ACCESS_KEY = "AKIAVINOPSPIPELINE7"
S3_SECRET_KEY = "vinops-pipeline-s3-secret-" + secrets.token_hex(6)

# prefect-aws (hence Prefect) is imported only in a child process: Prefect fixes its settings (its home) when it
# is first imported, and other tests of the session import it under their own temporary PREFECT_HOME.
_S3_RUN = """
import json, logging, sys
import prefect_aws  # first: importing Prefect configures logging (the root logger's handlers and level)
from vinops.logs import stderr_handler
root = logging.getLogger()
root.addHandler(stderr_handler())
root.setLevel(logging.DEBUG)
from vinops.pipeline import run_window
from vinops.secrets import settings_for_flow
run = run_window(settings_for_flow(), flow_run_id="s3-run")
print(json.dumps(run.to_dict()))
"""


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode on loopback (moto does not import Prefect)."""
    from moto.server import ThreadedMotoServer

    werkzeug = logging.getLogger("werkzeug")
    saved = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(saved)


def test_s3_raw_store_gets_the_file_once(
    s3_endpoint: str, feed_settings: Settings, db_url: str, tmp_path: Path
) -> None:
    """The whole window in a child process configured by environment variables only (``settings_for_flow``, no
    Prefect API): fetched into an S3 bucket on loopback, stored there once (not again by the window)."""
    import json
    import os
    import subprocess
    import sys
    import uuid

    import boto3

    bucket = f"vinops-raw-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id=S3_ACCESS_KEY,
                      aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_", "VINOPS_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"), HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        VINOPS_DATABASE_URL=db_url, VINOPS_FEED_URL=feed_settings.feed_url or "",
        VINOPS_DATA_DIR=str(tmp_path / "data"), VINOPS_RAW_STORE="s3", VINOPS_S3_BUCKET=bucket,
        VINOPS_S3_ENDPOINT_URL=s3_endpoint, VINOPS_S3_REGION="us-east-1", VINOPS_S3_ACCESS_KEY_ID=S3_ACCESS_KEY,
        VINOPS_S3_SECRET_ACCESS_KEY=S3_SECRET_KEY,
    )  # fmt: skip
    out = subprocess.run([sys.executable, "-c", _S3_RUN], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    run = json.loads(out.stdout.strip().splitlines()[-1])
    assert run["outcome"] == "loaded" and run["consecutive_failures"] == 0
    key = run["fetch"]["raw_key"]
    assert key and run["result"]["raw_key"] == key
    objects = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert objects == [f"raw/{key}"]  # stored by the fetch, not a second time by the window
    assert not (tmp_path / "data" / "raw").exists()  # nothing in a local raw store
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT raw_key FROM raw.csv_files").fetchall() == [(key,)]
        assert conn.execute("SELECT outcome, flow_run_id FROM audit.window_runs").fetchall() == [("loaded", "s3-run")]
    for secret in (S3_SECRET_KEY, AUTH_KEY):
        assert secret not in out.stderr and secret not in out.stdout
    assert "GET *** → HTTP 200" in out.stderr, [x for x in out.stderr.splitlines() if "fetch" in x]  # the feed URL was logged, masked (the whole URL is a secret)
