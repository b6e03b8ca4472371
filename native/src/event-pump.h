// SPDX-License-Identifier: GPL-2.0-only
// The ring-buffer consumer: a background thread that drains pcl_events and hands batches of raw
// events (plus the number of events the kernel dropped since the last batch) to a JS callback
// through a ThreadSafeFunction. Owned by Firewall; its life ends in Stop().
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

struct ring_buffer;

namespace portcullis {

class EventPump {
 public:
  // Main thread. Throws a JS error when the ring buffer cannot be opened. drops_baseline: the
  // kernel's drop count already reported (the first batch reports drops counted after it).
  EventPump(Napi::Env env, Napi::Function on_batch, int ring_fd, int counters_fd, uint64_t drops_baseline);
  ~EventPump();
  EventPump(const EventPump&) = delete;
  EventPump& operator=(const EventPump&) = delete;

  // Main thread: stops the pump thread, waits for it, releases the callback. Idempotent.
  void Stop();

 private:
  void Run();                                               // pump thread
  static int OnEvent(void* self, void* data, size_t size);  // pump thread, inside ring_buffer__poll
  void Flush(uint64_t drops);                               // pump thread

  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  ring_buffer* ring_ = nullptr;
  int counters_fd_;
  uint64_t drops_reported_ = 0;
  std::vector<uint8_t> pending_;
  Napi::ThreadSafeFunction deliver_;
  std::thread thread_;
};

}  // namespace portcullis
