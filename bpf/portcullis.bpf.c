// SPDX-License-Identifier: GPL-2.0-only
// Portcullis datapath: per-app verdicts on cgroup v2 hooks. See portcullis.h for the rule
// layout and precedence, DESIGN.md "Kernel side" for the hooks' jobs.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "portcullis.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6_NR 58
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_RST 0x04
#define CG_ALLOW 1
#define CG_DENY 0

/* ---- maps ---------------------------------------------------------------------------- */

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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pcl_exe_key);
	__type(value, __u32);
} pcl_exe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, __u32);
} pcl_tgid_app SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} pcl_cgrp_app SEC(".maps");

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

/* The sk_buff behind a program's __sk_buff: the verifier turns the call into a register move. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

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

static __always_inline struct pcl_counters *percpu_counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&pcl_counters, &zero);
}

static __always_inline __u8 fold_proto(__u8 proto)
{
	return proto == IPPROTO_ICMPV6_NR ? PCL_PROTO_ICMP : proto;
}

/* ---- rule evaluation --------------------------------------------------------------------- */

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

/* The full precedence chain for one flow under the generation the caller read. */
static __always_inline struct decision decide(struct pcl_config *cfg, __u32 gen, __u32 app_id, struct flow *f)
{
	struct decision d = { .rule_id = 0, .action = PCL_ACT_NONE };
	__u32 slot = gen & 1;
	/* Both read here, while the verifier still knows slot is 0 or 1 (its stack copy below, whose
	 * address the map lookups take, loses the bound). */
	__u32 split6 = cfg->v6_split[slot];
	__u8 global_default = cfg->default_action[slot];
	if (app_id != 0) {
		d.action = eval_scope(slot, split6, app_id, f, &d.rule_id);
		if (d.action != PCL_ACT_NONE)
			return d;
	}
	d.action = eval_scope(slot, split6, 0, f, &d.rule_id);
	if (d.action != PCL_ACT_NONE)
		return d;
	d.rule_id = 0;
	if (app_id != 0) {
		void *dflt = bpf_map_lookup_elem(&pcl_app_dflt, &slot);
		if (dflt) {
			__u8 *action = bpf_map_lookup_elem(dflt, &app_id);
			if (action && *action != PCL_ACT_NONE) {
				d.action = *action;
				return d;
			}
		}
	}
	d.action = global_default == PCL_ACT_BLOCK ? PCL_ACT_BLOCK : PCL_ACT_ALLOW;
	return d;
}

/* ---- owners, counters, events ------------------------------------------------------------ */

static __always_inline __u32 app_of_current(__u32 tgid, __u64 cgroup_id)
{
	__u32 *app = bpf_map_lookup_elem(&pcl_tgid_app, &tgid);
	if (app)
		return *app;
	app = bpf_map_lookup_elem(&pcl_cgrp_app, &cgroup_id);
	return app ? *app : 0;
}

/* Fills the owner from the current task (process context only). */
static __always_inline void own_by_current(struct pcl_sock *s)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	s->tgid = pid_tgid >> 32;
	s->uid = (__u32)bpf_get_current_uid_gid();
	s->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(s->comm, sizeof(s->comm));
	s->app_id = app_of_current(s->tgid, s->cgroup_id);
	s->flags |= PCL_SK_OWNED;
}

static __always_inline void count_decision(__u8 action, __u32 rule_id)
{
	struct pcl_counters *c = percpu_counters();
	if (c) {
		if (action == PCL_ACT_BLOCK)
			c->blocked++;
		else
			c->allowed++;
	}
	if (rule_id != 0) {
		__u64 *hits = bpf_map_lookup_elem(&pcl_rule_hits, &rule_id);
		if (hits) {
			*hits += 1;
		} else {
			__u64 one = 1;
			bpf_map_update_elem(&pcl_rule_hits, &rule_id, &one, BPF_NOEXIST);
		}
	}
}

static __always_inline void fill_event(struct pcl_event *e, __u8 kind, struct pcl_sock *s, struct flow *f, __u64 cookie,
				       __u8 verdict, __u32 rule_id, struct pcl_flow *totals)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_ns();
	e->cookie = cookie;
	if (s) {
		e->cgroup_id = s->cgroup_id;
		e->tgid = s->tgid;
		e->uid = s->uid;
		e->app_id = s->app_id;
		__builtin_memcpy(e->comm, s->comm, PCL_COMM_LEN);
	}
	if (totals) {
		e->bytes_out = totals->bytes_out;
		e->bytes_in = totals->bytes_in;
		e->packets_out = totals->packets_out;
		e->packets_in = totals->packets_in;
	}
	e->rule_id = rule_id;
	__builtin_memcpy(e->local_addr, f->laddr, 16);
	__builtin_memcpy(e->remote_addr, f->raddr, 16);
	e->local_port = f->lport;
	e->remote_port = f->rport;
	e->kind = kind;
	e->family = f->family;
	e->protocol = f->proto;
	e->direction = f->dir;
	e->verdict = verdict;
}

static __always_inline void emit(__u8 kind, struct pcl_sock *s, struct flow *f, __u64 cookie, __u8 verdict,
				 __u32 rule_id, struct pcl_flow *totals)
{
	struct pcl_counters *c = percpu_counters();
	struct pcl_event *e = bpf_ringbuf_reserve(&pcl_events, sizeof(*e), 0);
	if (!e) {
		if (c)
			c->drops++;
		return;
	}
	if (c)
		c->events++;
	fill_event(e, kind, s, f, cookie, verdict, rule_id, totals);
	bpf_ringbuf_submit(e, 0);
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

/* ---- where a socket's state lives (see struct pcl_slot) ---------------------------------- */

static __always_inline struct pcl_slot *slot_of(__u64 cookie)
{
	__u32 index = cookie & (PCL_SLOTS - 1);
	return bpf_map_lookup_elem(&pcl_slots, &index);
}

/* The entry a socket's state lives in (`stored` is its storage), or NULL. */
static __always_inline struct pcl_slot *owned_slot(struct pcl_sock *stored)
{
	__u64 cookie = stored->cookie;
	if (cookie == 0)
		return NULL;
	struct pcl_slot *entry = slot_of(cookie);
	return entry && entry->owner == cookie ? entry : NULL;
}

/* The socket's state: its entry's while it owns one, else its storage's. */
static __always_inline struct pcl_sock *sock_state(struct pcl_sock *stored)
{
	struct pcl_slot *entry = owned_slot(stored);
	return entry ? &entry->sock : stored;
}

/*
 * Moves the state of a socket that has had its first packet into its entry, if free. Not a
 * listener's (its state is the one accepted sockets start from: BPF_F_CLONE copies the storage),
 * nor after the application's close.
 */
static __always_inline void claim_slot(struct pcl_sock *stored, struct bpf_sock *sk)
{
	__u64 cookie = stored->cookie;
	if (cookie == 0 || sk->state == BPF_TCP_LISTEN || (stored->close_state & PCL_CLOSE_RELEASED))
		return;
	struct pcl_slot *entry = slot_of(cookie);
	if (!entry || entry->owner != 0 || __sync_val_compare_and_swap(&entry->owner, 0, PCL_SLOT_FILLING) != 0)
		return;
	entry->sock = *stored;
	entry->owner = cookie; /* after the copy: the fast path never sees a half-copied state */
}

/*
 * At the application's close the state goes back into the storage (the socket may still send
 * queued data and its FIN) and the entry is freed. A packet on another CPU that read the entry
 * just before may add to it after the copy: at most that packet goes uncounted.
 */
static __always_inline void release_slot(struct pcl_sock *stored)
{
	struct pcl_slot *entry = owned_slot(stored);
	if (!entry)
		return;
	*stored = entry->sock;
	entry->owner = 0;
}

/*
 * The fast path's view of a packet's socket state: its pcl_slots entry, found from the cookie in
 * the kernel's socket (two loads, no helper call), or NULL when it has none.
 */
static __always_inline struct pcl_sock *fast_sock_state(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct sock *sk = kskb->sk;
	if (!sk)
		return NULL;
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	if (cookie == 0) /* never asked for: no entry is its own (a free entry's owner is 0 too) */
		return NULL;
	struct pcl_slot *entry = slot_of(cookie);
	if (!entry || entry->owner != cookie)
		return NULL;
	return &entry->sock;
}

/*
 * A connect or sendmsg decision: cached per socket and remote, so an unconnected UDP socket
 * sending a million datagrams to one remote makes one event, not a million.
 */
static __always_inline int sock_addr_verdict(struct bpf_sock_addr *ctx, struct flow *f, __u8 kind)
{
	struct pcl_config *cfg = &pcl_config;
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return CG_ALLOW;
	struct pcl_sock *stored = bpf_sk_storage_get(&pcl_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!stored)
		return CG_ALLOW;
	struct pcl_sock *s = sock_state(stored);
	if (!(s->flags & PCL_SK_OWNED))
		own_by_current(s);
	f->lport = sk->src_port;
	if (f->family == 4 && sk->family == AF_INET) {
		__u32 a = sk->src_ip4;
		__builtin_memcpy(f->laddr, &a, 4);
	}
	if (kind == PCL_EV_CONNECT)
		s->flags &= ~PCL_SK_PASSIVE;
	if (!(s->flags & PCL_SK_PASSIVE))
		s->flags |= PCL_SK_ACTIVE;
	__u32 gen = cfg->generation;
	if (kind == PCL_EV_SENDMSG && cache_matches(s, gen, f))
		return s->verdict == PCL_ACT_BLOCK ? CG_DENY : CG_ALLOW;

	struct decision d = decide(cfg, gen, s->app_id, f);
	__u8 verdict = cfg->enforcing ? d.action : PCL_ACT_ALLOW;
	cache_store(s, gen, f, verdict, d.rule_id);
	count_decision(verdict, d.rule_id);
	emit(kind, s, f, bpf_get_socket_cookie(ctx), verdict, d.rule_id, NULL);
	return verdict == PCL_ACT_BLOCK ? CG_DENY : CG_ALLOW;
}

static __always_inline void flow4_from_ctx(struct bpf_sock_addr *ctx, struct flow *f)
{
	__u32 raddr = ctx->user_ip4;
	__builtin_memcpy(f->raddr, &raddr, 4);
	f->family = 4;
	f->rport = bpf_ntohs((__u16)ctx->user_port);
	f->proto = fold_proto(ctx->protocol);
	f->dir = PCL_DIR_OUT;
}

/* ::ffff:a.b.c.d is decided (and reported) as the IPv4 address a.b.c.d. */
static __always_inline void flow6_from_ctx(struct bpf_sock_addr *ctx, struct flow *f)
{
	__u32 a0 = ctx->user_ip6[0], a1 = ctx->user_ip6[1], a2 = ctx->user_ip6[2], a3 = ctx->user_ip6[3];
	f->rport = bpf_ntohs((__u16)ctx->user_port);
	f->proto = fold_proto(ctx->protocol);
	f->dir = PCL_DIR_OUT;
	if (a0 == 0 && a1 == 0 && a2 == bpf_htonl(0x0000ffff)) {
		f->family = 4;
		__builtin_memcpy(f->raddr, &a3, 4);
		return;
	}
	f->family = 6;
	__builtin_memcpy(f->raddr, &a0, 4);
	__builtin_memcpy(f->raddr + 4, &a1, 4);
	__builtin_memcpy(f->raddr + 8, &a2, 4);
	__builtin_memcpy(f->raddr + 12, &a3, 4);
}

SEC("cgroup/connect4")
int pcl_connect4(struct bpf_sock_addr *ctx)
{
	struct flow f = {};
	flow4_from_ctx(ctx, &f);
	return sock_addr_verdict(ctx, &f, PCL_EV_CONNECT);
}

SEC("cgroup/connect6")
int pcl_connect6(struct bpf_sock_addr *ctx)
{
	struct flow f = {};
	flow6_from_ctx(ctx, &f);
	return sock_addr_verdict(ctx, &f, PCL_EV_CONNECT);
}

SEC("cgroup/sendmsg4")
int pcl_sendmsg4(struct bpf_sock_addr *ctx)
{
	struct flow f = {};
	flow4_from_ctx(ctx, &f);
	return sock_addr_verdict(ctx, &f, PCL_EV_SENDMSG);
}

SEC("cgroup/sendmsg6")
int pcl_sendmsg6(struct bpf_sock_addr *ctx)
{
	struct flow f = {};
	flow6_from_ctx(ctx, &f);
	return sock_addr_verdict(ctx, &f, PCL_EV_SENDMSG);
}

/* ---- socket lifecycle ------------------------------------------------------------------- */

SEC("cgroup/sock_create")
int pcl_sock_create(struct bpf_sock *ctx)
{
	struct pcl_sock *s = bpf_sk_storage_get(&pcl_sk, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		own_by_current(s);
	return CG_ALLOW;
}

static __always_inline int post_bind(struct bpf_sock *ctx, __u8 family)
{
	struct pcl_sock *stored = bpf_sk_storage_get(&pcl_sk, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!stored)
		return CG_ALLOW;
	struct pcl_sock *s = sock_state(stored);
	if (!(s->flags & PCL_SK_OWNED))
		own_by_current(s);
	s->flags |= PCL_SK_PASSIVE;
	struct flow f = { .family = family, .proto = fold_proto(ctx->protocol), .dir = PCL_DIR_IN };
	f.lport = ctx->src_port;
	if (family == 4) {
		__u32 a = ctx->src_ip4;
		__builtin_memcpy(f.laddr, &a, 4);
	} else {
		__u32 a0 = ctx->src_ip6[0], a1 = ctx->src_ip6[1], a2 = ctx->src_ip6[2], a3 = ctx->src_ip6[3];
		__builtin_memcpy(f.laddr, &a0, 4);
		__builtin_memcpy(f.laddr + 4, &a1, 4);
		__builtin_memcpy(f.laddr + 8, &a2, 4);
		__builtin_memcpy(f.laddr + 12, &a3, 4);
	}
	emit(PCL_EV_LISTEN, s, &f, bpf_get_socket_cookie(ctx), PCL_ACT_ALLOW, 0, NULL);
	return CG_ALLOW;
}

SEC("cgroup/post_bind4")
int pcl_post_bind4(struct bpf_sock *ctx)
{
	return post_bind(ctx, 4);
}

SEC("cgroup/post_bind6")
int pcl_post_bind6(struct bpf_sock *ctx)
{
	return post_bind(ctx, 6);
}

/* Final totals of a socket that carried traffic, as one 'close' event. */
static __always_inline void emit_close(struct pcl_sock *s, __u8 proto, __u8 family)
{
	struct flow f = { .proto = proto, .dir = PCL_DIR_OUT, .family = s->family, .rport = s->remote_port };
	__builtin_memcpy(f.raddr, s->remote, 16);
	if (s->flags & PCL_SK_PASSIVE)
		f.dir = PCL_DIR_IN;
	if (f.family == 0)
		f.family = family;
	struct pcl_flow totals = {
		.bytes_out = s->bytes_out,
		.bytes_in = s->bytes_in,
		.packets_out = s->packets_out,
		.packets_in = s->packets_in,
	};
	__u64 cookie = s->cookie;
	emit(PCL_EV_CLOSE, s, &f, cookie, s->verdict, s->rule_id, &totals);
	bpf_map_delete_elem(&pcl_flows, &cookie);
}

/*
 * TCP states in which a FIN or RST may still leave after the application's close: not sent yet
 * (established, close-wait), or queued behind data after a shutdown (fin-wait-1, closing, last-ack;
 * if it already left, PCL_CLOSE_END_SENT says so).
 */
static __always_inline int tcp_end_to_come(__u32 state)
{
	return state == BPF_TCP_ESTABLISHED || state == BPF_TCP_CLOSE_WAIT || state == BPF_TCP_FIN_WAIT1 ||
	       state == BPF_TCP_CLOSING || state == BPF_TCP_LAST_ACK;
}

#define IPPROTO_TCP_NR 6

SEC("cgroup/sock_release")
int pcl_sock_release(struct bpf_sock *ctx)
{
	/* Each context field read once, up front: clang may otherwise offset the context pointer. */
	__u32 protocol = ctx->protocol, state = ctx->state;
	__u8 family = ctx->family == AF_INET6 ? 6 : 4;
	struct pcl_sock *s = bpf_sk_storage_get(&pcl_sk, ctx, 0, 0);
	if (!s)
		return CG_ALLOW;
	release_slot(s); /* from here on the socket's state is its storage's */
	if (s->packets_out == 0 && s->packets_in == 0)
		return CG_ALLOW;
	if (protocol == IPPROTO_TCP_NR && tcp_end_to_come(state)) {
		__u64 before = __sync_fetch_and_or(&s->close_state, PCL_CLOSE_RELEASED);
		if (!(before & PCL_CLOSE_END_SENT))
			return CG_ALLOW; /* queued data may still leave: the FIN or RST reports the close */
	}
	emit_close(s, fold_proto(protocol), family);
	return CG_ALLOW;
}

/* A TCP socket's FIN or RST went out: its last byte has been sent once. */
static __always_inline void tcp_end_sent(struct pcl_sock *s, __u8 family)
{
	__u64 before = __sync_fetch_and_or(&s->close_state, PCL_CLOSE_END_SENT);
	if ((before & (PCL_CLOSE_END_SENT | PCL_CLOSE_RELEASED)) == PCL_CLOSE_RELEASED)
		emit_close(s, PCL_PROTO_TCP, family);
}

/* ---- cgroup_skb backstop and accounting ----------------------------------------------------- */

struct parsed {
	struct flow f;
	__u32 payload; /* L4 payload bytes */
	__u32 payload_off; /* offset of the L4 payload from the network header, 0 when unknown */
	__u32 seq;         /* TCP: sequence number (host order), when payload_off != 0 */
	__u8 tcp_flags;    /* TCP: header flags (FIN 0x01, RST 0x04) */
	__u8 aggregate;    /* longer than its IP length says: a GSO/GRO packet of several segments */
};

/* Header offsets past this go through bpf_skb_load_bytes only (they never occur in the linear head). */
#define PCL_DIRECT_MAX 1024

/*
 * `len` bytes of headers at `off` from the network header. Read in place when the linear head
 * holds them (cgroup_skb programs may read skb->data..data_end, and the stack has pulled the
 * headers there for nearly every packet): no helper call, no copy. Otherwise copied into `buf`
 * with bpf_skb_load_bytes. NULL when the packet is shorter.
 */
static __always_inline void *header_at(struct __sk_buff *skb, __u32 off, __u32 len, void *buf)
{
	if (off <= PCL_DIRECT_MAX) {
		asm volatile("" : "+r"(off)); /* keep the bound check ahead of the pointer arithmetic */
		void *at = (void *)(long)skb->data + off;
		if (at + len <= (void *)(long)skb->data_end)
			return at;
	}
	return bpf_skb_load_bytes(skb, off, buf, len) ? NULL : buf;
}

/* Ports, sequence number and header length of TCP need 14 bytes, of UDP 4 (the ports). */
struct l4_view {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__u8 rest[6];
};

/*
 * Ports, payload and (TCP) sequence number and flags from the L4 header `l4` found at `off`; NULL
 * for a protocol without ports. Sets every field of `p` the accounting reads.
 */
static __always_inline void read_l4(const struct l4_view *l4, __u32 off, __u8 proto, __u32 l3_end, struct parsed *p,
				    int egress)
{
	__u16 src = 0, dst = 0;
	__u32 hdr = 0;
	p->seq = 0;
	p->tcp_flags = 0;
	if (l4) {
		src = bpf_ntohs(l4->source);
		dst = bpf_ntohs(l4->dest);
	}
	if (proto == PCL_PROTO_TCP && l4) {
		p->seq = bpf_ntohl(l4->seq);
		hdr = (l4->rest[4] >> 4) * 4; /* data offset: byte 12 of the TCP header */
		p->tcp_flags = l4->rest[5];
	} else if (proto == PCL_PROTO_UDP || proto == PCL_PROTO_ICMP) {
		hdr = 8;
	}
	p->f.lport = egress ? src : dst;
	p->f.rport = egress ? dst : src;
	__u32 used = off + hdr;
	p->payload = l3_end > used ? l3_end - used : 0;
	p->payload_off = used;
}

static __always_inline int parse_l4(struct __sk_buff *skb, __u32 off, __u8 proto, __u32 l3_end, struct parsed *p,
				    int egress)
{
	struct l4_view buf;
	struct l4_view *l4 = NULL;
	/* Two calls, not one with a computed length: the verifier must see 14 bytes on the TCP path. */
	if (proto == PCL_PROTO_TCP) {
		l4 = header_at(skb, off, 14, &buf);
		if (!l4)
			return 0;
		read_l4(l4, off, PCL_PROTO_TCP, l3_end, p, egress);
		return 1;
	}
	if (proto == PCL_PROTO_UDP) {
		l4 = header_at(skb, off, 4, &buf);
		if (!l4)
			return 0;
	}
	read_l4(l4, off, proto, l3_end, p, egress);
	return 1;
}

/*
 * Where the packet's IP payload ends, given the length its IP header states. A GSO/GRO packet of
 * several segments is longer: the length field covers one segment (0 past 64 KiB for IPv4), skb->len
 * all of them.
 */
static __always_inline __u32 l3_extent(struct __sk_buff *skb, __u32 stated_end, struct parsed *p)
{
	__u32 len = skb->len;
	p->aggregate = len > stated_end;
	return len > stated_end ? len : stated_end;
}

/* ::ffff:a.b.c.d on the wire is decided as the IPv4 address, like connect6/sendmsg6 do. */
static __always_inline void unmap_v4(struct flow *f)
{
	__u32 *w = (__u32 *)f->raddr;
	if (w[0] != 0 || w[1] != 0 || w[2] != bpf_htonl(0x0000ffff))
		return;
	f->family = 4;
	w[0] = w[3];
	w[1] = w[2] = w[3] = 0;
	__u32 *l = (__u32 *)f->laddr;
	l[0] = l[3];
	l[1] = l[2] = l[3] = 0;
}

static __always_inline void copy_addr6(__u8 *to, const struct in6_addr *from)
{
	__u32 *w = (__u32 *)to;
	w[0] = from->in6_u.u6_addr32[0];
	w[1] = from->in6_u.u6_addr32[1];
	w[2] = from->in6_u.u6_addr32[2];
	w[3] = from->in6_u.u6_addr32[3];
}

/* The IPv6 extension headers parse6 walks over. */
static __always_inline int is_ext_hdr(__u8 next)
{
	return next == 0 || next == 43 || next == 44 || next == 51 || next == 60;
}

/* IPv6: walk hop-by-hop, routing, destination options, fragment and AH headers (bounded). */
static __always_inline int parse6(struct __sk_buff *skb, struct parsed *p, int egress)
{
	struct ipv6hdr buf;
	struct ipv6hdr *ip6 = header_at(skb, 0, sizeof(*ip6), &buf);
	if (!ip6 || ip6->version != 6)
		return 0;
	__u32 l3_end = l3_extent(skb, 40 + bpf_ntohs(ip6->payload_len), p);
	__u8 next = ip6->nexthdr;
	copy_addr6(p->f.laddr, egress ? &ip6->saddr : &ip6->daddr);
	copy_addr6(p->f.raddr, egress ? &ip6->daddr : &ip6->saddr);
	p->f.family = 6;
	__u32 off = 40;
	if (is_ext_hdr(next)) { /* most packets carry none: skip the walk */
		for (int i = 0; i < PCL_MAX_EXT_HDRS; i++) {
			__u8 ext_buf[8];
			if (next == 0 || next == 43 || next == 60) { /* hop-by-hop, routing, dest opts */
				__u8 *ext = header_at(skb, off, 2, ext_buf);
				if (!ext)
					return 0;
				next = ext[0];
				off += (ext[1] + 1) * 8;
			} else if (next == 44) { /* fragment: only the first fragment has the L4 header */
				__u8 *frag = header_at(skb, off, 8, ext_buf);
				if (!frag)
					return 0;
				next = frag[0];
				off += 8;
				if (((frag[2] << 8) | frag[3]) & 0xfff8) {
					p->f.proto = fold_proto(next);
					p->payload = l3_end > off ? l3_end - off : 0;
					return 1;
				}
			} else if (next == 51) { /* AH: length in 4-byte units, minus 2 */
				__u8 *ext = header_at(skb, off, 2, ext_buf);
				if (!ext)
					return 0;
				next = ext[0];
				off += (ext[1] + 2) * 4;
			} else {
				break;
			}
		}
		if (is_ext_hdr(next))
			return 0; /* more extension headers than we walk: garbage for our purposes */
	}
	unmap_v4(&p->f);
	p->f.proto = fold_proto(next);
	return parse_l4(skb, off, p->f.proto, l3_end, p, egress);
}

static __always_inline int parse4(struct __sk_buff *skb, struct parsed *p, int egress)
{
	struct iphdr buf;
	struct iphdr *ip = header_at(skb, 0, sizeof(*ip), &buf);
	if (!ip || ip->version != 4)
		return 0;
	__u32 ihl = ip->ihl * 4;
	if (ihl < 20)
		return 0;
	__u32 l3_end = l3_extent(skb, bpf_ntohs(ip->tot_len), p);
	__u32 saddr = ip->saddr, daddr = ip->daddr;
	*(__u32 *)p->f.laddr = egress ? saddr : daddr;
	*(__u32 *)p->f.raddr = egress ? daddr : saddr;
	p->f.family = 4;
	p->f.proto = ip->protocol;
	if (bpf_ntohs(ip->frag_off) & 0x1fff) { /* not the first fragment: no L4 header */
		p->payload = l3_end > ihl ? l3_end - ihl : 0;
		return 1;
	}
	return parse_l4(skb, ihl, p->f.proto, l3_end, p, egress);
}

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
	bpf_map_update_elem(&pcl_flows, &cookie, &copy, BPF_ANY);
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
 * of its storage (BPF_F_CLONE), and must start without its cookie and totals.
 */
static __always_inline int listener_packet(struct __sk_buff *skb, struct pcl_sock *s)
{
	if (!(s->flags & PCL_SK_PASSIVE))
		return 0;
	struct bpf_sock *sk = skb->sk;
	return sk && sk->state == BPF_TCP_LISTEN;
}

/* Segments the packet stands for: more than 1 only for a GSO/GRO aggregate. */
static __always_inline __u64 packet_segs(struct __sk_buff *skb, struct parsed *p)
{
	if (p->aggregate) /* skb_shinfo is two loads away: read only when it can say more than 1 */
		return skb->gso_segs ?: 1;
	return 1;
}

/* The flow's record in pcl_flows is refreshed when its packet count crosses a multiple of PCL_MIRROR_EVERY. */
static __always_inline int mirror_due(__u64 before, __u64 segs)
{
	return (before / PCL_MIRROR_EVERY) != ((before + segs) / PCL_MIRROR_EVERY);
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
		*bytes += egress && p->payload_off ? first_sent_tcp_bytes(s, p) : p->payload;
		return before;
	}
	__sync_fetch_and_add(bytes, p->payload);
	return __sync_fetch_and_add(packets, segs);
}

/* Counts a packet, and refreshes the flow's record in pcl_flows on its first packet and when due. */
static __always_inline void account(struct __sk_buff *skb, struct pcl_sock *s, struct parsed *p, int egress)
{
	if (listener_packet(skb, s))
		return;
	__u64 segs = packet_segs(skb, p);
	__u64 before = add_to_totals(s, p, segs, egress);
	if (s->cookie == 0) {
		s->cookie = bpf_get_socket_cookie(skb);
		mirror(s);
	} else if (mirror_due(before, segs)) {
		mirror(s);
	}
}

/* A DNS response for the helper's names: the answers applications actually received. */
static __always_inline void emit_dns(struct __sk_buff *skb, struct pcl_sock *s, struct parsed *p, __u64 cookie)
{
	/* 64-bit, so the bounds checked below are on the very register handed to the copy. */
	__u64 len = p->payload;
	if (len > PCL_DNS_MAX)
		len = PCL_DNS_MAX;
	if (len < 12 || p->payload_off == 0) /* shorter than a DNS header, or no UDP header seen */
		return;
	struct pcl_counters *c = percpu_counters();
	struct pcl_dns_event *e = bpf_ringbuf_reserve(&pcl_events, sizeof(*e), 0);
	if (!e) {
		if (c)
			c->drops++;
		return;
	}
	fill_event(&e->head, PCL_EV_DNS, s, &p->f, cookie, PCL_ACT_ALLOW, 0, NULL);
	e->len = len;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	/* Re-checked after the barrier: the verifier must see both bounds on the copy's length register. */
	asm volatile("" : "+r"(len));
	if (len > PCL_DNS_MAX || len < 12 || bpf_skb_load_bytes(skb, p->payload_off, e->data, len)) {
		bpf_ringbuf_discard(e, 0);
		return;
	}
	if (c)
		c->events++;
	bpf_ringbuf_submit(e, 0);
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
	 * (A socket's first packet and a listener's own never get here: only sockets that have had
	 * their first packet own a pcl_slots entry, and listeners never do.)
	 */
	__u64 segs = packet_segs(skb, &p);
	if (mirror_due(egress ? s->packets_out : s->packets_in, segs) || (egress && tcp_end(&p)))
		return PCL_FAST_MISS;
	add_to_totals(s, &p, segs, egress);
	return cached_verdict(s);
}

/*
 * The packets of a socket whose verdict is cached for the current generation, in their common shape
 * (cached_shape). Any other packet (another generation, remote, port or protocol, IP options,
 * extension headers, a later fragment, a DNS response, a short head) answers PCL_FAST_MISS before
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
	if (!egress && s->remote_port == 53)
		return PCL_FAST_MISS; /* UDP from port 53: DNS responses go up to the helper, the full path copies them */
	if (shape == cache_key(0, 0, PCL_PROTO_UDP, 4))
		return cached_shape(skb, s, 4, PCL_PROTO_UDP, egress);
	if (shape == cache_key(0, 0, PCL_PROTO_UDP, 6))
		return cached_shape(skb, s, 6, PCL_PROTO_UDP, egress);
	return PCL_FAST_MISS; /* nothing cached (family 0), or a protocol without ports */
}

/*
 * Verdict for one packet by parsing it in full. use_cache = 0 builds the "full evaluation" variant
 * used by tests and benchmarks (pcl_egress_eval): same code, never reading the per-socket cache.
 */
static __always_inline int full_verdict(struct __sk_buff *skb, struct pcl_sock *s, int egress, int use_cache)
{
	struct pcl_config *cfg = &pcl_config;
	__u32 gen = cfg->generation;
	struct parsed p = {};
	/* p stays in memory: held in registers, every failed check would rematerialize all its fields. */
	asm volatile("" : : "r"(&p) : "memory");
	p.f.dir = egress ? PCL_DIR_OUT : PCL_DIR_IN;
	int ok = 0;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		ok = parse4(skb, &p, egress);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		ok = parse6(skb, &p, egress);
	if (!ok) {
		/* Truncated or garbage: the global default decides; never a crash. */
		if (cfg->enforcing && cfg->default_action[gen & 1] == PCL_ACT_BLOCK)
			return CG_DENY;
		return CG_ALLOW;
	}

	if (s)
		account_packet(skb, s, &p, egress, use_cache);

	if (!egress && use_cache && p.f.proto == PCL_PROTO_UDP && p.f.rport == 53) {
		set_direction(s, &p.f);
		emit_dns(skb, s, &p, s ? s->cookie : bpf_get_socket_cookie(skb));
	}

	if (use_cache && s && cache_matches(s, gen, &p.f))
		return cached_verdict(s);

	set_direction(s, &p.f);
	__u32 app_id = s ? s->app_id : 0;
	struct decision d = decide(cfg, gen, app_id, &p.f);
	__u8 verdict = cfg->enforcing ? d.action : PCL_ACT_ALLOW;
	if (use_cache && s) {
		cache_store(s, gen, &p.f, verdict, d.rule_id);
		count_decision(verdict, d.rule_id);
		emit(PCL_EV_PACKET, s, &p.f, s->cookie, verdict, d.rule_id, NULL);
	}
	return verdict == PCL_ACT_BLOCK ? CG_DENY : CG_ALLOW;
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
 * Verdict for one packet: the cached fast path when it applies, else the full path (which looks up
 * the configuration again: only the generation lives across the storage lookup).
 */
static __always_inline int skb_verdict(struct __sk_buff *skb, int egress, int use_cache)
{
	struct pcl_config *cfg = &pcl_config;
	__u32 gen = cfg->generation;
	struct pcl_sock *s;
	if (use_cache) {
		s = fast_sock_state(skb);
		if (s) {
			int verdict = cached_fast_path(skb, s, gen, egress);
			if (verdict != PCL_FAST_MISS)
				return verdict;
		}
	}
	/* sk_storage_get takes the socket as it is and answers NULL for request and timewait sockets. */
	struct pcl_sock *stored = NULL;
	struct bpf_sock *sk = skb->sk;
	if (sk)
		stored = bpf_sk_storage_get(&pcl_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	s = stored ? sock_state(stored) : NULL;
	if (!use_cache)
		return full_verdict(skb, s, egress, 0);
	/* & 1: a global function's result is any number to the verifier; these answer CG_ALLOW or CG_DENY. */
	int verdict = (egress ? full_verdict_egress(skb, s) : full_verdict_ingress(skb, s)) & 1;
	/* After its first packet (which gave it a cookie) a socket's state moves to the fast path's entry. */
	if (stored && s == stored)
		claim_slot(stored, sk);
	return verdict;
}

SEC("cgroup_skb/egress")
int pcl_egress(struct __sk_buff *skb)
{
	return skb_verdict(skb, 1, 1);
}

SEC("cgroup_skb/ingress")
int pcl_ingress(struct __sk_buff *skb)
{
	return skb_verdict(skb, 0, 1);
}

/* Not attached: BPF_PROG_TEST_RUN target for the uncached (full evaluation) path. */
SEC("cgroup_skb/egress")
int pcl_egress_eval(struct __sk_buff *skb)
{
	return skb_verdict(skb, 1, 0);
}

SEC("cgroup_skb/ingress")
int pcl_ingress_eval(struct __sk_buff *skb)
{
	return skb_verdict(skb, 0, 0);
}

/* Not attached: the empty baseline the benchmarks compare against. */
SEC("cgroup_skb/egress")
int pcl_empty(struct __sk_buff *skb)
{
	return CG_ALLOW;
}

/* ---- process -> app tracking ------------------------------------------------------------- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pcl_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct file *file = bprm->file;
	if (!file)
		return 0;
	struct inode *inode = file->f_inode;
	if (!inode)
		return 0;
	struct pcl_exe_key key = { .dev = inode->i_sb->s_dev, .ino = inode->i_ino };
	__u32 *app = bpf_map_lookup_elem(&pcl_exe, &key);
	if (!app)
		return 0; /* an unregistered file keeps the app it inherited */
	__u32 tgid = p->tgid;
	bpf_map_update_elem(&pcl_tgid_app, &tgid, app, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(pcl_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	if (ptgid == ctgid)
		return 0; /* a new thread, not a new process */
	__u32 *app = bpf_map_lookup_elem(&pcl_tgid_app, &ptgid);
	if (app) {
		__u32 id = *app;
		bpf_map_update_elem(&pcl_tgid_app, &ctgid, &id, BPF_ANY);
	}
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pcl_exit, struct task_struct *p)
{
	if (p->pid != p->tgid)
		return 0; /* a thread; the process lives on */
	__u32 tgid = p->tgid;
	bpf_map_delete_elem(&pcl_tgid_app, &tgid);
	return 0;
}
