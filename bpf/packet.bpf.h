/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Packet parsing for the cgroup_skb programs: IPv4 and IPv6 (extension headers walked, bounded),
 * the L4 ports, payload and TCP sequence, read in place from the linear head when it holds them.
 */
#ifndef PCL_PACKET_BPF_H
#define PCL_PACKET_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "common.bpf.h"

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

/* A packet of either family into `p`, its direction set; 0 when truncated, garbage or neither. */
static __always_inline int parse_packet(struct __sk_buff *skb, struct parsed *p, int egress)
{
	p->f.dir = egress ? PCL_DIR_OUT : PCL_DIR_IN;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return parse4(skb, p, egress);
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return parse6(skb, p, egress);
	return 0;
}

#endif /* PCL_PACKET_BPF_H */
