#!/usr/bin/env bash
# Make sure a container engine is there for `make containers`: Debian's docker.io (and debootstrap,
# for the local base image) installed through apt when missing, dockerd started when not running.
# Needs root; on a machine with its own Docker it only checks that the daemon answers.
set -euo pipefail
docker_cli=/usr/bin/docker
[[ -x $docker_cli ]] || docker_cli=$(command -v docker || true)
if [[ -z "$docker_cli" || ! -x /usr/sbin/dockerd && -z "$(command -v dockerd || true)" ]] || ! command -v debootstrap >/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "make containers needs docker.io and debootstrap (apt-get install -y docker.io debootstrap, as root)" >&2
        exit 1
    fi
    echo "installing docker.io and debootstrap (apt)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap >/dev/null
    docker_cli=/usr/bin/docker
fi
if ! "$docker_cli" info >/dev/null 2>&1; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "the docker daemon is not running and only root can start it here" >&2
        exit 1
    fi
    log="${TMPDIR:-/tmp}/cqox-dockerd.log"
    echo "starting dockerd (log: $log)"
    nohup "$(command -v dockerd || echo /usr/sbin/dockerd)" >>"$log" 2>&1 &
    for _ in $(seq 60); do "$docker_cli" info >/dev/null 2>&1 && break; sleep 1; done
    "$docker_cli" info >/dev/null 2>&1 || { echo "dockerd did not come up; see $log" >&2; exit 1; }
fi
