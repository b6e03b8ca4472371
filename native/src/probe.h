// SPDX-License-Identifier: GPL-2.0-only
// Kernel feature probes: load tiny programs / create tiny maps and see what the kernel says.
#pragma once

#include <napi.h>

namespace portcullis {

// probeBpf() -> {ringBuffer, lpmTrie, skStorage, arrayOfMaps, cgroupSockAddr, cgroupSkb,
//                cgroupSock, tpBtf, bpfLink: boolean}. Main thread.
Napi::Value ProbeBpf(const Napi::CallbackInfo& info);

}  // namespace portcullis
