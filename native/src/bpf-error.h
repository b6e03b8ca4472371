// SPDX-License-Identifier: GPL-2.0-only
// Errors that cross into JS: a JS Error with `code` (errno name), `op` and `detail` (what libbpf
// or the verifier said while the operation ran).
#pragma once

#include <napi.h>

#include <string>

namespace portcullis {

// Routes libbpf's log into a per-thread buffer. Installed once per process (libbpf has one
// print callback for the whole process); harmless to call again.
void InstallLibbpfLog();

// Empties the calling thread's libbpf log (call before an operation whose log we want).
void ClearLibbpfLog();

// Returns and empties what libbpf logged on the calling thread since the last clear.
std::string TakeLibbpfLog();

// err is a positive errno value. Any libbpf log captured on this thread becomes `detail`.
Napi::Error BpfError(Napi::Env env, const std::string& op, int err, const std::string& detail = "");

// Throws a TypeError saying which argument was wrong (argument checks).
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& message);

}  // namespace portcullis
