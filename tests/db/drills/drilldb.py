"""Small tools the drills share: a checksum of tables, the CLI in a fresh process with its peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

#: What a window writes as data (the run and error logs, audit.window_runs and audit.ingest_errors, are left
#: out: a rejected window legitimately adds to them).
DATA_TABLES = ("raw.csv_files", "raw.quarantine", "vehicles", "lots", "lot_events", "audit.unknown_values",
               "images", "staging.presence", "staging.presence_window")  # fmt: skip


def checksums(conn: psycopg.Connection, tables: tuple[str, ...] = DATA_TABLES) -> dict[str, tuple[int, str]]:
    """Per table: (rows, md5 of every row's text, sorted): equal checksums mean equal contents, every column."""
    out = {}
    for name in tables:
        schema, table = name.split(".") if "." in name else ("public", name)
        q = sql.SQL("SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') FROM {} t").format(
            sql.Identifier(schema, table)
        )
        count, digest = conn.execute(q).fetchone()  # type: ignore[misc]
        out[name] = (count, digest)
    conn.rollback()
    return out


_MEASURE = """
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True)
print(json.dumps({"returncode": p.returncode, "stdout": p.stdout.decode("utf-8", "replace"),
                  "stderr": p.stderr.decode("utf-8", "replace"),
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def vinops_cli() -> list[str]:
    exe = Path(sys.executable).parent / "vinops"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vinops.cli"]


def run_cli(args: list[str], env: dict[str, str], timeout: float = 900) -> dict[str, Any]:
    """``vinops ARGS`` in its own process, started by a fresh measuring process so that ``peak_rss_kb`` (its
    ru_maxrss as a waited child) is the command's alone. Returns returncode, stdout, stderr, peak_rss_kb."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, *vinops_cli(), *args], env=env, capture_output=True,
                         text=True, timeout=timeout)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"the measuring process failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI child: no VINOPS_/PREFECT_ settings of the caller, a private data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VINOPS_", "PREFECT_", "PG"))}
    env.update(VINOPS_DATA_DIR=str(tmp / "data"), HOME=str(tmp), NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", **extra)  # fmt: skip
    return env
