// SPDX-License-Identifier: GPL-2.0-only
// Sums of the per-CPU counters (any thread: plain map reads).
#pragma once

#include <cstdint>

namespace portcullis {

struct CounterTotals {
  uint64_t allowed = 0;
  uint64_t blocked = 0;
  uint64_t events = 0;
  uint64_t drops = 0;
};

CounterTotals ReadCounterTotals(int counters_fd);

}  // namespace portcullis
