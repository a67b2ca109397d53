"""Side-by-side benchmark: vinops against the Python reference engine, pyarrow, the csv module and
PostgreSQL's own floor, on one generated sample, each contender in its own process.

    .venv/bin/python bench/compare.py [--rows 150000] [--seed 1] [--repeat 3] [--database-url URL]
                                      [--only parse|window] [--file CSV] [--out FILE.json] [--write-benchmarks]

Contenders (best of ``--repeat``; peak RSS is the child's VmHWM, the largest over the runs):

parse   (seconds of the work itself, in the child, after imports)
  parse.rust          vinops.parse.parse_file(engine="rust") with the taxonomy, as ``vinops parse`` does:
                      parse + normalize + taxonomy + SHA-256 (on a second thread), whole table kept
  parse.reference     the same with engine="python" (python/vinops/reference.py)
  parse.pyarrow_1t    pyarrow.csv.read_csv, one thread (use_threads=False, pyarrow CPU/IO pools of 1): less
                      work (types inferred, no normalization) and it skips the rows it cannot parse
  parse.pyarrow       pyarrow.csv.read_csv with its default threads (same caveats)
  parse.csv_module    Python's csv.reader over the file, counting rows, nothing else

window  (ingest_file's own total: hash … commit, raw store; each on an empty, freshly migrated database)
  window.rust         ingest_file(engine="rust")
  window.reference    ingest_file(engine="python")
  window.floor        PostgreSQL's COPY of the raw CSV file (read by the server itself; FROM STDIN when the server
                      cannot read it) into an UNLOGGED table of text columns (the rows its
                      strict CSV parser would reject left out) + the upsert and completion statement times
                      of a Rust window on that database (bench/_common.py, shared with bench/window.py)

Ratios and targets: reference window / Rust window ≥ 10; pyarrow 1-thread parse / Rust parse ≥ 1;
Rust window / floor ≤ 1.5.

The sample (``vinops.sample.write_sample``) is cached in ``--sample-dir`` (default .sample/), keyed by rows,
seed and a hash of the generator and its model. Without ``--database-url`` a dedicated PostgreSQL with
production-like settings is started in a temporary folder (bench/_common.start_server). Progress goes to
stderr; the table to stdout; the figures to ``--out`` (default bench/out/compare-<time>.json); with
``--write-benchmarks`` (or ``--markdown PATH``) also BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from _common import (
    HERE,
    REPO,
    cpu_seconds,
    drop_database,
    ensure_xdg,
    fresh_database,
    measure_floor,
    peak_rss_mb,
    run_child,
    run_ingest,
    server_settings,
    start_server,
    strict_csv,
)


@dataclass(frozen=True)
class Contender:
    key: str
    group: str  # "parse" | "window"
    label: str
    note: str


CONTENDERS = [
    Contender("parse.rust", "parse", "parse: vinops Rust (parse + normalize + taxonomy)",
              "parse_file(engine='rust') with the taxonomy, as `vinops parse`; SHA-256 on a second thread"),
    Contender("parse.reference", "parse", "parse: Python reference engine",
              "parse_file(engine='python'): the same output, pure Python"),
    Contender("parse.pyarrow_1t", "parse", "parse: pyarrow.csv.read_csv, 1 thread",
              "less work: types inferred, no normalization; skips the rows it cannot parse"),
    Contender("parse.pyarrow", "parse", "parse: pyarrow.csv.read_csv, default threads",
              "as above, with pyarrow's thread pool"),
    Contender("parse.csv_module", "parse", "parse: Python csv module (iteration only)",
              "csv.reader over the file, counting rows, nothing else"),
    Contender("window.rust", "window", "window: Rust engine",
              "ingest_file(engine='rust') into an empty migrated database: hash … commit + raw store"),
    Contender("window.reference", "window", "window: reference engine",
              "ingest_file(engine='python') into an empty migrated database"),
    Contender("window.floor", "window", "window: PostgreSQL floor",
              "PostgreSQL's COPY of the raw CSV file (the server reads it) into an UNLOGGED table of text columns + the "
              "upsert and completion statement times of a Rust window on that database; RSS is the COPY client's"),
]
BY_KEY = {c.key: c for c in CONTENDERS}

RATIOS = [
    # name, numerator, denominator, comparison, target, description
    ("window_speedup_vs_reference", "window.reference", "window.rust", ">=", 10.0,
     "reference window seconds / Rust window seconds"),
    ("parse_vs_pyarrow_1t", "parse.pyarrow_1t", "parse.rust", ">=", 1.0,
     "pyarrow.csv.read_csv 1-thread seconds / Rust parse seconds"),
    ("window_vs_floor", "window.rust", "window.floor", "<=", 1.5,
     "Rust window seconds / PostgreSQL floor seconds"),
]


# ---------------------------------------------------------------------------------------------------------
# children: one parse contender each, JSON on stdout


def _parse_vinops(path: str, engine: str) -> dict[str, Any]:
    from vinops.parse import parse_file
    from vinops.taxonomy import load

    mapping = load().matcher_mapping()
    t0, c0 = time.perf_counter(), cpu_seconds()
    table, s = parse_file(path, engine=engine, taxonomy=mapping)  # type: ignore[arg-type]
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows": table.num_rows,
        "rows_in": s["rows_in"],
        "rows_quarantined": s["rows_quarantined"],
        "engine_seconds": s["seconds"],
    }


def _parse_pyarrow(path: str, threads: bool) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pc

    if not threads:
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
    skipped = 0

    def skip(_row: Any) -> str:
        nonlocal skipped
        skipped += 1
        return "skip"

    t0, c0 = time.perf_counter(), cpu_seconds()
    table = pc.read_csv(
        path,
        read_options=pc.ReadOptions(use_threads=threads),
        parse_options=pc.ParseOptions(invalid_row_handler=skip),
    )
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": table.num_rows, "rows_skipped": skipped}


def _parse_csv_module(path: str) -> dict[str, Any]:
    import csv

    csv.field_size_limit(1 << 30)  # an unclosed quote may run on for many lines; counting must not stop there
    t0, c0 = time.perf_counter(), cpu_seconds()
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        records = sum(1 for _ in csv.reader(f))
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": max(0, records - 1)}


PARSE_CHILDREN = {
    "parse.rust": lambda p: _parse_vinops(p, "rust"),
    "parse.reference": lambda p: _parse_vinops(p, "python"),
    "parse.pyarrow_1t": lambda p: _parse_pyarrow(p, threads=False),
    "parse.pyarrow": lambda p: _parse_pyarrow(p, threads=True),
    "parse.csv_module": _parse_csv_module,
}


def child(key: str, path: str) -> int:
    ensure_xdg()
    out = PARSE_CHILDREN[key](path)
    out["peak_rss_mb"] = peak_rss_mb()
    json.dump(out, sys.stdout)
    return 0


# ---------------------------------------------------------------------------------------------------------
# inputs and machine


def cached_sample(rows: int, seed: int, directory: Path) -> Path:
    """``write_sample(rows, seed)``, cached under ``directory`` keyed by the generator's code and model."""
    from vinops import sample as gen

    h = hashlib.sha256()
    src = Path(gen.__file__)
    for f in (src, src.parent / "data" / "sample_model.json"):
        h.update(f.read_bytes())
    path = directory / f"salesdata-{rows}-s{seed}-{h.hexdigest()[:10]}.csv"
    if path.exists():
        print(f"sample: {path} (cached)", file=sys.stderr)
        return path
    directory.mkdir(parents=True, exist_ok=True)
    print(f"sample: writing {rows:,} rows (seed {seed}) to {path}", file=sys.stderr)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        gen.write_sample(tmp, rows=rows, seed=seed)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _git(*args: str) -> str | None:
    try:
        p = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    status = _git("status", "--porcelain", "--untracked-files=no")
    versions: dict[str, Any] = {"python": platform.python_version()}
    for mod in ("pyarrow", "psycopg"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    try:
        from vinops import __version__ as vinops_version

        versions["vinops"] = vinops_version
    except ImportError:
        versions["vinops"] = None
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "cores_usable": usable,
        "ram_gb": ram_gb,
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def command_line() -> str:
    exe = Path(sys.executable)
    try:
        exe_s = str(exe.relative_to(REPO)) if exe.is_relative_to(REPO) else str(exe)
    except ValueError:
        exe_s = str(exe)
    script = Path(sys.argv[0]).resolve()
    script_s = str(script.relative_to(REPO)) if script.is_relative_to(REPO) else str(script)
    return shlex.join([exe_s, script_s, *sys.argv[1:]])


# ---------------------------------------------------------------------------------------------------------
# running


def run_parse(key: str, sample: Path) -> dict[str, Any]:
    return run_child([str(Path(__file__).resolve()), "--child", key, str(sample)], what=key)


def run_window(key: str, server_url: str, sample: Path, strict_file: Path, columns: int, raw_dir: Path) -> dict[str, Any]:
    if key == "window.floor":
        f = measure_floor(server_url, sample, strict_file, columns, raw_dir)
        return {
            "seconds": f["total"],
            "peak_rss_mb": f["peak_rss_mb"],
            "rows": f["copy_rows"],
            "copy_from": f["copy_from"],
            "stages": {k: round(f[k], 4) for k in ("csv_copy", "upsert", "completion")},
        }
    engine = "rust" if key == "window.rust" else "python"
    url = fresh_database(server_url)
    try:
        r = run_ingest(sample, url, raw_dir, engine=engine)
    finally:
        drop_database(server_url, url)
    s = r["summary"]
    if s.get("skipped"):
        raise RuntimeError(f"{key}: the window was skipped on a fresh database: {s.get('skip_reason')}")
    return {
        "seconds": s["seconds"]["total"],
        "cpu_seconds": r.get("cpu_seconds"),
        "peak_rss_mb": r["peak_rss_mb"],
        "rows": s["rows_loaded"],
        "counts": {k: s.get(k) for k in ("rows_in", "rows_loaded", "rows_quarantined", "rows_refused",
                                         "lots_inserted", "vehicles_inserted")},
        "stages": {k: s["seconds"][k] for k in ("hash", "parse", "copy", "upsert", "completion", "raw_store")
                   if k in s["seconds"]},
        "validation_ok": s.get("validation", {}).get("ok"),
    }


def summarize(key: str, runs: list[dict[str, Any]], size: int) -> dict[str, Any]:
    c = BY_KEY[key]
    secs = [r["seconds"] for r in runs]
    best = min(runs, key=lambda r: r["seconds"])
    out: dict[str, Any] = {
        "group": c.group,
        "label": c.label,
        "note": c.note,
        "seconds": round(best["seconds"], 4),
        "median_seconds": round(statistics.median(secs), 4),
        "all_seconds": [round(x, 4) for x in secs],
        "mb_per_s": round(size / 1e6 / best["seconds"], 1) if best["seconds"] > 0 else None,
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "rows": best.get("rows"),
    }
    if best.get("cpu_seconds") is not None:
        out["cpu_seconds"] = round(best["cpu_seconds"], 4)
    for k in ("rows_in", "rows_quarantined", "rows_skipped", "engine_seconds", "counts", "stages", "validation_ok",
              "copy_from"):
        if k in best:
            out[k] = best[k]
    return out


def ratios(contenders: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, num, den, op, target, desc in RATIOS:
        if num not in contenders or den not in contenders:
            continue
        value = contenders[num]["seconds"] / contenders[den]["seconds"]
        ok = value >= target if op == ">=" else value <= target
        out[name] = {"value": round(value, 3), "target": f"{op} {target:g}", "pass": ok, "description": desc}
    return out


def agreement(contenders: dict[str, Any]) -> dict[str, Any]:
    """The two engines must agree on what they read and loaded (a benchmark of a wrong answer is void)."""
    out: dict[str, Any] = {}
    a, b = contenders.get("parse.rust"), contenders.get("parse.reference")
    if a and b:
        keys = ("rows", "rows_in", "rows_quarantined")
        out["parse"] = {"rust": {k: a.get(k) for k in keys}, "reference": {k: b.get(k) for k in keys},
                        "same": all(a.get(k) == b.get(k) for k in keys)}
    a, b = contenders.get("window.rust"), contenders.get("window.reference")
    if a and b:
        out["window"] = {"rust": a["counts"], "reference": b["counts"], "same": a["counts"] == b["counts"]}
    return out


# ---------------------------------------------------------------------------------------------------------
# output


def _fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for c in report["contenders"].values():
        rows.append((c["label"], _fmt(c["seconds"], ".3f"), _fmt(c.get("mb_per_s"), ".1f"),
                     _fmt(c["peak_rss_mb"], ".1f"), _fmt(c.get("cpu_seconds"), ".2f"),
                     "—" if c.get("rows") is None else f"{c['rows']:,}"))
    return rows


HEAD = ("contender", "seconds", "MB/s", "peak RSS MB", "CPU s", "rows")


def ratio_lines(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    return [(name, r["description"], f"{r['value']:.2f}", r["target"], "PASS" if r["pass"] else "MISS")
            for name, r in report["ratios"].items()]


def stage_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for key in ("window.rust", "window.reference", "window.floor"):
        c = report["contenders"].get(key)
        if c and c.get("stages"):
            lines.append(f"{c['label']}: " + " · ".join(f"{k} {v:.2f}" for k, v in c["stages"].items()))
    return lines


def sample_text(s: dict[str, Any], markdown: bool = False) -> str:
    if not s["generated"]:
        return f"{Path(s['path']).name}, {s['bytes'] / 1e6:.1f} MB"
    if markdown:
        return f"`vinops.sample.write_sample(path, rows={s['rows']}, seed={s['seed']})`, {s['bytes'] / 1e6:.1f} MB"
    return f"{s['rows']:,} rows (seed {s['seed']}), {s['bytes'] / 1e6:.1f} MB"


def print_report(report: dict[str, Any]) -> None:
    s, m = report["sample"], report["machine"]
    print(f"\n{sample_text(s)}; best of {report['repeat']}; "
          f"{m['cpu_model']}, {m['cores']} cores, {m['ram_gb']} GB RAM; PostgreSQL {report['postgres'].get('server_version', '—')}")
    rows = table_rows(report)
    w = max(len(HEAD[0]), *(len(r[0]) for r in rows))
    print(f"{HEAD[0]:<{w}} {HEAD[1]:>9} {HEAD[2]:>8} {HEAD[3]:>12} {HEAD[4]:>8} {HEAD[5]:>9}")
    for r in rows:
        print(f"{r[0]:<{w}} {r[1]:>9} {r[2]:>8} {r[3]:>12} {r[4]:>8} {r[5]:>9}")
    for line in stage_lines(report):
        print(f"  {line}")
    if report["ratios"]:
        print()
    for name, desc, value, target, verdict in ratio_lines(report):
        print(f"{verdict}  {name}: {value} (target {target}; {desc})")
    for what, a in report["agreement"].items():
        if a["same"]:
            print(f"same  {what} counts from the Rust and reference engines: {a['rust']}")
        else:
            print(f"DIFFERENT  {what} counts: Rust {a['rust']}, reference {a['reference']}")


def markdown(report: dict[str, Any]) -> str:
    s, m, pg = report["sample"], report["machine"], report["postgres"]
    v = m["versions"]
    out = [
        "# Benchmarks",
        "",
        f"Latest run of `bench/compare.py`, {report['when'][:19].replace('T', ' ')} UTC. Re-run with:",
        "",
        "```sh",
        report["command"],
        "```",
        "",
        f"Input: {sample_text(s, markdown=True)}. "
        f"Best of {report['repeat']}; each contender in its own process, peak RSS its VmHWM; "
        "parse seconds are the work alone (after imports), window seconds `ingest_file`'s total on an empty, "
        "freshly migrated database.",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), {m['ram_gb']} GB RAM, "
        f"load average {', '.join(str(x) for x in m['load_average'])} at the start; {m['platform']}. "
        f"Python {v['python']}, pyarrow {v['pyarrow']}, psycopg {v['psycopg']}, vinops {v['vinops']}, "
        f"PostgreSQL {pg.get('server_version', '—')} ({pg['server']}; shared_buffers {pg.get('shared_buffers', '—')}, "
        f"max_wal_size {pg.get('max_wal_size', '—')}, fsync {pg.get('fsync', '—')}). "
        f"Commit `{(m['git_commit'] or '?')[:12]}`{' (with uncommitted changes)' if m['git_dirty'] else ''}.",
        "",
        "| " + " | ".join(HEAD) + " |",
        "|---|" + "---:|" * (len(HEAD) - 1),
    ]
    out += ["| " + " | ".join(r) + " |" for r in table_rows(report)]
    if stage_lines(report):
        out += ["", "Window stages (seconds, best run; parse and COPY run interleaved, so they overlap):", ""]
        out += [f"- {line}" for line in stage_lines(report)]
    if report["ratios"]:
        out += ["", "| ratio | value | target | |", "|---|---:|---|---|"]
        out += [f"| {desc} | {value} | {target} | {verdict} |" for _n, desc, value, target, verdict in ratio_lines(report)]
    for what, a in report["agreement"].items():
        out += ["", f"The Rust and reference engines {'agree' if a['same'] else '**disagree**'} on the {what} counts: "
                f"`{json.dumps(a['rust'])}`" + ("" if a["same"] else f" vs `{json.dumps(a['reference'])}`") + "."]
    out += ["", "What each contender does:", ""]
    out += [f"- **{report['contenders'][c.key]['label']}**: {c.note}." for c in CONTENDERS if c.key in report["contenders"]]
    floor = report["contenders"].get("window.floor", {})
    if floor.get("copy_from") == "stdin":
        out.append("- The floor's server could not read the file itself: its COPY ran FROM STDIN.")
    if "floor_rows_left_out" in report:
        out.append(f"- The floor's COPY input leaves out the {report['floor_rows_left_out']} rows PostgreSQL's strict "
                   "CSV parser would reject.")
    out += ["", "Timings on a shared or small machine vary by ±20 %; compare ratios from one run, not across runs.", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------------
# main


#: The heading of the section bench/window.py maintains in BENCHMARKS.md.
STEADY_SECTION = "## Steady windows"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=150_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs of each contender (default 3)")
    ap.add_argument("--database-url", help="an existing server whose user may create databases "
                    "(default: a dedicated embedded PostgreSQL in a temporary folder)")
    ap.add_argument("--only", choices=["parse", "window"], help="run one group of contenders")
    ap.add_argument("--sample-dir", type=Path, default=REPO / ".sample", help="where the sample is cached")
    ap.add_argument("--file", type=Path, help="measure this CSV instead of a generated sample (--rows/--seed unused)")
    ap.add_argument("--out", type=Path, help="JSON file (default bench/out/compare-<time>.json)")
    ap.add_argument("--markdown", type=Path, help="also write the report as Markdown to this file")
    ap.add_argument("--write-benchmarks", action="store_true", help="--markdown BENCHMARKS.md (at the repo root)")
    ap.add_argument("--child", nargs=2, metavar=("CONTENDER", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    if args.repeat < 1 or args.rows < 1:
        ap.error("--repeat and --rows must be at least 1")
    if args.write_benchmarks and args.markdown is None:
        args.markdown = REPO / "BENCHMARKS.md"
    ensure_xdg()

    started = datetime.now(timezone.utc)
    machine = machine_info()
    sample = args.file.resolve() if args.file else cached_sample(args.rows, args.seed, args.sample_dir)
    size = sample.stat().st_size
    keys = [c.key for c in CONTENDERS if args.only in (None, c.group)]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
    postgres: dict[str, Any] = {"server": "not used"}
    extra: dict[str, Any] = {}

    work = Path(tempfile.mkdtemp(prefix="vinops-compare-"))
    server = None
    try:
        window_keys = [k for k in keys if BY_KEY[k].group == "window"]
        if window_keys:
            strict_file = work / "strict.csv"
            columns, dropped = strict_csv(sample, strict_file)
            extra["floor_rows_left_out"] = dropped
            print(f"floor input: {dropped} rows PostgreSQL's CSV parser would reject left out", file=sys.stderr)
            if args.database_url:
                server_url = args.database_url
                postgres["server"] = "external (--database-url)"
            else:
                print("starting a dedicated PostgreSQL …", file=sys.stderr)
                server, server_url = start_server(work)
                postgres["server"] = "dedicated embedded server, production-like settings"
            postgres.update(server_settings(server_url))
        for i in range(args.repeat):
            for key in keys:
                print(f"[{i + 1}/{args.repeat}] {BY_KEY[key].label} …", file=sys.stderr, flush=True)
                if BY_KEY[key].group == "parse":
                    r = run_parse(key, sample)
                else:
                    r = run_window(key, server_url, sample, strict_file, columns, work / f"raw-{key}-{i}")
                print(f"    {r['seconds']:.3f} s, peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
                runs[key].append(r)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)

    contenders = {k: summarize(k, runs[k], size) for k in keys}
    report: dict[str, Any] = {
        "benchmark": "bench/compare.py",
        "when": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "command": command_line(),
        "argv": sys.argv,
        "sample": {"path": str(sample), "generated": args.file is None, "rows": None if args.file else args.rows,
                   "seed": None if args.file else args.seed, "bytes": size},
        "repeat": args.repeat,
        "machine": machine,
        "postgres": postgres,
        "contenders": contenders,
        "ratios": ratios(contenders),
        "agreement": agreement(contenders),
        **extra,
    }
    print_report(report)
    out = args.out or HERE / "out" / f"compare-{started:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwritten to {out}")
    if args.markdown:
        # The file's later sections (from "## Steady windows", written by bench/window.py) are kept.
        previous = args.markdown.read_text() if args.markdown.exists() else ""
        kept = previous[previous.index(STEADY_SECTION):] if STEADY_SECTION in previous else ""
        args.markdown.write_text(markdown(report) + ("\n" + kept if kept else ""))
        print(f"written to {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
