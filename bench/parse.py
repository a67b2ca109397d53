"""Parse benchmark: the Rust reader against pyarrow.csv.read_csv on the same generated file.

    .venv/bin/python bench/parse.py [--rows 150000] [--seed 1] [--repeat 3]

Each contender runs in its own child process (so peak RSS is its own); the best of --repeat runs is
reported. Prints a table and writes bench/out/parse.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CONTENDERS = {
    "vinops rust (parse + normalize)": """
from vinops.parse import read_file
from vinops.taxonomy import load
mapping = load().matcher_mapping()
t = time.perf_counter()
parsed = read_file(PATH, taxonomy=mapping)
rows = sum(b.num_rows for b in parsed.reader)
elapsed = time.perf_counter() - t
""",
    "pyarrow.csv.read_csv, 1 thread (types inferred)": """
import pyarrow as pa, pyarrow.csv as pc
pa.set_cpu_count(1); pa.set_io_thread_count(1)
t = time.perf_counter()
rows = pc.read_csv(PATH, read_options=pc.ReadOptions(use_threads=False), parse_options=SKIP).num_rows
elapsed = time.perf_counter() - t
""",
    "pyarrow.csv.read_csv, default threads": """
import pyarrow.csv as pc
t = time.perf_counter()
rows = pc.read_csv(PATH, parse_options=SKIP).num_rows
elapsed = time.perf_counter() - t
""",
}

RUNNER = """
import json, resource, sys, time
PATH = sys.argv[1]
# pyarrow cannot read rows with Copart's unescaped quotes: it skips them (and reports fewer rows).
SKIP = __import__("pyarrow.csv").csv.ParseOptions(invalid_row_handler=lambda row: "skip")
{body}
print(json.dumps({{"seconds": elapsed, "rows": rows, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def run(body: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", RUNNER.format(body=body), str(path)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=150_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--file", type=Path, help="parse this file instead of a generated sample")
    args = ap.parse_args()

    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    path = args.file or out_dir / f"sample-{args.rows}-{args.seed}.csv"
    if not path.exists():
        from vinops.sample import write_sample

        write_sample(path, rows=args.rows, seed=args.seed)
    size = path.stat().st_size

    results = []
    for name, body in CONTENDERS.items():
        runs = [run(body, path) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r["seconds"])
        results.append({
            "contender": name,
            "seconds": round(best["seconds"], 4),
            "mb_per_s": round(size / 1e6 / best["seconds"], 1),
            "rows": best["rows"],
            "peak_rss_mb": round(max(r["max_rss_kb"] for r in runs) / 1024, 1),
        })

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"file: {path} ({size / 1e6:.1f} MB, {args.rows:,} rows requested); best of {args.repeat}; {machine}")
    print(f"{'contender':<50} {'seconds':>8} {'MB/s':>8} {'rows':>9} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['contender']:<50} {r['seconds']:>8.3f} {r['mb_per_s']:>8.1f} {r['rows']:>9,} {r['peak_rss_mb']:>12.1f}")
    (out_dir / "parse.json").write_text(json.dumps({"file": str(path), "bytes": size, "machine": machine,
                                                    "measured_at": time.strftime("%Y-%m-%d"), "results": results}, indent=2))


if __name__ == "__main__":
    main()
