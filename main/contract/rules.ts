// Rules: what people write (a draft, loosely typed as it arrives from a CLI flag, a form or a
// socket) and what the helper stores (a rule). One parser serves every client and the helper.
import { fail, ok, s, describe, type Result, type Schema } from './schema.js';
import { formatPrefix, parseDomain, parsePrefix, unmapIpv4 } from './net.js';

export const ACTIONS = ['block', 'allow'] as const;
export const PROTOCOLS = ['any', 'tcp', 'udp', 'icmp'] as const;
export const DIRECTIONS = ['out', 'in', 'both'] as const;
export type Action = (typeof ACTIONS)[number];
export type Protocol = (typeof PROTOCOLS)[number];
export type Direction = (typeof DIRECTIONS)[number];

export type Remote =
  | { kind: 'any' }
  | { kind: 'address'; family: 4 | 6; /** canonical text, "10.0.0.0/8" or "::1" */ text: string; address: string; prefixLen: number }
  | { kind: 'domain'; name: string; /** also blocks every name under it */ subdomains: boolean };

export interface PortRange {
  from: number;
  to: number;
}

/** Who a rule applies to: every app (null), an app id, or an executable path the helper resolves. */
export type AppSelector = null | number | string;

/** What a rule says, whoever holds it. */
interface RuleTerms {
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
    return ok({ kind: 'address', family: prefix.family, text: formatPrefix(prefix), address, prefixLen: prefix.prefixLen });
  }
  const subdomains = trimmed.startsWith('*.');
  const name = parseDomain(subdomains ? trimmed.slice(2) : trimmed, where);
  if (!name.ok) return name;
  return ok({ kind: 'domain', name: name.value, subdomains });
}

export function formatRemote(remote: Remote): string {
  switch (remote.kind) {
    case 'any': return 'any';
    case 'address': return remote.text;
    case 'domain': return remote.subdomains ? `*.${remote.name}` : remote.name;
  }
}

/** "443", "8000-8100", "any"; or a number. Port 0 is not a port. */
export function parsePorts(input: string | number | null | undefined, where = 'port'): Result<PortRange | null> {
  if (input === null || input === undefined) return ok(null);
  const text = String(input).trim();
  if (text === '' || text === 'any') return ok(null);
  const single = (part: string, label: string): Result<number> => {
    if (!/^[0-9]{1,5}$/.test(part)) return fail(where, `${label} "${part}" is not a number (give 1-65535, or a range like 8000-8100)`);
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

/** A draft as it may arrive from anywhere; every field except action is optional. */
export interface RuleDraft {
  action: string;
  app?: AppSelector;
  remote?: string;
  port?: string | number | null;
  protocol?: string;
  direction?: string;
  /** A duration from now ("10m"); or an absolute expiry. Not both. */
  for?: string;
  expiresAt?: number | null;
  note?: string;
  enabled?: boolean;
}

const appSelector: Schema<AppSelector> = {
  expected: 'null, an app id or an absolute executable path',
  parse(input, where = 'app') {
    if (input === null || input === undefined || input === 'any') return ok(null);
    if (typeof input === 'number') return Number.isInteger(input) && input > 0 ? ok(input) : fail(where, `app id must be a positive integer, got ${input}`);
    if (typeof input === 'string') {
      if (/^[0-9]+$/.test(input)) return ok(Number(input));
      if (!input.startsWith('/')) return fail(where, `"${input}" is neither an app id nor an absolute executable path`);
      if (input.length > 4096 || input.includes('\0')) return fail(where, 'executable path is too long or contains a NUL byte');
      return ok(input);
    }
    return fail(where, `must be an app id or an executable path, got ${describe(input)}`);
  },
};

/** Every field of a rule a person may set, besides its action. */
const ruleFields = {
  app: s.optional(appSelector),
  remote: s.optional(s.string({ max: 300 })),
  port: s.optional(s.nullable(s.union(s.string({ max: 20 }), s.int()))),
  protocol: s.optional(s.oneOf(PROTOCOLS)),
  direction: s.optional(s.oneOf(DIRECTIONS)),
  for: s.optional(s.string({ max: 20 })),
  expiresAt: s.optional(s.nullable(s.int({ min: 0 }))),
  note: s.optional(s.string({ max: 1000 })),
  enabled: s.optional(s.boolean()),
};

export const ruleDraftSchema = s.object({ action: s.oneOf(ACTIONS), ...ruleFields });

/**
 * Validates a draft into a spec. `now` turns a relative duration into an absolute expiry; the helper
 * passes its own clock so a client's clock never decides.
 */
export function parseRuleDraft(input: unknown, now: number, where = 'rule'): Result<RuleSpec> {
  const shape = ruleDraftSchema.parse(input, where);
  if (!shape.ok) return shape;
  const draft = shape.value;
  const remote = parseRemote(draft.remote ?? 'any', `${where}.remote`);
  if (!remote.ok) return remote;
  const ports = parsePorts(draft.port, `${where}.port`);
  if (!ports.ok) return ports;
  const protocol = draft.protocol ?? 'any';
  if (ports.value && (protocol === 'icmp')) return fail(`${where}.port`, 'ICMP has no ports: drop the port or choose tcp/udp');
  if (draft.for !== undefined && draft.expiresAt !== undefined && draft.expiresAt !== null) {
    return fail(`${where}.for`, 'give either a duration ("for") or an absolute expiry, not both');
  }
  let expiresAt: number | null = draft.expiresAt ?? null;
  if (draft.for !== undefined) {
    const duration = parseDuration(draft.for, `${where}.for`);
    if (!duration.ok) return duration;
    expiresAt = now + duration.value;
  }
  if (expiresAt !== null && expiresAt <= now) return fail(`${where}.expiresAt`, 'is in the past');
  return ok({
    action: draft.action,
    app: draft.app ?? null,
    remote: remote.value,
    ports: ports.value,
    protocol,
    direction: draft.direction ?? 'both',
    expiresAt,
    note: draft.note ?? '',
    enabled: draft.enabled ?? true,
  });
}

/** The fields a rule update may change; absent fields keep their value. */
export const rulePatchSchema = s.object({ action: s.optional(s.oneOf(ACTIONS)), ...ruleFields });

/** Turns a stored rule back into a draft (for edits: patch the draft, parse it again). */
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
export function describeRule(rule: Pick<Rule, 'action' | 'appId' | 'remote' | 'ports' | 'protocol' | 'direction'>): string {
  const parts = [rule.action, formatRemote(rule.remote)];
  if (rule.ports) parts.push(`port ${formatPorts(rule.ports)}`);
  if (rule.protocol !== 'any') parts.push(rule.protocol);
  if (rule.direction !== 'both') parts.push(rule.direction === 'out' ? 'outbound' : 'inbound');
  if (rule.appId !== null) parts.push(`for app ${rule.appId}`);
  return parts.join(' ');
}
