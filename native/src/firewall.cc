// SPDX-License-Identifier: GPL-2.0-only
#include "firewall.h"

#include <bpf/bpf.h>

#include <cstring>
#include <string>

#include "addon.h"
#include "event-pump.h"
#include "firewall-core.h"
#include "native-error.h"
#include "pins.h"
#include "promise-worker.h"

namespace portcullis {
namespace {

// A JS array of the strings.
Napi::Array StringArray(Napi::Env env, const std::vector<std::string>& strings) {
  Napi::Array out = Napi::Array::New(env, strings.size());
  for (size_t i = 0; i < strings.size(); i++) out.Set(uint32_t(i), Napi::String::New(env, strings[i]));
  return out;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString()) ThrowTypeError(info.Env(), std::string(what) + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferField(Napi::Env env, const Napi::Object& obj, const char* field, const std::string& owner) {
  Napi::Value v = obj.Get(field);
  if (!v.IsBuffer()) ThrowTypeError(env, owner + "." + field + " must be a Buffer");
  return v.As<Napi::Buffer<uint8_t>>();
}

// One inner map's contents as JS passed them: {count, keys, values, capacity?}.
struct Image {
  Napi::Buffer<uint8_t> keys_buffer;
  Napi::Buffer<uint8_t> values_buffer;
  const uint8_t* keys = nullptr;  // null for an ARRAY map (its keys are the indexes)
  const uint8_t* values = nullptr;
  uint32_t count = 0;
  uint32_t max_entries = 0;
};

Image ReadImage(Napi::Env env, const InnerSpec& spec, const Napi::Object& part) {
  Image image;
  Napi::Value count = part.Get("count");
  if (!count.IsNumber()) ThrowTypeError(env, std::string(spec.field) + ".count must be a number");
  image.count = count.As<Napi::Number>().Uint32Value();
  image.values_buffer = BufferField(env, part, "values", spec.field);
  if (image.values_buffer.Length() != size_t(image.count) * spec.value_size)
    ThrowTypeError(env, std::string("compiled.") + spec.field + ".values has the wrong length");
  image.values = image.values_buffer.Data();
  if (spec.type != BPF_MAP_TYPE_ARRAY) {
    image.keys_buffer = BufferField(env, part, "keys", spec.field);
    if (image.keys_buffer.Length() != size_t(image.count) * spec.key_size)
      ThrowTypeError(env, std::string("compiled.") + spec.field + ".keys has the wrong length");
    image.keys = image.keys_buffer.Data();
  }
  // Headroom (chosen by the caller) lets later diffs upsert in place.
  Napi::Value capacity = part.Get("capacity");
  image.max_entries = capacity.IsNumber() ? capacity.As<Napi::Number>().Uint32Value() : image.count;
  return image;
}

MapShape ShapeOf(const InnerSpec& spec, uint32_t max_entries) {
  return {spec.type, spec.outer, spec.key_size, spec.value_size, spec.flags, max_entries};
}

BindingMap BindingMapOf(Napi::Env env, const Napi::Value& kind) {
  std::string name = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
  if (name == "exe") return BindingMap::kExe;
  if (name == "cgroup") return BindingMap::kCgroup;
  if (name == "tgid") return BindingMap::kTgid;
  if (name == "unit") return BindingMap::kUnit;
  if (name == "path") return BindingMap::kPath;
  ThrowTypeError(env, "binding kind must be 'exe', 'cgroup', 'tgid', 'unit' or 'path'");
}

}  // namespace

Napi::Function Firewall::Define(Napi::Env env) {
  return DefineClass(env, "Firewall",
                     {
                         StaticMethod<&Firewall::Open>("open"),
                         StaticMethod<&Firewall::Detach>("detach"),
                         StaticMethod<&Firewall::SetAsideLinks>("setAsideLinks"),
                         InstanceAccessor<&Firewall::Adopted>("adopted"),
                         InstanceAccessor<&Firewall::Replaced>("replaced"),
                         InstanceMethod<&Firewall::RetireOldBuild>("retireOldBuild"),
                         InstanceAccessor<&Firewall::FastPath>("fastPath"),
                         InstanceMethod<&Firewall::PrepareMap>("prepareMap"),
                         InstanceMethod<&Firewall::Swap>("swap"),
                         InstanceMethod<&Firewall::ApplyDiff>("applyDiff"),
                         InstanceMethod<&Firewall::SetEnforcing>("setEnforcing"),
                         InstanceMethod<&Firewall::SetAsk>("setAsk"),
                         InstanceMethod<&Firewall::AttachHolds>("attachHolds"),
                         InstanceMethod<&Firewall::ReadHolds>("readHolds"),
                         InstanceMethod<&Firewall::AnswerHolds>("answerHolds"),
                         InstanceMethod<&Firewall::ForgetHolds>("forgetHolds"),
                         InstanceMethod<&Firewall::DecideFlows>("decideFlows"),
                         InstanceMethod<&Firewall::UpdateBindings>("updateBindings"),
                         InstanceMethod<&Firewall::ReadCounters>("readCounters"),
                         InstanceMethod<&Firewall::ReadFlows>("readFlows"),
                         InstanceMethod<&Firewall::DrainTally>("drainTally"),
                         InstanceMethod<&Firewall::StartEvents>("startEvents"),
                         InstanceMethod<&Firewall::StopEvents>("stopEvents"),
                         InstanceMethod<&Firewall::Close>("close"),
                     });
}

Firewall::Firewall(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Firewall>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) ThrowTypeError(info.Env(), "a Firewall is made by Firewall.open");
  core_ = *info[0].As<Napi::External<std::shared_ptr<FirewallCore>>>().Data();
}

Firewall::~Firewall() { StopPump(); }

std::shared_ptr<FirewallCore> Firewall::CoreOf(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(AddonOf(value.Env()).FirewallClass())) return nullptr;
  return Unwrap(value.As<Napi::Object>())->core_;
}

std::shared_ptr<FirewallCore> Firewall::RequireOpen(Napi::Env env) const {
  if (!core_) throw ToJsError(env, NativeFailure("use of a closed Firewall", EBADF, "closed"));
  return core_;
}

void Firewall::StopPump() {
  if (!pump_) return;
  pump_->Stop();
  pump_.reset();
}

Napi::Value Firewall::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string cgroup = StringArg(info, 0, "cgroup");
  std::string pin_dir = StringArg(info, 1, "pinDir");
  if (info.Length() < 3 || !info[2].IsNumber()) ThrowTypeError(env, "ringBytes must be a number");
  uint32_t ring_bytes = info[2].As<Napi::Number>().Uint32Value();
  std::string fast_path = info.Length() > 3 && !info[3].IsUndefined() ? StringArg(info, 3, "fastPath") : "auto";
  if (fast_path != "auto" && fast_path != "socket-storage") ThrowTypeError(env, "fastPath must be 'auto' or 'socket-storage'");
  bool storage_fast_path = fast_path == "socket-storage";
  return PromiseWorker<std::shared_ptr<FirewallCore>>::Start(
      env, "open firewall", [=] { return FirewallCore::Open(cgroup, pin_dir, ring_bytes, storage_fast_path); },
      [](Napi::Env env, std::shared_ptr<FirewallCore>& core) -> Napi::Value {
        auto external = Napi::External<std::shared_ptr<FirewallCore>>::New(
            env, new std::shared_ptr<FirewallCore>(core), [](Napi::Env, std::shared_ptr<FirewallCore>* held) { delete held; });
        return AddonOf(env).FirewallClass().New({external});
      });
}

Napi::Value Firewall::Detach(const Napi::CallbackInfo& info) {
  std::string pin_dir = StringArg(info, 0, "pinDir");
  return PromiseWorker<Done>::Start(
      info.Env(), "detach firewall", [=] { FirewallCore::Detach(pin_dir); return Done{}; },
      [](Napi::Env env, Done&) -> Napi::Value { return env.Undefined(); });
}

Napi::Value Firewall::SetAsideLinks(const Napi::CallbackInfo& info) {
  return StringArray(info.Env(), portcullis::SetAsideLinks(StringArg(info, 0, "pinDir")));
}

Napi::Value Firewall::Adopted(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), RequireOpen(info.Env())->adopted());
}

// The map whose pin another build shaped differently, and how (its programs run beside these
// until retireOldBuild), or null.
Napi::Value Firewall::Replaced(const Napi::CallbackInfo& info) {
  const std::string& replaced = RequireOpen(info.Env())->replaced();
  return replaced.empty() ? info.Env().Null() : Napi::String::New(info.Env(), replaced);
}

// retireOldBuild() -> Promise<{retired, left}>: detaches the programs of a build replaced (see
// FirewallCore::RetireOldBuild): how many links went, and what stays and why.
Napi::Value Firewall::RetireOldBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  return PromiseWorker<Retirement>::Start(
      env, "retire the old build's programs", [core] { return core->RetireOldBuild(); },
      [](Napi::Env env, Retirement& done) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("retired", Napi::Number::New(env, done.retired));
        out.Set("left", StringArray(env, done.left));
        return out;
      });
}

// 'entry' or 'socket-storage': where the loaded programs' fast path finds a socket's state.
Napi::Value Firewall::FastPath(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), RequireOpen(info.Env())->kern_ctx_cast() ? "entry" : "socket-storage");
}

// prepareMap(field, {count, keys, values, capacity, ready?}): creates the fresh inner map of
// `field` for the next swap and starts filling it on a thread of its own, so the kernel's work
// runs while JS compiles the rest. With `ready` < count only the first `ready` entries are final
// yet: the fill writes them and waits; prepareMap again with the same buffers, count and capacity
// and a larger `ready` lets it go on (JS fills the rest of the buffers meanwhile, and must not
// touch the first `ready` again). swap takes a prepared map only if given exactly these buffers,
// count and capacity (every entry is final then); otherwise (or if none follows) it is dropped.
// The buffers are held until then.
Napi::Value Firewall::PrepareMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) ThrowTypeError(env, "prepareMap(field: string, image: object)");
  std::string field = info[0].As<Napi::String>().Utf8Value();
  int i = InnerIndex(field);
  if (i < 0) ThrowTypeError(env, "prepareMap: unknown map '" + field + "'");
  Napi::Object part = info[1].As<Napi::Object>();
  Image image = ReadImage(env, kInnerMaps[i], part);
  Napi::Value ready_value = part.Get("ready");
  if (!ready_value.IsUndefined() && !ready_value.IsNumber()) ThrowTypeError(env, "prepareMap: " + field + ".ready must be a number");
  uint32_t ready_count = ready_value.IsNumber() ? ready_value.As<Napi::Number>().Uint32Value() : image.count;
  if (prepared_.size() < kInnerMapCount) prepared_.resize(kInnerMapCount);
  if (prepared_[i] && prepared_[i]->fill->Matches(image.keys, image.values, image.count, image.max_entries)) {
    prepared_[i]->fill->Extend(ready_count);
    return env.Undefined();
  }
  auto ready = std::make_unique<PreparedMap>();
  ready->values = Napi::Persistent(image.values_buffer);
  if (image.keys) ready->keys = Napi::Persistent(image.keys_buffer);
  ready->fill = std::make_unique<MapFill>(ShapeOf(kInnerMaps[i], image.max_entries), image.keys, image.values, image.count, ready_count);
  ready->fill->Start();
  prepared_[i] = std::move(ready);
  return env.Undefined();
}

// swap({v4Exact, v6Exact, v4Lpm, v6Lpm, v6Prefix, v6Buckets, sets, appDefaults: {keys, values,
//       count, capacity?}, v6Split}, globalDefault) -> Promise<{generation, entriesWritten,
//       mapsReplaced, fillMs}>: fresh inner maps in the inactive slot, then the generation flips.
Napi::Value Firewall::Swap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) ThrowTypeError(env, "swap(compiled: object, globalDefault: number)");
  Napi::Object compiled = info[0].As<Napi::Object>();
  uint32_t global_default = info[1].As<Napi::Number>().Uint32Value();
  if (global_default != PCL_ACT_ALLOW && global_default != PCL_ACT_BLOCK && global_default != PCL_ACT_ASK)
    ThrowTypeError(env, "globalDefault must be " + std::to_string(PCL_ACT_ALLOW) + " (allow), " + std::to_string(PCL_ACT_BLOCK) +
                            " (block) or " + std::to_string(PCL_ACT_ASK) + " (ask)");
  Napi::Value split_value = compiled.Get("v6Split");
  if (!split_value.IsNumber() || split_value.As<Napi::Number>().Uint32Value() > PCL_V6_SPLIT_MAX)
    ThrowTypeError(env, "compiled.v6Split must be a number 0.." + std::to_string(PCL_V6_SPLIT_MAX));
  uint8_t v6_split = static_cast<uint8_t>(split_value.As<Napi::Number>().Uint32Value());

  // Maps prepared for exactly this input go with it; the others are dropped here (their fills stop).
  std::vector<std::unique_ptr<PreparedMap>> prepared = std::move(prepared_);
  prepared_.clear();
  auto inputs = std::make_shared<std::vector<SwapInput>>(kInnerMapCount);
  std::vector<Napi::Object> keep_alive;  // the JS buffers read while filling
  for (size_t i = 0; i < kInnerMapCount; i++) {
    const InnerSpec& spec = kInnerMaps[i];
    Napi::Value field = compiled.Get(spec.field);
    if (!field.IsObject()) ThrowTypeError(env, std::string("compiled.") + spec.field + " must be an object");
    Image image = ReadImage(env, spec, field.As<Napi::Object>());
    keep_alive.push_back(image.values_buffer);
    if (image.keys) keep_alive.push_back(image.keys_buffer);
    SwapInput& input = (*inputs)[i];
    input.keys = image.keys;
    input.values = image.values;
    input.count = image.count;
    input.max_entries = image.max_entries;
    PreparedMap* ready = i < prepared.size() ? prepared[i].get() : nullptr;
    if (ready && ready->fill->Matches(image.keys, image.values, image.count, image.max_entries)) input.prepared = std::move(ready->fill);
  }
  return PromiseWorker<SwapResult>::Start(
      env, "swap rules", [core, inputs, global_default, v6_split] { return core->Swap(*inputs, uint8_t(global_default), v6_split); },
      [](Napi::Env env, SwapResult& result) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        Napi::Object fill_ms = Napi::Object::New(env);
        for (size_t i = 0; i < result.fill_ms.size(); i++) fill_ms.Set(kInnerMaps[i].field, Napi::Number::New(env, result.fill_ms[i]));
        out.Set("generation", Napi::Number::New(env, result.generation));
        out.Set("entriesWritten", Napi::Number::New(env, double(result.written)));
        out.Set("mapsReplaced", Napi::Number::New(env, double(result.replaced)));
        out.Set("fillMs", fill_ms);
        return out;
      },
      keep_alive);
}

// applyDiff(steps: Array<{map, op: 'upsert'|'delete', keys, values?}>) -> Promise<{generation}>
Napi::Value Firewall::ApplyDiff(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  if (info.Length() < 1 || !info[0].IsArray()) ThrowTypeError(env, "applyDiff(steps: Array)");
  Napi::Array list = info[0].As<Napi::Array>();
  auto steps = std::make_shared<std::vector<DiffStep>>();
  std::vector<Napi::Object> keep_alive;
  for (uint32_t i = 0; i < list.Length(); i++) {
    std::string where = "applyDiff: steps[" + std::to_string(i) + "]";
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) ThrowTypeError(env, where + " must be an object");
    Napi::Object step = item.As<Napi::Object>();
    Napi::Value map = step.Get("map"), op = step.Get("op");
    if (!map.IsString() || !op.IsString()) ThrowTypeError(env, where + " needs map and op");
    int inner = InnerIndex(map.As<Napi::String>().Utf8Value());
    if (inner < 0) ThrowTypeError(env, "applyDiff: unknown map '" + map.As<Napi::String>().Utf8Value() + "'");
    const InnerSpec& spec = kInnerMaps[inner];
    Napi::Buffer<uint8_t> keys = BufferField(env, step, "keys", where);
    if (keys.Length() % spec.key_size != 0) ThrowTypeError(env, where + ": keys length is not a multiple of the key size");
    DiffStep parsed{size_t(inner), op.As<Napi::String>().Utf8Value() == "upsert", keys.Data(), nullptr, uint32_t(keys.Length() / spec.key_size)};
    keep_alive.push_back(keys);
    if (parsed.upsert) {
      Napi::Buffer<uint8_t> values = BufferField(env, step, "values", where);
      if (values.Length() != size_t(parsed.count) * spec.value_size) ThrowTypeError(env, where + ": values length does not match keys");
      parsed.values = values.Data();
      keep_alive.push_back(values);
    }
    steps->push_back(parsed);
  }
  return PromiseWorker<uint32_t>::Start(
      env, "apply rule diff", [core, steps] { return core->ApplyDiff(*steps); },
      [](Napi::Env env, uint32_t& generation) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("generation", Napi::Number::New(env, generation));
        return out;
      },
      keep_alive);
}

// setEnforcing(on) -> Promise<void>
Napi::Value Firewall::SetEnforcing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  if (info.Length() < 1 || !info[0].IsBoolean()) ThrowTypeError(env, "setEnforcing(on: boolean)");
  bool on = info[0].As<Napi::Boolean>().Value();
  return PromiseWorker<Done>::Start(
      env, "set enforcing", [core, on] { core->SetEnforcing(on); return Done{}; },
      [](Napi::Env env, Done&) -> Napi::Value { return env.Undefined(); });
}

// attachHolds() -> Promise<void>: attaches what held connects need (once; see FirewallCore::AttachHolds).
Napi::Value Firewall::AttachHolds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  return PromiseWorker<Done>::Start(
      env, "attach the hold program", [core] { core->AttachHolds(); return Done{}; },
      [](Napi::Env env, Done&) -> Napi::Value { return env.Undefined(); });
}

// setAsk(holdMs, helperTgid) -> Promise<void>: ask mode's hold time (0: nobody asks) and the
// process whose traffic is never held.
Napi::Value Firewall::SetAsk(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) ThrowTypeError(env, "setAsk(holdMs: number, helperTgid: number)");
  uint32_t hold_ms = info[0].As<Napi::Number>().Uint32Value();
  uint32_t helper_tgid = info[1].As<Napi::Number>().Uint32Value();
  if (hold_ms > PCL_HOLD_MAX_MS) ThrowTypeError(env, "setAsk: holdMs must be at most " + std::to_string(PCL_HOLD_MAX_MS));
  return PromiseWorker<Done>::Start(
      env, "set ask mode", [core, hold_ms, helper_tgid] { core->SetAsk(hold_ms, helper_tgid); return Done{}; },
      [](Napi::Env env, Done&) -> Napi::Value { return env.Undefined(); });
}

// readHolds() -> Promise<Buffer of pcl_hold_record>: every held flow with its answer.
Napi::Value Firewall::ReadHolds(const Napi::CallbackInfo& info) {
  std::shared_ptr<FirewallCore> core = RequireOpen(info.Env());
  return PromiseWorker<std::vector<pcl_hold_record>>::Start(
      info.Env(), "read held flows", [core] { return core->holds().Read(); },
      [](Napi::Env env, std::vector<pcl_hold_record>& records) -> Napi::Value {
        return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(records.data()), records.size() * sizeof(pcl_hold_record));
      });
}

// Records of type T packed in a Buffer argument, copied (the work runs after this returns).
template <typename T>
std::shared_ptr<std::vector<T>> RecordsArg(const Napi::CallbackInfo& info, const char* call) {
  if (info.Length() < 1 || !info[0].IsBuffer()) ThrowTypeError(info.Env(), std::string(call) + ": expects a Buffer");
  Napi::Buffer<uint8_t> buffer = info[0].As<Napi::Buffer<uint8_t>>();
  if (buffer.Length() % sizeof(T) != 0) ThrowTypeError(info.Env(), std::string(call) + ": the Buffer's length is not a multiple of the record size");
  auto records = std::make_shared<std::vector<T>>(buffer.Length() / sizeof(T));
  if (!records->empty()) memcpy(records->data(), buffer.Data(), buffer.Length());
  return records;
}

// answerHolds(Buffer of pcl_hold_answer) -> Promise<Int32Array>: one AnswerOutcome (or -errno) each.
Napi::Value Firewall::AnswerHolds(const Napi::CallbackInfo& info) {
  std::shared_ptr<FirewallCore> core = RequireOpen(info.Env());
  auto answers = RecordsArg<pcl_hold_answer>(info, "answerHolds");
  return PromiseWorker<std::vector<int32_t>>::Start(
      info.Env(), "answer held flows", [core, answers] { return core->holds().Answer(*answers); },
      [](Napi::Env env, std::vector<int32_t>& outcomes) -> Napi::Value {
        Napi::Int32Array out = Napi::Int32Array::New(env, outcomes.size());
        for (size_t i = 0; i < outcomes.size(); i++) out[i] = outcomes[i];
        return out;
      });
}

// forgetHolds(Buffer of pcl_hold_key) -> Promise<void>
Napi::Value Firewall::ForgetHolds(const Napi::CallbackInfo& info) {
  std::shared_ptr<FirewallCore> core = RequireOpen(info.Env());
  auto keys = RecordsArg<pcl_hold_key>(info, "forgetHolds");
  return PromiseWorker<Done>::Start(
      info.Env(), "forget held flows", [core, keys] { core->holds().Forget(*keys); return Done{}; },
      [](Napi::Env env, Done&) -> Napi::Value { return env.Undefined(); });
}

// decideFlows(Buffer of pcl_decide_query) -> Promise<Uint8Array>: decide()'s PCL_ACT_* for each.
Napi::Value Firewall::DecideFlows(const Napi::CallbackInfo& info) {
  std::shared_ptr<FirewallCore> core = RequireOpen(info.Env());
  auto queries = RecordsArg<pcl_decide_query>(info, "decideFlows");
  return PromiseWorker<std::vector<uint8_t>>::Start(
      info.Env(), "decide held flows", [core, queries] { return core->holds().Decide(*queries); },
      [](Napi::Env env, std::vector<uint8_t>& actions) -> Napi::Value {
        Napi::Uint8Array out = Napi::Uint8Array::New(env, actions.size());
        for (size_t i = 0; i < actions.size(); i++) out[i] = actions[i];
        return out;
      });
}

// updateBindings(steps: Array<{kind: 'exe'|'cgroup'|'tgid'|'unit'|'path', op: 'upsert'|'delete'|
// 'clear'|'unclaim', keys?, values?}>) -> Promise<void>: keys and values packed as the maps hold
// them, in order; deleting a missing key is fine; 'unclaim' takes u32 app ids as keys.
Napi::Value Firewall::UpdateBindings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  if (info.Length() < 1 || !info[0].IsArray()) ThrowTypeError(env, "updateBindings(steps: Array)");
  Napi::Array list = info[0].As<Napi::Array>();
  auto steps = std::make_shared<std::vector<BindingStep>>();
  std::vector<Napi::Object> keep_alive;
  for (uint32_t i = 0; i < list.Length(); i++) {
    std::string where = "updateBindings: steps[" + std::to_string(i) + "]";
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) ThrowTypeError(env, where + " must be an object");
    Napi::Object step = item.As<Napi::Object>();
    BindingStep parsed;
    parsed.map = BindingMapOf(env, step.Get("kind"));
    Napi::Value op = step.Get("op");
    std::string op_name = op.IsString() ? op.As<Napi::String>().Utf8Value() : "";
    if (op_name == "clear") {
      parsed.op = BindingStep::Op::kClear;
      steps->push_back(parsed);
      continue;
    }
    if (op_name != "upsert" && op_name != "delete" && op_name != "unclaim")
      ThrowTypeError(env, where + ".op must be 'upsert', 'delete', 'clear' or 'unclaim'");
    parsed.op = op_name == "upsert" ? BindingStep::Op::kUpsert : op_name == "delete" ? BindingStep::Op::kDelete : BindingStep::Op::kUnclaim;
    Napi::Buffer<uint8_t> keys = BufferField(env, step, "keys", where);
    parsed.keys = keys.Data();
    parsed.keys_bytes = keys.Length();
    keep_alive.push_back(keys);
    if (parsed.op == BindingStep::Op::kUpsert) {
      Napi::Buffer<uint8_t> values = BufferField(env, step, "values", where);
      parsed.values = values.Data();
      parsed.values_bytes = values.Length();
      keep_alive.push_back(values);
    }
    steps->push_back(parsed);
  }
  return PromiseWorker<Done>::Start(
      env, "update app bindings", [core, steps] { core->UpdateBindings(*steps); return Done{}; },
      [](Napi::Env env, Done&) -> Napi::Value { return env.Undefined(); }, keep_alive);
}

// readCounters() -> Promise<{allowed, blocked, events, drops: bigint, ruleHits: Array<[id, bigint]>}>
Napi::Value Firewall::ReadCounters(const Napi::CallbackInfo& info) {
  std::shared_ptr<FirewallCore> core = RequireOpen(info.Env());
  return PromiseWorker<CounterReading>::Start(
      info.Env(), "read counters", [core] { return core->ReadCounters(); },
      [](Napi::Env env, CounterReading& reading) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("allowed", Napi::BigInt::New(env, reading.totals.allowed));
        out.Set("blocked", Napi::BigInt::New(env, reading.totals.blocked));
        out.Set("events", Napi::BigInt::New(env, reading.totals.events));
        out.Set("drops", Napi::BigInt::New(env, reading.totals.drops));
        Napi::Array hits = Napi::Array::New(env, reading.rule_hits.size());
        for (uint32_t i = 0; i < reading.rule_hits.size(); i++) {
          Napi::Array pair = Napi::Array::New(env, 2);
          pair.Set(uint32_t(0), Napi::Number::New(env, reading.rule_hits[i].first));
          pair.Set(uint32_t(1), Napi::BigInt::New(env, reading.rule_hits[i].second));
          hits.Set(i, pair);
        }
        out.Set("ruleHits", hits);
        return out;
      });
}

// readFlows() -> Promise<Buffer of pcl_flow_record> for the sockets with traffic.
Napi::Value Firewall::ReadFlows(const Napi::CallbackInfo& info) {
  std::shared_ptr<FirewallCore> core = RequireOpen(info.Env());
  return PromiseWorker<std::vector<pcl_flow_record>>::Start(
      info.Env(), "read flows", [core] { return core->ReadFlows(); },
      [](Napi::Env env, std::vector<pcl_flow_record>& records) -> Napi::Value {
        return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(records.data()), records.size() * sizeof(pcl_flow_record));
      });
}

// drainTally() -> Promise<Buffer of pcl_tally_record>: the tallied flows' counts since the last drain.
Napi::Value Firewall::DrainTally(const Napi::CallbackInfo& info) {
  std::shared_ptr<FirewallCore> core = RequireOpen(info.Env());
  return PromiseWorker<std::vector<pcl_tally_record>>::Start(
      info.Env(), "drain tally", [core] { return core->DrainTally(); },
      [](Napi::Env env, std::vector<pcl_tally_record>& records) -> Napi::Value {
        return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(records.data()), records.size() * sizeof(pcl_tally_record));
      });
}

// startEvents(onBatch(events: Buffer, drops: bigint)): one subscriber at a time.
Napi::Value Firewall::StartEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<FirewallCore> core = RequireOpen(env);
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowTypeError(env, "startEvents(onBatch: function)");
  if (pump_) throw ToJsError(env, NativeFailure("subscribe", EBUSY, "already subscribed: close the previous subscription first"));
  try {
    pump_ = std::make_unique<EventPump>(env, info[0].As<Napi::Function>(), core->events_fd(), core->counters_fd(), core->exe_paths_fd(), core->drops_at_open());
  } catch (const NativeFailure& failure) {
    throw ToJsError(env, failure);
  }
  return env.Undefined();
}

Napi::Value Firewall::StopEvents(const Napi::CallbackInfo& info) {
  StopPump();
  return info.Env().Undefined();
}

// close(): stops the event thread and drops this object's hold on the core (fds close once no
// work in flight still uses them). Pins, and so enforcement, stay.
Napi::Value Firewall::Close(const Napi::CallbackInfo& info) {
  StopPump();
  prepared_.clear();  // waits for their threads
  core_.reset();
  return info.Env().Undefined();
}

}  // namespace portcullis
