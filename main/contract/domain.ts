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

/** One decision as it happens (connect, first datagram to a remote, a denied packet). */
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
  /** Plain words for anything missing; empty when all is there. */
  missing: string[];
  /** How ask mode holds connections on this kernel ('syn-hold'), or null when it cannot; and in words. */
  hold?: { mechanism: string | null; detail: string };
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
  appCount: number;
  eventsSeen: number;
  eventDrops: number;
  /** Ask mode: questions waiting for an answer. */
  pendingPrompts?: number;
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

export const connectionQuerySchema = s.object({
  app: s.optional(idSchema),
  remote: s.optional(s.string({ max: 300 })),
  since: s.optional(s.int({ min: 0 })),
  until: s.optional(s.int({ min: 0 })),
  verdict: s.optional(s.oneOf(['allow', 'block'] as const)),
  limit: s.optional(s.int({ min: 1, max: 200_000 })),
});
