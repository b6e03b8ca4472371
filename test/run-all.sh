#!/usr/bin/env bash
# The whole test suite: type checks, lint, then every test against the real kernel, SQLite, polkit and
# Chromium, and the kernel tests again inside Debian 12's own kernels under qemu (the kernel matrix).
# Needs root (BPF, cgroups, network namespaces). Ends with one line: "all: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "npm test needs root: the tests load BPF programs, make cgroups and network namespaces. Run: sudo npm test" >&2
  exit 1
fi
mkdir -p test-artifacts
status=0
passed=0
failed=0

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "test packages"
# What only the tests use (promtool), on top of scripts/setup.sh's packages; nothing when present.
bash scripts/setup-tests.sh || status=1

step "typecheck"
npm run --silent typecheck || status=1
step "lint"
npm run --silent lint || status=1

# One node:test run for unit, kernel, integration and e2e tests: one process at a time, since kernel
# tests share the machine's cgroup tree and two cores.
step "node tests (unit, kernel, integration, e2e)"
mapfile -t files < <(find test/unit test/kernel test/integration test/e2e -name '*.test.ts' 2>/dev/null | sort)
if [ ${#files[@]} -gt 0 ]; then
  node --import tsx --test --test-concurrency=1 --test-timeout=300000 --test-reporter=spec "${files[@]}" 2>&1 | tee test-artifacts/node-tests.log
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  passed=$((passed + $(grep -aoE '^ℹ pass [0-9]+' test-artifacts/node-tests.log | awk '{s+=$3} END {print s+0}')))
  failed=$((failed + $(grep -aoE '^ℹ fail [0-9]+' test-artifacts/node-tests.log | awk '{s+=$3} END {print s+0}')))
fi

step "renderer tests (vitest)"
if [ -f test/renderer/vitest.config.ts ]; then
  NO_COLOR=1 npx vitest run --config test/renderer/vitest.config.ts 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | tee test-artifacts/vitest.log
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  passed=$((passed + $(grep -aoE 'Tests +([0-9]+ failed \| )?[0-9]+ passed' test-artifacts/vitest.log | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')))
  failed=$((failed + $(grep -aoE 'Tests +[0-9]+ failed' test-artifacts/vitest.log | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}')))
fi

step "benchmark smoke run"
if [ -f bench/run.sh ]; then
  BENCH_SMOKE=1 bash bench/run.sh || status=1
fi

# The kernel matrix: Debian 12's own 6.1 and 6.12 kernels booted under qemu, the kernel tests and the
# helper's end-to-end check inside each (about 11 minutes a kernel; see README, "Kernel matrix"). CI
# runs it; PORTCULLIS_SKIP_KERNEL_MATRIX=1 skips it on a developer's machine.
step "kernel matrix (Debian 12's 6.1 and 6.12 under qemu)"
if [ "${PORTCULLIS_SKIP_KERNEL_MATRIX:-0}" = 1 ]; then
  echo "skipped: PORTCULLIS_SKIP_KERNEL_MATRIX=1"
else
  node --import tsx test/kernels/run-matrix.ts 6.1 6.12 2>&1 | tee test-artifacts/kernel-matrix.log
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  counts=$(grep -aoE '^kernel matrix: [0-9]+ passed, [0-9]+ failed' test-artifacts/kernel-matrix.log | tail -n 1)
  if [ -n "$counts" ]; then
    passed=$((passed + $(echo "$counts" | awk '{print $3}')))
    failed=$((failed + $(echo "$counts" | awk '{print $5}')))
  else
    failed=$((failed + 1)) # it stopped before counting (no qemu, no kernel package...)
  fi
fi

echo
echo "all: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] || status=1
exit $status
