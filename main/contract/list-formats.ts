// The list formats people import: hosts files, one address/CIDR/domain per line, CIDR sets, domain
// lists and AdBlock-style "||domain^" filters. One parser serves every way a list arrives (the CLI,
// the desktop app, subscriptions, policy files): the helper runs it, at the trust boundary, over
// text streamed to it in chunks. Every line either becomes an entry (a canonical remote) or is
// reported skipped with its number and why; comments and blank lines are neither.
import { formatRemote, parseRemote, type Remote } from './rules.js';
import { fail, type Result } from './schema.js';

/** Formats whose entries are lines; `auto` takes every syntax below, line by line. */
export const LINE_FORMATS = ['auto', 'hosts', 'plain', 'cidr', 'domains', 'adblock'] as const;
export type LineFormat = (typeof LINE_FORMATS)[number];

export interface SkippedLine {
  /** The file of a multi-file import (OpenSnitch rules); absent for a single list. */
  file?: string;
  /** 1-based; 0 where the entry is a whole file's rule rather than one line of it. */
  line: number;
  /** The line (or the part of it that was refused), cut to 200 characters. */
  text: string;
  reason: string;
}

/** Where a skipped entry was, as every client shows it: "line 3", or "file:line" ("file" for a whole rule). */
export function skippedPlace(skip: SkippedLine): string {
  if (skip.file === undefined) return `line ${skip.line}`;
  return skip.line > 0 ? `${skip.file}:${skip.line}` : skip.file;
}

/** Skipped lines kept with their text; beyond this only counted (a broken 1M-line file must not fill memory). */
export const MAX_SKIPPED_KEPT = 1000;

/** Hosts files point names at these to block them; the address itself is not a target. */
const SINK_ADDRESSES = new Set(['0.0.0.0', '127.0.0.1', '::', '::1', '::0']);
/** Names every hosts file carries for the machine itself. */
const LOCAL_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'local',
  'broadcasthost',
  'ip6-localhost',
  'ip6-loopback',
  'ip6-localnet',
  'ip6-mcastprefix',
  'ip6-allnodes',
  'ip6-allrouters',
  'ip6-allhosts',
  '0.0.0.0',
]);

const CHAR_0 = 48;
const CHAR_9 = 57;
const CHAR_DOT = 46;

/**
 * Is `text` an IPv4 address in canonical dotted-quad form (four decimal parts 0-255, no leading
 * zeros)? Then it is its own canonical text: the common line of a big list needs no other parse.
 */
export function isCanonicalIpv4(text: string): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : CHAR_DOT;
    if (c === CHAR_DOT) {
      if (digits === 0 || value > 255) return false;
      parts++;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < CHAR_0 || c > CHAR_9) return false;
    if (digits > 0 && value === 0) return false; // a leading zero
    value = value * 10 + (c - CHAR_0);
    digits++;
  }
  return parts === 4;
}

/** One list entry, from any source (a line, a document's list, a download): a remote that names something. */
export function parseEntry(text: string, where = 'entry'): Result<Exclude<Remote, { kind: 'any' }>> {
  const remote = parseRemote(text, where);
  if (!remote.ok) return remote;
  if (remote.value.kind === 'any') return fail(where, '"any" would match everything; not imported');
  return { ok: true, value: remote.value };
}

const clip = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

/**
 * Reads a list in chunks of any size (a line may span chunks) and collects its entries. Entries are
 * canonical remotes ("10.0.0.0/8", "2001:db8::1", "ads.example.com", "*.example.com"), in file
 * order, repeats included (the caller knows what is already present).
 */
export class ListParser {
  readonly entries: string[] = [];
  /** The first MAX_SKIPPED_KEPT skipped lines. */
  readonly skipped: SkippedLine[] = [];
  skippedCount = 0;
  /** Lines read so far. */
  lines = 0;
  private carry = '';

  constructor(readonly format: LineFormat = 'auto') {}

  push(text: string): void {
    let start = 0;
    let chunk = text;
    if (this.carry !== '') {
      chunk = this.carry + text;
      this.carry = '';
    }
    for (;;) {
      const end = chunk.indexOf('\n', start);
      if (end === -1) break;
      this.line(chunk, start, end);
      start = end + 1;
    }
    if (start < chunk.length) this.carry = chunk.slice(start);
  }

  /** The last line, when the text does not end with a newline. */
  end(): void {
    if (this.carry !== '') {
      const last = this.carry;
      this.carry = '';
      this.line(last, 0, last.length);
    }
  }

  private skip(line: number, text: string, reason: string): void {
    this.skippedCount++;
    if (this.skipped.length < MAX_SKIPPED_KEPT) this.skipped.push({ line, text: clip(text), reason });
  }

  private line(chunk: string, start: number, end: number): void {
    const number = ++this.lines;
    if (end > start && chunk.charCodeAt(end - 1) === 13) end--; // \r\n
    const raw = chunk.slice(start, end);
    // The common line of a big address list: a bare canonical address, nothing else to look at.
    if (this.format !== 'domains' && this.format !== 'hosts' && this.format !== 'adblock' && isCanonicalIpv4(raw)) {
      this.entries.push(raw);
      return;
    }
    const first = raw.trimStart().charAt(0);
    if (first === '!' || first === '[') {
      // AdBlock comments ("! Title: …") and headers ("[Adblock Plus 2.0]").
      if (this.format === 'auto' || this.format === 'adblock') return;
    }
    if (/#[@?$%]?#/.test(raw)) {
      if (this.format === 'auto' || this.format === 'adblock')
        return this.skip(number, raw, 'an element-hiding (cosmetic) filter: it hides parts of pages, not a remote');
    }
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    if (content.startsWith('||') || content.startsWith('@@') || content.startsWith('|')) {
      if (this.format !== 'auto' && this.format !== 'adblock')
        return this.skip(number, raw, `an AdBlock filter in a ${this.format} list (import it with --format adblock)`);
      return this.adblock(number, content);
    }
    if (this.format === 'adblock')
      return this.skip(number, raw, 'not a "||domain^" filter (URL patterns and other filters name no remote)');
    const fields = content.split(/\s+/);
    if (fields.length > 1) return this.hostsLine(number, raw, fields);
    if (this.format === 'hosts')
      return this.skip(number, raw, 'expected "ADDRESS NAME…" (a hosts line), found a single field');
    this.target(number, content);
  }

  private hostsLine(number: number, raw: string, fields: string[]): void {
    const address = fields[0]!;
    if (!SINK_ADDRESSES.has(address)) {
      if (this.format === 'hosts' || this.format === 'auto') {
        const maps = parseRemote(address);
        if (maps.ok && maps.value.kind === 'address')
          return this.skip(
            number,
            raw,
            `maps names to ${address}: a hosts line blocks only when it points at 0.0.0.0, 127.0.0.1 or ::`,
          );
      }
      return this.skip(number, raw, `expected one entry per line, or "0.0.0.0 NAME…"; found ${fields.length} fields`);
    }
    if (this.format !== 'auto' && this.format !== 'hosts' && this.format !== 'domains')
      return this.skip(number, raw, `a hosts line in a ${this.format} list (import it with --format hosts)`);
    for (let i = 1; i < fields.length; i++) this.target(number, fields[i]!, true);
  }

  private adblock(number: number, content: string): void {
    if (content.startsWith('@@'))
      return this.skip(number, content, 'an exception (@@) filter: it allows, and lists here only block');
    if (!content.startsWith('||'))
      return this.skip(number, content, 'anchored to a URL ("|…"), not a domain ("||domain^")');
    const dollar = content.indexOf('$');
    if (dollar !== -1)
      return this.skip(
        number,
        content,
        `has options (${content.slice(dollar)}) that apply to kinds of requests, which a firewall cannot tell apart`,
      );
    const body = content.slice(2);
    const caret = body.indexOf('^');
    if (caret === -1 || (caret !== body.length - 1 && !(caret === body.length - 2 && body.endsWith('^|'))))
      return this.skip(
        number,
        content,
        caret === -1 ? 'has no "^" after the domain' : 'matches a path under the domain, not the whole domain',
      );
    const name = body.slice(0, caret);
    if (/[*/]/.test(name)) return this.skip(number, content, 'a wildcard or path pattern, not one domain or address');
    // "||example.com^" is the domain and every name under it.
    const address = parseRemote(name);
    if (address.ok && address.value.kind === 'address') return this.target(number, name);
    this.target(number, `*.${name}`);
  }

  private target(number: number, text: string, fromHosts = false): void {
    if (LOCAL_NAMES.has(text.toLowerCase()))
      return this.skip(number, text, 'names this machine itself; blocking it would break local services');
    const remote = parseEntry(text, `line ${number}`);
    if (!remote.ok) return this.skip(number, text, remote.error.message);
    const kind = remote.value.kind;
    if (kind === 'domain' && this.format === 'cidr')
      return this.skip(number, text, 'a domain in a CIDR list (import it with --format plain or domains)');
    if (kind === 'address' && (fromHosts || this.format === 'domains'))
      return this.skip(number, text, 'an address where a domain name was expected');
    this.entries.push(formatRemote(remote.value));
  }
}

/** Parses a whole list at once. */
export function parseList(
  text: string,
  format: LineFormat = 'auto',
): Pick<ListParser, 'entries' | 'skipped' | 'skippedCount' | 'lines'> {
  const parser = new ListParser(format);
  parser.push(text);
  parser.end();
  return parser;
}
