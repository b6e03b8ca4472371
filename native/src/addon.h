// SPDX-License-Identifier: GPL-2.0-only
// The addon's per-instance state (no globals): the classes it made, and the error class the
// facade hands it (native/errors.ts NativeError). JS thread only.
#pragma once

#include <napi.h>

namespace portcullis {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports);

  Napi::Function FirewallClass() const { return firewall_class_.Value(); }
  Napi::Function TestProgramsClass() const { return test_programs_class_.Value(); }
  // Empty until the facade calls setErrorClass.
  Napi::Function ErrorClass() const { return error_class_.IsEmpty() ? Napi::Function() : error_class_.Value(); }

 private:
  Napi::Value SetErrorClass(const Napi::CallbackInfo& info);
  Napi::Value Probe(const Napi::CallbackInfo& info);
  Napi::Value PeerCredentials(const Napi::CallbackInfo& info);
  Napi::Value TrimNativeHeap(const Napi::CallbackInfo& info);

  Napi::FunctionReference firewall_class_;
  Napi::FunctionReference test_programs_class_;
  Napi::FunctionReference error_class_;
};

inline Addon& AddonOf(Napi::Env env) { return *env.GetInstanceData<Addon>(); }

}  // namespace portcullis
