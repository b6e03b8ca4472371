// SPDX-License-Identifier: GPL-2.0-only
#include "event-pump.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <memory>

#include "bpf-error.h"
#include "counters.h"

namespace portcullis {
namespace {

struct Batch {
  std::vector<uint8_t> events;
  uint64_t drops;
};

constexpr int kPollMs = 50;                  // bounds how long Stop() waits for the thread
constexpr size_t kMaxBatchBytes = 1 << 20;   // hand over at least every MiB

}  // namespace

EventPump::EventPump(Napi::Env env, Napi::Function on_batch, int ring_fd, int counters_fd, uint64_t drops_baseline)
    : counters_fd_(counters_fd), drops_reported_(drops_baseline) {
  ClearLibbpfLog();
  ring_ = ring_buffer__new(ring_fd, &EventPump::OnEvent, this, nullptr);
  if (!ring_) throw BpfError(env, "ring_buffer__new", errno);
  deliver_ = Napi::ThreadSafeFunction::New(env, on_batch, "portcullis-events", 0, 1);
  thread_ = std::thread(&EventPump::Run, this);
}

EventPump::~EventPump() { Stop(); }

void EventPump::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  deliver_.Release();
  ring_buffer__free(ring_);
  ring_ = nullptr;
}

int EventPump::OnEvent(void* self, void* data, size_t size) {
  auto* pump = static_cast<EventPump*>(self);
  auto* bytes = static_cast<uint8_t*>(data);
  pump->pending_.insert(pump->pending_.end(), bytes, bytes + size);
  // A positive return stops this poll round so a huge backlog is delivered in pieces.
  return pump->pending_.size() >= kMaxBatchBytes ? 1 : 0;
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

void EventPump::Run() {
  while (!stopping_) {
    int n = ring_buffer__poll(ring_, kPollMs);
    if (n < 0 && n != -EINTR) break;
    uint64_t drops_total = ReadCounterTotals(counters_fd_).drops;
    uint64_t new_drops = drops_total > drops_reported_ ? drops_total - drops_reported_ : 0;
    if (!pending_.empty() || new_drops > 0) {
      drops_reported_ = drops_total;
      Flush(new_drops);
    }
  }
}

}  // namespace portcullis
