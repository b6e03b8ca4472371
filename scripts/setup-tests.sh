#!/usr/bin/env bash
# Installs the system packages only the tests use (scripts/packages.sh: TEST_PACKAGES) on top of what
# scripts/setup.sh installs. npm test runs it first; run it once yourself before running single test
# files (the unit tests too: they ask promtool about the metrics page). Idempotent; needs root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1m[setup-tests]\033[0m %s\n' "$*"; }
# shellcheck source=scripts/packages.sh
. scripts/packages.sh
install_missing_packages "${TEST_PACKAGES[@]}"
