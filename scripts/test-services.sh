#!/usr/bin/env bash
# Install the system programs the test suite needs (PostgreSQL server binaries, headless
# Chromium). Idempotent and quick when they are present. The tests themselves start throwaway
# servers on loopback; nothing here is left running.
set -uo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "test services: present (postgresql, chromium)"
  exit 0
fi
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "test services: cannot install ${need[*]} (not root, no sudo); tests needing them will skip" >&2
  exit 0
fi
SUDO=""; [ "$(id -u)" != 0 ] && SUDO="sudo"
echo "test services: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null && \
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || {
  echo "test services: apt-get install ${need[*]} failed" >&2
  # In CI the services are required; on a developer machine the tests that need them skip.
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
}
echo "test services: installed ${need[*]}"
