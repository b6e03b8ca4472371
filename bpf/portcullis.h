/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one ABI header shared by the BPF programs (bpf/portcullis.bpf.c) and user space
 * (native/). Fixed-width types, explicit padding, addresses as byte arrays in network order.
 *
 * Rule precedence (DESIGN.md "Rules"), as compiled by native/compiler/:
 *   1. the app's own scope (scope = app id) is consulted before the global scope (scope 0);
 *   2. within a scope, the longest remote prefix wins;
 *   3. then the narrower port range;
 *   4. then a specific protocol over 'any';
 *   5. on a full tie, block wins.
 *   After the app's rules and the global rules: the per-app default, then the global default.
 *
 * How one scope is decided: an exact-address hash (/32, /128) or, failing that, an LPM trie
 * (every other prefix) gives an entry. IPv6 prefixes of at least pcl_config.v6_split bits are not
 * in a trie (a 160-bit trie walk is ~20 nodes at 150k prefixes) but in a hash keyed by
 * (scope, length, masked address), found through a bucket (scope, first v6_split bits) holding
 * the lengths present under it: probed longest first, the first hit is the longest match. Only
 * prefixes shorter than v6_split stay in the v6 trie, consulted when the hashes find nothing.
 * The entry holds the clause of its own rule inline (when exactly one rule has that prefix in
 * that scope) and the id of a clause set with every other clause that applies: those of
 * covering prefixes in the same scope (and, when several rules share the prefix, all of their
 * clauses), already sorted by the precedence above. The first clause matching (direction,
 * protocol, port) decides. A million exact blocks thus need no clause set at all, and a set is
 * shared by everything under the same covering prefix.
 *
 * Atomic swap: every rules map is an ARRAY_OF_MAPS with two slots. User space fills fresh
 * inner maps in the inactive slot, then bumps pcl_config.generation; programs read the
 * generation once and use slot (generation & 1) for the whole decision.
 */
#ifndef PORTCULLIS_H
#define PORTCULLIS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Clauses per clause set: rules of one scope covering one address, inherited ones included. */
#define PCL_MAX_CLAUSES 16
#define PCL_COMM_LEN 16
/* pcl_entry.set_id when no other clause applies. */
#define PCL_NO_SET 0xffffffff
/* Bounded walk of IPv6 extension headers. */
#define PCL_MAX_EXT_HDRS 8

/* Actions (rule clauses, defaults, verdicts). 0 = no decision at this level. */
#define PCL_ACT_NONE 0
#define PCL_ACT_ALLOW 1
#define PCL_ACT_BLOCK 2
/* Ask mode's global default: no rule decides, so the flow is held and the person asked. Never cached
 * as a socket's verdict, never an entry's or a clause's action. */
#define PCL_ACT_ASK 3
/* An app's pcl_app_dflt value is its default action (PCL_ACT_NONE: none) in PCL_APP_ACTION, with
 * PCL_APP_HAS_RULES when the app has rules of its own in that generation: only then is its scope
 * looked up (most apps have none, and each scope costs an exact and a prefix lookup per decision).
 * An app with rules but no default has an entry all the same. */
#define PCL_APP_ACTION 0x0f
#define PCL_APP_HAS_RULES 0x80

/* Direction bits: a clause matches when (clause.dir & flow direction) != 0. */
#define PCL_DIR_OUT 1
#define PCL_DIR_IN 2
#define PCL_DIR_BOTH 3

/* Protocols: IP protocol numbers, except that ICMPv6 is folded into PCL_PROTO_ICMP. */
#define PCL_PROTO_ANY 0
#define PCL_PROTO_ICMP 1
#define PCL_PROTO_TCP 6
#define PCL_PROTO_UDP 17

/* Event kinds. */
#define PCL_EV_CONNECT 1
#define PCL_EV_SENDMSG 2
#define PCL_EV_PACKET 3
#define PCL_EV_LISTEN 4
#define PCL_EV_CLOSE 5
#define PCL_EV_DNS 6       /* a DNS answer delivered to a socket: struct pcl_dns_event, not struct pcl_event */
#define PCL_EV_DNS_QUERY 7 /* a DNS query a socket sent (and was allowed to): struct pcl_dns_event */
#define PCL_EV_EXE 8       /* not from the kernel: the addon's struct pcl_exe_record (an executable's path) */
#define PCL_EV_HOLD 9      /* a TCP connect or a UDP flow was held for a question (verdict PCL_ACT_ASK) */
#define PCL_EV_UNHOLD 10   /* the application closed a socket that had held flows (cookie only) */

/*
 * DNS over UDP port 53, for the helper's names and domain rules: queries sockets in the cgroup were
 * allowed to send, and answers delivered to sockets that sent one, are copied up to this many bytes
 * (the classic UDP DNS limit; longer ones are cut). The helper counts an answer only when it matches
 * a query of the same socket. Sockets of network namespaces that an unprivileged user made (owned by
 * a user namespace other than the initial one) report neither: in one of those, anyone can run a
 * "resolver" at any address.
 */
#define PCL_DNS_MAX 512

/* pcl_sock.flags */
#define PCL_SK_OWNED 1   /* owner fields were filled (from the owning task: see struct pcl_sock) */
#define PCL_SK_PASSIVE 2 /* bound by the application (a listener or a bound UDP socket) */
#define PCL_SK_ACTIVE 8  /* connected or sent to a remote by the application (outbound flows) */
#define PCL_SK_HELD 16    /* TCP: its connect is held; its SYNs follow its pcl_holds entry until established */
#define PCL_SK_HOLDS 32   /* it has (or had) pcl_holds entries: its close is reported (PCL_EV_UNHOLD) */
#define PCL_SK_INJECTOR 64 /* the helper's raw socket that answers held connects: its packets always pass */
#define PCL_SK_SYSTEM_NET 128 /* made in a network namespace of the initial user namespace */
#define PCL_SK_MIRRORED 256 /* its totals have a pcl_flows record (deleted at its close) */
#define PCL_SK_TALLIED 512 /* a decision of it was counted in pcl_tally and none recorded: user space knows it not */
#define PCL_SK_RECORDED 1024 /* a record of it was written: user space knows it by its cookie */

/* pcl_config (one element of the pcl_config array). */
struct pcl_config {
	__u32 generation;        /* ruleset generation; slot = generation & 1; written last on apply, and
	                            bumped by 2 when enforcement changes (every cached verdict is re-decided) */
	__u32 enforcing;         /* 0 = monitor only: everything allowed, still observed */
	__u8 default_action[2];  /* global default verdict per slot (PCL_ACT_ALLOW/BLOCK) */
	__u8 v6_split[2];        /* per slot: v6 prefixes this long or longer are in the prefix hash */
	__u32 host_mnt_ns;       /* inode number of PID 1's mount namespace: only execs there are bound by
	                            path (pcl_path_app), where no unprivileged user can mount a file */
	__u32 hold_ms;           /* ask mode: how long a connect is held in the kernel (0 = nobody asks: refuse at once) */
	__u32 helper_tgid;       /* the helper's process: its own traffic is never held */
	__u32 hold_jiffies;      /* hold_ms in the kernel's jiffies (user space measures HZ: no kernel config needed) */
	__u32 tally_epoch;       /* pcl_tally's current epoch; 0 = nobody drains it: every decision is recorded */
};

/* pcl_config.v6_split is at most this: a bucket key holds the address's first 64 bits. */
#define PCL_V6_SPLIT_MAX 64

/* LPM trie keys: prefixlen counts the scope's 32 bits plus the address prefix. */
struct pcl_lpm4_key {
	__u32 prefixlen; /* 32 + address prefix length */
	__u32 scope;     /* 0 = every app, else app id (host order; always matched in full) */
	__u8 addr[4];    /* network order */
};

struct pcl_lpm6_key {
	__u32 prefixlen; /* 32 + address prefix length */
	__u32 scope;     /* 0 = every app, else app id */
	__u8 addr[16];   /* network order */
};

/* Exact-address hash keys (/32 and /128 rules). */
struct pcl_exact4_key {
	__u32 scope;  /* 0 = every app, else app id */
	__u8 addr[4]; /* network order */
};

struct pcl_exact6_key {
	__u32 scope;   /* 0 = every app, else app id */
	__u8 addr[16]; /* network order */
};

/* IPv6 prefix hash key (prefixes of v6_split..127 bits). */
struct pcl_prefix6_key {
	__u32 scope;     /* 0 = every app, else app id */
	__u32 prefixlen; /* address prefix length */
	__u8 addr[16];   /* network order, bits past prefixlen zero */
};

/* IPv6 bucket key: the scope and the address's first v6_split bits (the rest zero). */
struct pcl_bucket6_key {
	__u32 scope;
	__u32 pad;    /* zero */
	__u8 addr[8]; /* network order */
};

/* IPv6 bucket: bit (len % 64) of lens[len / 64] is set when prefixes of length len are in the
 * prefix hash under this bucket (a superset while a change is being applied: a set bit without
 * an entry is only a wasted probe). */
struct pcl_bucket6 {
	__u64 lens[2]; /* host order */
};

/* Value of the LPM, exact and prefix maps. */
struct pcl_entry {
	__u32 rule_id; /* the inline clause's rule (0 when there is no inline clause) */
	__u32 set_id;  /* clause set consulted after the inline clause, or PCL_NO_SET */
	__u16 port_lo; /* inline clause: inclusive remote port range, host order */
	__u16 port_hi;
	__u8 proto;    /* inline clause: PCL_PROTO_* */
	__u8 dir;      /* inline clause: PCL_DIR_* bits */
	__u8 action;   /* inline clause: PCL_ACT_*; PCL_ACT_NONE = no inline clause */
	__u8 pad;      /* zero */
};

struct pcl_clause {
	__u32 rule_id; /* rule this clause comes from */
	__u16 port_lo; /* inclusive remote port range, host order */
	__u16 port_hi;
	__u8 proto;    /* PCL_PROTO_* */
	__u8 dir;      /* PCL_DIR_* bits */
	__u8 action;   /* PCL_ACT_ALLOW or PCL_ACT_BLOCK */
	__u8 pad;      /* zero */
};

struct pcl_clause_set {
	__u32 count; /* clauses in use, <= PCL_MAX_CLAUSES */
	__u32 pad;   /* zero */
	struct pcl_clause clauses[PCL_MAX_CLAUSES];
};

/* Key of pcl_exe and pcl_exe_path: an executable file. */
struct pcl_exe_key {
	__u64 dev; /* kernel dev_t of the file's superblock: major << 20 | minor */
	__u64 ino; /* inode number */
};

/*
 * Executables and processes.
 *
 * At exec the kernel records the file's path once per file (pcl_exe_path, keyed like pcl_exe), so
 * a process gone before the helper looks is still known by its executable: sockets and events carry
 * the file's (dev, ino), the addon's event thread adds the path (struct pcl_exe_record).
 *
 * A process's app (pcl_procs) comes from its own exec of a bound file (pcl_exe by identity, or
 * pcl_path_app by path for a file an update put at a bound path) and then holds wherever the process
 * goes; otherwise it is inherited at fork and holds in the cgroup it was inherited in. A cgroup
 * bound as an application's unit (pcl_cgrp_app) ends inheritance: a launcher's children become the
 * app of the unit they are placed in (or no app, for a unit of an app not known yet).
 *
 * Unit names are claims anyone can make (systemd-run --user --scope --unit=...). A cgroup made with
 * a known app's name (pcl_units) is noted as that app's claim (PCL_CG_CLAIM), which never names the
 * process: it is a second app, claim_id, whose own block rules and block default also apply (a claim
 * can only tighten). The helper publishes an app's names only while it has no allow rule and no allow
 * default, withdraws them otherwise, and binds the units it verified itself.
 */
#define PCL_PATH_MAX 256  /* exec path bytes kept, NUL included (longer paths are cut: PCL_PATH_CUT) */
#define PCL_PATH_DEPTH 32 /* path components walked at most */
#define PCL_UNIT_MAX 128  /* bytes of a unit name key, NUL included (longer names make no claim) */

/* pcl_exe_path.flags */
#define PCL_PATH_CUT 1 /* the path was longer than PCL_PATH_MAX - 1 bytes or PCL_PATH_DEPTH components: its start only */

/* Value of pcl_exe_path (and key of pcl_path_app, as its path[] alone): where an executable was run from. */
struct pcl_exe_path {
	__u32 generation;        /* the inode's i_generation (an inode number reused by a new file is rewritten) */
	__u16 len;               /* bytes of path[] before its NUL */
	__u8 flags;              /* PCL_PATH_* */
	__u8 pad;                /* zero */
	char path[PCL_PATH_MAX]; /* absolute path in the exec's mount namespace, NUL-terminated, zero after */
};

/* pcl_proc.flags */
#define PCL_PROC_EXE 1 /* the app is that of the process's own executable: it holds in every cgroup */

/* Value of pcl_procs (keyed by tgid). */
struct pcl_proc {
	__u64 cgroup_id; /* without PCL_PROC_EXE: the cgroup the app was inherited in (it holds there) */
	__u32 app_id;    /* app id, 0 = none */
	__u32 claim_id;  /* an app claimed where it was started (its blocks apply too), 0 = none */
	__u32 flags;     /* PCL_PROC_* */
	__u32 pad;       /* zero */
};

/* pcl_cgroup.flags */
#define PCL_CG_CLAIM 1 /* app_id is claimed by the unit's name, unverified: its blocks apply, it names nothing */

/* Value of pcl_cgrp_app (keyed by cgroup id): an application's unit, bound by the helper or named so. */
struct pcl_cgroup {
	__u32 app_id; /* 0 = an application's unit, app not known (yet) */
	__u32 flags;  /* PCL_CG_* */
};

/* pcl_unit.flags */
#define PCL_UNIT_ROOT_ONLY 1 /* binds only cgroups root made (system services): no claim */

/*
 * Value of pcl_units, keyed by a unit name without its instance part, zero-padded to PCL_UNIT_MAX:
 * "app-gnome-org.example.App" for app-gnome-org.example.App-1234.scope or ...@1234.service,
 * "snap.NAME.APP" for snap.NAME.APP-<uuid>.scope, "NAME" for NAME.service (no '@').
 */
struct pcl_unit {
	__u32 app_id;
	__u32 flags; /* PCL_UNIT_* */
};

/* Per-socket state (SK_STORAGE, cloned to accepted sockets). */
struct pcl_sock {
	/* The owner: the task that first connected, sent from or bound the socket (or asked a listener that
	 * was never bound its port; a raw or ping socket: sent its first packet); where sockets get no
	 * entry (6.1), the task that made it. */
	__u64 cgroup_id;          /* owning task's cgroup */
	__u32 tgid;               /* owning process (0 when the socket predates us) */
	__u32 uid;                /* owning uid */
	__u32 app_id;             /* app of the owning process, 0 = none */
	__u32 flags;              /* PCL_SK_* */
	char comm[PCL_COMM_LEN];  /* owning task's comm */
	struct pcl_exe_key exe;   /* owning process's executable (zero when unknown) */
	/* verdict cache: valid when cache_key is that of the flow and the current generation */
	union {
		struct {
			__u32 gen;         /* generation the verdict was computed in */
			__u16 remote_port; /* host order */
			__u8 proto;        /* PCL_PROTO_* */
			__u8 family;       /* 4 or 6; 0 = nothing cached */
		};
		__u64 cache_key;           /* the four above as one word, compared at once */
	};
	__u8 remote[16];          /* remote address the verdict is for (v4: first 4 bytes, rest zero) */
	__u32 rule_id;            /* rule that decided, 0 = a default */
	__u8 verdict;             /* PCL_ACT_ALLOW or PCL_ACT_BLOCK (what was enforced) */
	__u8 sent_seq_known;      /* TCP: sent_seq_end is set */
	__u8 dns_queries;         /* UDP: DNS queries reported, 0-255 then 4-255 again (dns_ids[n & 3] is the next slot) */
	__u8 recv_seq_known;      /* TCP: recv_seq_end is set */
	/* accounting: exact totals; mirrored into pcl_flows every PCL_MIRROR_EVERY packets */
	__u64 cookie;             /* socket cookie (0 until the first packet or a decided TCP connect) */
	__u64 bytes_out;          /* L4 payload bytes sent */
	__u64 bytes_in;           /* L4 payload bytes received */
	__u64 packets_out;        /* packets sent (GSO segments counted) */
	__u64 packets_in;         /* packets received */
	__u32 sent_seq_end;       /* TCP: end of the sequence space sent so far (bytes_out counts past it) */
	__u32 claim_id;           /* an app the owner's unit claims: its block rules and default apply too */
	__u64 close_state;        /* PCL_CLOSE_* bits, set atomically (64-bit: atomics of the BPF ISA v1) */
	union {
		__u16 dns_ids[4];     /* UDP: ids of the last 4 DNS queries reported; only answers with one of them are */
		__u32 recv_seq_end;   /* TCP: end of the sequence space received so far (bytes_in counts past it) */
	};
};

/*
 * pcl_sock.close_state. A TCP socket closed with data still queued sends it (and then its FIN)
 * after the application's close: its close event waits for the FIN or RST and is sent by
 * whichever of the two marks comes second.
 */
#define PCL_CLOSE_RELEASED 1 /* the application closed the socket */
#define PCL_CLOSE_END_SENT 2 /* TCP: the socket sent its FIN or RST */
#define PCL_CLOSE_DONE 4     /* its close is reported (or there was nothing to report): its pcl_slots entry may be taken */

/*
 * Accounting: per-socket totals live in pcl_sock beside the verdict cache (found once per packet,
 * see struct pcl_slot). They reach user space two ways: a 'close' event with the
 * exact final totals, and pcl_flows, a cookie-keyed LRU copy made at a socket's first packet that
 * carries payload (a handshake alone makes none: a connection that carries no data costs no record
 * to insert and delete) and refreshed every PCL_MIRROR_EVERY packets each way (readFlows: live,
 * slightly behind).
 */
#define PCL_MIRROR_EVERY 64

/*
 * The fast path's home of a socket's state. Socket storage takes a helper call to find
 * (bpf_sk_storage_get), a third of the cached path's cost, and its allocation at the socket's
 * creation (and freeing with it) is most of a short connection's cost; an array entry found from
 * the socket's cookie, which the kernel keeps in the socket itself, takes none of that. So a new
 * TCP or UDP socket's pcl_sock is born, at its first connect or sendmsg, in the pcl_slots entry its
 * cookie indexes (cookie % PCL_SLOTS) when that entry is free, and never gets socket storage
 * (at the socket's creation the same work measured ~200 ns against ~130 ns at connect, one hook
 * run and cookie call more: so the creation hook does nothing for these sockets); the owner field holds the
 * cookie, which no other socket ever has. Sockets the entry could not take, accepted sockets and
 * those older than the programs keep their state in socket storage, and move it to their entry
 * after their first packet (a TCP connect: at its decision, so that its SYN is already fast) if it
 * is free then. A socket that listens or binds to receive moves its state to storage (accepted
 * sockets start as a copy of it). An entry stays its socket's after the application's close (the
 * FIN and the peer's answer still find the state) until the close is reported (PCL_CLOSE_DONE);
 * then a new socket may take it. A late packet of that socket that read the entry just as it was
 * taken may be counted in the new owner's totals: at most that packet. A socket that ends without
 * an application's close (accepted by the kernel but never by the application) leaves its entry
 * owned by a cookie no socket has again: it costs that entry, not a wrong state. Only kernels with
 * bpf_cast_to_kern_ctx (6.2+) use entries (pcl_kern_ctx_cast); older ones keep every state in
 * socket storage.
 */
struct pcl_slot {
	__u64 owner;          /* socket cookie of the owner, 0 = free, or PCL_SLOT_FILLING */
	struct pcl_sock sock; /* the socket's state while owned */
};

#define PCL_SLOTS 65536 /* a power of two */
#define PCL_SLOT_FILLING (~0ULL) /* owner while a claim copies the state in (cookies count up from 1) */

/* Per-socket traffic totals (pcl_flows, keyed by socket cookie; readable for live flows). */
struct pcl_flow {
	__u64 bytes_out;   /* L4 payload bytes sent */
	__u64 bytes_in;    /* L4 payload bytes received */
	__u64 packets_out; /* packets sent (GSO segments counted) */
	__u64 packets_in;  /* packets received */
	/* A tallied socket's flow (PCL_SK_TALLIED when the record was made): user space heard no decision of
	 * it, and learns here what its totals belong to. tally_app_id 0 for every other socket. */
	__u32 tally_app_id;
	__u32 rule_id;
	__u16 remote_port; /* host order */
	__u8 proto;        /* PCL_PROTO_* */
	__u8 family;       /* 4 or 6 */
	__u32 pad;
	__u8 remote[16];
};

/* What user space reads pcl_flows as (the addon's readFlows): a key and its value, one after the other. */
struct pcl_flow_record {
	__u64 cookie;          /* socket cookie: the pcl_flows key */
	struct pcl_flow flow;  /* its totals */
};

/*
 * pcl_tally: an allowed outbound flow of a known app, once recorded, is counted here instead of
 * recorded again (a ring record is most of a short connection's cost). An array, mmapped by user
 * space: each CPU has a region of two halves, one per epoch parity, of PCL_TALLY_SLOTS slots, and a
 * flow has two places in a half (its key's hash and its neighbour), so finding it is two inlined
 * array lookups, not a hash map's. Programs on a CPU write only its region, in the current epoch's
 * half. User space moves pcl_config.tally_epoch on, waits until no program runs with the old one,
 * then takes the old half's counts and clears them: nothing writes them any more, so every count is
 * taken once. A flow's first decision in an epoch on a CPU claims its slot and is still recorded; a
 * flow whose two places are taken is recorded, not counted.
 */
struct pcl_tally_key {
	__u32 epoch;       /* 0: a free slot; PCL_TALLY_CLAIMING while a program fills it */
	__u32 app_id;
	__u32 rule_id;     /* the rule that allowed it, 0 = a default */
	__u16 remote_port; /* host order */
	__u8 proto;        /* PCL_PROTO_* */
	__u8 family;       /* 4 or 6 */
	__u8 remote[16];   /* v4: first 4 bytes, rest zero */
};

struct pcl_tally_counts {
	__u64 connections; /* decisions counted (connects, or a socket's sends to a new remote) */
	__u64 bytes_out;   /* final totals of its sockets that closed unrecorded (see emit_close) */
	__u64 bytes_in;
	__u64 packets_out;
	__u64 packets_in;
	__u64 last_ns;     /* CLOCK_MONOTONIC (coarse: to a tick; a precise read costs ~50 ns) of the last decision or close counted */
};

/* A pcl_tally slot, and what the addon's drainTally returns: a key and its counts summed over the CPUs. */
struct pcl_tally_record {
	struct pcl_tally_key key;
	struct pcl_tally_counts counts;
};

/* Slots per CPU and epoch parity (a power of two); the map has 2 * PCL_TALLY_SLOTS per possible CPU. */
#define PCL_TALLY_SLOTS 512
/* pcl_tally_key.epoch of a slot being claimed; never an epoch (epochs run 1 to 0xfffffffe, then 1). */
#define PCL_TALLY_CLAIMING 0xffffffffu

/* Per-CPU counters (pcl_counters[0]). */
struct pcl_counters {
	__u64 allowed; /* decisions that allowed */
	__u64 blocked; /* decisions that blocked, plus packets dropped by a cached block */
	__u64 events;  /* events written to the ring buffer */
	__u64 drops;   /* events lost because the ring buffer was full */
};

/* Ring-buffer event. */
struct pcl_event {
	__u64 time_ns;            /* bpf_ktime_get_ns() */
	__u64 cookie;             /* socket cookie, 0 if none */
	__u64 cgroup_id;          /* owner's cgroup id */
	__u64 bytes_out;          /* totals so far (close events) */
	__u64 bytes_in;
	__u64 packets_out;
	__u64 packets_in;
	struct pcl_exe_key exe;   /* owner's executable (zero when unknown): its path comes in a pcl_exe_record */
	__u32 tgid;               /* owner */
	__u32 uid;
	__u32 app_id;
	__u32 rule_id;            /* 0 = a default decided */
	__u8 local_addr[16];      /* network order (v4: first 4 bytes) */
	__u8 remote_addr[16];
	__u16 local_port;         /* host order */
	__u16 remote_port;        /* host order */
	__u8 kind;                /* PCL_EV_* */
	__u8 family;              /* 4 or 6 */
	__u8 protocol;            /* IP protocol number (ICMPv6 reported as 1) */
	__u8 direction;           /* PCL_DIR_OUT or PCL_DIR_IN */
	__u8 verdict;             /* PCL_ACT_ALLOW or PCL_ACT_BLOCK */
	__u8 pad[7];              /* zero */
	char comm[PCL_COMM_LEN];
};

/* Ring-buffer record of kind PCL_EV_DNS or PCL_EV_DNS_QUERY: the header of any event, then the start of the UDP payload. */
struct pcl_dns_event {
	struct pcl_event head;  /* owner, addresses and ports as for other events; remote = the DNS server */
	__u16 len;              /* bytes of data[] filled: the payload length, at most PCL_DNS_MAX */
	__u8 pad[6];            /* zero */
	__u8 data[PCL_DNS_MAX]; /* the DNS message as sent or received */
};

/*
 * Ask mode (DESIGN.md "Ask mode"). A flow no rule decides (decide() answers PCL_ACT_ASK) is held:
 *  - TCP: the connect hook enters the socket in pcl_holds, sets TCP_USER_TIMEOUT to hold_ms and lets
 *    connect() go on; the sock_ops program answers BPF_SOCK_OPS_TIMEOUT_INIT with hold_ms, so the
 *    SYN's retransmit timer stays quiet; egress drops the SYN (with congestion notification) while
 *    the entry is pending. connect() neither succeeds nor fails.
 *  - UDP: the first datagram to a remote enters the flow in pcl_holds at egress; its datagrams are
 *    dropped with congestion notification (ENOBUFS, which UDP does not report) while pending.
 * The helper answers in pcl_hold_answers (a map of its own: the hooks update the entry in place, and
 * a write from user space would replace it). A TCP allow then sends the held socket a RST|ACK
 * "from the remote" with ack = the SYN's sequence number: unacceptable in SYN_SENT, it re-arms the
 * retransmit timer to its minimum (before any retransmission), and the SYN goes out again and passes.
 * A deny sends ack = sequence + 1: the connect fails with ECONNREFUSED. If no one answers, the timer
 * fires after hold_ms, that SYN is dropped too and TCP_USER_TIMEOUT fails the connect (ETIMEDOUT).
 * On establishment the sock_ops program takes the hold's options and entry away.
 */
#define PCL_HOLDS_MAX 16384
/* The longest hold: the kernel caps a SYN's first retransmit timeout at TCP_RTO_MAX (120 s). */
#define PCL_HOLD_MAX_MS 120000

/* pcl_holds key: a TCP socket (remote, port and family zero: one connect per socket) or a UDP flow. */
struct pcl_hold_key {
	__u64 cookie;       /* socket cookie */
	__u8 remote[16];    /* UDP: the flow's remote (v4: first 4 bytes); TCP: zero */
	__u16 remote_port;  /* UDP: host order; TCP: zero */
	__u8 proto;         /* PCL_PROTO_TCP or PCL_PROTO_UDP */
	__u8 family;        /* UDP: 4 or 6; TCP: zero */
	__u32 pad;          /* zero */
};

/* pcl_holds value: what the question is about, and the answer. */
struct pcl_hold {
	__u64 time_ns;          /* when it was held (bpf_ktime_get_ns) */
	__u64 cgroup_id;        /* owner, as in pcl_sock */
	__u32 tgid;
	__u32 uid;
	__u32 app_id;
	__u32 claim_id;         /* as in pcl_sock: an app the owner's unit claims */
	__u32 dropped;          /* packets dropped while pending (TCP: SYNs) */
	__u32 isn;              /* TCP: the SYN's sequence number (host order), when dropped != 0 */
	__u16 remote_port;      /* host order */
	__u16 local_port;       /* host order, from the first dropped packet (TCP: 0 until then) */
	__u8 remote[16];        /* network order (v4: first 4 bytes) */
	__u8 local[16];         /* from the first dropped packet */
	__u8 family;            /* 4 or 6 (the packets' family: a v4-mapped remote is 4) */
	__u8 proto;             /* PCL_PROTO_TCP or PCL_PROTO_UDP */
	__u8 pad[2];            /* zero */
	struct pcl_exe_key exe; /* owner's executable, as in pcl_sock (zero when unknown) */
	char comm[PCL_COMM_LEN];
};

/* What user space reads the held flows as (readHolds): each entry with its answer, if any. */
struct pcl_hold_record {
	struct pcl_hold_key key;
	struct pcl_hold hold;
	__u8 answer;            /* pcl_hold_answers' value: PCL_ACT_ALLOW or PCL_ACT_BLOCK; PCL_ACT_NONE = pending */
	__u8 pad[7];            /* zero */
};

/* What user space answers with (answerHolds): a held flow's key and its verdict. */
struct pcl_hold_answer {
	struct pcl_hold_key key;
	__u8 verdict;           /* PCL_ACT_ALLOW or PCL_ACT_BLOCK */
	__u8 pad[7];            /* zero */
};

/* The flow pcl_decide reads from its test-run packet (after the 14 bytes the run takes as a link-layer
 * header): decided as the hooks would, so the helper re-checks held flows after a rules change. */
struct pcl_decide_query {
	__u8 link[14];      /* ignored */
	__u8 family;        /* 4 or 6 */
	__u8 proto;         /* PCL_PROTO_* */
	__u16 remote_port;  /* host order */
	__u8 pad[2];        /* zero */
	__u32 app_id;       /* 0 = no app */
	__u8 remote[16];    /* network order (v4: first 4 bytes) */
	__u32 claim_id;     /* an app the owner's unit claims, 0 = none */
};

/*
 * Not written by the kernel: the addon's event thread puts one before the first event of each
 * executable in a batch, read from pcl_exe_path (head.kind = PCL_EV_EXE, head.exe the file; an
 * empty path when the kernel has none: the file was run before the programs were attached).
 */
struct pcl_exe_record {
	struct pcl_event head;
	struct pcl_exe_path path;
};

#endif /* PORTCULLIS_H */
