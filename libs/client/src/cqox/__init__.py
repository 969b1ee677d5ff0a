"""CQOx client: the Python SDK and the `cqox` command line.

from cqox import Client
cq = Client()   # CQOX_URL / CQOX_API_KEY / CQOX_TOKEN, or ~/.config/cqox/config.toml
run = cq.wait(cq.upload("customers.csv", methods=["ols", "ipw"]).analysis_id)
"""

from cqox.aio import AsyncClient
from cqox.client import Client
from cqox.config import Settings
from cqox.errors import (
    AnalysisFailedError,
    ApiError,
    AuthError,
    ConfigError,
    ConnectError,
    CqoxError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    WaitTimeoutError,
)
from cqox.models import Analysis, AnalysisCreated, Dataset, Delivery, MappingConfirmed, Subscription, Upload
from cqox.retry import RetryPolicy
from cqox.sse import AnalysisEvent
from cqox.webhooks import SignatureError, verify_signature

__all__ = [
    "Analysis",
    "AnalysisCreated",
    "AnalysisEvent",
    "AnalysisFailedError",
    "ApiError",
    "AsyncClient",
    "AuthError",
    "Client",
    "ConfigError",
    "ConnectError",
    "CqoxError",
    "Dataset",
    "Delivery",
    "InvalidRequestError",
    "MappingConfirmed",
    "NotFoundError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "Settings",
    "SignatureError",
    "Subscription",
    "Upload",
    "WaitTimeoutError",
    "verify_signature",
]
__version__ = "0.1.0"
