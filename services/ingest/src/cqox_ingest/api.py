"""Every route of the ingest HTTP API, registered in one place: datasets (upload, versions, schema,
mapping confirmation), analyses (start, read, events, report, artifacts) and admin (issued API keys,
the audit log)."""

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from cqox_ingest.admin.views import router as admin_router
from cqox_ingest.analyses.views import router as analyses_router
from cqox_ingest.analyses.views import status_router
from cqox_ingest.audit import audit_request
from cqox_ingest.datasets.views import router as datasets_router
from cqox_ingest.quota import analysis_quota

# Routes taking a file body: rate-limited as uploads (CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE).
UPLOAD_ROUTES = (("POST", "/v1/datasets"),)


class Problem(BaseModel):
    """Why a request was refused: `detail` says what to change (a list for FastAPI's validation
    errors); some refusals add fields (e.g. the columns a breaking version drops)."""

    model_config = ConfigDict(extra="allow")

    detail: str | list[dict[str, Any]]


# Every refusal the API can answer, documented on every route (the fuzz test holds us to it).
REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": description}
    for code, description in {
        400: "The request or its file cannot be read",
        401: "Missing or invalid API key or bearer token",
        403: "The caller's role is not allowed to do this",
        404: "No such object for the caller's tenant",
        409: "The request conflicts with the current state",
        413: "The body is larger than the service accepts",
        415: "Unsupported file type",
        422: "Invalid input: the message names the field",
        429: "Rate limit or the tenant's quota of concurrent analyses; see Retry-After",
        503: "The server is busy (too many requests in progress) or the database is unavailable; "
        "nothing was stored or changed, retry after Retry-After seconds",
        507: "The artifact store has no space left for the upload; nothing was stored, retry after "
        "Retry-After seconds or ask an operator to free space",
    }.items()
}

# Every read of datasets and results, and every refused or failed write, is audited (a refusal by
# the quota too: the audit dependency comes first). A route that starts an analysis is refused with
# 429 over the tenant's quota of concurrent analyses.
router = APIRouter(dependencies=[Depends(audit_request), Depends(analysis_quota)], responses=REFUSALS)
router.include_router(datasets_router)
router.include_router(analyses_router)
router.include_router(admin_router)

# The status read audits itself (analyses/views.py): none of the router's dependencies to resolve
# on the most polled route. Registered first, so it is also the first route matched.
status = APIRouter(responses=REFUSALS)
status.include_router(status_router)
