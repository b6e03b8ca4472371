// SPDX-License-Identifier: GPL-2.0-only
#include "event-pump.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>

#include "bpf-error.h"
#include "counters.h"

namespace portcullis {
namespace {

struct Batch {
  std::vector<uint8_t> events;
  uint64_t drops;
};

// With no events, the drop counter is still read this often (a drop needs a full ring, which
// wakes us anyway; this is the backstop). Stop() does not wait for it: it signals stop_fd_.
constexpr int kIdleWaitMs = 1000;
// Records gather this long after the first one before a drain: one JS call per window, not per event.
constexpr int kGatherMs = 5;
// A drain that found more than this share of the ring means the window is too long at this rate.
constexpr size_t kRingShareBeforeNoWait = 4;  // 1/4
constexpr size_t kMaxBatchBytes = 1 << 20;      // hand over at least every MiB

size_t RingBytes(int ring_fd) {
  bpf_map_info info = {};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(ring_fd, &info, &length) != 0) return 0;
  return info.max_entries;
}

}  // namespace

EventPump::EventPump(Napi::Env env, Napi::Function on_batch, int ring_fd, int counters_fd, uint64_t drops_baseline)
    : counters_fd_(counters_fd), ring_bytes_(RingBytes(ring_fd)), drops_reported_(drops_baseline) {
  ClearLibbpfLog();
  ring_ = ring_buffer__new(ring_fd, &EventPump::OnEvent, this, nullptr);
  if (!ring_) throw BpfError(env, "ring_buffer__new", errno);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    int error = errno;
    ring_buffer__free(ring_);
    ring_ = nullptr;
    throw BpfError(env, "eventfd (event thread stop signal)", error);
  }
  deliver_ = Napi::ThreadSafeFunction::New(env, on_batch, "portcullis-events", 0, 1);
  thread_ = std::thread(&EventPump::Run, this);
}

EventPump::~EventPump() { Stop(); }

void EventPump::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) { /* the flag alone stops it within kIdleWaitMs */ }
  if (thread_.joinable()) thread_.join();
  deliver_.Release();
  ring_buffer__free(ring_);
  ring_ = nullptr;
  close(stop_fd_);
  stop_fd_ = -1;
}

int EventPump::OnEvent(void* self, void* data, size_t size) {
  auto* pump = static_cast<EventPump*>(self);
  auto* bytes = static_cast<uint8_t*>(data);
  pump->drained_ += size;
  pump->pending_.insert(pump->pending_.end(), bytes, bytes + size);
  if (pump->pending_.size() >= kMaxBatchBytes) pump->Flush(0);
  return 0;
}

void EventPump::Flush(uint64_t drops) {
  auto* batch = new Batch{std::move(pending_), drops};
  pending_.clear();
  napi_status status = deliver_.NonBlockingCall(batch, [](Napi::Env env, Napi::Function callback, Batch* b) {
    std::unique_ptr<Batch> owned(b);
    if (env == nullptr || callback.IsEmpty()) return;
    callback.Call({Napi::Buffer<uint8_t>::Copy(env, owned->events.data(), owned->events.size()),
                   Napi::BigInt::New(env, owned->drops)});
  });
  if (status != napi_ok) delete batch;  // closing: nobody to deliver to
}

bool EventPump::Wait(int fd, int timeout_ms) {
  pollfd one = {fd, POLLIN, 0};
  return poll(&one, 1, timeout_ms) > 0 && (one.revents & POLLIN) != 0;
}

void EventPump::Run() {
  const int ring_wait_fd = ring_buffer__epoll_fd(ring_);
  bool gather = ring_bytes_ > 0;
  while (!stopping_) {
    pollfd fds[2] = {{ring_wait_fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int ready = poll(fds, 2, kIdleWaitMs);
    if (ready < 0 && errno != EINTR) break;
    if (stopping_) break;
    // Records are waiting: let more join them (sleeping on the stop signal only, so the kernel's
    // wakeups for new records do not end the window).
    if (gather && ready > 0 && (fds[0].revents & POLLIN) && Wait(stop_fd_, kGatherMs)) break;
    drained_ = 0;
    if (ring_buffer__consume(ring_) < 0) break;
    gather = ring_bytes_ > 0 && drained_ < ring_bytes_ / kRingShareBeforeNoWait;
    uint64_t drops_total = ReadCounterTotals(counters_fd_).drops;
    uint64_t new_drops = drops_total > drops_reported_ ? drops_total - drops_reported_ : 0;
    if (!pending_.empty() || new_drops > 0) {
      drops_reported_ = drops_total;
      Flush(new_drops);
    }
  }
}

}  // namespace portcullis
