// SPDX-License-Identifier: GPL-2.0-only
#include "probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "bpf-error.h"

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

// A kfunc the kernel offers BPF programs: it is a FUNC in the kernel's BTF.
bool Kfunc(const char* name) {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (libbpf_get_error(vmlinux)) return false;
  bool found = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) >= 0;
  btf__free(vmlinux);
  return found;
}

}  // namespace

Napi::Value ProbeBpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  InstallLibbpfLog();
  Napi::Object out = Napi::Object::New(env);
  out.Set("ringBuffer", MapType(BPF_MAP_TYPE_RINGBUF));
  out.Set("lpmTrie", MapType(BPF_MAP_TYPE_LPM_TRIE));
  out.Set("skStorage", MapType(BPF_MAP_TYPE_SK_STORAGE));
  out.Set("arrayOfMaps", MapType(BPF_MAP_TYPE_ARRAY_OF_MAPS));
  out.Set("cgroupSockAddr", ProgType(BPF_PROG_TYPE_CGROUP_SOCK_ADDR));
  out.Set("cgroupSkb", ProgType(BPF_PROG_TYPE_CGROUP_SKB));
  out.Set("cgroupSock", ProgType(BPF_PROG_TYPE_CGROUP_SOCK));
  out.Set("tpBtf", TpBtf());
  out.Set("bpfLink", CgroupLink());
  out.Set("kernelContextCast", Kfunc("bpf_cast_to_kern_ctx"));
  ClearLibbpfLog();
  return out;
}

}  // namespace portcullis
