// SPDX-License-Identifier: GPL-2.0-only
// MapFill: creates one fresh inner rule map and fills it from packed keys and values, on a thread
// of its own. Fills of different maps share nothing, so a swap runs them side by side and, for
// maps handed over early (Firewall.prepareMap), while JS still compiles the rest. A fill may start before all of its entries exist: it writes the first
// `ready` and waits for Extend to say more are final (JS writes the rest of the same buffers
// meanwhile). Touches no JS: the caller keeps the buffers alive until Wait returns.
#pragma once

#include <linux/bpf.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portcullis {

// Batch update, falling back to one update per element for map types without batch support.
// 0 or -errno.
int UpdateMany(int fd, const uint8_t* keys, const uint8_t* values, uint32_t count, uint32_t key_size,
               uint32_t value_size);

struct MapShape {
  bpf_map_type type;
  const char* name;
  uint32_t key_size;
  uint32_t value_size;
  uint32_t flags;
  uint32_t max_entries;
};

class MapFill {
 public:
  // keys may be null for an ARRAY map (keys are then the indexes 0..count-1). Only the first
  // `ready` entries (all when ready >= count) may be read before Extend says more.
  MapFill(const MapShape& shape, const uint8_t* keys, const uint8_t* values, uint32_t count,
          uint32_t ready = UINT32_MAX);
  ~MapFill();  // stops a fill still waiting for entries, joins the thread, closes the map unless taken
  MapFill(const MapFill&) = delete;
  MapFill& operator=(const MapFill&) = delete;

  void Start();  // create and fill on a new thread
  // The first `ready` entries are final now (never fewer than before). Safe from any thread.
  void Extend(uint32_t ready);
  // Waits for the work (every entry must be ready by now); 0 or a positive errno. `Failed()` says
  // which step failed.
  int Wait();
  const char* Failed() const { return failed_; }
  int fd() const { return fd_; }
  // The map's fd, now the caller's to close.
  int Take();
  uint32_t count() const { return count_; }
  // Thread CPU time spent creating and filling (on a busy machine wall time would mostly be waiting).
  double cpu_ms() const { return cpu_ms_; }
  // Whether this fill was made from exactly these inputs (a prepared fill is used only then).
  bool Matches(const uint8_t* keys, const uint8_t* values, uint32_t count, uint32_t max_entries) const;

 private:
  void Work();
  // Blocks until entries past `done` are ready (or the fill is stopped); how many are ready, 0 when stopped.
  uint32_t AwaitReady(uint32_t done);

  MapShape shape_;
  const uint8_t* keys_;
  const uint8_t* values_;
  uint32_t count_;
  std::vector<uint8_t> array_keys_;
  std::thread thread_;
  int fd_ = -1;
  int err_ = 0;
  const char* failed_ = "";
  double cpu_ms_ = 0;
  std::mutex mutex_;
  std::condition_variable more_;
  uint32_t ready_;      // guarded by mutex_
  bool stopped_ = false;  // guarded by mutex_
};

}  // namespace portcullis
