// SPDX-License-Identifier: GPL-2.0-only
#include "native-error.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "addon.h"

namespace portcullis {
namespace {

// libbpf's callback is process-wide; the text it carries belongs to the thread that ran the
// operation, so the buffer is thread-local (no addon state lives here).
thread_local std::string captured_log;
constexpr size_t kMaxLog = 64 * 1024;

int CaptureLibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  // libbpf hands over a whole verifier log in one call, and the log says why at its end: size the
  // text to what was printed rather than cutting it at a line buffer.
  va_list measure;
  va_copy(measure, args);
  int n = vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  if (n <= 0) return 0;
  std::string text(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(text.data(), text.size(), format, args);
  text.resize(static_cast<size_t>(n));
  captured_log += text;
  // Keep the tail when it grows too long.
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

NativeFailure::NativeFailure(std::string op, int err, std::string detail)
    : op_(std::move(op)), err_(err), detail_(detail.empty() ? TakeLibbpfLog() : std::move(detail)) {
  message_ = op_ + " failed: " + strerror(err_);
  // The first line of the detail in the message; all of it in `detail`.
  if (!detail_.empty()) message_ += " (" + detail_.substr(0, detail_.find('\n')) + ")";
}

Napi::Error ToJsError(Napi::Env env, const NativeFailure& failure) {
  const char* name = strerrorname_np(failure.err());
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("code", Napi::String::New(env, name ? name : "E" + std::to_string(failure.err())));
  fields.Set("errno", Napi::Number::New(env, failure.err()));
  fields.Set("op", Napi::String::New(env, failure.op()));
  fields.Set("detail", Napi::String::New(env, failure.detail()));
  Napi::Function error_class = AddonOf(env).ErrorClass();
  if (error_class.IsEmpty()) {
    Napi::Error error = Napi::Error::New(env, failure.what());
    for (const char* key : {"code", "errno", "op", "detail"}) error.Set(key, fields.Get(key));
    return error;
  }
  return Napi::Error(env, error_class.New({Napi::String::New(env, failure.what()), fields}));
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

}  // namespace portcullis
