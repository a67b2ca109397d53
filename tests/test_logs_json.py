"""``VINOPS_LOG_FORMAT=json``: the command line writes one JSON object per line on stderr (time, level, logger,
message, load_id, stage, seconds and the record's other extras), masked like the human-readable lines; the
default stays human-readable. Real processes: ``vinops serve`` against a database on a closed port, and
``vinops ingest`` against a PostgreSQL started for the test."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from vinops.logs import JsonFormatter, MaskSecrets, add_secret

DB_PASSWORD = "db-" + secrets.token_hex(8)
FEED_KEY = "fk-" + secrets.token_hex(12)
FIELDS = ("time", "level", "logger", "message", "load_id", "stage", "seconds")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VINOPS_", "PREFECT_"))}
    env.update(VINOPS_DATA_DIR=str(tmp_path / "data"), PREFECT_HOME=str(tmp_path / "prefect"),
               VINOPS_FEED_URL=f"https://feed.example/FTPLSTDM/salesdata.cgi?authKey={FEED_KEY}", **extra)  # fmt: skip
    return env


def _vinops(*args: str) -> list[str]:
    return [sys.executable, "-m", "vinops.cli", *args]


def _json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]  # every line is one object
    for r in records:
        assert list(r)[: len(FIELDS)] == list(FIELDS), r
    return records


def _serve_and_ask(env: dict[str, str]) -> str:
    """``vinops -vv serve --port 0``: ask /health and /metrics, stop it with SIGTERM; its stderr."""
    proc = subprocess.Popen(_vinops("-vv", "serve", "--port", "0", "--connect-timeout", "1"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("vinops serve: http://127.0.0.1:"), first
        base = first.split()[2].removesuffix("/health")
        assert httpx.get(f"{base}/health", headers={"Accept": "application/json"}, timeout=30).status_code == 503
        assert httpx.get(f"{base}/metrics", timeout=30).status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    return err


def test_serve_logs_json_lines_and_masks_secrets(tmp_path: Path) -> None:
    url = f"postgresql://vinops:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/vinops"
    err = _serve_and_ask(_env(tmp_path, VINOPS_DATABASE_URL=url, VINOPS_LOG_FORMAT="json"))
    assert DB_PASSWORD not in err and FEED_KEY not in err
    records = _json_lines(err)
    # the database the command line chose (debug), masked
    assert any(r["message"] == "database: postgresql://vinops:***@127.0.0.1:" + url.rsplit(":", 1)[1]
               for r in records), records  # fmt: skip
    # each request: stage, seconds and the status as extras
    requests = [r for r in records if r["logger"] == "vinops.web.server" and r["stage"] == "http"]
    assert {r["message"] for r in requests} == {"GET /health 503", "GET /metrics 200"}
    assert all(isinstance(r["seconds"], float) and r["status"] in (200, 503) for r in requests)
    assert all(r["load_id"] is None for r in requests)
    warning = next(r for r in records if r["level"] == "WARNING")
    assert "could not be read" in warning["message"] and warning["time"].endswith("+00:00")

    # the default: human-readable lines, masked the same way
    err = _serve_and_ask(_env(tmp_path, VINOPS_DATABASE_URL=url))
    assert DB_PASSWORD not in err and "vinops:***@127.0.0.1" in err
    assert not err.lstrip().startswith("{") and " INFO vinops.web.server: GET /health 503" in err


def test_ingest_logs_its_stages_as_json(tmp_path: Path) -> None:
    from vinops.db import _pgserver

    base = Path(tempfile.mkdtemp(prefix="vinops-pg-logs-"))
    server = _pgserver().get_server(base / "data", cleanup_mode="delete")
    try:
        url = str(server.get_uri())
        env = _env(tmp_path, VINOPS_DATABASE_URL=url, VINOPS_LOG_FORMAT="json",
                   VINOPS_S3_ACCESS_KEY_ID="AKIATEST1234", VINOPS_S3_SECRET_ACCESS_KEY="s3-" + secrets.token_hex(16))  # fmt: skip
        sample = tmp_path / "salesdata.csv"
        subprocess.run(_vinops("sample", "--rows", "200", "--seed", "5", str(sample)), env=env, check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run(_vinops("db", "migrate"), env=env, check=True, capture_output=True)
        done = subprocess.run(_vinops("-v", "ingest", str(sample), "--json"), env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        load_id = json.loads(done.stdout)["load_id"]
        records = _json_lines(done.stderr)
        stages = [r for r in records if r["logger"] == "vinops.window.load" and r["load_id"] == load_id]
        assert {"plan", "window"} <= {r["stage"] for r in stages}, records
        assert all(isinstance(r["seconds"], (int, float)) for r in stages if r["stage"] == "window")
        assert env["VINOPS_S3_SECRET_ACCESS_KEY"] not in done.stderr and FEED_KEY not in done.stderr
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def test_json_formatter_masks_extras_and_tracebacks() -> None:
    secret = "reg-" + secrets.token_hex(8)
    add_secret(secret)
    record = logging.LogRecord("vinops.fetch", logging.ERROR, __file__, 1, "fetch of %s failed", (secret,), None)
    record.url = f"https://feed.example/salesdata.cgi?authKey={FEED_KEY}"
    record.headers = {"Cookie": "sess=abc123", "Accept": "text/csv"}
    record.attempt = 2
    try:
        raise RuntimeError(f"postgresql://u:{DB_PASSWORD}@db/x")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    MaskSecrets().filter(record)
    line = JsonFormatter().format(record)
    out = json.loads(line)
    assert "\n" not in line and secret not in line and FEED_KEY not in line and DB_PASSWORD not in line
    assert out["message"] == "fetch of *** failed" and out["url"].endswith("authKey=***")
    assert out["headers"] == {"Cookie": "***", "Accept": "text/csv"} and out["attempt"] == 2
    assert out["load_id"] is None and "RuntimeError: postgresql://u:***@db/x" in out["exception"]
