// Parses DNS responses captured by the kernel hooks (the first bytes of UDP/TCP packets from port
// 53). The bytes come from the network and from any process: every length and pointer is checked,
// name decompression is bounded, and a capture cut short still yields the records that are whole.
import { formatIp } from '../../contract/net.js';

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME';

export interface DnsAnswer {
  /** Owner name, lowercase, without the trailing dot. */
  name: string;
  type: DnsRecordType;
  /** Seconds, as received (RFC 2181: a value with the top bit set counts as 0). */
  ttl: number;
  /** Canonical address text for A/AAAA; the target name for CNAME. */
  data: string;
}

export interface DnsResponse {
  id: number;
  /** Response code (0 = NOERROR, 3 = NXDOMAIN). */
  rcode: number;
  /** The names the client asked for (normally one). */
  questions: string[];
  /** A, AAAA and CNAME answers; other record types are skipped. */
  answers: DnsAnswer[];
  /** True when the capture ended before the last record the header announced. */
  truncated: boolean;
}

export type DnsParseError =
  | { kind: 'too-short'; message: string }
  | { kind: 'not-a-response'; message: string }
  | { kind: 'malformed'; message: string };

export type DnsParseResult = { ok: true; value: DnsResponse } | { ok: false; error: DnsParseError };

const HEADER_BYTES = 12;
const MAX_NAME_LENGTH = 255;
/** A real message needs few jumps; a loop of pointers must not spin. */
const MAX_POINTER_JUMPS = 32;
/** More records than this in one capture is hostile or broken; stop reading. */
const MAX_RECORDS = 256;
const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const CLASS_IN = 1;

class Truncated extends Error {}
class Malformed extends Error {}

/** Reads a possibly compressed name starting at `offset`; returns it and the offset after it. */
function readName(bytes: Uint8Array, start: number): { name: string; next: number } {
  const labels: string[] = [];
  let length = 0;
  let offset = start;
  let next = -1;
  let jumps = 0;
  for (;;) {
    if (offset >= bytes.length) throw new Truncated();
    const lead = bytes[offset]!;
    if (lead === 0) {
      if (next === -1) next = offset + 1;
      break;
    }
    const tag = lead & 0xc0;
    if (tag === 0xc0) {
      if (offset + 1 >= bytes.length) throw new Truncated();
      const target = ((lead & 0x3f) << 8) | bytes[offset + 1]!;
      if (++jumps > MAX_POINTER_JUMPS) throw new Malformed('name compression pointers loop');
      // Pointers must point backwards to something already written (RFC 1035 §4.1.4 in practice).
      if (target >= offset) throw new Malformed(`name compression pointer at ${offset} points forward to ${target}`);
      if (next === -1) next = offset + 2;
      offset = target;
      continue;
    }
    if (tag !== 0) throw new Malformed(`unsupported label type 0x${tag.toString(16)} at ${offset}`);
    const end = offset + 1 + lead;
    if (end > bytes.length) throw new Truncated();
    length += lead + 1;
    if (length > MAX_NAME_LENGTH) throw new Malformed(`name at ${start} is longer than ${MAX_NAME_LENGTH} bytes`);
    labels.push(labelText(bytes, offset + 1, end));
    offset = end;
  }
  return { name: labels.join('.'), next };
}

/** Lowercase label text; bytes outside printable ASCII are escaped so a name can never smuggle control characters. */
function labelText(bytes: Uint8Array, from: number, to: number): string {
  let text = '';
  for (let i = from; i < to; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x41 && byte <= 0x5a) text += String.fromCharCode(byte + 32);
    else if (byte > 0x20 && byte < 0x7f && byte !== 0x2e && byte !== 0x5c) text += String.fromCharCode(byte);
    else text += `\\${byte.toString().padStart(3, '0')}`;
  }
  return text;
}

const u16 = (bytes: Uint8Array, at: number): number => (bytes[at]! << 8) | bytes[at + 1]!;
const u32 = (bytes: Uint8Array, at: number): number =>
  ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;

/**
 * Parses a DNS response message (the UDP payload, or a TCP segment without its 2-byte length
 * prefix). Expected failures (short, not a response, malformed) are values.
 */
export function parseDnsResponse(bytes: Uint8Array): DnsParseResult {
  if (bytes.length < HEADER_BYTES)
    return { ok: false, error: { kind: 'too-short', message: `a DNS header needs 12 bytes, got ${bytes.length}` } };
  const flags = u16(bytes, 2);
  if ((flags & 0x8000) === 0)
    return { ok: false, error: { kind: 'not-a-response', message: 'the QR bit is clear: this is a query' } };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0)
    return { ok: false, error: { kind: 'not-a-response', message: `opcode ${opcode} is not a standard query` } };
  const questionCount = u16(bytes, 4);
  const answerCount = u16(bytes, 6);
  const response: DnsResponse = { id: u16(bytes, 0), rcode: flags & 0xf, questions: [], answers: [], truncated: false };
  if (questionCount + answerCount > MAX_RECORDS) {
    return {
      ok: false,
      error: {
        kind: 'malformed',
        message: `the header announces ${questionCount} questions and ${answerCount} answers, more than ${MAX_RECORDS}`,
      },
    };
  }
  let offset = HEADER_BYTES;
  try {
    for (let i = 0; i < questionCount; i++) {
      const { name, next } = readName(bytes, offset);
      if (next + 4 > bytes.length) throw new Truncated();
      response.questions.push(name);
      offset = next + 4;
    }
    for (let i = 0; i < answerCount; i++) {
      const { name, next } = readName(bytes, offset);
      if (next + 10 > bytes.length) throw new Truncated();
      const type = u16(bytes, next);
      const klass = u16(bytes, next + 2);
      const rawTtl = u32(bytes, next + 4);
      const dataLength = u16(bytes, next + 8);
      const dataStart = next + 10;
      const dataEnd = dataStart + dataLength;
      if (dataEnd > bytes.length) throw new Truncated();
      offset = dataEnd;
      if (klass !== CLASS_IN) continue;
      const ttl = rawTtl > 0x7fffffff ? 0 : rawTtl;
      if (type === TYPE_A) {
        if (dataLength !== 4) throw new Malformed(`A record for ${name} has ${dataLength} bytes of data, not 4`);
        response.answers.push({
          name,
          type: 'A',
          ttl,
          data: formatIp({ family: 4, bytes: bytes.subarray(dataStart, dataEnd) }),
        });
      } else if (type === TYPE_AAAA) {
        if (dataLength !== 16) throw new Malformed(`AAAA record for ${name} has ${dataLength} bytes of data, not 16`);
        response.answers.push({
          name,
          type: 'AAAA',
          ttl,
          data: formatIp({ family: 6, bytes: bytes.subarray(dataStart, dataEnd) }),
        });
      } else if (type === TYPE_CNAME) {
        const target = readName(bytes, dataStart);
        if (target.next > dataEnd) throw new Malformed(`CNAME record for ${name} runs past its data length`);
        response.answers.push({ name, type: 'CNAME', ttl, data: target.name });
      }
    }
  } catch (error) {
    if (error instanceof Truncated) response.truncated = true;
    else if (error instanceof Malformed) return { ok: false, error: { kind: 'malformed', message: error.message } };
    else throw error;
  }
  return { ok: true, value: response };
}

/** One address the response resolved, with every name that leads to it (question first, then the CNAME chain). */
export interface Resolution {
  address: string;
  family: 4 | 6;
  /** The name the client asked for first; then the aliases on the way, ending with the owner of the address record. */
  names: string[];
  /** The smallest TTL along the chain: the answer is only as fresh as its weakest link. */
  ttl: number;
}

/** Follows CNAME chains so that each address is known by the name the application actually asked for. */
export function resolutionsOf(response: DnsResponse): Resolution[] {
  // alias -> (target, ttl); the chain is walked backwards from each address owner.
  const aliasOf = new Map<string, { from: string; ttl: number }>();
  for (const answer of response.answers) {
    if (answer.type === 'CNAME' && !aliasOf.has(answer.data))
      aliasOf.set(answer.data, { from: answer.name, ttl: answer.ttl });
  }
  const resolutions: Resolution[] = [];
  for (const answer of response.answers) {
    if (answer.type === 'CNAME') continue;
    const names = [answer.name];
    let ttl = answer.ttl;
    let current = answer.name;
    // Bounded by the number of aliases; `names` guards against cycles.
    for (let step = 0; step < aliasOf.size; step++) {
      const link = aliasOf.get(current);
      if (!link || names.includes(link.from)) break;
      names.unshift(link.from);
      ttl = Math.min(ttl, link.ttl);
      current = link.from;
    }
    resolutions.push({ address: answer.data, family: answer.type === 'A' ? 4 : 6, names, ttl });
  }
  return resolutions;
}
