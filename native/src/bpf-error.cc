// SPDX-License-Identifier: GPL-2.0-only
#include "bpf-error.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace portcullis {
namespace {

// libbpf's callback is process-wide; the text it carries belongs to the thread that ran the
// operation, so the buffer is thread-local (no addon state lives here).
thread_local std::string captured_log;
constexpr size_t kMaxLog = 64 * 1024;

int CaptureLibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[4096];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (n <= 0) return 0;
  captured_log.append(line, std::min<size_t>(n, sizeof(line) - 1));
  // A verifier log says why at its end: keep the tail when it grows too long.
  if (captured_log.size() > kMaxLog) captured_log.erase(0, captured_log.size() - kMaxLog / 2);
  return 0;
}

}  // namespace

void InstallLibbpfLog() { libbpf_set_print(CaptureLibbpfPrint); }

void ClearLibbpfLog() { captured_log.clear(); }

std::string TakeLibbpfLog() {
  std::string out;
  out.swap(captured_log);
  return out;
}

Napi::Error BpfError(Napi::Env env, const std::string& op, int err, const std::string& detail) {
  std::string log = detail.empty() ? TakeLibbpfLog() : detail;
  const char* name = strerrorname_np(err);
  std::string message = op + " failed: " + strerror(err);
  if (!log.empty()) {
    // First line of the log in the message; the whole log in `detail`.
    message += " (" + log.substr(0, log.find('\n')) + ")";
  }
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, name ? name : "E" + std::to_string(err)));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("op", Napi::String::New(env, op));
  error.Set("detail", Napi::String::New(env, log));
  return error;
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

}  // namespace portcullis
