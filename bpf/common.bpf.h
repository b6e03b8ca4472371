/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What every part of the datapath shares: a few kernel constants vmlinux.h does not carry, the
 * verdicts cgroup hooks return, and a flow as the programs describe it to the rules.
 */
#ifndef PCL_COMMON_BPF_H
#define PCL_COMMON_BPF_H

#include "vmlinux.h"
#include "portcullis.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6_NR 58
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define CG_ALLOW 1
#define CG_DENY 0
#define IPPROTO_TCP_NR 6
#define IPPROTO_UDP_NR 17

/* ---- flow description ------------------------------------------------------------------ */

struct flow {
	__u8 family;     /* 4 or 6 */
	__u8 proto;      /* IP protocol number (ICMPv6 folded to 1) */
	__u8 dir;        /* PCL_DIR_OUT or PCL_DIR_IN */
	__u8 pad;
	__u16 lport;     /* host order */
	__u16 rport;     /* host order */
	__u8 laddr[16];
	__u8 raddr[16] __attribute__((aligned(8))); /* compared as two words */
};


struct decision {
	__u32 rule_id;
	__u8 action; /* PCL_ACT_ALLOW or PCL_ACT_BLOCK */
};


/* A multiplicative hash of five words (a flow's key): where a flow's slots are in a direct-mapped table. */
static __always_inline __u32 mix_words(__u32 a, __u32 b, __u32 c, __u32 d, __u32 e)
{
	__u32 h = a * 0x9e3779b1u;
	h = (h ^ b) * 0x85ebca77u;
	h = (h ^ c) * 0xc2b2ae3du;
	h = (h ^ d) * 0x27d4eb2fu;
	h = (h ^ e) * 0x165667b1u;
	return h ^ h >> 16;
}

static __always_inline __u8 fold_proto(__u8 proto)
{
	return proto == IPPROTO_ICMPV6_NR ? PCL_PROTO_ICMP : proto;
}

#endif /* PCL_COMMON_BPF_H */
