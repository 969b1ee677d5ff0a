"""Run the production form as real containers: the image, the Helm chart's pods, the compose file.

A container engine (Debian's docker.io) runs on the test machine; registries are not reachable, so
the image is built on a local Debian base (deploy/docker/local-base.sh). Every container runs with
``--network host`` and binds 127.0.0.1 on a free port: the tests talk to loopback only. Real NATS,
PostgreSQL and an S3 server (moto) run on the host, from the same pip packages the embedded stack
uses, standing in for the cluster's (or compose's) own.

A pod spec is turned into ``docker run`` options one field at a time (command, args, env from the
rendered ConfigMap and Secret, user, read-only root, the declared writable mounts, memory limit,
dropped capabilities, no privilege escalation). Two things differ, because pods have a network
namespace each and these containers share the host's: CQOX_HTTP_PORT (a free port instead of the
pod's 8000/9100) and CQOX_HTTP_HOST (127.0.0.1).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from cqox_stack.processes import NatsServer, Postgres, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "deploy" / "helm" / "cqox"
BASE_IMAGE = os.environ.get("CQOX_BASE_IMAGE", "cqox-base:bookworm")
TEST_IMAGE = os.environ.get("CQOX_TEST_IMAGE", "cqox:containers-test")
API_KEY = "container-test-key"
API_KEYS = f"{API_KEY}:default:admin"
DB_PASSWORD = "container-test-pw"
S3_ACCESS, S3_SECRET = "cqox-test-access", "cqox-test-secret"
BUCKET = "cqox-artifacts"


def service_port() -> int:
    """A free port below the kernel's ephemeral range (32768-60999), so that no outgoing connection
    of another process on this busy machine takes it between this check and the container's bind."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def docker_binary() -> str:
    """The docker client: $CQOX_DOCKER, else Debian's (/usr/bin/docker, whose `build` uses the
    daemon's own BuildKit), else the first on PATH."""
    for candidate in (os.environ.get("CQOX_DOCKER"), "/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError("no docker client: install Debian's docker.io (apt-get install -y docker.io)")


class Docker:
    """Thin wrapper around the docker CLI; starts dockerd when it is installed but not running."""

    def __init__(self) -> None:
        self.binary = docker_binary()
        self.env = {**os.environ, "DOCKER_BUILDKIT": "1"}

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, timeout=timeout, env=self.env
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args[:3])} failed ({result.returncode}):\n{result.stderr[-4000:]}"
            )
        return result

    def ensure_daemon(self) -> None:
        if self("info", check=False, timeout=30).returncode == 0:
            return
        dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
        if not Path(dockerd).is_file() or os.geteuid() != 0:
            raise RuntimeError(
                "the docker daemon is not running and cannot be started here (needs root + dockerd)"
            )
        log = Path(tempfile.gettempdir()) / "cqox-dockerd.log"
        subprocess.Popen([dockerd], stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(
            lambda: self("info", check=False, timeout=10).returncode == 0, 60, f"dockerd (log {log})", 0.5
        )

    def image_exists(self, name: str) -> bool:
        return self("image", "inspect", name, check=False, timeout=60).returncode == 0

    def ensure_base(self) -> None:
        """The local stand-in for python:3.11-slim (debootstrap + docker import, cached)."""
        if self.image_exists(BASE_IMAGE):
            return
        result = subprocess.run(
            [str(ROOT / "deploy" / "docker" / "local-base.sh"), BASE_IMAGE],
            capture_output=True,
            text=True,
            timeout=900,
            env={**self.env, "DOCKER": self.binary},
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"building the local base image failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
            )

    def build(self) -> float:
        """Build the image from the Dockerfile on the local base; seconds taken. The host's CA
        bundle (that pip is configured with) reaches the install steps as a BuildKit secret."""
        args = ["build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={BASE_IMAGE}", "-t", TEST_IMAGE]
        bundle = (
            os.environ.get("SSL_CERT_FILE")
            or os.environ.get("PIP_CERT")
            or "/etc/ssl/certs/ca-certificates.crt"
        )
        if Path(bundle).is_file():
            args += ["--secret", f"id=ca_bundle,src={bundle}"]
        started = time.monotonic()
        self(*args, str(ROOT), timeout=1800)
        return time.monotonic() - started


# --- infrastructure on the host ------------------------------------------------------


@dataclass
class Infra:
    """NATS, PostgreSQL (role and database `cqox` with a password) and an S3 server on loopback."""

    root: Path
    nats: NatsServer
    postgres: Postgres
    s3_port: int
    moto: Any

    @property
    def nats_port(self) -> int:
        return self.nats.port

    @property
    def pg_port(self) -> int:
        return self.postgres.port


@contextlib.contextmanager
def host_infra() -> Iterator[Infra]:
    import psycopg
    from minio import Minio
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    root = Path(tempfile.mkdtemp(prefix="cqox-containers-"))
    # Without users: the image's and the chart's NATS credentials are checked by tests/deploy; here
    # the containers connect to the host's server as compose and Helm configure them.
    nats = NatsServer(root / "nats", auth=False)
    postgres = Postgres(root / "postgres")
    s3_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    try:
        nats.start()
        postgres.start()
        with psycopg.connect(
            f"host=127.0.0.1 port={postgres.port} user=postgres dbname=postgres", autocommit=True
        ) as c:
            c.execute(f"CREATE ROLE cqox LOGIN PASSWORD '{DB_PASSWORD}'")
            c.execute("CREATE DATABASE cqox OWNER cqox")
        moto.start()
        Minio(f"127.0.0.1:{s3_port}", S3_ACCESS, S3_SECRET, secure=False).make_bucket(BUCKET)
        yield Infra(root, nats, postgres, s3_port, moto)
    finally:
        with contextlib.suppress(Exception):
            moto.stop()
        nats.stop()
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)


# --- containers ----------------------------------------------------------------------


@dataclass
class ContainerSpec:
    """What `docker run` needs, taken from a pod spec or a compose service."""

    name: str
    command: list[str]
    args: list[str]
    env: dict[str, str]
    user: str | None = None
    read_only: bool = False
    tmpfs: dict[str, str] = field(default_factory=dict)  # path -> size ("" for none)
    memory: str | None = None
    cpu_shares: int | None = None  # from requests.cpu (1 core = 1024 shares)
    cpus: str | None = None  # from limits.cpu
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = False
    ready_path: str = "/readyz"

    def port(self) -> int:
        return int(self.env["CQOX_HTTP_PORT"])


def memory_of(quantity: str) -> str:
    """A Kubernetes memory quantity as docker's --memory (512Mi -> 512m, 4Gi -> 4g)."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|k|M|G)?", str(quantity))
    assert match, f"unsupported memory quantity {quantity}"
    units = {"Ki": "k", "Mi": "m", "Gi": "g", "k": "k", "M": "m", "G": "g", None: "b"}
    return match.group(1) + units[match.group(2)]


def cores(quantity: str | int | float) -> float:
    """A Kubernetes CPU quantity in cores (250m -> 0.25, "1" -> 1.0)."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


class Pods:
    """Started containers (removed at the end) and their readiness."""

    def __init__(self, docker: Docker) -> None:
        self.docker = docker
        self.started: dict[str, str] = {}  # name -> container id
        self.run_id = uuid.uuid4().hex[:6]

    def run(self, spec: ContainerSpec) -> str:
        options = ["run", "-d", "--name", f"cqox-t{self.run_id}-{spec.name}", "--network", "host"]
        if spec.user:
            options += ["--user", spec.user]
        if spec.read_only:
            options.append("--read-only")
        for path, size in spec.tmpfs.items():
            options += ["--tmpfs", f"{path}:rw,exec,mode=1777" + (f",size={size}" if size else "")]
        if spec.memory:
            options += ["--memory", spec.memory]
        if spec.cpu_shares:
            options += ["--cpu-shares", str(spec.cpu_shares)]
        if spec.cpus:
            options += ["--cpus", spec.cpus]
        for cap in spec.cap_drop:
            options += ["--cap-drop", cap]
        if spec.no_new_privileges:
            options += ["--security-opt", "no-new-privileges"]
        for key, value in spec.env.items():
            options += ["-e", f"{key}={value}"]
        options += ["--entrypoint", spec.command[0], TEST_IMAGE, *spec.command[1:], *spec.args]
        container = self.docker(*options).stdout.strip()
        self.started[spec.name] = container
        return container

    def logs(self, name: str, lines: int = 60) -> str:
        result = self.docker("logs", "--tail", str(lines), self.started[name], check=False)
        return result.stdout + result.stderr

    def wait_ready(self, specs: list[ContainerSpec], timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        pending = {s.name: s for s in specs}
        while pending and time.monotonic() < deadline:
            for name, spec in list(pending.items()):
                state = self.docker(
                    "inspect", "-f", "{{.State.Status}}", self.started[name], check=False
                ).stdout.strip()
                if state in ("exited", "dead"):
                    raise RuntimeError(f"container {name} exited:\n{self.logs(name)}")
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    base = f"http://127.0.0.1:{spec.port()}"
                    # the answer must come from this container, not from whatever else holds the port
                    who = httpx.get(f"{base}/healthz", timeout=3).json().get("instance")
                    ready = httpx.get(f"{base}{spec.ready_path}", timeout=3).status_code == 200
                    if who == spec.env["CQOX_INSTANCE_ID"] and ready:
                        del pending[name]
            time.sleep(1)
        if pending:
            details = "\n".join(f"--- {n}:\n{self.logs(n)}" for n in pending)
            raise TimeoutError(f"not ready after {timeout:.0f}s: {sorted(pending)}\n{details}")

    def remove_all(self) -> None:
        if self.started:
            self.docker("rm", "-f", *self.started.values(), check=False, timeout=120)
        self.started.clear()


# --- the Helm chart's pods ---------------------------------------------------------------


def helm_test_values(value_file: str | None, infra: Infra) -> dict[str, Any]:
    """A values file plus what points it at the test's infrastructure and image (a production
    install would set the same keys for its cluster)."""
    values = yaml.safe_load((CHART_DIR / value_file).read_text()) if value_file else {}
    values = values or {}
    repository, _, tag = TEST_IMAGE.partition(":")
    values["image"] = {**values.get("image", {}), "repository": repository, "tag": tag, "pullPolicy": "Never"}
    values["nats"] = {"url": f"nats://127.0.0.1:{infra.nats_port}"}
    values["postgres"] = {
        **values.get("postgres", {}),
        "host": "127.0.0.1",
        "port": infra.pg_port,
        "params": "",
    }
    values["s3"] = {
        "endpoint": f"127.0.0.1:{infra.s3_port}",
        "secure": False,
        "artifactUrl": f"s3://{BUCKET}",
    }
    values.setdefault("config", {})["otlpEndpoint"] = ""
    secrets = values.get("secrets", {})
    if not secrets.get("existingSecret"):
        values["secrets"] = {
            **secrets,
            "databasePassword": DB_PASSWORD,
            "s3AccessKey": S3_ACCESS,
            "s3SecretKey": S3_SECRET,
            "apiKeys": API_KEYS,
        }
    return values


def existing_secret(infra: Infra) -> dict[str, str]:
    """What an operator's out-of-band Secret (values-prod's existingSecret) holds."""
    return {
        "CQOX_DATABASE_URL": f"postgresql+psycopg://cqox:{DB_PASSWORD}@127.0.0.1:{infra.pg_port}/cqox",
        "CQOX_S3_ACCESS_KEY": S3_ACCESS,
        "CQOX_S3_SECRET_KEY": S3_SECRET,
        "CQOX_API_KEYS": API_KEYS,
    }


def render_chart(values: dict[str, Any]) -> list[dict[str, Any]]:
    import helm_python

    with helm_python.Chart.load(CHART_DIR) as chart:
        manifests = chart.render(values, name="cqox", namespace="cqox")
    docs: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if not path.endswith("NOTES.txt"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def pod_specs(docs: list[dict[str, Any]], out_of_band: dict[str, dict[str, str]]) -> list[ContainerSpec]:
    """One ContainerSpec per Deployment, exactly as its pod template says (see module docstring)."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    secrets = {
        d["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in d.get("data", {}).items()}
        for d in docs
        if d["kind"] == "Secret"
    }
    secrets.update(out_of_band)
    specs = []
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        [ctr] = pod["containers"]
        assert ctr["image"] == TEST_IMAGE, ctr["image"]
        env: dict[str, str] = {}
        for source in ctr.get("envFrom", []):
            if "configMapRef" in source:
                env.update(config_maps[source["configMapRef"]["name"]])
            if "secretRef" in source:
                name = source["secretRef"]["name"]
                assert name in secrets, f"Secret {name} is neither rendered nor provided"
                env.update(secrets[name])
        name = dep["metadata"]["name"]
        for item in ctr.get("env", []):
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                env[item["name"]] = f"{name}-0"
            else:
                raise AssertionError(f"unsupported env source in {name}: {item}")
        env["CQOX_HTTP_PORT"] = str(service_port())  # host network: one port per container
        env["CQOX_HTTP_HOST"] = "127.0.0.1"
        env["CQOX_INSTANCE_ID"] = f"{name}-0"  # a pod's hostname is its name; here all share the host's
        security = {**pod.get("securityContext", {}), **ctr.get("securityContext", {})}
        user = (
            f"{security['runAsUser']}:{security.get('runAsGroup', security['runAsUser'])}"
            if "runAsUser" in security
            else None
        )
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        tmpfs = {}
        for mount in ctr.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            assert "emptyDir" in volume, f"{name}: only emptyDir volumes are supported, got {volume}"
            size = (volume["emptyDir"] or {}).get("sizeLimit")
            tmpfs[mount["mountPath"]] = memory_of(size) if size else ""
        limits = ctr.get("resources", {}).get("limits", {})
        requests = ctr.get("resources", {}).get("requests", {})
        probe = ctr["readinessProbe"]["httpGet"]
        assert probe["port"] == "http" and ctr["ports"][0]["name"] == "http"
        specs.append(
            ContainerSpec(
                name=name,
                command=list(ctr["command"]),
                args=[str(a) for a in ctr.get("args", [])],
                env=env,
                user=user,
                read_only=bool(security.get("readOnlyRootFilesystem")),
                tmpfs=tmpfs,
                memory=memory_of(limits["memory"]) if "memory" in limits else None,
                cpu_shares=max(2, int(cores(requests["cpu"]) * 1024)) if "cpu" in requests else None,
                cpus=str(cores(limits["cpu"])) if "cpu" in limits else None,
                cap_drop=list(security.get("capabilities", {}).get("drop", [])),
                no_new_privileges=security.get("allowPrivilegeEscalation") is False,
                ready_path=probe["path"],
            )
        )
    return specs


# --- docker-compose.yml -----------------------------------------------------------------

INTERPOLATION = re.compile(r"\$\{(?P<var>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")


def compose_specs(infra: Infra, shell_env: dict[str, str]) -> list[ContainerSpec]:
    """The CQOX services of docker-compose.yml, interpolated with `shell_env` as compose does;
    their infrastructure host names (nats, postgres, minio, jaeger) point at the host's servers."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    def interpolate(value: Any) -> str:
        return INTERPOLATION.sub(
            lambda m: shell_env.get(m.group("var")) or m.group("default") or "", str(value)
        )

    hosts = {
        "nats:4222": f"127.0.0.1:{infra.nats_port}",
        "@postgres:5432": f"@127.0.0.1:{infra.pg_port}",
        "minio:9000": f"127.0.0.1:{infra.s3_port}",
        "jaeger:4318": f"127.0.0.1:{free_port()}",  # no collector: spans are dropped
    }
    specs = []
    for name, service in compose["services"].items():
        if not str(service.get("image", "")).startswith("cqox:"):
            continue
        env = {k: interpolate(v) for k, v in (service.get("environment") or {}).items()}
        for key, value in env.items():
            for old, new in hosts.items():
                value = value.replace(old, new)
            env[key] = value
        env["CQOX_HTTP_PORT"] = str(service_port())
        env["CQOX_HTTP_HOST"] = "127.0.0.1"
        env["CQOX_INSTANCE_ID"] = f"{name}-0"
        command = [interpolate(c) for c in service["command"]]
        check = " ".join(service["healthcheck"]["test"])
        ready = re.search(r"/(readyz|healthz)", check)
        assert ready, f"{name}: healthcheck probes no known path"
        specs.append(
            ContainerSpec(
                name=name,
                command=command[:1],
                args=command[1:],
                env=env,
                user=service.get("user"),
                read_only=bool(service.get("read_only")),
                tmpfs={path: "" for path in service.get("tmpfs", [])},
                ready_path="/" + ready.group(1),
            )
        )
    # the database and bucket compose's postgres/minio-init would create
    assert "postgresql+psycopg://cqox:" in specs[0].env["CQOX_DATABASE_URL"]
    return specs


# --- analyses of every design through the ingest container --------------------------------


def write_designs(folder: Path) -> dict[str, tuple[Path, dict[str, Any], float | None]]:
    """One dataset per design: (file, analysis spec, true effect or None)."""
    from cqox_estimator.simulation import instrumented, spatial_units, synthetic_panel

    examples = ROOT / "examples"
    designs: dict[str, tuple[Path, dict[str, Any], float | None]] = {
        "observational": (examples / "customers.csv", {"methods": "auto"}, 2.0),
        "panel": (examples / "store_panel_sjis.csv", {"methods": "auto"}, 150.0),
        "rd": (examples / "grant_rd.csv", {"methods": "auto"}, 4.0),
    }
    iv = instrumented(3000, 5, effect=1.5).rename(
        columns={"z": "lottery", "treated": "enrolled", "y": "earnings", "x1": "age", "x2": "test_score"}
    )
    iv.insert(0, "person_id", [f"p{i}" for i in range(len(iv))])
    iv.to_csv(folder / "lottery.csv", index=False)
    designs["iv"] = (folder / "lottery.csv", {"methods": "auto"}, 1.5)
    sc = synthetic_panel(n_donors=38, n_periods=31, adoption=19, effect=-2.0, seed=11)
    sc = sc.rename(columns={"unit": "state", "period": "year"})
    sc["year"] += 1970
    sc["cigarette_sales"] = (120 + 10 * sc.pop("y")).round(2)
    sc.to_csv(folder / "tobacco.csv", index=False)
    designs["synthetic_control"] = (folder / "tobacco.csv", {"methods": "auto"}, -20.0)
    geo = spatial_units(2000, 4, direct=1.5, spillover=0.8, radius_km=5.0).drop(columns=["exposure", "town"])
    geo.to_csv(folder / "villages.csv", index=False)
    designs["geographic"] = (
        folder / "villages.csv",
        {"methods": ["spatial_spillover", "ols"], "options": {"spatial_spillover": {"radius_km": 5}}},
        1.5,
    )
    return designs


EXPECTED_DESIGN = {
    "observational": "observational",
    "panel": "panel",
    "rd": "rd",
    "iv": "iv",
    "synthetic_control": "synthetic_control",
    "geographic": "geographic",
}


def run_every_design(api_url: str, folder: Path, timeout: float = 600) -> dict[str, dict[str, Any]]:
    """Upload one dataset per design at once, wait for each report; returns the analyses."""
    headers = {"X-API-Key": API_KEY}
    analyses: dict[str, str] = {}
    with httpx.Client(base_url=api_url, timeout=120, headers=headers) as api:
        assert api.get("/v1/analyses/none", headers={"X-API-Key": "wrong"}).status_code == 401
        for design, (path, spec, _) in write_designs(folder).items():
            with path.open("rb") as handle:
                response = api.post(
                    "/v1/datasets",
                    files={"file": (path.name, handle, "text/csv")},
                    data={"analysis": json.dumps(spec), "name": design},
                )
            assert response.status_code == 202, (design, response.text)
            analyses[design] = response.json()["analysis_id"]
        done: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(analyses) and time.monotonic() < deadline:
            for design, analysis_id in analyses.items():
                if design in done:
                    continue
                body = api.get(f"/v1/analyses/{analysis_id}").json()
                if body["status"] in ("failed", "rejected") or (
                    body["status"] == "completed" and body.get("report")
                ):
                    done[design] = body
            time.sleep(1)
        missing = sorted(set(analyses) - set(done))
        assert not missing, f"not done after {timeout:.0f}s: {missing}"
        for design, body in done.items():
            body["analysis_id"] = analyses[design]
            report = api.get(f"/v1/analyses/{body['analysis_id']}/report")
            body["_report_html"] = report.text if report.status_code == 200 else f"HTTP {report.status_code}"
            pdf = api.get(f"/v1/analyses/{body['analysis_id']}/artifacts/report_pdf")
            body["_report_pdf"] = pdf.content[:5] if pdf.status_code == 200 else b""
    return done


def check_designs(done: dict[str, dict[str, Any]], folder: Path) -> None:
    """Estimates near the truth (3 SEs), causal gates, HTML and PDF report for every design."""
    truths = {d: t for d, (_, _, t) in write_designs(folder).items()}
    problems = []
    for design, body in done.items():
        if body["status"] != "completed":
            problems.append(f"{design}: {body['status']}: {body.get('error')} {body.get('failures')}")
            continue
        if body["design"] != EXPECTED_DESIGN[design]:
            problems.append(f"{design}: mapped as {body['design']}")
        estimates = body["estimates"]
        if not estimates or body.get("failures"):
            problems.append(
                f"{design}: estimates {[e['method'] for e in estimates]}, failures {body.get('failures')}"
            )
        truth = truths[design]
        for estimate in estimates:
            if estimate["estimand"] in {"ATE", "ATT", "LATE", "ATO"} and truth is not None:
                off = abs(estimate["estimate"] - truth)
                if off > max(4 * estimate["std_error"], 0.15 * abs(truth)):
                    problems.append(
                        f"{design}: {estimate['method']} {estimate['estimate']:.3f} vs truth {truth}"
                    )
        categories = {g["category"] for g in body["gates"]}
        # a synthetic control has no treated/untreated comparison for the causal gates to judge
        wanted = {"data"} if design == "synthetic_control" else {"data", "causal"}
        if not wanted <= categories:
            problems.append(f"{design}: gates of {sorted(categories)}, wanted {sorted(wanted)}")
        if "<html" not in body["_report_html"].lower():
            problems.append(f"{design}: report {body['_report_html'][:80]}")
        if body["_report_pdf"] != b"%PDF-":
            problems.append(f"{design}: no PDF report")
    assert not problems, "\n".join(problems)
