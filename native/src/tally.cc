// SPDX-License-Identifier: GPL-2.0-only
#include "tally.h"

#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>

#include "native-error.h"

namespace portcullis {
namespace {

// The kernel lays an mmapped array's values out at multiples of 8 bytes from the mapping's start.
static_assert(sizeof(pcl_tally_record) % 8 == 0, "pcl_tally values must be laid out back to back");

struct KeyBytesLess {
  bool operator()(const pcl_tally_key& a, const pcl_tally_key& b) const { return std::memcmp(&a, &b, sizeof(a)) < 0; }
};

void Add(pcl_tally_counts& into, const pcl_tally_counts& c) {
  into.connections += c.connections;
  into.bytes_out += c.bytes_out;
  into.bytes_in += c.bytes_in;
  into.packets_out += c.packets_out;
  into.packets_in += c.packets_in;
  into.last_ns = std::max(into.last_ns, c.last_ns);
}

}  // namespace

uint32_t TallyEntries() {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) throw NativeFailure("count possible CPUs", -cpus);
  return uint32_t(cpus) * 2 * PCL_TALLY_SLOTS;
}

uint32_t NextTallyEpoch(uint32_t epoch) { return epoch + 1 >= PCL_TALLY_CLAIMING ? 1 : epoch + 1; }

TallySlots::TallySlots(int map_fd, uint32_t entries) : entries_(entries) {
  size_t page = size_t(sysconf(_SC_PAGESIZE));
  bytes_ = (size_t(entries) * sizeof(pcl_tally_record) + page - 1) / page * page;
  void* at = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
  if (at == MAP_FAILED) throw NativeFailure("map pcl_tally", errno);
  slots_ = static_cast<pcl_tally_record*>(at);
}

TallySlots::~TallySlots() {
  if (slots_) munmap(slots_, bytes_);
}

std::vector<pcl_tally_record> TallySlots::Take(int parity) {
  std::map<pcl_tally_key, pcl_tally_counts, KeyBytesLess> flows;
  for (uint32_t half = 0; half < entries_ / PCL_TALLY_SLOTS; half++) {
    if (parity != kBothHalves && int(half % 2) != parity) continue;
    pcl_tally_record* slot = slots_ + size_t(half) * PCL_TALLY_SLOTS;
    for (uint32_t i = 0; i < PCL_TALLY_SLOTS; i++, slot++) {
      if (slot->key.epoch == 0) continue;
      if (slot->key.epoch != PCL_TALLY_CLAIMING) Add(flows[slot->key], slot->counts);
      std::memset(slot, 0, sizeof(*slot));
    }
  }
  std::vector<pcl_tally_record> out;
  out.reserve(flows.size());
  for (const auto& [key, counts] : flows) out.push_back(pcl_tally_record{key, counts});
  return out;
}

}  // namespace portcullis
