// Minimal packet builders for BPF_PROG_TEST_RUN: IPv4/IPv6 headers, IPv6 extension headers,
// TCP/UDP/ICMP headers. Checksums are left zero: the cgroup_skb programs never look at them.
import { parseIp } from '../../main/contract/net.js';

export type L4 =
  | { proto: 'tcp' | 'udp'; sport: number; dport: number; payload?: number }
  | { proto: 'icmp'; payload?: number };

const PROTO_NUMBER = { tcp: 6, udp: 17 } as const;

function addressBytes(text: string): Uint8Array {
  const parsed = parseIp(text);
  if (!parsed.ok) throw new Error(`bad test address ${text}`);
  return parsed.value.bytes;
}

function l4Header(l4: L4, v6: boolean): { proto: number; bytes: Uint8Array } {
  const payload = new Uint8Array(l4.payload ?? 0);
  if (l4.proto === 'icmp') {
    const header = new Uint8Array(8);
    header[0] = v6 ? 128 : 8; // echo request
    return { proto: v6 ? 58 : 1, bytes: concat(header, payload) };
  }
  const header = new Uint8Array(l4.proto === 'tcp' ? 20 : 8);
  const view = new DataView(header.buffer);
  view.setUint16(0, l4.sport);
  view.setUint16(2, l4.dport);
  if (l4.proto === 'tcp') {
    header[12] = 5 << 4; // data offset: 5 words
    header[13] = 0x10; // ACK
  } else {
    view.setUint16(4, 8 + payload.length);
  }
  return { proto: PROTO_NUMBER[l4.proto], bytes: concat(header, payload) };
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function ipv4(src: string, dst: string, l4: L4, options: { fragmentOffset?: number } = {}): Uint8Array {
  const body = l4Header(l4, false);
  const header = new Uint8Array(20);
  const view = new DataView(header.buffer);
  header[0] = 0x45;
  view.setUint16(2, 20 + body.bytes.length);
  view.setUint16(6, (options.fragmentOffset ?? 0) & 0x1fff);
  header[8] = 64;
  header[9] = body.proto;
  header.set(addressBytes(src), 12);
  header.set(addressBytes(dst), 16);
  return concat(header, body.bytes);
}

/** IPv6 extension headers by protocol number: 0 hop-by-hop, 43 routing, 60 dest opts, 44 fragment, 51 AH. */
export type ExtensionHeader = 0 | 43 | 60 | 44 | 51;

function extension(kind: ExtensionHeader, next: number): Uint8Array {
  if (kind === 44) {
    const frag = new Uint8Array(8);
    frag[0] = next; // offset 0: the first fragment, which carries the L4 header
    return frag;
  }
  if (kind === 51) {
    const ah = new Uint8Array(16); // (len + 2) * 4 bytes with len = 2
    ah[0] = next;
    ah[1] = 2;
    return ah;
  }
  const opts = new Uint8Array(16); // (len + 1) * 8 bytes with len = 1; PadN-filled options
  opts[0] = next;
  opts[1] = 1;
  opts[2] = 1;
  opts[3] = 12;
  return opts;
}

export function ipv6(src: string, dst: string, l4: L4, extensions: ExtensionHeader[] = []): Uint8Array {
  const body = l4Header(l4, true);
  let next = body.proto;
  let chain = body.bytes;
  for (let i = extensions.length - 1; i >= 0; i--) {
    chain = concat(extension(extensions[i]!, next), chain);
    next = extensions[i]!;
  }
  const header = new Uint8Array(40);
  const view = new DataView(header.buffer);
  header[0] = 0x60;
  view.setUint16(4, chain.length);
  header[6] = next;
  header[7] = 64;
  header.set(addressBytes(src), 8);
  header.set(addressBytes(dst), 24);
  return concat(header, chain);
}
