// SPDX-License-Identifier: GPL-2.0-only
#include "holds.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <time.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "native-error.h"

namespace portcullis {
namespace {

uint32_t ChecksumAdd(uint32_t sum, const void* data, size_t len) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(bytes[i]) << 8 | bytes[i + 1];
  if (len & 1) sum += uint32_t(bytes[len - 1]) << 8;
  return sum;
}

uint16_t ChecksumFold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(uint16_t(~sum));
}

// The segment "from the remote": RST|ACK, never answered (no reset is sent in reply to a reset), so
// nothing leaves the host. Its checksum covers the pseudo-header of `from` -> `to`.
tcphdr ResetSegment(const pcl_hold& hold, uint32_t ack, const uint8_t* pseudo, size_t pseudo_len) {
  tcphdr th{};
  th.source = htons(hold.remote_port);
  th.dest = htons(hold.local_port);
  th.ack_seq = htonl(ack);
  th.doff = sizeof(th) / 4;
  th.rst = 1;
  th.ack = 1;
  th.check = ChecksumFold(ChecksumAdd(ChecksumAdd(0, pseudo, pseudo_len), &th, sizeof(th)));
  return th;
}

}  // namespace

namespace {

uint32_t JiffiesNow(int prog) {
  char packet[64] = {};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet), .repeat = 1);
  return bpf_prog_test_run_opts(prog, &opts) == 0 ? opts.retval : 0;
}

double MonotonicSeconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec + now.tv_nsec / 1e9;
}

}  // namespace

uint32_t MeasureHz() {
  // A tc program answering bpf_jiffies64() (its low 32 bits: enough for a difference).
  const bpf_insn program[] = {
      {BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_jiffies64},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int prog = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "pcl_jiffies", "GPL", program, 2, nullptr);
  if (prog < 0) return 1000;
  double started = MonotonicSeconds();
  uint32_t first = JiffiesNow(prog);
  usleep(100'000);
  uint32_t last = JiffiesNow(prog);
  double elapsed = MonotonicSeconds() - started;
  close(prog);
  if (first == 0 || last == 0 || elapsed <= 0) return 1000;
  double hz = (last - first) / elapsed;
  for (uint32_t usual : {100u, 250u, 300u, 1000u})
    if (hz > usual * 0.9 && hz < usual * 1.1) return usual;
  return hz > 0 ? uint32_t(hz + 0.5) : 1000;
}

HoldDesk::~HoldDesk() {
  for (auto& [family, fd] : raw_) close(fd);
}

std::vector<pcl_hold_record> HoldDesk::Read() const {
  std::vector<pcl_hold_record> out;
  pcl_hold_key key{}, next{};
  pcl_hold_key* prev = nullptr;
  while (bpf_map_get_next_key(fds_.holds, prev, &next) == 0) {
    key = next;
    prev = &key;
    pcl_hold_record record{};
    record.key = key;
    if (bpf_map_lookup_elem(fds_.holds, &key, &record.hold) != 0) continue;  // gone meanwhile
    uint8_t answer = PCL_ACT_NONE;
    if (bpf_map_lookup_elem(fds_.answers, &key, &answer) == 0) record.answer = answer;
    out.push_back(record);
  }
  return out;
}

std::vector<int32_t> HoldDesk::Answer(const std::vector<pcl_hold_answer>& answers) {
  std::vector<int32_t> outcomes;
  outcomes.reserve(answers.size());
  for (const pcl_hold_answer& answer : answers) {
    if (answer.verdict != PCL_ACT_ALLOW && answer.verdict != PCL_ACT_BLOCK)
      throw NativeFailure("answer held flow", EINVAL, "a verdict must be PCL_ACT_ALLOW or PCL_ACT_BLOCK");
    pcl_hold hold{};
    if (bpf_map_lookup_elem(fds_.holds, &answer.key, &hold) != 0) {
      outcomes.push_back(kAnswerGone);
      continue;
    }
    if (bpf_map_update_elem(fds_.answers, &answer.key, &answer.verdict, BPF_ANY) != 0)
      throw NativeFailure("write the answer to a held flow", errno);
    // Read again after the answer is in: a SYN dropped before it is counted by now (the egress
    // program counts it, then reads the answer), one dropped after it never is.
    if (bpf_map_lookup_elem(fds_.holds, &answer.key, &hold) != 0) {
      bpf_map_delete_elem(fds_.answers, &answer.key);  // established or closed meanwhile
      outcomes.push_back(kAnswerGone);
      continue;
    }
    if (hold.proto != PCL_PROTO_TCP || hold.dropped == 0) {
      outcomes.push_back(kAnswerRecorded);
      continue;
    }
    int err = Send(hold, answer.verdict == PCL_ACT_ALLOW);
    outcomes.push_back(err == 0 ? kAnswerSent : -err);
  }
  return outcomes;
}

void HoldDesk::Forget(const std::vector<pcl_hold_key>& keys) {
  for (const pcl_hold_key& key : keys) {
    bpf_map_delete_elem(fds_.holds, &key);
    bpf_map_delete_elem(fds_.answers, &key);
  }
}

std::vector<uint8_t> HoldDesk::Decide(const std::vector<pcl_decide_query>& queries) const {
  std::vector<uint8_t> actions;
  actions.reserve(queries.size());
  for (const pcl_decide_query& query : queries) {
    pcl_decide_query packet = query;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &packet, .data_size_in = sizeof(packet), .repeat = 1);
    if (bpf_prog_test_run_opts(fds_.decide_prog, &opts) != 0) throw NativeFailure("decide a held flow (pcl_decide)", errno);
    actions.push_back(uint8_t(opts.retval));
  }
  return actions;
}

// A raw socket sending whole IP packets, in the network namespace of the held process (its own stack
// must receive the answer; one that has exited: the helper's). Its socket storage marks it the
// injector, so our own egress programs let its packets pass whatever the rules.
std::pair<int, bool> HoldDesk::RawSocket(uint8_t family, uint32_t tgid) {
  struct stat own {}, theirs {};
  if (stat("/proc/self/ns/net", &own) != 0) return {-errno, false};
  std::string ns_path = "/proc/" + std::to_string(tgid) + "/ns/net";
  bool foreign = tgid != 0 && stat(ns_path.c_str(), &theirs) == 0 && theirs.st_ino != own.st_ino;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!foreign) {
    auto found = raw_.find(family);
    if (found != raw_.end()) return {found->second, false};
  }
  int made = -1, err = 0;
  auto make = [&] {
    made = socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (made < 0) err = errno;
  };
  if (foreign) {
    // setns changes only the calling thread's namespace: a thread of its own joins it, makes the
    // socket (a socket stays in the namespace it was made in) and ends.
    std::thread maker([&] {
      int ns_fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns_fd < 0 || setns(ns_fd, CLONE_NEWNET) != 0) {
        err = errno;
        if (ns_fd >= 0) close(ns_fd);
        return;
      }
      close(ns_fd);
      make();
    });
    maker.join();
  } else {
    make();
  }
  if (made < 0) return {-err, false};
  pcl_sock mark{};
  mark.flags = PCL_SK_OWNED | PCL_SK_INJECTOR;
  mark.tgid = uint32_t(getpid());
  if (bpf_map_update_elem(fds_.sockets, &made, &mark, BPF_ANY) != 0) {
    err = errno;
    close(made);
    return {-err, false};
  }
  if (!foreign) raw_[family] = made;
  return {made, foreign};
}

// Returns 0 or an errno.
int HoldDesk::Send(const pcl_hold& hold, bool allow) {
  auto [fd, close_after] = RawSocket(hold.family, hold.tgid);
  if (fd < 0) return -fd;
  uint32_t ack = allow ? hold.isn : hold.isn + 1;
  ssize_t sent;
  if (hold.family == 4) {
    struct __attribute__((packed)) {
      iphdr ip;
      tcphdr th;
    } packet{};
    uint8_t pseudo[12] = {};
    memcpy(pseudo, hold.remote, 4);
    memcpy(pseudo + 4, hold.local, 4);
    pseudo[9] = IPPROTO_TCP;
    pseudo[11] = sizeof(tcphdr);
    packet.th = ResetSegment(hold, ack, pseudo, sizeof(pseudo));
    packet.ip.version = 4;
    packet.ip.ihl = 5;
    packet.ip.tot_len = htons(sizeof(packet));
    packet.ip.ttl = 64;
    packet.ip.protocol = IPPROTO_TCP;  // the kernel fills in the header checksum
    memcpy(&packet.ip.saddr, hold.remote, 4);
    memcpy(&packet.ip.daddr, hold.local, 4);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    memcpy(&to.sin_addr, hold.local, 4);
    sent = sendto(fd, &packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  } else {
    struct __attribute__((packed)) {
      ip6_hdr ip;
      tcphdr th;
    } packet{};
    uint8_t pseudo[40] = {};
    memcpy(pseudo, hold.remote, 16);
    memcpy(pseudo + 16, hold.local, 16);
    pseudo[35] = sizeof(tcphdr);
    pseudo[39] = IPPROTO_TCP;
    packet.th = ResetSegment(hold, ack, pseudo, sizeof(pseudo));
    packet.ip.ip6_flow = htonl(6u << 28);
    packet.ip.ip6_plen = htons(sizeof(tcphdr));
    packet.ip.ip6_nxt = IPPROTO_TCP;
    packet.ip.ip6_hlim = 64;
    memcpy(&packet.ip.ip6_src, hold.remote, 16);
    memcpy(&packet.ip.ip6_dst, hold.local, 16);
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    memcpy(&to.sin6_addr, hold.local, 16);
    sent = sendto(fd, &packet, sizeof(packet), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }
  int err = sent < 0 ? errno : 0;
  if (close_after) close(fd);
  return err;
}

}  // namespace portcullis
