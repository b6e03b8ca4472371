// SPDX-License-Identifier: GPL-2.0-only
// Firewall: the one object that owns the loaded skeleton, the cgroup/tracing links and the
// event pump. Every method runs on the JS main thread unless its comment says otherwise.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "map-fill.h"

struct portcullis_bpf;
struct bpf_link;
struct bpf_map;

namespace portcullis {

class EventPump;

class Firewall : public Napi::ObjectWrap<Firewall> {
 public:
  static Napi::Function Define(Napi::Env env);

  // new Firewall(cgroupPath, pinDir, ringBytes): loads (or adopts pinned maps), attaches or
  // adopts pinned links, pins what it created.
  explicit Firewall(const Napi::CallbackInfo& info);
  ~Firewall() override;

 private:
  Napi::Value Adopted(const Napi::CallbackInfo& info);
  Napi::Value PrepareMap(const Napi::CallbackInfo& info);
  Napi::Value ApplyRules(const Napi::CallbackInfo& info);
  Napi::Value ApplyDiff(const Napi::CallbackInfo& info);
  Napi::Value SetEnforcing(const Napi::CallbackInfo& info);
  Napi::Value Enforcing(const Napi::CallbackInfo& info);
  Napi::Value BindApps(const Napi::CallbackInfo& info);
  Napi::Value UnbindApps(const Napi::CallbackInfo& info);
  Napi::Value ClearBindings(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value ReadFlows(const Napi::CallbackInfo& info);
  Napi::Value StartEvents(const Napi::CallbackInfo& info);
  Napi::Value StopEvents(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  Napi::Value MapMemory(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  static Napi::Value Detach(const Napi::CallbackInfo& info);

  void Load(Napi::Env env, const std::string& cgroup, const std::string& pin_dir, uint32_t ring_bytes);
  void AttachOrAdopt(Napi::Env env, int cgroup_fd, const std::string& pin_dir);
  void RequireSameCgroup(Napi::Env env, bpf_link* link, int cgroup_fd, const std::string& path);
  void ReleaseAll();  // fds only: pins (and so enforcement) stay
  void RequireOpen(Napi::Env env) const;
  bpf_map* BindingMap(Napi::Env env, const Napi::Value& kind) const;

  ::portcullis_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  bool adopted_ = false;
  uint64_t drops_at_open_ = 0;
  std::unique_ptr<EventPump> pump_;
  // The inner rule maps this process installed, per slot, in kInner order (-1: not known, e.g.
  // adopted from a previous helper). Diffs write through these: reopening a map by id
  // (BPF_MAP_GET_FD_BY_ID) would need CAP_SYS_ADMIN.
  std::vector<int> inner_fds_[2];
  void CloseInnerFds(uint32_t slot);
  // Inner maps being filled for the next swap (prepareMap), in kInner order; applyRules takes them.
  struct PreparedMap {
    Napi::Reference<Napi::Buffer<uint8_t>> keys;  // the JS buffers the fill reads, held until it ends
    Napi::Reference<Napi::Buffer<uint8_t>> values;
    std::unique_ptr<MapFill> fill;  // declared last: destroyed (joined) first
  };
  std::vector<std::unique_ptr<PreparedMap>> prepared_;
};

}  // namespace portcullis
