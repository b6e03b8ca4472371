// SPDX-License-Identifier: GPL-2.0-only
// Entry point: the addon's exports, per instance (no globals). The product's: Firewall (open,
// detach and the firewall's verbs), probeBpf, peerCredentials, trimNativeHeap, setErrorClass. The
// test facade's: TestPrograms. Everything here runs on the JS thread; probeBpf's work does not.
#include "addon.h"

#include <malloc.h>
#include <sys/socket.h>

#include <cerrno>

#include "firewall.h"
#include "native-error.h"
#include "probe.h"
#include "promise-worker.h"
#include "test-programs.h"

namespace portcullis {

Addon::Addon(Napi::Env env, Napi::Object exports) {
  InstallLibbpfLog();
  firewall_class_ = Napi::Persistent(Firewall::Define(env));
  test_programs_class_ = Napi::Persistent(TestPrograms::Define(env));
  DefineAddon(exports, {
                           InstanceValue("Firewall", firewall_class_.Value(), napi_enumerable),
                           InstanceValue("TestPrograms", test_programs_class_.Value(), napi_enumerable),
                           InstanceMethod<&Addon::SetErrorClass>("setErrorClass"),
                           InstanceMethod<&Addon::Probe>("probeBpf"),
                           InstanceMethod<&Addon::PeerCredentials>("peerCredentials"),
                           InstanceMethod<&Addon::TrimNativeHeap>("trimNativeHeap"),
                       });
}

// setErrorClass(NativeError): the class every native failure is made an instance of, as
// new NativeError(message, {code, errno, op, detail}).
Napi::Value Addon::SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowTypeError(info.Env(), "setErrorClass(errorClass: function)");
  error_class_ = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// probeBpf() -> Promise<{ringBuffer, lpmTrie, skStorage, arrayOfMaps, cgroupSockAddr, cgroupSkb,
// cgroupSock, tpBtf, bpfLink, sockRelease, atomicFetch, kernelContextCast, sockOps, connectSetsockopt:
// boolean}>
Napi::Value Addon::Probe(const Napi::CallbackInfo& info) {
  return PromiseWorker<BpfFeatures>::Start(
      info.Env(), "probe BPF features", [] { return ProbeBpf(); },
      [](Napi::Env env, BpfFeatures& features) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("ringBuffer", features.ring_buffer);
        out.Set("lpmTrie", features.lpm_trie);
        out.Set("skStorage", features.sk_storage);
        out.Set("arrayOfMaps", features.array_of_maps);
        out.Set("cgroupSockAddr", features.cgroup_sock_addr);
        out.Set("cgroupSkb", features.cgroup_skb);
        out.Set("cgroupSock", features.cgroup_sock);
        out.Set("tpBtf", features.tp_btf);
        out.Set("bpfLink", features.bpf_link);
        out.Set("sockRelease", features.sock_release);
        out.Set("atomicFetch", features.atomic_fetch);
        out.Set("kernelContextCast", features.kernel_context_cast);
        out.Set("sockOps", features.sock_ops);
        out.Set("connectSetsockopt", features.connect_setsockopt);
        return out;
      });
}

// peerCredentials(fd) -> {pid, uid, gid} of the process at the other end of a unix socket (one
// getsockopt: no blocking work).
Napi::Value Addon::PeerCredentials(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowTypeError(env, "peerCredentials(fd: number)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    int err = errno;
    ClearLibbpfLog();  // no libbpf call of this one's: its detail is empty
    throw ToJsError(env, NativeFailure("getsockopt SO_PEERCRED", err));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

// trimNativeHeap() -> true if memory went back to the kernel. glibc keeps freed chunks inside
// its heap and returns only a free top; a burst's freed buffers between live ones stay resident
// (tens of MiB after 100k new flows) until malloc_trim hands their whole pages back.
Napi::Value Addon::TrimNativeHeap(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace portcullis

using PortcullisAddon = portcullis::Addon;
NODE_API_ADDON(PortcullisAddon)
