"""Every route of the ingest HTTP API, registered in one place: datasets (upload, versions, schema,
mapping confirmation), analyses (start, read, events, report, artifacts) and admin (issued API keys,
the audit log)."""

from fastapi import APIRouter, Depends

from cqox_ingest.admin.views import router as admin_router
from cqox_ingest.analyses.views import router as analyses_router
from cqox_ingest.audit import audit_request
from cqox_ingest.datasets.views import router as datasets_router

# Routes taking a file body: rate-limited as uploads (CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE).
UPLOAD_ROUTES = (("POST", "/v1/datasets"),)

# Every read of datasets and results, and every refused or failed write, is audited.
router = APIRouter(dependencies=[Depends(audit_request)])
router.include_router(datasets_router)
router.include_router(analyses_router)
router.include_router(admin_router)
