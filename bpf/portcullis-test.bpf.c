// SPDX-License-Identifier: GPL-2.0-only
// Programs only tests and benchmarks run (BPF_PROG_TEST_RUN), never attached and never loaded by
// the helper: the datapath's full evaluation without the per-socket cache, and an empty program
// as the baseline. Built from the same headers as the product; the test facade loads this object
// with the product's maps (bpf_map__reuse_fd), so it evaluates the rules the firewall holds.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "portcullis.h"
#include "common.bpf.h"
#include "maps.bpf.h"
#include "rules.bpf.h"
#include "events.bpf.h"
#include "sock-state.bpf.h"
#include "packet.bpf.h"
#include "skb.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Not attached: BPF_PROG_TEST_RUN target for the uncached (full evaluation) path. */
SEC("cgroup_skb/egress")
int pcl_egress_eval(struct __sk_buff *skb)
{
	return skb_verdict(skb, 1, 0);
}

SEC("cgroup_skb/ingress")
int pcl_ingress_eval(struct __sk_buff *skb)
{
	return skb_verdict(skb, 0, 0);
}

/* Not attached: the empty baseline the benchmarks compare against. */
SEC("cgroup_skb/egress")
int pcl_empty(struct __sk_buff *skb)
{
	return CG_ALLOW;
}
