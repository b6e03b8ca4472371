# The Debian packages Portcullis needs, in lists, and the one way they are installed. Sourced (not
# run) by scripts/setup.sh (the app's list), scripts/setup-tests.sh (the tests' list, which npm test
# runs first), .ci/run (both) and bench/run.sh (the benchmark's peers).

# Building, running and testing: the BPF toolchain, libbpf, polkit, a browser for the UI shell and its
# tests, the network tools the tests use to build their own test hosts, and qemu with a static busybox
# for the kernel matrix (test/kernels: other kernels booted with this machine's root).
APP_PACKAGES=(
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make g++ python3
  polkitd pkexec dbus
  chromium xvfb xauth
  iproute2 iputils-ping iperf3 nftables iptables procps util-linux
  qemu-system-x86 busybox-static
)

# Only the tests: Prometheus's promtool, which the metrics tests ask whether the helper's page is
# valid. The package also holds a server, which nobody here needs (it is never started).
TEST_PACKAGES=(
  prometheus
)

# The full benchmark's peers and tools (bench/run.sh; its smoke run needs only the app's list).
BENCH_PACKAGES=(
  gcc iptables nftables iperf3 opensnitch iproute2
)

# Packages whose service must never run here: prometheus would serve on the host's port 9090 and
# opensnitch's daemon would judge the host's traffic (the benchmark runs it in its own namespace).
SERVICES_KEPT_OFF=(prometheus opensnitch)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs those of the named packages that are missing (apt-get as root, or through sudo). Prints
# what it installs through `say` when the caller defines one.
install_missing_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  if declare -F say >/dev/null; then say "installing system packages: ${missing[*]}"; fi
  as_root apt-get update -q
  # Packages may not start services here (SERVICES_KEPT_OFF): a policy-rc.d forbids it for this
  # install, unless the machine already has one.
  local made_policy=0 installed=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    made_policy=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || installed=$?
  if [ "$made_policy" = 1 ]; then as_root rm -f /usr/sbin/policy-rc.d; fi
  [ "$installed" = 0 ] || return "$installed"
  # Their units stay off at the next boot too.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for pkg in "${SERVICES_KEPT_OFF[@]}"; do
      if [[ " ${missing[*]} " == *" $pkg "* ]]; then as_root systemctl disable --now "$pkg" >/dev/null 2>&1 || true; fi
    done
  fi
}
