"""Static checks of docker-compose.yml, the Prometheus config and the Dockerfile."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from cqox_estimator.estimators import REGISTRY, methods_by_cost

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

# compose service -> (console script, port inside the container)
CQOX_SERVICES = {
    "ingest": ("cqox-ingest", 8000),
    "mapping": ("cqox-mapping", 9100),
    "quality-gate": ("cqox-quality-gate", 9100),
    "visualization": ("cqox-visualization", 9100),
    "notification": ("cqox-notification", 8000),
    "estimator-control": ("cqox-estimator", 9100),
    "estimator-light": ("cqox-estimator", 9100),
    "estimator-heavy": ("cqox-estimator", 9100),
    "estimator-refuter": ("cqox-estimator", 9100),
}
INFRA = {"nats", "postgres", "minio", "minio-init", "prometheus", "grafana", "jaeger"}
SCRIPT_OWNER = {
    "cqox-ingest": "ingest",
    "cqox-mapping": "mapping",
    "cqox-quality-gate": "quality_gate",
    "cqox-visualization": "visualization",
    "cqox-notification": "notification",
    "cqox-estimator": "estimator",
}
REQUIRED_ENV = {
    "CQOX_NATS_URL",
    "CQOX_DATABASE_URL",
    "CQOX_ARTIFACT_URL",
    "CQOX_S3_ENDPOINT",
    "CQOX_S3_ACCESS_KEY",
    "CQOX_S3_SECRET_KEY",
    "CQOX_S3_SECURE",
    "CQOX_LOG_LEVEL",
    "CQOX_HTTP_PORT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
}
# The only literal credentials allowed: obvious development defaults behind ${VAR:-...}.
DEV_DEFAULTS = {"cqox", "cqox-dev-secret", "admin", ""}
SECRETISH = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|API_KEYS|TOKEN", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(?P<var>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")
LIGHT_METHODS = {name for name, spec in REGISTRY.items() if spec.cost == "light"}
HEAVY_METHODS = {name for name, spec in REGISTRY.items() if spec.cost == "heavy"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def resolve(value: str) -> str:
    """Apply compose interpolation with every variable unset (defaults win)."""
    return INTERPOLATION.sub(lambda m: m.group("default") or "", str(value))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form for environment"
    return {k: str(v) for k, v in env.items()}


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_every_service_is_defined(services):
    assert set(services) == set(CQOX_SERVICES) | INFRA


@pytest.mark.parametrize("name", sorted(CQOX_SERVICES))
def test_cqox_services_share_the_one_image(services, name):
    svc = services[name]
    assert svc["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert svc["image"].startswith("cqox:")
    assert (ROOT / svc["build"]["dockerfile"]).is_file()
    script, _ = CQOX_SERVICES[name]
    assert svc["command"][0] == script
    assert svc["read_only"] is True and "/tmp" in svc["tmpfs"]


@pytest.mark.parametrize("name", sorted(CQOX_SERVICES))
def test_cqox_services_have_their_environment(services, name):
    env = env_of(services[name])
    _, port = CQOX_SERVICES[name]
    assert set(env) >= REQUIRED_ENV
    assert env["CQOX_HTTP_PORT"] == str(port)
    assert env["CQOX_NATS_URL"] == "nats://nats:4222"
    assert env["CQOX_ARTIFACT_URL"] == "s3://cqox-artifacts"
    assert env["CQOX_S3_ENDPOINT"] == "minio:9000"
    assert env["CQOX_S3_SECURE"] == "false"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    assert env["OTEL_SERVICE_NAME"] == f"cqox-{name}"
    assert resolve(env["CQOX_DATABASE_URL"]).startswith("postgresql+psycopg://cqox:")
    assert resolve(env["CQOX_DATABASE_URL"]).endswith("@postgres:5432/cqox")


def test_credentials_match_the_infrastructure(services):
    pg = env_of(services["postgres"])
    minio = env_of(services["minio"])
    assert pg["POSTGRES_DB"] == "cqox" and pg["POSTGRES_USER"] == "cqox"
    for name in CQOX_SERVICES:
        env = env_of(services[name])
        password = resolve(pg["POSTGRES_PASSWORD"])
        assert resolve(env["CQOX_DATABASE_URL"]) == (
            f"postgresql+psycopg://cqox:{password}@postgres:5432/cqox"
        )
        assert env["CQOX_S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"]
        assert env["CQOX_S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"]


def test_api_keys_only_where_there_is_an_api(services):
    for name in CQOX_SERVICES:
        env = env_of(services[name])
        assert ("CQOX_API_KEYS" in env) == (name in {"ingest", "notification"}), name


def test_webhooks_may_reach_receivers_on_the_compose_network(services):
    """Compose is a local stack: private webhook targets are allowed there, only for notification."""
    for name in CQOX_SERVICES:
        env = env_of(services[name])
        allowed = env.get("CQOX_WEBHOOK_ALLOW_PRIVATE_TARGETS")
        assert (resolve(allowed) if allowed else None) == ("true" if name == "notification" else None), name


@pytest.mark.parametrize("name", sorted(CQOX_SERVICES))
def test_cqox_services_wait_for_healthy_dependencies(services, name):
    deps = services[name]["depends_on"]
    for infra in ("nats", "postgres", "minio"):
        assert deps[infra] == {"condition": "service_healthy"}, infra
    assert deps["minio-init"] == {"condition": "service_completed_successfully"}


def test_health_conditions_point_at_healthchecks(services):
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
        for dep, cond in items:
            assert dep in services, (name, dep)
            if cond.get("condition") == "service_healthy":
                assert "healthcheck" in services[dep], (name, dep)


@pytest.mark.parametrize("name", sorted(CQOX_SERVICES))
def test_cqox_healthcheck_probes_the_service_port(services, name):
    check = services[name]["healthcheck"]
    assert check["test"][0] == "CMD"
    script = " ".join(check["test"])
    assert "/readyz" in script and "CQOX_HTTP_PORT" in script
    assert {"interval", "timeout", "retries"} <= set(check)


def test_published_ports(services):
    assert services["ingest"]["ports"] == ["8000:8000"]
    assert services["notification"]["ports"] == ["8001:8000"]
    host_ports = [p.split(":")[0] for svc in services.values() for p in svc.get("ports", []) if ":" in p]
    assert len(host_ports) == len(set(host_ports)), "host port published twice"
    workers = set(CQOX_SERVICES) - {"ingest", "notification"}
    assert not any("ports" in services[w] for w in workers)


def served_by(command: list[str]) -> set[str]:
    """Methods a worker command serves: `--cost c` (a registry cost class) or `--methods a,b`."""
    if "--cost" in command:
        return set(methods_by_cost(flag(command, "--cost")))
    return {m for m in flag(command, "--methods").split(",") if m}


def test_estimator_roles_and_pools(services):
    control = services["estimator-control"]["command"]
    assert flag(control, "--roles") == "planner,aggregator"
    assert flag(control, "--methods") == ""

    served: set[str] = set()
    for name in ("estimator-light", "estimator-heavy"):
        cmd = services[name]["command"]
        assert flag(cmd, "--roles") == "worker"
        assert served_by(cmd), name
        assert services[name]["deploy"]["replicas"] >= 1, name
        served |= served_by(cmd)
    assert served_by(services["estimator-light"]["command"]) == LIGHT_METHODS
    assert served_by(services["estimator-heavy"]["command"]) == HEAVY_METHODS
    assert served == set(REGISTRY)  # every registered method has a pool
    refuter = services["estimator-refuter"]["command"]
    assert flag(refuter, "--roles") == "refuter" and served_by(refuter) == LIGHT_METHODS
    assert services["estimator-refuter"]["deploy"]["replicas"] >= 1


def test_api_services_are_secure_by_default(services):
    for name in ("ingest", "notification"):
        env = env_of(services[name])
        assert resolve(env["CQOX_AUTH"]) == "required", name
        assert resolve(env["CQOX_API_KEYS"]) == "", name  # the service refuses to start without keys


def test_commands_match_declared_console_scripts(services):
    """Every compose command is a console script its service's package declares, calling a main()."""
    for name, (script, _) in CQOX_SERVICES.items():
        assert services[name]["command"][0] == script
        pyproject = ROOT / "services" / SCRIPT_OWNER[script] / "pyproject.toml"
        declared = tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {})
        assert script in declared, f"{pyproject} declares no [project.scripts] {script} (compose {name})"
        assert declared[script].endswith(":main"), (script, declared[script])


def test_infrastructure(services):
    nats = services["nats"]
    assert nats["image"].startswith("nats:2.10")
    assert nats["command"] == ["-c", "/etc/nats/auth.conf", "-js", "-sd", "/data", "-m", "8222"]
    assert "8222" in " ".join(nats["healthcheck"]["test"])

    assert services["postgres"]["image"] == "postgres:16"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "healthcheck" in services["minio"]

    init = services["minio-init"]
    assert init["image"].startswith("minio/mc")
    assert init["depends_on"] == {"minio": {"condition": "service_healthy"}}
    assert "mb --ignore-existing local/cqox-artifacts" in " ".join(init["command"])

    assert env_of(services["jaeger"])["COLLECTOR_OTLP_ENABLED"] == "true"
    assert services["jaeger"]["image"].startswith("jaegertracing/all-in-one")
    assert services["grafana"]["image"].startswith("grafana/grafana")


def test_no_secret_literals(compose):
    """Credentials are ${VAR:-dev-default}; nothing else is hard-coded."""

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
                if SECRETISH.search(str(key)) and not isinstance(value, dict | list):
                    text = str(value)
                    match = INTERPOLATION.fullmatch(text)
                    assert match, f"{path}.{key} is a literal credential"
                    assert (match.group("default") or "") in DEV_DEFAULTS, f"{path}.{key}"
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")
        elif isinstance(node, str) and "://" in node and "@" in node:
            userinfo = node.split("://", 1)[1].split("@", 1)[0]
            _, _, password = userinfo.partition(":")
            assert INTERPOLATION.fullmatch(password), f"{path}: password in URL"
            assert resolve(password) in DEV_DEFAULTS, path

    walk(compose, "compose")


def test_prometheus_scrapes_every_service(services):
    volume = next(v for v in services["prometheus"]["volumes"] if "prometheus.yml" in v)
    host_path = ROOT / volume.split(":")[0]
    assert host_path == ROOT / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(host_path.read_text())

    targets: dict[str, int] = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for dns_name in sd["names"]:
                targets[dns_name] = sd["port"]
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                targets[host] = int(port)
        assert job.get("metrics_path", "/metrics") == "/metrics"
    for name, (_, port) in CQOX_SERVICES.items():
        assert targets.get(name) == port, name


def test_grafana_is_provisioned_with_prometheus(compose, services):
    sources = {c["source"] for c in services["grafana"]["configs"]}
    for source in sources:
        content = yaml.safe_load(compose["configs"][source]["content"])
        urls = {d["url"] for d in content["datasources"]}
        assert "http://prometheus:9090" in urls


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes", {}))
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, source


# --- the image ---------------------------------------------------------------------


def test_dockerfile_follows_the_image_conventions():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    froms = [line for line in instructions if line.startswith("FROM")]
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in instructions
    assert all("${PYTHON_IMAGE}" in line for line in froms)
    assert re.search(r"pip install [^\n]*uv", text)
    assert "uv sync --frozen --no-dev" in text
    assert re.search(r"PATH=/app/\.venv/bin:\$PATH", text)
    assert "COPY pyproject.toml uv.lock ./" in text

    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users, "the image must switch to a non-root user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert (ROOT / "uv.lock").is_file()


def test_dockerignore_keeps_the_context_small():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "**/__pycache__"} <= patterns
    for needed in ("pyproject.toml", "uv.lock", "contracts", "libs", "services"):
        assert needed not in patterns
