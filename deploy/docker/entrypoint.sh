#!/bin/sh
# Container entrypoint: `kiro-stack router|gateway|refresher|emulator [extra args]`, or any other command.
# Listen address and port come from HOST / PORT (the same names the services' settings read).
set -eu
role="${1:-router}"
[ "$#" -gt 0 ] && shift
case "$role" in
  router)    exec python -m services.router --host "${HOST:-0.0.0.0}" --port "${PORT:-8088}" "$@" ;;
  gateway)   exec python -m services.gateway --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" "$@" ;;
  refresher) exec python -m services.refresher "$@" ;;
  emulator)  exec python -m services.kiro_emulator --host "${HOST:-0.0.0.0}" --port "${PORT:-9100}" "$@" ;;
  *)         exec "$role" "$@" ;;
esac
