// SPDX-License-Identifier: GPL-2.0-only
// FirewallCore: the loaded product skeleton, its cgroup and tracing links and the inner rule maps
// this process installed. Plain C++ (no JS): every method may run on any thread and throws
// NativeFailure. What changes the config word or the inner maps is serialized by one mutex; reads
// of counters and flows need none (each map operation is atomic in the kernel).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "counters.h"
#include "holds.h"
#include "map-fill.h"
#include "pins.h"
#include "portcullis.h"
#include "tally.h"

struct portcullis_bpf;
struct bpf_link;
struct bpf_program;

namespace portcullis {

// One generation of rules lives in a fresh inner map per outer ARRAY_OF_MAPS (kInnerMaps order).
struct InnerSpec {
  const char* outer;
  bpf_map_type type;
  uint32_t key_size;
  uint32_t value_size;
  uint32_t flags;
  const char* field;  // its name on the JS side (the compiled ruleset's property)
};

extern const InnerSpec kInnerMaps[];
extern const size_t kInnerMapCount;

// The kInnerMaps index of a JS field name, or -1.
int InnerIndex(const std::string& field);

// One inner map of a swap: its packed entries (in buffers the caller keeps alive until the swap
// returns) and, when it was prepared ahead (Firewall.prepareMap), the fill already under way.
struct SwapInput {
  const uint8_t* keys = nullptr;  // null for the ARRAY map: its keys are the indexes
  const uint8_t* values = nullptr;
  uint32_t count = 0;
  uint32_t max_entries = 0;
  std::unique_ptr<MapFill> prepared;  // a fill of exactly this input, or null
};

struct SwapResult {
  uint32_t generation = 0;
  uint64_t written = 0;
  uint64_t replaced = 0;
  std::vector<double> fill_ms;  // per inner map (kInnerMaps order): thread CPU time of its fill
};

// One step of an in-place change of the active slot's inner maps.
struct DiffStep {
  size_t map;  // kInnerMaps index
  bool upsert;  // else delete
  const uint8_t* keys;
  const uint8_t* values;  // upserts only
  uint32_t count;
};

// The app binding maps (portcullis.h "Executables and processes"): pcl_exe, pcl_cgrp_app,
// pcl_procs, pcl_units, pcl_path_app.
enum class BindingMap { kExe, kCgroup, kTgid, kUnit, kPath };

// One step of a change of the app bindings (key -> value, as the map holds them). kUnclaim (cgroup
// map only): the cgroups bound by a claim of one of the app ids in `keys` (u32 each) become units
// of no known app.
struct BindingStep {
  BindingMap map;
  enum class Op { kUpsert, kDelete, kClear, kUnclaim } op;
  const uint8_t* keys = nullptr;
  const uint8_t* values = nullptr;
  size_t keys_bytes = 0;
  size_t values_bytes = 0;
};

struct CounterReading {
  CounterTotals totals;
  std::vector<std::pair<uint32_t, uint64_t>> rule_hits;  // rule id, hits summed over CPUs
};

class FirewallCore {
 public:
  // Loads the programs and attaches them to `cgroup` with links pinned under pin_dir, or adopts
  // what is pinned there (maps by pin, cgroup links re-pointed at this build's programs).
  // storage_fast_path: the fast path reads socket storage even where the kernel has
  // bpf_cast_to_kern_ctx (as kernels before 6.2 run it); only used when the maps are created.
  static std::shared_ptr<FirewallCore> Open(const std::string& cgroup, const std::string& pin_dir, uint32_t ring_bytes,
                                            bool storage_fast_path);
  // Detaches every pinned link under pin_dir (enforcement stops even if another process still
  // holds a link), then removes the pins.
  static void Detach(const std::string& pin_dir);

  ~FirewallCore();  // closes fds only: pins, and so enforcement, stay
  FirewallCore(const FirewallCore&) = delete;
  FirewallCore& operator=(const FirewallCore&) = delete;

  bool adopted() const { return adopted_; }
  // Set when pins of a build whose maps differ were found: which map differed, and how. That
  // build's programs stay attached beside these until RetireOldBuild.
  const std::string& replaced() const { return replaced_; }
  // Detaches the programs of the build replaced (once this one enforces the rules); answers how
  // many links were retired and what could not be. Also after a takeover an earlier helper did
  // not finish.
  Retirement RetireOldBuild();
  // Whether the loaded programs' fast path finds sockets' pcl_slots entries with
  // bpf_cast_to_kern_ctx (else it reads socket storage): their read-only data, an adopted pin's.
  bool kern_ctx_cast() const;
  // The kernel's event drop count when this firewall was opened (drops before it are not ours to report).
  uint64_t drops_at_open() const { return drops_at_open_; }
  int events_fd() const;
  int counters_fd() const;
  int exe_paths_fd() const;
  // fd of a product map or program by name (the test object reuses them), or -1.
  int MapFd(const char* name) const;
  int ProgramFd(const char* name) const;

  // Fills fresh inner maps (taking prepared fills), installs them in the inactive slot, then flips
  // the generation word; frees the previous generation's big maps.
  SwapResult Swap(std::vector<SwapInput>& inputs, uint8_t global_default, uint8_t v6_split);
  // Runs the steps in order on the active slot's maps, then bumps the generation by 2 (same slot:
  // every socket's cached verdict is re-evaluated). Returns the new generation.
  uint32_t ApplyDiff(const std::vector<DiffStep>& steps);
  // Turns enforcement on or off; a change bumps the generation by 2 (same slot), so every socket's
  // cached verdict is decided again.
  void SetEnforcing(bool on);
  // Ask mode: how long a connect is held (0: nobody asks, refuse) and whose traffic is never held.
  void SetAsk(uint32_t hold_ms, uint32_t helper_tgid);
  // Attaches the program held connects need (sock_ops), once: before the first ruleset that can hold.
  void AttachHolds();
  // The held flows (ask mode).
  HoldDesk& holds() { return *holds_; }
  void UpdateBindings(const std::vector<BindingStep>& steps);
  CounterReading ReadCounters() const;
  // Live per-socket totals: pcl_flows as records.
  std::vector<pcl_flow_record> ReadFlows() const;
  // The counts of tallied flows (pcl_tally) since the last drain, summed over CPUs: moves the epoch
  // on, waits until no program runs with the old one, then takes and frees the old epoch's half. The
  // first drain turns tallying on (epoch 0 records every decision) and takes what an earlier helper left.
  std::vector<pcl_tally_record> DrainTally();
  // Kernel memory charged to the maps (fdinfo memlock), inner rule maps included.
  uint64_t MapMemory();

 private:
  FirewallCore() = default;
  void Load(const std::string& cgroup, const std::string& pin_dir, uint32_t ring_bytes, bool storage_fast_path);
  // A cgroup to attach to: its fd, and its id, read once (one fstat) for all the programs attached or adopted.
  struct CgroupTarget {
    int fd = -1;
    uint64_t id = 0;
  };
  void AttachOrAdopt(int cgroup_fd, const std::string& pin_dir);
  // Attaches one program (or adopts its pinned link); adopt_only: only adopts. Answers whether it is attached.
  bool AttachOne(const char* program, bool tracing, const CgroupTarget& cgroup, const std::string& pin_dir, bool adopt_only);
  // Attaches this build's tracing program in place of the one pinned at `path` (see the .cc).
  void ReplaceTracingLink(bpf_program* prog, const std::string& path);
  bool RunsThisBuild(int link_fd, bpf_program* prog) const;
  void CloseInnerFds(uint32_t slot);
  // Sets pcl_config.tally_epoch to what `next` makes of it; answers the epoch it was.
  uint32_t MoveTallyEpoch(const std::function<uint32_t(uint32_t)>& next);
  int OuterFd(size_t inner) const;

  ::portcullis_bpf* skel_ = nullptr;
  std::vector<bpf_link*> links_;
  CgroupTarget cgroup_;         // the cgroup attached to (its own fd), kept for AttachHolds
  std::string pin_dir_;
  bool holds_attached_ = false;  // guarded by mutex_ after Load
  bool adopted_ = false;
  // Every map of the object was found pinned and is reused: the maps a pinned program of this
  // build was loaded with are these ones.
  bool every_map_adopted_ = false;
  std::string replaced_;
  uint64_t drops_at_open_ = 0;
  std::mutex mutex_;
  // One drain of pcl_tally at a time: a drain takes the half of the epoch it moved from.
  std::mutex tally_mutex_;
  std::unique_ptr<TallySlots> tally_;  // pcl_tally, mmapped (made at Load)
  bool tally_drained_ = false;         // guarded by tally_mutex_: the first drain takes both halves
  // The inner rule maps this process installed, per slot, in kInnerMaps order (-1: not known, e.g.
  // adopted from a previous helper). Diffs write through these: reopening a map by id
  // (BPF_MAP_GET_FD_BY_ID) would need CAP_SYS_ADMIN. Guarded by mutex_.
  std::vector<int> inner_fds_[2];
  std::unique_ptr<HoldDesk> holds_;
  uint32_t hz_ = 0;  // the kernel's HZ, measured at the first SetAsk (guarded by mutex_)
};

}  // namespace portcullis
