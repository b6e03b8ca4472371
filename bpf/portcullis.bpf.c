// SPDX-License-Identifier: GPL-2.0-only
// Portcullis datapath: per-app verdicts on cgroup v2 hooks. This file holds the programs the
// helper attaches (the hooks); the parts they share are headers by concern: rules lookup
// (rules.bpf.h), counters and events (events.bpf.h), socket state (sock-state.bpf.h), packet
// parsing (packet.bpf.h) and the cgroup_skb path (skb.bpf.h), over the maps (maps.bpf.h). See
// portcullis.h for the rule layout and precedence, DESIGN.md "Kernel side" for the hooks' jobs.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "portcullis.h"
#include "common.bpf.h"
#include "maps.bpf.h"
#include "rules.bpf.h"
#include "remembered.bpf.h"
#include "events.bpf.h"
#include "process.bpf.h"
#include "sock-state.bpf.h"
#include "packet.bpf.h"
#include "skb.bpf.h"
#include "hold.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- connect and sendmsg --------------------------------------------------------------- */

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
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct pcl_sock *stored = NULL;
	struct pcl_slot *entry = entry_of_cookie(cookie);
	struct pcl_sock *s = NULL;
	/* Its first use: no entry, and never bound (a bind, post_bind, gives the state storage). */
	if (!entry && !sk->src_port)
		s = born_in_entry(cookie, ctx->protocol);
	if (!s)
		s = state_of_socket(entry, sk, BPF_SK_STORAGE_GET_F_CREATE, &stored);
	if (!s)
		return CG_ALLOW;
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

	struct decision d = decide_remembered(cfg, gen, s->app_id, s->claim_id, f);
	__u8 verdict = cfg->enforcing ? d.action : PCL_ACT_ALLOW;
	if (verdict == PCL_ACT_ASK) {
		if (helpers_own(cfg, s))
			verdict = PCL_ACT_ALLOW; /* never held: decided as in monitor mode */
		else if (kind == PCL_EV_CONNECT && f->proto == PCL_PROTO_TCP)
			return hold_connect(ctx, cfg, s, f, cookie);
		else
			return CG_ALLOW; /* UDP: held at its first datagram (egress); a connect() sends nothing */
	}
	cache_store(s, gen, f, verdict, d.rule_id);
	count_decision(verdict, d.rule_id);
	if (!tally_decision(s, verdict))
		emit(kind, s, f, cookie, verdict, d.rule_id, 0);
	if (kind == PCL_EV_CONNECT && f->proto == PCL_PROTO_TCP && stored)
		settle_at_connect(stored, sk, cookie);
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

/*
 * Attached only where entries are not used (6.1): there every socket gets its state and owner from
 * its creator. Where they are, the hook is not attached at all, which saves its run on every socket:
 * TCP and UDP sockets are born at their first use (born_in_entry), other sockets are owned at their
 * first packet sent (own_at_first_send).
 */
SEC("cgroup/sock_create")
int pcl_sock_create(struct bpf_sock *ctx)
{
	struct pcl_sock *s = bpf_sk_storage_get(&pcl_sk, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return CG_ALLOW;
	struct task_struct *task = bpf_get_current_task_btf();
	own_by_task(s, task);
	/* A socket is made in its creator's network namespace (see socket_net_is_system). */
	struct user_namespace *owner = task->nsproxy->net_ns->user_ns;
	if (owner && owner->level == 0)
		s->flags |= PCL_SK_SYSTEM_NET;
	return CG_ALLOW;
}

static __always_inline int post_bind(struct bpf_sock *ctx, __u8 family)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct pcl_sock *s = bpf_sk_storage_get(&pcl_sk, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return CG_ALLOW;
	struct pcl_slot *entry = entry_of_cookie(cookie);
	if (entry)
		move_to_storage(entry, s);
	own_as_listener(s);
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
	emit(PCL_EV_LISTEN, s, &f, cookie, PCL_ACT_ALLOW, 0, 0);
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

/*
 * getsockname() on a TCP listener that was never bound. Where TCP sockets get their state at their
 * first connect, sendmsg or bind (born_at_first_use), such a listener has none: the kernel picked
 * its port at listen(), where no hook runs. An application that listens so asks the socket its port
 * (how else would it tell a peer?), so the task that asks takes the listener as its owner, into its
 * storage: the sockets it accepts start as a copy of it. Any other socket leaves at the first test.
 */
static __always_inline int own_unbound_listener(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	if (!born_at_first_use(IPPROTO_TCP_NR) || !sk || sk->state != BPF_TCP_LISTEN)
		return CG_ALLOW;
	struct pcl_sock *s = bpf_sk_storage_get(&pcl_sk, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s)
		own_as_listener(s);
	return CG_ALLOW;
}

SEC("cgroup/getsockname4")
int pcl_getsockname4(struct bpf_sock_addr *ctx)
{
	return own_unbound_listener(ctx);
}

SEC("cgroup/getsockname6")
int pcl_getsockname6(struct bpf_sock_addr *ctx)
{
	return own_unbound_listener(ctx);
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

SEC("cgroup/sock_release")
int pcl_sock_release(struct bpf_sock *ctx)
{
	/* Each context field read once, up front: clang may otherwise offset the context pointer. */
	__u32 protocol = ctx->protocol, state = ctx->state;
	__u8 family = ctx->family == AF_INET6 ? 6 : 4;
	/* The state stays where it is: the FIN and the peer's answer still find it. */
	struct pcl_slot *entry = pcl_kern_ctx_cast ? entry_of_kernel_sock(bpf_cast_to_kern_ctx(ctx)) : NULL;
	struct pcl_sock *stored;
	struct pcl_sock *s = state_of_socket(entry, ctx, 0, &stored);
	if (!s)
		return CG_ALLOW;
	if (s->flags & PCL_SK_HELD) {
		release_holds(ctx, s, family);
		sock_done(s);
		return CG_ALLOW; /* a connect that never got through: its only packets were dropped SYNs */
	}
	if (s->flags & PCL_SK_HOLDS)
		release_holds(ctx, s, family);
	if (s->packets_out == 0 && s->packets_in == 0) {
		sock_done(s);
		return CG_ALLOW;
	}
	if (protocol == IPPROTO_TCP_NR && tcp_end_to_come(state)) {
		__u64 before = __sync_fetch_and_or(&s->close_state, PCL_CLOSE_RELEASED);
		if (!(before & PCL_CLOSE_END_SENT))
			return CG_ALLOW; /* queued data may still leave: the FIN or RST reports the close */
	}
	emit_close(s, fold_proto(protocol), family);
	sock_done(s);
	return CG_ALLOW;
}

/* ---- cgroup_skb backstop and accounting ----------------------------------------------------- */

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

/* ---- ask mode: held connects (hold.bpf.h) ------------------------------------------------- */

/*
 * TCP's own callbacks for held sockets: the SYN's first retransmit timeout is the hold (so no
 * retransmission comes before the answer, and the answer's kick still works), and on establishment
 * the hold's options and entry go. Every other socket leaves at the first test (one map lookup on
 * two ops per connection).
 */
SEC("sockops")
int pcl_sockops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	if (op != BPF_SOCK_OPS_TIMEOUT_INIT && op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	struct bpf_sock *sk = skops->sk;
	if (!sk)
		return 1;
	struct pcl_sock *stored;
	struct pcl_sock *s = state_of_socket(entry_of_cookie(bpf_get_socket_cookie(skops)), sk, 0, &stored);
	if (!s || !(s->flags & PCL_SK_HELD))
		return 1;
	if (op == BPF_SOCK_OPS_TIMEOUT_INIT) {
		__u32 jiffies = pcl_config.hold_jiffies;
		skops->reply = jiffies ? jiffies : 1;
		return 1;
	}
	int zero = 0;
	bpf_setsockopt(skops, SOL_TCP_NR, TCP_USER_TIMEOUT_NR, &zero, sizeof(zero));
	struct pcl_hold_key key = hold_key_tcp(bpf_get_socket_cookie(skops));
	hold_forget(&key);
	s->flags &= ~PCL_SK_HELD;
	return 1;
}

/*
 * Not attached: the helper runs it (BPF_PROG_TEST_RUN) on a flow it holds, to learn whether the rules
 * decide it now (after a rules change), with the hooks' own decide(). Answers the PCL_ACT_* code.
 */
SEC("tc")
int pcl_decide(struct __sk_buff *skb)
{
	struct pcl_decide_query q;
	if (bpf_skb_load_bytes(skb, 0, &q, sizeof(q)))
		return PCL_ACT_NONE;
	struct flow f = { .family = q.family, .proto = q.proto, .dir = PCL_DIR_OUT, .rport = q.remote_port };
	__builtin_memcpy(f.raddr, q.remote, 16);
	struct pcl_config *cfg = &pcl_config;
	struct decision d = decide(cfg, cfg->generation, q.app_id, q.claim_id, &f);
	return d.action;
}

/* ---- process -> app tracking (process.bpf.h) ------------------------------------------ */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(pcl_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	on_exec(p, bprm);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(pcl_fork, struct task_struct *parent, struct task_struct *child)
{
	on_fork(parent, child);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pcl_exit, struct task_struct *p)
{
	on_exit(p);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(pcl_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	on_cgroup_mkdir(cgrp);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(pcl_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	on_cgroup_rmdir(cgrp);
	return 0;
}
