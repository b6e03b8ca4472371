/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps and the config global: one definition, included by the product object and by the test
 * object (whose loader reuses the product's maps, so both see the same state).
 */
#ifndef PCL_MAPS_BPF_H
#define PCL_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "portcullis.h"

/*
 * A global in a section of its own: libbpf makes it a one-entry array map (".data.config") that
 * user space writes like any map, and the programs read it at a fixed address, without the array
 * lookup a map of our own would take on every packet.
 */
struct pcl_config pcl_config SEC(".data.config");

/*
 * Inner-map templates; user space creates real inner maps of the same shape per apply. Sizes, not
 * BTF types: clang emits only forward declarations for types reached through these templates.
 */
#define INNER(name, map_type, flags, key, value)         \
	struct name {                                     \
		__uint(type, map_type);                   \
		__uint(max_entries, 1);                   \
		__uint(map_flags, flags);                 \
		__uint(key_size, sizeof(key));            \
		__uint(value_size, sizeof(value));        \
	}

INNER(lpm4_inner, BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC, struct pcl_lpm4_key, struct pcl_entry);
INNER(lpm6_inner, BPF_MAP_TYPE_LPM_TRIE, BPF_F_NO_PREALLOC, struct pcl_lpm6_key, struct pcl_entry);
/* Hashes of rule entries are preallocated: bulk inserts are faster than with per-element allocation. */
INNER(exact4_inner, BPF_MAP_TYPE_HASH, 0, struct pcl_exact4_key, struct pcl_entry);
INNER(exact6_inner, BPF_MAP_TYPE_HASH, 0, struct pcl_exact6_key, struct pcl_entry);
INNER(prefix6_inner, BPF_MAP_TYPE_HASH, 0, struct pcl_prefix6_key, struct pcl_entry);
INNER(bucket6_inner, BPF_MAP_TYPE_HASH, 0, struct pcl_bucket6_key, struct pcl_bucket6);
/* Inner arrays may differ in size. */
INNER(sets_inner, BPF_MAP_TYPE_ARRAY, BPF_F_INNER_MAP, __u32, struct pcl_clause_set);
INNER(app_dflt_inner, BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC, __u32, __u8);

#define OUTER(name, inner)                              \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); \
		__uint(max_entries, 2);                 \
		__type(key, __u32);                     \
		__array(values, struct inner);          \
	} name SEC(".maps")

OUTER(pcl_v4_lpm, lpm4_inner);
OUTER(pcl_v6_lpm, lpm6_inner);
OUTER(pcl_v4_exact, exact4_inner);
OUTER(pcl_v6_exact, exact6_inner);
OUTER(pcl_v6_prefix, prefix6_inner);
OUTER(pcl_v6_bucket, bucket6_inner);
OUTER(pcl_sets, sets_inner);
OUTER(pcl_app_dflt, app_dflt_inner);

/* Executables bound to apps by file identity (the helper's). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pcl_exe_key);
	__type(value, __u32);
} pcl_exe SEC(".maps");

/* Executables bound to apps by path, for a file an update put there (the helper's; see pcl_config.host_mnt_ns). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, PCL_PATH_MAX);
	__type(value, __u32);
} pcl_path_app SEC(".maps");

/* Where each executable run since the programs were attached was run from (written at exec). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct pcl_exe_key);
	__type(value, struct pcl_exe_path);
} pcl_exe_path SEC(".maps");

/* Processes' apps, by tgid (exec, fork and exit keep it; the helper adds processes that predate a binding). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, struct pcl_proc);
} pcl_procs SEC(".maps");

/* Application units by cgroup id (the helper's bindings, and cgroups named as a unit when made). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct pcl_cgroup);
} pcl_cgrp_app SEC(".maps");

/* Unit names of known apps (the helper's), consulted when a cgroup is made. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(key_size, PCL_UNIT_MAX);
	__type(value, struct pcl_unit);
} pcl_units SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct pcl_sock);
} pcl_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct pcl_flow);
} pcl_flows SEC(".maps");

/* Counts of known allowed flows instead of their records (portcullis.h, struct pcl_tally_key). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * PCL_TALLY_SLOTS); /* times the possible CPUs: set at load */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct pcl_tally_record);
} pcl_tally SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} pcl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pcl_counters);
} pcl_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} pcl_rule_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PCL_SLOTS);
	__type(key, __u32);
	__type(value, struct pcl_slot);
} pcl_slots SEC(".maps");

/* Ask mode's held flows (hold.bpf.h): entered by the hooks, answered by the helper. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PCL_HOLDS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pcl_hold_key);
	__type(value, struct pcl_hold);
} pcl_holds SEC(".maps");

/* The helper's answers to held flows: PCL_ACT_ALLOW or PCL_ACT_BLOCK by pcl_holds key (absent: pending). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PCL_HOLDS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pcl_hold_key);
	__type(value, __u8);
} pcl_hold_answers SEC(".maps");

/*
 * The sk_buff behind a program's __sk_buff: the verifier turns the call into a register move.
 * Linux 6.2+. Weak, so the object also loads where the kernel lacks it: libbpf leaves the call
 * unresolved, and with pcl_kern_ctx_cast 0 it is dead code the verifier removes.
 */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/*
 * Set by the loader before load: 1 when the kernel has bpf_cast_to_kern_ctx (and the fast path so
 * keeps a settled socket's state in its pcl_slots entry). Read-only data is a constant to the
 * verifier, which so verifies only the branch this kernel takes. With 0 no entry is ever claimed
 * and the fast path reads a socket's state from its storage (one helper call per packet).
 */
const volatile __u8 pcl_kern_ctx_cast = 0;

/*
 * Set by the loader before load: a quarter of the ring's size, the unread bytes past which a known
 * app's routine records wake the helper (events.bpf.h, wakeup_flags). A constant, so a record asks
 * the ring only how much waits unread, not also its size.
 */
const volatile __u32 pcl_ring_wake_bytes = 64 * 1024;

#endif /* PCL_MAPS_BPF_H */
