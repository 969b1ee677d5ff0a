# One image for every CQOX service; the container command selects the service:
#   cqox-ingest | cqox-mapping | cqox-quality-gate | cqox-visualization
#   cqox-notification | cqox-estimator --roles ... --methods ...
#
# Needs BuildKit (RUN --mount), built into docker >= 20.10. The base is an argument: python:3.11-slim
# for the world; where no registry is reachable, a local Debian base from deploy/docker/local-base.sh:
#   docker build --build-arg PYTHON_IMAGE=cqox-base:bookworm -t cqox:dev .
# Behind a TLS-intercepting proxy, hand its CA bundle to the install steps only (never to the image):
#   docker build --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt ...

ARG PYTHON_IMAGE=python:3.11-slim

# --- build stage: resolve the locked workspace into /app/.venv ------------------
FROM ${PYTHON_IMAGE} AS build

ARG UV_VERSION=0.13.9
# /run/secrets/ca_bundle exists only during a RUN that mounts it: it never reaches a layer.
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi; \
    pip install --no-cache-dir "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

WORKDIR /app

# Third-party dependencies first: this layer only changes with the lock file.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    uv sync --frozen --no-dev --no-install-workspace

# Then the workspace members (contracts/, libs/*, services/*).
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export SSL_CERT_FILE=/run/secrets/ca_bundle; fi; \
    uv sync --frozen --no-dev

# --- runtime stage --------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ARG CQOX_UID=10001
# Pango/HarfBuzz for weasyprint's PDF report (visualization); without them the report is HTML only.
# libgomp1: LightGBM's OpenMP runtime (causal_forest's first stages); python:3.11-slim lacks it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core libgomp1 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid "${CQOX_UID}" cqox \
    && useradd --system --uid "${CQOX_UID}" --gid cqox --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin cqox

WORKDIR /app
# Owned by root and read-only for the service user; writable state lives in /tmp
# (an emptyDir when the root filesystem is read-only) or in Postgres/S3. Every cache a library
# keeps goes there too: numba (rdrobust compiles with cache=True and fails with "cannot cache
# function" on a read-only tree), fontconfig and other XDG caches, matplotlib.
COPY --from=build /app /app

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    CQOX_LOG_LEVEL=INFO \
    CQOX_HTTP_PORT=8000

USER ${CQOX_UID}:${CQOX_UID}

EXPOSE 8000 9100

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CQOX_HTTP_PORT', '8000'), timeout=4)"]

CMD ["cqox-ingest"]
