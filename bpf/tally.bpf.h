/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The tally: known allowed flows counted per CPU in pcl_tally instead of recorded (portcullis.h,
 * struct pcl_tally_key, says how its halves, slots and epochs work).
 */
#ifndef PCL_TALLY_BPF_H
#define PCL_TALLY_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include "maps.bpf.h"

/* The flow's remote port, protocol and family as one word, laid out as in pcl_tally_key. */
static __always_inline __u32 tally_port_word(struct pcl_sock *s)
{
	return (__u32)s->remote_port | (__u32)s->proto << 16 | (__u32)s->family << 24;
}

/* Where a flow's slots are in a half: a multiplicative hash of its key (epoch aside). */
static __always_inline __u32 tally_hash(struct pcl_sock *s)
{
	__u32 *r = (__u32 *)s->remote;
	return mix_words(s->app_id, s->rule_id, tally_port_word(s), r[0], r[1] ^ r[2] ^ r[3]);
}

/* Whether `slot` counts the flow `s`'s verdict is cached for, in `epoch`. */
static __always_inline int tally_holds(struct pcl_tally_record *slot, struct pcl_sock *s, __u32 epoch)
{
	struct pcl_tally_key *k = &slot->key;
	__u64 *a = (__u64 *)k->remote;
	__u64 *b = (__u64 *)s->remote;
	return k->epoch == epoch && k->app_id == s->app_id && k->rule_id == s->rule_id &&
	       *(__u32 *)&k->remote_port == tally_port_word(s) && a[0] == b[0] && a[1] == b[1];
}

/*
 * Makes `slot` the flow's in `epoch` when it holds none of this epoch's flows. Programs on one CPU can
 * interleave (a packet's softirq, a preempted task), so the slot is taken with a compare-and-swap and
 * shows its new epoch only once its key and zeroed counts are written.
 */
static __always_inline int tally_claim(struct pcl_tally_record *slot, struct pcl_sock *s, __u32 epoch)
{
	/* The epoch with the app id as one word (the epoch is its low half: BPF is little-endian here): the
	 * BPF ISA's compare-and-swap before v3 is 64-bit only. */
	__u64 *head = (__u64 *)&slot->key;
	__u64 was = *head;
	if ((__u32)was == epoch || (__u32)was == PCL_TALLY_CLAIMING)
		return 0;
	if (__sync_val_compare_and_swap(head, was, (__u64)s->app_id << 32 | PCL_TALLY_CLAIMING) != was)
		return 0;
	slot->key.rule_id = s->rule_id;
	*(__u32 *)&slot->key.remote_port = tally_port_word(s);
	__builtin_memcpy(slot->key.remote, s->remote, 16);
	__builtin_memset(&slot->counts, 0, sizeof(slot->counts));
	asm volatile("" ::: "memory");
	slot->key.epoch = epoch;
	return 1;
}

/*
 * The slot counting `s`'s flow in this CPU's half of pcl_tally for `epoch`, or NULL. With `claim`, a
 * flow with no slot yet takes a free one of its two places, and *claimed says so.
 */
static __always_inline struct pcl_tally_record *tally_slot(struct pcl_sock *s, __u32 epoch, int claim, int *claimed)
{
	__u32 half = (bpf_get_smp_processor_id() * 2 + (epoch & 1)) * PCL_TALLY_SLOTS;
	__u32 first = half + (tally_hash(s) & (PCL_TALLY_SLOTS - 1));
	__u32 second = first ^ 1;
	struct pcl_tally_record *a = bpf_map_lookup_elem(&pcl_tally, &first);
	if (!a)
		return NULL; /* a CPU past the possible ones at load */
	if (tally_holds(a, s, epoch))
		return a;
	struct pcl_tally_record *b = bpf_map_lookup_elem(&pcl_tally, &second);
	if (!b)
		return NULL;
	if (tally_holds(b, s, epoch))
		return b;
	if (!claim)
		return NULL;
	if (tally_claim(a, s, epoch)) {
		*claimed = 1;
		return a;
	}
	if (tally_claim(b, s, epoch)) {
		*claimed = 1;
		return b;
	}
	return NULL;
}

/*
 * Counts a decision just cached for `s` in pcl_tally instead of recording it, when it is an allowed
 * outbound flow of a known app that is already recorded in this epoch on this CPU; answers 1 when
 * counted. The flow's first decision there claims its slot and answers 0: that one is recorded, and
 * tells user space the flow.
 */
static __always_inline int tally_decision(struct pcl_sock *s, __u8 verdict)
{
	__u32 epoch = pcl_config.tally_epoch;
	if (epoch == 0 || verdict != PCL_ACT_ALLOW || s->app_id == 0 || (s->flags & PCL_SK_PASSIVE))
		return 0;
	int claimed = 0;
	struct pcl_tally_record *slot = tally_slot(s, epoch, 1, &claimed);
	if (!slot || claimed)
		return 0;
	__sync_fetch_and_add(&slot->counts.connections, 1);
	slot->counts.last_ns = bpf_ktime_get_coarse_ns();
	if (!(s->flags & PCL_SK_RECORDED))
		s->flags |= PCL_SK_TALLIED;
	return 1;
}

/*
 * A tallied socket that closes with no pcl_flows record (no payload: a refused or reset connect, a
 * probe) adds its totals to its flow's tally instead of a close record; answers 1 when it did. One
 * with a record is closed by a record: user space may have counted part of its totals from it. A
 * close with no slot of its flow here (another epoch, another CPU) is recorded.
 */
static __always_inline int tally_close(struct pcl_sock *s)
{
	__u32 epoch = pcl_config.tally_epoch;
	if (epoch == 0 || (s->flags & (PCL_SK_TALLIED | PCL_SK_MIRRORED)) != PCL_SK_TALLIED)
		return 0;
	int claimed = 0;
	struct pcl_tally_record *slot = tally_slot(s, epoch, 0, &claimed);
	if (!slot)
		return 0;
	__sync_fetch_and_add(&slot->counts.bytes_out, s->bytes_out);
	__sync_fetch_and_add(&slot->counts.bytes_in, s->bytes_in);
	__sync_fetch_and_add(&slot->counts.packets_out, s->packets_out);
	__sync_fetch_and_add(&slot->counts.packets_in, s->packets_in);
	slot->counts.last_ns = bpf_ktime_get_coarse_ns();
	return 1;
}

#endif /* PCL_TALLY_BPF_H */
