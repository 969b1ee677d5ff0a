"""Serving an analysis's artifacts: only objects under the caller's tenant and analysis prefix, by
download link, with headers that stop a browser from sniffing, framing or fetching.

The read model learns artifact URIs from events. A forged or mistaken event could name another
tenant's object (or a path outside the store); such a URI is answered 404, exactly like a missing
artifact, and logged. Responses never carry object URIs or local paths: `public_artifacts` turns
them into links to the route below.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from fastapi import HTTPException
from fastapi.responses import Response

from cqox_ingest.db.models import Analysis
from cqox_shared.artifacts import ArtifactNotFoundError, ArtifactStore, LocalArtifactStore, S3ArtifactStore
from cqox_shared.auth import Principal
from cqox_shared.logging import get_logger

log = get_logger(__name__)

# The HTML report is self-contained: inline script (Plotly) and styles, images as data: URIs. It
# may run its own inline code but fetch nothing, submit nothing, and not be framed.
REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# Any other artifact (figures, PDFs, tables) is data, never a page that runs code.
ARTIFACT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"
SERVED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}


def download_url(analysis_id: str, name: str) -> str:
    """The API link that serves one artifact of an analysis."""
    return f"/v1/analyses/{analysis_id}/artifacts/{quote(name, safe='')}"


def public_artifacts(analysis_id: str, artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Artifacts as a response shows them: name, media type and download link, never their URI."""
    return [
        {
            "name": a.get("name"),
            "media_type": a.get("media_type"),
            "url": download_url(analysis_id, str(a.get("name"))),
        }
        for a in artifacts
    ]


def object_key(store: ArtifactStore, uri: str) -> str | None:
    """The key of `uri` inside this store (`tenant/analyses/<id>/name`), or None when the URI is
    not one of the store's objects or its path walks out of it."""
    parsed = urlparse(uri)
    if isinstance(store, LocalArtifactStore):
        if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
            return None
        path = Path(unquote(parsed.path)).resolve()
        return path.relative_to(store.root).as_posix() if path.is_relative_to(store.root) else None
    if isinstance(store, S3ArtifactStore):
        if parsed.scheme != "s3" or parsed.netloc != store.bucket:
            return None
        parts = parsed.path.lstrip("/").split("/")
        return None if any(p in ("", ".", "..") for p in parts) else "/".join(parts)
    return None


def owned(store: ArtifactStore, uri: str, tenant_id: str, analysis_id: str) -> bool:
    """Whether `uri` is an object of this tenant's analysis (under `<tenant>/analyses/<id>/`)."""
    key = object_key(store, uri)
    return key is not None and key.startswith(f"{tenant_id}/analyses/{analysis_id}/")


def _named(analysis: Analysis, name: str) -> dict[str, Any] | None:
    for artifact in (analysis.report or {}).get("artifacts", []):
        if artifact.get("name") == name:
            return dict(artifact)
    for estimate in analysis.estimates or []:
        for artifact in estimate.get("artifacts") or []:
            if artifact.get("name") == name:
                return dict(artifact)
    return None


async def serve(store: ArtifactStore, analysis: Analysis, name: str, caller: Principal) -> Response:
    """One artifact of the caller's analysis (report or estimate), or 404 until it exists; an
    artifact outside the tenant's prefix is 404 as if it did not exist."""
    missing = HTTPException(
        404, f"analysis {analysis.id} has no artifact {name!r} (yet); status {analysis.status}"
    )
    artifact = _named(analysis, name)
    if artifact is None:
        raise missing
    uri = str(artifact.get("uri", ""))
    if not owned(store, uri, caller.tenant_id, analysis.id):
        log.warning(
            "artifact outside the tenant's prefix refused",
            analysis_id=analysis.id,
            tenant=caller.tenant_id,
            artifact=name,
        )
        raise missing
    try:
        body = await asyncio.to_thread(store.get_bytes, uri)
    except (ArtifactNotFoundError, ValueError) as exc:
        raise HTTPException(404, f"artifact {name!r} is missing from the store") from exc
    media_type = str(artifact.get("media_type") or "application/octet-stream")
    csp = REPORT_CSP if name == "report" and media_type == "text/html" else ARTIFACT_CSP
    return Response(body, media_type=media_type, headers={**SERVED_HEADERS, "Content-Security-Policy": csp})
