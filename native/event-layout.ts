// Decodes struct pcl_event (bpf/portcullis.h; size checked by a static_assert in the addon) and
// the pcl_flows records readFlows returns. Offsets mirror the C struct field by field.
import { formatIp } from '../main/contract/net.js';
import type { DecisionEvent, EventKind, FlowTotals } from './api.js';

export const EVENT_BYTES = 136;
export const FLOW_RECORD_BYTES = 40;
/** struct pcl_dns_event: an event header, u16 len, 6 bytes padding, 512 bytes of payload. */
export const DNS_EVENT_BYTES = EVENT_BYTES + 8 + 512;
const KIND_DNS = 6;

const KINDS: Record<number, EventKind> = { 1: 'connect', 2: 'sendmsg', 3: 'packet', 4: 'listen', 5: 'close', 6: 'dns' };
const PROTOCOLS: Record<number, DecisionEvent['protocol']> = { 1: 'icmp', 6: 'tcp', 17: 'udp' };

function address(bytes: Buffer, family: 4 | 6): string {
  return formatIp({ family, bytes: family === 4 ? bytes.subarray(0, 4) : bytes });
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

export function decodeEvent(buf: Buffer, at: number): DecisionEvent {
  const family = buf.readUInt8(at + 109) === 6 ? 6 : 4;
  return {
    timeNs: buf.readBigUInt64LE(at),
    socketCookie: buf.readBigUInt64LE(at + 8),
    cgroupId: buf.readBigUInt64LE(at + 16),
    bytesOut: buf.readBigUInt64LE(at + 24),
    bytesIn: buf.readBigUInt64LE(at + 32),
    packetsOut: buf.readBigUInt64LE(at + 40),
    packetsIn: buf.readBigUInt64LE(at + 48),
    tgid: buf.readUInt32LE(at + 56),
    uid: buf.readUInt32LE(at + 60),
    appId: buf.readUInt32LE(at + 64),
    ruleId: buf.readUInt32LE(at + 68),
    localAddr: address(buf.subarray(at + 72, at + 88), family),
    remoteAddr: address(buf.subarray(at + 88, at + 104), family),
    localPort: buf.readUInt16LE(at + 104),
    remotePort: buf.readUInt16LE(at + 106),
    kind: KINDS[buf.readUInt8(at + 108)] ?? 'packet',
    family,
    protocol: PROTOCOLS[buf.readUInt8(at + 110)] ?? 'other',
    direction: buf.readUInt8(at + 111) === 2 ? 'in' : 'out',
    verdict: buf.readUInt8(at + 112) === 2 ? 'block' : 'allow',
    comm: cString(buf.subarray(at + 120, at + 136)),
  };
}

/** Records are struct pcl_event, or struct pcl_dns_event when the kind byte says DNS. */
export function decodeEvents(buf: Buffer): DecisionEvent[] {
  const events: DecisionEvent[] = [];
  for (let at = 0; at + EVENT_BYTES <= buf.length; ) {
    const event = decodeEvent(buf, at);
    if (buf.readUInt8(at + 108) !== KIND_DNS) {
      events.push(event);
      at += EVENT_BYTES;
      continue;
    }
    if (at + DNS_EVENT_BYTES > buf.length) break;
    const length = Math.min(buf.readUInt16LE(at + EVENT_BYTES), 512);
    const start = at + EVENT_BYTES + 8;
    events.push({ ...event, dnsPayload: Uint8Array.prototype.slice.call(buf, start, start + length) });
    at += DNS_EVENT_BYTES;
  }
  return events;
}

export function decodeFlows(buf: Buffer): FlowTotals[] {
  const flows: FlowTotals[] = [];
  for (let at = 0; at + FLOW_RECORD_BYTES <= buf.length; at += FLOW_RECORD_BYTES) {
    flows.push({
      socketCookie: buf.readBigUInt64LE(at),
      bytesOut: buf.readBigUInt64LE(at + 8),
      bytesIn: buf.readBigUInt64LE(at + 16),
      packetsOut: buf.readBigUInt64LE(at + 24),
      packetsIn: buf.readBigUInt64LE(at + 32),
    });
  }
  return flows;
}
