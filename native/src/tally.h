// SPDX-License-Identifier: GPL-2.0-only
// pcl_tally as user space reads it (bpf/portcullis.h, struct pcl_tally_key): the map's array,
// mmapped, one region per possible CPU with a half per epoch parity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "portcullis.h"

namespace portcullis {

// The entries pcl_tally is made with: both halves for every possible CPU.
uint32_t TallyEntries();

// The epoch after `epoch`: epochs run 1 to 0xfffffffe and then 1 again, so the parity alternates
// and neither 0 (tallying off) nor PCL_TALLY_CLAIMING is ever one.
uint32_t NextTallyEpoch(uint32_t epoch);

class TallySlots {
 public:
  static constexpr int kBothHalves = -1;

  TallySlots(int map_fd, uint32_t entries);  // throws NativeFailure when it cannot map them
  ~TallySlots();
  TallySlots(const TallySlots&) = delete;
  TallySlots& operator=(const TallySlots&) = delete;

  // Takes the counts in the half of every CPU's region for epoch parity `parity` (0 or 1; or both
  // halves) and frees their slots; the counts come summed per flow over the CPUs. Only for halves no
  // program writes any more: the caller has moved the epoch on and waited for running programs.
  std::vector<pcl_tally_record> Take(int parity);

 private:
  pcl_tally_record* slots_ = nullptr;
  size_t bytes_ = 0;
  uint32_t entries_ = 0;
};

}  // namespace portcullis
