/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The cgroup_skb path: accounting, the cached fast path, and the full verdict for packets the
 * connect and sendmsg hooks never saw (the backstop). skb_verdict's use_cache = 0 is the full
 * evaluation the test object runs.
 */
#ifndef PCL_SKB_BPF_H
#define PCL_SKB_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "maps.bpf.h"
#include "rules.bpf.h"
#include "events.bpf.h"
#include "sock-state.bpf.h"
#include "packet.bpf.h"
#include "dns.bpf.h"
#include "hold.bpf.h"

/* Beside the verdict in the full path's result (CG_ALLOW, CG_DENY, or CG_DROP_CN for a held flow at
 * egress: bits 0-1): the packet is one for report_dns_packet. */
#define PCL_REPORT_DNS 4

/*
 * Copies a socket's totals to pcl_flows, where user space can read live flows: in place when the
 * socket has its record (a lookup costs a fraction of an LRU update, which allocates a node).
 */
static __always_inline void mirror(struct pcl_sock *s)
{
	__u64 cookie = s->cookie;
	struct pcl_flow *live = bpf_map_lookup_elem(&pcl_flows, &cookie);
	if (live) {
		live->bytes_out = s->bytes_out;
		live->bytes_in = s->bytes_in;
		live->packets_out = s->packets_out;
		live->packets_in = s->packets_in;
		return;
	}
	struct pcl_flow copy = {
		.bytes_out = s->bytes_out,
		.bytes_in = s->bytes_in,
		.packets_out = s->packets_out,
		.packets_in = s->packets_in,
	};
	if (s->flags & PCL_SK_TALLIED) {
		copy.tally_app_id = s->app_id;
		copy.rule_id = s->rule_id;
		copy.remote_port = s->remote_port;
		copy.proto = s->proto;
		copy.family = s->family;
		__builtin_memcpy(copy.remote, s->remote, 16);
	}
	bpf_map_update_elem(&pcl_flows, &cookie, &copy, BPF_ANY);
	s->flags |= PCL_SK_MIRRORED;
}

/*
 * Payload bytes a TCP packet sends for the first time: the sequence space it covers past what the
 * socket sent before, so a retransmission (after a timeout, or after loopback's backlog dropped part
 * of a burst under load) counts no byte twice. TCP sends new data in sequence order.
 */
static __always_inline __u32 first_sent_tcp_bytes(struct pcl_sock *s, struct parsed *p)
{
	__u32 end = p->seq + p->payload;
	if (!s->sent_seq_known) {
		s->sent_seq_known = 1;
		s->sent_seq_end = end;
		return p->payload;
	}
	__s32 ahead = end - s->sent_seq_end; /* modulo 2^32, like TCP's own before()/after() */
	if (ahead <= 0)
		return 0;
	s->sent_seq_end = end;
	return (__u32)ahead < p->payload ? (__u32)ahead : p->payload;
}

/*
 * A listener's own packets (the SYNs it receives) stay uncounted: accepted sockets start as a copy
 * of its storage (BPF_F_CLONE), and must start without its cookie and totals. A listener that never
 * bound (listen() picked its port) is marked passive here, at its first SYN, before any copy.
 */
static __always_inline int listener_packet(struct __sk_buff *skb, struct pcl_sock *s)
{
	struct bpf_sock *sk = skb->sk;
	if (!sk || sk->state != BPF_TCP_LISTEN)
		return 0;
	if (!(s->flags & PCL_SK_PASSIVE))
		s->flags |= PCL_SK_PASSIVE;
	return 1;
}

/* Segments the packet stands for: more than 1 only for a GSO/GRO aggregate. */
static __always_inline __u64 packet_segs(struct __sk_buff *skb, struct parsed *p)
{
	if (p->aggregate) /* skb_shinfo is two loads away: read only when it can say more than 1 */
		return skb->gso_segs ?: 1;
	return 1;
}

/*
 * The flow's record in pcl_flows is made at the socket's first packet with payload, and refreshed
 * when its packet count crosses a multiple of PCL_MIRROR_EVERY.
 */
static __always_inline int mirror_due(struct pcl_sock *s, __u64 before, __u64 segs, __u32 payload)
{
	if (payload && !(s->flags & PCL_SK_MIRRORED))
		return 1;
	return (before / PCL_MIRROR_EVERY) != ((before + segs) / PCL_MIRROR_EVERY);
}

/*
 * Payload bytes a TCP packet brings that the socket did not receive before: the sequence space past
 * the furthest received, so a segment that arrives twice (sent again after its first copy was dropped
 * past this hook, by a full receive backlog under load) counts once. A segment that jumps a hole
 * counts the hole too, and the missing segments count nothing when they come: the total is exact
 * however segments are lost or reordered on the way. A jump of more than PCL_RECV_HOLE_MAX past its
 * own payload is no hole of a real window: its payload alone counts, and the furthest point stays.
 */
#define PCL_RECV_HOLE_MAX (16u << 20)
static __always_inline __u32 first_received_tcp_bytes(struct pcl_sock *s, struct parsed *p)
{
	/* A SYN and a FIN each take one sequence number that is no byte: a reset after the FIN would count it. */
	__u32 control = ((p->tcp_flags & TCP_FLAG_SYN) ? 1 : 0) + ((p->tcp_flags & TCP_FLAG_FIN) ? 1 : 0);
	__u32 end = p->seq + p->payload + control;
	if (!s->recv_seq_known) {
		s->recv_seq_known = 1;
		s->recv_seq_end = end;
		return p->payload;
	}
	__s32 ahead = end - s->recv_seq_end;
	if (ahead <= 0)
		return 0;
	if ((__u32)ahead > p->payload + control + PCL_RECV_HOLE_MAX)
		return p->payload;
	s->recv_seq_end = end;
	return (__u32)ahead > control ? (__u32)ahead - control : 0;
}

/*
 * Adds one packet to the socket's totals; answers the packet count before it. TCP takes plain
 * adds: a TCP socket's transmissions are serialized by its socket lock (process context owns it,
 * timers and softirq take bh_lock_sock), and a race between two of its received segments needs one
 * flow on two CPUs at once, which RSS/RPS steering rules out and loopback (a segment is processed
 * on the sending CPU, normally before the sender, holding its own socket lock, sends the next)
 * makes negligible. UDP and the rest take atomic adds: threads may send on one socket at once, and
 * one socket may receive from many peers on several CPUs.
 */
static __always_inline __u64 add_to_totals(struct pcl_sock *s, struct parsed *p, __u64 segs, int egress)
{
	__u64 *bytes = egress ? &s->bytes_out : &s->bytes_in;
	__u64 *packets = egress ? &s->packets_out : &s->packets_in;
	if (p->f.proto == PCL_PROTO_TCP) {
		__u64 before = *packets;
		*packets = before + segs;
		if (!p->payload_off) /* no sequence number read */
			*bytes += p->payload;
		else
			*bytes += egress ? first_sent_tcp_bytes(s, p) : first_received_tcp_bytes(s, p);
		return before;
	}
	__sync_fetch_and_add(bytes, p->payload);
	return __sync_fetch_and_add(packets, segs);
}

/*
 * Counts a packet (the first gives the socket its cookie), and refreshes the flow's record in
 * pcl_flows when due; never after the close was reported (which deleted the record: the peer's last
 * packets would make it again, for a flow that is gone).
 */
static __always_inline void account(struct __sk_buff *skb, struct pcl_sock *s, struct parsed *p, int egress)
{
	if (listener_packet(skb, s))
		return;
	__u64 segs = packet_segs(skb, p);
	__u64 before = add_to_totals(s, p, segs, egress);
	if (s->cookie == 0)
		s->cookie = bpf_get_socket_cookie(skb);
	if (mirror_due(s, before, segs, p->payload) && !(s->close_state & PCL_CLOSE_DONE))
		mirror(s);
}

/*
 * A flow's direction is who started it: a listener's (or bound UDP socket's) flows are inbound
 * both ways, an application's connect/sendto flows outbound both ways (replies follow the
 * verdict); a socket that did neither (raw, ping) keeps the packet's direction.
 */
static __always_inline void set_direction(struct pcl_sock *s, struct flow *f)
{
	if (s && (s->flags & PCL_SK_PASSIVE))
		f->dir = PCL_DIR_IN;
	else if (s && (s->flags & PCL_SK_ACTIVE))
		f->dir = PCL_DIR_OUT;
}

/*
 * Where the creation hook is not attached (pcl_sock_create), a socket that is neither TCP nor UDP
 * (raw, ping, SCTP...) and was never connected is owned by the task that sends its first packet:
 * such sockets send their first packet from their task's own sendmsg or connect, in its context
 * (only a retransmission runs from a timer). One that only ever receives stays without an owner; a
 * raw one needs CAP_NET_RAW, which can detach the firewall anyway.
 */
static __always_inline void own_at_first_send(struct pcl_sock *s, struct bpf_sock *sk)
{
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	if (pcl_kern_ctx_cast && full && !born_at_first_use(full->protocol))
		own_by_current(s);
}

/* The protocol is a full socket's field (skb->sk may be a request or timewait socket). */
static __always_inline int tcp_full_socket(struct bpf_sock *sk)
{
	struct bpf_sock *full = bpf_sk_fullsock(sk);
	return full && full->protocol == IPPROTO_TCP_NR;
}

/*
 * A TCP socket after it sent its FIN, or after its end (TCP_CLOSE: the reset a closed socket sends
 * to a late packet leaves as the socket's own on newer kernels). An unconnected UDP socket is in
 * TCP_CLOSE too, hence the protocol.
 */
static __always_inline int closing_tcp_socket(struct bpf_sock *sk)
{
	__u32 state = sk->state;
	return state == BPF_TCP_FIN_WAIT1 || state == BPF_TCP_FIN_WAIT2 || state == BPF_TCP_CLOSING ||
	       state == BPF_TCP_LAST_ACK || state == BPF_TCP_TIME_WAIT ||
	       (state == BPF_TCP_CLOSE && tcp_full_socket(sk));
}

/* A TCP FIN or RST. */
static __always_inline int tcp_end(struct parsed *p)
{
	return p->f.proto == PCL_PROTO_TCP && (p->tcp_flags & (TCP_FLAG_FIN | TCP_FLAG_RST));
}

/* Accounts a packet of a socket with storage; a TCP socket's FIN or RST may report its close. */
static __always_inline void account_packet(struct __sk_buff *skb, struct pcl_sock *s, struct parsed *p, int egress,
					   int use_cache)
{
	account(skb, s, p, egress);
	if (egress && use_cache && tcp_end(p))
		tcp_end_sent(s, p->f.family);
}

/* Enforces the verdict the socket has cached for this flow. */
static __always_inline int cached_verdict(struct pcl_sock *s)
{
	if (s->verdict != PCL_ACT_BLOCK)
		return CG_ALLOW;
	struct pcl_counters *c = percpu_counters();
	if (c)
		c->blocked++;
	return CG_DENY;
}

/* cached_fast_path's answer for a packet it leaves to the full path. */
#define PCL_FAST_MISS -1

/*
 * The fast path for one shape of cached flow (family and protocol are constants here, so each
 * shape is one straight line): the packet's IP header without options or extension headers at the
 * start of the linear head, the L4 header right after it, to the cached remote address and port.
 * Reads them in place, only what the check and the accounting need, with no copy into a flow.
 */
static __always_inline int cached_shape(struct __sk_buff *skb, struct pcl_sock *s, const __u8 family, const __u8 proto,
					const int egress)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	const __u32 l4_off = family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	const struct l4_view *l4 = data + l4_off;
	__u32 stated_end;
	/* One bound for both: the 14 bytes of TCP header read_l4 reads (a UDP datagram of under 6 bytes takes the full path). */
	if ((void *)l4 + 14 > data_end)
		return PCL_FAST_MISS;
	/* The version nibble, not skb->protocol: the stack sets one from the other for IP packets. */
	if (family == 4) {
		const struct iphdr *ip = data;
		/* Bytes 0-7 at once: version 4 with a 20-byte header (byte 0), fragment offset 0 (bytes 6-7). */
		if ((*(const __u64 *)ip & 0xff1f0000000000ffULL) != 0x45 || ip->protocol != proto)
			return PCL_FAST_MISS; /* IP options, a later fragment, another protocol */
		if ((egress ? ip->daddr : ip->saddr) != *(const __u32 *)s->remote)
			return PCL_FAST_MISS;
		stated_end = bpf_ntohs(ip->tot_len);
	} else {
		const struct ipv6hdr *ip6 = data;
		if (ip6->version != 6 || ip6->nexthdr != proto)
			return PCL_FAST_MISS; /* an extension header, or another protocol */
		const __u64 *remote = (const __u64 *)(egress ? &ip6->daddr : &ip6->saddr);
		const __u64 *cached = (const __u64 *)s->remote;
		if (remote[0] != cached[0] || remote[1] != cached[1])
			return PCL_FAST_MISS; /* another remote, or a v4-mapped one (cached as IPv4) */
		stated_end = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	}
	if ((egress ? l4->dest : l4->source) != bpf_htons(s->remote_port))
		return PCL_FAST_MISS;
	struct parsed p;
	p.f.family = family;
	p.f.proto = proto;
	read_l4(l4, l4_off, proto, l3_extent(skb, stated_end, &p), &p, egress);
	/*
	 * Packets whose accounting calls helpers take the full path, so the fast path calls none: each
	 * one that makes the flow's record due for a refresh, and a FIN or RST sent (a close report).
	 * (A listener's own packets never get here, nor a socket's first one before it has a cookie:
	 * only settled sockets own a pcl_slots entry, or in the socket-storage form are let in.)
	 */
	__u64 segs = packet_segs(skb, &p);
	if (mirror_due(s, egress ? s->packets_out : s->packets_in, segs, p.payload) || (egress && tcp_end(&p)))
		return PCL_FAST_MISS;
	add_to_totals(s, &p, segs, egress);
	return cached_verdict(s);
}

/*
 * The packets of a socket whose verdict is cached for the current generation, in their common shape
 * (cached_shape). Any other packet (another generation, remote, port or protocol, IP options,
 * extension headers, a later fragment, DNS over UDP, a short head) answers PCL_FAST_MISS before
 * anything is counted, and the full path decides it as it always did. The generation is checked
 * first: after a rules change every packet goes to the full path without being parsed twice.
 */
static __always_inline int cached_fast_path(struct __sk_buff *skb, struct pcl_sock *s, __u32 gen, int egress)
{
	/* The cache key in one load: its generation, and its family and protocol (the shape). */
	__u64 key = s->cache_key;
	if ((__u32)key != (__u32)cache_key(gen, 0, 0, 0))
		return PCL_FAST_MISS;
	__u64 shape = key & cache_key(0, 0, 0xff, 0xff);
	if (shape == cache_key(0, 0, PCL_PROTO_TCP, 4))
		return cached_shape(skb, s, 4, PCL_PROTO_TCP, egress);
	if (shape == cache_key(0, 0, PCL_PROTO_TCP, 6))
		return cached_shape(skb, s, 6, PCL_PROTO_TCP, egress);
	if (s->remote_port == 53)
		return PCL_FAST_MISS; /* UDP with a DNS server: queries and answers go up to the helper (report_dns) */
	if (shape == cache_key(0, 0, PCL_PROTO_UDP, 4))
		return cached_shape(skb, s, 4, PCL_PROTO_UDP, egress);
	if (shape == cache_key(0, 0, PCL_PROTO_UDP, 6))
		return cached_shape(skb, s, 6, PCL_PROTO_UDP, egress);
	return PCL_FAST_MISS; /* nothing cached (family 0), or a protocol without ports */
}

/*
 * Marks an allowed packet of a DNS exchange (UDP with port 53 at the far end) for report_dns_packet:
 * only a query that may leave, and an answer the socket will get, count.
 */
static __always_inline int mark_dns(struct parsed *p, int result)
{
	if (result == CG_ALLOW && p->f.proto == PCL_PROTO_UDP && p->f.rport == 53)
		return result | PCL_REPORT_DNS;
	return result;
}

/*
 * Verdict for one packet by parsing it in full. use_cache = 0 builds the "full evaluation" variant
 * of the test object (pcl_egress_eval in portcullis-test.bpf.c): same code, never reading the
 * per-socket cache.
 */
static __always_inline int full_verdict(struct __sk_buff *skb, struct pcl_sock *s, int egress, int use_cache)
{
	struct pcl_config *cfg = &pcl_config;
	__u32 gen = cfg->generation;
	struct parsed p = {};
	/* p stays in memory: held in registers, every failed check would rematerialize all its fields. */
	asm volatile("" : : "r"(&p) : "memory");
	if (use_cache && s && (s->flags & PCL_SK_INJECTOR))
		return CG_ALLOW; /* the helper's answer to a held connect (hold.bpf.h) */
	if (!parse_packet(skb, &p, egress)) {
		/* Truncated or garbage: the global default decides; never a crash. */
		if (cfg->enforcing && cfg->default_action[gen & 1] == PCL_ACT_BLOCK)
			return CG_DENY;
		return CG_ALLOW;
	}

	if (s)
		account_packet(skb, s, &p, egress, use_cache);

	int ret;
	__u8 answered = PCL_ACT_NONE;
	if (use_cache && s && (s->flags & PCL_SK_HELD)) {
		ret = held_tcp_packet(s, &p, s->cookie, egress, &answered);
	} else {
		set_direction(s, &p.f);
		if (use_cache && s && cache_matches(s, gen, &p.f)) {
			ret = cached_verdict(s);
		} else {
			__u32 app_id = s ? s->app_id : 0;
			__u32 claim_id = s ? s->claim_id : 0;
			struct decision d = decide(cfg, gen, app_id, claim_id, &p.f);
			__u8 verdict = cfg->enforcing ? d.action : PCL_ACT_ALLOW;
			if (verdict == PCL_ACT_ASK) {
				ret = use_cache ? ask_packet(cfg, s, &p, s ? s->cookie : 0, egress, &answered) : CG_ALLOW;
			} else {
				if (use_cache && s) {
					cache_store(s, gen, &p.f, verdict, d.rule_id);
					count_decision(verdict, d.rule_id);
					emit(PCL_EV_PACKET, s, &p.f, s->cookie, verdict, d.rule_id, 0);
				}
				ret = verdict == PCL_ACT_BLOCK ? CG_DENY : CG_ALLOW;
			}
		}
	}
	/* A held flow's answer (or what passes because it cannot be held) is cached and reported once. */
	if (answered != PCL_ACT_NONE && s && !cache_matches(s, gen, &p.f)) {
		set_direction(s, &p.f);
		cache_store(s, gen, &p.f, answered, 0);
		count_decision(answered, 0);
		emit(PCL_EV_PACKET, s, &p.f, s->cookie, answered, 0, 0);
	}
	return use_cache && s ? mark_dns(&p, ret) : ret;
}

/*
 * The full path of the attached programs as a function of its own per direction: inlined after the
 * fast path, each of the fast path's ways to miss would enter it as another verifier state, and its
 * verification would grow past the kernel's limit. Global functions, verified once on their own
 * (the state they get, possibly NULL, is a pcl_slots entry's or a socket storage's; as static
 * functions they would be verified once per kind of pointer).
 */
__noinline int full_verdict_egress(struct __sk_buff *skb, struct pcl_sock *s)
{
	return full_verdict(skb, s, 1, 1);
}

__noinline int full_verdict_ingress(struct __sk_buff *skb, struct pcl_sock *s)
{
	return full_verdict(skb, s, 0, 1);
}

/*
 * The DNS report of a packet the full path marked (PCL_REPORT_DNS), parsed again: a global function
 * of its own, so the full path stays within what 6.1's verifier can follow (inlined there, or
 * called with its parse, it takes the full path past the kernel's limit); only DNS packets pay.
 */
__noinline int report_dns_packet(struct __sk_buff *skb, struct pcl_sock *s, int egress)
{
	if (!s)
		return 0;
	struct parsed p = {};
	if (!parse_packet(skb, &p, egress) || p.f.proto != PCL_PROTO_UDP)
		return 0;
	set_direction(s, &p.f);
	report_dns(skb, s, &p, egress);
	return 0;
}

/*
 * Verdict for one packet: the cached fast path when it applies, else the full path (which looks up
 * the configuration again: only the generation lives across the storage lookup). The fast path
 * finds a socket's state in its pcl_slots entry with bpf_cast_to_kern_ctx, or where the kernel
 * lacks that (pcl_kern_ctx_cast 0), in its storage.
 */
static __always_inline int skb_verdict(struct __sk_buff *skb, int egress, int use_cache)
{
	struct pcl_config *cfg = &pcl_config;
	__u32 gen = cfg->generation;
	struct pcl_slot *entry = NULL;
	int verdict;
	if (use_cache && pcl_kern_ctx_cast) {
		entry = entry_of_packet(skb);
		if (entry) {
			verdict = cached_fast_path(skb, &entry->sock, gen, egress);
			if (verdict != PCL_FAST_MISS)
				return verdict;
		}
	}
	/* The same socket as the kernel's skb->sk above: with no socket there is no entry either. */
	struct bpf_sock *sk = skb->sk;
	struct pcl_sock *stored = NULL, *s = NULL;
	if (sk) {
		/*
		 * sk_storage_get takes the socket as it is and answers NULL for request and timewait sockets.
		 * A socket past its close whose entry was taken by another is not given storage anew: it
		 * would report the end of a flow as a new one.
		 */
		__u64 create = BPF_SK_STORAGE_GET_F_CREATE;
		if (use_cache && pcl_kern_ctx_cast && closing_tcp_socket(sk))
			create = 0;
		s = state_of_socket(entry, sk, create, &stored);
		if (use_cache && egress && stored && !(stored->flags & PCL_SK_OWNED))
			own_at_first_send(stored, sk);
		/* Listening without a bind (which moves the state): accepted sockets start as a copy of the storage. */
		if (entry && sk->state == BPF_TCP_LISTEN) {
			stored = bpf_sk_storage_get(&pcl_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
			if (stored) {
				move_to_storage(entry, stored);
				s = stored;
			}
		}
	}
	if (!use_cache)
		return full_verdict(skb, s, egress, 0);
	/* No entries are used: the state always lives in the storage, and the fast path reads it there. */
	if (!pcl_kern_ctx_cast && stored && settled(stored, sk)) {
		verdict = cached_fast_path(skb, stored, gen, egress);
		if (verdict != PCL_FAST_MISS)
			return verdict;
	}
	int full = egress ? full_verdict_egress(skb, s) : full_verdict_ingress(skb, s);
	if (full & PCL_REPORT_DNS)
		report_dns_packet(skb, s, egress);
	/* A global function's result is any number to the verifier: egress answers 0-3 (CG_DROP_CN for a
	 * held flow), ingress CG_ALLOW or CG_DENY. */
	verdict = egress ? full & 3 : full & 1;
	/* After its first packet (which gave it a cookie) a socket's state moves from its storage to its entry. */
	if (pcl_kern_ctx_cast && stored && s == stored)
		claim_slot(stored, sk);
	return verdict;
}

#endif /* PCL_SKB_BPF_H */
