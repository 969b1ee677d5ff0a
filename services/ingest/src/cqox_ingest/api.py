"""Every route of the ingest HTTP API, registered in one place: datasets (upload, versions, schema,
mapping confirmation), analyses (start, read, events, report, artifacts) and admin (issued API keys,
the audit log)."""

from fastapi import APIRouter, Depends

from cqox_ingest.admin.views import router as admin_router
from cqox_ingest.analyses.views import router as analyses_router
from cqox_ingest.audit import audit_request
from cqox_ingest.datasets.views import router as datasets_router
from cqox_ingest.quota import analysis_quota

# Routes taking a file body: rate-limited as uploads (CQOX_RATE_LIMIT_UPLOADS_PER_MINUTE).
UPLOAD_ROUTES = (("POST", "/v1/datasets"),)

# Every read of datasets and results, and every refused or failed write, is audited (a refusal by
# the quota too: the audit dependency comes first). A route that starts an analysis is refused with
# 429 over the tenant's quota of concurrent analyses.
router = APIRouter(dependencies=[Depends(audit_request), Depends(analysis_quota)])
router.include_router(datasets_router)
router.include_router(analyses_router)
router.include_router(admin_router)
