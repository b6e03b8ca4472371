// SPDX-License-Identifier: GPL-2.0-only
#include "map-fill.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace portcullis {
namespace {

// The kernel's internal "not supported" (not in libc headers); some map types return it.
constexpr int kENOTSUPP = 524;

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

}  // namespace

int UpdateMany(int fd, const uint8_t* keys, const uint8_t* values, uint32_t count, uint32_t key_size,
               uint32_t value_size) {
  if (count == 0) return 0;
  uint32_t done = count;
  LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = 0, .flags = 0);
  int err = bpf_map_update_batch(fd, keys, values, &done, &opts);
  if (err == 0) return 0;
  if (errno != EINVAL && errno != ENOTSUP && errno != EOPNOTSUPP && errno != kENOTSUPP) return -errno;
  for (uint32_t i = 0; i < count; i++) {
    if (bpf_map_update_elem(fd, keys + size_t(i) * key_size, values + size_t(i) * value_size, BPF_ANY) != 0)
      return -errno;
  }
  return 0;
}

MapFill::MapFill(const MapShape& shape, const uint8_t* keys, const uint8_t* values, uint32_t count, uint32_t ready)
    : shape_(shape), keys_(keys), values_(values), count_(count), ready_(ready < count ? ready : count) {
  if (shape_.max_entries < count_) shape_.max_entries = count_;
  if (shape_.max_entries == 0) shape_.max_entries = 1;
  if (!keys_) {
    array_keys_.resize(size_t(count_) * sizeof(uint32_t));
    for (uint32_t i = 0; i < count_; i++) memcpy(array_keys_.data() + size_t(i) * 4, &i, 4);
    keys_ = array_keys_.data();
  }
}

MapFill::~MapFill() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }
  more_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

void MapFill::Start() { thread_ = std::thread([this] { Work(); }); }

void MapFill::Extend(uint32_t ready) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ready > count_) ready = count_;
    if (ready <= ready_) return;
    ready_ = ready;
  }
  more_.notify_one();
}

uint32_t MapFill::AwaitReady(uint32_t done) {
  std::unique_lock<std::mutex> lock(mutex_);
  more_.wait(lock, [&] { return stopped_ || ready_ > done; });
  return stopped_ ? 0 : ready_;
}

int MapFill::Wait() {
  if (thread_.joinable()) thread_.join();
  return err_;
}

int MapFill::Take() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

bool MapFill::Matches(const uint8_t* keys, const uint8_t* values, uint32_t count, uint32_t max_entries) const {
  if (max_entries < count) max_entries = count;
  if (max_entries == 0) max_entries = 1;
  return (keys == nullptr || keys == keys_) && values == values_ && count == count_ && max_entries == shape_.max_entries;
}

void MapFill::Work() {
  double started = ThreadCpuMs();
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = shape_.flags);
  fd_ = bpf_map_create(shape_.type, shape_.name, shape_.key_size, shape_.value_size, shape_.max_entries, &opts);
  if (fd_ < 0) {
    err_ = errno;
    failed_ = "create";
  } else {
    // Batches as entries become ready (waiting costs no CPU time).
    for (uint32_t done = 0; done < count_;) {
      uint32_t ready = AwaitReady(done);
      if (ready == 0) {
        err_ = ECANCELED;
        failed_ = "fill (stopped before all entries were ready)";
        break;
      }
      const size_t from = size_t(done);
      if (int err = UpdateMany(fd_, keys_ + from * shape_.key_size, values_ + from * shape_.value_size, ready - done,
                               shape_.key_size, shape_.value_size);
          err != 0) {
        err_ = -err;
        failed_ = "fill";
        break;
      }
      done = ready;
    }
  }
  cpu_ms_ = ThreadCpuMs() - started;
}

}  // namespace portcullis
