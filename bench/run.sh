#!/usr/bin/env bash
# `npm run bench`: every benchmark in one run -> bench/results/<date>.json and bench/REPORT.md.
# BENCH_SMOKE=1: tiny sizes, no OpenSnitch, nothing installed beyond what scripts/setup.sh installs;
# writes to test-artifacts/bench-smoke/ (the test suite runs this).
# Needs root: network namespaces, netfilter inside them, cgroups and BPF.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[bench]\033[0m %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/run.sh needs root (network namespaces, netfilter, cgroups, BPF). Run: sudo npm run bench" >&2
  exit 1
fi

smoke="${BENCH_SMOKE:-0}"
if [ "$smoke" != 1 ]; then
  # The peers and tools the comparison needs (opensnitch's daemon is kept from starting on the host).
  # shellcheck source=scripts/packages.sh
  . scripts/packages.sh
  install_missing_packages "${BENCH_PACKAGES[@]}"
fi

for tool in ip nft iptables-restore; do
  command -v "$tool" >/dev/null || { echo "bench: '$tool' is missing; run scripts/setup.sh first" >&2; exit 1; }
done

status=0
# The other engineers' benchmarks write JSON that main.ts folds into the report: into bench/results/
# for a full run, into the smoke directory for a smoke run (tiny sizes). The smoke run leaves out
# datapath.ts (it always writes bench/results/datapath.json, a committed result) and ui.ts (it builds
# the renderer, which takes a good part of the smoke run's time budget; the e2e tests cover it).
if [ "$smoke" = 1 ]; then
  out=test-artifacts/bench-smoke
  others=(events helper-rss)
else
  out=bench/results
  others=(datapath events helper-rss ui)
fi
mkdir -p "$out"
for name in "${others[@]}"; do
  file="bench/$name.ts"
  [ -f "$file" ] || continue
  say "$(date -u +%T) running $file"
  if [ "$name" = datapath ]; then
    node --import tsx "$file" >/dev/null || { echo "bench: $file failed" >&2; status=1; }
  else
    node --import tsx "$file" --json "$out/$name.json" >/dev/null || { echo "bench: $file failed" >&2; status=1; }
  fi
done
say "$(date -u +%T) running bench/main.ts"
node --import tsx bench/main.ts || status=$?

# Whatever happened, nothing of the benchmark's may be left behind.
leftovers=$(ip netns list | awk '{print $1}' | grep -E '^pcl-[0-9a-f]{6}-b[cs]$' || true)
cgroup_root=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
left_cgroups=$(find "$cgroup_root" -maxdepth 1 \( -name 'portcullis-test-bench-firewall-*' -o -name 'portcullis-test-bench-baseline-*' \) 2>/dev/null || true)
if [ -n "$leftovers$left_cgroups" ]; then
  echo "bench: left behind: $leftovers $left_cgroups" >&2
  status=1
fi
exit $status
