// SPDX-License-Identifier: GPL-2.0-only
// Native failures: NativeFailure is thrown by the work itself, on whatever thread it runs, and
// carries the operation, the errno and the detail (what libbpf or the verifier said meanwhile on
// that thread). On the JS thread it becomes one typed error, an instance of the facade's
// NativeError (native/errors.ts) with `code` (errno name), `errno`, `op` and `detail`.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

namespace portcullis {

// Routes libbpf's log into a per-thread buffer. libbpf has one print callback per process: set
// once, when the addon loads.
void InstallLibbpfLog();

// Empties the calling thread's libbpf log (call before an operation whose log we want).
void ClearLibbpfLog();

// Returns and empties what libbpf logged on the calling thread since the last clear.
std::string TakeLibbpfLog();

class NativeFailure : public std::exception {
 public:
  // err is a positive errno value. An empty detail takes what libbpf logged on this thread.
  NativeFailure(std::string op, int err, std::string detail = "");
  const char* what() const noexcept override { return message_.c_str(); }

  const std::string& op() const { return op_; }
  int err() const { return err_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string op_;
  int err_;
  std::string detail_;
  std::string message_;
};

// JS thread: the NativeError for a failure (a plain Error if the facade gave no class).
Napi::Error ToJsError(Napi::Env env, const NativeFailure& failure);

// Throws a TypeError saying which argument was wrong (argument checks, JS thread).
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace portcullis
