"""Drill 3, overlap: windows started together must take turns, never load beside each other.

* two ``vinops ingest`` of the same file: one loads, the other waits for the ingest lock, then finds the file
  loaded and skips it;
* two ``vinops ingest`` of two successive files: both load, one after the other; the tables equal a control
  that loaded the files in the order the two got the lock;
* ``vinops ingest`` and ``vinops run`` (the copart-window flow against the session's Prefect API, the feed on a
  loopback HTTP server serving the same file): one loads, the other skips;
* two ``vinops db migrate`` on an empty database: every migration applied once, no error, the database equal
  to one migrated alone.

So that the two really overlap, the test holds the lock they take (``pg_advisory_lock`` of
``vinops.db.INGEST_LOCK`` or ``MIGRATE_LOCK`` in that database) until both wait for it in ``pg_locks``, then lets
go: they race for it. Half the migrate pairs start with no lock held (a plain simultaneous start). A deadlock
would hang: each child has a timeout, and pytest-timeout guards the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from cliproc import cli_env, make_windows, run_cli, vinops_bin
from rowdigest import Digest, digest, leftovers, rows_lost

from vinops.db import INGEST_LOCK, MIGRATE_LOCK, migrations

pytestmark = [pytest.mark.db, pytest.mark.timeout(1800 if os.environ.get("VINOPS_DRILL") == "full" else 600)]

ROWS = 3_000
FEED_KEY = "overlap-drill-key"


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_windows(tmp_path_factory.mktemp("overlap-windows"), ROWS, seed=35)


@pytest.fixture
def empty_databases(pg_server_url: str) -> Iterator[Callable[[], str]]:
    """Factory: a new database with nothing in it (dropped after the test)."""
    made: list[str] = []

    def make() -> str:
        name = f"vinops_e_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return make_conninfo(pg_server_url, dbname=name)

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class _Feed(BaseHTTPRequestHandler):
    """The tokenized feed address, serving one file."""

    protocol_version = "HTTP/1.1"
    body = b""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request line holds the key
        pass

    def do_GET(self) -> None:  # noqa: N802
        ok = self.path == f"/FTPLSTDM/salesdata.cgi?authKey={FEED_KEY}"
        body = self.body if ok else b"forbidden"
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/octet-stream" if ok else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Held:
    """A session holding one advisory lock in a database, until :meth:`release`."""

    def __init__(self, url: str, key: int) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.key = key
        self.conn.execute("SELECT pg_advisory_lock(%s)", (key,))

    def waiters(self) -> int:
        return int(self.conn.execute(
            """SELECT count(*) FROM pg_locks
               WHERE locktype = 'advisory' AND NOT granted
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
        ).fetchone()[0])  # type: ignore[index]  # fmt: skip

    def wait_for_waiters(self, n: int, procs: list[subprocess.Popen[str]], limit: float = 180) -> int:
        """Wait until ``n`` sessions wait for a lock (or a child ended, or ``limit`` seconds); the count seen."""
        deadline = time.monotonic() + limit
        while True:
            seen = self.waiters()
            if seen >= n or any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)

    def release(self) -> None:
        self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self.conn.close()


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([vinops_bin(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 300) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


def _load_order(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT source_name FROM raw.csv_files ORDER BY load_id").fetchall()]


def test_overlap(drill, new_db, empty_databases, prefect_api: str, prefect_home: Path,  # type: ignore[no-untyped-def]
                 tmp_path: Path, windows: list[Path]) -> None:  # fmt: skip
    pairs = drill.runs(1, 2)  # ingest pairs of each kind
    flow_pairs = drill.runs(1, 3)
    migrate_pairs = drill.runs(2, 10)
    runs = 2 * pairs + flow_pairs + migrate_pairs
    problems: list[str] = []
    failed: set[str] = set()
    lost_total = 0
    outcomes: Counter[str] = Counter()
    most_waiting = 0
    controls: dict[tuple[str, ...], Digest] = {}

    def control_for(order: list[str]) -> Digest:
        """The tables after loading these files, one after the other, alone."""
        key = tuple(order)
        if key not in controls:
            url = new_db()
            env = cli_env(tmp_path / f"control-{len(controls)}")
            for name in order:
                done = run_cli(["ingest", name, "--json", "--database-url", url], env)
                assert done.returncode == 0, done.stderr
            with psycopg.connect(url) as conn:
                controls[key] = digest(conn)
        return controls[key]

    def check_tables(run: str, url: str, order: list[str], *, by_file: bool = True) -> None:
        """Equal to the control, and nothing left behind. ``by_file=False``: a window the flow loaded names its
        download and the raw key of its fetch time in ``raw.csv_files``; that table is then only counted."""
        nonlocal lost_total
        with psycopg.connect(url) as conn:
            left = {k: v for k, v in leftovers(conn).items() if v}
            got = digest(conn)
        if left:
            problems.append(f"{run}: left behind: {left}")
            failed.add(run)
        want = control_for(order)
        if not by_file:
            files = got.rows.pop("raw.csv_files")
            want = Digest({k: v for k, v in want.rows.items() if k != "raw.csv_files"})
            if sum(files.values()) != len(order):
                problems.append(f"{run}: {sum(files.values())} rows in raw.csv_files, want {len(order)}")
                failed.add(run)
        lost, diff = rows_lost(want, got)
        lost_total += lost
        if diff:
            problems.append(f"{run}: tables differ from loading {order} alone (missing, extra rows): {diff}")
            failed.add(run)

    # -- two vinops ingest at once: the same file, then two successive files
    for i in range(pairs):
        for kind in ("same file", "two files"):
            run = f"ingest + ingest, {kind} #{i}"
            files = [windows[0], windows[0]] if kind == "same file" else list(windows)
            url = new_db()
            env = cli_env(tmp_path / f"pair-{kind.replace(' ', '-')}-{i}")
            held = _Held(url, INGEST_LOCK)
            procs = [_start(["ingest", str(f), "--json", "--database-url", url], env) for f in files]
            waiting = held.wait_for_waiters(2, procs)
            most_waiting = max(most_waiting, waiting)
            held.release()
            results = _finish(procs)
            if waiting < 2:
                problems.append(f"{run}: only {waiting} waited for the ingest lock")
                failed.add(run)
            if any(code != 0 for code, _, _ in results):
                problems.append(f"{run}: exits {[c for c, _, _ in results]}: {[e[-300:] for _, _, e in results]}")
                failed.add(run)
                continue
            skipped = sorted(json.loads(out)["skipped"] for _, out, _ in results)
            want = [False, True] if kind == "same file" else [False, False]
            outcomes[f"{kind}: " + " + ".join("skipped" if s else "loaded" for s in skipped)] += 1
            if skipped != want:
                problems.append(f"{run}: skipped flags {skipped}, want {want}")
                failed.add(run)
            check_tables(run, url, _load_order(url))

    # -- vinops ingest and the copart-window flow (vinops run) at once, the same file
    _Feed.body = windows[0].read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    feed_url = f"http://127.0.0.1:{server.server_address[1]}/FTPLSTDM/salesdata.cgi?authKey={FEED_KEY}"
    try:
        for i in range(flow_pairs):
            run = f"ingest + flow #{i}"
            url = new_db()
            env = cli_env(tmp_path / f"flow-{i}", VINOPS_FEED_URL=feed_url, PREFECT_API_URL=prefect_api,
                          PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false")  # fmt: skip
            held = _Held(url, INGEST_LOCK)
            procs = [
                _start(["ingest", str(windows[0]), "--json", "--database-url", url], env),
                _start(["run", "--json", "--database-url", url], env),
            ]
            waiting = held.wait_for_waiters(2, procs)
            most_waiting = max(most_waiting, waiting)
            held.release()
            (c1, out1, err1), (c2, out2, err2) = _finish(procs)
            if waiting < 2:
                problems.append(f"{run}: only {waiting} waited for the ingest lock")
                failed.add(run)
            if c1 != 0 or c2 != 0:
                problems.append(f"{run}: exits {c1}, {c2}: {err1[-300:]} | {err2[-500:]}")
                failed.add(run)
                continue
            cli = "skipped" if json.loads(out1)["skipped"] else "loaded"
            flow = json.loads(out2)["outcome"]
            outcomes[f"ingest {cli} + flow {flow}"] += 1
            if sorted([cli, flow]) != ["loaded", "skipped"]:
                problems.append(f"{run}: ingest {cli}, flow {flow}: want one loaded and one skipped")
                failed.add(run)
            check_tables(run, url, [str(windows[0])], by_file=cli == "loaded")
    finally:
        server.shutdown()
        server.server_close()

    # -- two vinops db migrate at once on an empty database
    reference = new_db()
    with psycopg.connect(reference) as conn:
        migrated = digest(conn)
    versions = [m.version for m in migrations()]
    for i in range(migrate_pairs):
        run = f"migrate + migrate #{i}"
        url = empty_databases()
        env = cli_env(tmp_path / f"migrate-{i}")
        held = _Held(url, MIGRATE_LOCK) if i % 2 == 0 else None
        procs = [_start(["db", "migrate", "--json", "--database-url", url], env) for _ in range(2)]
        if held is not None:
            waiting = held.wait_for_waiters(2, procs)
            most_waiting = max(most_waiting, waiting)
            held.release()
            if waiting < 2:
                problems.append(f"{run}: only {waiting} waited for the migration lock")
                failed.add(run)
        results = _finish(procs)
        if any(code != 0 for code, _, _ in results):
            problems.append(f"{run}: exits {[c for c, _, _ in results]}: {[e[-300:] for _, _, e in results]}")
            failed.add(run)
            continue
        applied = sorted(len(json.loads(out)["applied"]) for _, out, _ in results)
        outcomes[f"migrate: applied {applied[0]} + {applied[1]}"] += 1
        with psycopg.connect(url) as conn:
            rows = [r[0] for r in conn.execute("SELECT version FROM public.vinops_migrations ORDER BY version").fetchall()]
            got = digest(conn)
        if rows != versions or applied != [0, len(versions)]:
            problems.append(f"{run}: versions recorded {rows}, applied per process {applied}; want {versions} once")
            failed.add(run)
        lost, diff = rows_lost(migrated, got)
        lost_total += lost
        if diff:
            problems.append(f"{run}: differs from a database migrated alone (missing, extra rows): {diff}")
            failed.add(run)

    drill.record(
        runs=runs,
        failures=len(failed),
        rows_lost=lost_total,
        rows_per_window=ROWS,
        outcomes=dict(sorted(outcomes.items())),
        most_waiting_at_once=most_waiting,
    )
    assert not failed, "\n".join(problems)
    assert lost_total == 0
