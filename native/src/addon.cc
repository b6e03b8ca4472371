// SPDX-License-Identifier: GPL-2.0-only
// Entry point: the addon's exports, per-instance (no globals): Firewall, probeBpf,
// peerCredentials, trimNativeHeap. Everything here runs on the JS main thread.
#include <malloc.h>
#include <napi.h>
#include <sys/socket.h>

#include <cerrno>

#include "bpf-error.h"
#include "firewall.h"
#include "probe.h"

namespace portcullis {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    firewall_ = Napi::Persistent(Firewall::Define(env));
    DefineAddon(exports, {
                             InstanceValue("Firewall", firewall_.Value(), napi_enumerable),
                             InstanceMethod<&Addon::Probe>("probeBpf"),
                             InstanceMethod<&Addon::PeerCredentials>("peerCredentials"),
                             InstanceMethod<&Addon::TrimNativeHeap>("trimNativeHeap"),
                         });
  }

 private:
  Napi::Value Probe(const Napi::CallbackInfo& info) { return ProbeBpf(info); }

  // peerCredentials(fd) -> {pid, uid, gid} of the process at the other end of a unix socket.
  Napi::Value PeerCredentials(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) ThrowTypeError(env, "peerCredentials(fd: number)");
    int fd = info[0].As<Napi::Number>().Int32Value();
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) throw BpfError(env, "getsockopt SO_PEERCRED", errno, "");
    Napi::Object out = Napi::Object::New(env);
    out.Set("pid", Napi::Number::New(env, cred.pid));
    out.Set("uid", Napi::Number::New(env, cred.uid));
    out.Set("gid", Napi::Number::New(env, cred.gid));
    return out;
  }

  // trimNativeHeap() -> true if memory went back to the kernel. glibc keeps freed chunks inside
  // its heap and returns only a free top; a burst's freed buffers between live ones stay resident
  // (tens of MiB after 100k new flows) until malloc_trim hands their whole pages back.
  Napi::Value TrimNativeHeap(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
    return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
    return Napi::Boolean::New(info.Env(), false);
#endif
  }

  Napi::FunctionReference firewall_;
};

}  // namespace portcullis

using PortcullisAddon = portcullis::Addon;
NODE_API_ADDON(PortcullisAddon)
