// SPDX-License-Identifier: GPL-2.0-only
#include "test-programs.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <string>

#include "addon.h"
#include "firewall-core.h"
#include "firewall.h"
#include "native-error.h"
#include "portcullis-test.skel.h"
#include "promise-worker.h"

namespace portcullis {

// The test skeleton and the firewall whose maps (and attached programs) it uses.
struct TestPrograms::Loaded {
  std::shared_ptr<FirewallCore> firewall;
  ::portcullis_test_bpf* skel = nullptr;
  ~Loaded() {
    if (skel) portcullis_test_bpf__destroy(skel);
  }
};

namespace {

// Any thread: opens the test object, points every map of it at the firewall's map of that name,
// loads it.
std::shared_ptr<TestPrograms::Loaded> LoadOver(std::shared_ptr<FirewallCore> firewall);

}  // namespace

Napi::Function TestPrograms::Define(Napi::Env env) {
  return DefineClass(env, "TestPrograms",
                     {
                         StaticMethod<&TestPrograms::Load>("load"),
                         InstanceMethod<&TestPrograms::Run>("run"),
                         InstanceMethod<&TestPrograms::MapMemory>("mapMemory"),
                         InstanceMethod<&TestPrograms::Close>("close"),
                     });
}

TestPrograms::TestPrograms(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TestPrograms>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) ThrowTypeError(info.Env(), "TestPrograms are made by TestPrograms.load(firewall)");
  loaded_ = *info[0].As<Napi::External<std::shared_ptr<Loaded>>>().Data();
}

TestPrograms::~TestPrograms() = default;

Napi::Value TestPrograms::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> firewall = info.Length() > 0 ? Firewall::CoreOf(info[0]) : nullptr;
  if (!firewall) ThrowTypeError(env, "TestPrograms.load(firewall): an open Firewall");
  return PromiseWorker<std::shared_ptr<Loaded>>::Start(
      env, "load test programs", [firewall] { return LoadOver(firewall); },
      [](Napi::Env env, std::shared_ptr<Loaded>& loaded) -> Napi::Value {
        auto external = Napi::External<std::shared_ptr<Loaded>>::New(
            env, new std::shared_ptr<Loaded>(loaded), [](Napi::Env, std::shared_ptr<Loaded>* held) { delete held; });
        return AddonOf(env).TestProgramsClass().New({external});
      });
}

Napi::Value TestPrograms::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!loaded_) ThrowTypeError(env, "these TestPrograms are closed");
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsNumber())
    ThrowTypeError(env, "run(program: string, packet: Buffer, repeat: number)");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  // The test object's programs, or the firewall's attached packet programs (the cached path).
  bpf_program* prog = bpf_object__find_program_by_name(loaded_->skel->obj, name.c_str());
  int fd = prog ? bpf_program__fd(prog) : -1;
  if (!prog && (name == "pcl_egress" || name == "pcl_ingress")) fd = loaded_->firewall->ProgramFd(name.c_str());
  if (fd < 0) ThrowTypeError(env, "run: '" + name + "' is not a cgroup_skb program of the firewall or the test object");
  auto packet = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t repeat = info[2].As<Napi::Number>().Uint32Value();
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.Data(), .data_size_in = uint32_t(packet.Length()),
              .repeat = int(repeat > 0 ? repeat : 1));
  ClearLibbpfLog();
  if (bpf_prog_test_run_opts(fd, &opts) != 0) throw ToJsError(env, NativeFailure("BPF_PROG_TEST_RUN " + name, errno));
  Napi::Object out = Napi::Object::New(env);
  out.Set("retval", Napi::Number::New(env, opts.retval));
  out.Set("durationNs", Napi::Number::New(env, opts.duration));
  return out;
}

Napi::Value TestPrograms::MapMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!loaded_) ThrowTypeError(env, "these TestPrograms are closed");
  return Napi::Number::New(env, double(loaded_->firewall->MapMemory()));
}

Napi::Value TestPrograms::Close(const Napi::CallbackInfo& info) {
  loaded_.reset();
  return info.Env().Undefined();
}

namespace {

std::shared_ptr<TestPrograms::Loaded> LoadOver(std::shared_ptr<FirewallCore> firewall) {
  auto loaded = std::make_shared<TestPrograms::Loaded>();
  loaded->firewall = std::move(firewall);
  loaded->skel = portcullis_test_bpf__open();
  if (!loaded->skel) throw NativeFailure("open the test BPF object", errno);
  bpf_map* map;
  bpf_object__for_each_map(map, loaded->skel->obj) {
    // The same maps as the firewall's, so a test run sees its rules, config and sockets' state.
    int fd = loaded->firewall->MapFd(bpf_map__name(map));
    if (fd < 0) throw NativeFailure(std::string("find the firewall's map ") + bpf_map__name(map), ENOENT);
    if (int err = bpf_map__reuse_fd(map, fd); err != 0) throw NativeFailure(std::string("reuse map ") + bpf_map__name(map), -err);
  }
  if (int err = portcullis_test_bpf__load(loaded->skel); err != 0) throw NativeFailure("load the test BPF programs", -err);
  return loaded;
}

}  // namespace

}  // namespace portcullis
