# syntax=docker/dockerfile:1
#
# One image per mcpmesh service, from this one file:
#
#   docker build --build-arg SERVICE=filesystem --build-arg PORT=8701 -t mcpmesh/filesystem .
#
# SERVICE picks the workspace member services/SERVICE (distribution mcpmesh-SERVICE) and
# installs exactly its locked dependencies (uv.lock) and nothing of the other services.
# SERVICE=bootstrap (PACKAGE=mcpmesh) builds the library alone: the image that runs the
# Vault bootstrap and `mcpmesh secrets set`.
#
# The image runs as an unprivileged user, writes nothing outside /tmp (mount a tmpfs or
# an emptyDir there and run with a read-only root filesystem) and holds no secret: every
# credential comes from Vault at run time.

ARG PYTHON_IMAGE=python:3.11-slim-trixie

# --------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG PACKAGE=mcpmesh-${SERVICE}
ARG UV_VERSION=0.13.8

RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<name>" >&2 && exit 1) \
    && python -m pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# Byte-compile at build time (the root filesystem is read-only at run time), copy files
# out of uv's cache instead of linking them, and never download a Python: use the image's.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

WORKDIR /src
# .dockerignore keeps caches, virtualenvs, tests and node_modules out of this context.
COPY . .
# --locked: fail instead of resolving anew when uv.lock does not match the pyprojects.
# --no-editable: the environment holds real copies, so /src is not needed at run time.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --package "${PACKAGE}"

# ------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PORT=8700

LABEL org.opencontainers.image.title="mcpmesh-${SERVICE}" \
      org.opencontainers.image.description="mcpmesh ${SERVICE}: an MCP service over Streamable HTTP"

# A fixed numeric uid/gid, so Kubernetes can check runAsNonRoot without a passwd lookup.
# /data is the filesystem service's default root; a named volume mounted there inherits
# its owner.
RUN groupadd --system --gid 10001 mcpmesh \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin mcpmesh \
    && install -d -o 10001 -g 10001 -m 0750 /data

COPY --from=build /app/.venv /app/.venv
# Vault policies are not secrets: the bootstrap reads them from here.
COPY deploy/vault/policies /app/deploy/vault/policies

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MCPMESH_SERVICE=${SERVICE} \
    MCPMESH_HOST=0.0.0.0 \
    MCPMESH_PORT=${PORT} \
    MCPMESH_WORKDIR=/tmp/mcpmesh \
    MCPMESH_VAULT_POLICY_DIR=/app/deploy/vault/policies

USER 10001:10001
WORKDIR /tmp
EXPOSE ${PORT}

# Healthy means ready (/readyz: Vault, NATS and the service's backend answer), so a
# container whose Vault login or bus is broken says so instead of reporting healthy.
# (/healthz, "the process runs", is the liveness probe in Kubernetes.)
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['MCPMESH_PORT'], timeout=2)"]

# exec: the service is PID 1 and gets SIGTERM directly (graceful shutdown).
ENTRYPOINT ["/bin/sh", "-c", "exec mcpmesh serve \"$MCPMESH_SERVICE\"", "mcpmesh"]
