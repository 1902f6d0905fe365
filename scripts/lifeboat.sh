#!/usr/bin/env bash
# The two quick-start commands behind `npm start` and `npm test`: on a machine with only Node.js 20 and npm
# they fetch the pinned pnpm, install the workspace, build, and then run Lifeboat or its whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=12.4.2
export NEXT_TELEMETRY_DISABLED=1 TURBO_TELEMETRY_DISABLED=1 CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1
# Native addons that compile from source must use the local Node headers (no download).
export npm_config_nodedir="${npm_config_nodedir:-/usr}"

t() { local s=$SECONDS; "$@"; echo "[lifeboat] $((SECONDS - s))s: $*" >&2; }

# The pinned pnpm: the installed one when it is that version, else through npx. An array, so `exec` can take it.
if [ "$(pnpm --version 2>/dev/null || true)" = "$PNPM_VERSION" ]; then
  PNPM=(pnpm)
else
  PNPM=(npx --yes "pnpm@$PNPM_VERSION")
fi
pnpm_cmd() { "${PNPM[@]}" "$@"; }

# Debian packages the tests need: Chromium for Playwright, qemu-utils for real qcow2 fixtures, Ceph for S3.
ensure_test_packages() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v qemu-img >/dev/null || missing+=(qemu-utils)
  # Ceph's RADOS Gateway: the S3 server the repository's tests start (scripts/s3-test-server.sh).
  command -v radosgw >/dev/null || missing+=(ceph-mon ceph-osd ceph-mgr radosgw ceph-common uuid-runtime)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    t apt-get update -qq
    t env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "The tests need these Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
}

case "${1:-}" in
  start)
    t pnpm_cmd install --frozen-lockfile
    t pnpm_cmd turbo run build --filter=@lifeboat/web... --filter=@lifeboat/cli...
    # exec: Lifeboat itself gets the signals (Ctrl+C, SIGTERM) and stops its children cleanly.
    exec "${PNPM[@]}" lifeboat start "${@:2}"
    ;;
  test)
    ensure_test_packages
    t pnpm_cmd install --frozen-lockfile
    t pnpm_cmd turbo run build
    t pnpm_cmd turbo run typecheck
    t pnpm_cmd exec biome check .
    t pnpm_cmd turbo run test --concurrency=2
    t pnpm_cmd --filter @lifeboat/web e2e
    echo "[lifeboat] all tests passed" >&2
    ;;
  *)
    echo "usage: scripts/lifeboat.sh start|test" >&2
    exit 2
    ;;
esac
