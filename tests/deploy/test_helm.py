"""Render the Helm chart with the real Helm engine and check the manifests.

Offline: ``helm_python`` renders in-process and ``kubernetes_validate`` carries
the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
import yaml

from cqox_estimator.estimators import REGISTRY, methods_by_cost

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "cqox"
KUBE_VERSION = "1.37.0"
RELEASE = "cqox"
NAMESPACE = "cqox"

SERVICES = {
    "ingest": ("cqox-ingest", 8000),
    "mapping": ("cqox-mapping", 9100),
    "quality-gate": ("cqox-quality-gate", 9100),
    "visualization": ("cqox-visualization", 9100),
    "notification": ("cqox-notification", 8000),
    "estimator-control": ("cqox-estimator", 9100),
}
HTTP_SERVICES = {"ingest", "notification"}
CONFIG_KEYS = {
    "CQOX_NATS_URL",
    "CQOX_ARTIFACT_URL",
    "CQOX_S3_ENDPOINT",
    "CQOX_S3_SECURE",
    "CQOX_LOG_LEVEL",
}
SECRET_KEYS = {
    "CQOX_DATABASE_URL",
    "CQOX_S3_ACCESS_KEY",
    "CQOX_S3_SECRET_KEY",
    "CQOX_API_KEYS",
    "CQOX_AUTH_PEPPER",
    "CQOX_WEBHOOK_SECRET_KEYS",
}
VALUE_FILES = [None, "values-dev.yaml", "values-prod.yaml"]
# The chart refuses to render without API keys (or existingSecret, or auth.mode=disabled); tests
# that are not about keys get this one.
TEST_API_KEYS = "test-key:default:admin"


def with_api_keys(values: dict[str, Any]) -> dict[str, Any]:
    secrets = values.get("secrets") or {}
    auth_off = (values.get("auth") or {}).get("mode") == "disabled"
    if secrets.get("apiKeys") or secrets.get("existingSecret") or auth_off:
        return values
    return {**values, "secrets": {**secrets, "apiKeys": TEST_API_KEYS}}


def load_values(value_file: str | None) -> dict[str, Any]:
    if value_file is None:
        return with_api_keys({})
    return yaml.safe_load((CHART_DIR / value_file).read_text()) or {}


def pool_methods(args: list[str]) -> set[str]:
    """Methods a worker serves, from its `--methods a,b` or `--cost c` arguments."""
    if "--cost" in args:
        return set(methods_by_cost(args[args.index("--cost") + 1]))
    return {m for m in args[args.index("--methods") + 1].split(",") if m}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm_python.Chart]:
    with helm_python.Chart.load(CHART_DIR) as loaded:
        yield loaded


def render(chart: helm_python.Chart, values: dict[str, Any], *, keys: bool = True) -> list[dict[str, Any]]:
    manifests = chart.render(with_api_keys(values) if keys else values, name=RELEASE, namespace=NAMESPACE)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_map(ctr: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in ctr.get("env", [])}


def expected_replicas(spec: dict[str, Any], defaults: dict[str, Any]) -> int:
    return int(spec["replicas"] if "replicas" in spec else defaults["replicas"])


@pytest.fixture(scope="module", params=VALUE_FILES, ids=lambda v: v or "defaults")
def rendered(request, chart) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    values = load_values(request.param)
    return chart.merge_values(values), render(chart, values)


# --- generic validity ------------------------------------------------------------


def test_lint_strict_is_clean():
    for value_file in VALUE_FILES:
        report = helm_python.lint(CHART_DIR, with_api_keys(load_values(value_file)), strict=True)
        assert report["errors"] == [], (value_file, report)
        assert report["messages"] == [], (value_file, report)


def test_every_resource_validates_against_kubernetes_schema(rendered):
    _, docs = rendered
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_resources_are_namespaced_and_labelled(rendered):
    _, docs = rendered
    for doc in docs:
        meta = doc["metadata"]
        assert meta["namespace"] == NAMESPACE
        labels = meta["labels"]
        assert labels["app.kubernetes.io/name"] == "cqox"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"].startswith("cqox-")


def test_rendered_kinds(rendered):
    values, docs = rendered
    kinds = {d["kind"] for d in docs}
    expected = {"Deployment", "Service", "ConfigMap", "ServiceAccount"}
    if not values["secrets"]["existingSecret"]:
        expected.add("Secret")
    assert kinds == expected


# --- deployments -----------------------------------------------------------------


def test_one_deployment_per_service_and_per_pool(rendered):
    values, docs = rendered
    deployments = of_kind(docs, "Deployment")
    pools = values["estimator"]["pools"]
    expected = {f"cqox-{name}" for name in SERVICES} | {f"cqox-estimator-{p['name']}" for p in pools}
    assert set(deployments) == expected
    assert len(deployments) == len(SERVICES) + len(pools)


def test_services_run_their_console_script_with_replicas_from_values(rendered):
    values, docs = rendered
    deployments = of_kind(docs, "Deployment")
    for name, (script, port) in SERVICES.items():
        dep = deployments[f"cqox-{name}"]
        ctr = container(dep)
        assert ctr["command"] == [script]
        assert ctr["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert env_map(ctr)["CQOX_HTTP_PORT"] == str(port)
        assert dep["spec"]["replicas"] == expected_replicas(values["services"][name], values["podDefaults"])
    control = container(deployments["cqox-estimator-control"])
    assert control["args"] == ["--roles", "planner,aggregator", "--methods", ""]


def test_estimator_pools_render_methods_and_replicas(rendered):
    values, docs = rendered
    deployments = of_kind(docs, "Deployment")
    for pool in values["estimator"]["pools"]:
        dep = deployments[f"cqox-estimator-{pool['name']}"]
        ctr = container(dep)
        assert ctr["command"] == ["cqox-estimator"]
        role = pool.get("role", "worker")
        if "cost" in pool:
            assert ctr["args"] == ["--roles", role, "--cost", pool["cost"]]
        else:
            assert ctr["args"] == ["--roles", role, "--methods", ",".join(pool["methods"])]
        assert dep["spec"]["replicas"] == expected_replicas(pool, values["podDefaults"])
        assert ctr["resources"] == pool.get("resources", values["podDefaults"]["resources"])
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert labels["cqox.io/estimator-pool"] == pool["name"]


def test_every_registered_method_is_served(rendered):
    """Every method of the registry has a pool with replicas > 0 in every values file: the planner
    requests any of them, and a method nobody serves would leave its analyses waiting."""
    _, docs = rendered
    served: set[str] = set()
    for name, dep in of_kind(docs, "Deployment").items():
        args = container(dep).get("args", [])
        if name.startswith("cqox-estimator-") and "worker" in args and dep["spec"]["replicas"] > 0:
            served |= pool_methods(args)
    assert served == set(REGISTRY), f"unserved: {sorted(set(REGISTRY) - served)}"


def test_every_values_file_serves_the_refuters(rendered):
    """A refuter pool with replicas > 0 runs the placebo refuters of the light methods."""
    _, docs = rendered
    refuters = [
        container(dep)["args"]
        for name, dep in of_kind(docs, "Deployment").items()
        if name.startswith("cqox-estimator-") and dep["spec"]["replicas"] > 0
        and container(dep).get("args", [])[:2] == ["--roles", "refuter"]
    ]  # fmt: skip
    assert refuters == [["--roles", "refuter", "--cost", "light"]]


def test_pools_may_be_declared_by_cost_or_by_methods(chart):
    pools = [
        {"name": "cheap", "cost": "light"},
        {"name": "forest", "methods": ["causal_forest"]},
        {"name": "learners", "methods": ["s_learner", "t_learner", "x_learner"], "replicas": 3},
    ]
    deployments = of_kind(render(chart, {"estimator": {"pools": pools}}), "Deployment")
    assert container(deployments["cqox-estimator-cheap"])["args"] == ["--roles", "worker", "--cost", "light"]
    assert pool_methods(container(deployments["cqox-estimator-learners"])["args"]) == {
        "s_learner",
        "t_learner",
        "x_learner",
    }
    served = set().union(
        *(pool_methods(container(deployments[f"cqox-estimator-{p['name']}"])["args"]) for p in pools)
    )
    assert served == set(REGISTRY)


SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())


def test_schema_knows_exactly_the_registered_methods_and_costs():
    spec = importlib.util.spec_from_file_location(
        "values_schema", ROOT / "deploy" / "helm" / "values_schema.py"
    )
    assert spec and spec.loader
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    committed = (CHART_DIR / "values.schema.json").read_text()
    assert committed == generator.render(), "values.schema.json is stale: run `make chart-schema`"
    pool = SCHEMA["properties"]["estimator"]["properties"]["pools"]["items"]["properties"]
    assert pool["methods"]["items"]["enum"] == sorted(REGISTRY)
    assert set(pool["cost"]["enum"]) == {spec.cost for spec in REGISTRY.values()}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"imge": {"tag": "x"}}, "additional properties 'imge' not allowed"),
        ({"podDefaults": {"replica": 2}}, "additional properties 'replica' not allowed"),
        ({"services": {"ingest": {"replcas": 2}}}, "additional properties 'replcas' not allowed"),
        ({"estimator": {"pools": [{"name": "a", "methods": ["olss"]}]}}, "value must be one of"),
        ({"estimator": {"pools": [{"name": "a", "cost": "medium"}]}}, "value must be one of"),
        ({"estimator": {"pools": [{"name": "a", "cost": "light", "methods": ["ols"]}]}}, "oneOf"),
        ({"estimator": {"pools": [{"name": "Heavy_Pool", "cost": "heavy"}]}}, "does not match pattern"),
        ({"estimator": {"pools": [{"name": "control", "cost": "heavy"}]}}, "/estimator/pools/0/name"),
        ({"estimator": {"pools": [{"name": "a", "methods": []}]}}, "minItems"),
        ({"estimator": {"pools": [{"methods": ["ols"]}]}}, "missing property 'name'"),
        ({"auth": {"mode": "off"}}, "value must be one of"),
        ({"secrets": {"apiKeys": "key-without-role"}}, "does not match pattern"),
    ],
)
def test_schema_rejects_typos_unknown_methods_and_bad_pools(chart, values, message):
    with pytest.raises(helm_python.HelmValuesError, match=message):
        render(chart, values)


def test_pod_spec_is_hardened_and_probed(rendered):
    values, docs = rendered
    image = f"{values['image']['repository']}:{values['image']['tag'] or '0.1.0'}"
    for name, dep in of_kind(docs, "Deployment").items():
        selector = dep["spec"]["selector"]["matchLabels"]
        template = dep["spec"]["template"]
        assert selector.items() <= template["metadata"]["labels"].items(), name
        assert selector["app.kubernetes.io/component"] == name.removeprefix("cqox-")

        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == "cqox"

        ctr = container(dep)
        assert ctr["image"] == image
        sec = ctr["securityContext"]
        assert sec["readOnlyRootFilesystem"] is True
        assert sec["allowPrivilegeEscalation"] is False
        assert sec["capabilities"]["drop"] == ["ALL"]
        tmp = {v["name"]: v for v in pod["volumes"]}["tmp"]
        assert "emptyDir" in tmp
        assert {"name": "tmp", "mountPath": "/tmp"} in ctr["volumeMounts"]

        assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert ctr["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert ctr["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert ctr["resources"]["requests"], name

        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(ctr["ports"][0]["containerPort"])
        assert annotations["prometheus.io/path"] == "/metrics"
        assert "checksum/config" in annotations


def test_pods_take_config_from_configmap_and_secret(rendered):
    values, docs = rendered
    secret_name = values["secrets"]["existingSecret"] or "cqox-secrets"
    configmaps = of_kind(docs, "ConfigMap")
    for dep in of_kind(docs, "Deployment").values():
        refs = container(dep)["envFrom"]
        assert refs == [
            {"configMapRef": {"name": "cqox-config"}},
            {"secretRef": {"name": secret_name}},
        ]
    assert "cqox-config" in configmaps
    if not values["secrets"]["existingSecret"]:
        assert secret_name in of_kind(docs, "Secret")


# --- services, config and secrets ---------------------------------------------------


def test_services_only_for_http_apis(rendered):
    _, docs = rendered
    services = of_kind(docs, "Service")
    deployments = of_kind(docs, "Deployment")
    assert set(services) == {f"cqox-{name}" for name in HTTP_SERVICES}
    for name, svc in services.items():
        assert svc["spec"]["ports"] == [
            {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
        ]
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= pod_labels.items()


def test_configmap_holds_only_non_secret_settings(rendered):
    values, docs = rendered
    data = of_kind(docs, "ConfigMap")["cqox-config"]["data"]
    assert set(data) >= CONFIG_KEYS
    assert not set(data) & SECRET_KEYS
    assert data["CQOX_NATS_URL"] == values["nats"]["url"]
    assert data["CQOX_S3_SECURE"] in {"true", "false"}
    assert data["CQOX_ARTIFACT_URL"].startswith("s3://")
    for key, value in data.items():
        assert "PASSWORD" not in key and "SECRET" not in key, key
        assert "@" not in value, (key, "credentials in a URL")


def test_secrets_never_leak_outside_the_secret(chart):
    sentinels = {
        "databasePassword": "db-s3ntinel-pw",
        "s3AccessKey": "s3-s3ntinel-access",
        "s3SecretKey": "s3-s3ntinel-secret",
        "apiKeys": "k1:tenant-a:admin",
        "authPepper": "pepper-s3ntinel",
        "webhookSecretKeys": "fernet-s3ntinel",
    }
    docs = render(chart, {"secrets": sentinels, "postgres": {"params": "sslmode=require"}})
    for doc in docs:
        if doc["kind"] != "Secret":
            text = yaml.safe_dump(doc)
            for value in sentinels.values():
                assert value not in text, (doc["kind"], doc["metadata"]["name"])

    secret = of_kind(docs, "Secret")["cqox-secrets"]
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(decoded) == SECRET_KEYS
    assert decoded["CQOX_DATABASE_URL"] == (
        "postgresql+psycopg://cqox:db-s3ntinel-pw@postgres:5432/cqox?sslmode=require"
    )
    assert decoded["CQOX_S3_ACCESS_KEY"] == sentinels["s3AccessKey"]
    assert decoded["CQOX_S3_SECRET_KEY"] == sentinels["s3SecretKey"]
    assert decoded["CQOX_API_KEYS"] == sentinels["apiKeys"]
    assert decoded["CQOX_AUTH_PEPPER"] == sentinels["authPepper"]
    assert decoded["CQOX_WEBHOOK_SECRET_KEYS"] == sentinels["webhookSecretKeys"]


def test_database_password_is_url_encoded(chart):
    docs = render(chart, {"secrets": {"databasePassword": "p@ss/w:rd"}})
    raw = of_kind(docs, "Secret")["cqox-secrets"]["data"]["CQOX_DATABASE_URL"]
    url = base64.b64decode(raw).decode()
    assert url.startswith("postgresql+psycopg://cqox:p%40ss%2Fw%3Ard@postgres:5432/")


def test_existing_secret_replaces_the_rendered_secret(chart):
    docs = render(chart, {"secrets": {"existingSecret": "managed", "databasePassword": "x"}})
    assert of_kind(docs, "Secret") == {}
    for dep in of_kind(docs, "Deployment").values():
        assert {"secretRef": {"name": "managed"}} in container(dep)["envFrom"]
        assert "checksum/secret" not in dep["spec"]["template"]["metadata"]["annotations"]


def test_optional_settings_reach_the_configmap(chart):
    docs = render(
        chart,
        {"config": {"otlpEndpoint": "http://jaeger:4318", "ackWaitSeconds": 45, "extraEnv": {}}},
    )
    data = of_kind(docs, "ConfigMap")["cqox-config"]["data"]
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert data["CQOX_ACK_WAIT_S"] == "45"
    plain = of_kind(render(chart, {}), "ConfigMap")["cqox-config"]["data"]
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in plain
    assert "CQOX_ACK_WAIT_S" not in plain


def test_rate_limits_reach_the_configmap_and_zero_turns_one_off(chart):
    data = of_kind(
        render(chart, {"config": {"rateLimitRequestsPerMinute": 0, "rateLimitUploadsPerMinute": 5}}),
        "ConfigMap",
    )["cqox-config"]["data"]
    assert data["CQOX_RATE_LIMIT_REQUESTS_PER_MINUTE"] == "0"
    assert data["CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE"] == "5"
    plain = of_kind(render(chart, {}), "ConfigMap")["cqox-config"]["data"]
    assert not {"CQOX_RATE_LIMIT_REQUESTS_PER_MINUTE", "CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE"} & set(plain)


# --- scaling knobs ------------------------------------------------------------------


def test_custom_pools_scale_independently(chart):
    pools: list[dict[str, Any]] = [
        {"name": "light", "methods": ["diff_in_means", "ols"], "replicas": 3},
        {"name": "matching", "methods": ["psm", "aipw"], "replicas": 1},
        {"name": "forest", "methods": ["causal_forest"], "replicas": 0},
    ]
    docs = render(chart, {"estimator": {"pools": pools}})
    deployments = of_kind(docs, "Deployment")
    for pool in pools:
        dep = deployments[f"cqox-estimator-{pool['name']}"]
        assert dep["spec"]["replicas"] == pool["replicas"]
        assert container(dep)["args"][-1] == ",".join(pool["methods"])
    assert len(deployments) == len(SERVICES) + len(pools)
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_duplicated_pools_fail_rendering(chart):
    pools = [{"name": "a", "methods": ["ols"]}, {"name": "a", "methods": ["ipw"]}]
    with pytest.raises(helm_python.HelmRenderError, match="duplicated"):
        render(chart, {"estimator": {"pools": pools}})


# --- authentication: secure by default --------------------------------------------


def test_rendering_without_api_keys_fails_with_the_way_out(chart):
    with pytest.raises(helm_python.HelmRenderError, match=r"secrets\.apiKeys is required") as info:
        render(chart, {}, keys=False)
    assert "auth.mode=disabled" in str(info.value) and "existingSecret" in str(info.value)


def test_keys_reach_the_secret_and_auth_mode_the_configmap(chart):
    docs = render(chart, {"secrets": {"apiKeys": "k1:acme:admin"}}, keys=False)
    assert of_kind(docs, "ConfigMap")["cqox-config"]["data"]["CQOX_AUTH"] == "required"
    data = of_kind(docs, "Secret")["cqox-secrets"]["data"]
    assert base64.b64decode(data["CQOX_API_KEYS"]).decode() == "k1:acme:admin"


def test_auth_can_only_be_disabled_explicitly(chart):
    docs = render(chart, {"auth": {"mode": "disabled"}}, keys=False)
    assert of_kind(docs, "ConfigMap")["cqox-config"]["data"]["CQOX_AUTH"] == "disabled"
    assert "CQOX_API_KEYS" not in of_kind(docs, "Secret")["cqox-secrets"]["data"]
    with pytest.raises(helm_python.HelmRenderError, match="both set"):
        render(chart, {"auth": {"mode": "disabled"}, "secrets": {"apiKeys": "k:t:admin"}}, keys=False)


def test_an_existing_secret_is_trusted_to_hold_the_keys(chart):
    docs = render(chart, {"secrets": {"existingSecret": "managed"}}, keys=False)
    assert of_kind(docs, "ConfigMap")["cqox-config"]["data"]["CQOX_AUTH"] == "required"


def test_webhook_private_targets_are_refused_unless_allowed(chart):
    def notification_env(values: dict[str, Any]) -> dict[str, str]:
        deployment = of_kind(render(chart, values), "Deployment")["cqox-notification"]
        return env_map(container(deployment))

    assert notification_env({})["CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS"] == "false"
    allowed = {"services": {"notification": {"allowPrivateTargets": True}}}
    assert notification_env(allowed)["CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS"] == "true"
    other = of_kind(render(chart, allowed), "Deployment")["cqox-ingest"]
    assert "CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS" not in env_map(container(other))


def test_disabled_service_renders_nothing(chart):
    docs = render(chart, {"services": {"notification": {"enabled": False}}})
    assert "cqox-notification" not in of_kind(docs, "Deployment")
    assert "cqox-notification" not in of_kind(docs, "Service")


def test_spread_across_nodes_adds_topology_constraints(chart):
    docs = render(chart, load_values("values-prod.yaml"))
    for name, dep in of_kind(docs, "Deployment").items():
        (constraint,) = dep["spec"]["template"]["spec"]["topologySpreadConstraints"]
        selector = constraint["labelSelector"]["matchLabels"]
        assert selector == dep["spec"]["selector"]["matchLabels"], name


def test_notes_render(chart):
    notes = chart.render(with_api_keys({}), name=RELEASE, namespace=NAMESPACE)["cqox/templates/NOTES.txt"]
    assert "cqox-estimator-light: every light method (2 replicas)" in notes
    assert "cqox-estimator-heavy: every heavy method (1 replicas)" in notes
    assert "require an API key" in notes
    assert "port-forward svc/cqox-ingest" in notes
