"""The OpenAPI documents of the two HTTP APIs (ingest, notification), generated from the FastAPI
apps, committed next to this file, and checked for breaking changes like the event schemas.

    uv run python contracts/openapi/export_openapi.py           # write ingest.json, notification.json
    uv run python contracts/openapi/export_openapi.py --check   # exit 1 if stale or breaking

Breaking, against the committed documents: an operation removed; a parameter or request-body
property added as required, or made required; a response status removed; a response property
removed or retyped; an allowed value removed (the event schemas' rules, `breaking_changes`, applied
to each operation's parameters, body and responses). Adding operations, optional parameters and
response properties is fine, and so is a response property becoming required (the server is its
only writer). Writing refuses a breaking change, as `make schemas` does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cqox_contracts.export import breaking_changes, dump_json

HERE = Path(__file__).resolve().parent
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@contextlib.contextmanager
def _auth_disabled() -> Iterator[None]:
    """Build the apps without API keys (nothing is served; only the route table is read)."""
    saved = {k: os.environ.get(k) for k in ("CQOX_AUTH", "CQOX_API_KEYS")}
    os.environ["CQOX_AUTH"] = "disabled"
    os.environ.pop("CQOX_API_KEYS", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _ingest() -> dict[str, Any]:
    from cqox_ingest.app import create_app

    with _auth_disabled():
        return create_app().openapi()


def _notification() -> dict[str, Any]:
    from cqox_notification.app import create_app

    with _auth_disabled():
        return create_app().openapi()


APIS: dict[str, Callable[[], dict[str, Any]]] = {"ingest": _ingest, "notification": _notification}


def generate() -> dict[str, str]:
    """File name → deterministic JSON text of every API's document, from the code."""
    return {f"{name}.json": dump_json(build()) for name, build in APIS.items()}


def committed(directory: Path = HERE) -> dict[str, str]:
    """File name → text of the committed documents."""
    return {
        f"{name}.json": (directory / f"{name}.json").read_text()
        for name in APIS
        if (directory / f"{name}.json").exists()
    }


def _refs_as_defs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/components/schemas/", "#/$defs/")
                if k == "$ref" and isinstance(v, str)
                else _refs_as_defs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_refs_as_defs(v) for v in node]
    return node


def operation_schema(operation: dict[str, Any]) -> dict[str, Any]:
    """One operation as a JSON Schema object: `parameters`, `body` and `responses` (by status),
    so that the event schemas' compatibility rules apply to it."""
    params = {f"{p['in']}:{p['name']}": p.get("schema", {}) for p in operation.get("parameters", [])}
    required = [f"{p['in']}:{p['name']}" for p in operation.get("parameters", []) if p.get("required")]
    properties: dict[str, Any] = {
        "parameters": {"type": "object", "properties": params, "required": required},
        "responses": {
            "type": "object",
            "properties": {
                status: next(iter(response.get("content", {}).values()), {}).get("schema", {})
                for status, response in operation.get("responses", {}).items()
                if status.startswith("2")
            },
        },
    }
    body = operation.get("requestBody")
    if body:
        properties["body"] = next(iter(body.get("content", {}).values()), {}).get("schema", {})
    return {
        "type": "object",
        "properties": properties,
        "required": ["body"] if body and body.get("required") else [],
    }


def document_breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Breaking differences between two versions of one OpenAPI document (empty = compatible)."""
    problems: list[str] = []
    old_defs = _refs_as_defs(old.get("components", {}).get("schemas", {}))
    new_defs = _refs_as_defs(new.get("components", {}).get("schemas", {}))
    for path, old_item in sorted(old.get("paths", {}).items()):
        for method in HTTP_METHODS:
            if method not in old_item:
                continue
            where = f"{method.upper()} {path}"
            new_op = new.get("paths", {}).get(path, {}).get(method)
            if new_op is None:
                problems.append(f"{where}: operation removed")
                continue
            old_schema = {
                "title": where,
                **_refs_as_defs(operation_schema(old_item[method])),
                "$defs": old_defs,
            }
            new_schema = {"title": where, **_refs_as_defs(operation_schema(new_op)), "$defs": new_defs}
            problems += [
                problem
                for problem in breaking_changes(old_schema, new_schema)
                if not (".responses." in problem and problem.endswith(_PROMISED_MORE))
            ]
    return problems


# A response has one writer, the server: promising a property (new or made required) breaks no
# reader. Removing, retyping or narrowing one still does.
_PROMISED_MORE = (": new required property", ": optional property became required")


def check(directory: Path = HERE) -> list[str]:
    """What is wrong with the committed documents: stale, missing or broken by the code."""
    fresh, saved = generate(), committed(directory)
    problems = []
    for name, text in sorted(fresh.items()):
        if name not in saved:
            problems.append(f"missing: {name}")
            continue
        problems += [
            f"{name}: BREAKING {p}"
            for p in document_breaking_changes(json.loads(saved[name]), json.loads(text))
        ]
        if saved[name] != text:
            problems.append(f"out of date: {name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Write the documents (refusing a breaking change), or `--check` them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale or breaking")
    args = parser.parse_args(argv)
    problems = check()
    breaking = [p for p in problems if "BREAKING" in p]
    if args.check or breaking:
        for problem in problems if args.check else breaking:
            print(problem, file=sys.stderr)
        if breaking and not args.check:
            print("refusing to write: a breaking change to a v1 API needs a new version", file=sys.stderr)
        return 1 if (problems if args.check else breaking) else 0
    for name, text in generate().items():
        (HERE / name).write_text(text)
    print(f"wrote {', '.join(APIS)} OpenAPI documents to {HERE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
