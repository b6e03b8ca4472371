// Migrating from OpenSnitch: its rules are JSON files, one rule each (name, enabled, action,
// duration and an operator: a condition on one operand, or a "list" of conditions that must all
// hold). Each rule becomes Portcullis rules, or is reported as not mappable with the reason. The
// client reads the rule directory and sends the files' text in one bundle; the helper maps it here,
// at the trust boundary, as it parses every other import format.
import { fail, ok, s, type Result } from './schema.js';
import { maskBytes, parseIp, formatPrefix } from './net.js';
import { parsePorts, parseRemote, ruleDraftSchema, type ParsedDraft, type Protocol, type RuleDraft } from './rules.js';
import type { SkippedLine } from './list-formats.js';
import { jsonErrorPlace } from './json-error.js';
import { DOCUMENT_FORMAT, DOCUMENT_VERSION, type ParsedRulesDocument } from './rules-document.js';

export const OPENSNITCH_BUNDLE_FORMAT = 'opensnitch-rules';

/**
 * One rule file as the client read it: its base name and its text, or, for a file larger than a rule
 * file may be, its size in bytes (`oversized`) and no text: the client does not read it, and the
 * helper reports it skipped like any other file it cannot map.
 */
export interface OpenSnitchFile {
  name: string;
  text: string;
  oversized?: number;
}

/** Rule files in one bundle, and the most one file may hold (OpenSnitch's are a few hundred bytes). */
const MAX_FILES = 100_000;
export const MAX_OPENSNITCH_FILE_BYTES = 1024 * 1024;
/** Characters never outnumber UTF-8 bytes, so a file within the byte limit is within this. */
const MAX_FILE_CHARS = MAX_OPENSNITCH_FILE_BYTES;
/** A rule whose conditions list alternatives ("^(53|80|443)$") becomes one rule per combination, up to this many. */
const MAX_RULES_PER_FILE = 256;

const bundleSchema = s.object({
  format: s.literal(OPENSNITCH_BUNDLE_FORMAT),
  files: s.array(
    s.object({
      name: s.string({ min: 1, max: 255, printable: true }),
      text: s.string({ max: MAX_FILE_CHARS }),
      oversized: s.optional(s.int({ min: MAX_OPENSNITCH_FILE_BYTES + 1 })),
    }),
    {
      max: MAX_FILES,
    },
  ),
});

/** The bundle a client sends for `import --format opensnitch`. */
export function formatOpenSnitchBundle(files: readonly OpenSnitchFile[]): string {
  return JSON.stringify({ format: OPENSNITCH_BUNDLE_FORMAT, files });
}

/**
 * A rule file as a client finds it (the CLI on disk, the desktop app from a file picker): its base
 * name, its size in bytes, and how to read its text.
 */
export interface OpenSnitchFileSource {
  name: string;
  size: number;
  read(): string | Promise<string>;
}

/**
 * Reads rule files into the bundle. A file larger than a rule file may be is not read at all (a
 * rule directory may hold anything): only its size goes, and the helper reports it skipped.
 */
export async function readOpenSnitchBundle(sources: readonly OpenSnitchFileSource[]): Promise<string> {
  const files: OpenSnitchFile[] = [];
  for (const { name, size, read } of sources)
    files.push(size > MAX_OPENSNITCH_FILE_BYTES ? { name, text: '', oversized: size } : { name, text: await read() });
  return formatOpenSnitchBundle(files);
}

export function parseOpenSnitchBundle(text: string, where = 'bundle'): Result<OpenSnitchFile[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return fail(where, `is not an OpenSnitch bundle (not valid JSON: ${(error as Error).message})`);
  }
  const parsed = bundleSchema.parse(raw, where);
  return parsed.ok ? ok(parsed.value.files) : parsed;
}

/** What the mapping made: a document of rules, and the files (rules) it could not map. */
export interface OpenSnitchMapping {
  document: ParsedRulesDocument;
  /** `file` names each; `line` is where in it a JSON error is (0: the whole rule). */
  skipped: SkippedLine[];
  /** Rule files read, and how many of them became rules. */
  files: number;
  mapped: number;
}

/** The conditions one rule file sets, each a set of alternatives (empty: any). */
interface Conditions {
  app: string[];
  remote: string[];
  port: string[];
  protocol: string[];
}

/** Not mappable: why. */
class Unmappable extends Error {}

const OPERAND_REASONS: Array<[RegExp, string]> = [
  [/^process\.command$/, 'matches the command line and its arguments; Portcullis tells apps apart by executable'],
  [/^process\.id$/, 'matches one process id, which does not outlive the process'],
  [/^process\.env\./, 'matches an environment variable of the process'],
  [/^process\.hash\./, "matches the executable's hash; Portcullis names executables by path"],
  [/^process\.parent\./, 'matches a parent process'],
  [/^user\.(id|name)$/, 'matches a user; Portcullis rules hold for every user of an app'],
  [/^source\./, 'matches the local address or port'],
  [/^iface\./, 'matches a network interface'],
  [/^lists\./, 'reads list files on the OpenSnitch machine'],
];

/** Maps every rule file; the files are taken in name order, as OpenSnitch takes them. */
export function mapOpenSnitch(files: readonly OpenSnitchFile[]): OpenSnitchMapping {
  const rules: ParsedDraft[] = [];
  const skipped: SkippedLine[] = [];
  let mapped = 0;
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const file of sorted) {
    const result = mapOpenSnitchFile(file);
    if (!result.ok) {
      skipped.push({ file: file.name, line: result.line, text: result.rule, reason: result.reason });
      continue;
    }
    mapped++;
    rules.push(...result.rules);
  }
  return {
    document: { format: DOCUMENT_FORMAT, version: DOCUMENT_VERSION, rules, lists: [] },
    skipped,
    files: files.length,
    mapped,
  };
}

export type FileMapping =
  | { ok: true; rules: ParsedDraft[] }
  | { ok: false; rule: string; line: number; reason: string };

/** One rule file as Portcullis rules (parsed and checked as any rule a client sends), or why not. */
export function mapOpenSnitchFile(file: OpenSnitchFile): FileMapping {
  if (file.oversized !== undefined)
    return {
      ok: false,
      rule: file.name,
      line: 0,
      reason: `${file.oversized} bytes, more than the ${MAX_OPENSNITCH_FILE_BYTES} a rule file may hold (OpenSnitch writes a few hundred); not read`,
    };
  let raw: unknown;
  try {
    raw = JSON.parse(file.text);
  } catch (error) {
    const place = jsonErrorPlace(file.text);
    const at = place ? ` at line ${place.line}, column ${place.column}` : '';
    return {
      ok: false,
      rule: file.name,
      line: place?.line ?? 0,
      reason: `not valid JSON${at}: ${(error as Error).message}`,
    };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, rule: file.name, line: 0, reason: 'not an OpenSnitch rule (a JSON object)' };
  const rule = raw as Record<string, unknown>;
  const name = typeof rule.name === 'string' && rule.name !== '' ? rule.name.slice(0, 200) : file.name;
  try {
    const drafts = mapRule(rule);
    const parsed = drafts.map((draft, index) => {
      const result = ruleDraftSchema.parse(draft, `rule${drafts.length > 1 ? `[${index}]` : ''}`);
      if (!result.ok) throw new Unmappable(`${result.error.where}: ${result.error.message}`);
      return result.value;
    });
    return { ok: true, rules: parsed };
  } catch (error) {
    if (error instanceof Unmappable) return { ok: false, rule: name, line: 0, reason: error.message };
    throw error;
  }
}

function mapRule(rule: Record<string, unknown>): RuleDraft[] {
  const action = rule.action;
  if (action !== 'allow' && action !== 'deny' && action !== 'reject')
    throw new Unmappable(`action ${JSON.stringify(action)} is none of allow, deny, reject`);
  const duration = rule.duration ?? 'always';
  if (duration !== 'always')
    throw new Unmappable(
      `a temporary rule (duration ${JSON.stringify(duration)}); only rules kept "always" are migrated`,
    );
  if (rule.enabled !== undefined && typeof rule.enabled !== 'boolean')
    throw new Unmappable(`"enabled" is ${JSON.stringify(rule.enabled)}, not true or false`);
  const conditions: Conditions = { app: [], remote: [], port: [], protocol: [] };
  addOperator(conditions, rule.operator, 'operator', true);
  const protocols = conditions.protocol.length > 0 ? conditions.protocol : ['any'];
  const combos: RuleDraft[] = [];
  const apps = conditions.app.length > 0 ? conditions.app : [null];
  const remotes = conditions.remote.length > 0 ? conditions.remote : ['any'];
  const ports = conditions.port.length > 0 ? conditions.port : [null];
  const count = apps.length * remotes.length * ports.length * protocols.length;
  if (count > MAX_RULES_PER_FILE)
    throw new Unmappable(
      `its alternatives make ${count} rules, more than the ${MAX_RULES_PER_FILE} one file may become`,
    );
  const note = `OpenSnitch: ${typeof rule.name === 'string' ? rule.name.slice(0, 900) : 'unnamed rule'}`;
  for (const protocol of protocols) {
    if (protocol === 'icmp' && conditions.port.length > 0)
      throw new Unmappable('matches ICMP and a port; ICMP has no ports');
    for (const app of apps)
      for (const remote of remotes)
        for (const port of ports)
          combos.push({
            action: action === 'allow' ? 'allow' : 'block',
            app,
            remote,
            port,
            protocol,
            // OpenSnitch decides the connections a machine's programs open.
            direction: 'out',
            note,
            enabled: rule.enabled !== false,
          });
  }
  return combos;
}

/** The (one) condition an operator sets on an operand; a "list" sets all of its items' conditions. */
function addOperator(conditions: Conditions, operator: unknown, where: string, top: boolean): void {
  if (typeof operator !== 'object' || operator === null || Array.isArray(operator))
    throw new Unmappable(`${where} is missing or not an object`);
  const op = operator as Record<string, unknown>;
  const type = op.type;
  const operand = op.operand;
  if (typeof type !== 'string' || typeof operand !== 'string')
    throw new Unmappable(`${where} needs a "type" and an "operand"`);
  if (type === 'list') {
    if (!top) throw new Unmappable(`${where}: a list inside a list`);
    if (!Array.isArray(op.list) || op.list.length === 0)
      throw new Unmappable(`${where} is a list with no "list" items`);
    op.list.forEach((item, index) => addOperator(conditions, item, `${where}.list[${index}]`, false));
    return;
  }
  if (operand === 'true') return; // matches every connection
  const data = typeof op.data === 'number' ? String(op.data) : op.data;
  if (typeof data !== 'string') throw new Unmappable(`${where} (${operand}) has no "data"`);
  if (type === 'lists')
    throw new Unmappable(
      `${operand} reads the list files in ${data} on the OpenSnitch machine; import those files into a list with "portcullis import FILE"`,
    );
  if (type !== 'simple' && type !== 'regexp' && type !== 'network')
    throw new Unmappable(`${where}: unknown operator type ${JSON.stringify(type)}`);
  const known = ['process.path', 'dest.ip', 'dest.host', 'dest.network', 'dest.port', 'protocol'];
  if (!known.includes(operand)) {
    const reason = OPERAND_REASONS.find(([pattern]) => pattern.test(operand))?.[1];
    throw new Unmappable(`${operand} ${reason ?? 'is an operand Portcullis does not know'}`);
  }
  const values = type === 'regexp' ? literalAlternatives(data, operand === 'dest.host') : [data];
  if (values === null)
    throw new Unmappable(
      `a regular expression on ${operand} (${JSON.stringify(data.slice(0, 80))}); Portcullis matches exact executables, addresses, networks, domains and ports`,
    );
  const slot = slotOf(operand);
  if (conditions[slot].length > 0)
    throw new Unmappable(
      `two conditions on the ${slot === 'remote' ? 'remote (dest.ip, dest.host, dest.network)' : operand}; a Portcullis rule names one`,
    );
  conditions[slot] = values.map((value) => mapValue(operand, value));
}

function slotOf(operand: string): keyof Conditions {
  if (operand === 'process.path') return 'app';
  if (operand === 'dest.port') return 'port';
  if (operand === 'protocol') return 'protocol';
  return 'remote';
}

function mapValue(operand: string, value: string): string {
  switch (operand) {
    case 'process.path':
      if (!value.startsWith('/')) throw new Unmappable(`process.path "${value}" is not an absolute path`);
      return value;
    case 'dest.ip': {
      const address = parseIp(value, 'dest.ip');
      if (!address.ok) throw new Unmappable(address.error.message);
      return formatPrefix({ ...address.value, prefixLen: address.value.family === 4 ? 32 : 128 });
    }
    case 'dest.network': {
      // OpenSnitch (Go's ParseCIDR) takes "192.168.1.7/24" as the network 192.168.1.0/24.
      const slash = value.indexOf('/');
      const address = parseIp(slash === -1 ? value : value.slice(0, slash), 'dest.network');
      if (!address.ok) throw new Unmappable(address.error.message);
      const full = address.value.family === 4 ? 32 : 128;
      const lenText = slash === -1 ? String(full) : value.slice(slash + 1);
      const prefixLen = /^[0-9]{1,3}$/.test(lenText) ? Number(lenText) : NaN;
      if (!(prefixLen <= full))
        throw new Unmappable(`dest.network "${value}": "${lenText}" is not a prefix length 0-${full}`);
      return formatPrefix({
        family: address.value.family,
        bytes: maskBytes(address.value.bytes, prefixLen),
        prefixLen,
      });
    }
    case 'dest.host': {
      const remote = parseRemote(value, 'dest.host');
      if (!remote.ok) throw new Unmappable(remote.error.message);
      if (remote.value.kind === 'any') throw new Unmappable(`dest.host "${value}" names no host`);
      return value.trim().toLowerCase();
    }
    case 'dest.port': {
      const ports = parsePorts(value, 'dest.port');
      if (!ports.ok) throw new Unmappable(ports.error.message);
      if (!ports.value || ports.value.from !== ports.value.to)
        throw new Unmappable(`dest.port "${value}" is not one port`);
      return String(ports.value.from);
    }
    default:
      return mapProtocol(value);
  }
}

const PROTOCOLS: Record<string, Protocol> = { tcp: 'tcp', udp: 'udp', icmp: 'icmp' };

function mapProtocol(value: string): Protocol {
  const name = value.trim().toLowerCase();
  const protocol = PROTOCOLS[name];
  if (protocol) return protocol;
  if (/^(tcp|udp|icmp)6$/.test(name))
    throw new Unmappable(
      `protocol "${value}" matches IPv6 connections only; a Portcullis protocol covers IPv4 and IPv6 alike`,
    );
  throw new Unmappable(`protocol "${value}" is none of tcp, udp, icmp`);
}

/**
 * The literals a regular expression matches when it is only an anchored alternation of them
 * ("^(53|80|443)$", "^(127\.0\.0\.1|::1)$", "^/usr/bin/curl$"); null for anything else. An
 * unescaped "." matches any character, so it makes the pattern more than a literal.
 */
export function literalAlternatives(pattern: string, caseInsensitive: boolean): string[] | null {
  let body = pattern;
  if (caseInsensitive && body.startsWith('(?i)')) body = body.slice(4);
  if (!body.startsWith('^') || !body.endsWith('$') || body.endsWith('\\$')) return null;
  body = body.slice(1, -1);
  if (body.startsWith('(') && body.endsWith(')') && !body.endsWith('\\)')) body = body.slice(1, -1);
  const alternatives: string[] = [];
  let current = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      const next = body[i + 1];
      if (next === undefined || /[0-9A-Za-z]/.test(next)) return null; // \d, \w, \1 …: classes and references
      current += next;
      i++;
    } else if (c === '|') {
      alternatives.push(current);
      current = '';
    } else if ('.*+?()[]{}^$'.includes(c)) return null;
    else current += c;
  }
  alternatives.push(current);
  return alternatives.every((alternative) => alternative !== '') ? alternatives : null;
}
