#!/usr/bin/env bash
# End-to-end tests of Vestibule with Clerk's unmodified npm packages (clerk-js in Node and in
# headless Chromium, @clerk/backend). Extra arguments go to `node --test`, e.g.
#   e2e/run.sh --test-name-pattern=banUser
# Environment: VESTIBULE_BIN (skip the cargo build and test this binary), CHROMIUM_PATH
# (default /usr/bin/chromium, installed with apt-get when missing), VESTIBULE_LOG.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
E2E_DIR=$PWD
ROOT_DIR=$(cd .. && pwd)

# Everything npm writes stays in e2e/.
export npm_config_cache="$E2E_DIR/.npm-cache"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "e2e: $1 is required: $2" >&2; exit 1; }
}
need node "install Node.js 20 or later"
need npm "it comes with Node.js"
node_major=$(node -p 'process.versions.node.split(".")[0]')
if (( node_major < 20 )); then
  echo "e2e: Node.js 20 or later is required (found $(node --version))" >&2
  exit 1
fi

# Node packages: npm ci when node_modules is missing or was installed from another lockfile.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.vestibule-e2e-lock
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_hash" ]]; then
  echo "e2e: installing Node packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$stamp"
fi

# Chromium from Debian (playwright-core downloads no browser).
if [[ -z ${CHROMIUM_PATH:-} && ! -x /usr/bin/chromium ]]; then
  echo "e2e: installing chromium with apt-get" >&2
  sudo=()
  if (( EUID != 0 )); then
    need sudo "run as root or install chromium (apt-get install chromium)"
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi

# The server binary.
if [[ -z ${VESTIBULE_BIN:-} ]]; then
  need cargo "install Rust, or set VESTIBULE_BIN to a built vestibule binary"
  echo "e2e: building vestibule (cargo build -p vestibule)" >&2
  (cd "$ROOT_DIR" && cargo build -p vestibule)
  target_dir=${CARGO_TARGET_DIR:-target}
  [[ $target_dir == /* ]] || target_dir="$ROOT_DIR/$target_dir"
  export VESTIBULE_BIN="$target_dir/debug/vestibule"
fi
[[ -x $VESTIBULE_BIN ]] || { echo "e2e: $VESTIBULE_BIN is not an executable" >&2; exit 1; }

exec node --test "$@" tests/*.test.mjs
