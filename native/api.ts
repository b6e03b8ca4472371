// The types of the native facade (native/index.ts): the firewall's own verbs, not a general BPF
// library. Only main/helper (and kernel tests and benchmarks) import native/. Pure types.

/** What the running kernel offers, found by probing rather than by version numbers. */
export interface KernelFeatures {
  kernelRelease: string;
  /** Mount point of the cgroup v2 hierarchy, or null when there is none. */
  cgroup2Mount: string | null;
  /** A bpffs mount that exists (the default /sys/fs/bpf or the one asked for), or null. */
  bpffsMount: string | null;
  btf: boolean;
  ringBuffer: boolean;
  lpmTrie: boolean;
  skStorage: boolean;
  cgroupSockAddr: boolean; // connect4/6, sendmsg4/6
  cgroupSkb: boolean;
  cgroupSock: boolean; // sock_create, post_bind4/6 (with connect, sendmsg, getsockname): a socket's owner
  tpBtf: boolean; // exec/fork/exit tracking
  bpfLink: boolean;
  /** The cgroup sock_release hook (5.9+): a socket's exact totals at close. */
  sockRelease: boolean;
  /** BPF atomics that return the old value (5.12+): the datapath's totals and close states. */
  atomicFetch: boolean;
  /** bpf_cast_to_kern_ctx (6.2+): the fast path finds a socket's pcl_slots entry with it; else it reads socket storage. */
  kernelContextCast: boolean;
  /** How ask mode holds a connection on this kernel, or why it cannot. */
  hold: HoldSupport;
  /** One line per missing piece, in words a person can act on. Empty when everything is there. */
  missing: string[];
}

/** Ask mode's hold mechanism on this kernel (see bpf/portcullis.h "Ask mode"). */
export interface HoldSupport {
  /**
   * 'syn-hold': the connect's SYN waits at egress under a sock_ops timer and is released by a
   * loopback kick (cgroup hooks, sock_ops, bpf_setsockopt; Linux 5.9+). null: ask mode is unavailable.
   */
  mechanism: 'syn-hold' | null;
  /** In words: what it is, or what is missing. */
  detail: string;
}

export type KernelProtocol = 'any' | 'tcp' | 'udp' | 'icmp';
export type KernelDirection = 'out' | 'in' | 'both';
export type KernelAction = 'block' | 'allow';

/** One rule as the kernel sees it: a remote prefix in one scope, with port/protocol/direction. */
export interface KernelRule {
  /** Non-zero u32; reported back in events and hit counters. */
  ruleId: number;
  /** 0 = every app, else an app id assigned by the helper. */
  scope: number;
  family: 4 | 6;
  /** 4 or 16 bytes, network order. An IPv4-mapped IPv6 address must be given as family 4. */
  addr: Uint8Array;
  /** 0..32 for v4, 0..128 for v6. 0 means any remote of that family. */
  prefixLen: number;
  /** Inclusive remote port range; 0..65535 means any port. */
  portLo: number;
  portHi: number;
  protocol: KernelProtocol;
  direction: KernelDirection;
  action: KernelAction;
}

/**
 * An IPv4 rule with its address as a number (a.b.c.d is a << 24 | b << 16 | c << 8 | d): a list of a
 * million addresses then costs one small object per rule instead of an object and an array each,
 * which on a loaded machine was as much time as compiling them.
 */
export interface KernelRuleV4 extends Omit<KernelRule, 'family' | 'addr'> {
  family: 4;
  addr: number;
}

/** What the compiler takes: either form, in one ruleset. */
export type CompilableRule = KernelRule | KernelRuleV4;

export interface KernelDefaults {
  /** Verdict when no rule matches: allow (monitor mode), block (allow-list mode) or ask (ask mode: held). */
  global: KernelAction | 'ask';
  /** Per-app default verdicts, keyed by app id; consulted after the app's and the global rules. */
  perApp: Map<number, KernelAction>;
}

/** Where the caller found the filesystems the firewall needs (in /proc/self/mountinfo). */
export interface ProbeOptions {
  /** The bpffs directory the pins go under (its mount must exist). */
  bpffs: string;
  /** Mount point of the cgroup v2 hierarchy, or null when there is none. */
  cgroup2Mount: string | null;
  /** Mount points of bpffs. */
  bpffsMounts: readonly string[];
}

/** How the kernel learns which process belongs to which app (see bpf/portcullis.h "Executables and processes"). */
export interface AppBindings {
  /**
   * Executables by (device, inode) of the file, as fs.statSync(path, { bigint: true }) reports them
   * (st_dev in user-space encoding; the facade converts it to the kernel's): exec of this file
   * makes the process this app, wherever it runs.
   */
  executables: Array<{ dev: bigint; ino: bigint; appId: number }>;
  /**
   * Executables by path (absolute, under PATH_MAX_BYTES bytes): exec of whatever file is at this
   * path in PID 1's mount namespace makes the process this app (a file an update put there is bound
   * from its first run). Only for paths no unprivileged user can write.
   */
  paths: Array<{ path: string; appId: number }>;
  /** cgroup ids (e.g. a desktop app-*.scope or a systemd service) whose processes are this app (verified). */
  cgroups: Array<{ cgroupId: bigint; appId: number }>;
  /** Processes already running this app's executable when a binding appears (found by the helper in /proc). */
  processes: Array<{ tgid: number; appId: number }>;
  /**
   * Unit names (without the instance part: "app-gnome-org.example.App", "snap.NAME.APP", "NAME" for
   * NAME.service; under UNIT_MAX_BYTES bytes) that make a cgroup created with such a name this app:
   * as a claim (anyone can name a unit so: only for apps a claim cannot loosen), or `rootOnly`, for
   * cgroups root makes (system services).
   */
  units: Array<{ unit: string; appId: number; rootOnly: boolean }>;
}

/**
 * A change of the app bindings: `replace` empties every binding map first (`resetUnits` the unit
 * names only), then `remove` and `add` go in; `unclaim` lists apps whose claims no longer hold (the cgroups a claim of theirs bound become
 * units of no known app).
 */
export interface AppBindingChange {
  add?: Partial<AppBindings>;
  /** Entries to take out (their app ids are ignored); missing ones are fine. */
  remove?: Partial<AppBindings>;
  replace?: boolean;
  /** Empties the unit names first (a new helper does not know what an earlier one published). */
  resetUnits?: boolean;
  unclaim?: readonly number[];
}

export interface ApplyStats {
  /** 'swap' = new maps filled and switched atomically; 'diff' = entries changed in place. */
  mode: 'swap' | 'diff';
  entriesWritten: number;
  entriesDeleted: number;
  generation: number;
  elapsedMs: number;
  /** Time spent compiling rules in user space (part of elapsedMs). */
  compileMs?: number;
  /** Deduplicated clause sets written. */
  clauseSets?: number;
  /** What the kernel could not express exactly (e.g. too many rules covering one address). */
  warnings?: string[];
  /** Swaps: thread CPU milliseconds each inner map's fill took (benchmarks). */
  fillCpuMs?: Record<string, number>;
}

export type Verdict = 'allow' | 'block';
/** 'dns': a DNS answer delivered to a socket; 'dns-query': a DNS query a socket was allowed to send;
 *  'hold' / 'unhold': ask mode held a flow / a socket with held flows was closed. */
export type EventKind = 'connect' | 'sendmsg' | 'packet' | 'listen' | 'close' | 'dns' | 'dns-query' | 'hold' | 'unhold';

/** The executable a socket's owner ran, as the kernel knew it at exec. */
export interface ExecutableIdentity {
  /** The file's device as the kernel numbers it (major << 20 | minor: not stat's st_dev) and inode. */
  dev: bigint;
  ino: bigint;
  /** Where it was run from (absolute), or null when the kernel has no record (run before the programs were attached). */
  path: string | null;
  /** The path was too long or deep to keep whole: `path` is its start. */
  pathCut: boolean;
}

/** One decision reported by the kernel (never one per packet). */
export interface DecisionEvent {
  kind: EventKind;
  /** Monotonic kernel time (ns since boot). */
  timeNs: bigint;
  tgid: number;
  uid: number;
  comm: string;
  cgroupId: bigint;
  /** The owner's executable; null when unknown (a socket that predates the programs, a kernel thread). */
  exe: ExecutableIdentity | null;
  /** The owner's app in the kernel (0: none known); never a unit's unverified claim. */
  appId: number;
  socketCookie: bigint;
  family: 4 | 6;
  protocol: 'tcp' | 'udp' | 'icmp' | 'other';
  direction: 'out' | 'in';
  localAddr: string;
  localPort: number;
  remoteAddr: string;
  remotePort: number;
  verdict: Verdict;
  /** 0 when a default decided. */
  ruleId: number;
  /** For 'close' events (and flow flushes): totals for the socket so far. */
  bytesOut: bigint;
  bytesIn: bigint;
  packetsOut: bigint;
  packetsIn: bigint;
  /** For 'dns' and 'dns-query' events: the DNS message as received or sent (UDP payload, at most 512 bytes). */
  dnsPayload?: Uint8Array;
}

export interface Counters {
  allowed: bigint;
  blocked: bigint;
  events: bigint;
  /** Events lost because the ring buffer was full. */
  eventDrops: bigint;
  /** Hits per rule id. */
  ruleHits: Map<number, bigint>;
}

export interface EventSubscription {
  /** Stops the ring-buffer thread and waits for it. */
  close(): void;
}

/** How event decoding turns IPv6 addresses into text (the caller's one RFC 5952 formatter). */
export interface EventDecoding {
  formatV6(bytes: Uint8Array): string;
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** Where and how to open the firewall. */
export interface FirewallOptions {
  /** cgroup v2 directory to attach to (the root in production, a test cgroup in tests). */
  cgroup: string;
  /** Directory on a bpffs where maps and links are pinned (created if missing). */
  pinDir: string;
  /** Ring buffer size in bytes (power of two, multiple of the page size). Only used when the
   *  maps are created (adopted pins keep their size). Default 4 MiB. */
  ringBytes?: number;
  /** 'auto' (default): the fast path uses pcl_slots entries where the kernel has
   *  bpf_cast_to_kern_ctx (6.2+). 'socket-storage': it reads socket storage, as on older kernels
   *  (to test and measure that form on a newer one). Only used when the maps are created. */
  fastPath?: 'auto' | 'socket-storage';
}

/**
 * Where the cached fast path finds a socket's state: 'entry', its pcl_slots entry, reached from
 * the packet's socket without a helper call (bpf_cast_to_kern_ctx, Linux 6.2+); 'socket-storage',
 * its socket storage, one helper call per packet (older kernels).
 */
export type FastPathHome = 'entry' | 'socket-storage';

/** What retireOldBuild did: the links of the build replaced it detached, and what it left. */
export interface Retirement {
  retired: number;
  /** "retired/NAME: why" for each entry that stays set aside (a later start tries again). */
  left: string[];
}

/** Live per-socket traffic totals (payload bytes: what the application sent and received). */
export interface FlowTotals {
  socketCookie: bigint;
  bytesOut: bigint;
  bytesIn: bigint;
  packetsOut: bigint;
  packetsIn: bigint;
}

/**
 * A flow the kernel tallies instead of recording each decision (pcl_tally): an allowed outbound flow
 * of a known app whose first decision on a CPU in the tally's epoch was recorded.
 */
export interface TalliedFlow {
  appId: number;
  /** The rule that allowed it, 0 = a default. */
  ruleId: number;
  remoteAddr: string;
  remotePort: number;
  protocol: DecisionEvent['protocol'];
}

/** What drainTally took for one tallied flow: its counts since the last drain. */
export interface TallyCount extends TalliedFlow {
  /** Decisions counted instead of recorded. */
  connections: number;
  /** Final totals of its sockets that closed without a record (no payload). */
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
  /** Monotonic time of the last decision or close counted (to a kernel tick: bpf_ktime_get_coarse_ns). */
  lastNs: bigint;
}

/** Identifies a held flow: a TCP connect by its socket, a UDP flow by its socket and remote. */
export interface HoldRef {
  cookie: bigint;
  protocol: 'tcp' | 'udp';
  family: 4 | 6;
  /** 4 or 16 bytes, network order (ignored for TCP). */
  remote: Uint8Array;
  /** Ignored for TCP. */
  remotePort: number;
}

/** A flow held in the kernel for a question (ask mode). */
export interface HeldFlow {
  ref: HoldRef;
  /** Monotonic kernel time it was held (ns since boot). */
  heldAtNs: bigint;
  cgroupId: bigint;
  tgid: number;
  uid: number;
  /** The kernel's app id of the owner, 0 when it had none. */
  appId: number;
  /** An app the owner's unit claims (its block rules apply too), 0 when none. */
  claimId: number;
  /** The owner's executable as the kernel knew it (path null: a hold does not carry it); null when unknown. */
  exe: ExecutableIdentity | null;
  comm: string;
  family: 4 | 6;
  remoteAddr: string;
  remotePort: number;
  /** Known once its first packet was dropped (a TCP connect: its SYN). */
  localAddr: string;
  localPort: number;
  /** Packets dropped while it waited (TCP: SYNs). */
  dropped: number;
  /** The answer given, or null while pending. */
  answer: Verdict | null;
}

export interface HoldAnswer {
  ref: HoldRef;
  verdict: Verdict;
}

/**
 * What answering one held flow did: 'gone' (it no longer waits: established, refused or closed),
 * 'recorded' (its next packet takes the answer: a UDP flow, or a connect whose SYN has not left),
 * 'sent' (the waiting SYN's release or refusal went out), or the errno of sending it (the answer is
 * recorded: the SYN's timer applies it at the end of the hold).
 */
export type HoldOutcome = 'gone' | 'recorded' | 'sent' | { errno: number };

/** A flow to decide as the hooks would under the current rules. */
export interface DecideQuery {
  appId: number;
  /** An app the owner's unit claims, 0 when none. */
  claimId: number;
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  remote: Uint8Array;
  remotePort: number;
}

/** decide()'s answer: a rule or a default decided, or ask mode's default would hold it ('none': no answer). */
export type KernelDecision = 'allow' | 'block' | 'ask' | 'none';
