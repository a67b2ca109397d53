"""Writes k8s/base-job-template.json, the Kubernetes work pool's base job template, from the Helm chart: the
`baseJobTemplate.json` of the chart's ConfigMap rendered in-process (helm-python-sdk) with the default values,
as release "vinops" in namespace "vinops". That file is what `prefect work-pool create --base-job-template`
takes, so an operator who creates the pool by hand gets the template the chart's worker would give it.

    .venv/bin/python scripts/k8s_job_template.py           # write the file
    .venv/bin/python scripts/k8s_job_template.py --check   # exit 1 when the file and the chart differ (CI)
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm" / "vinops"
TEMPLATE_FILE = REPO / "k8s" / "base-job-template.json"
RELEASE = "vinops"
NAMESPACE = "vinops"
CONFIGMAP = "vinops/templates/base-job-template-configmap.yaml"


def render_base_job_template(values: dict[str, Any] | None = None, *, release: str = RELEASE,
                             namespace: str = NAMESPACE) -> dict[str, Any]:  # fmt: skip
    """The base job template the chart renders for these values (the ConfigMap's JSON, parsed)."""
    import helm_python

    with helm_python.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=release, namespace=namespace, is_install=True)
    configmap = yaml.safe_load(manifests[CONFIGMAP])
    template: dict[str, Any] = json.loads(configmap["data"]["baseJobTemplate.json"])
    return template


def file_text(template: dict[str, Any]) -> str:
    """The file's exact text: two-space JSON, keys in the chart's order, one newline at the end."""
    return json.dumps(template, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv)
    want = file_text(render_base_job_template())
    if not args.check:
        TEMPLATE_FILE.write_text(want)
        print(f"wrote {TEMPLATE_FILE.relative_to(REPO)}")
        return 0
    have = TEMPLATE_FILE.read_text() if TEMPLATE_FILE.exists() else ""
    if have == want:
        print(f"{TEMPLATE_FILE.relative_to(REPO)} matches the chart")
        return 0
    diff = difflib.unified_diff(have.splitlines(), want.splitlines(), "k8s/base-job-template.json",
                                "the chart's render", lineterm="")  # fmt: skip
    print("\n".join(diff), file=sys.stderr)
    print("k8s/base-job-template.json differs from the chart: run scripts/k8s_job_template.py", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
