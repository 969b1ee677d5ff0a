"""Structure checks of the Argo CD AppProject and Applications."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "deploy" / "argocd"
API_VERSION = "argoproj.io/v1alpha1"
ENVIRONMENTS = ("dev", "prod")


def _load_all() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(ARGOCD.glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


DOCS = _load_all()
APPLICATIONS = {d["metadata"]["name"]: d for d in DOCS if d.get("kind") == "Application"}
PROJECTS = {d["metadata"]["name"]: d for d in DOCS if d.get("kind") == "AppProject"}


def test_manifests_are_argocd_resources():
    assert DOCS
    for doc in DOCS:
        assert doc["apiVersion"] == API_VERSION
        assert doc["kind"] in {"Application", "AppProject"}
        assert doc["metadata"]["namespace"] == "argocd"


def test_one_application_per_environment():
    assert set(APPLICATIONS) == {f"cqox-{env}" for env in ENVIRONMENTS}
    assert set(PROJECTS) == {"cqox"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_application_source_points_at_the_chart(env):
    spec = APPLICATIONS[f"cqox-{env}"]["spec"]
    source = spec["source"]
    assert source["repoURL"].startswith("https://") and source["repoURL"].endswith(".git")
    assert source["targetRevision"]
    chart_dir = ROOT / source["path"]
    assert source["path"] == "deploy/helm/cqox"
    assert (chart_dir / "Chart.yaml").is_file()
    value_files = source["helm"]["valueFiles"]
    assert value_files == [f"values-{env}.yaml"]
    for value_file in value_files:
        assert (chart_dir / value_file).is_file(), value_file
    assert source["helm"]["releaseName"] == "cqox"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_application_destination_is_allowed_by_project(env):
    spec = APPLICATIONS[f"cqox-{env}"]["spec"]
    project = PROJECTS[spec["project"]]["spec"]
    destination = spec["destination"]
    assert destination["server"] == "https://kubernetes.default.svc"
    assert destination["namespace"] == f"cqox-{env}"
    assert destination in project["destinations"]
    assert spec["source"]["repoURL"] in project["sourceRepos"]


def test_dev_syncs_automatically_with_prune_and_self_heal():
    policy = APPLICATIONS["cqox-dev"]["spec"]["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=true" in policy["syncOptions"]


def test_prod_syncs_manually():
    policy = APPLICATIONS["cqox-prod"]["spec"].get("syncPolicy", {})
    assert "automated" not in policy
    assert "CreateNamespace=true" in policy["syncOptions"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_project_permits_every_rendered_kind(env):
    """Render the chart exactly as Argo CD would and check the project's whitelist."""
    spec = APPLICATIONS[f"cqox-{env}"]["spec"]
    source = spec["source"]
    chart_dir = ROOT / source["path"]
    (value_file,) = source["helm"]["valueFiles"]
    values = yaml.safe_load((chart_dir / value_file).read_text()) or {}
    with helm_python.Chart.load(chart_dir) as chart:
        manifests = chart.render(
            values,
            name=source["helm"]["releaseName"],
            namespace=spec["destination"]["namespace"],
        )
    allowed = {
        (entry["group"], entry["kind"])
        for entry in PROJECTS[spec["project"]]["spec"]["namespaceResourceWhitelist"]
    }
    for path, text in manifests.items():
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            group = doc["apiVersion"].rpartition("/")[0]
            assert (group, doc["kind"]) in allowed, (path, doc["kind"])
            assert doc["metadata"]["namespace"] == spec["destination"]["namespace"]
