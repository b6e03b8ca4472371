// Parses the DNS messages captured by the kernel hooks (the first bytes of UDP packets to and from
// port 53): the queries sockets sent and the answers they received. The bytes come from the network
// and from any process: every length and pointer is checked, name decompression is bounded, and a
// capture cut short still yields the records that are whole.
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

/** What a query asks: a name (lowercase, without the trailing dot), a record type and a class. */
export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsQuery {
  id: number;
  question: DnsQuestion;
}

export interface DnsResponse {
  id: number;
  /** Response code (0 = NOERROR, 3 = NXDOMAIN). */
  rcode: number;
  /** The questions the response repeats (normally the one asked). */
  questions: DnsQuestion[];
  /** A, AAAA and CNAME answers; other record types are skipped. */
  answers: DnsAnswer[];
  /** True when the capture ended before the last record the header announced. */
  truncated: boolean;
}

export type DnsParseError =
  | { kind: 'too-short'; message: string }
  | { kind: 'not-a-response'; message: string }
  | { kind: 'not-a-query'; message: string }
  | { kind: 'malformed'; message: string };

export type DnsParseResult<T = DnsResponse> = { ok: true; value: T } | { ok: false; error: DnsParseError };

const HEADER_BYTES = 12;
const MAX_NAME_LENGTH = 255;
/** A real message needs few jumps; a loop of pointers must not spin. */
const MAX_POINTER_JUMPS = 32;
/** More records than this in one capture is hostile or broken; stop reading. */
const MAX_RECORDS = 256;
export const TYPE_A = 1;
const TYPE_CNAME = 5;
export const TYPE_AAAA = 28;
const TYPE_ANY = 255;
export const CLASS_IN = 1;

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

/** Reads one question at `offset`; returns it and the offset after it. */
function readQuestion(bytes: Uint8Array, offset: number): { question: DnsQuestion; next: number } {
  const { name, next } = readName(bytes, offset);
  if (next + 4 > bytes.length) throw new Truncated();
  return { question: { name, type: u16(bytes, next), class: u16(bytes, next + 2) }, next: next + 4 };
}

/**
 * Parses a standard query with one question (what stub resolvers send), as the kernel saw it leave.
 * Anything else is refused as a value: the helper only matches answers against such queries.
 */
export function parseDnsQuery(bytes: Uint8Array): DnsParseResult<DnsQuery> {
  if (bytes.length < HEADER_BYTES)
    return { ok: false, error: { kind: 'too-short', message: `a DNS header needs 12 bytes, got ${bytes.length}` } };
  const flags = u16(bytes, 2);
  if ((flags & 0xf800) !== 0)
    return {
      ok: false,
      error: { kind: 'not-a-query', message: 'the QR bit or the opcode is set: not a standard query' },
    };
  if (u16(bytes, 4) !== 1)
    return { ok: false, error: { kind: 'not-a-query', message: `a query with ${u16(bytes, 4)} questions, not 1` } };
  try {
    return { ok: true, value: { id: u16(bytes, 0), question: readQuestion(bytes, HEADER_BYTES).question } };
  } catch (error) {
    if (error instanceof Truncated)
      return { ok: false, error: { kind: 'too-short', message: 'the capture ends inside the question' } };
    if (error instanceof Malformed) return { ok: false, error: { kind: 'malformed', message: error.message } };
    throw error;
  }
}

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
      const { question, next } = readQuestion(bytes, offset);
      response.questions.push(question);
      offset = next;
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

/** The address record types a question of `type` asks for. */
function addressTypesFor(type: number): ReadonlySet<DnsRecordType> {
  if (type === TYPE_A) return new Set(['A']);
  if (type === TYPE_AAAA) return new Set(['AAAA']);
  if (type === TYPE_ANY) return new Set(['A', 'AAAA']);
  return new Set();
}

/**
 * The addresses a response gives for `question`: the address records of the asked type owned by
 * the question's name or by a name its CNAME chain leads to, each known by the name the application
 * asked for. Records about any other name are ignored: a server answers for what it was asked,
 * and an extra "bank.example A ..." riding along must not name an address.
 */
export function resolutionsFor(response: DnsResponse, question: DnsQuestion): Resolution[] {
  const types = addressTypesFor(question.type);
  if (question.class !== CLASS_IN || types.size === 0) return [];
  const resolutions: Resolution[] = [];
  const chain = [question.name];
  let chainTtl = Number.MAX_SAFE_INTEGER;
  // Each step follows one CNAME; `chain` guards against cycles, the answer count bounds the walk.
  for (let step = 0; step <= response.answers.length; step++) {
    const owner = chain[chain.length - 1]!;
    for (const answer of response.answers) {
      if (answer.name !== owner || !types.has(answer.type)) continue;
      resolutions.push({
        address: answer.data,
        family: answer.type === 'A' ? 4 : 6,
        names: [...chain],
        ttl: Math.min(chainTtl, answer.ttl),
      });
    }
    const alias = response.answers.find((a) => a.type === 'CNAME' && a.name === owner && !chain.includes(a.data));
    if (!alias) break;
    chain.push(alias.data);
    chainTtl = Math.min(chainTtl, alias.ttl);
  }
  return resolutions;
}
