/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Ask mode's holds (portcullis.h "Ask mode"): what the hooks do with a flow no rule decides. Only
 * held flows and the packets of held sockets come here; the decided path never does (a held flow's
 * verdict is never cached, so its packets always miss the fast path).
 */
#ifndef PCL_HOLD_BPF_H
#define PCL_HOLD_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include "maps.bpf.h"
#include "events.bpf.h"

#define SOL_TCP_NR 6
#define TCP_USER_TIMEOUT_NR 18
#define TCP_FLAG_SYN 0x02
/* cgroup_skb egress: drop, and tell the sender it was congestion (NET_XMIT_CN): TCP re-arms its
 * timer without counting an error, UDP's send() returns success (ENOBUFS is only reported to sockets
 * that asked for IP_RECVERR). */
#define CG_DROP_CN 2

static __always_inline struct pcl_hold_key hold_key_tcp(__u64 cookie)
{
	struct pcl_hold_key key = { .cookie = cookie, .proto = PCL_PROTO_TCP };
	return key;
}

static __always_inline struct pcl_hold_key hold_key_udp(__u64 cookie, struct flow *f)
{
	struct pcl_hold_key key = { .cookie = cookie, .remote_port = f->rport, .proto = PCL_PROTO_UDP, .family = f->family };
	__builtin_memcpy(key.remote, f->raddr, 16);
	return key;
}

/*
 * Enters a held flow (pending); 0 when it cannot (the map is full, or with BPF_NOEXIST another CPU
 * entered it first). A TCP socket connecting again (after a refused connect) replaces its entry.
 * Not inlined: the entry it builds on the stack would add to the full path's frame, whose deepest
 * call chain (a claimed app's rules) must stay within the kernel's 512-byte combined stack.
 */
static __noinline int hold_enter(struct pcl_hold_key *key, struct pcl_sock *s, struct flow *f, __u64 flags)
{
	struct pcl_hold hold = {
		.time_ns = bpf_ktime_get_ns(),
		.cgroup_id = s->cgroup_id,
		.tgid = s->tgid,
		.uid = s->uid,
		.app_id = s->app_id,
		.claim_id = s->claim_id,
		.remote_port = f->rport,
		.local_port = f->lport,
		.family = f->family,
		.proto = f->proto,
	};
	__builtin_memcpy(hold.remote, f->raddr, 16);
	__builtin_memcpy(hold.local, f->laddr, 16);
	__builtin_memcpy(hold.comm, s->comm, PCL_COMM_LEN);
	hold.exe = s->exe;
	if (bpf_map_update_elem(&pcl_holds, key, &hold, flags) != 0)
		return 0;
	bpf_map_delete_elem(&pcl_hold_answers, key); /* a TCP socket's answer to its previous connect */
	return 1;
}

/* The helper's answer to a held flow: PCL_ACT_ALLOW, PCL_ACT_BLOCK, or PCL_ACT_NONE while pending. */
static __always_inline __u8 hold_answer(struct pcl_hold_key *key)
{
	__u8 *answer = bpf_map_lookup_elem(&pcl_hold_answers, key);
	return answer ? *answer : PCL_ACT_NONE;
}

/* A held TCP socket's entry and answer go (established, or closed by its application). */
static __always_inline void hold_forget(struct pcl_hold_key *key)
{
	bpf_map_delete_elem(&pcl_holds, key);
	bpf_map_delete_elem(&pcl_hold_answers, key);
}

/* The helper's own traffic is never held. */
static __always_inline int helpers_own(struct pcl_config *cfg, struct pcl_sock *s)
{
	return s->tgid == cfg->helper_tgid && s->tgid != 0;
}

/*
 * A TCP connect no rule decides: held (connect() goes on, its SYN waits at egress) or, when nobody
 * can be asked or the hold cannot be entered, refused.
 */
static __always_inline int hold_connect(struct bpf_sock_addr *ctx, struct pcl_config *cfg, struct pcl_sock *s,
					struct flow *f, __u64 cookie)
{
	int hold_ms = cfg->hold_ms;
	if (hold_ms <= 0 || hold_ms > PCL_HOLD_MAX_MS)
		return CG_DENY;
	struct pcl_hold_key key = hold_key_tcp(cookie);
	if (!hold_enter(&key, s, f, BPF_ANY))
		return CG_DENY;
	/* The SYN's timer waits hold_ms (sock_ops TIMEOUT_INIT); then the connect fails rather than retries. */
	bpf_setsockopt(ctx, SOL_TCP_NR, TCP_USER_TIMEOUT_NR, &hold_ms, sizeof(hold_ms));
	s->flags |= PCL_SK_HELD | PCL_SK_HOLDS;
	emit(PCL_EV_HOLD, s, f, cookie, PCL_ACT_ASK, 0, 0);
	return CG_ALLOW;
}

/*
 * A packet of a held TCP socket. Egress follows its entry: pending drops (the SYN's sequence number
 * and local address noted for the helper's answer), allow passes, block drops. Ingress always passes:
 * a socket whose SYN never left can only receive the helper's answer (a rule added meanwhile must
 * not stop it).
 */
static __always_inline int held_tcp_packet(struct pcl_sock *s, struct parsed *p, __u64 cookie, int egress,
					   __u8 *answered)
{
	*answered = PCL_ACT_NONE;
	if (!egress)
		return CG_ALLOW;
	struct pcl_hold_key key = hold_key_tcp(cookie);
	struct pcl_hold *hold = bpf_map_lookup_elem(&pcl_holds, &key);
	if (!hold)
		return CG_DROP_CN; /* no entry (the helper took it away): still held, never let through */
	__u8 verdict = hold_answer(&key);
	if (p->f.proto == PCL_PROTO_TCP && (p->tcp_flags & TCP_FLAG_SYN) && verdict == PCL_ACT_NONE) {
		if (hold->dropped == 0) {
			hold->isn = p->seq;
			hold->local_port = p->f.lport;
			__builtin_memcpy(hold->local, p->f.laddr, 16);
		}
		/* Atomic (a full barrier) before the answer is read again: the helper writes its answer,
		 * then reads `dropped` to learn whether a SYN waits for it; one of the two sees the other. */
		__sync_fetch_and_add(&hold->dropped, 1);
		verdict = hold_answer(&key);
	}
	if (verdict == PCL_ACT_ALLOW || verdict == PCL_ACT_BLOCK)
		*answered = verdict;
	if (verdict == PCL_ACT_ALLOW)
		return CG_ALLOW;
	return verdict == PCL_ACT_BLOCK ? CG_DENY : CG_DROP_CN;
}

/*
 * A packet no rule decides, of a socket whose connect was not held: a UDP flow is held at its first
 * datagram (and its datagrams dropped until the answer); what cannot be held passes (inbound traffic,
 * ICMP, raw sockets, connections older than ask mode), as in monitor mode. `*answered` is set to
 * the verdict to cache (an answered flow, or one that passes because it cannot be held), else
 * PCL_ACT_NONE. Nothing is cached for what a UDP socket receives: a verdict cached for a remote would
 * let the socket send there unasked.
 */
static __always_inline int ask_packet(struct pcl_config *cfg, struct pcl_sock *s, struct parsed *p, __u64 cookie,
				      int egress, __u8 *answered)
{
	*answered = PCL_ACT_NONE;
	if (p->f.proto != PCL_PROTO_UDP || !s) {
		*answered = PCL_ACT_ALLOW;
		return CG_ALLOW;
	}
	struct pcl_hold_key key = hold_key_udp(cookie, &p->f);
	struct pcl_hold *hold = bpf_map_lookup_elem(&pcl_holds, &key);
	if (hold) {
		__u8 verdict = hold_answer(&key);
		if (verdict == PCL_ACT_ALLOW || verdict == PCL_ACT_BLOCK) {
			*answered = verdict;
			return verdict == PCL_ACT_ALLOW ? CG_ALLOW : CG_DENY;
		}
		if (!egress)
			return CG_DENY; /* a held flow receives nothing it could not have asked for */
		__sync_fetch_and_add(&hold->dropped, 1);
		return CG_DROP_CN;
	}
	if (!egress)
		return CG_ALLOW;
	if (helpers_own(cfg, s)) {
		*answered = PCL_ACT_ALLOW;
		return CG_ALLOW;
	}
	int hold_ms = cfg->hold_ms;
	if (hold_ms <= 0) {
		*answered = PCL_ACT_BLOCK; /* nobody to ask: refused */
		return CG_DENY;
	}
	int entered = hold_enter(&key, s, &p->f, BPF_NOEXIST);
	hold = bpf_map_lookup_elem(&pcl_holds, &key);
	if (!hold) {
		*answered = PCL_ACT_BLOCK; /* no room to hold it: refused rather than let through */
		return CG_DENY;
	}
	__sync_fetch_and_add(&hold->dropped, 1);
	if (entered) { /* not when another CPU entered the same flow a moment ago */
		s->flags |= PCL_SK_HOLDS;
		emit(PCL_EV_HOLD, s, &p->f, cookie, PCL_ACT_ASK, 0, 0);
	}
	return CG_DROP_CN;
}

/*
 * The application closed a socket that had held flows: a held connect's entry goes (its answer can
 * no longer matter), and the helper hears of it (it drops the socket from its questions and UDP
 * entries with it).
 */
static __always_inline void release_holds(struct bpf_sock *sk, struct pcl_sock *s, __u8 family)
{
	__u64 cookie = bpf_get_socket_cookie(sk);
	if (s->flags & PCL_SK_HELD) {
		struct pcl_hold_key key = hold_key_tcp(cookie);
		hold_forget(&key);
		s->flags &= ~PCL_SK_HELD;
	}
	struct flow f = { .family = family, .dir = PCL_DIR_OUT };
	emit(PCL_EV_UNHOLD, s, &f, cookie, PCL_ACT_NONE, 0, 0);
}

#endif /* PCL_HOLD_BPF_H */
