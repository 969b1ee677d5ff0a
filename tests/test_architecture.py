"""The architecture rules, checked on the source: no server is started.

A service depends only on `contracts/` and `libs/shared/`: it never imports another service's package
(nor the launcher `cqox_stack`) and never names another service's Postgres schema. Every service has
the same layout, and every public function says what it does.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = {"ingest", "mapping", "estimator", "quality", "visualization", "notification"}
MIGRATION_VERSIONS = ("db", "migrations", "versions")


@dataclass(frozen=True)
class Service:
    """One service folder: its name, its import package and the schema it owns."""

    name: str
    root: Path
    package: str

    @property
    def source(self) -> Path:
        """The package folder under `src/`."""
        return self.root / "src" / self.package

    @property
    def schema(self) -> str:
        """The `SCHEMA` constant of its `db/models.py`."""
        tree = ast.parse((self.source / "db" / "models.py").read_text())
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "SCHEMA" for t in node.targets)
                and isinstance(node.value, ast.Constant)
            ):
                return str(node.value.value)
        raise AssertionError(f"{self.name}: db/models.py defines no SCHEMA constant")


@cache
def services() -> tuple[Service, ...]:
    """Every folder under services/ that holds a package."""
    found = []
    for root in sorted((REPO / "services").iterdir()):
        packages = [p for p in (root / "src").glob("cqox_*") if p.is_dir()] if root.is_dir() else []
        if packages:
            assert len(packages) == 1, f"{root.name}: one package per service, found {packages}"
            found.append(Service(root.name, root, packages[0].name))
    return tuple(found)


SERVICE_PACKAGES = {s.package for s in services()} if (REPO / "services").is_dir() else set()


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def imported_modules(path: Path) -> set[str]:
    """Top-level modules a file imports (statements, `importlib.import_module` and `__import__`)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                modules.add(node.args[0].value.split(".")[0])
    return modules


def test_every_service_is_found() -> None:
    assert len(services()) >= 6, [s.name for s in services()]
    assert {s.schema for s in services()} == SCHEMAS


@pytest.mark.parametrize("service", services(), ids=lambda s: s.name)
def test_service_imports_no_other_service(service: Service) -> None:
    forbidden = (SERVICE_PACKAGES - {service.package}) | {"cqox_stack"}
    offenders = [
        f"{_rel(path)} imports {module}"
        for path in _python_files(service.root / "src")
        for module in sorted(imported_modules(path) & forbidden)
    ]
    assert offenders == []


@pytest.mark.parametrize("folder", ["libs/shared/src", "contracts/src"])
def test_shared_code_imports_no_service(folder: str) -> None:
    forbidden = SERVICE_PACKAGES | {"cqox_stack"}
    offenders = [
        f"{_rel(path)} imports {module}"
        for path in _python_files(REPO / folder)
        for module in sorted(imported_modules(path) & forbidden)
    ]
    assert offenders == []


def foreign_schema_references(text: str, foreign: set[str]) -> list[str]:
    """SQL/ORM fragments in `text` that name one of the `foreign` schemas."""
    names = "|".join(sorted(map(re.escape, foreign)))
    patterns = [
        rf"""["']({names})\.\w""",  # "ingest.datasets", ForeignKey("mapping.roles.id")
        rf"""\bschema\s*=\s*["']({names})["']""",  # schema="quality", MetaData(schema='...')
        rf"""\b(?:from|join|into|update|table|references)\s+"?({names})"?\.(?!py\b)\w""",  # raw SQL
        rf"""\bsearch_path\s*(?:=|to)\s*["']?({names})\b""",
    ]
    return [
        match.group(0) for pattern in patterns for match in re.finditer(pattern, text, flags=re.IGNORECASE)
    ]


def test_schema_reference_scan_catches_the_usual_forms() -> None:
    sample = """
        sa.ForeignKey("ingest.datasets.id")
        MetaData(schema='quality')
        text("SELECT * FROM mapping.roles r JOIN estimator.plans p ON true")
        "INSERT INTO notification.deliveries VALUES (1)"
        "SET search_path TO visualization"
    """
    assert len(foreign_schema_references(sample, SCHEMAS)) == 6
    harmless = """
        "imported from mapping.py"; logger = get_logger("estimator"); subject = "cqox.v1.dataset.mapped"
        schema = SCHEMA; "the ingest API"; 'quality gates'
    """
    assert foreign_schema_references(harmless, SCHEMAS) == []


@pytest.mark.parametrize("service", services(), ids=lambda s: s.name)
def test_service_names_no_other_schema(service: Service) -> None:
    foreign = SCHEMAS - {service.schema}
    offenders = [
        f"{_rel(path)}: {fragment}"
        for path in _python_files(service.root / "src")
        for fragment in foreign_schema_references(path.read_text(), foreign)
    ]
    assert offenders == []


@pytest.mark.parametrize("service", services(), ids=lambda s: s.name)
def test_service_layout(service: Service) -> None:
    src = service.source
    missing = [
        name
        for name in ("app.py", "handlers.py", "__main__.py", "db/models.py", "db/migrations/env.py")
        if not (src / name).is_file()
    ]
    if not ((src / "domain.py").is_file() or (src / "domain" / "__init__.py").is_file()):
        missing.append("domain.py or domain/")
    versions = src.joinpath(*MIGRATION_VERSIONS)
    if not [p for p in versions.glob("*.py") if p.name != "__init__.py"]:
        missing.append("a migration in db/migrations/versions/")
    if not list((service.root / "tests").rglob("test_*.py")):
        missing.append("tests/test_*.py")
    assert missing == [], f"{service.name} lacks {missing}"


def _is_migration_version(path: Path) -> bool:
    """Generated Alembic revisions are exempt from the docstring rule."""
    parts = path.parts
    n = len(MIGRATION_VERSIONS)
    return any(parts[i : i + n] == MIGRATION_VERSIONS for i in range(len(parts) - n + 1))


def _undocumented(path: Path) -> list[str]:
    """Public top-level functions and public methods of public classes without a docstring."""
    tree = ast.parse(path.read_text(), filename=str(path))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found = []
    for node in tree.body:
        candidates: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
        if isinstance(node, functions):
            candidates.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            candidates.extend(
                (f"{node.name}.{item.name}", item) for item in node.body if isinstance(item, functions)
            )
        for qualified, function in candidates:
            if not qualified.split(".")[-1].startswith("_") and ast.get_docstring(function) is None:
                found.append(f"{_rel(path)}:{function.lineno} {qualified}")
    return found


def test_public_functions_have_docstrings() -> None:
    folders = [s.root / "src" for s in services()] + sorted((REPO / "libs").glob("*/src"))
    offenders = [
        entry
        for folder in folders
        for path in _python_files(folder)
        if not _is_migration_version(path)
        for entry in _undocumented(path)
    ]
    assert offenders == [], "undocumented public functions:\n" + "\n".join(offenders)
