// SPDX-License-Identifier: GPL-2.0-only
// The ring-buffer consumer: a background thread that drains pcl_events and hands batches of raw
// events (plus the number of events the kernel dropped since the last batch) to a JS callback
// through a ThreadSafeFunction. Owned by Firewall; its life ends in Stop().
//
// Batching: the kernel wakes the consumer for the first record after it caught up, so a consumer
// that drains at once is woken (and calls into JS) for almost every event. Instead, once records
// are waiting, the thread lets them gather for a short window before it drains them, so JS is
// called at most about once per window, with everything that arrived in it. Only under load:
// at low rates each event goes to JS at once. The window is cut to what the ring holds at the
// rate of the last drain (a small ring or a burst gets short ones).
//
// Executables: before the first event of each executable in a batch, the thread puts a
// pcl_exe_record with the path the kernel recorded at exec (pcl_exe_path), so a batch names every
// executable its events carry, also of processes gone by the time JS sees it, and JS never reads a
// map for it. One lookup per executable per batch.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "portcullis.h"

struct ring_buffer;

namespace portcullis {

class EventPump {
 public:
  // Main thread. Throws NativeFailure when the ring buffer cannot be opened. drops_baseline: the
  // kernel's drop count already reported (the first batch reports drops counted after it).
  EventPump(Napi::Env env, Napi::Function on_batch, int ring_fd, int counters_fd, int exe_paths_fd,
            uint64_t drops_baseline);
  ~EventPump();
  EventPump(const EventPump&) = delete;
  EventPump& operator=(const EventPump&) = delete;

  // Main thread: stops the pump thread (woken at once), waits for it, releases the callback. Idempotent.
  void Stop();

 private:
  void Run();                                               // pump thread
  bool Wait(int fd, int64_t timeout_ns);                    // pump thread: true when fd is readable
  static int OnEvent(void* self, void* data, size_t size);  // pump thread, inside ring_buffer__consume
  void Flush(uint64_t drops);                               // pump thread
  void NameExecutable(const uint8_t* event);                // pump thread: a pcl_exe_record if new in the batch

  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  ring_buffer* ring_ = nullptr;
  int counters_fd_;
  int exe_paths_fd_;
  std::set<std::pair<uint64_t, uint64_t>> named_;  // executables (dev, ino) with a record in pending_
  int stop_fd_ = -1;          // eventfd: Stop() wakes the thread through it
  size_t ring_bytes_ = 0;     // the ring's size (0: unknown, then no gathering window)
  size_t drained_ = 0;        // record bytes taken by the current drain
  uint64_t drops_reported_ = 0;
  std::vector<uint8_t> pending_;
  Napi::ThreadSafeFunction deliver_;
  std::thread thread_;
};

}  // namespace portcullis
