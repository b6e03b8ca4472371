// What the helper knows and every client shows: applications, flows, live events, status, settings.
import { s } from './schema.js';
import { ACTIONS, idSchema, type Action, type Direction, type Protocol } from './rules.js';
import { ASK_TIMEOUT_SEC, DEFAULT_ACTIONS, type DefaultAction } from './prompts.js';

export type AppKind =
  | 'desktop'
  | 'flatpak'
  | 'snap'
  | 'appimage'
  | 'service'
  | 'container'
  | 'executable'
  | 'kernel'
  | 'unknown';

/** An application as a person recognises it. Ids are assigned by the helper and stable in its store. */
export interface App {
  id: number;
  kind: AppKind;
  /** Display name ("Firefox", "sshd.service", "curl"). */
  name: string;
  /** Executable path when known (for an AppImage: the AppImage file, not its mount). */
  exe: string | null;
  /** .desktop id, Flatpak/Snap id, unit name or container id, by kind. */
  identifier: string | null;
  /** Icon name from the .desktop entry (the UI resolves it), or null. */
  icon: string | null;
  /** cgroup path where it was seen (shows containers and scopes as such). */
  cgroup: string | null;
  firstSeen: number;
  lastSeen: number;
  /** Per-app default verdict when no rule matches; null = the global default. */
  defaultAction: Action | null;
}

export type Verdict = 'allow' | 'block';
export type FlowProtocol = Exclude<Protocol, 'any'> | 'other';
export type FlowDirection = Exclude<Direction, 'both'>;

/** Traffic aggregated per app × remote address × remote port × protocol × direction. */
export interface Flow {
  appId: number;
  remoteAddr: string;
  /** The name the app resolved to reach this address (from DNS answers it received), if any. */
  remoteName: string | null;
  remotePort: number;
  protocol: FlowProtocol;
  direction: FlowDirection;
  firstSeen: number;
  lastSeen: number;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
  allowed: number;
  blocked: number;
  lastVerdict: Verdict;
  /** The rule that decided last; null when a default did. */
  lastRuleId: number | null;
}

/**
 * One decision as it happens (connect, first datagram to a remote, a denied packet). Every block is
 * one; an allowed outbound flow of a known app is one at its first decision on each CPU in each tally
 * epoch (a few seconds) and counted in its Flow after that (the kernel tallies it instead of recording it).
 */
export interface ConnectionEvent {
  time: number;
  appId: number;
  pid: number;
  uid: number;
  comm: string;
  remoteAddr: string;
  remoteName: string | null;
  remotePort: number;
  localPort: number;
  protocol: FlowProtocol;
  direction: FlowDirection;
  verdict: Verdict;
  ruleId: number | null;
}

export interface KernelSupport {
  kernelRelease: string;
  cgroup2Mount: string | null;
  bpffsMount: string | null;
  btf: boolean;
  /** Plain words for anything missing that enforcement needs; empty when all is there. */
  missing: string[];
  /** What the datapath does and in which form on this kernel, from the helper's run-time probes. */
  features: KernelFeature[];
}

export type KernelFeatureId =
  | 'verdicts'
  | 'owners'
  | 'backstop'
  | 'fast-path'
  | 'app-identity'
  | 'close-totals'
  | 'events'
  | 'dns-namespace'
  | 'ask-hold';

/** One thing the datapath does, and the form it takes on the running kernel. */
export interface KernelFeature {
  id: KernelFeatureId;
  /** What it does, in a person's words ("Cached fast path"). */
  label: string;
  /** Whether this kernel runs it at all. */
  available: boolean;
  /** Enforcement needs it: without it the helper cannot load its programs. */
  required: boolean;
  /** Runs, but in an older or slower form than newer kernels offer. */
  reduced: boolean;
  /** How it runs here ("socket storage"), or "unavailable". */
  form: string;
  /** Why this form, and what it costs or gives. */
  why: string;
}

/** What the helper learns from DNS, and what it ignores. */
export interface DnsStatus {
  /** DNS queries the kernel reported (allowed, from sockets of system network namespaces). */
  queries: number;
  /** Answers that matched a pending query of their socket: their names and addresses were learned. */
  answersLearned: number;
  /** Answers that matched no query of their socket (unsolicited, late or forged): ignored. */
  answersIgnored: number;
  /** Queries waiting for their answer. */
  pendingQueries: number;
  /** Addresses the domain rules stand for right now. */
  domainAddresses: number;
  /** Times newly learned or expired addresses were applied to the kernel (in batches). */
  domainApplies: number;
}

/** An address a domain rule stands for, learned from an answer to a query. */
export interface DomainAddress {
  ruleId: number;
  address: string;
  family: 4 | 6;
  /** The name (of those asked, or on their CNAME chain) the address was learned under. */
  name: string;
  /** When it stops standing for the rule (ms since epoch): the answer's TTL, at most a day. */
  expiresAt: number;
  /** When an answer last gave it (ms since epoch). */
  answeredAt: number;
}

export interface Status {
  version: string;
  protocolVersion: number;
  pid: number;
  uptimeSec: number;
  enforcing: boolean;
  /** When enforcement is paused with a timer, when it resumes (ms since epoch). */
  pausedUntil: number | null;
  /** allow = monitor mode, block = allow-list mode, ask = ask mode. */
  defaultAction: DefaultAction;
  attach: { cgroup: string; pinDir: string; adopted: boolean };
  kernel: KernelSupport;
  ruleCount: number;
  /** Lists (imports, subscriptions, policy) and the entries they hold, apart from the rules. */
  lists: { count: number; entries: number };
  appCount: number;
  eventsSeen: number;
  eventDrops: number;
  dns: DnsStatus;
  /** Ask mode: questions waiting for an answer. */
  pendingPrompts?: number;
  /** Policy files (root-owned JSON documents the helper applies as managed rules and lists). */
  policy: PolicyStatus;
}

/** One policy file as the helper last read it. */
export interface PolicyFileStatus {
  /** The file's name in the policy directory. */
  name: string;
  /** applied: its rules are in force; malformed or refused: the last good rules of that file stay (if any). */
  state: 'applied' | 'malformed' | 'refused';
  /** What is wrong, with the line or field; null when applied. */
  error: string | null;
  /** Rules and lists the file has in force. */
  rules: number;
  lists: number;
  /** When its current rules were applied (ms since epoch); null when none ever were. */
  appliedAt: number | null;
}

export interface PolicyStatus {
  dir: string;
  files: PolicyFileStatus[];
  /** A problem with the directory itself (not root-owned, writable by others); null when fine or absent. */
  error: string | null;
}

export interface Settings {
  /** allow = monitor mode; block = allow-list mode; ask = ask mode. */
  defaultAction: DefaultAction;
  /** Days of connection history kept. */
  retentionDays: number;
  /** Extra uids (besides root and the user who authorised the helper) allowed to talk to it. */
  authorizedUsers: number[];
  notifyOnFirstBlock: boolean;
  /** Ask mode: seconds a question waits before its connections get the timeout action. */
  askTimeoutSec: number;
  /** Ask mode: what an unanswered question's connections get (never remembered). */
  askTimeoutAction: Action;
}

export const settingsPatchSchema = s.object({
  defaultAction: s.optional(s.oneOf(DEFAULT_ACTIONS)),
  retentionDays: s.optional(s.int({ min: 1, max: 3650 })),
  authorizedUsers: s.optional(s.array(s.int({ min: 0, max: 4_294_967_294 }), { max: 64 })),
  notifyOnFirstBlock: s.optional(s.boolean()),
  askTimeoutSec: s.optional(s.int({ min: ASK_TIMEOUT_SEC.min, max: ASK_TIMEOUT_SEC.max })),
  askTimeoutAction: s.optional(s.oneOf(ACTIONS)),
});

const connectionQueryShape = {
  app: s.optional(idSchema),
  remote: s.optional(s.string({ max: 300 })),
  since: s.optional(s.int({ min: 0 })),
  until: s.optional(s.int({ min: 0 })),
  verdict: s.optional(s.oneOf(['allow', 'block'] as const)),
  limit: s.optional(s.int({ min: 1, max: 200_000 })),
};

export const connectionQuerySchema = s.object(connectionQueryShape);

/** Most flows one page of connections.page carries. */
export const MAX_FLOW_PAGE = 50_000;

/**
 * connections.page: without a cursor, the query's first page and a cursor to the rest (the whole
 * result is taken at once, so the pages are one consistent picture); with one, the next page (the
 * query's fields are then ignored).
 */
export const connectionPageSchema = s.object({
  ...connectionQueryShape,
  cursor: s.optional(s.string({ max: 64 })),
  pageSize: s.int({ min: 1, max: MAX_FLOW_PAGE }),
});

export interface FlowPage {
  flows: Flow[];
  /** Flows in the whole result, this page's included. */
  total: number;
  /** Where the next page starts; null after the last. */
  cursor: string | null;
}
