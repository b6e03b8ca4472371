/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Decisions remembered per CPU: the connect and sendmsg hooks ask decide() for the same flow of the
 * same app over and over (an app reconnecting to its server), and each answer costs lookups in up to
 * three scopes' maps. decide() is a function of the generation, the app, the claimed app and the
 * flow, and every rules change moves the generation on, so an answer kept under all of them holds
 * until then: a connection like a recent one on this CPU skips the rules lookups.
 */
#ifndef PCL_REMEMBERED_BPF_H
#define PCL_REMEMBERED_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include "rules.bpf.h"

/* Entries per CPU (a power of two), each the last decision of the inputs that hash to it. */
#define PCL_REMEMBERED_SLOTS 256

struct remembered {
	/*
	 * Even while the entry is whole, odd while a program writes it: programs on one CPU can preempt
	 * one another (a task's connect, another task's sendmsg), so a reader checks it did not change
	 * under its reads, and a writer takes it with a compare-and-swap.
	 */
	__u64 seq;
	__u32 gen;
	__u32 app_id;
	__u32 claim_id;
	__u16 remote_port;
	__u8 proto;
	__u8 family;
	__u8 remote[16];
	__u32 rule_id;
	__u8 action; /* PCL_ACT_NONE: empty (decide() never answers it) */
	__u8 dir;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PCL_REMEMBERED_SLOTS);
	__type(key, __u32);
	__type(value, struct remembered);
} pcl_remembered SEC(".maps");

static __always_inline __u32 remembered_index(__u32 gen, __u32 app_id, __u32 claim_id, struct flow *f)
{
	__u32 *r = (__u32 *)f->raddr;
	__u32 port_word = (__u32)f->rport | (__u32)f->proto << 16 | (__u32)f->family << 24;
	return mix_words(gen ^ app_id, claim_id, port_word ^ f->dir, r[0], r[1] ^ r[2] ^ r[3]) & (PCL_REMEMBERED_SLOTS - 1);
}

static __always_inline int remembers(struct remembered *m, __u32 gen, __u32 app_id, __u32 claim_id, struct flow *f)
{
	__u64 *a = (__u64 *)m->remote;
	__u64 *b = (__u64 *)f->raddr;
	return m->action != PCL_ACT_NONE && m->gen == gen && m->app_id == app_id && m->claim_id == claim_id &&
	       m->remote_port == f->rport && m->proto == f->proto && m->family == f->family && m->dir == f->dir &&
	       a[0] == b[0] && a[1] == b[1];
}

/* The decision for these inputs, from the CPU's memory or from decide() (then remembered). */
static __always_inline struct decision decide_remembered(struct pcl_config *cfg, __u32 gen, __u32 app_id,
							  __u32 claim_id, struct flow *f)
{
	__u32 index = remembered_index(gen, app_id, claim_id, f);
	struct remembered *m = bpf_map_lookup_elem(&pcl_remembered, &index);
	struct decision d;
	if (m) {
		__u64 seq = *(volatile __u64 *)&m->seq;
		asm volatile("" ::: "memory");
		if (!(seq & 1) && remembers(m, gen, app_id, claim_id, f)) {
			d.rule_id = m->rule_id;
			d.action = m->action;
			asm volatile("" ::: "memory");
			if (*(volatile __u64 *)&m->seq == seq)
				return d;
		}
	}
	d = decide(cfg, gen, app_id, claim_id, f);
	if (!m)
		return d;
	__u64 seq = m->seq;
	if ((seq & 1) || __sync_val_compare_and_swap(&m->seq, seq, seq + 1) != seq)
		return d; /* another program on this CPU is writing it */
	m->gen = gen;
	m->app_id = app_id;
	m->claim_id = claim_id;
	m->remote_port = f->rport;
	m->proto = f->proto;
	m->family = f->family;
	m->dir = f->dir;
	__builtin_memcpy(m->remote, f->raddr, 16);
	m->rule_id = d.rule_id;
	m->action = d.action;
	asm volatile("" ::: "memory");
	*(volatile __u64 *)&m->seq = seq + 2;
	return d;
}

#endif /* PCL_REMEMBERED_BPF_H */
