/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A socket's state (struct pcl_sock): its owner, its cached verdict, where it lives (a pcl_slots
 * entry or socket storage), and the end of a TCP socket's sending.
 */
#ifndef PCL_SOCK_STATE_BPF_H
#define PCL_SOCK_STATE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include "maps.bpf.h"
#include "events.bpf.h"
#include "process.bpf.h"

/* Fills the owner from `task`, the current one (process context only). */
static __always_inline void own_by_task(struct pcl_sock *s, struct task_struct *task)
{
	/* Direct loads from the task, as the get_current_* helpers read it (uid and cgroup as seen from
	 * the initial namespaces), at a fraction of the cost: each helper call is ~20 ns. */
	__u32 tgid = task->tgid;
	s->tgid = tgid;
	s->uid = task->cred->uid.val;
	s->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	__u64 *comm = (__u64 *)task->comm;
	__u64 *into = (__u64 *)s->comm;
	into[0] = comm[0];
	into[1] = comm[1];
	exe_of_task(task, &s->exe);
	struct app_of app = app_in_cgroup(bpf_map_lookup_elem(&pcl_procs, &tgid), s->cgroup_id);
	s->app_id = app.app_id;
	s->claim_id = app.claim_id;
	s->flags |= PCL_SK_OWNED;
}

/* Fills the owner from the current task (process context only). */
static __always_inline void own_by_current(struct pcl_sock *s)
{
	own_by_task(s, bpf_get_current_task_btf());
}

/* A bound or listening socket: the current task owns it unless another already does, and its flows are inbound. */
static __always_inline void own_as_listener(struct pcl_sock *s)
{
	if (!(s->flags & PCL_SK_OWNED))
		own_by_current(s);
	s->flags |= PCL_SK_PASSIVE;
}

/* The verdict cache's key, laid out as pcl_sock.cache_key. */
static __always_inline __u64 cache_key(__u32 gen, __u16 rport, __u8 proto, __u8 family)
{
	struct pcl_sock key = { .gen = gen, .remote_port = rport, .proto = proto, .family = family };
	return key.cache_key;
}

static __always_inline __u64 cache_key_of(__u32 gen, struct flow *f)
{
	return cache_key(gen, f->rport, f->proto, f->family);
}

/* Addresses are zero past their family's length, so one 16-byte compare serves both. */
static __always_inline int cache_matches(struct pcl_sock *s, __u32 gen, struct flow *f)
{
	__u64 *a = (__u64 *)s->remote;
	__u64 *b = (__u64 *)f->raddr;
	return s->cache_key == cache_key_of(gen, f) && a[0] == b[0] && a[1] == b[1];
}

static __always_inline void cache_store(struct pcl_sock *s, __u32 gen, struct flow *f, __u8 verdict, __u32 rule_id)
{
	s->cache_key = cache_key_of(gen, f);
	s->rule_id = rule_id;
	__builtin_memcpy(s->remote, f->raddr, 16);
	s->verdict = verdict;
}

static __always_inline struct pcl_slot *slot_of(__u64 cookie)
{
	__u32 index = cookie & (PCL_SLOTS - 1);
	return bpf_map_lookup_elem(&pcl_slots, &index);
}

/*
 * Takes `entry` for a socket's state when it is free or its last socket is done (close reported:
 * nothing more reads or reports its state). Answers 1 when taken: its owner is then
 * PCL_SLOT_FILLING until the caller writes the new owner's cookie.
 */
static __always_inline int take_entry(struct pcl_slot *entry)
{
	__u64 owner = entry->owner;
	if (owner == PCL_SLOT_FILLING || (owner != 0 && !(entry->sock.close_state & PCL_CLOSE_DONE)))
		return 0;
	return __sync_val_compare_and_swap(&entry->owner, owner, PCL_SLOT_FILLING) == owner;
}

/* The entry the socket with this cookie keeps its state in, or NULL (its state is in its storage, if any). */
static __always_inline struct pcl_slot *entry_of_cookie(__u64 cookie)
{
	if (!pcl_kern_ctx_cast || cookie == 0) /* never asked for: no entry is its own (a free entry's owner is 0 too) */
		return NULL;
	struct pcl_slot *entry = slot_of(cookie);
	return entry && entry->owner == cookie ? entry : NULL;
}

/*
 * Where a socket's state lives: `entry`, the pcl_slots entry its cookie owns (entry_of_cookie, or
 * the fast path's entry_of_packet), else its socket storage, made when `create` is
 * BPF_SK_STORAGE_GET_F_CREATE. *stored says which: the storage when the state is there (a caller
 * may move it to its entry: settle_at_connect, claim_slot), else NULL. Answers NULL for neither.
 */
static __always_inline struct pcl_sock *state_of_socket(struct pcl_slot *entry, struct bpf_sock *sk, __u64 create,
							struct pcl_sock **stored)
{
	*stored = NULL;
	if (entry)
		return &entry->sock;
	*stored = bpf_sk_storage_get(&pcl_sk, sk, 0, create);
	return *stored;
}

/*
 * Whether sockets of `protocol` get their state at their first use (connect, sendmsg, bind) rather
 * than at their creation: TCP and UDP, where entries are used (portcullis.h, struct pcl_slot).
 */
static __always_inline int born_at_first_use(__u32 protocol)
{
	return pcl_kern_ctx_cast && (protocol == IPPROTO_TCP_NR || protocol == IPPROTO_UDP_NR);
}

/*
 * A TCP or UDP socket's state, born at its first connect or sendmsg in the entry its cookie indexes,
 * where the entry can be taken: such a socket never gets socket storage, whose allocation (and
 * freeing with the socket) would be most of a short connection's cost. Answers the zeroed state,
 * with its cookie, or NULL (another protocol, or the entry is taken).
 */
static __always_inline struct pcl_sock *born_in_entry(__u64 cookie, __u32 protocol)
{
	if (!born_at_first_use(protocol))
		return NULL;
	struct pcl_slot *entry = slot_of(cookie);
	if (!entry || !take_entry(entry))
		return NULL;
	__builtin_memset(&entry->sock, 0, sizeof(entry->sock));
	entry->sock.cookie = cookie;
	entry->owner = cookie; /* no packet can look for a socket still being made */
	return &entry->sock;
}

/*
 * A socket whose packets the fast path may take: it has a cookie (from its first packet, or from
 * its TCP connect's decision: settle_at_connect), it is not a listener (its state is the one
 * accepted sockets start from: BPF_F_CLONE copies the storage), and the application has not
 * closed it.
 */
static __always_inline int settled(struct pcl_sock *stored, struct bpf_sock *sk)
{
	return stored->cookie != 0 && sk->state != BPF_TCP_LISTEN && !(stored->close_state & PCL_CLOSE_RELEASED);
}

/*
 * Moves the state of a settled socket from its storage into its entry, if that can be taken. Not a
 * held connect's (it stays where the hold began).
 */
static __always_inline void claim_slot(struct pcl_sock *stored, struct bpf_sock *sk)
{
	if (!settled(stored, sk) || (stored->flags & PCL_SK_HELD))
		return;
	__u64 cookie = stored->cookie;
	struct pcl_slot *entry = slot_of(cookie);
	if (!entry || !take_entry(entry))
		return;
	entry->sock = *stored;
	entry->owner = cookie; /* after the copy: the fast path never sees a half-copied state */
}

/*
 * A TCP connect decided (not held): the socket takes its cookie and its entry now, so its SYN, the
 * first packet, already takes the fast path instead of the full one (a helper call, a second parse,
 * and the claim). Where entries are not used the cookie alone lets the storage form of the fast
 * path take it.
 */
static __always_inline void settle_at_connect(struct pcl_sock *stored, struct bpf_sock *sk, __u64 cookie)
{
	stored->cookie = cookie;
	if (pcl_kern_ctx_cast)
		claim_slot(stored, sk);
}

/*
 * A socket that listens (or is bound to receive) keeps its state in its storage: accepted sockets
 * start as a copy of it (BPF_F_CLONE), without its cookie. Its entry, if it had one, is freed.
 */
static __always_inline void move_to_storage(struct pcl_slot *entry, struct pcl_sock *stored)
{
	*stored = entry->sock;
	stored->cookie = 0;
	entry->owner = 0;
}

/* Nothing more will be reported for the socket: its entry, if any, may be taken by another. */
static __always_inline void sock_done(struct pcl_sock *s)
{
	__sync_fetch_and_or(&s->close_state, PCL_CLOSE_DONE);
}

/*
 * The pcl_slots entry of a kernel socket, found from the cookie it already has: a load, where
 * bpf_get_socket_cookie is a helper call that makes a cookie for a socket that never needed one.
 * NULL when it has none.
 */
static __always_inline struct pcl_slot *entry_of_kernel_sock(struct sock *sk)
{
	return sk ? entry_of_cookie(sk->__sk_common.skc_cookie.counter) : NULL;
}

/* The pcl_slots entry of a packet's socket (the fast path's way: no helper call), or NULL. */
static __always_inline struct pcl_slot *entry_of_packet(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	return entry_of_kernel_sock(kskb->sk);
}

/* A TCP socket's FIN or RST went out: its last byte has been sent once. */
static __always_inline void tcp_end_sent(struct pcl_sock *s, __u8 family)
{
	__u64 before = __sync_fetch_and_or(&s->close_state, PCL_CLOSE_END_SENT);
	if ((before & (PCL_CLOSE_END_SENT | PCL_CLOSE_RELEASED)) == PCL_CLOSE_RELEASED) {
		emit_close(s, PCL_PROTO_TCP, family);
		sock_done(s);
	}
}

#endif /* PCL_SOCK_STATE_BPF_H */
