#!/usr/bin/env bash
# Build a local stand-in for python:3.11-slim where no image registry is reachable:
# debootstrap Debian bookworm (python3.11, pip, CA certificates) and `docker import` it.
#
#   deploy/docker/local-base.sh [IMAGE] [MIRROR]
#
# IMAGE defaults to cqox-base:bookworm; MIRROR to the Debian mirror apt already uses. The
# rootfs is cached under ${CQOX_BASE_CACHE:-/var/cache/cqox-base}; an existing image is kept.
set -euo pipefail
image="${1:-cqox-base:bookworm}"
docker="${DOCKER:-docker}"
if "$docker" image inspect "$image" >/dev/null 2>&1; then
    echo "$image exists"
    exit 0
fi
mirror="${2:-}"
if [[ -z "$mirror" ]]; then
    mirror=$( (grep -rhoE '^URIs: *http[^ ]*debian/?$' /etc/apt/sources.list.d/ 2>/dev/null;
               grep -hoE '^deb +http[^ ]*debian/? ' /etc/apt/sources.list 2>/dev/null) \
             | head -1 | awk '{print $2}') || true
fi
mirror="${mirror:-http://deb.debian.org/debian}"
cache="${CQOX_BASE_CACHE:-/var/cache/cqox-base}"
rootfs="$cache/rootfs"
if [[ ! -x "$rootfs/usr/bin/python3.11" ]]; then
    rm -rf "$rootfs.partial"
    mkdir -p "$cache"
    debootstrap --variant=minbase --include=python3.11,python3-pip,ca-certificates \
        bookworm "$rootfs.partial" "$mirror"
    rm -rf "$rootfs" && mv "$rootfs.partial" "$rootfs"
fi
# python:3.11-slim conventions the Dockerfile relies on: `python` and `pip` on PATH.
ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python"
ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python3"
ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | "$docker" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
    --change 'CMD ["python3"]' \
    - "$image"
echo "$image imported"
