// SPDX-License-Identifier: GPL-2.0-only
// TestPrograms: the test object (bpf/portcullis-test.bpf.c) loaded beside a firewall, over the
// firewall's own maps (bpf_map__reuse_fd), for BPF_PROG_TEST_RUN: the full evaluation without the
// per-socket cache, the empty baseline, and the firewall's attached packet programs. Only the test
// facade (native/testing.ts) makes one; the helper never does. JS thread unless a comment says otherwise.
#pragma once

#include <napi.h>

#include <memory>

struct portcullis_test_bpf;

namespace portcullis {

class FirewallCore;

class TestPrograms : public Napi::ObjectWrap<TestPrograms> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Made by TestPrograms.load(firewall) only (an External of the loaded state).
  explicit TestPrograms(const Napi::CallbackInfo& info);
  ~TestPrograms() override;

  struct Loaded;

 private:
  // TestPrograms.load(firewall) -> Promise<TestPrograms> (the verifier's work runs off the JS thread).
  static Napi::Value Load(const Napi::CallbackInfo& info);
  // run(program: string, packet: Buffer (from an Ethernet header), repeat: number) -> {retval, durationNs}
  Napi::Value Run(const Napi::CallbackInfo& info);
  // mapMemory() -> bytes of kernel memory charged to the firewall's maps, inner rule maps included.
  Napi::Value MapMemory(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  std::shared_ptr<Loaded> loaded_;
};

}  // namespace portcullis
