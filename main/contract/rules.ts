// Rules: what people write (a draft, loosely typed as it arrives from a CLI flag, a form or a
// socket) and what the helper stores (a rule). One parser serves every client and the helper.
import { fail, ok, s, describe, type InputOf, type Result, type Schema } from './schema.js';
import { formatPrefix, parseDomain, parsePrefix, unmapIpv4 } from './net.js';

export const ACTIONS = ['block', 'allow'] as const;
export const PROTOCOLS = ['any', 'tcp', 'udp', 'icmp'] as const;
export const DIRECTIONS = ['out', 'in', 'both'] as const;
export type Action = (typeof ACTIONS)[number];
export type Protocol = (typeof PROTOCOLS)[number];
export type Direction = (typeof DIRECTIONS)[number];

export type Remote =
  | { kind: 'any' }
  | {
      kind: 'address';
      family: 4 | 6;
      /** canonical text, "10.0.0.0/8" or "::1" */ text: string;
      address: string;
      prefixLen: number;
    }
  | { kind: 'domain'; name: string; /** also blocks every name under it */ subdomains: boolean };

export interface PortRange {
  from: number;
  to: number;
}

/** Who a rule applies to: every app (null), an app id, or an executable path the helper resolves. */
export type AppSelector = null | number | string;

/** What a rule says, whoever holds it. */
export interface RuleTerms {
  action: Action;
  remote: Remote;
  ports: PortRange | null;
  protocol: Protocol;
  direction: Direction;
  /** ms since epoch, or null for a permanent rule. */
  expiresAt: number | null;
  note: string;
  enabled: boolean;
}

/** A rule as stored by the helper and shown by every client. */
export interface Rule extends RuleTerms {
  id: number;
  /** null = every app. */
  appId: number | null;
  createdAt: number;
  updatedAt: number;
  hits: number;
  /** The policy file that wrote this rule; clients cannot change it. Absent for rules people made. */
  managedBy?: string;
}

/** A validated rule specification: a rule without identity or bookkeeping, its app not yet resolved. */
export interface RuleSpec extends RuleTerms {
  app: AppSelector;
}

/** Parses "any", an address, a CIDR, a domain, or "*.domain" (the domain and everything under it). */
export function parseRemote(text: string, where = 'remote'): Result<Remote> {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'any' || trimmed === '*') return ok({ kind: 'any' });
  const looksLikeAddress = trimmed.includes(':') || trimmed.includes('/') || /^[0-9.]+$/.test(trimmed);
  if (looksLikeAddress) {
    const parsed = parsePrefix(trimmed, where);
    if (!parsed.ok) return parsed;
    const prefix = unmapIpv4(parsed.value);
    const full = prefix.family === 4 ? 32 : 128;
    const address = formatPrefix({ ...prefix, prefixLen: full });
    return ok({
      kind: 'address',
      family: prefix.family,
      text: formatPrefix(prefix),
      address,
      prefixLen: prefix.prefixLen,
    });
  }
  const subdomains = trimmed.startsWith('*.');
  const name = parseDomain(subdomains ? trimmed.slice(2) : trimmed, where);
  if (!name.ok) return name;
  return ok({ kind: 'domain', name: name.value, subdomains });
}

export function formatRemote(remote: Remote): string {
  switch (remote.kind) {
    case 'any':
      return 'any';
    case 'address':
      return remote.text;
    case 'domain':
      return remote.subdomains ? `*.${remote.name}` : remote.name;
  }
}

/** "443", "8000-8100", "any"; or a number. Port 0 is not a port. */
export function parsePorts(input: string | number | null | undefined, where = 'port'): Result<PortRange | null> {
  if (input === null || input === undefined) return ok(null);
  const text = String(input).trim();
  if (text === '' || text === 'any') return ok(null);
  const single = (part: string, label: string): Result<number> => {
    if (!/^[0-9]{1,5}$/.test(part))
      return fail(where, `${label} "${part}" is not a number (give 1-65535, or a range like 8000-8100)`);
    const port = Number(part);
    if (port < 1 || port > 65535) return fail(where, `${label} ${port} is outside 1-65535`);
    return ok(port);
  };
  const dash = text.indexOf('-');
  if (dash === -1) {
    const port = single(text, 'port');
    return port.ok ? ok({ from: port.value, to: port.value }) : port;
  }
  const from = single(text.slice(0, dash), 'range start');
  if (!from.ok) return from;
  const to = single(text.slice(dash + 1), 'range end');
  if (!to.ok) return to;
  if (from.value > to.value) return fail(where, `range "${text}" runs backwards: the start must not exceed the end`);
  return ok({ from: from.value, to: to.value });
}

export function formatPorts(ports: PortRange | null): string {
  if (!ports) return 'any';
  return ports.from === ports.to ? String(ports.from) : `${ports.from}-${ports.to}`;
}

const DURATION = /^([0-9]+)(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_DURATION_MS = 366 * UNIT_MS.d;

/** "90s", "10m", "2h", "7d" → milliseconds. */
export function parseDuration(text: string, where = 'duration'): Result<number> {
  const match = DURATION.exec(text.trim());
  if (!match) return fail(where, `"${text}" is not a duration: use a whole number and a unit, like 90s, 10m, 2h or 7d`);
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms === 0) return fail(where, `"${text}" is zero: a rule that expires at once is no rule`);
  if (ms > MAX_DURATION_MS) return fail(where, `"${text}" is longer than a year; make the rule permanent instead`);
  return ok(ms);
}

/** Rule and app ids: SQLite rowids that the kernel carries as u32. */
export const MAX_ID = 4_294_967_295;
export const idSchema = s.int({ min: 1, max: MAX_ID });

const appSelector: Schema<AppSelector> = {
  expected: 'null, an app id or an absolute executable path',
  parse(input, where = 'app') {
    if (input === null || input === undefined || input === 'any') return ok(null);
    if (typeof input === 'string' && /^[0-9]+$/.test(input)) return appSelector.parse(Number(input), where);
    if (typeof input === 'number') {
      return Number.isInteger(input) && input > 0 && input <= MAX_ID
        ? ok(input)
        : fail(where, `app id must be an integer 1-${MAX_ID}, got ${input}`);
    }
    if (typeof input === 'string') {
      if (!input.startsWith('/')) return fail(where, `"${input}" is neither an app id nor an absolute executable path`);
      if (input.length > 4096 || input.includes('\0'))
        return fail(where, 'executable path is too long or contains a NUL byte');
      return ok(input);
    }
    return fail(where, `must be an app id or an executable path, got ${describe(input)}`);
  },
};

/** Who a rule (or a list) applies to, as written: null or "any", an app id, or an absolute executable path. */
export const appSelectorSchema = appSelector;

/** Every field of a rule a person may set, besides its action: as written, parsed into typed values. */
const ruleFields = {
  app: s.optional(appSelector),
  remote: s.optional(s.map(s.string({ max: 300 }), 'any, an address, a CIDR or a domain', parseRemote)),
  port: s.optional(s.map(s.nullable(s.union(s.string({ max: 20 }), s.int())), 'any, a port or a range', parsePorts)),
  protocol: s.optional(s.oneOf(PROTOCOLS)),
  direction: s.optional(s.oneOf(DIRECTIONS)),
  /** A duration from now ("10m"), or an absolute expiry (ms since epoch; null: never). Not both. */
  for: s.optional(s.map(s.string({ max: 20 }), 'a duration', parseDuration)),
  expiresAt: s.optional(s.nullable(s.int({ min: 0 }))),
  note: s.optional(s.string({ max: 1000 })),
  enabled: s.optional(s.boolean()),
};

/** When a rule expires: at a time (null: never), or this many ms after the helper's clock says it was written. */
export type Expiry = { at: number | null } | { in: number };

/** A draft as parsed: every field checked and typed, defaults filled; a relative expiry still relative. */
export interface ParsedDraft extends Omit<RuleSpec, 'expiresAt'> {
  expiry: Expiry;
}

/** The fields a rule update changes; absent ones keep their value. */
export type ParsedPatch = Partial<ParsedDraft>;

const ICMP_HAS_NO_PORTS = 'ICMP has no ports: drop the port or choose tcp/udp';

function expiryOf(fields: { for?: number; expiresAt?: number | null }, where: string): Result<Expiry | undefined> {
  if (fields.for !== undefined && fields.expiresAt !== undefined && fields.expiresAt !== null) {
    return fail(`${where}.for`, 'give either a duration ("for") or an absolute expiry, not both');
  }
  if (fields.for !== undefined) return ok({ in: fields.for });
  return ok(fields.expiresAt === undefined ? undefined : { at: fields.expiresAt });
}

/** A rule as a sender writes it (a CLI flag, a form, a socket), parsed into a draft. */
export const ruleDraftSchema = s.map(
  s.object({ action: s.oneOf(ACTIONS), ...ruleFields }),
  'a rule',
  (fields, where): Result<ParsedDraft> => {
    const ports = fields.port ?? null;
    const protocol = fields.protocol ?? 'any';
    if (ports && protocol === 'icmp') return fail(`${where}.port`, ICMP_HAS_NO_PORTS);
    const expiry = expiryOf(fields, where);
    if (!expiry.ok) return expiry;
    return ok({
      action: fields.action,
      app: fields.app ?? null,
      remote: fields.remote ?? { kind: 'any' },
      ports,
      protocol,
      direction: fields.direction ?? 'both',
      expiry: expiry.value ?? { at: null },
      note: fields.note ?? '',
      enabled: fields.enabled ?? true,
    });
  },
);

/** Changes to a rule as a sender writes them, parsed; checked against the rule they change by patchTerms. */
export const rulePatchSchema = s.map(
  s.object({ action: s.optional(s.oneOf(ACTIONS)), ...ruleFields }),
  'changes to a rule',
  (fields, where): Result<ParsedPatch> => {
    const expiry = expiryOf(fields, where);
    if (!expiry.ok) return expiry;
    const { for: _for, expiresAt: _expiresAt, port, ...same } = fields;
    return ok({
      ...same,
      ...(port !== undefined ? { ports: port } : {}),
      ...(expiry.value ? { expiry: expiry.value } : {}),
    });
  },
);

/** A rule as a sender writes it. */
export type RuleDraft = InputOf<typeof ruleDraftSchema>;

/** The expiry time on the helper's clock; a time already past is refused. Errors name the field. */
function expiryTime(expiry: Expiry, now: number): Result<number | null> {
  const at = 'in' in expiry ? now + expiry.in : expiry.at;
  return at !== null && at <= now ? fail('expiresAt', 'is in the past') : ok(at);
}

/**
 * The spec a parsed draft makes at `now`: the helper passes its own clock, so a client's clock never
 * decides when a rule expires. Errors name the draft's field ("expiresAt").
 */
export function specOf(draft: ParsedDraft, now: number): Result<RuleSpec> {
  const { expiry, ...terms } = draft;
  const expiresAt = expiryTime(expiry, now);
  return expiresAt.ok ? ok({ ...terms, expiresAt: expiresAt.value }) : expiresAt;
}

/** A rule's terms with a patch applied, checked as a new rule's are. Errors name the patch's field ("port"). */
export function patchTerms(rule: RuleTerms, patch: ParsedPatch, now: number): Result<RuleTerms> {
  const ports = patch.ports !== undefined ? patch.ports : rule.ports;
  const protocol = patch.protocol ?? rule.protocol;
  if (ports && protocol === 'icmp') return fail('port', ICMP_HAS_NO_PORTS);
  const expiresAt = expiryTime(patch.expiry ?? { at: rule.expiresAt }, now);
  if (!expiresAt.ok) return expiresAt;
  return ok({
    action: patch.action ?? rule.action,
    remote: patch.remote ?? rule.remote,
    ports,
    protocol,
    direction: patch.direction ?? rule.direction,
    expiresAt: expiresAt.value,
    note: patch.note ?? rule.note,
    enabled: patch.enabled ?? rule.enabled,
  });
}

/**
 * Parses a draft into a spec at `now`, with errors located under `where`: what the helper does with
 * a draft, for clients that want to say what is wrong before sending it.
 */
export function parseRuleDraft(input: unknown, now: number, where = 'rule'): Result<RuleSpec> {
  const draft = ruleDraftSchema.parse(input, where);
  if (!draft.ok) return draft;
  const spec = specOf(draft.value, now);
  return spec.ok ? spec : fail(`${where}.${spec.error.where}`, spec.error.message);
}

/** A stored rule as a draft, for a form that edits it. */
export function ruleToDraft(rule: Rule): RuleDraft {
  return {
    action: rule.action,
    app: rule.appId,
    remote: formatRemote(rule.remote),
    port: rule.ports ? formatPorts(rule.ports) : null,
    protocol: rule.protocol,
    direction: rule.direction,
    expiresAt: rule.expiresAt,
    note: rule.note,
    enabled: rule.enabled,
  };
}

/** A one-line description for lists, logs and the CLI. */
export function describeRule(
  rule: Pick<Rule, 'action' | 'remote' | 'ports' | 'protocol' | 'direction'> & { appId: AppSelector },
): string {
  const parts = [rule.action, formatRemote(rule.remote)];
  if (rule.ports) parts.push(`port ${formatPorts(rule.ports)}`);
  if (rule.protocol !== 'any') parts.push(rule.protocol);
  if (rule.direction !== 'both') parts.push(rule.direction === 'out' ? 'outbound' : 'inbound');
  if (rule.appId !== null) parts.push(`for app ${rule.appId}`);
  return parts.join(' ');
}
