// SPDX-License-Identifier: GPL-2.0-only
#include "probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <iterator>

#include "native-error.h"

namespace portcullis {
namespace {

// r0 = 0; exit
const bpf_insn kReturnZero[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0},
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
};

bool ProgType(bpf_prog_type type) { return libbpf_probe_bpf_prog_type(type, nullptr) == 1; }
bool MapType(bpf_map_type type) { return libbpf_probe_bpf_map_type(type, nullptr) == 1; }

// A tp_btf program needs BTF for the tracepoint; loading one proves both.
bool TpBtf() {
  int btf_id = libbpf_find_vmlinux_btf_id("sched_process_exec", BPF_TRACE_RAW_TP);
  if (btf_id < 0) return false;
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP, .attach_btf_id = uint32_t(btf_id));
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "pcl_probe", "GPL", kReturnZero, 2, &opts);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// BPF_LINK_CREATE for cgroups: with an invalid target the kernel answers EBADF when it knows
// the command and attach type, EINVAL otherwise.
bool CgroupLink() {
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET_EGRESS);
  int prog = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "pcl_probe", "GPL", kReturnZero, 2, &opts);
  if (prog < 0) return false;
  int link = bpf_link_create(prog, -1, BPF_CGROUP_INET_EGRESS, nullptr);
  int err = errno;
  if (link >= 0) close(link);
  close(prog);
  return link >= 0 || err == EBADF;
}

// The cgroup sock_release hook (Linux 5.9), which reports a socket's exact totals at close: the
// kernel takes a cgroup sock program for that attach type only when it knows the hook.
bool SockRelease() {
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET_SOCK_RELEASE);
  int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK, "pcl_probe", "GPL", kReturnZero, 2, &opts);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// Atomic operations that return the old value (BPF_FETCH, Linux 5.12), which the datapath's
// totals and close states use; older kernels refuse any atomic but a plain add.
bool AtomicFetch() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 0},                                 // r1 = 0
      {BPF_STX | BPF_MEM | BPF_DW, BPF_REG_10, BPF_REG_1, -8, 0},                        // *(u64 *)(r10 - 8) = r1
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1},                                 // r1 = 1
      {BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_10, BPF_REG_1, -8, BPF_OR | BPF_FETCH},   // r1 = fetch_or(r10 - 8, r1)
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},                                 // r0 = 0
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET_EGRESS);
  int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "pcl_probe", "GPL", insns, std::size(insns), &opts);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace

bool KernelHasKfunc(const char* name) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (libbpf_get_error(vmlinux)) return false;
  bool found = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) >= 0;
  btf__free(vmlinux);
  return found;
}

namespace {

// A connect4 program that calls bpf_setsockopt(ctx, SOL_TCP, TCP_USER_TIMEOUT, &1000, 4): the
// verifier refuses the call where the kernel does not offer it there.
bool ConnectSetsockopt() {
  const bpf_insn program[] = {
      {BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0},          // r6 = ctx
      {BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 1000},        // *(u32 *)(r10 - 4) = 1000
      {BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0},          // r1 = ctx
      {BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 6},          // r2 = SOL_TCP
      {BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 18},         // r3 = TCP_USER_TIMEOUT
      {BPF_ALU64 | BPF_MOV | BPF_X, 4, 10, 0, 0},         // r4 = r10
      {BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, -4},         // r4 -= 4
      {BPF_ALU64 | BPF_MOV | BPF_K, 5, 0, 0, 4},          // r5 = 4
      {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_setsockopt},  // bpf_setsockopt
      {BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1},          // r0 = 1
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET4_CONNECT);
  int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, "pcl_probe", "GPL", program, std::size(program), &opts);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace

BpfFeatures ProbeBpf() {
  BpfFeatures features;
  features.ring_buffer = MapType(BPF_MAP_TYPE_RINGBUF);
  features.lpm_trie = MapType(BPF_MAP_TYPE_LPM_TRIE);
  features.sk_storage = MapType(BPF_MAP_TYPE_SK_STORAGE);
  features.array_of_maps = MapType(BPF_MAP_TYPE_ARRAY_OF_MAPS);
  features.cgroup_sock_addr = ProgType(BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
  features.cgroup_skb = ProgType(BPF_PROG_TYPE_CGROUP_SKB);
  features.cgroup_sock = ProgType(BPF_PROG_TYPE_CGROUP_SOCK);
  features.tp_btf = TpBtf();
  features.bpf_link = CgroupLink();
  features.sock_release = SockRelease();
  features.atomic_fetch = AtomicFetch();
  features.kernel_context_cast = KernelHasKfunc("bpf_cast_to_kern_ctx");
  features.sock_ops = ProgType(BPF_PROG_TYPE_SOCK_OPS);
  features.connect_setsockopt = ConnectSetsockopt();
  ClearLibbpfLog();  // what the probes that failed logged is no one's error
  return features;
}

}  // namespace portcullis
