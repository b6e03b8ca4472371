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
  # The peers and tools the comparison needs.
  packages=(gcc iptables nftables iperf3 opensnitch iproute2)
  missing=()
  for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    # opensnitch's package would start its daemon on the host's network: forbid service starts for
    # the install (unless a policy is already in place), the benchmark runs it in its own namespace.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      made_policy=1
    fi
    trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; made_policy=0; fi
    # On a systemd machine the unit may still be enabled for the next boot: it is not ours to run.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl disable --now opensnitch >/dev/null 2>&1 || true
    fi
  fi
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
