#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for Portcullis: system packages, npm dependencies, and a build
# of every native piece. Idempotent: safe to run again. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# What building, running and testing need: the BPF toolchain, libbpf, polkit, a browser for the UI
# shell and its tests, the network tools the tests use to build their own test hosts, and qemu with a
# static busybox for the kernel matrix (test/kernels: other kernels booted with this machine's root),
# and Prometheus's promtool, which the metrics tests ask whether the helper's page is valid.
PACKAGES=(
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3
  polkitd pkexec dbus
  chromium xvfb xauth
  iproute2 iputils-ping iperf3 nftables iptables procps util-linux
  qemu-system-x86 busybox-static
  prometheus
)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -q
  # Packages may not start services here (prometheus would serve on the host's port 9090): a
  # policy-rc.d forbids it for this install, unless the machine already has one.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    made_policy=1
  fi
  installed=0
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || installed=$?
  if [ "$made_policy" = 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
  if [ "$installed" != 0 ]; then exit "$installed"; fi
  # Only promtool is used: the service stays off at the next boot too.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

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
