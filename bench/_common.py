"""What the benchmarks share: child processes with their own peak RSS, a throwaway PostgreSQL with
production-like settings, fresh migrated databases, and the PostgreSQL floor.

Also the child entry point (``python bench/_common.py cli|floor-copy …``, JSON on stdout) that
bench/window.py and bench/compare.py run each measured ingest (the ``vinops ingest --json`` CLI, in a
process of its own) or floor COPY in.

Imports nothing outside the standard library at module level, so a child's peak RSS holds only what its
own work loads.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))


# ---------------------------------------------------------------------------------------------------------
# processes


def peak_rss_kb() -> int:
    """This process's resident-set high-water mark (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_mb() -> float:
    return peak_rss_kb() / 1024


def ensure_xdg() -> None:
    """platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); give it a private one."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"vinops-xdg-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "python") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_child(argv: list[str], *, what: str, timeout: float = 1800, heartbeat: float | None = 30) -> dict[str, Any]:
    """Run ``python argv…`` in a new process; its stdout is one JSON object, returned with ``process_wall``.

    Every ``heartbeat`` seconds it is still running, says so on stderr (the reference engine takes minutes)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()
    )
    while True:
        elapsed = time.perf_counter() - t0
        try:
            stdout, stderr = p.communicate(timeout=max(0.1, min(heartbeat or timeout, timeout - elapsed)))
            break
        except subprocess.TimeoutExpired:
            elapsed = time.perf_counter() - t0
            if elapsed >= timeout:
                p.kill()
                p.communicate()
                raise RuntimeError(f"{what}: no result after {timeout:.0f} s") from None
            print(f"    … {what}: still running after {elapsed:.0f} s", file=sys.stderr, flush=True)
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {p.returncode}):\n{stderr}")
    try:
        out: dict[str, Any] = json.loads(stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"{what}: no JSON on stdout ({e}):\n{stdout[-2000:]}\n{stderr[-2000:]}") from e
    out["process_wall"] = time.perf_counter() - t0
    return out


def vinops_cli() -> list[str]:
    """The ``vinops`` command of the running interpreter's environment (``.venv/bin/vinops``)."""
    exe = Path(sys.executable).parent / "vinops"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("vinops")
    if found:
        return [found]
    raise RuntimeError(f"no vinops command next to {sys.executable} or on PATH (pip install -e .)")


def run_ingest(file: Path, url: str, raw_dir: Path, engine: str = "rust", timeout: float = 1800) -> dict[str, Any]:
    """One ``vinops ingest FILE --json --database-url URL --engine ENGINE`` (the CLI, in its own process,
    ``VINOPS_RAW_DIR=raw_dir``), started and measured by a small child of this script (``_common.py cli``) so
    the peak RSS is the CLI process's alone.

    Returns ``{"summary", "wall", "cpu_seconds", "peak_rss_mb", "argv", "process_wall"}``: ``summary`` is the
    JSON the CLI printed, ``wall`` the CLI process's wall time (interpreter start, imports and exit included),
    ``cpu_seconds`` its user + system CPU, ``peak_rss_mb`` its ru_maxrss; ``process_wall`` also counts the
    measuring child."""
    cli = [*vinops_cli(), "ingest", str(file), "--json", "--database-url", url, "--engine", engine]
    argv = [str(Path(__file__).resolve()), "cli", "--env", f"VINOPS_RAW_DIR={raw_dir}", "--", *cli]
    out = run_child(argv, what=f"vinops ingest {file.name} ({engine} engine)", timeout=timeout)
    out["summary"] = out.pop("stdout_json")
    return out


def run_floor_copy(file: Path, url: str, columns: int) -> dict[str, Any]:
    """:func:`floor_copy` in its own process: ``{"seconds", "rows", "peak_rss_mb", "process_wall"}``."""
    argv = [str(Path(__file__).resolve()), "floor-copy", str(file), url, str(columns)]
    return run_child(argv, what=f"floor COPY of {file.name}")


# ---------------------------------------------------------------------------------------------------------
# server and databases


def start_server(base: Path) -> tuple[Any, str]:
    """A dedicated embedded PostgreSQL in ``base`` with the settings a production server would have
    (shared_buffers 1GB, max_wal_size 4GB, checkpoint_timeout 30min; fsync stays on)."""
    import psycopg

    from vinops.db import _pgserver

    server = _pgserver().get_server(base / "pg", cleanup_mode="delete")
    with psycopg.connect(server.get_uri(), autocommit=True) as c:
        c.execute("ALTER SYSTEM SET shared_buffers = '1GB'")
        c.execute("ALTER SYSTEM SET max_wal_size = '4GB'")
        c.execute("ALTER SYSTEM SET checkpoint_timeout = '30min'")
    server.stop()
    server.start()
    return server, str(server.get_uri())


def fresh_database(server_url: str) -> str:
    """A new, empty, freshly migrated database on the server (checkpointed); its URL."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from vinops.db import migrate

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(url) as c:
        migrate(c)
        c.execute("CHECKPOINT")
    return url


def drop_database(server_url: str, url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))


def server_version(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as c:
        return int(c.info.server_version)


def server_settings(url: str, names: tuple[str, ...] = ("server_version", "shared_buffers", "max_wal_size",
                                                         "checkpoint_timeout", "fsync", "synchronous_commit",
                                                         "work_mem", "maintenance_work_mem")) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url) as c:
        return {n: str(c.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]


# ---------------------------------------------------------------------------------------------------------
# the floor


def strict_csv(src: Path, dst: Path) -> tuple[int, int]:
    """Copy of ``src`` without the rows PostgreSQL's strict CSV parser cannot take (the feed's unescaped
    quotes, short rows): the floor needs a file COPY accepts. Returns (columns, rows dropped)."""
    lines = src.read_bytes().split(b"\n")
    columns = len(lines[0].split(b'","'))
    kept, dropped = [lines[0]], 0
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split(b'","')
        inner = b"".join(fields)[1:-1]
        if len(fields) == columns and b'"' not in inner and line.startswith(b'"') and line.endswith(b'"'):
            kept.append(line)
        else:
            dropped += 1
    dst.write_bytes(b"\n".join(kept) + b"\n")
    return columns, dropped


def floor_copy(url: str, csv_path: Path, columns: int) -> tuple[float, int, str]:
    """PostgreSQL's own COPY of the raw CSV into an UNLOGGED table of text columns: (seconds, rows, how).

    The server reads the file itself (``COPY ... FROM 'path'``, ``how`` = "server file") when it can: the
    benchmark's servers run on this machine as a superuser, under their own OS user (pgserver drops root),
    so the file is first copied (untimed) into a folder that user may read. A server that cannot see or may
    not read it gets the file FROM STDIN (``how`` = "stdin")."""
    import psycopg
    from psycopg import sql

    cols = ", ".join(f"c{i} text" for i in range(columns))
    with tempfile.TemporaryDirectory(prefix="vinops-floor-") as tmp, psycopg.connect(url) as c:
        readable = Path(tmp) / "floor.csv"
        shutil.copyfile(csv_path, readable)
        os.chmod(tmp, 0o755)
        os.chmod(readable, 0o644)
        c.execute(f"CREATE UNLOGGED TABLE floor_raw ({cols})")
        c.commit()
        how = "server file"
        t0 = time.perf_counter()
        try:
            c.execute(sql.SQL("COPY floor_raw FROM {} (FORMAT csv, HEADER true)").format(str(readable)))
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedFile):
            c.rollback()
            how = "stdin"
            t0 = time.perf_counter()
            with c.cursor().copy("COPY floor_raw FROM STDIN (FORMAT csv, HEADER true)") as cp:
                with open(csv_path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        cp.write(chunk)
        c.commit()
        seconds = time.perf_counter() - t0
        n = c.execute("SELECT count(*) FROM floor_raw").fetchone()[0]  # type: ignore[index]
        c.execute("DROP TABLE floor_raw")
        c.commit()
    return seconds, int(n), how


def measure_floor(server_url: str, sample: Path, strict_file: Path, columns: int, raw_dir: Path,
                  *, keep: bool = False) -> dict[str, Any]:
    """The floor on a fresh database: PostgreSQL's COPY of the raw CSV (``strict_file``) plus the same SQL
    upsert and completion a Rust window of ``sample`` runs there (its statement times, not its parse/COPY).

    Returns csv_copy, upsert, completion, total (seconds), copy_rows, the COPY client's peak_rss_mb, and
    the ingest child's result under ``ingest``. The database is dropped unless ``keep``."""
    url = fresh_database(server_url)
    try:
        copy = run_floor_copy(strict_file, url, columns)
        print(f"  floor COPY ({copy['how']}): {copy['rows']:,} rows in {copy['seconds']:.3f} s", file=sys.stderr)
        ingest = run_ingest(sample, url, raw_dir)
    finally:
        if not keep:
            drop_database(server_url, url)
    s = ingest["summary"]["seconds"]
    return {
        "csv_copy": copy["seconds"],
        "upsert": s["upsert"],
        "completion": s["completion"],
        "total": copy["seconds"] + s["upsert"] + s["completion"],
        "copy_rows": copy["rows"],
        "copy_from": copy["how"],
        "peak_rss_mb": copy["peak_rss_mb"],
        "ingest": ingest,
    }


# ---------------------------------------------------------------------------------------------------------
# child entry point


def _run_cli(cmd: list[str], env_pairs: list[str]) -> dict[str, Any]:
    """Run ``cmd`` (its stdout one JSON object) and measure it: wall time, CPU and peak RSS of that process.

    This process is a small interpreter with nothing but the standard library loaded and only this one
    child, so RUSAGE_CHILDREN is the command's own (its ru_maxrss also covers the moments between the fork
    and the exec, when the child is a copy of this small process, not of the benchmark's parent)."""
    env = dict(os.environ)
    for pair in env_pairs:
        k, _, v = pair.partition("=")
        env[k] = v
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=False)
    wall = time.perf_counter() - t0
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode("utf-8", "replace"))
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}")
    return {
        "stdout_json": json.loads(p.stdout),
        "wall": wall,
        "cpu_seconds": r.ru_utime + r.ru_stime,
        "peak_rss_mb": r.ru_maxrss / 1024,
        "argv": cmd,
    }


def _child(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench/_common.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("cli", help="run a command whose stdout is JSON; report it with its wall, CPU, peak RSS")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p = sub.add_parser("floor-copy")
    p.add_argument("file")
    p.add_argument("url")
    p.add_argument("columns", type=int)
    args = ap.parse_args(argv)
    ensure_xdg()
    if args.cmd == "cli":
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        out: dict[str, Any] = _run_cli(cmd, args.env)
    else:
        seconds, rows, how = floor_copy(args.url, Path(args.file), args.columns)
        out = {"seconds": seconds, "rows": rows, "how": how, "peak_rss_mb": peak_rss_mb()}
    json.dump(out, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
