// SPDX-License-Identifier: GPL-2.0-only
#include "counters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

#include "portcullis.h"

namespace portcullis {

CounterTotals ReadCounterTotals(int counters_fd) {
  CounterTotals totals;
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return totals;
  std::vector<pcl_counters> per_cpu(cpus);
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(counters_fd, &zero, per_cpu.data()) != 0) return totals;
  for (const auto& c : per_cpu) {
    totals.allowed += c.allowed;
    totals.blocked += c.blocked;
    totals.events += c.events;
    totals.drops += c.drops;
  }
  return totals;
}

}  // namespace portcullis
