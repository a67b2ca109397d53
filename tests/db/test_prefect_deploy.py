"""The repository's ``prefect.yaml`` deployed to a real Prefect server and run by a worker, end to end.

Everything on loopback, every process started here stopped here:

* ``prefect server start`` on a free 127.0.0.1 port (temporary PREFECT_HOME, no UI, no scheduler);
* a **process** work pool named like the production pool (``vinops-kubernetes``), standing in for Kubernetes;
* the Secret blocks ``vinops-database-url`` (the test PostgreSQL) and ``vinops-feed-url`` (an HTTP server
  playing the feed, with the member key in the address);
* ``prefect --no-prompt deploy --all`` from the repository's root, a ``prefect worker start`` and
  ``prefect deployment run copart-window/copart-window`` (the job's ``env`` overridden: the flows are imported
  from this checkout instead of the image's /opt/vinops), waiting for Completed;
* the run's artifacts read back through the Prefect client, the window's rows in the database.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

# Not imported here: Prefect fixes its settings (its home) when first imported, which the session fixture does
# under a temporary PREFECT_HOME.

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FEED_KEY = "dEpl0y-feed-key-4321"
STARTUP_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Feed(SimpleHTTPRequestHandler):
    """Serves the sample (with Last-Modified: a repeated GET gets 304); ``delay`` seconds before each answer
    make a window last long enough to start a second run beside it."""

    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(type(self).delay)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request line names the key
        pass


@pytest.fixture(scope="module")
def feed_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("feed")
    subprocess.run([str(BIN / "vinops"), "sample", "--rows", "2000", "--seed", "11", str(folder / "salesdata.csv")],
                   check=True, capture_output=True)  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Feed, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/salesdata.csv?authKey={FEED_KEY}"
    finally:
        _Feed.delay = 0.0
        server.shutdown()
        server.server_close()


class Processes:
    """Background processes of this test, each in its own session, stopped (SIGTERM, then SIGKILL) by id."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[dict[str, str], Processes]]:
    """A real Prefect server on loopback; yields the environment that points the CLI at it."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PREFECT_HOME=str(home),
        PREFECT_API_URL=f"http://127.0.0.1:{port}/api",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="INFO",
        NO_PROXY="127.0.0.1,localhost",
    )
    procs = Processes(tmp_path)
    server = procs.start(
        "server",
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui",
         "--no-scheduler", "--no-late-runs"],  # fmt: skip
        env,
        tmp_path,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as r:  # noqa: S310
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Prefect server did not start:\n{procs.log('server')}")
            time.sleep(0.5)
        yield env, procs
    finally:
        procs.stop()


def _cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _python(env: dict[str, str], code: str, *args: str) -> Any:
    """Run ``code`` against the server in a fresh interpreter (Prefect is never imported by the test process:
    it fixes its home when first imported); its last stdout line is JSON."""
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=400)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


_SAVE_BLOCKS = """
import json, sys
from prefect.blocks.system import Secret
for name, value in json.loads(sys.argv[1] if len(sys.argv) > 1 else '{}').items():
    Secret(value=value).save(name, overwrite=True)
print("{}")
"""

_CANCEL_NEW = """
import json, sys, time
from prefect import get_client
job_env = json.loads(sys.argv[1])
with get_client(sync_client=True) as c:
    dep = c.read_deployment_by_name("copart-window/copart-window")
    first = c.create_flow_run_from_deployment(dep.id, job_variables={"env": job_env})
    deadline = time.monotonic() + 120
    while c.read_flow_run(first.id).state_type.value != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
    second = c.create_flow_run_from_deployment(dep.id, job_variables={"env": job_env})
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        states = {k: c.read_flow_run(r.id).state_type.value for k, r in (("first", first), ("second", second))}
        if all(v in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED") for v in states.values()):
            break
        time.sleep(1)
print(json.dumps(states))
"""

_READ_BACK = """
import json
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter, FlowRunFilterDeploymentId, LogFilter, LogFilterFlowRunId
with get_client(sync_client=True) as c:
    deps = {d.name: d for d in c.read_deployments()}
    dep = deps["copart-window"]
    runs = c.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[dep.id])))
    out = {"deployments": sorted(deps), "runs": []}
    for r in runs:
        arts = c.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[r.id])))
        logs = c.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id])), limit=200)
        out["runs"].append({"state": r.state_type.value, "name": r.state_name,
            "artifacts": [{"key": a.key, "type": a.type, "data": a.data} for a in arts],
            "logs": [f"{l.name}: {l.message}" for l in logs]})
    out["schedules"] = [{"cron": getattr(s.schedule, "cron", None), "tz": getattr(s.schedule, "timezone", None),
                         "active": s.active} for s in dep.schedules]
    out["concurrency"] = {"strategy": str(dep.concurrency_options.collision_strategy) if dep.concurrency_options else None,
                          "limit": dep.global_concurrency_limit.limit if dep.global_concurrency_limit else None}
    out["pull"] = dep.pull_steps
    out["parameters"] = dep.parameters
    gcl = c.read_global_concurrency_limit_by_name("vinops-database")
    out["gcl"] = gcl.limit
print(json.dumps(out, default=str))
"""


def test_deploy_all_and_run_through_a_worker(
    prefect_server: tuple[dict[str, str], Processes], feed_url: str, new_db: Callable[[], str], tmp_path: Path
) -> None:
    env, procs = prefect_server
    db_url = new_db()
    _cli(env, "work-pool", "create", "vinops-kubernetes", "--type", "process")
    secrets = {"vinops-database-url": db_url, "vinops-feed-url": feed_url}
    subprocess.run([sys.executable, "-c", _SAVE_BLOCKS, json.dumps(secrets)], env=env, cwd=REPO, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    deployed = _cli(env, "--no-prompt", "deploy", "--all")
    assert "copart-window/copart-window" in deployed.stdout and "raw-retention/raw-retention" in deployed.stdout

    data_dir = tmp_path / "vinops-data"
    worker_env = {**env, "VINOPS_DATA_DIR": str(data_dir), "PREFECT_WORKER_QUERY_SECONDS": "1"}
    procs.start("worker", [str(BIN / "prefect"), "worker", "start", "--pool", "vinops-kubernetes", "--type", "process"],
                worker_env, tmp_path)  # fmt: skip
    job_env = {"VINOPS_APP_DIR": str(REPO), "PREFECT_LOGGING_EXTRA_LOGGERS": "vinops", "VINOPS_DATA_DIR": str(data_dir)}
    ran = subprocess.run(
        [str(BIN / "prefect"), "deployment", "run", "copart-window/copart-window", "--watch", "--watch-timeout", "400",
         "--job-variable", f"env={json.dumps(job_env)}"],  # fmt: skip
        env=env, cwd=REPO, capture_output=True, text=True, timeout=480,
    )
    out = _python(env, _READ_BACK)
    assert ran.returncode == 0 and out["runs"] and out["runs"][0]["state"] == "COMPLETED", (
        f"{ran.stdout[-3000:]}\n{ran.stderr[-3000:]}\nworker:\n{procs.log('worker')}\n{out}"
    )
    assert out["deployments"] == ["copart-window", "image-backfill", "lot-images", "raw-retention"]
    assert out["schedules"] == [{"cron": "*/15 * * * *", "tz": "UTC", "active": True}]
    assert "CANCEL_NEW" in str(out["concurrency"]["strategy"]) and out["concurrency"]["limit"] == 1
    assert out["parameters"] == {"completion_grace": "2h", "min_ratio": 0.8, "force_completion": False}
    assert out["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == "{{ $VINOPS_APP_DIR }}"
    assert out["gcl"] == 1  # created by the flow on first use
    (run,) = out["runs"]
    (table,) = [a for a in run["artifacts"] if a["type"] == "table"]
    assert table["key"] == "copart-window-summary"
    figures = {r["figure"]: r["value"] for r in (json.loads(table["data"]) if isinstance(table["data"], str) else table["data"])}
    assert figures["outcome"] == "loaded" and figures["rows in"] == 2000 and figures["lots inserted"] > 0
    assert FEED_KEY not in json.dumps(out)
    logs = "\n".join(run["logs"])
    assert "vinops.fetch: GET ***" in logs and "vinops.window.load: " in logs  # the stages reach the UI, masked
    with psycopg.connect(db_url) as conn:
        lots = conn.execute("SELECT count(*) FROM lots").fetchone()[0]
        outcome = conn.execute("SELECT outcome FROM audit.window_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert lots == figures["rows loaded"] and outcome == "loaded"
    assert FEED_KEY not in procs.log("worker")

    # No overlap: a run started while another one loads is cancelled (CANCEL_NEW), not queued behind it.
    _Feed.delay = 6.0
    states = _python(env, _CANCEL_NEW, json.dumps(job_env))
    assert states == {"first": "COMPLETED", "second": "CANCELLED"}, f"{states}\n{procs.log('worker')}"
    with psycopg.connect(db_url) as conn:
        outcomes = [r[0] for r in conn.execute("SELECT outcome FROM audit.window_runs ORDER BY id")]
    assert outcomes == ["loaded", "not_modified"]  # the cancelled run never fetched
