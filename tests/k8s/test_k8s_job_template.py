"""The work pool's base job template (k8s/base-job-template.json, the chart's render) through prefect-kubernetes'
own code: a real Prefect server (the session's ``prefect_api``) accepts it as a Kubernetes pool's template and
prefect.yaml's job variables for a deployment of that pool; then ``KubernetesWorkerJobConfiguration`` (what the
worker runs for every flow run) turns it, with the deployment's job variables and a real flow run read back from
the server, into the Job the worker would create, and that Job is checked and validated against Kubernetes'
Job schema."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_FILE = REPO / "k8s" / "base-job-template.json"
PRODUCTION_VALUES = REPO / "helm" / "vinops" / "ci" / "production-values.yaml"
#: The newest Kubernetes whose schemas kubernetes-validate ships.
KUBE_VERSION = kubernetes_validate.latest_version()


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("k8s_job_template", REPO / "scripts" / "k8s_job_template.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _pool_job_variables() -> dict[str, Any]:
    prefect_yaml = yaml.safe_load((REPO / "prefect.yaml").read_text())
    variables: dict[str, Any] = prefect_yaml["definitions"]["work_pool"]["job_variables"]
    return variables


def test_the_file_is_the_charts_render() -> None:
    script = _script()
    rendered = script.render_base_job_template()
    assert json.loads(TEMPLATE_FILE.read_text()) == rendered
    assert TEMPLATE_FILE.read_text() == script.file_text(rendered)
    assert script.main(["--check"]) == 0


def test_the_check_fails_when_file_and_chart_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script()
    drifted = json.loads(TEMPLATE_FILE.read_text())
    drifted["variables"]["properties"]["memory_limit"]["default"] = "4Gi"
    copy_ = tmp_path / "base-job-template.json"
    copy_.write_text(script.file_text(drifted))
    monkeypatch.setattr(script, "TEMPLATE_FILE", copy_)
    assert script.main(["--check"]) == 1


def test_prefect_yaml_uses_only_declared_job_variables() -> None:
    template = json.loads(TEMPLATE_FILE.read_text())
    schema = template["variables"]
    job_variables = _pool_job_variables()
    undeclared = sorted(set(job_variables) - set(schema["properties"]))
    assert not undeclared, f"prefect.yaml sets job variables the base job template does not declare: {undeclared}"
    jsonschema.Draft202012Validator(schema).validate(job_variables)
    # Every placeholder of the template refers to a declared variable.
    text = json.dumps(template["job_configuration"])
    import re

    placeholders = set(re.findall(r"\{\{ *([a-z_]+) *\}\}", text))
    assert placeholders <= set(schema["properties"]), placeholders - set(schema["properties"])
    # The image prefect.yaml runs is the version the chart and the Containerfile build.
    chart = yaml.safe_load((REPO / "helm" / "vinops" / "Chart.yaml").read_text())
    assert job_variables["image"].rsplit(":", 1)[1] == chart["appVersion"]


def _strict_job(manifest: dict[str, Any]) -> dict[str, Any]:
    """The Job as the API server stores it: prefect-kubernetes requires `parallelism` and `completions` in the pod
    spec of every manifest (its _get_base_job_manifest), and Kubernetes drops them there as unknown fields; they
    are the only fields removed before the strict schema check."""
    job = copy.deepcopy(manifest)
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec.pop("parallelism") == 1 and pod_spec.pop("completions") == 1
    return job


async def _flow_run_job(pool_name: str, template: dict[str, Any], job_variables: dict[str, Any],
                        run_variables: dict[str, Any]) -> tuple[dict[str, Any], Any]:  # fmt: skip
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    async with get_client() as client:
        # The server validates the template as `prefect work-pool create --base-job-template` would send it.
        await client.create_work_pool(WorkPoolCreate(name=pool_name, type="kubernetes", base_job_template=template))
        flow_id = await client.create_flow_from_name("copart-window")
        deployment_id = await client.create_deployment(
            flow_id=flow_id, name=f"copart-window-{pool_name}", work_pool_name=pool_name,
            entrypoint="flows/copart_window.py:copart_window", job_variables=job_variables,
        )  # fmt: skip
        run = await client.create_flow_run_from_deployment(deployment_id, job_variables=run_variables)
        # Everything read back from the server, as the worker reads it.
        flow_run = await client.read_flow_run(run.id)
        deployment = await client.read_deployment(deployment_id)
        flow = await client.read_flow(flow_id)
        work_pool = await client.read_work_pool(pool_name)
        values = {**(deployment.job_variables or {}), **(flow_run.job_variables or {})}
        configuration = await KubernetesWorkerJobConfiguration.from_template_and_values(
            base_job_template=work_pool.base_job_template, values=values, client=client
        )
        configuration.prepare_for_flow_run(
            flow_run=flow_run, deployment=deployment, flow=flow, work_pool=work_pool, worker_name="k8s-test"
        )
        return configuration.job_manifest, flow_run


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [e["name"] for e in container["env"]]
    assert len(names) == len(set(names)), f"duplicate env names: {names}"
    return {e["name"]: e for e in container["env"]}


def _check_common(job: dict[str, Any], flow_run: Any, api_url: str) -> dict[str, Any]:
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["namespace"] == "vinops"
    assert job["metadata"]["labels"]["prefect.io/flow-run-id"] == str(flow_run.id)
    spec = job["spec"]
    assert spec["backoffLimit"] == 0  # Prefect retries; Kubernetes never restarts a flow run
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    labels = spec["template"]["metadata"]["labels"]
    # The NetworkPolicy selects flow-run pods by these two labels; Prefect's own labels must not replace them.
    assert labels["app.kubernetes.io/instance"] == "vinops"
    assert labels["app.kubernetes.io/component"] == "flow-run"
    [container] = pod["containers"]
    assert container["args"] == ["prefect", "flow-run", "execute"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
    # The only writable places: the emptyDir at /tmp and at the image's HOME / VINOPS_DATA_DIR / PREFECT_HOME.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "scratch", "/var/lib/vinops": "scratch"}
    assert [v for v in pod["volumes"] if v["name"] == "scratch"][0]["emptyDir"]["sizeLimit"]
    env = _env(container)
    assert env["PREFECT__FLOW_RUN_ID"]["value"] == str(flow_run.id)
    assert env["PREFECT_API_URL"]["value"] == api_url
    assert env["PREFECT_HOME"]["value"] == "/var/lib/vinops/prefect"  # in the emptyDir, not the read-only root
    # Prefect reschedules a run whose pod is evicted (backoffLimit 0).
    assert env["PREFECT_FLOW_RUN_EXECUTE_SIGTERM_BEHAVIOR"]["value"] == "reschedule"
    assert env["VINOPS_DATABASE_URL"] == {
        "name": "VINOPS_DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "vinops-database", "key": "url"}}
    }  # fmt: skip
    assert env["VINOPS_FEED_URL"]["valueFrom"]["secretKeyRef"] == {"name": "vinops-feed", "key": "url"}
    assert container["envFrom"] == [{"configMapRef": {"name": "vinops-config"}}]
    for entry in container["env"]:
        assert ("value" in entry) != ("valueFrom" in entry), entry
        if "value" in entry:
            assert isinstance(entry["value"], str), entry
    kubernetes_validate.validate(_strict_job(job), KUBE_VERSION, strict=True)
    return container


def test_a_flow_run_becomes_the_job_prefect_yaml_asks_for(prefect_api: str) -> None:
    template = json.loads(TEMPLATE_FILE.read_text())
    job_variables = _pool_job_variables()
    # A flow run may override a variable; here the memory limit of this one run.
    job, flow_run = asyncio.run(
        _flow_run_job("vinops-k8s-default", template, job_variables, {"memory_limit": "1536Mi"})
    )
    container = _check_common(job, flow_run, prefect_api)
    assert container["image"] == job_variables["image"] == "ghcr.io/vinops/vinops:0.1.0"
    assert container["imagePullPolicy"] == job_variables["image_pull_policy"]
    assert container["resources"] == {
        "requests": {"cpu": job_variables["cpu_request"], "memory": job_variables["memory_request"]},
        "limits": {"cpu": job_variables["cpu_limit"], "memory": "1536Mi"},
    }
    assert job["spec"]["ttlSecondsAfterFinished"] == job_variables["finished_job_ttl"]
    assert job["spec"]["activeDeadlineSeconds"] == job_variables["active_deadline_seconds"]
    env = _env(container)
    for name, value in job_variables["env"].items():
        assert env[name]["value"] == value
    # The default template refers to no login or S3 Secret (their names are empty in values.yaml).
    assert not {"VINOPS_FEED_PASSWORD", "VINOPS_S3_SECRET_ACCESS_KEY"} & set(env)
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "default"


def test_the_production_template_with_its_own_defaults(prefect_api: str) -> None:
    import helm_python

    template = _script().render_base_job_template(
        helm_python.values_from_yaml(PRODUCTION_VALUES.read_text())
    )
    job, flow_run = asyncio.run(_flow_run_job("vinops-k8s-production", template, {}, {}))
    container = _check_common(job, flow_run, prefect_api)
    assert container["image"] == "registry.example.com/vinops/vinops:0.1.0"
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "768Mi"},
                                      "limits": {"cpu": "2", "memory": "1536Mi"}}  # fmt: skip
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400
    assert job["spec"]["activeDeadlineSeconds"] == 1200
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]
    env = _env(container)
    refs = {name: e["valueFrom"]["secretKeyRef"] for name, e in env.items() if "valueFrom" in e}
    assert refs == {
        "VINOPS_DATABASE_URL": {"name": "vinops-database", "key": "url"},
        "VINOPS_FEED_URL": {"name": "vinops-feed", "key": "url"},
        "VINOPS_FEED_USERNAME": {"name": "vinops-feed", "key": "username"},
        "VINOPS_FEED_PASSWORD": {"name": "vinops-feed", "key": "password"},
        "VINOPS_S3_ACCESS_KEY_ID": {"name": "vinops-s3", "key": "access-key-id"},
        "VINOPS_S3_SECRET_ACCESS_KEY": {"name": "vinops-s3", "key": "secret-access-key"},
    }
    assert env["PREFECT_LOGGING_LEVEL"]["value"] == "INFO"


def test_the_readme_commands_create_the_pool_and_deploy(prefect_api: str, tmp_path: Path) -> None:
    """Steps 4 and 5 of the README's "Install on Kubernetes", run as written against the session's server: the
    CLI creates the Kubernetes pool from k8s/base-job-template.json and `prefect deploy --all` registers
    prefect.yaml's deployments on it with their job variables (the server checks them against the template)."""
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_HOME": str(tmp_path / "prefect-cli")}
    prefect = str(Path(sys.executable).with_name("prefect"))
    for args in (["work-pool", "create", "vinops-kubernetes", "--type", "kubernetes",
                  "--base-job-template", "k8s/base-job-template.json"],
                 # what NOTES.txt and the README tell an operator whose pool already exists
                 ["work-pool", "update", "vinops-kubernetes", "--base-job-template", "k8s/base-job-template.json"],
                 ["--no-prompt", "deploy", "--all"]):  # fmt: skip
        done = subprocess.run([prefect, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    async def read_back() -> tuple[Any, list[Any]]:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

        async with get_client() as client:
            pool = await client.read_work_pool("vinops-kubernetes")
            on_pool = WorkPoolFilter(name=WorkPoolFilterName(any_=["vinops-kubernetes"]))
            deployments = await client.read_deployments(work_pool_filter=on_pool)
            return pool, deployments

    async def remove(ids: list[Any]) -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:  # their schedules and trigger stay out of the other flow tests
            for deployment_id in ids:
                await client.delete_deployment(deployment_id)

    pool, deployments = asyncio.run(read_back())
    asyncio.run(remove([d.id for d in deployments]))
    assert pool.type == "kubernetes"
    assert pool.base_job_template == json.loads(TEMPLATE_FILE.read_text())
    assert sorted(d.name for d in deployments) == ["copart-window", "image-backfill", "lot-images", "raw-retention"]
    for deployment in deployments:
        assert deployment.job_variables == _pool_job_variables()
