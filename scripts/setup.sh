#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for Portcullis: system packages, npm dependencies, and a build
# of every native piece. Idempotent: safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# shellcheck source=scripts/packages.sh
. scripts/packages.sh

# The app's packages; what only the tests use comes from scripts/setup-tests.sh (npm test runs it).
install_missing_packages "${APP_PACKAGES[@]}"

# .npmrc turns install scripts off: Electron's postinstall downloads its binary from GitHub and has no
# switch to skip that, so native modules are built explicitly below instead.
say "installing npm dependencies"
npm ci --no-audit --no-fund --loglevel=error

# Native builds compile against the headers of the node that runs them (no header download: the
# machine may be offline), found beside the node binary.
node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
if [ -f "$node_prefix/include/node/node_api.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi

if ! node -e "require('better-sqlite3')(':memory:')" 2>/dev/null; then
  say "building better-sqlite3 from source"
  (cd node_modules/better-sqlite3 && ../.bin/node-gyp rebuild --release --loglevel=error >/dev/null)
fi

say "building BPF programs, the native addon, the TypeScript and the renderer"
npm run --silent build

if [ -x node_modules/electron/dist/electron ]; then
  say "Electron's binary is present: npm start opens the desktop app"
elif timeout 60 node node_modules/electron/install.js >/dev/null 2>&1; then
  say "Electron's binary downloaded: npm start opens the desktop app"
else
  say "Electron's binary could not be downloaded (it comes from GitHub); npm start will open the browser shell in Chromium instead"
fi
say "done"
