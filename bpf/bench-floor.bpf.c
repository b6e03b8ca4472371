// SPDX-License-Identifier: GPL-2.0-only
// The floor `npm run bench` measures Portcullis against (bench/contenders/floor.ts): only the hooks a
// cgroup firewall cannot do without -- connect4 and cgroup_skb in/egress -- each deciding over an
// IPv4 LPM trie holding as many addresses as the Portcullis lane's ruleset, and nothing more: no
// owner, no cached verdict, no events, no accounting. Never loaded by the helper or the addon: the
// benchmark loads it with bpftool.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define FLOOR_ETH_P_IP 0x0800

/* An LPM trie key: the prefix length, then the address in network byte order. */
struct floor_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1 << 20);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct floor_key);
	__type(value, __u8);
} floor_v4 SEC(".maps");

/* 1 (pass) or 0 (drop): the address is blocked when any prefix in the trie covers it. */
static __always_inline int floor_verdict(__u32 addr)
{
	struct floor_key key = { .prefixlen = 32 };
	__builtin_memcpy(key.addr, &addr, 4);
	return bpf_map_lookup_elem(&floor_v4, &key) ? 0 : 1;
}

SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr *ctx)
{
	return floor_verdict(ctx->user_ip4);
}

/* The packet's remote address read in place (cgroup_skb starts at the IP header). */
static __always_inline int floor_packet(struct __sk_buff *skb, int egress)
{
	if (skb->protocol != bpf_htons(FLOOR_ETH_P_IP))
		return 1;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;
	if ((void *)(ip + 1) > data_end)
		return 1;
	return floor_verdict(egress ? ip->daddr : ip->saddr);
}

SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb)
{
	return floor_packet(skb, 1);
}

SEC("cgroup_skb/ingress")
int floor_ingress(struct __sk_buff *skb)
{
	return floor_packet(skb, 0);
}
