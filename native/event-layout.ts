// Decodes struct pcl_event (bpf/portcullis.h; size checked by a static_assert in the addon) and
// the pcl_flows records readFlows returns. Offsets mirror the C struct field by field.
//
// This runs for every kernel event, so it reads bytes straight from the batch buffer (no views or
// subarrays per field) and reuses what repeats: an address's text and a process's command name
// are formatted once and looked up by their raw bytes after that; zero counters need no BigInt.
import { formatIp } from '../main/contract/net.js';
import type { DecisionEvent, EventKind, FlowTotals } from './api.js';

export const EVENT_BYTES = 136;
export const FLOW_RECORD_BYTES = 40;
/** struct pcl_dns_event: an event header, u16 len, 6 bytes padding, 512 bytes of payload. */
export const DNS_EVENT_BYTES = EVENT_BYTES + 8 + 512;
const KIND_DNS = 6;
const COMM_BYTES = 16;

const KINDS: Record<number, EventKind> = { 1: 'connect', 2: 'sendmsg', 3: 'packet', 4: 'listen', 5: 'close', 6: 'dns' };
const PROTOCOLS: Record<number, DecisionEvent['protocol']> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

/** A cache of texts by raw key that forgets everything when full (bounded, and cheap to keep). */
class TextCache<K> {
  private readonly texts = new Map<K, string>();
  constructor(private readonly max: number) {}
  get(key: K): string | undefined {
    return this.texts.get(key);
  }
  set(key: K, text: string): string {
    if (this.texts.size >= this.max) this.texts.clear();
    this.texts.set(key, text);
    return text;
  }
}

/** IPv4 texts, direct-mapped by the address (one slot per hash: a hit is one compare, a miss one format). */
const V4_SLOTS = 1 << 14;
const v4Keys = new Float64Array(V4_SLOTS).fill(-1);
const v4Slots: string[] = new Array<string>(V4_SLOTS).fill('');
const v6Texts = new TextCache<string>(16_384);
/** Command names by their 16 raw bytes read as latin1 (exact: one byte per char). */
const commTexts = new TextCache<string>(4096);

const u32 = (buf: Buffer, at: number): number => (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000;

function v4Address(buf: Buffer, at: number): string {
  const key = u32(buf, at);
  const slot = (Math.imul(key, 0x9e3779b1) >>> 18) & (V4_SLOTS - 1);
  if (v4Keys[slot] === key) return v4Slots[slot]!;
  v4Keys[slot] = key;
  return (v4Slots[slot] = `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`);
}

function v6Address(buf: Buffer, at: number): string {
  const key = buf.toString('latin1', at, at + 16);
  return v6Texts.get(key) ?? v6Texts.set(key, formatIp({ family: 6, bytes: buf.subarray(at, at + 16) }));
}

function comm(buf: Buffer, at: number): string {
  const key = buf.toString('latin1', at, at + COMM_BYTES);
  const known = commTexts.get(key);
  if (known !== undefined) return known;
  let end = at;
  while (end < at + COMM_BYTES && buf[end] !== 0) end++;
  return commTexts.set(key, buf.toString('utf8', at, end));
}

/** A u64 counter: the shared 0n when zero (most events carry no totals). */
function counter(buf: Buffer, at: number): bigint {
  return u32(buf, at) === 0 && u32(buf, at + 4) === 0 ? 0n : buf.readBigUInt64LE(at);
}

export function decodeEvent(buf: Buffer, at: number): DecisionEvent {
  const family = buf[at + 109] === 6 ? 6 : 4;
  const address = family === 4 ? v4Address : v6Address;
  return {
    timeNs: buf.readBigUInt64LE(at),
    socketCookie: counter(buf, at + 8),
    cgroupId: buf.readBigUInt64LE(at + 16),
    bytesOut: counter(buf, at + 24),
    bytesIn: counter(buf, at + 32),
    packetsOut: counter(buf, at + 40),
    packetsIn: counter(buf, at + 48),
    tgid: u32(buf, at + 56),
    uid: u32(buf, at + 60),
    appId: u32(buf, at + 64),
    ruleId: u32(buf, at + 68),
    localAddr: address(buf, at + 72),
    remoteAddr: address(buf, at + 88),
    localPort: buf[at + 104]! | (buf[at + 105]! << 8),
    remotePort: buf[at + 106]! | (buf[at + 107]! << 8),
    kind: KINDS[buf[at + 108]!] ?? 'packet',
    family,
    protocol: PROTOCOLS[buf[at + 110]!] ?? 'other',
    direction: buf[at + 111] === 2 ? 'in' : 'out',
    verdict: buf[at + 112] === 2 ? 'block' : 'allow',
    comm: comm(buf, at + 120),
  };
}

/** Records are struct pcl_event, or struct pcl_dns_event when the kind byte says DNS. */
export function decodeEvents(buf: Buffer): DecisionEvent[] {
  const events: DecisionEvent[] = [];
  for (let at = 0; at + EVENT_BYTES <= buf.length; ) {
    if (buf[at + 108] !== KIND_DNS) {
      events.push(decodeEvent(buf, at));
      at += EVENT_BYTES;
      continue;
    }
    if (at + DNS_EVENT_BYTES > buf.length) break;
    const event = decodeEvent(buf, at);
    const length = Math.min(buf.readUInt16LE(at + EVENT_BYTES), 512);
    const start = at + EVENT_BYTES + 8;
    event.dnsPayload = Uint8Array.prototype.slice.call(buf, start, start + length);
    events.push(event);
    at += DNS_EVENT_BYTES;
  }
  return events;
}

/** A u64 as a number: exact below 2^53, else the nearest double (as Number(bigint) gives). */
const u64Number = (buf: Buffer, at: number): number => u32(buf, at + 4) * 0x1_0000_0000 + u32(buf, at);

/**
 * Walks pcl_flows records with no object per record (the helper reads 100k+ every few seconds):
 * the cookie as a number while that is exact (else a bigint), the totals as numbers.
 */
export function visitFlowRecords(buf: Buffer, visit: (cookie: number | bigint, bytesOut: number, bytesIn: number, packetsOut: number, packetsIn: number) => void): void {
  for (let at = 0; at + FLOW_RECORD_BYTES <= buf.length; at += FLOW_RECORD_BYTES) {
    const cookie = u32(buf, at + 4) < 0x20_0000 ? u64Number(buf, at) : buf.readBigUInt64LE(at);
    visit(cookie, u64Number(buf, at + 8), u64Number(buf, at + 16), u64Number(buf, at + 24), u64Number(buf, at + 32));
  }
}

export function decodeFlows(buf: Buffer): FlowTotals[] {
  const flows: FlowTotals[] = [];
  for (let at = 0; at + FLOW_RECORD_BYTES <= buf.length; at += FLOW_RECORD_BYTES) {
    flows.push({
      socketCookie: buf.readBigUInt64LE(at),
      bytesOut: counter(buf, at + 8),
      bytesIn: counter(buf, at + 16),
      packetsOut: counter(buf, at + 24),
      packetsIn: counter(buf, at + 32),
    });
  }
  return flows;
}
