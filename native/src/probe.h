// SPDX-License-Identifier: GPL-2.0-only
// Kernel feature probes: load tiny programs, create tiny maps, look in the kernel's BTF, and see
// what the kernel says. Any thread (the addon runs them off the JS thread: parsing the kernel's
// BTF and loading programs takes a while).
#pragma once

namespace portcullis {

struct BpfFeatures {
  bool ring_buffer = false;
  bool lpm_trie = false;
  bool sk_storage = false;
  bool array_of_maps = false;
  bool cgroup_sock_addr = false;
  bool cgroup_skb = false;
  bool cgroup_sock = false;
  bool tp_btf = false;
  bool bpf_link = false;
  bool sock_release = false;  // the cgroup sock_release attach type
  bool atomic_fetch = false;  // BPF atomics returning the old value (BPF_FETCH)
  bool kernel_context_cast = false;  // the bpf_cast_to_kern_ctx kfunc
  bool sock_ops = false;             // sock_ops programs (ask mode's SYN timer)
  bool connect_setsockopt = false;   // bpf_setsockopt from a connect hook (ask mode's TCP_USER_TIMEOUT)
};

BpfFeatures ProbeBpf();

// Whether the kernel offers BPF programs the kfunc `name` (a FUNC in its BTF). Any thread.
bool KernelHasKfunc(const char* name);

}  // namespace portcullis
