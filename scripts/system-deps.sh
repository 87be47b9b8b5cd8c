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
