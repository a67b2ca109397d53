"""Print the Reliability table (Markdown) from the drill records that tests/db/drills wrote.

    python bench/drill_report.py [build/drills]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    folder = Path(argv[1] if len(argv) > 1 else "build/drills")
    records = sorted((json.loads(p.read_text()) for p in folder.glob("*.json")), key=lambda r: r["drill"])
    if not records:
        print(f"no drill records in {folder}", file=sys.stderr)
        return 1
    print("| drill | form | runs | failures | rows lost | seconds | figures |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in records:
        figures = ", ".join(f"{k} {v}" for k, v in r["figures"].items())
        print(f"| {r['drill']} | {r['form']} | {r['runs']} | {r['failures']} | {r['rows_lost']} | {r['seconds']} | {figures} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
