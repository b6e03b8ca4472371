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

struct dns_header {
	__u16 id; /* network order, kept as on the wire (compared, never used as a number) */
	__u8 flags[2];
	__be16 questions;
	__be16 answers;
	__be16 authority;
	__be16 additional;
};

#define DNS_HEADER_BYTES sizeof(struct dns_header)

/*
 * True when the packet's socket lives in a network namespace owned by the initial user namespace
 * (the host's, or one real root made). In a namespace of a user namespace of their own, unprivileged
 * users are root: they can answer their own queries from any address they give themselves. Where
 * the kernel lets the program see its socket (bpf_cast_to_kern_ctx, 6.2), the socket's namespace is
 * read; before, what its creation noted (PCL_SK_SYSTEM_NET), so sockets older than the programs
 * report no DNS there.
 */
static __always_inline int socket_net_is_system(struct __sk_buff *skb, struct pcl_sock *s)
{
	if (!pcl_kern_ctx_cast)
		return s->flags & PCL_SK_SYSTEM_NET;
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
 * The payload's DNS header when it reads as a standard query (QR clear, no answers) for `query`,
 * else as a standard response (QR set); one question either way, as every stub resolver sends.
 */
static __always_inline int read_dns_header(struct __sk_buff *skb, struct parsed *p, int query, struct dns_header *out)
{
	struct dns_header *h = header_at(skb, p->payload_off, sizeof(*h), out);
	if (!h)
		return 0;
	if ((h->flags[0] & 0xf8) != (query ? 0x00 : 0x80)) /* QR and opcode (0 = QUERY) */
		return 0;
	if (h->questions != bpf_htons(1) || (query && h->answers != 0))
		return 0;
	out->id = h->id;
	return 1;
}

/* Notes a reported query's id in the socket's ring of the last four. */
static __always_inline void note_query_id(struct pcl_sock *s, __u16 id)
{
	__u8 n = s->dns_queries;
	s->dns_ids[n & 3] = id;
	s->dns_queries = n == 255 ? 4 : n + 1; /* never back to 0: 0 means none was reported */
}

/* True when `id` is one of the socket's last four reported queries. */
static __always_inline int query_id_known(struct pcl_sock *s, __u16 id)
{
	__u8 n = s->dns_queries;
	for (int i = 0; i < 4; i++)
		if (i < n && s->dns_ids[i] == id)
			return 1;
	return 0;
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
	fill_event(&e->head, kind, s, &p->f, s->cookie, PCL_ACT_ALLOW, 0, 0);
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
 * A UDP packet to or from port 53 that its socket was allowed to send or receive, from a socket of
 * a system namespace: reported when it is a query, or an answer whose id is one of the socket's
 * last four queries'. So a flood of answers (forged, or to a socket that never asked) reports
 * about one in 16k, whatever else it does, and never keeps the real answer out. Two threads
 * sending queries on one socket at once may write one slot: at worst one answer goes unreported.
 */
static __always_inline void report_dns(struct __sk_buff *skb, struct pcl_sock *s, struct parsed *p, int egress)
{
	if (p->payload_off == 0)
		return; /* no UDP header seen (a later fragment) */
	if (!egress && s->dns_queries == 0)
		return; /* nothing this socket sent could match it */
	struct dns_header h;
	if (!read_dns_header(skb, p, egress, &h))
		return;
	if (!egress && !query_id_known(s, h.id))
		return;
	if (!socket_net_is_system(skb, s))
		return;
	if (emit_dns(skb, s, p, egress ? PCL_EV_DNS_QUERY : PCL_EV_DNS) && egress)
		note_query_id(s, h.id);
}

#endif /* PCL_DNS_BPF_H */
