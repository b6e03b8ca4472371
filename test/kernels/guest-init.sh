#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
# PID 1 of a kernel-matrix VM. Loads the kernel package's virtio and 9p modules, mounts the host's
# root (shared read-only, tag "hostroot") on /newroot with fresh proc, sys, dev, cgroup2, bpffs and
# tmpfs for the writable places, mounts the run's job directory (tag "job", writable) on
# /newroot/run/job, and runs its run.sh with that root. Its exit code goes to /run/job/exit-code;
# then the VM powers off. PID 1 stays out here, so the guest ends even when the tests hang or crash.
/bin/busybox --install -s /bin
export PATH=/bin

stage() { echo "kernel-matrix: $* (uptime $(cut -d' ' -f1 /proc/uptime) s)"; }
fail() {
	echo "kernel-matrix: boot failed: $*"
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
stage "init started on $(uname -r)"

for module in $(cat /modules/load-order); do
	insmod "/modules/$module.ko" || fail "insmod $module"
done

root=/newroot
nine="trans=virtio,version=9p2000.L,msize=262144"
mount -t 9p -o "$nine,ro,cache=loose" hostroot "$root" || fail "mount the host's root"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount -t devtmpfs devtmpfs "$root/dev"
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts devpts "$root/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount -t tmpfs -o mode=1777 tmpfs "$root/var/tmp"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup" || fail "mount cgroup2"
mount -t bpf bpf "$root/sys/fs/bpf" || fail "mount bpffs"
mkdir "$root/run/job"
mount -t 9p -o "$nine" job "$root/run/job" || fail "mount the job directory"
ip link set lo up
hostname kernel-matrix
stage "host root mounted"

# In a mount namespace of its own, the host's root is moved over / before the chroot, as switch_root
# does: the job's root is then its namespace's root, not a chroot (a chrooted process may not make
# user namespaces, which tests do). PID 1 keeps the initramfs and its view of /newroot.
unshare -m sh -c 'cd "$1" && mount --move . / && exec chroot . /bin/sh /run/job/run.sh' job "$root"
echo $? > "$root/run/job/exit-code"
sync
stage "done"
poweroff -f
