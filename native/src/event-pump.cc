// SPDX-License-Identifier: GPL-2.0-only
#include "event-pump.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>

#include "native-error.h"
#include "counters.h"
#include "portcullis.h"

namespace portcullis {
namespace {

struct Batch {
  std::vector<uint8_t> events;
  uint64_t drops;
};

// The ring is drained at least this often: a known app's routine records do not wake us (see
// wakeup_flags in bpf/events.bpf.h), and the drop counter is read then too. Stop() does not wait
// for it: it signals stop_fd_.
constexpr int kDrainEveryMs = 100;
// Records gather up to this long after the first one before a drain: one JS call per window, not per event.
constexpr int64_t kGatherNs = 5'000'000;
// ...but only at rates where calling JS per wakeup costs (2000 events/s): below it, an event goes
// to JS at once (the helper reads a new process's /proc entry from it, before the process exits).
constexpr double kGatherFromBytesPerNs = 2000.0 * sizeof(pcl_event) / 1e9;
// ...but at the last drain's rate, no more than this share of the ring may fill meanwhile.
constexpr size_t kRingShareToGather = 8;  // 1/8
constexpr size_t kMaxBatchBytes = 1 << 20;  // hand over at least every MiB

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

size_t RingBytes(int ring_fd) {
  bpf_map_info info = {};
  uint32_t length = sizeof(info);
  if (bpf_obj_get_info_by_fd(ring_fd, &info, &length) != 0) return 0;
  return info.max_entries;
}

}  // namespace

EventPump::EventPump(Napi::Env env, Napi::Function on_batch, int ring_fd, int counters_fd, int exe_paths_fd,
                     uint64_t drops_baseline)
    : counters_fd_(counters_fd),
      exe_paths_fd_(exe_paths_fd),
      ring_bytes_(RingBytes(ring_fd)),
      drops_reported_(drops_baseline) {
  ClearLibbpfLog();
  ring_ = ring_buffer__new(ring_fd, &EventPump::OnEvent, this, nullptr);
  if (!ring_) throw NativeFailure("ring_buffer__new", errno);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    int error = errno;
    ring_buffer__free(ring_);
    ring_ = nullptr;
    throw NativeFailure("eventfd (event thread stop signal)", error);
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
  if (write(stop_fd_, &one, sizeof(one)) < 0) { /* the flag alone stops it within kDrainEveryMs */ }
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
  if (size >= sizeof(pcl_event)) pump->NameExecutable(bytes);
  pump->pending_.insert(pump->pending_.end(), bytes, bytes + size);
  if (pump->pending_.size() >= kMaxBatchBytes) pump->Flush(0);
  return 0;
}

void EventPump::NameExecutable(const uint8_t* event) {
  pcl_exe_key key;
  std::memcpy(&key, event + offsetof(pcl_event, exe), sizeof(key));
  if (key.dev == 0 && key.ino == 0) return;
  if (!named_.emplace(key.dev, key.ino).second) return;
  pcl_exe_record record{};
  record.head.kind = PCL_EV_EXE;
  record.head.exe = key;
  if (bpf_map_lookup_elem(exe_paths_fd_, &key, &record.path) != 0) record.path = pcl_exe_path{};
  auto* bytes = reinterpret_cast<const uint8_t*>(&record);
  pending_.insert(pending_.end(), bytes, bytes + sizeof(record));
}

void EventPump::Flush(uint64_t drops) {
  auto* batch = new Batch{std::move(pending_), drops};
  pending_.clear();
  named_.clear();
  napi_status status = deliver_.NonBlockingCall(batch, [](Napi::Env env, Napi::Function callback, Batch* b) {
    std::unique_ptr<Batch> owned(b);
    if (env == nullptr || callback.IsEmpty()) return;
    callback.Call({Napi::Buffer<uint8_t>::Copy(env, owned->events.data(), owned->events.size()),
                   Napi::BigInt::New(env, owned->drops)});
  });
  if (status != napi_ok) delete batch;  // closing: nobody to deliver to
}

bool EventPump::Wait(int fd, int64_t timeout_ns) {
  pollfd one = {fd, POLLIN, 0};
  timespec timeout = {static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
  return ppoll(&one, 1, &timeout, nullptr) > 0 && (one.revents & POLLIN) != 0;
}

void EventPump::Run() {
  const int ring_wait_fd = ring_buffer__epoll_fd(ring_);
  const double gather_budget = static_cast<double>(ring_bytes_ / kRingShareToGather);
  int64_t gather_ns = 0;
  int64_t last_drain_ns = NowNs();
  while (!stopping_) {
    pollfd fds[2] = {{ring_wait_fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int ready = poll(fds, 2, kDrainEveryMs);
    if (ready < 0 && errno != EINTR) break;
    if (stopping_) break;
    // Records are waiting: let more join them (sleeping on the stop signal only, so the kernel's
    // wakeups for new records do not end the window).
    if (gather_ns > 0 && ready > 0 && (fds[0].revents & POLLIN) && Wait(stop_fd_, gather_ns)) break;
    drained_ = 0;
    if (ring_buffer__consume(ring_) < 0) break;
    // The next window: as long as the ring, filling at the rate just seen, stays within its budget.
    int64_t now_ns = NowNs();
    double bytes_per_ns = static_cast<double>(drained_) / static_cast<double>(std::max<int64_t>(now_ns - last_drain_ns, 1));
    last_drain_ns = now_ns;
    if (ring_bytes_ == 0 || bytes_per_ns < kGatherFromBytesPerNs) gather_ns = 0;
    else gather_ns = std::min<int64_t>(kGatherNs, static_cast<int64_t>(gather_budget / bytes_per_ns));
    uint64_t drops_total = ReadCounterTotals(counters_fd_).drops;
    uint64_t new_drops = drops_total > drops_reported_ ? drops_total - drops_reported_ : 0;
    if (!pending_.empty() || new_drops > 0) {
      drops_reported_ = drops_total;
      Flush(new_drops);
    }
  }
}

}  // namespace portcullis
