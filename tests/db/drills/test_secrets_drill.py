"""Drill 8, secrets: with a feed key, a member password, the session cookies the login sets and a database
password all in use, run a failing and a succeeding window (``vinops -vv run``: the copart-window flow in
Prefect's ephemeral mode, DEBUG logs, httpx's and httpcore's included), and a photo run (``vinops -vv images``),
then search for every secret, verbatim and URL-encoded:

* every line the commands wrote (stdout and stderr; JSON log lines too when ``VINOPS_LOG_FORMAT=json`` exists);
* every file they wrote: the raw store, the photo store, Prefect's home (its database holds the flow runs' logs
  and artifacts);
* every row of every table of the database (``audit.window_runs`` reasons and summaries, ``raw.csv_files``,
  ``audit.ingest_errors``, ``photo_checks`` …);
* the text of the errors raised in process by a failing window;
* the Helm chart rendered with values that reference the Secrets (helm/vinops).

The database password is real: a role created for the drill whose connections the server checks with
SCRAM (a line for that role alone at the top of pg_hba.conf; a wrong password is refused)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import psycopg
import pytest
from drillfeed import LOGIN_PAGE, Answer, feed_server
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from vinops.config import Settings
from vinops.errors import IngestError
from vinops.pipeline import run_window
from vinops.sample import write_sample

pytestmark = pytest.mark.timeout(1200)

REPO = Path(__file__).resolve().parents[3]
FEED_KEY = "drill8-key-" + secrets.token_hex(12)
FEED_PASSWORD = "drill8-pw-" + secrets.token_hex(8) + " &z%"
DB_PASSWORD = "drill8-db-" + secrets.token_hex(12)
USERNAME = "member-808"


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)}


@pytest.fixture
def db_role(pg_server_url: str, db_url: str) -> Iterator[tuple[str, str]]:
    """A login role with a password, checked by the server (SCRAM) for this role; yields (role, its URL)."""
    role = "drill8_" + secrets.token_hex(4)
    info = conninfo_to_dict(db_url)
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(sql.Identifier(role),
                                                                                   sql.Literal(DB_PASSWORD)))  # fmt: skip
        hba = Path(admin.execute("SHOW hba_file").fetchone()[0])  # type: ignore[index]
        saved = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\nhost all {role} 127.0.0.1/32 scram-sha-256\n" + saved)
        admin.execute("SELECT pg_reload_conf()")
    host = info.get("host") or "127.0.0.1"
    port = info.get("port") or "5432"
    url = f"postgresql://{role}:{quote(DB_PASSWORD, safe='')}@/{info['dbname']}?host={quote(host, safe='')}&port={port}"
    try:
        yield role, url
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            hba.write_text(saved)
            admin.execute("SELECT pg_reload_conf()")
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _child_env(tmp: Path, db: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VINOPS_", "PREFECT_", "PG"))}
    env.update(HOME=str(tmp), VINOPS_DATA_DIR=str(tmp / "data"), VINOPS_DATABASE_URL=db,
               PREFECT_HOME=str(tmp / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", **extra)  # fmt: skip
    return env


def _vinops(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "vinops"
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=600)


def _with_image_urls(sample: bytes, base: str) -> bytes:
    """The sample with every lot's Image URL pointing at the loopback lot-images API."""
    head, *rows = sample.rstrip(b"\n").split(b"\n")
    names = head[1:-1].split(b'","')
    i_url, i_lot = names.index(b"Image URL"), names.index(b"Lot number")
    out = [head]
    for row in rows:
        f = row[1:-1].split(b'","')
        f[i_url] = f"{base}/v1/lotImages/{int(f[i_lot])}".encode()
        out.append(b'"' + b'","'.join(f) + b'"')
    return b"\n".join(out) + b"\n"


def _database_text(pg_server_url: str, dbname: str) -> str:
    """Every row of every table of the database, as text."""
    parts = []
    with psycopg.connect(psycopg.conninfo.make_conninfo(pg_server_url, dbname=dbname)) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(schema, table))).fetchall()
            parts.append(f"{schema}.{table}: " + "\n".join(r[0] for r in rows))
    return "\n".join(parts)


def _helm_render(base: str) -> str:
    """helm/vinops rendered with values that reference the Secrets (names and keys only)."""
    import helm_python

    values = {
        "config": {"feedLoginUrl": f"{base}/login"},
        "secrets": {name: {"name": f"vinops-{name.lower()}", "key": "value"}
                    for name in ("databaseUrl", "feedUrl", "feedUsername", "feedPassword", "s3AccessKeyId",
                                 "s3SecretAccessKey")},
    }  # fmt: skip
    with helm_python.Chart.load(REPO / "helm" / "vinops") as chart:
        manifests = chart.render(values, name="vinops", namespace="vinops", is_install=True)
    return "\n".join(manifests.values())


def test_secrets(drill: Any, db_role: tuple[str, str], db_url: str, pg_server_url: str, settings: Settings,
                       tmp_path: Path) -> None:  # fmt: skip
    role, role_url = db_role
    wrong = role_url.replace(quote(DB_PASSWORD, safe=""), "not-the-password")
    with pytest.raises(psycopg.OperationalError):  # the password is checked: it is a real secret
        psycopg.connect(wrong).close()
    with psycopg.connect(role_url) as c:
        assert c.execute("SELECT current_user").fetchone() == (role,)

    json_logs = False
    try:
        from vinops.logs import JsonFormatter  # noqa: F401 - only whether it exists

        json_logs = True
    except ImportError:
        pass

    texts: dict[str, str] = {}
    runs = 0
    with feed_server(FEED_KEY, USERNAME, FEED_PASSWORD) as (state, base):
        sample_path = tmp_path / "sample.csv"
        write_sample(sample_path, rows=300, seed=808)
        good = _with_image_urls(sample_path.read_bytes(), base)
        key_url = f"{base}/FTPLSTDM/salesdata.cgi?authKey={FEED_KEY}"
        raw = str(tmp_path / "data" / "raw")
        key_env = _child_env(tmp_path, role_url, VINOPS_FEED_URL=key_url, VINOPS_RAW_DIR=raw)
        login_env = _child_env(tmp_path, role_url, VINOPS_FEED_URL=f"{base}/member/salesdata.csv",
                               VINOPS_FEED_LOGIN_URL=f"{base}/login", VINOPS_FEED_USERNAME=USERNAME,
                               VINOPS_FEED_PASSWORD=FEED_PASSWORD, VINOPS_RAW_DIR=raw)  # fmt: skip
        if json_logs:
            login_env["VINOPS_LOG_FORMAT"] = "json"

        # 1. a failing window: an HTML page with status 200 (rejected, exit 2)
        state.serve(Answer(LOGIN_PAGE, "text/html; charset=utf-8"))
        out = _vinops(["-vv", "run", "--json"], key_env)
        runs += 1
        texts["run rejected (key)"] = out.stdout + out.stderr
        assert out.returncode == 2, out.stderr[-3000:]

        # 2. a succeeding window in login mode (cookie session)
        state.serve(Answer(good))
        out = _vinops(["-vv", "run", "--json"], login_env)
        runs += 1
        texts["run loaded (login)"] = out.stdout + out.stderr
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout)["outcome"] == "loaded" and state.sessions
        # 3. a photo run
        photo_env = dict(login_env, VINOPS_PHOTO_DIR=str(tmp_path / "data" / "photos"), VINOPS_PHOTOS_RATE="1000",
                         VINOPS_PHOTOS_BURST="1000")  # fmt: skip
        out = _vinops(["-vv", "images", "--lots", "20", "--json"], photo_env)
        runs += 1
        texts["images"] = out.stdout + out.stderr
        assert out.returncode == 0, out.stderr[-3000:]
        assert json.loads(out.stdout)["photos_stored"] > 0

        # 4. a failing window in process: the error's text, its repr and its recorded run
        state.serve(Answer(LOGIN_PAGE, "application/octet-stream"))
        s = replace(settings, database_url=role_url, feed_url=f"{base}/member/salesdata.csv",
                    feed_login_url=f"{base}/login", feed_username=USERNAME, feed_password=FEED_PASSWORD)  # fmt: skip
        with pytest.raises(IngestError) as info:
            run_window(s)
        runs += 1
        err = info.value
        texts["in-process error"] = f"{err}\n{err!r}\n{getattr(err, 'window_run', None)!r}\n{err.__cause__!r}"
        cookies = set(state.sessions)

    # every file written under the drill's folder (raw store, photos, Prefect's home and database)
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.name != "sample.csv"):
        texts[f"file {path.relative_to(tmp_path)}"] = path.read_bytes().decode("latin-1")
    texts["database"] = _database_text(pg_server_url, conninfo_to_dict(db_url)["dbname"])
    if (REPO / "helm" / "vinops" / "Chart.yaml").is_file():
        texts["helm render"] = _helm_render("http://feed.example")

    secret_values = {"feed key": FEED_KEY, "feed password": FEED_PASSWORD, "database password": DB_PASSWORD,
                     **{f"cookie {i}": c for i, c in enumerate(sorted(cookies))}}  # fmt: skip
    found = []
    for label, secret in secret_values.items():
        for form in _forms(secret):
            for where, text in texts.items():
                if form in text:
                    found.append(f"{label} in {where}")
    drill.record(runs=runs, failures=len(found), rows_lost=0, secrets=len(secret_values),
                 places_searched=len(texts), json_logs=json_logs, helm_rendered="helm render" in texts)  # fmt: skip
    # The search reached what it must: masked lines, the flow runs' records in Prefect's database, the windows'
    # rows in PostgreSQL (a leak there would have been found).
    assert "***" in texts["run loaded (login)"] or "***" in texts["run rejected (key)"]
    assert any(k.startswith("file prefect-home/") and "copart-window" in v for k, v in texts.items()), sorted(texts)[:20]
    assert "rejected" in texts["database"] and "loaded" in texts["database"]  # audit.window_runs
    assert not found, "\n".join(sorted(set(found)))
