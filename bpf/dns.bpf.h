/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * DNS for the helper's names and domain rules (see PCL_DNS_MAX in portcullis.h): the kernel reports
 * the queries a socket was allowed to send and the answers delivered to a socket that sent one; the
 * helper counts an answer only when it matches a query of the same socket (id, question, server).
 * Only packets whose first bytes read as a DNS message of the expected direction are copied, so
 * other traffic on port 53 (a VPN, say) adds no event per packet.
 */
#ifndef PCL_DNS_BPF_H
#define PCL_DNS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "maps.bpf.h"
#include "events.bpf.h"
#include "packet.bpf.h"

#define DNS_HEADER_BYTES 12

/*
 * True when the packet's socket lives in a network namespace owned by the initial user namespace
 * (the host's, or one real root made). In a namespace of a user namespace of their own, unprivileged
 * users are root: they can answer their own queries from any address they give themselves.
 */
static __always_inline int socket_net_is_system(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct sock *sk = kskb->sk;
	if (!sk)
		return 0;
	struct net *net = sk->__sk_common.skc_net.net;
	if (!net)
		return 0;
	struct user_namespace *owner = net->user_ns;
	return owner && owner->level == 0;
}

/*
 * The first 12 bytes as a DNS header: a standard query (QR clear, no answers) when `query`, else a
 * standard response (QR set); one question either way, as every stub resolver sends.
 */
static __always_inline int dns_header_fits(struct __sk_buff *skb, struct parsed *p, int query)
{
	__u8 buf[DNS_HEADER_BYTES];
	__u8 *h = header_at(skb, p->payload_off, DNS_HEADER_BYTES, buf);
	if (!h)
		return 0;
	if ((h[2] & 0xf8) != (query ? 0x00 : 0x80)) /* QR and opcode (0 = QUERY) */
		return 0;
	if (h[4] != 0 || h[5] != 1) /* QDCOUNT = 1 */
		return 0;
	return !query || (h[6] == 0 && h[7] == 0); /* a query carries no answers */
}

/* Copies the UDP payload (up to PCL_DNS_MAX bytes) as a `kind` event; 1 when it was submitted. */
static __always_inline int emit_dns(struct __sk_buff *skb, struct pcl_sock *s, struct parsed *p, __u8 kind)
{
	/* 64-bit, so the bounds checked below are on the very register handed to the copy. */
	__u64 len = p->payload;
	if (len > PCL_DNS_MAX)
		len = PCL_DNS_MAX;
	if (len < DNS_HEADER_BYTES)
		return 0;
	struct pcl_counters *c = percpu_counters();
	struct pcl_dns_event *e = bpf_ringbuf_reserve(&pcl_events, sizeof(*e), 0);
	if (!e) {
		if (c)
			c->drops++;
		return 0;
	}
	fill_event(&e->head, kind, s, &p->f, s->cookie, PCL_ACT_ALLOW, 0, NULL);
	e->len = len;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	/* Re-checked after the barrier: the verifier must see both bounds on the copy's length register. */
	asm volatile("" : "+r"(len));
	if (len > PCL_DNS_MAX || len < DNS_HEADER_BYTES || bpf_skb_load_bytes(skb, p->payload_off, e->data, len)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	if (c)
		c->events++;
	bpf_ringbuf_submit(e, 0);
	return 1;
}

/*
 * A UDP packet to or from port 53 that its socket was allowed to send or receive: reported when it
 * is a query, or an answer to a socket that asked something, from a socket of a system namespace.
 */
static __always_inline void report_dns(struct __sk_buff *skb, struct pcl_sock *s, struct parsed *p, int egress)
{
	if (p->payload_off == 0)
		return; /* no UDP header seen (a later fragment) */
	if (!egress && !s->dns_asked)
		return; /* nothing this socket sent could match it */
	if (!dns_header_fits(skb, p, egress) || !socket_net_is_system(skb))
		return;
	if (emit_dns(skb, s, p, egress ? PCL_EV_DNS_QUERY : PCL_EV_DNS) && egress)
		s->dns_asked = 1; /* a byte of its own: no read-modify-write races the other fields */
}

#endif /* PCL_DNS_BPF_H */
