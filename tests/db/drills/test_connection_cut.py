"""Drill 2, connection cut: the real ``vinops ingest`` talks to PostgreSQL through a TCP proxy on loopback
(``tcpproxy.TcpProxy``) that cuts every connection at a chosen point of the window:

``copy``          after a random number of bytes of the binary COPY into staging.lots
``upsert``        as a write statement of the upsert goes out: dropped before the server sees it, or a few
                  milliseconds into its execution
``commit``        the COMMIT dropped on its way to the server
``commit reply``  the COMMIT delivered and executed, its answer dropped (the client cannot know it committed)

Each time the window must fail cleanly: exit 75 (a retry can help) with one ``vinops: error:`` line; the tables
as they were before the window (for a lost COMMIT answer: as before, or as after the whole window, never in
between); no lock, staging row or orphan left. Then the same command through the same proxy completes the
window: the tables equal, row for row, a control database that loaded the same files without a cut.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from cliproc import cli_env, make_windows, run_cli
from rowdigest import Digest, digest, leftovers, rows_lost, wait_for_no_backends
from tcpproxy import TcpProxy

pytestmark = [pytest.mark.db, pytest.mark.timeout(2400 if os.environ.get("VINOPS_DRILL") == "full" else 600)]

#: Rows per window file: the first window is a bulk load (at least vinops.window.bulk.BULK_FK_MIN_ROWS).
ROWS = 12_000
POINTS = ("copy", "upsert", "commit", "commit reply")
#: Statements of the upsert each window sends (sql/window.sql): the first window only inserts.
UPSERT_STATEMENTS = (
    (b"INSERT INTO vehicles (vin", b"INSERT INTO lots (lot_number"),
    (b"INSERT INTO vehicles (vin", b"INSERT INTO lot_events", b"UPDATE lots t\nSET (", b"INSERT INTO lots (lot_number"),
)


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_windows(tmp_path_factory.mktemp("cut-windows"), ROWS, seed=25)


def _upstream(url: str) -> tuple[str, int] | str:
    """Where the server listens: a Unix socket path (the embedded test server) or a TCP address."""
    info = conninfo_to_dict(url)
    host = str(info.get("host") or "/tmp")
    port = int(info.get("port") or 5432)
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


def _state(url: str) -> tuple[Digest, dict[str, int], int]:
    with psycopg.connect(url) as conn:
        still = wait_for_no_backends(conn)
        return digest(conn), {k: v for k, v in leftovers(conn).items() if v}, still


def test_connection_cut(drill, new_db, tmp_path: Path, windows: list[Path]) -> None:  # type: ignore[no-untyped-def]
    runs = drill.runs(len(POINTS), 5 * len(POINTS))
    seed = int(os.environ.get("VINOPS_DRILL_SEED") or 2525)
    rng = random.Random(seed)

    # the control: the migrated database, then after each window
    control = new_db()
    env = cli_env(tmp_path / "control")
    with psycopg.connect(control) as conn:
        want = [digest(conn)]
    for path in windows:
        done = run_cli(["ingest", str(path), "--json", "--database-url", control], env)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(control) as conn:
            want.append(digest(conn))

    problems: list[str] = []
    failed_runs = 0
    lost_total = 0
    cuts: Counter[str] = Counter()
    exits: Counter[int] = Counter()
    committed_before_lost_reply = 0
    copy_bytes: list[int] = []
    for i in range(runs):
        point = POINTS[i % len(POINTS)]
        target = (i // len(POINTS) + i) % len(windows)  # each point on both windows in turn
        url = new_db()
        env = cli_env(tmp_path / f"run-{i}")
        run_problems: list[str] = []
        for path in windows[:target]:
            done = run_cli(["ingest", str(path), "--json", "--database-url", url], env)
            assert done.returncode == 0, done.stderr
        path = windows[target]
        with TcpProxy(_upstream(url)) as proxy:
            via_proxy = make_conninfo(url, host="127.0.0.1", port=str(proxy.port), sslmode="disable")
            if point == "copy":
                after = rng.randint(16 << 10, 1 << 20)
                trigger = proxy.arm(b"COPY staging.lots", "bytes", after_bytes=after)
                copy_bytes.append(after)
                label = "copy"
            elif point == "upsert":
                statement = rng.choice(UPSERT_STATEMENTS[target])
                mode = rng.choice(("before", "delay"))
                trigger = proxy.arm(statement, mode, delay=rng.uniform(0.0, 0.03))
                label = f"upsert {statement.decode().split(' (')[0].split(chr(10))[0].lower()} ({mode})"
            elif point == "commit":
                trigger = proxy.arm(b"COMMIT", "before")
                label = "commit"
            else:
                trigger = proxy.arm(b"COMMIT", "reply")
                label = "commit reply"
            done = run_cli(["ingest", str(path), "--json", "--database-url", via_proxy], env)
            exits[done.returncode] += 1
            cuts[f"{label} · {path.name}"] += 1
            if not trigger.cut.is_set():
                run_problems.append(f"the cut ({label}) never happened; exit {done.returncode}")
            if done.returncode != 75:
                run_problems.append(f"exit {done.returncode} after the cut (want 75): {done.stderr[-500:]}")
            errors = [line for line in done.stderr.splitlines() if line.startswith("vinops: error:")]
            if len(errors) != 1 or "Traceback" in done.stderr:
                run_problems.append(f"not one error line: {done.stderr[-500:]}")
            got, left, still = _state(url)
            if still:
                run_problems.append(f"{still} sessions of the cut window still open")
            if left:
                run_problems.append(f"left behind after the cut: {left}")
            lost_before, diff_before = rows_lost(want[target], got)
            _, diff_after = rows_lost(want[target + 1], got)
            if point == "commit reply" and not diff_after:
                committed_before_lost_reply += 1
            elif diff_before:
                run_problems.append(f"a partial window after the cut (missing, extra rows): {diff_before}")
                lost_total += lost_before
            # the next run, through the same proxy (now passing everything), completes the window
            proxy.disarm()
            done = run_cli(["ingest", str(path), "--json", "--database-url", via_proxy], env)
            if done.returncode != 0:
                run_problems.append(f"the rerun exited {done.returncode}: {done.stderr[-500:]}")
            elif json.loads(done.stdout)["skipped"] and diff_after:
                run_problems.append("the rerun was skipped but the window had not committed")
        for later in windows[target + 1 :]:
            done = run_cli(["ingest", str(later), "--json", "--database-url", url], env)
            if done.returncode != 0:
                run_problems.append(f"{later.name} after the rerun exited {done.returncode}: {done.stderr[-500:]}")
        got, left, _ = _state(url)
        if left:
            run_problems.append(f"left behind after the rerun: {left}")
        lost, diff = rows_lost(want[-1], got)
        lost_total += lost
        if diff:
            run_problems.append(f"tables differ from the control after the rerun (missing, extra rows): {diff}")
        if run_problems:
            failed_runs += 1
            problems += [f"run {i} ({label}, {path.name}): {p}" for p in run_problems]

    drill.record(
        runs=runs,
        failures=failed_runs,
        rows_lost=lost_total,
        seed=seed,
        rows_per_window=ROWS,
        cuts=dict(sorted(cuts.items())),
        exit_codes=dict(sorted(exits.items())),
        committed_before_lost_reply=committed_before_lost_reply,
        copy_bytes_before_cut=sorted(copy_bytes),
    )
    assert failed_runs == 0, "\n".join(problems)
    assert lost_total == 0
