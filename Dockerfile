# syntax=docker/dockerfile:1
#
# One image for every CQOX service; the container command selects the service:
#   cqox-ingest | cqox-mapping | cqox-quality-gate | cqox-visualization
#   cqox-notification | cqox-estimator --roles ... --methods ...

ARG PYTHON_IMAGE=python:3.11-slim

# --- build stage: resolve the locked workspace into /app/.venv ------------------
FROM ${PYTHON_IMAGE} AS build

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

WORKDIR /app

# Third-party dependencies first: this layer only changes with the lock file.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace

# Then the workspace members (contracts/, libs/*, services/*).
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# --- runtime stage --------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ARG CQOX_UID=10001
# Pango/HarfBuzz for weasyprint's PDF report (visualization); without them the report is HTML only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid "${CQOX_UID}" cqox \
    && useradd --system --uid "${CQOX_UID}" --gid cqox --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin cqox

WORKDIR /app
# Owned by root and read-only for the service user; writable state lives in /tmp
# (an emptyDir when the root filesystem is read-only) or in Postgres/S3.
COPY --from=build /app /app

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    CQOX_LOG_LEVEL=INFO \
    CQOX_HTTP_PORT=8000

USER ${CQOX_UID}:${CQOX_UID}

EXPOSE 8000 9100

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CQOX_HTTP_PORT', '8000'), timeout=4)"]

CMD ["cqox-ingest"]
