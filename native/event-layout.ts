// Decodes struct pcl_event and struct pcl_dns_event (bpf/portcullis.h), the pcl_exe_record the
// event thread adds (an executable's path), and the pcl_flow_record records readFlows returns, at
// the offsets of the generated ABI (native/abi.ts).
//
// This runs for every kernel event, so it reads bytes straight from the batch buffer (no views or
// subarrays per field) and reuses what repeats: an address's text and a process's command name
// are formatted once and looked up by their raw bytes after that; zero counters need no BigInt.
import * as abi from './abi.js';
import type { DecisionEvent, EventDecoding, EventKind, ExecutableIdentity } from './api.js';

export const EVENT_BYTES = abi.pcl_event.SIZE;
export const EXE_RECORD_BYTES = abi.pcl_exe_record.SIZE;
export const FLOW_RECORD_BYTES = abi.pcl_flow_record.SIZE;
export const DNS_EVENT_BYTES = abi.pcl_dns_event.SIZE;

// Offsets as module-local constants: read for every field of every event.
const {
  time_ns: TIME_NS,
  cookie: COOKIE,
  cgroup_id: CGROUP_ID,
  bytes_out: BYTES_OUT,
  bytes_in: BYTES_IN,
  packets_out: PACKETS_OUT,
  packets_in: PACKETS_IN,
  tgid: TGID,
  uid: UID,
  app_id: APP_ID,
  rule_id: RULE_ID,
  local_addr: LOCAL_ADDR,
  remote_addr: REMOTE_ADDR,
  local_port: LOCAL_PORT,
  remote_port: REMOTE_PORT,
  kind: KIND,
  family: FAMILY,
  protocol: PROTOCOL,
  direction: DIRECTION,
  verdict: VERDICT,
  exe: EXE,
  comm: COMM,
} = abi.pcl_event;
const EXE_PATH_AT = abi.pcl_exe_record.path;
const PATH_LEN = EXE_PATH_AT + abi.pcl_exe_path.len;
const PATH_FLAGS = EXE_PATH_AT + abi.pcl_exe_path.flags;
const PATH_TEXT = EXE_PATH_AT + abi.pcl_exe_path.path;
const { len: DNS_LEN, data: DNS_DATA } = abi.pcl_dns_event;
const { cookie: FLOW_COOKIE, flow: FLOW } = abi.pcl_flow_record;
const FLOW_BYTES_OUT = FLOW + abi.pcl_flow.bytes_out;
const FLOW_BYTES_IN = FLOW + abi.pcl_flow.bytes_in;
const FLOW_PACKETS_OUT = FLOW + abi.pcl_flow.packets_out;
const FLOW_PACKETS_IN = FLOW + abi.pcl_flow.packets_in;
const {
  PCL_COMM_LEN: COMM_BYTES,
  PCL_DNS_MAX: DNS_MAX,
  PCL_EV_DNS: KIND_DNS,
  PCL_EV_DNS_QUERY: KIND_DNS_QUERY,
  PCL_EV_EXE: KIND_EXE,
  PCL_PATH_MAX: PATH_MAX,
  PCL_PATH_CUT: PATH_CUT,
  PCL_DIR_IN: DIR_IN,
  PCL_ACT_BLOCK: ACT_BLOCK,
} = abi;

const KINDS: Record<number, EventKind> = {
  [abi.PCL_EV_CONNECT]: 'connect',
  [abi.PCL_EV_SENDMSG]: 'sendmsg',
  [abi.PCL_EV_PACKET]: 'packet',
  [abi.PCL_EV_LISTEN]: 'listen',
  [abi.PCL_EV_CLOSE]: 'close',
  [abi.PCL_EV_DNS]: 'dns',
  [abi.PCL_EV_DNS_QUERY]: 'dns-query',
  [abi.PCL_EV_HOLD]: 'hold',
  [abi.PCL_EV_UNHOLD]: 'unhold',
};
export const PROTOCOLS: Record<number, DecisionEvent['protocol']> = {
  [abi.PCL_PROTO_ICMP]: 'icmp',
  [abi.PCL_PROTO_TCP]: 'tcp',
  [abi.PCL_PROTO_UDP]: 'udp',
};

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

const u32 = (buf: Buffer, at: number): number =>
  (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000;

/** A u64 counter: the shared 0n when zero (most events carry no totals). */
function counter(buf: Buffer, at: number): bigint {
  return u32(buf, at) === 0 && u32(buf, at + 4) === 0 ? 0n : buf.readBigUInt64LE(at);
}

/** IPv4 texts are direct-mapped by the address (one slot per hash: a hit is one compare, a miss one format). */
const V4_SLOTS = 1 << 14;

/**
 * Decodes ring-buffer batches (struct pcl_event, or struct pcl_dns_event when the kind byte says
 * DNS answer or query), with its own caches of the texts it made. IPv6 addresses are formatted by the caller's
 * formatter (the contract's RFC 5952 one: native/ has none of its own), once per address.
 */
export class EventDecoder {
  private readonly v4Keys = new Float64Array(V4_SLOTS).fill(-1);
  private readonly v4Slots: string[] = new Array<string>(V4_SLOTS).fill('');
  private readonly v6Texts = new TextCache<string>(16_384);
  /** Command names by their 16 raw bytes read as latin1 (exact: one byte per char). */
  private readonly commTexts = new TextCache<string>(4096);
  /** Executables by their 16 raw key bytes (dev, ino) as latin1; the path from the last record of each. */
  private readonly executables = new Map<string, ExecutableIdentity>();
  private readonly formatV6: (bytes: Uint8Array) => string;

  constructor(decoding: EventDecoding) {
    this.formatV6 = decoding.formatV6;
  }

  decode(buf: Buffer): DecisionEvent[] {
    const events: DecisionEvent[] = [];
    for (let at = 0; at + EVENT_BYTES <= buf.length; ) {
      const kind = buf[at + KIND];
      if (kind === KIND_EXE) {
        if (at + EXE_RECORD_BYTES > buf.length) break;
        this.executableRecord(buf, at);
        at += EXE_RECORD_BYTES;
        continue;
      }
      if (kind !== KIND_DNS && kind !== KIND_DNS_QUERY) {
        events.push(this.event(buf, at));
        at += EVENT_BYTES;
        continue;
      }
      if (at + DNS_EVENT_BYTES > buf.length) break;
      const event = this.event(buf, at);
      const length = Math.min(buf.readUInt16LE(at + DNS_LEN), DNS_MAX);
      const start = at + DNS_DATA;
      event.dnsPayload = Uint8Array.prototype.slice.call(buf, start, start + length);
      events.push(event);
      at += DNS_EVENT_BYTES;
    }
    return events;
  }

  private event(buf: Buffer, at: number): DecisionEvent {
    const v6 = buf[at + FAMILY] === 6;
    return {
      timeNs: buf.readBigUInt64LE(at + TIME_NS),
      socketCookie: counter(buf, at + COOKIE),
      cgroupId: buf.readBigUInt64LE(at + CGROUP_ID),
      exe: this.executable(buf, at + EXE),
      bytesOut: counter(buf, at + BYTES_OUT),
      bytesIn: counter(buf, at + BYTES_IN),
      packetsOut: counter(buf, at + PACKETS_OUT),
      packetsIn: counter(buf, at + PACKETS_IN),
      tgid: u32(buf, at + TGID),
      uid: u32(buf, at + UID),
      appId: u32(buf, at + APP_ID),
      ruleId: u32(buf, at + RULE_ID),
      localAddr: v6 ? this.v6Address(buf, at + LOCAL_ADDR) : this.v4Address(buf, at + LOCAL_ADDR),
      remoteAddr: v6 ? this.v6Address(buf, at + REMOTE_ADDR) : this.v4Address(buf, at + REMOTE_ADDR),
      localPort: buf[at + LOCAL_PORT]! | (buf[at + LOCAL_PORT + 1]! << 8),
      remotePort: buf[at + REMOTE_PORT]! | (buf[at + REMOTE_PORT + 1]! << 8),
      kind: KINDS[buf[at + KIND]!] ?? 'packet',
      family: v6 ? 6 : 4,
      protocol: PROTOCOLS[buf[at + PROTOCOL]!] ?? 'other',
      direction: buf[at + DIRECTION] === DIR_IN ? 'in' : 'out',
      verdict: buf[at + VERDICT] === ACT_BLOCK ? 'block' : 'allow',
      comm: this.comm(buf, at + COMM),
    };
  }

  /** The executable at `at` (a pcl_exe_key), as the last record named it; null when zero. */
  private executable(buf: Buffer, at: number): ExecutableIdentity | null {
    if (u32(buf, at) === 0 && u32(buf, at + 4) === 0 && u32(buf, at + 8) === 0 && u32(buf, at + 12) === 0) return null;
    const key = buf.toString('latin1', at, at + 16);
    const known = this.executables.get(key);
    if (known) return known;
    return this.remember(key, buf, at, null, false);
  }

  /** A pcl_exe_record: the path of an executable the batch's next events carry. */
  private executableRecord(buf: Buffer, at: number): void {
    const keyAt = at + EXE;
    const key = buf.toString('latin1', keyAt, keyAt + 16);
    const length = Math.min(buf.readUInt16LE(at + PATH_LEN), PATH_MAX - 1);
    const path = length > 0 ? buf.toString('utf8', at + PATH_TEXT, at + PATH_TEXT + length) : null;
    const cut = (buf[at + PATH_FLAGS]! & PATH_CUT) !== 0;
    const known = this.executables.get(key);
    if (known && known.path === path && known.pathCut === cut) return;
    this.remember(key, buf, keyAt, path, cut);
  }

  private remember(key: string, buf: Buffer, at: number, path: string | null, pathCut: boolean): ExecutableIdentity {
    if (this.executables.size >= 4096) this.executables.clear();
    const identity = { dev: buf.readBigUInt64LE(at), ino: buf.readBigUInt64LE(at + 8), path, pathCut };
    this.executables.set(key, identity);
    return identity;
  }

  private v4Address(buf: Buffer, at: number): string {
    const key = u32(buf, at);
    const slot = (Math.imul(key, 0x9e3779b1) >>> 18) & (V4_SLOTS - 1);
    if (this.v4Keys[slot] === key) return this.v4Slots[slot]!;
    this.v4Keys[slot] = key;
    return (this.v4Slots[slot] = `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`);
  }

  private v6Address(buf: Buffer, at: number): string {
    const key = buf.toString('latin1', at, at + 16);
    return this.v6Texts.get(key) ?? this.v6Texts.set(key, this.formatV6(buf.subarray(at, at + 16)));
  }

  private comm(buf: Buffer, at: number): string {
    const key = buf.toString('latin1', at, at + COMM_BYTES);
    const known = this.commTexts.get(key);
    if (known !== undefined) return known;
    let end = at;
    while (end < at + COMM_BYTES && buf[end] !== 0) end++;
    return this.commTexts.set(key, buf.toString('utf8', at, end));
  }
}

/** A u64 as a number: exact below 2^53, else the nearest double (as Number(bigint) gives). */
export const u64Number = (buf: Buffer, at: number): number => u32(buf, at + 4) * 0x1_0000_0000 + u32(buf, at);

/**
 * Walks pcl_flows records with no object per record (the helper reads 100k+ every few seconds):
 * the cookie as a number while that is exact (else a bigint), the totals as numbers.
 */
export function visitFlowRecords(
  buf: Buffer,
  visit: (
    cookie: number | bigint,
    bytesOut: number,
    bytesIn: number,
    packetsOut: number,
    packetsIn: number,
    /** The record's offset in `buf` (tallyFlowOfRecord reads a tallied socket's flow there). */
    at: number,
  ) => void,
): void {
  for (let at = 0; at + FLOW_RECORD_BYTES <= buf.length; at += FLOW_RECORD_BYTES) {
    const cookie =
      u32(buf, at + FLOW_COOKIE + 4) < 0x20_0000
        ? u64Number(buf, at + FLOW_COOKIE)
        : buf.readBigUInt64LE(at + FLOW_COOKIE);
    visit(
      cookie,
      u64Number(buf, at + FLOW_BYTES_OUT),
      u64Number(buf, at + FLOW_BYTES_IN),
      u64Number(buf, at + FLOW_PACKETS_OUT),
      u64Number(buf, at + FLOW_PACKETS_IN),
      at,
    );
  }
}
