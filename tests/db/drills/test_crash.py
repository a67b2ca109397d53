"""Drill 1, crash: the real ``vinops ingest`` killed with SIGKILL at a chosen stage of a window (parse, COPY,
upsert, completion, raw store, commit) and ``vinops images`` killed in the middle of a photo run, then run
again: the database must equal, row for row (``rowdigest.digest``), a control database that went through the
same windows without a kill; nothing left behind (advisory locks, staging rows or tables, orphan rows), the
raw store holding the same keys, every ``images`` row's photo in the store.

The moment: the child's ``-v`` stage lines are read as they come; once the chosen stage's line appears, a
random delay (up to that stage's length in the control run of the same file), then SIGKILL. The stage recorded
is the last one the child announced before it died ("after exit" when it finished first). The killed window
alternates between the first (a bulk load into empty tables) and the next (changed, new and vanished lots,
completion marking some PENDING_RESULT); the photo run is killed after a random number of answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from photohost import SEQUENCES, PhotoServer
from rowdigest import digest, leftovers, rows_lost, wait_for_no_backends
from cliproc import Cli, cli_env, make_windows, run_cli

pytestmark = [pytest.mark.db, pytest.mark.timeout(2400 if os.environ.get("VINOPS_DRILL") == "full" else 600)]

#: Rows per window file: at least vinops.window.bulk.BULK_FK_MIN_ROWS, so the first window is a bulk load.
ROWS = 12_000
#: Lots given photos in the photo runs (each: the API answer + SEQUENCES × (_ful, _thb)).
PHOTO_LOTS = 30
#: Kinds of kill, in turn; the short form does each once, the full form three times.
KINDS = ("parse", "copy", "upsert", "completion", "raw store", "commit", "photos")
#: The log line each moment waits for, and the stages (keys of the window's ``seconds``) the random delay after
#: it may span: up to their length in the control run of the same file, so most kills land inside the stage.
MOMENTS = {
    "parse": (r"vinops\.window\.load: file .* bytes, sha256", ("parse", "copy")),
    "copy": (r"load \d+: copy$", ("copy",)),
    "plan": (r"load \d+: plan$", ("plan",)),
    "write": (r"load \d+: write$", ("bulk",)),
    "vehicles": (r"load \d+: vehicles$", ("vehicles",)),
    "lots": (r"load \d+: lots$", ("lots",)),
    "completion": (r"load \d+: completion$", ("completion",)),
    "raw store": (r"load \d+: raw store$", ("raw_store",)),
    "commit": (r"load \d+: commit$", ("commit",)),
}
UPSERT = ("plan", "write", "vehicles", "lots")


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_windows(tmp_path_factory.mktemp("crash-windows"), ROWS, seed=15)


@pytest.fixture
def clone(pg_server_url: str) -> Iterator[Callable[[str], str]]:
    """Factory: a new database copied from the database of a URL (no session may be connected to it)."""
    made: list[str] = []

    def make(url: str) -> str:
        name = f"vinops_c_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg_server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(conninfo_to_dict(url)["dbname"])
                )
            )
        made.append(name)
        return make_conninfo(pg_server_url, dbname=name)

    yield make
    with psycopg.connect(pg_server_url, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _ingest(path: Path, url: str, env: dict[str, str]) -> dict[str, float]:
    """A window without a kill; its seconds per stage."""
    done = run_cli(["ingest", str(path), "--json", "--database-url", url], env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)["seconds"])


def _raw_keys(folder: Path) -> list[str]:
    root = folder / "raw"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts)


def _give_photos(url: str, server: PhotoServer) -> None:
    """The PHOTO_LOTS ACTIVE lots with the highest numbers get the server's lot-images address; every other lot
    none (no photo run may reach past loopback, and every run covers exactly these lots)."""
    with psycopg.connect(url) as conn:
        lots = [r[0] for r in conn.execute(
            "SELECT lot_number FROM lots WHERE status = 'ACTIVE' ORDER BY lot_number DESC LIMIT %s", (PHOTO_LOTS,)
        ).fetchall()]  # fmt: skip
        conn.execute("UPDATE lots SET image_url = NULL WHERE image_url IS NOT NULL")
        for lot in lots:
            conn.execute("UPDATE lots SET image_url = %s WHERE lot_number = %s", (server.image_url(lot), lot))


def _photo_problems(url: str, store: Path) -> list[str]:
    """Every images row's key is a file in the store whose bytes have the row's SHA-256."""
    problems = []
    with psycopg.connect(url) as conn:
        for key, sha in conn.execute("SELECT storage_key, content_sha256 FROM images").fetchall():
            path = store / key
            if not path.is_file():
                problems.append(f"images row without its photo: {key}")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != sha:
                problems.append(f"photo with other bytes than its row says: {key}")
    return problems


def _temp_files(folder: Path) -> tuple[int, int]:
    """Temporary files a killed process left: in the raw store's ``.incoming/`` (swept after a day by the next
    window's retention) and ``.incoming-*`` files in the photo store (never swept)."""
    raw = folder / "raw" / ".incoming"
    photos = folder / "photos"
    return (
        sum(1 for _ in raw.iterdir()) if raw.is_dir() else 0,
        sum(1 for _ in photos.rglob(".incoming-*")) if photos.is_dir() else 0,
    )


def test_crash(drill, new_db, clone, tmp_path: Path, windows: list[Path]) -> None:  # type: ignore[no-untyped-def]
    runs = drill.runs(len(KINDS), 3 * len(KINDS))
    seed = int(os.environ.get("VINOPS_DRILL_SEED") or 1515)
    rng = random.Random(seed)
    server = PhotoServer(delay=0.004)
    photo_env = {"VINOPS_PHOTOS_RATE": "100000", "VINOPS_PHOTOS_BURST": "100000"}
    try:
        # the control: both windows without a kill, then (on a copy) the photo run
        control_dir = tmp_path / "control"
        control_env = cli_env(control_dir, **photo_env)
        control = new_db()
        stage_seconds = [_ingest(path, control, control_env) for path in windows]
        with psycopg.connect(control) as conn:
            want_windows = digest(conn)
            control_left = leftovers(conn)
        assert not any(control_left.values()), control_left
        control_keys = _raw_keys(control_dir)
        with_photos = clone(control)
        _give_photos(with_photos, server)
        done = run_cli(["images", "--lots", "1000", "--json", "--database-url", with_photos], control_env)
        assert done.returncode == 0, done.stderr
        with psycopg.connect(with_photos) as conn:
            want_photos = digest(conn)
        assert sum(want_photos.rows["public.images"].values()) == PHOTO_LOTS * SEQUENCES * 2
        photo_requests = PHOTO_LOTS * (1 + 2 * SEQUENCES)

        moments: Counter[str] = Counter()
        kill_targets: Counter[str] = Counter()
        problems: list[str] = []
        lost_total = 0
        failed_runs = 0
        temp_left = Counter[str]()
        for i in range(runs):
            kind = KINDS[i % len(KINDS)]
            folder = tmp_path / f"run-{i}"
            env = cli_env(folder, **photo_env)
            run_problems: list[str] = []
            if kind == "photos":
                url = clone(control)
                _give_photos(url, server)
                after = rng.randint(3, photo_requests - 5)
                start = server.requests
                cli = Cli(["images", "--lots", "1000", "--json", "--database-url", url], env)
                while server.requests - start < after and cli.proc.poll() is None:
                    time.sleep(0.002)
                killed = cli.kill()
                cli.finish()
                moments[f"photos after {after // 50 * 50}-{after // 50 * 50 + 49} requests" if killed else "photos after exit"] += 1
                done = run_cli(["images", "--lots", "1000", "--json", "--database-url", url], env)
                if done.returncode != 0:
                    run_problems.append(f"the photo rerun exited {done.returncode}: {done.stderr[-500:]}")
                want = want_photos
                run_problems += _photo_problems(url, folder / "photos")
            else:
                url = new_db()
                target = i % len(windows)  # the kinds alternate between the first and the next window
                moment = rng.choice(UPSERT) if kind == "upsert" else kind
                pattern, spans = MOMENTS[moment]
                max_delay = sum(stage_seconds[target].get(k, 0.0) for k in spans)
                for j, path in enumerate(windows):
                    if j != target:
                        _ingest(path, url, env)
                        continue
                    cli = Cli(["ingest", str(path), "--json", "--database-url", url], env)
                    line = cli.wait_for(pattern)
                    if line is not None:
                        time.sleep(rng.uniform(0, max_delay))
                    stage = cli.last_stage()
                    killed = cli.kill()
                    code, _, err = cli.finish()
                    if not killed and code != 0:
                        run_problems.append(f"{path.name} exited {code} before the kill: {err[-500:]}")
                    moments[stage if killed and stage else "after exit"] += 1
                    kill_targets[path.name] += 1
                    done = run_cli(["ingest", str(path), "--json", "--database-url", url], env)
                    if done.returncode != 0:
                        run_problems.append(f"the rerun of {path.name} exited {done.returncode}: {done.stderr[-500:]}")
                want = want_windows
                keys = _raw_keys(folder)
                if keys != control_keys:
                    run_problems.append(f"raw store keys {keys}, the control has {control_keys}")
            with psycopg.connect(url) as conn:
                still = wait_for_no_backends(conn)
                if still:
                    run_problems.append(f"{still} sessions of the killed process still open")
                left = {k: v for k, v in leftovers(conn).items() if v}
                got = digest(conn)
            if left:
                run_problems.append(f"left behind: {left}")
            lost, diff = rows_lost(want, got)
            lost_total += lost
            if diff:
                run_problems.append(f"tables differ from the control (missing, extra rows): {diff}")
            raw_left, photo_left = _temp_files(folder)
            temp_left["raw store"] += raw_left
            temp_left["photo store"] += photo_left
            if run_problems:
                failed_runs += 1
                problems += [f"run {i} ({kind}): {p}" for p in run_problems]
    finally:
        server.close()

    drill.record(
        runs=runs,
        failures=failed_runs,
        rows_lost=lost_total,
        seed=seed,
        rows_per_window=ROWS,
        kills_by_stage=dict(sorted(moments.items())),
        killed_window=dict(sorted(kill_targets.items())),
        temp_files_left=dict(temp_left),
    )
    assert failed_runs == 0, "\n".join(problems)
    assert lost_total == 0
