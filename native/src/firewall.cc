// SPDX-License-Identifier: GPL-2.0-only
#include "firewall.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstring>
#include <fstream>
#include <thread>

#include "bpf-error.h"
#include "counters.h"
#include "event-pump.h"
#include "map-fill.h"
#include "portcullis-abi-check.h"
#include "portcullis.h"
#include "portcullis.skel.h"

namespace portcullis {
namespace {

// Previous-generation maps at least this big are freed right after a swap.
constexpr uint64_t kFreeOldBytes = 4 << 20;

// The kernel's internal "not supported" (not in libc headers); some map types return it.
constexpr int kENOTSUPP = 524;

enum class Hook { kCgroup, kTracing };

struct AttachSpec {
  const char* program;
  Hook hook;
};

// Programs that are attached; pcl_*_eval and pcl_empty are loaded only for BPF_PROG_TEST_RUN.
constexpr AttachSpec kAttached[] = {
    {"pcl_connect4", Hook::kCgroup},     {"pcl_connect6", Hook::kCgroup},   {"pcl_sendmsg4", Hook::kCgroup},
    {"pcl_sendmsg6", Hook::kCgroup},     {"pcl_sock_create", Hook::kCgroup}, {"pcl_post_bind4", Hook::kCgroup},
    {"pcl_post_bind6", Hook::kCgroup},   {"pcl_sock_release", Hook::kCgroup}, {"pcl_egress", Hook::kCgroup},
    {"pcl_ingress", Hook::kCgroup},      {"pcl_exec", Hook::kTracing},      {"pcl_fork", Hook::kTracing},
    {"pcl_exit", Hook::kTracing},
};

// One generation of rules lives in a fresh inner map per outer ARRAY_OF_MAPS.
struct InnerSpec {
  const char* outer;
  bpf_map_type type;
  uint32_t key_size;
  uint32_t value_size;
  uint32_t flags;
  const char* field;  // property of the compiled ruleset passed from JS
};

constexpr InnerSpec kInner[] = {
    {"pcl_v4_exact", BPF_MAP_TYPE_HASH, sizeof(pcl_exact4_key), sizeof(pcl_entry), 0, "v4Exact"},
    {"pcl_v6_exact", BPF_MAP_TYPE_HASH, sizeof(pcl_exact6_key), sizeof(pcl_entry), 0, "v6Exact"},
    {"pcl_v4_lpm", BPF_MAP_TYPE_LPM_TRIE, sizeof(pcl_lpm4_key), sizeof(pcl_entry), BPF_F_NO_PREALLOC, "v4Lpm"},
    {"pcl_v6_lpm", BPF_MAP_TYPE_LPM_TRIE, sizeof(pcl_lpm6_key), sizeof(pcl_entry), BPF_F_NO_PREALLOC, "v6Lpm"},
    {"pcl_v6_prefix", BPF_MAP_TYPE_HASH, sizeof(pcl_prefix6_key), sizeof(pcl_entry), 0, "v6Prefix"},
    {"pcl_v6_bucket", BPF_MAP_TYPE_HASH, sizeof(pcl_bucket6_key), sizeof(pcl_bucket6), 0, "v6Buckets"},
    {"pcl_sets", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(pcl_clause_set), BPF_F_INNER_MAP, "sets"},
    {"pcl_app_dflt", BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(uint8_t), BPF_F_NO_PREALLOC, "appDefaults"},
};

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// bpffs refuses names with a dot, which libbpf's maps for global data have (".data.config").
std::string MapPin(const std::string& pin_dir, const char* name) {
  std::string file(name);
  std::replace(file.begin(), file.end(), '.', '_');
  return pin_dir + "/maps/" + file;
}
std::string LinkPin(const std::string& pin_dir, const char* name) { return pin_dir + "/links/" + name; }

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void MakeDir(Napi::Env env, const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) throw BpfError(env, "mkdir " + path, errno);
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString()) ThrowTypeError(info.Env(), std::string(what) + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferField(Napi::Env env, const Napi::Object& obj, const char* field, const char* owner) {
  Napi::Value v = obj.Get(field);
  if (!v.IsBuffer()) ThrowTypeError(env, std::string(owner) + "." + field + " must be a Buffer");
  return v.As<Napi::Buffer<uint8_t>>();
}

uint32_t CountField(Napi::Env env, const Napi::Object& obj, const char* owner) {
  Napi::Value v = obj.Get("count");
  if (!v.IsNumber()) ThrowTypeError(env, std::string(owner) + ".count must be a number");
  return v.As<Napi::Number>().Uint32Value();
}

// One inner map's contents as JS passed them: {count, keys, values, capacity?}.
struct MapImage {
  Napi::Buffer<uint8_t> keys_buffer;
  Napi::Buffer<uint8_t> values_buffer;
  const uint8_t* keys = nullptr;  // null for an ARRAY map (its keys are the indexes)
  const uint8_t* values = nullptr;
  uint32_t count = 0;
  uint32_t max_entries = 0;
};

MapImage ReadImage(Napi::Env env, const InnerSpec& spec, const Napi::Object& part) {
  MapImage image;
  image.count = CountField(env, part, spec.field);
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

// Puts inner maps in (inner fd >= 0) or takes them out of (-1) `slot` of outer map-in-map
// arrays, {outer fd, inner fd} each, all at once: every such update waits for an RCU grace period
// before it returns, and waits that overlap share one (eight in a row cost ~90 ms). Returns the
// errno of each (0 = done).
std::vector<int> UpdateSlots(const std::vector<std::pair<int, int>>& updates, uint32_t slot) {
  std::vector<int> errors(updates.size(), 0);
  std::vector<std::thread> threads;
  threads.reserve(updates.size());
  for (size_t i = 0; i < updates.size(); i++) {
    threads.emplace_back([&, i] {
      auto [outer_fd, inner_fd] = updates[i];
      int rc = inner_fd >= 0 ? bpf_map_update_elem(outer_fd, &slot, &inner_fd, BPF_ANY) : bpf_map_delete_elem(outer_fd, &slot);
      if (rc != 0) errors[i] = errno;
    });
  }
  for (std::thread& thread : threads) thread.join();
  return errors;
}

MapShape ShapeOf(const InnerSpec& spec, uint32_t max_entries) {
  return {spec.type, spec.outer, spec.key_size, spec.value_size, spec.flags, max_entries};
}

pcl_config ReadConfig(Napi::Env env, int fd) {
  pcl_config cfg{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, &cfg) != 0) throw BpfError(env, "read pcl_config", errno);
  return cfg;
}

void WriteConfig(Napi::Env env, int fd, const pcl_config& cfg) {
  uint32_t zero = 0;
  if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) != 0) throw BpfError(env, "write pcl_config", errno);
}

void RemoveDirEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* entry = readdir(d)) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    unlink((dir + "/" + entry->d_name).c_str());
  }
  closedir(d);
  rmdir(dir.c_str());
}

}  // namespace

Napi::Function Firewall::Define(Napi::Env env) {
  return DefineClass(env, "Firewall",
                     {
                         InstanceAccessor<&Firewall::Adopted>("adopted"),
                         InstanceMethod<&Firewall::PrepareMap>("prepareMap"),
                         InstanceMethod<&Firewall::ApplyRules>("applyRules"),
                         InstanceMethod<&Firewall::ApplyDiff>("applyDiff"),
                         InstanceMethod<&Firewall::SetEnforcing>("setEnforcing"),
                         InstanceMethod<&Firewall::Enforcing>("enforcing"),
                         InstanceMethod<&Firewall::BindApps>("bindApps"),
                         InstanceMethod<&Firewall::UnbindApps>("unbindApps"),
                         InstanceMethod<&Firewall::ClearBindings>("clearBindings"),
                         InstanceMethod<&Firewall::Counters>("counters"),
                         InstanceMethod<&Firewall::ReadFlows>("readFlows"),
                         InstanceMethod<&Firewall::StartEvents>("startEvents"),
                         InstanceMethod<&Firewall::StopEvents>("stopEvents"),
                         InstanceMethod<&Firewall::TestRun>("testRun"),
                         InstanceMethod<&Firewall::MapMemory>("mapMemory"),
                         InstanceMethod<&Firewall::Close>("close"),
                         StaticMethod<&Firewall::Detach>("detach"),
                     });
}

Firewall::Firewall(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Firewall>(info) {
  Napi::Env env = info.Env();
  std::string cgroup = StringArg(info, 0, "cgroup");
  std::string pin_dir = StringArg(info, 1, "pinDir");
  if (info.Length() < 3 || !info[2].IsNumber()) ThrowTypeError(env, "ringBytes must be a number");
  uint32_t ring_bytes = info[2].As<Napi::Number>().Uint32Value();
  try {
    Load(env, cgroup, pin_dir, ring_bytes);
  } catch (...) {
    ReleaseAll();
    throw;
  }
}

Firewall::~Firewall() { ReleaseAll(); }

void Firewall::Load(Napi::Env env, const std::string& cgroup, const std::string& pin_dir, uint32_t ring_bytes) {
  InstallLibbpfLog();
  ClearLibbpfLog();
  Fd cgroup_fd(open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup_fd.get() < 0) throw BpfError(env, "open cgroup " + cgroup, errno);
  MakeDir(env, pin_dir);
  MakeDir(env, pin_dir + "/maps");
  MakeDir(env, pin_dir + "/links");

  skel_ = portcullis_bpf__open();
  if (!skel_) throw BpfError(env, "open BPF object", errno);
  bool maps_pinned = Exists(MapPin(pin_dir, bpf_map__name(skel_->maps.data_config)));
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    // Existing pins are reused by libbpf during load; new maps are pinned there.
    std::string path = MapPin(pin_dir, bpf_map__name(map));
    if (bpf_map__set_pin_path(map, path.c_str()) != 0) throw BpfError(env, "set pin path " + path, errno);
  }
  if (ring_bytes != 0 && !maps_pinned && bpf_map__set_max_entries(skel_->maps.pcl_events, ring_bytes) != 0)
    throw BpfError(env, "size ring buffer", errno);
  int err = portcullis_bpf__load(skel_);
  if (err) throw BpfError(env, "load BPF programs", -err);
  adopted_ = maps_pinned;

  if (!maps_pinned) {
    pcl_config cfg{};
    cfg.enforcing = 1;
    cfg.default_action[0] = cfg.default_action[1] = PCL_ACT_ALLOW;
    WriteConfig(env, bpf_map__fd(skel_->maps.data_config), cfg);
  }
  drops_at_open_ = ReadCounterTotals(bpf_map__fd(skel_->maps.pcl_counters)).drops;
  AttachOrAdopt(env, cgroup_fd.get(), pin_dir);
}

void Firewall::AttachOrAdopt(Napi::Env env, int cgroup_fd, const std::string& pin_dir) {
  for (const AttachSpec& spec : kAttached) {
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, spec.program);
    if (!prog) throw BpfError(env, std::string("find program ") + spec.program, ENOENT);
    std::string path = LinkPin(pin_dir, spec.program);
    bpf_link* link = nullptr;
    if (Exists(path)) {
      link = bpf_link__open(path.c_str());
      if (!link) throw BpfError(env, "open pinned link " + path, errno);
      links_.push_back(link);
      if (spec.hook == Hook::kCgroup) RequireSameCgroup(env, link, cgroup_fd, path);
      // Swap in this build's program atomically; tracing links cannot be updated and keep the
      // program they have (it uses the same pinned maps).
      if (spec.hook == Hook::kCgroup) {
        int err = bpf_link__update_program(link, prog);
        if (err) throw BpfError(env, std::string("update pinned link ") + spec.program, -err);
      }
      adopted_ = true;
      continue;
    }
    link = spec.hook == Hook::kCgroup ? bpf_program__attach_cgroup(prog, cgroup_fd) : bpf_program__attach_trace(prog);
    if (!link) throw BpfError(env, std::string("attach ") + spec.program, errno);
    links_.push_back(link);
    int err = bpf_link__pin(link, path.c_str());
    if (err) throw BpfError(env, "pin link " + path, -err);
  }
}

// Adopting pins made for another cgroup would silently enforce in the wrong place.
void Firewall::RequireSameCgroup(Napi::Env env, bpf_link* link, int cgroup_fd, const std::string& path) {
  bpf_link_info link_info{};
  uint32_t len = sizeof(link_info);
  if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &link_info, &len) != 0) throw BpfError(env, "inspect pinned link " + path, errno);
  struct stat st;
  if (fstat(cgroup_fd, &st) != 0) throw BpfError(env, "stat cgroup", errno);
  // On cgroup2 a cgroup's id is its directory's inode number.
  if (link_info.type == BPF_LINK_TYPE_CGROUP && link_info.cgroup.cgroup_id != uint64_t(st.st_ino)) {
    throw BpfError(env, "adopt " + path, EEXIST,
                   "the pinned links attach cgroup id " + std::to_string(link_info.cgroup.cgroup_id) +
                       ", not the cgroup asked for (id " + std::to_string(st.st_ino) + "): detach first");
  }
}

void Firewall::ReleaseAll() {
  prepared_.clear();  // waits for their threads
  if (pump_) {
    pump_->Stop();
    pump_.reset();
  }
  for (bpf_link* link : links_) bpf_link__destroy(link);  // closes our fd; the pin keeps the link
  links_.clear();
  CloseInnerFds(0);
  CloseInnerFds(1);
  if (skel_) {
    portcullis_bpf__destroy(skel_);
    skel_ = nullptr;
  }
}

void Firewall::CloseInnerFds(uint32_t slot) {
  for (int fd : inner_fds_[slot])
    if (fd >= 0) close(fd);
  inner_fds_[slot].clear();
}

void Firewall::RequireOpen(Napi::Env env) const {
  if (!skel_) throw BpfError(env, "use of a closed Firewall", EBADF);
}

Napi::Value Firewall::Adopted(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), adopted_); }

// prepareMap(field, {count, keys, values, capacity, ready?}): creates the fresh inner map of
// `field` for the next applyRules and starts filling it on a thread of its own, so the kernel's
// work runs while JS compiles the rest. With `ready` < count only the first `ready` entries are
// final yet: the fill writes them and waits; prepareMap again with the same buffers, count and
// capacity and a larger `ready` lets it go on (JS fills the rest of the buffers meanwhile, and
// must not touch the first `ready` again). applyRules takes a prepared map only if given exactly
// these buffers, count and capacity (every entry is final then); otherwise (or if none follows)
// it is dropped. The buffers are held until then.
Napi::Value Firewall::PrepareMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject())
    ThrowTypeError(env, "prepareMap(field: string, image: object)");
  std::string field = info[0].As<Napi::String>().Utf8Value();
  size_t i = 0;
  while (i < std::size(kInner) && field != kInner[i].field) i++;
  if (i == std::size(kInner)) ThrowTypeError(env, "prepareMap: unknown map '" + field + "'");
  Napi::Object part = info[1].As<Napi::Object>();
  MapImage image = ReadImage(env, kInner[i], part);
  Napi::Value ready_value = part.Get("ready");
  if (!ready_value.IsUndefined() && !ready_value.IsNumber())
    ThrowTypeError(env, "prepareMap: " + field + ".ready must be a number");
  uint32_t ready_count = ready_value.IsNumber() ? ready_value.As<Napi::Number>().Uint32Value() : image.count;
  if (prepared_.size() < std::size(kInner)) prepared_.resize(std::size(kInner));
  if (prepared_[i] && prepared_[i]->fill->Matches(image.keys, image.values, image.count, image.max_entries)) {
    prepared_[i]->fill->Extend(ready_count);
    return env.Undefined();
  }
  auto ready = std::make_unique<PreparedMap>();
  ready->values = Napi::Persistent(image.values_buffer);
  if (image.keys) ready->keys = Napi::Persistent(image.keys_buffer);
  ready->fill = std::make_unique<MapFill>(ShapeOf(kInner[i], image.max_entries), image.keys, image.values, image.count, ready_count);
  ready->fill->Start();
  prepared_[i] = std::move(ready);
  return env.Undefined();
}

// applyRules({v4Exact, v6Exact, v4Lpm, v6Lpm, v6Prefix, v6Buckets, sets, appDefaults:
//             {keys, values, count}, v6Split}, globalDefault) -> {generation, entriesWritten, ...}
// Fills fresh inner maps, installs them in the inactive slot, then flips the generation word.
Napi::Value Firewall::ApplyRules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber())
    ThrowTypeError(env, "applyRules(compiled: object, globalDefault: number)");
  Napi::Object compiled = info[0].As<Napi::Object>();
  uint8_t global_default = static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value());
  if (global_default != PCL_ACT_ALLOW && global_default != PCL_ACT_BLOCK)
    ThrowTypeError(env, "globalDefault must be 1 (allow) or 2 (block)");
  Napi::Value split_value = compiled.Get("v6Split");
  if (!split_value.IsNumber() || split_value.As<Napi::Number>().Uint32Value() > PCL_V6_SPLIT_MAX)
    ThrowTypeError(env, "compiled.v6Split must be a number 0.." + std::to_string(PCL_V6_SPLIT_MAX));
  uint8_t v6_split = static_cast<uint8_t>(split_value.As<Napi::Number>().Uint32Value());

  ClearLibbpfLog();
  int config_fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg = ReadConfig(env, config_fd);
  uint32_t next = cfg.generation + 1;
  uint32_t slot = next & 1;
  uint32_t old_slot = slot ^ 1;
  uint64_t written = 0;
  uint64_t replaced = 0;
  Napi::Object fill_ms = Napi::Object::New(env);

  // 1. Check the input; maps handed over by prepareMap for exactly this input are being filled
  //    already, the others start filling now, each on a thread of its own (they share nothing).
  std::vector<std::unique_ptr<PreparedMap>> prepared = std::move(prepared_);
  prepared_.clear();
  std::vector<Napi::Buffer<uint8_t>> keep_alive;  // the JS buffers read while filling
  std::vector<MapFill*> fills;                     // kInner order
  std::vector<std::unique_ptr<MapFill>> started;
  for (size_t i = 0; i < std::size(kInner); i++) {
    const InnerSpec& spec = kInner[i];
    Napi::Value field = compiled.Get(spec.field);
    if (!field.IsObject()) ThrowTypeError(env, std::string("compiled.") + spec.field + " must be an object");
    MapImage image = ReadImage(env, spec, field.As<Napi::Object>());
    keep_alive.push_back(image.values_buffer);
    if (image.keys) keep_alive.push_back(image.keys_buffer);
    PreparedMap* ready = i < prepared.size() ? prepared[i].get() : nullptr;
    if (ready && ready->fill->Matches(image.keys, image.values, image.count, image.max_entries)) {
      ready->fill->Extend(image.count);  // every entry is final now
      fills.push_back(ready->fill.get());
      continue;
    }
    started.push_back(std::make_unique<MapFill>(ShapeOf(spec, image.max_entries), image.keys, image.values, image.count));
    started.back()->Start();
    fills.push_back(started.back().get());
  }

  // 2. Wait for every fill. (On a failure every map made here is closed with its MapFill.)
  for (size_t i = 0; i < fills.size(); i++) {
    if (int err = fills[i]->Wait(); err != 0)
      throw BpfError(env, std::string(fills[i]->Failed()) + " inner map for " + kInner[i].outer, err);
  }
  for (size_t i = 0; i < fills.size(); i++) {
    fill_ms.Set(kInner[i].field, Napi::Number::New(env, fills[i]->cpu_ms()));
    written += fills[i]->count();
  }

  // 3. Install them in the inactive slot, side by side (UpdateSlots). Updating an ARRAY_OF_MAPS
  //    waits for running programs (synchronize_rcu), so nothing still reads what this slot held
  //    before. The slot's previous maps are replaced: forget them (our fds were their last users
  //    but the outer map). Until every map is installed the slot's contents are unknown.
  CloseInnerFds(slot);
  std::vector<std::pair<int, int>> installs;
  for (size_t i = 0; i < fills.size(); i++)
    installs.emplace_back(bpf_map__fd(bpf_object__find_map_by_name(skel_->obj, kInner[i].outer)), fills[i]->fd());
  std::vector<int> install_errors = UpdateSlots(installs, slot);
  for (size_t i = 0; i < fills.size(); i++) {
    if (install_errors[i] != 0)
      throw BpfError(env, std::string("install inner map in ") + kInner[i].outer, install_errors[i]);
  }
  for (MapFill* fill : fills) inner_fds_[slot].push_back(fill->Take());

  // The new slot's default and v6 split first, then the generation word (slot = generation & 1).
  cfg.default_action[slot] = global_default;
  cfg.v6_split[slot] = v6_split;
  WriteConfig(env, config_fd, cfg);
  cfg.generation = next;
  WriteConfig(env, config_fd, cfg);

  // Free the previous generation's big maps: first wait until no program still runs with it
  // (re-installing one map of the new slot is a synchronize_rcu), then empty the old slot. Small
  // ones stay until the next swap overwrites them: each delete would cost another grace period.
  // The old slot's maps are known by the fds kept when they were installed (no reopening by id,
  // which needs CAP_SYS_ADMIN); ones a previous helper installed stay until a swap replaces them.
  {
    int sets_fd = bpf_map__fd(skel_->maps.pcl_sets);
    for (size_t i = 0; i < std::size(kInner); i++) {
      if (kInner[i].outer != std::string("pcl_sets")) continue;
      int same_fd = inner_fds_[slot][i];
      bpf_map_update_elem(sets_fd, &slot, &same_fd, BPF_ANY);
    }
    std::vector<int>& old_fds = inner_fds_[old_slot];
    std::vector<size_t> big;  // kInner indexes of the old slot's big maps
    std::vector<std::pair<int, int>> deletes;
    for (size_t i = 0; i < old_fds.size() && i < std::size(kInner); i++) {
      if (old_fds[i] < 0) continue;
      bpf_map_info map_info{};
      uint32_t info_len = sizeof(map_info);
      if (bpf_obj_get_info_by_fd(old_fds[i], &map_info, &info_len) != 0) continue;
      if (uint64_t(map_info.max_entries) * map_info.value_size < kFreeOldBytes) continue;
      big.push_back(i);
      deletes.emplace_back(bpf_map__fd(bpf_object__find_map_by_name(skel_->obj, kInner[i].outer)), -1);
    }
    std::vector<int> delete_errors = UpdateSlots(deletes, old_slot);
    for (size_t d = 0; d < big.size(); d++) {
      if (delete_errors[d] != 0) continue;
      replaced++;
      close(old_fds[big[d]]);
      old_fds[big[d]] = -1;
    }
  }

  Napi::Object result = Napi::Object::New(env);
  result.Set("generation", Napi::Number::New(env, next));
  result.Set("entriesWritten", Napi::Number::New(env, double(written)));
  result.Set("mapsReplaced", Napi::Number::New(env, double(replaced)));
  result.Set("fillMs", fill_ms);
  return result;
}

// applyDiff(steps: Array<{map, op: 'upsert'|'delete', keys, values?}>) -> {generation}
// Runs the steps in order on the active generation's maps (each key update is atomic), then
// bumps the generation by 2: same slot, and every socket's cached verdict is re-evaluated.
Napi::Value Firewall::ApplyDiff(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  if (info.Length() < 1 || !info[0].IsArray()) ThrowTypeError(env, "applyDiff(steps: Array)");
  Napi::Array steps = info[0].As<Napi::Array>();
  ClearLibbpfLog();
  int config_fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg = ReadConfig(env, config_fd);
  uint32_t slot = cfg.generation & 1;
  // The active slot's inner maps, as this process installed them.
  auto inner_fd = [&](const std::string& field) -> std::pair<const InnerSpec*, int> {
    for (size_t i = 0; i < std::size(kInner); i++) {
      if (field != kInner[i].field) continue;
      if (inner_fds_[slot].size() <= i || inner_fds_[slot][i] < 0)
        throw BpfError(env, std::string("applyDiff: the active ") + kInner[i].outer + " was not installed by this process (swap first)", EINVAL);
      return {&kInner[i], inner_fds_[slot][i]};
    }
    ThrowTypeError(env, "applyDiff: unknown map '" + field + "'");
  };
  for (uint32_t i = 0; i < steps.Length(); i++) {
    Napi::Value item = steps.Get(i);
    if (!item.IsObject()) ThrowTypeError(env, "applyDiff: steps[" + std::to_string(i) + "] must be an object");
    Napi::Object step = item.As<Napi::Object>();
    Napi::Value map = step.Get("map"), op = step.Get("op");
    if (!map.IsString() || !op.IsString()) ThrowTypeError(env, "applyDiff: steps[" + std::to_string(i) + "] needs map and op");
    auto [spec, fd] = inner_fd(map.As<Napi::String>().Utf8Value());
    Napi::Buffer<uint8_t> keys = BufferField(env, step, "keys", "step");
    if (keys.Length() % spec->key_size != 0) ThrowTypeError(env, "applyDiff: keys length is not a multiple of the key size");
    uint32_t count = keys.Length() / spec->key_size;
    if (op.As<Napi::String>().Utf8Value() == "upsert") {
      Napi::Buffer<uint8_t> values = BufferField(env, step, "values", "step");
      if (values.Length() != size_t(count) * spec->value_size) ThrowTypeError(env, "applyDiff: values length does not match keys");
      int err = UpdateMany(fd, keys.Data(), values.Data(), count, spec->key_size, spec->value_size);
      if (err) throw BpfError(env, std::string("diff upsert into ") + spec->outer, -err);
    } else {
      for (uint32_t k = 0; k < count; k++) {
        if (bpf_map_delete_elem(fd, keys.Data() + size_t(k) * spec->key_size) != 0 && errno != ENOENT)
          throw BpfError(env, std::string("diff delete from ") + spec->outer, errno);
      }
    }
  }
  cfg.generation += 2;
  WriteConfig(env, config_fd, cfg);
  Napi::Object result = Napi::Object::New(env);
  result.Set("generation", Napi::Number::New(env, cfg.generation));
  return result;
}

Napi::Value Firewall::SetEnforcing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  if (info.Length() < 1 || !info[0].IsBoolean()) ThrowTypeError(env, "setEnforcing(on: boolean)");
  int fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg = ReadConfig(env, fd);
  cfg.enforcing = info[0].As<Napi::Boolean>().Value() ? 1 : 0;
  WriteConfig(env, fd, cfg);
  return env.Undefined();
}

Napi::Value Firewall::Enforcing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  return Napi::Boolean::New(env, ReadConfig(env, bpf_map__fd(skel_->maps.data_config)).enforcing != 0);
}

bpf_map* Firewall::BindingMap(Napi::Env env, const Napi::Value& kind) const {
  std::string name = kind.IsString() ? kind.As<Napi::String>().Utf8Value() : "";
  if (name == "exe") return skel_->maps.pcl_exe;
  if (name == "cgroup") return skel_->maps.pcl_cgrp_app;
  if (name == "tgid") return skel_->maps.pcl_tgid_app;
  ThrowTypeError(env, "binding kind must be 'exe', 'cgroup' or 'tgid'");
}

// bindApps(kind, keys: Buffer, values: Buffer): upserts (key -> app id) pairs.
Napi::Value Firewall::BindApps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  bpf_map* map = BindingMap(env, info[0]);
  if (info.Length() < 3 || !info[1].IsBuffer() || !info[2].IsBuffer())
    ThrowTypeError(env, "bindApps(kind, keys: Buffer, values: Buffer)");
  auto keys = info[1].As<Napi::Buffer<uint8_t>>();
  auto values = info[2].As<Napi::Buffer<uint8_t>>();
  uint32_t key_size = bpf_map__key_size(map), value_size = bpf_map__value_size(map);
  uint32_t count = keys.Length() / key_size;
  if (keys.Length() % key_size != 0 || values.Length() != size_t(count) * value_size)
    ThrowTypeError(env, "bindApps: keys and values do not describe the same number of entries");
  int err = UpdateMany(bpf_map__fd(map), keys.Data(), values.Data(), count, key_size, value_size);
  if (err) throw BpfError(env, std::string("update ") + bpf_map__name(map), -err);
  return Napi::Number::New(env, count);
}

// unbindApps(kind, keys: Buffer): removes keys; missing ones are fine.
Napi::Value Firewall::UnbindApps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  bpf_map* map = BindingMap(env, info[0]);
  if (info.Length() < 2 || !info[1].IsBuffer()) ThrowTypeError(env, "unbindApps(kind, keys: Buffer)");
  auto keys = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t key_size = bpf_map__key_size(map);
  if (keys.Length() % key_size != 0) ThrowTypeError(env, "unbindApps: keys length is not a multiple of the key size");
  uint32_t removed = 0;
  for (size_t off = 0; off < keys.Length(); off += key_size) {
    if (bpf_map_delete_elem(bpf_map__fd(map), keys.Data() + off) == 0)
      removed++;
    else if (errno != ENOENT)
      throw BpfError(env, std::string("delete from ") + bpf_map__name(map), errno);
  }
  return Napi::Number::New(env, removed);
}

// clearBindings(kind): empties one binding map.
Napi::Value Firewall::ClearBindings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  bpf_map* map = BindingMap(env, info[0]);
  int fd = bpf_map__fd(map);
  std::vector<uint8_t> key(bpf_map__key_size(map)), next(key.size());
  uint32_t removed = 0;
  // Restart from the beginning after each delete: deleting the current key breaks iteration.
  while (bpf_map_get_next_key(fd, nullptr, next.data()) == 0) {
    if (bpf_map_delete_elem(fd, next.data()) != 0) throw BpfError(env, "clear bindings", errno);
    removed++;
  }
  return Napi::Number::New(env, removed);
}

// counters() -> {allowed, blocked, events, drops: bigint, ruleHits: Array<[id, bigint]>}
Napi::Value Firewall::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  CounterTotals totals = ReadCounterTotals(bpf_map__fd(skel_->maps.pcl_counters));
  Napi::Object out = Napi::Object::New(env);
  out.Set("allowed", Napi::BigInt::New(env, totals.allowed));
  out.Set("blocked", Napi::BigInt::New(env, totals.blocked));
  out.Set("events", Napi::BigInt::New(env, totals.events));
  out.Set("drops", Napi::BigInt::New(env, totals.drops));
  int cpus = libbpf_num_possible_cpus();
  int fd = bpf_map__fd(skel_->maps.pcl_rule_hits);
  std::vector<uint64_t> per_cpu(cpus > 0 ? cpus : 1);
  Napi::Array hits = Napi::Array::New(env);
  uint32_t key = 0, next = 0;
  uint32_t* prev = nullptr;
  uint32_t n = 0;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
    uint64_t sum = 0;
    for (uint64_t v : per_cpu) sum += v;
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(uint32_t(0), Napi::Number::New(env, key));
    pair.Set(uint32_t(1), Napi::BigInt::New(env, sum));
    hits.Set(n++, pair);
  }
  out.Set("ruleHits", hits);
  return out;
}

// readFlows() -> Buffer of pcl_flow_record for sockets with traffic.
Napi::Value Firewall::ReadFlows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  int fd = bpf_map__fd(skel_->maps.pcl_flows);
  std::vector<pcl_flow_record> out;
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  pcl_flow_record record;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, &record.flow) != 0) continue;
    record.cookie = key;
    out.push_back(record);
  }
  return Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(out.data()), out.size() * sizeof(pcl_flow_record));
}

// startEvents(onBatch(events: Buffer, drops: bigint)): one subscriber at a time.
Napi::Value Firewall::StartEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  if (info.Length() < 1 || !info[0].IsFunction()) ThrowTypeError(env, "startEvents(onBatch: function)");
  if (pump_) throw BpfError(env, "subscribe (already subscribed)", EBUSY);
  pump_ = std::make_unique<EventPump>(env, info[0].As<Napi::Function>(), bpf_map__fd(skel_->maps.pcl_events),
                                      bpf_map__fd(skel_->maps.pcl_counters), drops_at_open_);
  return env.Undefined();
}

Napi::Value Firewall::StopEvents(const Napi::CallbackInfo& info) {
  if (pump_) {
    pump_->Stop();
    pump_.reset();
  }
  return info.Env().Undefined();
}

// testRun(program, packet: Buffer (starting with an Ethernet header), repeat)
//   -> {retval, durationNs} via BPF_PROG_TEST_RUN.
Napi::Value Firewall::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  std::string name = StringArg(info, 0, "program");
  if (info.Length() < 3 || !info[1].IsBuffer() || !info[2].IsNumber())
    ThrowTypeError(env, "testRun(program: string, packet: Buffer, repeat: number)");
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, name.c_str());
  if (!prog || bpf_program__type(prog) != BPF_PROG_TYPE_CGROUP_SKB)
    ThrowTypeError(env, "testRun: '" + name + "' is not a cgroup_skb program of this firewall");
  auto packet = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t repeat = info[2].As<Napi::Number>().Uint32Value();
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet.Data(), .data_size_in = uint32_t(packet.Length()),
              .repeat = int(repeat > 0 ? repeat : 1));
  ClearLibbpfLog();
  if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0) throw BpfError(env, "BPF_PROG_TEST_RUN " + name, errno);
  Napi::Object out = Napi::Object::New(env);
  out.Set("retval", Napi::Number::New(env, opts.retval));
  out.Set("durationNs", Napi::Number::New(env, opts.duration));
  return out;
}

// mapMemory() -> bytes of kernel memory charged to this firewall's maps (fdinfo memlock),
// inner rule maps included.
Napi::Value Firewall::MapMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env);
  auto memlock = [](int fd) -> uint64_t {
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("memlock:", 0) == 0) return std::stoull(line.substr(8));
    }
    return 0;
  };
  uint64_t total = 0;
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    total += memlock(bpf_map__fd(map));
    if (bpf_map__type(map) != BPF_MAP_TYPE_ARRAY_OF_MAPS) continue;
    size_t which = 0;
    while (which < std::size(kInner) && bpf_map__name(map) != std::string(kInner[which].outer)) which++;
    for (uint32_t slot = 0; slot < 2; slot++) {
      uint32_t id = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(map), &slot, &id) != 0) continue;
      // Maps this process installed by the fd it kept; others (adopted) by id, which needs CAP_SYS_ADMIN.
      if (which < inner_fds_[slot].size() && inner_fds_[slot][which] >= 0) {
        total += memlock(inner_fds_[slot][which]);
        continue;
      }
      Fd inner(bpf_map_get_fd_by_id(id));
      if (inner.get() >= 0) total += memlock(inner.get());
    }
  }
  return Napi::Number::New(env, double(total));
}

Napi::Value Firewall::Close(const Napi::CallbackInfo& info) {
  ReleaseAll();
  return info.Env().Undefined();
}

// Firewall.detach(pinDir): detaches every pinned link (enforcement stops even if another
// process still holds the link), then removes the pins.
Napi::Value Firewall::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string pin_dir = StringArg(info, 0, "pinDir");
  InstallLibbpfLog();
  for (const AttachSpec& spec : kAttached) {
    std::string path = LinkPin(pin_dir, spec.program);
    if (!Exists(path)) continue;
    Fd link(bpf_obj_get(path.c_str()));
    if (link.get() < 0) throw BpfError(env, "open pinned link " + path, errno);
    // Tracing links may not support BPF_LINK_DETACH; unpinning releases them (our fd closes).
    if (bpf_link_detach(link.get()) != 0 && errno != EOPNOTSUPP && errno != EINVAL && errno != kENOTSUPP)
      throw BpfError(env, "detach " + path, errno);
    if (unlink(path.c_str()) != 0) throw BpfError(env, "unpin " + path, errno);
  }
  RemoveDirEntries(pin_dir + "/links");
  RemoveDirEntries(pin_dir + "/maps");
  rmdir(pin_dir.c_str());
  return env.Undefined();
}

}  // namespace portcullis
