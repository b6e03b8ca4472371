// SPDX-License-Identifier: GPL-2.0-only
#include "firewall-core.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>
#include <unordered_set>

#include "fd.h"
#include "native-error.h"
#include "pins.h"
#include "portcullis-abi-check.h"
#include "portcullis.skel.h"
#include "probe.h"
#include "tally.h"

namespace portcullis {
namespace {

// Previous-generation maps at least this big are freed right after a swap.
constexpr uint64_t kFreeOldBytes = 4 << 20;

enum class Hook { kCgroup, kTracing };

// Where a socket's state lives decides which programs have work (portcullis.h, struct pcl_slot):
// the creation hook only where every socket keeps it in its storage (6.1), the getsockname hooks only
// where TCP sockets are born at their first use. A hook with no work is not attached: each run on
// every socket would cost ~100 ns for nothing.
enum class Form { kBoth, kStorageOnly, kEntryOnly };

struct AttachSpec {
  const char* program;
  Hook hook;
  Form form = Form::kBoth;
};

bool Serves(Form form, bool entries_used) { return form == Form::kBoth || (form == Form::kEntryOnly) == entries_used; }

// Every program of the product object is attached in the forms it serves (test-only programs live in
// the test object).
constexpr AttachSpec kAttached[] = {
    {"pcl_connect4", Hook::kCgroup},
    {"pcl_connect6", Hook::kCgroup},
    {"pcl_sendmsg4", Hook::kCgroup},
    {"pcl_sendmsg6", Hook::kCgroup},
    {"pcl_sock_create", Hook::kCgroup, Form::kStorageOnly},
    {"pcl_post_bind4", Hook::kCgroup},
    {"pcl_post_bind6", Hook::kCgroup},
    {"pcl_sock_release", Hook::kCgroup},
    {"pcl_egress", Hook::kCgroup},
    {"pcl_ingress", Hook::kCgroup},
    {"pcl_exec", Hook::kTracing},
    {"pcl_fork", Hook::kTracing},
    {"pcl_exit", Hook::kTracing},
    {"pcl_cgroup_mkdir", Hook::kTracing},
    {"pcl_cgroup_rmdir", Hook::kTracing},
    {"pcl_getsockname4", Hook::kCgroup, Form::kEntryOnly},
    {"pcl_getsockname6", Hook::kCgroup, Form::kEntryOnly},
};

// Attached on first use only (AttachHolds), or adopted where a previous helper attached it: the
// sock_ops program runs five times per TCP connection, about a tenth of a short connection's
// BPF cost, and only ask mode needs it. Detach covers it like the others.
constexpr AttachSpec kHoldsProgram = {"pcl_sockops", Hook::kCgroup};

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

pcl_config ReadConfig(int fd) {
  pcl_config cfg{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(fd, &zero, &cfg) != 0) throw NativeFailure("read pcl_config", errno);
  return cfg;
}

void WriteConfig(int fd, const pcl_config& cfg) {
  uint32_t zero = 0;
  if (bpf_map_update_elem(fd, &zero, &cfg, BPF_ANY) != 0) throw NativeFailure("write pcl_config", errno);
}

// The inode number of a mount namespace from its /proc link ("mnt:[4026531840]"): readlink, not
// stat, since following PID 1's link needs more than reading it. 0 when unreadable.
uint32_t MountNamespaceOf(const char* link) {
  char text[64] = {};
  ssize_t length = readlink(link, text, sizeof(text) - 1);
  unsigned long long inode = 0;
  if (length <= 0 || sscanf(text, "mnt:[%llu]", &inode) != 1) return 0;
  return uint32_t(inode);
}

// PID 1's mount namespace (the one users' sessions share), else our own; 0: no path bindings.
uint32_t HostMountNamespace() {
  uint32_t host = MountNamespaceOf("/proc/1/ns/mnt");
  return host != 0 ? host : MountNamespaceOf("/proc/self/ns/mnt");
}

// A field of a BPF fd's /proc fdinfo ("" when absent): what the kernel tells of an object
// without CAP_SYS_ADMIN, which opening objects by id needs and the helper runs without.
std::string FdInfoField(int fd, const std::string& key) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    size_t value = line.find_first_not_of(" \t", key.size() + 1);
    return value == std::string::npos ? "" : line.substr(value);
  }
  return "";
}

uint64_t Memlock(int fd) {
  std::string memlock = FdInfoField(fd, "memlock");
  return memlock.empty() ? 0 : std::stoull(memlock);
}

}  // namespace

const InnerSpec kInnerMaps[] = {
    {"pcl_v4_exact", BPF_MAP_TYPE_HASH, sizeof(pcl_exact4_key), sizeof(pcl_entry), 0, "v4Exact"},
    {"pcl_v6_exact", BPF_MAP_TYPE_HASH, sizeof(pcl_exact6_key), sizeof(pcl_entry), 0, "v6Exact"},
    {"pcl_v4_lpm", BPF_MAP_TYPE_LPM_TRIE, sizeof(pcl_lpm4_key), sizeof(pcl_entry), BPF_F_NO_PREALLOC, "v4Lpm"},
    {"pcl_v6_lpm", BPF_MAP_TYPE_LPM_TRIE, sizeof(pcl_lpm6_key), sizeof(pcl_entry), BPF_F_NO_PREALLOC, "v6Lpm"},
    {"pcl_v6_prefix", BPF_MAP_TYPE_HASH, sizeof(pcl_prefix6_key), sizeof(pcl_entry), 0, "v6Prefix"},
    {"pcl_v6_bucket", BPF_MAP_TYPE_HASH, sizeof(pcl_bucket6_key), sizeof(pcl_bucket6), 0, "v6Buckets"},
    {"pcl_sets", BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(pcl_clause_set), BPF_F_INNER_MAP, "sets"},
    {"pcl_app_dflt", BPF_MAP_TYPE_HASH, sizeof(uint32_t), sizeof(uint8_t), BPF_F_NO_PREALLOC, "appDefaults"},
};
const size_t kInnerMapCount = std::size(kInnerMaps);

int InnerIndex(const std::string& field) {
  for (size_t i = 0; i < kInnerMapCount; i++)
    if (field == kInnerMaps[i].field) return int(i);
  return -1;
}

std::shared_ptr<FirewallCore> FirewallCore::Open(const std::string& cgroup, const std::string& pin_dir, uint32_t ring_bytes,
                                                 bool storage_fast_path) {
  std::shared_ptr<FirewallCore> core(new FirewallCore());
  core->Load(cgroup, pin_dir, ring_bytes, storage_fast_path);  // on a failure the destructor releases what was made
  return core;
}

FirewallCore::~FirewallCore() {
  for (bpf_link* link : links_) bpf_link__destroy(link);  // closes our fd; the pin keeps the link
  if (cgroup_.fd >= 0) close(cgroup_.fd);
  CloseInnerFds(0);
  CloseInnerFds(1);
  if (skel_) portcullis_bpf__destroy(skel_);
}

void FirewallCore::Load(const std::string& cgroup, const std::string& pin_dir, uint32_t ring_bytes, bool storage_fast_path) {
  Fd cgroup_fd(open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (cgroup_fd.get() < 0) throw NativeFailure("open cgroup " + cgroup, errno);
  MakeDir(pin_dir);
  MakeDir(pin_dir + "/maps");
  MakeDir(pin_dir + "/links");

  skel_ = portcullis_bpf__open();
  if (!skel_) throw NativeFailure("open BPF object", errno);
  bool maps_pinned = Exists(MapPin(pin_dir, bpf_map__name(skel_->maps.data_config)));
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    // Existing pins are reused by libbpf during load; new maps are pinned there.
    std::string path = MapPin(pin_dir, bpf_map__name(map));
    if (bpf_map__set_pin_path(map, path.c_str()) != 0) throw NativeFailure("set pin path " + path, errno);
  }
  const uint32_t object_ring = bpf_map__max_entries(skel_->maps.pcl_events);
  const uint32_t object_slots = bpf_map__max_entries(skel_->maps.pcl_slots);
  // Sizes the maps and sets the read-only data for pins adopted (`adopt`) or maps made now.
  auto shape = [&](bool adopt) {
    // An adopted ring keeps the size it was made with: libbpf reuses a pin only when the sizes
    // agree, and a helper of another version may have asked for another size.
    uint32_t ring_size = adopt ? PinnedMaxEntries(MapPin(pin_dir, bpf_map__name(skel_->maps.pcl_events)))
                               : (ring_bytes != 0 ? ring_bytes : object_ring);
    if (bpf_map__set_max_entries(skel_->maps.pcl_events, ring_size) != 0) throw NativeFailure("size ring buffer", errno);
    skel_->rodata->pcl_ring_wake_bytes = ring_size / 4;
    // Where the fast path finds a socket's state: its pcl_slots entry, found with the kfunc
    // bpf_cast_to_kern_ctx (6.2+), or its socket storage, with pcl_slots cut to one unused entry.
    // Adopted pins keep the form they were made with: their read-only data holds it, and the
    // pinned pcl_slots is reused at its size (pins older than the choice had the entries).
    bool kern_ctx_cast = adopt ? PinnedMaxEntries(MapPin(pin_dir, bpf_map__name(skel_->maps.pcl_slots))) > 1
                               : !storage_fast_path && KernelHasKfunc("bpf_cast_to_kern_ctx");
    skel_->rodata->pcl_kern_ctx_cast = kern_ctx_cast ? 1 : 0;
    if (bpf_map__set_max_entries(skel_->maps.pcl_slots, kern_ctx_cast ? object_slots : 1) != 0)
      throw NativeFailure("size pcl_slots", errno);
    if (bpf_map__set_max_entries(skel_->maps.pcl_tally, TallyEntries()) != 0) throw NativeFailure("size pcl_tally", errno);
  };
  shape(maps_pinned);
  // Pins of a build whose maps differ cannot be reused (an upgrade that changed a map): this build
  // loads its own maps unpinned first, and only once that worked sets the old build aside and pins
  // them (a load that fails leaves the old build as it was); the old one enforces beside this one
  // until the helper has put the rules in this one's maps (RetireOldBuild).
  if (maps_pinned) {
    replaced_ = FirstMisfitPin(skel_->obj, pin_dir);
    if (!replaced_.empty()) {
      maps_pinned = false;
      shape(false);
      bpf_object__for_each_map(map, skel_->obj) {
        if (bpf_map__set_pin_path(map, nullptr) != 0) throw NativeFailure("unset pin path", errno);
      }
    }
  }
  every_map_adopted_ = maps_pinned;
  bpf_object__for_each_map(map, skel_->obj) {
    if (!Exists(MapPin(pin_dir, bpf_map__name(map)))) every_map_adopted_ = false;
  }
  int err = portcullis_bpf__load(skel_);
  if (err) throw NativeFailure("load BPF programs", -err);
  if (!replaced_.empty()) {
    SetAsideOldBuild(pin_dir);
    bpf_object__for_each_map(map, skel_->obj) {
      std::string path = MapPin(pin_dir, bpf_map__name(map));
      int pinned = bpf_map__pin(map, path.c_str());
      if (pinned != 0) throw NativeFailure("pin map " + path, -pinned);
    }
  }
  adopted_ = maps_pinned;
  tally_ = std::make_unique<TallySlots>(bpf_map__fd(skel_->maps.pcl_tally), bpf_map__max_entries(skel_->maps.pcl_tally));

  int config_fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg{};
  if (maps_pinned) {
    cfg = ReadConfig(config_fd);
  } else {
    cfg.enforcing = 1;
    cfg.default_action[0] = cfg.default_action[1] = PCL_ACT_ALLOW;
  }
  cfg.host_mnt_ns = HostMountNamespace();
  WriteConfig(config_fd, cfg);
  drops_at_open_ = ReadCounterTotals(bpf_map__fd(skel_->maps.pcl_counters)).drops;
  holds_ = std::make_unique<HoldDesk>(HoldFds{bpf_map__fd(skel_->maps.pcl_holds), bpf_map__fd(skel_->maps.pcl_hold_answers),
                                              bpf_map__fd(skel_->maps.pcl_sk), bpf_program__fd(skel_->progs.pcl_decide)});
  AttachOrAdopt(cgroup_fd.get(), pin_dir);
}

void FirewallCore::AttachOrAdopt(int cgroup_fd, const std::string& pin_dir) {
  struct stat cgroup_stat;
  if (fstat(cgroup_fd, &cgroup_stat) != 0) throw NativeFailure("stat cgroup", errno);
  const CgroupTarget cgroup{cgroup_fd, uint64_t(cgroup_stat.st_ino)};
  for (const AttachSpec& spec : kAttached) {
    if (Serves(spec.form, kern_ctx_cast())) {
      AttachOne(spec.program, spec.hook == Hook::kTracing, cgroup, pin_dir, false);
    } else if (std::string path = LinkPin(pin_dir, spec.program); Exists(path)) {
      DetachPinnedLink(path);  // a helper in the other form (or an older build) attached it
    }
  }
  cgroup_ = CgroupTarget{dup(cgroup_fd), cgroup.id};
  if (cgroup_.fd < 0) throw NativeFailure("keep cgroup fd", errno);
  pin_dir_ = pin_dir;
  holds_attached_ = AttachOne(kHoldsProgram.program, false, cgroup, pin_dir, true);
}

Retirement FirewallCore::RetireOldBuild() {
  std::lock_guard<std::mutex> lock(mutex_);
  return portcullis::RetireOldBuild(pin_dir_);
}

// Whether the pinned link at link_fd runs `prog` as a helper of this build loaded it: the same
// instructions (the kernel's tag of them leaves map references out) on the same maps (every one
// adopted from the pins that build made). Then adoption leaves the link as it is.
bool FirewallCore::RunsThisBuild(int link_fd, bpf_program* prog) const {
  std::string running = FdInfoField(link_fd, "prog_tag");
  return every_map_adopted_ && !running.empty() && running == FdInfoField(bpf_program__fd(prog), "prog_tag");
}

void FirewallCore::AttachHolds() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (holds_attached_) return;
  holds_attached_ = AttachOne(kHoldsProgram.program, false, cgroup_, pin_dir_, false);
}

// Tracing links cannot be re-pointed at another program (BPF_LINK_UPDATE is for cgroup and a few
// other links), so an adopted one of another build would keep that build's program until a
// reboot: this build's is attached beside it and pinned in its place, then the old link goes. For
// that moment both run on the same pinned maps, which their work leaves as one would (exec, fork,
// exit and cgroup records written twice, alike).
void FirewallCore::ReplaceTracingLink(bpf_program* prog, const std::string& path) {
  bpf_link* link = bpf_program__attach_trace(prog);
  if (!link) throw NativeFailure(std::string("attach ") + bpf_program__name(prog), errno);
  links_.push_back(link);
  std::string fresh = path + "-new";
  unlink(fresh.c_str());  // left by a start killed here
  int err = bpf_link__pin(link, fresh.c_str());
  if (err) throw NativeFailure("pin link " + fresh, -err);
  DetachPinnedLink(path);
  if (rename(fresh.c_str(), path.c_str()) != 0) throw NativeFailure("pin link " + path, errno);
}

bool FirewallCore::AttachOne(const char* program, bool tracing, const CgroupTarget& cgroup, const std::string& pin_dir,
                             bool adopt_only) {
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, program);
  if (!prog) throw NativeFailure(std::string("find program ") + program, ENOENT);
  std::string path = LinkPin(pin_dir, program);
  bpf_link* link = nullptr;
  // A start killed inside ReplaceTracingLink after the old link went: the new one is the link.
  if (tracing && !Exists(path) && Exists(path + "-new") && rename((path + "-new").c_str(), path.c_str()) != 0)
    throw NativeFailure("pin link " + path, errno);
  if (Exists(path)) {
    adopted_ = true;
    if (tracing) {
      Fd pinned(bpf_obj_get(path.c_str()));
      if (pinned.get() < 0) throw NativeFailure("open pinned link " + path, errno);
      if (!RunsThisBuild(pinned.get(), prog)) ReplaceTracingLink(prog, path);
      return true;
    }
    link = bpf_link__open(path.c_str());
    if (!link) throw NativeFailure("open pinned link " + path, errno);
    links_.push_back(link);
    // Adopting pins made for another cgroup would silently enforce in the wrong place.
    bpf_link_info link_info{};
    uint32_t len = sizeof(link_info);
    if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &link_info, &len) != 0) throw NativeFailure("inspect pinned link " + path, errno);
    // On cgroup2 a cgroup's id is its directory's inode number.
    if (link_info.type == BPF_LINK_TYPE_CGROUP && link_info.cgroup.cgroup_id != cgroup.id) {
      throw NativeFailure("adopt " + path, EEXIST,
                          "the pinned links attach cgroup id " + std::to_string(link_info.cgroup.cgroup_id) +
                              ", not the cgroup asked for (id " + std::to_string(cgroup.id) + "): detach first");
    }
    // Another build's program is swapped for this one's atomically.
    if (!RunsThisBuild(bpf_link__fd(link), prog)) {
      int err = bpf_link__update_program(link, prog);
      if (err) throw NativeFailure(std::string("update pinned link ") + program, -err);
    }
    return true;
  }
  if (adopt_only) return false;
  link = !tracing ? bpf_program__attach_cgroup(prog, cgroup.fd) : bpf_program__attach_trace(prog);
  if (!link) throw NativeFailure(std::string("attach ") + program, errno);
  links_.push_back(link);
  int err = bpf_link__pin(link, path.c_str());
  if (err) throw NativeFailure("pin link " + path, -err);
  return true;
}

void FirewallCore::Detach(const std::string& pin_dir) {
  portcullis::RetireOldBuild(pin_dir);
  std::vector<AttachSpec> every(std::begin(kAttached), std::end(kAttached));
  every.push_back(kHoldsProgram);
  for (const AttachSpec& spec : every) {
    std::string path = LinkPin(pin_dir, spec.program);
    if (Exists(path)) DetachPinnedLink(path);
  }
  RemoveDirEntries(pin_dir + "/links");
  RemoveDirEntries(pin_dir + "/maps");
  rmdir(pin_dir.c_str());
}

void FirewallCore::CloseInnerFds(uint32_t slot) {
  for (int fd : inner_fds_[slot])
    if (fd >= 0) close(fd);
  inner_fds_[slot].clear();
}

int FirewallCore::OuterFd(size_t inner) const {
  return bpf_map__fd(bpf_object__find_map_by_name(skel_->obj, kInnerMaps[inner].outer));
}

bool FirewallCore::kern_ctx_cast() const { return skel_->rodata->pcl_kern_ctx_cast != 0; }

int FirewallCore::events_fd() const { return bpf_map__fd(skel_->maps.pcl_events); }

int FirewallCore::counters_fd() const { return bpf_map__fd(skel_->maps.pcl_counters); }

int FirewallCore::exe_paths_fd() const { return bpf_map__fd(skel_->maps.pcl_exe_path); }

int FirewallCore::MapFd(const char* name) const {
  bpf_map* map = bpf_object__find_map_by_name(skel_->obj, name);
  return map ? bpf_map__fd(map) : -1;
}

int FirewallCore::ProgramFd(const char* name) const {
  bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, name);
  return prog ? bpf_program__fd(prog) : -1;
}

SwapResult FirewallCore::Swap(std::vector<SwapInput>& inputs, uint8_t global_default, uint8_t v6_split) {
  std::lock_guard<std::mutex> lock(mutex_);
  int config_fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg = ReadConfig(config_fd);
  uint32_t next = cfg.generation + 1;
  uint32_t slot = next & 1;
  uint32_t old_slot = slot ^ 1;
  SwapResult result;

  // 1. Maps prepared for exactly this input are being filled already; the others start filling
  //    now, each on a thread of its own (they share nothing).
  std::vector<std::unique_ptr<MapFill>> fills;  // kInnerMaps order
  for (size_t i = 0; i < kInnerMapCount; i++) {
    SwapInput& input = inputs[i];
    if (input.prepared) {
      input.prepared->Extend(input.count);  // every entry is final now
      fills.push_back(std::move(input.prepared));
      continue;
    }
    const InnerSpec& spec = kInnerMaps[i];
    MapShape shape{spec.type, spec.outer, spec.key_size, spec.value_size, spec.flags, input.max_entries};
    fills.push_back(std::make_unique<MapFill>(shape, input.keys, input.values, input.count));
    fills.back()->Start();
  }

  // 2. Wait for every fill (all of them, so none runs on after a failure; every map made here is
  //    closed with its MapFill).
  std::vector<int> fill_errors;
  for (auto& fill : fills) fill_errors.push_back(fill->Wait());
  for (size_t i = 0; i < fills.size(); i++) {
    if (fill_errors[i] != 0) throw NativeFailure(std::string(fills[i]->Failed()) + " inner map for " + kInnerMaps[i].outer, fill_errors[i]);
  }
  for (auto& fill : fills) {
    result.fill_ms.push_back(fill->cpu_ms());
    result.written += fill->count();
  }

  // 3. Install them in the inactive slot, side by side (UpdateSlots). Updating an ARRAY_OF_MAPS
  //    waits for running programs (synchronize_rcu), so nothing still reads what this slot held
  //    before. The slot's previous maps are replaced: forget them (our fds were their last users
  //    but the outer map). Until every map is installed the slot's contents are unknown.
  CloseInnerFds(slot);
  std::vector<std::pair<int, int>> installs;
  for (size_t i = 0; i < fills.size(); i++) installs.emplace_back(OuterFd(i), fills[i]->fd());
  std::vector<int> install_errors = UpdateSlots(installs, slot);
  for (size_t i = 0; i < fills.size(); i++) {
    if (install_errors[i] != 0) throw NativeFailure(std::string("install inner map in ") + kInnerMaps[i].outer, install_errors[i]);
  }
  for (auto& fill : fills) inner_fds_[slot].push_back(fill->Take());

  // The new slot's default and v6 split first, then the generation word (slot = generation & 1).
  cfg.default_action[slot] = global_default;
  cfg.v6_split[slot] = v6_split;
  WriteConfig(config_fd, cfg);
  cfg.generation = next;
  WriteConfig(config_fd, cfg);
  result.generation = next;

  // Free the previous generation's big maps: first wait until no program still runs with it
  // (re-installing one map of the new slot is a synchronize_rcu), then empty the old slot. Small
  // ones stay until the next swap overwrites them: each delete would cost another grace period.
  // The old slot's maps are known by the fds kept when they were installed (no reopening by id,
  // which needs CAP_SYS_ADMIN); ones a previous helper installed stay until a swap replaces them.
  int sets = InnerIndex("sets");
  int same_fd = inner_fds_[slot][sets];
  bpf_map_update_elem(OuterFd(sets), &slot, &same_fd, BPF_ANY);
  std::vector<int>& old_fds = inner_fds_[old_slot];
  std::vector<size_t> big;  // kInnerMaps indexes of the old slot's big maps
  std::vector<std::pair<int, int>> deletes;
  for (size_t i = 0; i < old_fds.size() && i < kInnerMapCount; i++) {
    if (old_fds[i] < 0) continue;
    bpf_map_info map_info{};
    uint32_t info_len = sizeof(map_info);
    if (bpf_obj_get_info_by_fd(old_fds[i], &map_info, &info_len) != 0) continue;
    if (uint64_t(map_info.max_entries) * map_info.value_size < kFreeOldBytes) continue;
    big.push_back(i);
    deletes.emplace_back(OuterFd(i), -1);
  }
  std::vector<int> delete_errors = UpdateSlots(deletes, old_slot);
  for (size_t d = 0; d < big.size(); d++) {
    if (delete_errors[d] != 0) continue;
    result.replaced++;
    close(old_fds[big[d]]);
    old_fds[big[d]] = -1;
  }
  return result;
}

uint32_t FirewallCore::ApplyDiff(const std::vector<DiffStep>& steps) {
  std::lock_guard<std::mutex> lock(mutex_);
  int config_fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg = ReadConfig(config_fd);
  uint32_t slot = cfg.generation & 1;
  for (const DiffStep& step : steps) {
    const InnerSpec& spec = kInnerMaps[step.map];
    // The active slot's inner maps, as this process installed them.
    if (inner_fds_[slot].size() <= step.map || inner_fds_[slot][step.map] < 0)
      throw NativeFailure(std::string("applyDiff: the active ") + spec.outer + " was not installed by this process (swap first)", EINVAL);
    int fd = inner_fds_[slot][step.map];
    if (step.upsert) {
      int err = UpdateMany(fd, step.keys, step.values, step.count, spec.key_size, spec.value_size);
      if (err) throw NativeFailure(std::string("diff upsert into ") + spec.outer, -err);
      continue;
    }
    for (uint32_t k = 0; k < step.count; k++) {
      if (bpf_map_delete_elem(fd, step.keys + size_t(k) * spec.key_size) != 0 && errno != ENOENT)
        throw NativeFailure(std::string("diff delete from ") + spec.outer, errno);
    }
  }
  cfg.generation += 2;
  WriteConfig(config_fd, cfg);
  return cfg.generation;
}

void FirewallCore::SetEnforcing(bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  int fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg = ReadConfig(fd);
  uint32_t enforcing = on ? 1 : 0;
  if (cfg.enforcing == enforcing) return;
  cfg.enforcing = enforcing;
  cfg.generation += 2;  // one write: the flag and the end of every cached verdict together
  WriteConfig(fd, cfg);
}

void FirewallCore::SetAsk(uint32_t hold_ms, uint32_t helper_tgid) {
  std::lock_guard<std::mutex> lock(mutex_);
  int fd = bpf_map__fd(skel_->maps.data_config);
  if (hz_ == 0) hz_ = MeasureHz();
  pcl_config cfg = ReadConfig(fd);
  cfg.hold_ms = hold_ms;
  cfg.helper_tgid = helper_tgid;
  cfg.hold_jiffies = uint32_t(uint64_t(hold_ms) * hz_ / 1000);
  WriteConfig(fd, cfg);
}


namespace {

bpf_map* BindingMapOf(portcullis_bpf* skel, BindingMap which) {
  switch (which) {
    case BindingMap::kExe: return skel->maps.pcl_exe;
    case BindingMap::kCgroup: return skel->maps.pcl_cgrp_app;
    case BindingMap::kTgid: return skel->maps.pcl_procs;
    case BindingMap::kUnit: return skel->maps.pcl_units;
    case BindingMap::kPath: return skel->maps.pcl_path_app;
  }
  return nullptr;
}

// The cgroups a claim of one of `apps` bound become units of no known app.
void Unclaim(int fd, const std::unordered_set<uint32_t>& apps) {
  uint64_t key = 0, next = 0;
  uint64_t* prev = nullptr;
  pcl_cgroup entry;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, &entry) != 0 || !(entry.flags & PCL_CG_CLAIM)) continue;
    if (apps.count(entry.app_id) == 0) continue;
    pcl_cgroup unit{};
    if (bpf_map_update_elem(fd, &key, &unit, BPF_EXIST) != 0 && errno != ENOENT) throw NativeFailure("withdraw claims in pcl_cgrp_app", errno);
  }
}

}  // namespace

void FirewallCore::UpdateBindings(const std::vector<BindingStep>& steps) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const BindingStep& step : steps) {
    bpf_map* map = BindingMapOf(skel_, step.map);
    int fd = bpf_map__fd(map);
    uint32_t key_size = bpf_map__key_size(map), value_size = bpf_map__value_size(map);
    if (step.op == BindingStep::Op::kUnclaim) {
      if (step.map != BindingMap::kCgroup || step.keys_bytes % sizeof(uint32_t) != 0)
        throw NativeFailure("withdraw claims", EINVAL, "only cgroup bindings are claimed; the keys are u32 app ids");
      std::unordered_set<uint32_t> apps;
      for (size_t at = 0; at < step.keys_bytes; at += sizeof(uint32_t)) {
        uint32_t id;
        std::memcpy(&id, step.keys + at, sizeof(id));
        apps.insert(id);
      }
      Unclaim(fd, apps);
      continue;
    }
    if (step.op == BindingStep::Op::kClear) {
      std::vector<uint8_t> next(key_size);
      // Restart from the beginning after each delete: deleting the current key breaks iteration.
      while (bpf_map_get_next_key(fd, nullptr, next.data()) == 0) {
        if (bpf_map_delete_elem(fd, next.data()) != 0) throw NativeFailure(std::string("clear ") + bpf_map__name(map), errno);
      }
      continue;
    }
    uint32_t count = step.keys_bytes / key_size;
    if (step.keys_bytes % key_size != 0 || (step.op == BindingStep::Op::kUpsert && step.values_bytes != size_t(count) * value_size))
      throw NativeFailure(std::string("bind apps in ") + bpf_map__name(map), EINVAL, "keys and values do not describe the same number of entries");
    if (step.op == BindingStep::Op::kUpsert) {
      int err = UpdateMany(fd, step.keys, step.values, count, key_size, value_size);
      if (err) throw NativeFailure(std::string("update ") + bpf_map__name(map), -err);
      continue;
    }
    for (uint32_t k = 0; k < count; k++) {
      if (bpf_map_delete_elem(fd, step.keys + size_t(k) * key_size) != 0 && errno != ENOENT)
        throw NativeFailure(std::string("delete from ") + bpf_map__name(map), errno);
    }
  }
}

CounterReading FirewallCore::ReadCounters() const {
  CounterReading reading;
  reading.totals = ReadCounterTotals(bpf_map__fd(skel_->maps.pcl_counters));
  int cpus = libbpf_num_possible_cpus();
  int fd = bpf_map__fd(skel_->maps.pcl_rule_hits);
  std::vector<uint64_t> per_cpu(cpus > 0 ? cpus : 1);
  uint32_t key = 0, next = 0;
  uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
    uint64_t sum = 0;
    for (uint64_t v : per_cpu) sum += v;
    reading.rule_hits.emplace_back(key, sum);
  }
  return reading;
}

std::vector<pcl_flow_record> FirewallCore::ReadFlows() const {
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
  return out;
}

// Returns once every BPF program that was running has finished: MEMBARRIER_CMD_GLOBAL is a
// synchronize_rcu, and the programs run inside RCU read sections. Without it (nohz_full
// kernels refuse the command), a pause far longer than any program's run.
static void WaitForRunningPrograms() {
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return;
  usleep(20 * 1000);
}

uint32_t FirewallCore::MoveTallyEpoch(const std::function<uint32_t(uint32_t)>& next) {
  std::lock_guard<std::mutex> lock(mutex_);
  int config_fd = bpf_map__fd(skel_->maps.data_config);
  pcl_config cfg = ReadConfig(config_fd);
  uint32_t was = cfg.tally_epoch;
  cfg.tally_epoch = next(was);
  WriteConfig(config_fd, cfg);
  return was;
}

std::vector<pcl_tally_record> FirewallCore::DrainTally() {
  std::lock_guard<std::mutex> draining(tally_mutex_);
  if (tally_drained_) {
    uint32_t was = MoveTallyEpoch(NextTallyEpoch);
    WaitForRunningPrograms();
    return tally_->Take(was % 2);
  }
  // The first drain of this process: an earlier helper's counts may wait in both halves (it may have
  // stopped between moving the epoch and taking the old half). Tallying pauses while both are taken
  // (epoch 0: every decision is recorded), then starts on the parity after the last one.
  uint32_t was = MoveTallyEpoch([](uint32_t) { return 0u; });
  WaitForRunningPrograms();
  std::vector<pcl_tally_record> taken = tally_->Take(TallySlots::kBothHalves);
  MoveTallyEpoch([was](uint32_t) { return NextTallyEpoch(was); });
  tally_drained_ = true;
  return taken;
}

uint64_t FirewallCore::MapMemory() {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t total = 0;
  bpf_map* map;
  bpf_object__for_each_map(map, skel_->obj) {
    total += Memlock(bpf_map__fd(map));
    if (bpf_map__type(map) != BPF_MAP_TYPE_ARRAY_OF_MAPS) continue;
    size_t which = 0;
    while (which < kInnerMapCount && bpf_map__name(map) != std::string(kInnerMaps[which].outer)) which++;
    for (uint32_t slot = 0; slot < 2; slot++) {
      uint32_t id = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(map), &slot, &id) != 0) continue;
      // Maps this process installed by the fd it kept; others (adopted) by id, which needs CAP_SYS_ADMIN.
      if (which < inner_fds_[slot].size() && inner_fds_[slot][which] >= 0) {
        total += Memlock(inner_fds_[slot][which]);
        continue;
      }
      Fd inner(bpf_map_get_fd_by_id(id));
      if (inner.get() >= 0) total += Memlock(inner.get());
    }
  }
  return total;
}

}  // namespace portcullis
