// SPDX-License-Identifier: GPL-2.0-only
// Blocking work off the JS thread, as a promise: `work` runs on a libuv pool thread and may throw
// NativeFailure (the promise rejects with a NativeError); `settle` turns its result into a JS value
// on the JS thread. JS values the work reads (buffers) are held until it ends.
#pragma once

#include <napi.h>

#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "native-error.h"

namespace portcullis {

// The result of work that returns nothing.
struct Done {};

template <typename Result>
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Settle = std::function<Napi::Value(Napi::Env, Result&)>;

  // JS thread.
  static Napi::Promise Start(Napi::Env env, const char* name, Work work, Settle settle,
                             const std::vector<Napi::Object>& keep_alive = {}) {
    auto* worker = new PromiseWorker(env, name, std::move(work), std::move(settle));
    for (const Napi::Object& value : keep_alive) worker->keep_alive_.push_back(Napi::Persistent(value));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();  // deletes itself on the JS thread once settled
    return promise;
  }

 private:
  PromiseWorker(Napi::Env env, const char* name, Work work, Settle settle)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), name_(name), work_(std::move(work)),
        settle_(std::move(settle)) {}

  // Pool thread.
  void Execute() override {
    ClearLibbpfLog();
    try {
      result_.emplace(work_());
    } catch (const NativeFailure& failure) {
      failure_.emplace(failure);
    } catch (const std::exception& error) {
      failure_.emplace(name_, EIO, error.what());
    }
  }

  // JS thread.
  void OnOK() override {
    Napi::Env env = Env();
    if (failure_) {
      deferred_.Reject(ToJsError(env, *failure_).Value());
      return;
    }
    try {
      deferred_.Resolve(settle_(env, *result_));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  }

  Napi::Promise::Deferred deferred_;
  const char* name_;
  Work work_;
  Settle settle_;
  std::vector<Napi::ObjectReference> keep_alive_;
  std::optional<Result> result_;
  std::optional<NativeFailure> failure_;
};

}  // namespace portcullis
