// SPDX-License-Identifier: GPL-2.0-only
// Firewall: the JS object over a FirewallCore (firewall-core.h) and its event pump. Its methods run
// on the JS thread; the blocking ones check their arguments there, do their work on a libuv pool
// thread and return a promise (promise-worker.h). The facade (native/index.ts) is its only user.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "map-fill.h"

namespace portcullis {

class EventPump;
class FirewallCore;

class Firewall : public Napi::ObjectWrap<Firewall> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Made by Firewall.open only (an External of the opened core).
  explicit Firewall(const Napi::CallbackInfo& info);
  ~Firewall() override;

  // The core of a JS Firewall, or null when `value` is none or is closed (JS thread).
  static std::shared_ptr<FirewallCore> CoreOf(const Napi::Value& value);

 private:
  // Firewall.open(cgroup, pinDir, ringBytes, fastPath?) -> Promise<Firewall>: loads, attaches or
  // adopts. fastPath: 'auto' (default) or 'socket-storage' (the older kernels' form, forced).
  static Napi::Value Open(const Napi::CallbackInfo& info);
  // Firewall.detach(pinDir) -> Promise<void>
  static Napi::Value Detach(const Napi::CallbackInfo& info);
  // Firewall.setAsideLinks(pinDir) -> string[] (see pins.h SetAsideLinks)
  static Napi::Value SetAsideLinks(const Napi::CallbackInfo& info);
  Napi::Value Adopted(const Napi::CallbackInfo& info);
  Napi::Value Replaced(const Napi::CallbackInfo& info);
  Napi::Value RetireOldBuild(const Napi::CallbackInfo& info);
  Napi::Value FastPath(const Napi::CallbackInfo& info);
  Napi::Value PrepareMap(const Napi::CallbackInfo& info);
  Napi::Value Swap(const Napi::CallbackInfo& info);
  Napi::Value ApplyDiff(const Napi::CallbackInfo& info);
  Napi::Value SetEnforcing(const Napi::CallbackInfo& info);
  Napi::Value SetAsk(const Napi::CallbackInfo& info);
  Napi::Value AttachHolds(const Napi::CallbackInfo& info);
  Napi::Value ReadHolds(const Napi::CallbackInfo& info);
  Napi::Value AnswerHolds(const Napi::CallbackInfo& info);
  Napi::Value ForgetHolds(const Napi::CallbackInfo& info);
  Napi::Value DecideFlows(const Napi::CallbackInfo& info);
  Napi::Value UpdateBindings(const Napi::CallbackInfo& info);
  Napi::Value ReadCounters(const Napi::CallbackInfo& info);
  Napi::Value ReadFlows(const Napi::CallbackInfo& info);
  Napi::Value DrainTally(const Napi::CallbackInfo& info);
  Napi::Value StartEvents(const Napi::CallbackInfo& info);
  Napi::Value StopEvents(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<FirewallCore> RequireOpen(Napi::Env env) const;
  void StopPump();

  // Shared with the work in flight: closing drops this reference, the core goes with the last one.
  std::shared_ptr<FirewallCore> core_;
  std::unique_ptr<EventPump> pump_;
  // Inner maps being filled for the next swap (prepareMap), in kInnerMaps order; swap takes the
  // ones made from exactly its input and drops the others.
  struct PreparedMap {
    Napi::Reference<Napi::Buffer<uint8_t>> keys;  // the JS buffers the fill reads, held until it ends
    Napi::Reference<Napi::Buffer<uint8_t>> values;
    std::unique_ptr<MapFill> fill;  // declared last: destroyed (joined) first
  };
  std::vector<std::unique_ptr<PreparedMap>> prepared_;
};

}  // namespace portcullis
