"""The Helm chart helm/vinops, offline: rendered in-process by helm-python-sdk (Helm's own Go code) with the
default values and with a production-like values file, linted, every object validated against the Kubernetes
schemas of the newest version kubernetes-validate ships (strict: unknown fields fail), values.schema.json closed
and refusing bad values, the RBAC confined to the release namespace, every secret by reference."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "vinops"
PRODUCTION_VALUES = CHART / "ci" / "production-values.yaml"
KUBE_VERSION = kubernetes_validate.latest_version()
#: The permissions the worker needs (prefect-kubernetes 0.8: create, watch and cancel Jobs; read pods, their
#: logs and events in the Jobs' namespace) and nothing more.
WORKER_RULES = {
    ("batch", "jobs"): {"create", "delete", "get", "list", "watch"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"get", "list", "watch"},
}
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|DATABASE_URL|FEED_URL|API_KEY|AUTH_STRING")


def production_values() -> dict[str, Any]:
    return helm_python.values_from_yaml(PRODUCTION_VALUES.read_text())


Rendered = tuple[dict[str, Any], list[dict[str, Any]]]


def render(values: dict[str, Any] | None = None, *, namespace: str = "vinops",
           release: str = "vinops") -> list[dict[str, Any]]:  # fmt: skip
    with helm_python.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name=release, namespace=namespace, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def notes(values: dict[str, Any] | None = None) -> str:
    with helm_python.Chart.load(CHART) as chart:
        manifests = chart.render(values or {}, name="vinops", namespace="vinops", is_install=True)
    return manifests["vinops/templates/NOTES.txt"]


def one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


CASES = {"default values": lambda: {}, "production values": production_values}


@pytest.fixture(params=sorted(CASES), scope="module")
def rendered(request: pytest.FixtureRequest) -> Rendered:
    values = CASES[request.param]()
    return values, render(values)


def test_every_object_is_valid_kubernetes(rendered: Rendered) -> None:
    _, objects = rendered
    kinds = sorted(o["kind"] for o in objects)
    assert {"ConfigMap", "Deployment", "Job", "Role", "RoleBinding", "ServiceAccount"} <= set(kinds)
    for obj in objects:
        if obj["apiVersion"] == "monitoring.coreos.com/v1":
            continue  # custom resources: test_monitoring_objects_only_when_enabled checks them
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == "vinops", obj["metadata"]["name"]
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "vinops" and labels["app.kubernetes.io/part-of"] == "vinops"


def test_lint_is_clean() -> None:
    for values in (None, production_values()):
        report = helm_python.lint(CHART, values, strict=True, namespace="vinops", kube_version=f"v{KUBE_VERSION}")
        assert report["errors"] == []
        # Severity 1 is informational (Chart.yaml has no icon); warnings and errors fail.
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_rbac_is_the_workers_namespace_only() -> None:
    for namespace in ("vinops", "ingest"):
        for values in ({}, production_values()):
            objects = render(values, namespace=namespace)
            assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
            role = one(objects, "Role")
            binding = one(objects, "RoleBinding")
            account = one(objects, "ServiceAccount")
            worker = one(objects, "Deployment", "vinops-worker")
            assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == namespace
            rules: dict[tuple[str, str], set[str]] = {}
            for rule in role["rules"]:
                assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no resourceNames tricks, no URLs
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        rules.setdefault((group, resource), set()).update(rule["verbs"])
            assert rules == WORKER_RULES
            assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                          "name": role["metadata"]["name"]}  # fmt: skip
            assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                            "namespace": namespace}]  # fmt: skip
            pod = worker["spec"]["template"]["spec"]
            assert pod["serviceAccountName"] == account["metadata"]["name"]
            # The worker watches and creates Jobs where its Role is.
            env = {e["name"]: e for e in pod["containers"][0]["env"]}
            assert env["PREFECT_INTEGRATIONS_KUBERNETES_OBSERVER_NAMESPACES"]["value"] == namespace
            template = json.loads(one(objects, "ConfigMap", "vinops-base-job-template")["data"]["baseJobTemplate.json"])
            assert template["variables"]["properties"]["namespace"]["default"] == namespace


def test_the_worker_runs_the_pool_with_the_charts_template(rendered: Rendered) -> None:
    values, objects = rendered
    import prefect

    worker = one(objects, "Deployment", "vinops-worker")
    pod = worker["spec"]["template"]["spec"]
    [container] = pod["containers"]
    # The worker image is the Prefect of prefect.yaml and of this environment, with prefect-kubernetes.
    prefect_version = yaml.safe_load((REPO / "prefect.yaml").read_text())["prefect-version"]
    assert prefect_version == prefect.__version__
    assert container["image"] == f"prefecthq/prefect:{prefect_version}-python3.11-kubernetes"
    args = container["args"]
    assert args[:5] == ["prefect", "worker", "start", "--type", "kubernetes"]
    assert args[args.index("--pool") + 1] == "vinops-kubernetes"
    path = args[args.index("--base-job-template") + 1]
    configmap = one(objects, "ConfigMap", "vinops-base-job-template")
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"] and mount["subPath"] in configmap["data"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    # A new template or setting restarts the worker.
    assert re.fullmatch(r"[0-9a-f]{64}", worker["spec"]["template"]["metadata"]["annotations"]["checksum/config"])
    env = {e["name"]: e for e in container["env"]}
    assert env["PREFECT_API_URL"]["value"] == "http://prefect-server.prefect.svc.cluster.local:4200/api"
    if values:
        assert env["PREFECT_KUBERNETES_CLUSTER_UID"]["value"] == values["worker"]["clusterUid"]
        auth = env["PREFECT_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"]
        assert auth == {"name": "prefect-auth", "key": "auth-string"}
        assert args[args.index("--limit") + 1] == "4"
    else:
        assert "PREFECT_KUBERNETES_CLUSTER_UID" not in env  # offline: the install-time lookup finds nothing


def test_the_migration_is_a_hook_with_the_database_secret(rendered: Rendered) -> None:
    _, objects = rendered
    job = one(objects, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["vinops", "db", "migrate"]
    assert container["image"].endswith(":0.1.0")
    assert container["env"] == [{"name": "VINOPS_DATABASE_URL",
                                 "valueFrom": {"secretKeyRef": {"name": "vinops-database", "key": "url"}}}]  # fmt: skip
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/var/lib/vinops"}


def _env_entries(node: Any) -> list[dict[str, Any]]:
    """Every env entry anywhere in an object (containers, the base job template's manifest)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if isinstance(node.get("env"), list):
            found += node["env"]
        for value in node.values():
            found += _env_entries(value)
    elif isinstance(node, list):
        for value in node:
            found += _env_entries(value)
    return found


def test_no_secret_value_is_rendered(rendered: Rendered) -> None:
    _, objects = rendered
    assert not [o for o in objects if o["kind"] == "Secret"]
    template = json.loads(one(objects, "ConfigMap", "vinops-base-job-template")["data"]["baseJobTemplate.json"])
    entries = _env_entries(objects) + _env_entries(template)
    secret_entries = [e for e in entries if SECRET_NAMES.search(e["name"]) and not e["name"].endswith("_SECRET_NAME")
                      and not e["name"].endswith("_SECRET_KEY")]  # fmt: skip
    assert secret_entries, "no secret variable found: the check looks at nothing"
    for entry in secret_entries:
        assert "value" not in entry and set(entry["valueFrom"]) == {"secretKeyRef"}, entry
    config = one(objects, "ConfigMap", "vinops-config")["data"]
    assert not [k for k in config if SECRET_NAMES.search(k)]


def test_network_policies_only_when_enabled() -> None:
    assert not [o for o in render() if o["kind"] == "NetworkPolicy"]
    values = production_values()
    policies = {o["metadata"]["name"]: o for o in render(values) if o["kind"] == "NetworkPolicy"}
    assert set(policies) == {"vinops-jobs", "vinops-worker", "vinops-serve"}
    np = values["networkPolicy"]

    def allowed(policy: dict[str, Any]) -> set[tuple[str, str, int]]:
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        if policy["metadata"]["name"] != "vinops-serve":
            assert policy["spec"]["ingress"] == []
        return {(block["ipBlock"]["cidr"], port["protocol"], port["port"])
                for rule in policy["spec"]["egress"] for block in rule["to"] for port in rule["ports"]}  # fmt: skip

    def expected(*names: str) -> set[tuple[str, str, int]]:
        out = set()
        for name in names:
            protocols = ("UDP", "TCP") if name == "dns" else ("TCP",)
            out |= {(c, p, port) for c in np[name]["cidrs"] for port in np[name]["ports"] for p in protocols}
        return out

    assert allowed(policies["vinops-jobs"]) == expected("dns", "database", "prefectApi", "feed", "s3")
    assert allowed(policies["vinops-worker"]) == expected("dns", "prefectApi", "kubernetesApi")
    # vinops serve reaches only DNS and the database, and accepts connections on its port alone.
    assert allowed(policies["vinops-serve"]) == expected("dns", "database")
    assert policies["vinops-serve"]["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    # The jobs' policy selects exactly the labels the flow-run pods and the migration carry.
    selector = {e["key"]: e["values"] for e in policies["vinops-jobs"]["spec"]["podSelector"]["matchExpressions"]}
    assert selector == {"app.kubernetes.io/instance": ["vinops"],
                        "app.kubernetes.io/component": ["flow-run", "migration"]}  # fmt: skip


def _serve_pod(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = one(objects, "Deployment", "vinops-serve")
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    return pod, container


def test_serve_runs_with_probes_behind_a_service(rendered: Rendered) -> None:
    values, objects = rendered
    pod, container = _serve_pod(objects)
    secret = "vinops-database-reader" if values else "vinops-database"  # production: the read-only login
    command = container["command"]
    assert command[:2] == ["vinops", "serve"] and command[command.index("--host") + 1] == "0.0.0.0"
    [port] = container["ports"]
    assert port["name"] == "http" and str(port["containerPort"]) == command[command.index("--port") + 1]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["env"] == [{"name": "VINOPS_DATABASE_URL",
                                 "valueFrom": {"secretKeyRef": {"name": secret, "key": "url"}}}]  # fmt: skip
    assert container["envFrom"] == [{"configMapRef": {"name": "vinops-config"}}]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["automountServiceAccountToken"] is False
    service = one(objects, "Service", "vinops-serve")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]


def test_serve_can_read_through_its_own_secret() -> None:
    objects = render({"serve": {"databaseUrl": {"name": "vinops-database-reader", "key": "url"}}})
    _, container = _serve_pod(objects)
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "vinops-database-reader", "key": "url"}
    # The flow runs and the migration keep the writer's URL.
    job = one(objects, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "vinops-database"


def test_monitoring_objects_only_when_enabled() -> None:
    kinds = {"ServiceMonitor", "PrometheusRule"}
    assert not [o for o in render() if o["kind"] in kinds]
    objects = render({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}},
                                  "prometheusRule": {"enabled": True}}})  # fmt: skip
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service", "vinops-serve")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    # The PrometheusRule carries exactly the rules file Prometheus loads without the operator.
    rule = one(objects, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((REPO / "k8s" / "prometheus-rules.yaml").read_text())
    assert rule["spec"]["groups"] and all(r["alert"] for g in rule["spec"]["groups"] for r in g["rules"])
    # Without the service there is nothing to scrape: no ServiceMonitor, and no serve objects at all.
    objects = render({"serve": {"enabled": False}, "metrics": {"serviceMonitor": {"enabled": True}}})
    assert not [o for o in objects if o["kind"] == "ServiceMonitor" or "serve" in o["metadata"]["name"]]


def test_notes_name_the_next_commands() -> None:
    text = notes()
    for command in ("kubectl -n vinops rollout status deployment/vinops-worker",
                    "prefect work-pool update vinops-kubernetes --base-job-template",
                    "prefect --no-prompt deploy --all"):  # fmt: skip
        assert command in text


# --- values.schema.json ------------------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def _refused(values: dict[str, Any]) -> str:
    with helm_python.Chart.load(CHART) as chart:
        with pytest.raises(helm_python.HelmValuesError) as schema_error:
            chart.validate_schema(values)
        # Helm enforces the schema on every render (install, upgrade, template) too.
        with pytest.raises(helm_python.HelmValuesError):
            chart.render(values, name="vinops", namespace="vinops")
    return str(schema_error.value)


def test_schema_accepts_the_defaults_and_production_values() -> None:
    with helm_python.Chart.load(CHART) as chart:
        chart.validate_schema({})
        chart.validate_schema(production_values())


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"secrets": {"databaseUrl": "postgresql://vinops:hunter2@db:5432/vinops"}}, "/secrets/databaseUrl"),
        ({"secrets": {"feedUrl": {"value": "https://feed.example/salesdata.cgi?authKey=k"}}}, "/secrets/feedUrl"),
        ({"secrets": {"s3SecretAccessKey": {"name": "wJalrXUtnFEMI/K7MDENG+bPxRfiCY", "key": "k"}}},
         "/secrets/s3SecretAccessKey/name"),
        ({"worker": {"cloudApiConfig": {"apiKey": "pnu_0123456789"}}}, "/worker/cloudApiConfig"),
    ],
)
def test_schema_refuses_a_secret_value(values: dict[str, Any], where: str) -> None:
    assert where in _refused(values)


@pytest.mark.parametrize(
    ("values", "where"),
    [({"replicas": 2}, "'replicas'"), ({"worker": {"config": {"pool": "p"}}}, "'pool'"),
     ({"jobTemplate": {"resources": {"requests": {"cpu": "1", "memory": "1Gi", "gpu": "1"}}}}, "'gpu'")],
)
def test_schema_refuses_an_unknown_key(values: dict[str, Any], where: str) -> None:
    assert where in _refused(values)


@pytest.mark.parametrize("pool", ["", None])
def test_schema_refuses_a_missing_work_pool(pool: str | None) -> None:
    assert "workPool" in _refused({"worker": {"config": {"workPool": pool}}})


def _objects(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append((path, node))
        for key, value in node.items():
            found += _objects(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects(value, f"{path}/{i}")
    return found


def test_schema_is_closed_everywhere() -> None:
    objects = _objects(_schema())
    assert len(objects) > 30
    for path, node in objects:
        closed = node.get("additionalProperties")
        if "properties" in node:
            assert closed is False, f"{path}: a declared object must set additionalProperties: false"
        else:  # a map of free keys (labels, env): its values are typed
            assert isinstance(closed, dict) and closed.get("type") == "string", path


def _leaves(values: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    leaves = []
    for key, value in values.items():
        sub = schema["properties"][key]
        if isinstance(value, dict) and "properties" in sub:
            leaves += _leaves(value, sub, (*path, key))
        else:
            leaves.append((*path, key))
    return leaves


def test_schema_and_values_declare_the_same_keys() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())

    def keys(values: dict[str, Any], schema: dict[str, Any], path: str = "") -> None:
        assert set(values) == set(schema["properties"]), path
        for key, value in values.items():
            sub = schema["properties"][key]
            if isinstance(value, dict) and "properties" in sub:
                keys(value, sub, f"{path}.{key}")

    keys(defaults, _schema())


def test_every_value_is_documented() -> None:
    """Every leaf of values.yaml has a `# --` comment right above it (the prefect-helm convention)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    defaults = yaml.safe_load("\n".join(lines))
    positions: dict[tuple[str, ...], int] = {}
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match.group(2)))
        positions.setdefault(tuple(k for _, k in stack), number)
    leaves = _leaves(defaults, _schema())
    assert len(leaves) > 60
    undocumented = []
    for leaf in leaves:
        number = positions[leaf]
        above = number - 1
        while above >= 0 and lines[above].strip().startswith("#") and "# --" not in lines[above]:
            above -= 1  # a `# --` comment may go on over several lines
        if above < 0 or not lines[above].strip().startswith("# --"):
            undocumented.append(".".join(leaf))
    assert undocumented == []
