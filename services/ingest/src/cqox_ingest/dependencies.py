"""FastAPI dependencies of the ingest routes: the service runtime, the caller and the upload limits.

`app.create_app` puts the runtime and the auth on `app.state`; the module-level routers reach them
only through these dependencies, so a route is a plain function of its inputs. Those on every
route are `async def` though none awaits: FastAPI runs a plain `def` dependency in a worker thread,
a thread hand-off per dependency per request (a large share of a status read's CPU, bench/load).
`get_max_upload_bytes` stays plain: the streamed upload form calls it directly.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cqox_ingest.readers import Limits
from cqox_shared.auth import ApiKeyAuth, Principal
from cqox_shared.runtime import ServiceRuntime

DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024


async def get_runtime(request: Request) -> ServiceRuntime:
    """The service runtime the app was created with (database sessions, outbox, object store)."""
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def get_auth(request: Request) -> ApiKeyAuth:
    """The app's authentication (configured and issued keys, bearer tokens)."""
    auth: ApiKeyAuth = request.app.state.auth
    return auth


async def get_caller(request: Request) -> Principal:
    """The caller's tenant and role, resolved by the app's auth (401 without valid credentials)."""
    auth: ApiKeyAuth = request.app.state.auth
    return await auth.authenticate(request)


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
Auth = Annotated[ApiKeyAuth, Depends(get_auth)]
Caller = Annotated[Principal, Depends(get_caller)]


async def get_admin(caller: Caller) -> Principal:
    """The caller, who must have the admin role (403 otherwise)."""
    caller.require("admin")
    return caller


Admin = Annotated[Principal, Depends(get_admin)]


async def get_limits(runtime: Runtime) -> Limits:
    """Bounds on columns, cell size and decompression, from the service settings."""
    settings = runtime.settings
    return Limits(
        max_columns=getattr(settings, "max_columns", Limits.max_columns),
        max_cell_bytes=getattr(settings, "max_cell_bytes", Limits.max_cell_bytes),
        max_inflated_bytes=getattr(settings, "max_inflated_bytes", Limits.max_inflated_bytes),
        max_inflation_ratio=getattr(settings, "max_inflation_ratio", Limits.max_inflation_ratio),
        max_whole_read_bytes=getattr(settings, "max_whole_read_bytes", Limits.max_whole_read_bytes),
    )


def get_max_upload_bytes(runtime: Runtime) -> int:
    """The largest upload accepted, in bytes (CQOX_MAX_UPLOAD_BYTES)."""
    limit: int = getattr(runtime.settings, "max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES)
    return limit


UploadLimits = Annotated[Limits, Depends(get_limits)]
MaxUploadBytes = Annotated[int, Depends(get_max_upload_bytes)]
