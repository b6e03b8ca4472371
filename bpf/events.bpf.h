/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Counters and events: what a decision adds to the per-CPU counters and rule hits, and the records
 * written to the ring buffer (never one per packet).
 */
#ifndef PCL_EVENTS_BPF_H
#define PCL_EVENTS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "common.bpf.h"
#include "maps.bpf.h"
#include "tally.bpf.h"


static __always_inline struct pcl_counters *percpu_counters(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&pcl_counters, &zero);
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

/* with_totals: the event carries the socket's totals (a close; `s` is then never NULL). */
static __always_inline void fill_event(struct pcl_event *e, __u8 kind, struct pcl_sock *s, struct flow *f, __u64 cookie,
				       __u8 verdict, __u32 rule_id, int with_totals)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_ns();
	e->cookie = cookie;
	if (s) {
		e->cgroup_id = s->cgroup_id;
		e->tgid = s->tgid;
		e->uid = s->uid;
		e->app_id = s->app_id;
		e->exe = s->exe;
		__builtin_memcpy(e->comm, s->comm, PCL_COMM_LEN);
	}
	if (with_totals && s) {
		e->bytes_out = s->bytes_out;
		e->bytes_in = s->bytes_in;
		e->packets_out = s->packets_out;
		e->packets_in = s->packets_in;
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

/*
 * Whether a record wakes the helper, by time or size rather than per record. A known app's routine
 * records (its connections, their closes, its listeners) wait for the helper's next drain (at most
 * 100 ms: kDrainEveryMs in event-pump.cc), so at a thousand connections a second it wakes a few
 * times a second, not twice per connection, and the connecting task pays no wakeup; once a quarter
 * of the ring waits unread, they wake it (a burst must not fill the ring before the drain). The
 * rest wake it at once: an unknown process's records (it reads the process's /proc entry before a
 * one-shot process exits), holds (someone waits for the question) and DNS records, which are rare.
 * Those are forced: the ring's default wakes the reader only when it has read everything before the
 * record, which is not so while routine records wait.
 */
static __always_inline __u64 wakeup_flags(__u8 kind, struct pcl_sock *s)
{
	int routine = kind == PCL_EV_CONNECT || kind == PCL_EV_SENDMSG || kind == PCL_EV_PACKET || kind == PCL_EV_CLOSE ||
		      kind == PCL_EV_LISTEN;
	if (!routine || !s || s->app_id == 0)
		return BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_query(&pcl_events, BPF_RB_AVAIL_DATA) > pcl_ring_wake_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void emit(__u8 kind, struct pcl_sock *s, struct flow *f, __u64 cookie, __u8 verdict,
				 __u32 rule_id, int with_totals)
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
	if (s)
		s->flags = (s->flags & ~PCL_SK_TALLIED) | PCL_SK_RECORDED; /* user space now knows the socket */
	fill_event(e, kind, s, f, cookie, verdict, rule_id, with_totals);
	bpf_ringbuf_submit(e, wakeup_flags(kind, s));
}

/* Final totals of a socket that carried traffic, as one 'close' event (or its tally's: tally_close). */
static __always_inline void emit_close(struct pcl_sock *s, __u8 proto, __u8 family)
{
	if (tally_close(s))
		return;
	struct flow f = { .proto = proto, .dir = PCL_DIR_OUT, .family = s->family, .rport = s->remote_port };
	__builtin_memcpy(f.raddr, s->remote, 16);
	if (s->flags & PCL_SK_PASSIVE)
		f.dir = PCL_DIR_IN;
	if (f.family == 0)
		f.family = family;
	__u64 cookie = s->cookie;
	emit(PCL_EV_CLOSE, s, &f, cookie, s->verdict, s->rule_id, 1);
	if (s->flags & PCL_SK_MIRRORED)
		bpf_map_delete_elem(&pcl_flows, &cookie);
}

#endif /* PCL_EVENTS_BPF_H */
