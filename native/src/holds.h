// SPDX-License-Identifier: GPL-2.0-only
// Ask mode's held flows from user space (portcullis.h "Ask mode"): reading them, answering them,
// forgetting them, and deciding a flow with the hooks' own decide() (the pcl_decide program, run by
// BPF_PROG_TEST_RUN). An answer is the verdict in pcl_hold_answers and, for a TCP connect whose SYN
// waits, a RST|ACK "from the remote" sent to the held socket over the host's own stack: with ack =
// the SYN's sequence number it re-arms the SYN's timer to its minimum (the SYN goes again and
// passes), with ack = sequence + 1 it refuses the connect. Plain C++: any thread (raw sockets are
// made under a mutex, everything else is one map or socket call at a time). The raw sockets live in
// the held process's network namespace (made there by a short-lived thread that joins it).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "portcullis.h"

namespace portcullis {

struct HoldFds {
  int holds;        // pcl_holds
  int answers;      // pcl_hold_answers
  int sockets;      // pcl_sk: marks the raw sockets as the injector (their packets always pass)
  int decide_prog;  // pcl_decide
};

// What answering one held flow did.
enum AnswerOutcome : int32_t {
  kAnswerGone = 0,      // no such held flow (it was established, refused or closed meanwhile)
  kAnswerRecorded = 1,  // the hooks apply the answer to the flow's next packet (UDP, or no SYN sent yet)
  kAnswerSent = 2,      // a waiting SYN's kick or refusal went out
  // < 0: -errno of sending the kick or refusal (the answer is recorded: the SYN's timer applies it)
};

// The kernel's HZ (jiffies per second), measured with bpf_jiffies64 over a tenth of a second and
// snapped to the usual values; 1000 when it cannot be measured (a longer hold, never a shorter one).
uint32_t MeasureHz();

class HoldDesk {
 public:
  explicit HoldDesk(HoldFds fds) : fds_(fds) {}
  ~HoldDesk();
  HoldDesk(const HoldDesk&) = delete;
  HoldDesk& operator=(const HoldDesk&) = delete;

  std::vector<pcl_hold_record> Read() const;
  std::vector<int32_t> Answer(const std::vector<pcl_hold_answer>& answers);
  // Takes entries and answers away (flows the helper has done with); missing ones are fine.
  void Forget(const std::vector<pcl_hold_key>& keys);
  // decide()'s PCL_ACT_* for each flow under the current rules.
  std::vector<uint8_t> Decide(const std::vector<pcl_decide_query>& queries) const;

 private:
  int Send(const pcl_hold& hold, bool allow);
  // A raw socket in the held process's network namespace: {fd or -errno, whether the caller closes it}.
  std::pair<int, bool> RawSocket(uint8_t family, uint32_t tgid);

  HoldFds fds_;
  std::mutex mutex_;  // guards the raw sockets
  // The helper's own namespace's raw sockets by family, kept. Those for another namespace (a
  // container's) are made per answer and closed: kept, they would keep a dead namespace alive.
  std::map<uint8_t, int> raw_;
};

}  // namespace portcullis
