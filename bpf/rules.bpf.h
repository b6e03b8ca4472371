/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Rules lookup: the entry deciding for a remote in one scope (exact hash, v6 prefix hash through
 * its bucket, LPM trie), its clauses, and the precedence chain of scopes and defaults (decide).
 */
#ifndef PCL_RULES_BPF_H
#define PCL_RULES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"
#include "maps.bpf.h"

static __always_inline int clause_matches(__u8 dir, __u8 proto, __u16 port_lo, __u16 port_hi, struct flow *f)
{
	return (dir & f->dir) && (proto == PCL_PROTO_ANY || proto == f->proto) && f->rport >= port_lo &&
	       f->rport <= port_hi;
}

/* The entry's inline clause, then the first matching clause of its set; or PCL_ACT_NONE. */
static __always_inline __u8 match_entry(__u32 slot, struct pcl_entry *entry, struct flow *f, __u32 *rule_id)
{
	if (entry->action != PCL_ACT_NONE && clause_matches(entry->dir, entry->proto, entry->port_lo, entry->port_hi, f)) {
		*rule_id = entry->rule_id;
		return entry->action;
	}
	__u32 set_id = entry->set_id;
	if (set_id == PCL_NO_SET)
		return PCL_ACT_NONE;
	void *sets = bpf_map_lookup_elem(&pcl_sets, &slot);
	if (!sets)
		return PCL_ACT_NONE;
	struct pcl_clause_set *set = bpf_map_lookup_elem(sets, &set_id);
	if (!set)
		return PCL_ACT_NONE;
	__u32 count = set->count;
	for (__u32 i = 0; i < PCL_MAX_CLAUSES; i++) {
		if (i >= count)
			break;
		struct pcl_clause *c = &set->clauses[i];
		if (!clause_matches(c->dir, c->proto, c->port_lo, c->port_hi, f))
			continue;
		*rule_id = c->rule_id;
		return c->action;
	}
	return PCL_ACT_NONE;
}

static __always_inline struct pcl_entry *lookup4(__u32 slot, __u32 scope, struct flow *f)
{
	struct pcl_entry *entry = NULL;
	void *exact = bpf_map_lookup_elem(&pcl_v4_exact, &slot);
	if (exact) {
		struct pcl_exact4_key key = { .scope = scope };
		__builtin_memcpy(key.addr, f->raddr, 4);
		entry = bpf_map_lookup_elem(exact, &key);
		if (entry)
			return entry;
	}
	void *lpm = bpf_map_lookup_elem(&pcl_v4_lpm, &slot);
	if (lpm) {
		struct pcl_lpm4_key key = { .prefixlen = 64, .scope = scope };
		__builtin_memcpy(key.addr, f->raddr, 4);
		entry = bpf_map_lookup_elem(lpm, &key);
	}
	return entry;
}

/* Index of the highest set bit of x (x != 0), without branches (clang's BPF target has no clz). */
static __always_inline __u32 highest_bit(__u64 x)
{
	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	x |= x >> 32;
	/* x is now 2^(n+1) - 1: count its bits */
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((x * 0x0101010101010101ULL) >> 56) - 1;
}

/* Mask of the first `len` bits (0..64) of a 64-bit word read from network-order bytes. */
static __always_inline __u64 leading_bits(__u32 len)
{
	if (len == 0)
		return 0;
	if (len >= 64)
		return ~0ULL;
	return bpf_cpu_to_be64(~0ULL << (64 - len));
}

/*
 * IPv6 prefixes of `split` bits or more: the bucket of the address's first `split` bits names the
 * lengths present; they are probed longest first, so the first hit is the longest match, copied
 * to `out`. A global function, so the verifier checks it once per program rather than at every
 * inlined call site (with the loop, that pushed the packet programs past its limit).
 */
__noinline int find_prefix6(__u32 slot, __u32 split, __u32 scope, const struct flow *f, struct pcl_entry *out)
{
	if (!f || !out)
		return 0;
	void *buckets = bpf_map_lookup_elem(&pcl_v6_bucket, &slot);
	void *prefixes = bpf_map_lookup_elem(&pcl_v6_prefix, &slot);
	if (!buckets || !prefixes)
		return 0;
	__u64 hi = *(__u64 *)&f->raddr[0], lo = *(__u64 *)&f->raddr[8];
	struct pcl_bucket6_key bucket_key = { .scope = scope };
	*(__u64 *)bucket_key.addr = hi & leading_bits(split);
	struct pcl_bucket6 *bucket = bpf_map_lookup_elem(buckets, &bucket_key);
	if (!bucket)
		return 0;
	__u64 longer = bucket->lens[1], shorter = bucket->lens[0];
	struct pcl_prefix6_key key = { .scope = scope };
	struct pcl_entry *found = NULL;
	for (__u32 i = 0; i < 128; i++) {
		__u32 len;
		if (longer) {
			__u32 bit = highest_bit(longer);
			longer ^= 1ULL << bit;
			len = 64 + bit;
		} else if (shorter) {
			len = highest_bit(shorter);
			shorter ^= 1ULL << len;
		} else {
			break;
		}
		key.prefixlen = len;
		*(__u64 *)&key.addr[0] = hi & leading_bits(len);
		*(__u64 *)&key.addr[8] = len > 64 ? lo & leading_bits(len - 64) : 0;
		found = bpf_map_lookup_elem(prefixes, &key);
		if (found)
			break;
	}
	if (!found)
		return 0;
	*out = *found;
	return 1;
}

/* The entry deciding for f's remote in this scope, or NULL; a prefix-hash entry comes as a copy in `copy`. */
static __always_inline struct pcl_entry *lookup6(__u32 slot, __u32 split, __u32 scope, struct flow *f, struct pcl_entry *copy)
{
	struct pcl_entry *entry = NULL;
	void *exact = bpf_map_lookup_elem(&pcl_v6_exact, &slot);
	if (exact) {
		struct pcl_exact6_key key = { .scope = scope };
		__builtin_memcpy(key.addr, f->raddr, 16);
		entry = bpf_map_lookup_elem(exact, &key);
		if (entry)
			return entry;
	}
	if (find_prefix6(slot, split, scope, f, copy))
		return copy;
	void *lpm = bpf_map_lookup_elem(&pcl_v6_lpm, &slot);
	if (lpm) {
		struct pcl_lpm6_key key = { .prefixlen = 160, .scope = scope };
		__builtin_memcpy(key.addr, f->raddr, 16);
		entry = bpf_map_lookup_elem(lpm, &key);
	}
	return entry;
}

static __always_inline __u8 eval_scope(__u32 slot, __u32 split6, __u32 scope, struct flow *f, __u32 *rule_id)
{
	struct pcl_entry copy;
	struct pcl_entry *entry = f->family == 4 ? lookup4(slot, scope, f) : lookup6(slot, split6, scope, f, &copy);
	if (!entry)
		return PCL_ACT_NONE;
	return match_entry(slot, entry, f, rule_id);
}

/* An app's pcl_app_dflt value in this generation (PCL_APP_ACTION, PCL_APP_HAS_RULES); 0 without one. */
static __always_inline __u8 app_info(__u32 slot, __u32 app_id)
{
	void *apps = bpf_map_lookup_elem(&pcl_app_dflt, &slot);
	if (!apps)
		return 0;
	__u8 *info = bpf_map_lookup_elem(apps, &app_id);
	return info ? *info : 0;
}

/*
 * Whether an app the owner's unit claims blocks the flow: its own block rules (if it has any), then
 * its block default; never its allows (a claim can only tighten; see portcullis.h "Executables and
 * processes"). A global function: verified once, not at every inlined decision.
 */
__noinline int claim_blocks(__u32 slot, __u32 split6, __u32 claim_id, const struct flow *f, __u32 *rule_id)
{
	if (!f || !rule_id)
		return 0;
	slot &= 1;
	__u8 info = app_info(slot, claim_id);
	if (info & PCL_APP_HAS_RULES) {
		struct flow copy = *f;
		__u32 found = 0;
		__u8 action = eval_scope(slot, split6, claim_id, &copy, &found);
		if (action == PCL_ACT_BLOCK) {
			*rule_id = found;
			return 1;
		}
		if (action != PCL_ACT_NONE)
			return 0;
	}
	if ((info & PCL_APP_ACTION) != PCL_ACT_BLOCK)
		return 0;
	*rule_id = 0;
	return 1;
}

/* The owner's app's precedence chain for one flow under the generation the caller read. */
static __always_inline struct decision decide_app(struct pcl_config *cfg, __u32 slot, __u32 split6, __u32 app_id,
						  struct flow *f)
{
	struct decision d = { .rule_id = 0, .action = PCL_ACT_NONE };
	__u8 global_default = cfg->default_action[slot];
	__u8 info = app_id != 0 ? app_info(slot, app_id) : 0;
	if (info & PCL_APP_HAS_RULES) {
		d.action = eval_scope(slot, split6, app_id, f, &d.rule_id);
		if (d.action != PCL_ACT_NONE)
			return d;
	}
	d.action = eval_scope(slot, split6, 0, f, &d.rule_id);
	if (d.action != PCL_ACT_NONE)
		return d;
	d.rule_id = 0;
	if ((info & PCL_APP_ACTION) != PCL_ACT_NONE) {
		d.action = info & PCL_APP_ACTION;
		return d;
	}
	/* Anything else is monitor mode's allow: a default is never PCL_ACT_NONE. */
	d.action = global_default == PCL_ACT_BLOCK || global_default == PCL_ACT_ASK ? global_default : PCL_ACT_ALLOW;
	return d;
}

/* The full decision for one flow: the owner's app's chain, then what a claimed app blocks. */
static __always_inline struct decision decide(struct pcl_config *cfg, __u32 gen, __u32 app_id, __u32 claim_id,
					      struct flow *f)
{
	__u32 slot = gen & 1;
	/* Read here, while the verifier still knows slot is 0 or 1 (its stack copy, whose address the
	 * map lookups take, loses the bound). */
	__u32 split6 = cfg->v6_split[slot];
	struct decision d = decide_app(cfg, slot, split6, app_id, f);
	if (claim_id != 0 && claim_id != app_id && d.action != PCL_ACT_BLOCK) {
		__u32 rule_id = 0;
		if (claim_blocks(slot, split6, claim_id, f, &rule_id)) {
			d.action = PCL_ACT_BLOCK;
			d.rule_id = rule_id;
		}
	}
	return d;
}

#endif /* PCL_RULES_BPF_H */
