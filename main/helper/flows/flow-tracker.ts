// Aggregates kernel decisions into flows: app × remote address × remote port × protocol × direction,
// with first/last seen, bytes and packets each way, allowed/blocked counts and the deciding rule.
//
// Bytes come per socket (socket cookie): live totals read from the kernel and final totals in the
// socket's close event. Each socket remembers the totals already counted, so live reads and the
// close event add only what is new and nothing is counted twice. What changed since the last
// write is kept as a delta per flow, which the store adds to its hourly rows in one transaction.
//
// Memory: the helper may hold 100k+ flows and sockets, so they live in typed columns indexed by a
// slot number (FlowColumns, SocketColumns), not in an object per flow; flows are found by their
// key through a hash table of slots (FlowIndex, no string per flow), remote addresses are held
// once each (InternedStrings), sockets by one Map entry each, and no per-event objects are made.
// A slot is reused only once nothing refers to it.
import type { FlowDirection, FlowProtocol, Verdict } from '../../contract/index.js';
import type { DecisionEvent, FlowTotals, TallyCount, TalliedFlow } from '../../../native/api.js';
import { visitFlowRecords } from '../../../native/event-layout.js';
import { FlowIndex, InternedStrings } from './flow-index.js';

/**
 * The fields of a kernel decision the tracker reads (a native DecisionEvent has them all). The
 * enrichment — app, wall time, remote name — comes as arguments, so no object is made per event.
 */
export type TrackedEvent = Pick<
  DecisionEvent,
  | 'kind'
  | 'socketCookie'
  | 'protocol'
  | 'direction'
  | 'localPort'
  | 'remoteAddr'
  | 'remotePort'
  | 'verdict'
  | 'ruleId'
  | 'bytesOut'
  | 'bytesIn'
  | 'packetsOut'
  | 'packetsIn'
>;

/** Live per-socket totals read from the kernel (Firewall.readFlows). */
export type SocketTotals = FlowTotals;

export interface FlowKey {
  appId: number;
  remoteAddr: string;
  remotePort: number;
  protocol: FlowProtocol;
  direction: FlowDirection;
}

interface Counts {
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
  allowed: number;
  blocked: number;
}

/** A flow's key, counts and times: its totals (live) or what it gained since the last take (deltas). */
export interface FlowReport extends FlowKey, Counts {
  remoteName: string | null;
  firstSeen: number;
  lastSeen: number;
  lastVerdict: Verdict;
  lastRuleId: number | null;
}

/** What one flow gained since the last write, with the time span of those changes. */
export type FlowDelta = FlowReport;
export type LiveFlow = FlowReport;

export interface TrackerStats {
  flows: number;
  sockets: number;
  listeners: number;
  /** Flows forgotten from memory to stay within the bound (their history is in the store). */
  evicted: number;
  /** Inbound decisions no app and no listener could be found for. */
  unattributedInbound: number;
}

export interface FlowTrackerOptions {
  /** Bound on flows held in memory; idle, written flows with no open socket go first. */
  maxFlows?: number;
  /** Bound on sockets tracked for byte counting. */
  maxSockets?: number;
  /** A flow with no open socket and nothing unwritten is forgotten after this idle time. */
  idleMs?: number;
}

const PROTOCOLS: readonly FlowProtocol[] = ['tcp', 'udp', 'icmp', 'other'];
const protocolCode = (protocol: FlowProtocol): number =>
  protocol === 'tcp' ? 0 : protocol === 'udp' ? 1 : protocol === 'icmp' ? 2 : 3;

/** What flowFor reads of a decision: its flow's key, and its verdict for a new flow. */
type FlowOfDecision = Pick<
  TrackedEvent,
  'protocol' | 'direction' | 'localPort' | 'remoteAddr' | 'remotePort' | 'verdict'
>;

/** A tallied flow as flowFor reads it: allowed and outbound, as every tallied flow is. */
const talliedDecision = (flow: TalliedFlow): FlowOfDecision => ({
  protocol: flow.protocol,
  direction: 'out',
  localPort: 0,
  remoteAddr: flow.remoteAddr,
  remotePort: flow.remotePort,
  verdict: 'allow',
});

/**
 * Socket cookies as Map keys: a number while exact (always, in practice: the kernel counts them up
 * from 1), else the bigint (visitFlowRecords gives the same).
 */
const MAX_EXACT_COOKIE = BigInt(Number.MAX_SAFE_INTEGER);
const cookieKey = (cookie: bigint): number | bigint => (cookie <= MAX_EXACT_COOKIE ? Number(cookie) : cookie);

/**
 * A socket's totals only grow (cookies are never reused while the machine runs), but a copy of
 * them can be older than one read before: the kernel mirrors them from the CPUs of both
 * directions, and a packet may count into the fast path's entry just after its copy-back at close.
 * A smaller number is such a copy and adds nothing; counting it as a restart from zero counted the
 * whole total twice.
 */
const growth = (now: number, before: number): number => (now > before ? now - before : 0);

// Offsets in the per-slot groups of six counters.
const BYTES_OUT = 0,
  BYTES_IN = 1,
  PACKETS_OUT = 2,
  PACKETS_IN = 3,
  ALLOWED = 4,
  BLOCKED = 5,
  COUNTS = 6;

function grown<T extends Float64Array | Uint32Array | Uint16Array | Uint8Array | Int32Array>(
  column: T,
  capacity: number,
): T {
  const next = new (column.constructor as new (length: number) => T)(capacity);
  next.set(column);
  return next;
}

/** Columns grow by a quarter: at 100k flows a doubling would leave up to 100k slots (18 MB) unused. */
const GROWTH = 1.25;

/** Slots handed out from a free list, the columns grown as needed. */
class Slots {
  private free: number[] = [];
  used = 0;
  capacity: number;
  constructor(
    initial: number,
    private readonly onGrow: (capacity: number) => void,
  ) {
    this.capacity = initial;
  }
  take(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) {
      this.capacity = Math.ceil(this.capacity * GROWTH);
      this.onGrow(this.capacity);
    }
    return this.used++;
  }
  release(slot: number): void {
    this.free.push(slot);
  }
}

/** Every flow field, one column each (the six counters side by side). */
class FlowColumns {
  appId: Uint32Array;
  /** The remote address's id in the tracker's InternedStrings. */
  addrId: Uint32Array;
  remotePort: Uint16Array;
  protocol: Uint8Array;
  outbound: Uint8Array;
  blockedLast: Uint8Array;
  lastRuleId: Uint32Array;
  openSockets: Int32Array;
  firstSeen: Float64Array;
  lastSeen: Float64Array;
  counts: Float64Array;
  /** The flow's row in DeltaRows while it has changes not yet taken for writing, else -1. */
  deltaRow: Int32Array;
  remoteName: Array<string | null> = [];
  readonly slots: Slots;

  constructor(initial: number) {
    this.appId = new Uint32Array(initial);
    this.addrId = new Uint32Array(initial);
    this.remotePort = new Uint16Array(initial);
    this.protocol = new Uint8Array(initial);
    this.outbound = new Uint8Array(initial);
    this.blockedLast = new Uint8Array(initial);
    this.lastRuleId = new Uint32Array(initial);
    this.openSockets = new Int32Array(initial);
    this.firstSeen = new Float64Array(initial);
    this.lastSeen = new Float64Array(initial);
    this.counts = new Float64Array(initial * COUNTS);
    this.deltaRow = new Int32Array(initial).fill(-1);
    this.slots = new Slots(initial, (capacity) => {
      this.appId = grown(this.appId, capacity);
      this.addrId = grown(this.addrId, capacity);
      this.remotePort = grown(this.remotePort, capacity);
      this.protocol = grown(this.protocol, capacity);
      this.outbound = grown(this.outbound, capacity);
      this.blockedLast = grown(this.blockedLast, capacity);
      this.lastRuleId = grown(this.lastRuleId, capacity);
      this.openSockets = grown(this.openSockets, capacity);
      this.firstSeen = grown(this.firstSeen, capacity);
      this.lastSeen = grown(this.lastSeen, capacity);
      this.counts = grown(this.counts, capacity * COUNTS);
      const deltaRow = new Int32Array(capacity).fill(-1);
      deltaRow.set(this.deltaRow);
      this.deltaRow = deltaRow;
    });
  }
}

/**
 * What changed flows gained since the last take, one row per changed flow in the order they
 * changed; emptied by each take. Kept apart from the flows so that memory follows the flows
 * changed in an interval, not all flows held (after a burst the rows shrink back).
 */
class DeltaRows {
  private static readonly INITIAL = 1024;
  length = 0;
  flow = new Int32Array(DeltaRows.INITIAL);
  counts = new Float64Array(DeltaRows.INITIAL * COUNTS);
  firstSeen = new Float64Array(DeltaRows.INITIAL);
  lastSeen = new Float64Array(DeltaRows.INITIAL);

  open(flow: number, timeMs: number): number {
    if (this.length === this.flow.length) this.resize(Math.ceil(this.flow.length * GROWTH));
    const row = this.length++;
    this.flow[row] = flow;
    this.counts.fill(0, row * COUNTS, row * COUNTS + COUNTS);
    this.firstSeen[row] = timeMs;
    this.lastSeen[row] = timeMs;
    return row;
  }

  /** Empties the rows, giving back what a burst grew. */
  clear(): void {
    this.length = 0;
    if (this.flow.length > 4 * DeltaRows.INITIAL) this.resize(DeltaRows.INITIAL);
  }

  private resize(capacity: number): void {
    const keep = Math.min(this.length, capacity);
    const flow = new Int32Array(capacity);
    flow.set(this.flow.subarray(0, keep));
    const counts = new Float64Array(capacity * COUNTS);
    counts.set(this.counts.subarray(0, keep * COUNTS));
    const firstSeen = new Float64Array(capacity);
    firstSeen.set(this.firstSeen.subarray(0, keep));
    const lastSeen = new Float64Array(capacity);
    lastSeen.set(this.lastSeen.subarray(0, keep));
    Object.assign(this, { flow, counts, firstSeen, lastSeen });
  }
}

/** Per socket: its flow's slot and the totals already counted. */
class SocketColumns {
  flow: Int32Array;
  counted: Float64Array;
  readonly slots: Slots;
  constructor(initial: number) {
    this.flow = new Int32Array(initial);
    this.counted = new Float64Array(initial * 4);
    this.slots = new Slots(initial, (capacity) => {
      this.flow = grown(this.flow, capacity);
      this.counted = grown(this.counted, capacity * 4);
    });
  }
}

export class FlowTracker {
  private readonly flows = new FlowColumns(1024);
  /** Flow key -> slot. */
  private readonly flowIndex = new FlowIndex(this.flows);
  private readonly addresses = new InternedStrings();
  /** Socket cookie -> slot, in the order sockets were first seen. */
  private readonly socketSlots = new Map<number | bigint, number>();
  private readonly sockets = new SocketColumns(1024);
  /** protocol code × 65536 + local port -> app of the listening socket. */
  private readonly listeners = new Map<number, number>();
  private readonly deltas = new DeltaRows();
  private readonly maxFlows: number;
  private readonly maxSockets: number;
  private readonly idleMs: number;
  private evicted = 0;
  private unattributedInbound = 0;
  /** Live-totals reads in flight (beginTotalsRead), and the sockets closed meanwhile. */
  private totalsReads = 0;
  private readonly closedDuringReads = new Set<number | bigint>();

  constructor(options: FlowTrackerOptions = {}) {
    this.maxFlows = options.maxFlows ?? 200_000;
    this.maxSockets = options.maxSockets ?? 200_000;
    this.idleMs = options.idleMs ?? 10 * 60_000;
  }

  stats(): TrackerStats {
    return {
      flows: this.flowIndex.size,
      sockets: this.socketSlots.size,
      listeners: this.listeners.size,
      evicted: this.evicted,
      unattributedInbound: this.unattributedInbound,
    };
  }

  /** True while some socket's bytes are being counted (live totals are worth reading). */
  get hasOpenSockets(): boolean {
    return this.socketSlots.size > 0;
  }

  /** The app an inbound connection belongs to: the app that listens on its local port. */
  listenerApp(protocol: FlowProtocol, localPort: number): number {
    return this.listeners.get(protocolCode(protocol) * 65_536 + localPort) ?? 0;
  }

  /** One decision of `appId` (0: unknown; inbound ones then go to the listener) at `timeMs`. */
  ingest(event: TrackedEvent, appId: number, timeMs: number, remoteName: string | null): void {
    if (event.kind === 'listen') {
      if (appId !== 0) this.listeners.set(protocolCode(event.protocol) * 65_536 + event.localPort, appId);
      return;
    }
    if (event.kind === 'dns' || event.kind === 'dns-query') return;
    if (event.kind === 'close') {
      this.close(event, appId, timeMs, remoteName);
      return;
    }
    const f = this.flows;
    const flow = this.flowFor(event, appId, timeMs, remoteName);
    const row = this.touch(flow, timeMs);
    this.add(flow, row, event.verdict === 'allow' ? ALLOWED : BLOCKED, 1);
    f.blockedLast[flow] = event.verdict === 'block' ? 1 : 0;
    f.lastRuleId[flow] = event.ruleId;
    if (event.socketCookie !== 0n && event.verdict === 'allow') {
      const cookie = cookieKey(event.socketCookie);
      if (!this.socketSlots.has(cookie)) this.openSocket(cookie, flow);
    }
  }

  /** Live totals from the kernel: adds what each known socket sent and received since last seen. */
  applyTotals(totals: readonly SocketTotals[], nowMs: number): void {
    if (this.socketSlots.size === 0) return;
    for (const total of totals) {
      const socket = this.socketSlots.get(cookieKey(total.socketCookie));
      if (socket !== undefined)
        this.count(
          socket,
          Number(total.bytesOut),
          Number(total.bytesIn),
          Number(total.packetsOut),
          Number(total.packetsIn),
          nowMs,
        );
    }
  }

  /**
   * A read of live totals starts: until endTotalsRead, the sockets that close are remembered, so a
   * tallied socket's record read before its close is not taken for a new socket after it.
   */
  beginTotalsRead(): void {
    this.totalsReads++;
  }

  endTotalsRead(): void {
    if (--this.totalsReads === 0) this.closedDuringReads.clear();
  }

  /**
   * The same from the raw pcl_flows records (Firewall.readFlows): no object per socket. A record of
   * a socket no decision told of is counted when `tallyFlowOf` (the record at an offset) names its
   * flow: a tallied socket (the kernel counted its connect instead of recording it).
   */
  applyTotalRecords(records: Buffer, nowMs: number, tallyFlowOf?: (at: number) => TalliedFlow | null): void {
    if (this.socketSlots.size === 0 && !tallyFlowOf) return;
    visitFlowRecords(records, (cookie, bytesOut, bytesIn, packetsOut, packetsIn, at) => {
      let socket = this.socketSlots.get(cookie);
      if (socket === undefined) {
        const tallied = tallyFlowOf && !this.closedDuringReads.has(cookie) ? tallyFlowOf(at) : null;
        if (!tallied) return;
        socket = this.openSocket(cookie, this.flowFor(talliedDecision(tallied), tallied.appId, nowMs, null));
      }
      this.count(socket, bytesOut, bytesIn, packetsOut, packetsIn, nowMs);
    });
  }

  /**
   * What the kernel tallied for a flow since the last drain (decisions counted instead of recorded,
   * and the totals of its sockets that closed unrecorded), as of `timeMs`, its last count.
   */
  ingestTally(tally: TallyCount, timeMs: number, remoteName: string | null): void {
    if (tally.connections + tally.packetsOut + tally.packetsIn === 0) return; // only the flow's entry was made
    const f = this.flows;
    const flow = this.flowFor(talliedDecision(tally), tally.appId, timeMs, remoteName);
    if (timeMs >= f.lastSeen[flow]!) {
      f.blockedLast[flow] = 0;
      f.lastRuleId[flow] = tally.ruleId;
    }
    const row = this.touch(flow, timeMs);
    this.add(flow, row, ALLOWED, tally.connections);
    this.add(flow, row, BYTES_OUT, tally.bytesOut);
    this.add(flow, row, BYTES_IN, tally.bytesIn);
    this.add(flow, row, PACKETS_OUT, tally.packetsOut);
    this.add(flow, row, PACKETS_IN, tally.packetsIn);
  }

  /** Changes since the last call, one delta per flow, for the store. */
  takeDeltas(): FlowDelta[] {
    const rows = this.deltas;
    const out: FlowDelta[] = [];
    for (let row = 0; row < rows.length; row++) {
      const flow = rows.flow[row]!;
      out.push(this.report(flow, rows.counts, row * COUNTS, rows.firstSeen[row]!, rows.lastSeen[row]!));
      this.flows.deltaRow[flow] = -1;
    }
    rows.clear();
    return out;
  }

  /** Flows in memory (recently active), newest first. */
  live(): LiveFlow[] {
    const f = this.flows;
    const out: LiveFlow[] = [];
    this.flowIndex.forEach((flow) =>
      out.push(this.report(flow, f.counts, flow * COUNTS, f.firstSeen[flow]!, f.lastSeen[flow]!)),
    );
    return out.sort((a, b) => b.lastSeen - a.lastSeen);
  }

  /** A flow's key and last verdict with the counts at `counts[at..]` (its totals, or a delta row's). */
  private report(flow: number, counts: Float64Array, at: number, firstSeen: number, lastSeen: number): FlowReport {
    const f = this.flows;
    return {
      appId: f.appId[flow]!,
      remoteAddr: this.addresses.text(f.addrId[flow]!),
      remotePort: f.remotePort[flow]!,
      protocol: PROTOCOLS[f.protocol[flow]!]!,
      direction: f.outbound[flow] ? 'out' : 'in',
      bytesOut: counts[at + BYTES_OUT]!,
      bytesIn: counts[at + BYTES_IN]!,
      packetsOut: counts[at + PACKETS_OUT]!,
      packetsIn: counts[at + PACKETS_IN]!,
      allowed: counts[at + ALLOWED]!,
      blocked: counts[at + BLOCKED]!,
      remoteName: f.remoteName[flow]!,
      firstSeen,
      lastSeen,
      lastVerdict: f.blockedLast[flow] ? 'block' : 'allow',
      lastRuleId: f.lastRuleId[flow] || null,
    };
  }

  /** Forgets flows that are idle, closed and written; call after a write. */
  sweep(nowMs: number): void {
    const f = this.flows;
    const idle: number[] = [];
    this.flowIndex.forEach((flow) => {
      if (f.openSockets[flow] === 0 && f.deltaRow[flow] === -1 && nowMs - f.lastSeen[flow]! >= this.idleMs)
        idle.push(flow);
    });
    for (const flow of idle) this.forgetFlow(flow);
  }

  private flowFor(event: FlowOfDecision, knownApp: number, timeMs: number, remoteName: string | null): number {
    let appId = knownApp;
    if (appId === 0 && event.direction === 'in') {
      appId = this.listenerApp(event.protocol, event.localPort);
      if (appId === 0) this.unattributedInbound++;
    }
    const protocol = protocolCode(event.protocol);
    const outbound = event.direction === 'out' ? 1 : 0;
    const f = this.flows;
    const addrId = this.addresses.idOf(event.remoteAddr);
    const known = addrId === -1 ? -1 : this.flowIndex.find(appId, addrId, event.remotePort, protocol, outbound);
    if (known !== -1) {
      if (remoteName !== null && f.remoteName[known] !== remoteName) f.remoteName[known] = remoteName;
      return known;
    }
    if (this.flowIndex.size >= this.maxFlows) this.evict();
    const flow = f.slots.take();
    f.appId[flow] = appId;
    f.addrId[flow] = this.addresses.hold(event.remoteAddr);
    f.remotePort[flow] = event.remotePort;
    f.protocol[flow] = protocol;
    f.outbound[flow] = outbound;
    f.blockedLast[flow] = event.verdict === 'block' ? 1 : 0;
    f.lastRuleId[flow] = 0;
    f.openSockets[flow] = 0;
    f.firstSeen[flow] = timeMs;
    f.lastSeen[flow] = timeMs;
    f.counts.fill(0, flow * COUNTS, flow * COUNTS + COUNTS);
    f.deltaRow[flow] = -1;
    f.remoteName[flow] = remoteName;
    this.flowIndex.insert(flow);
    return flow;
  }

  /**
   * The flow changed at `timeMs`: its first and last seen span it (a recorded decision may arrive after
   * the tally of later ones), and its delta row (opened if needed) spans the time.
   */
  private touch(flow: number, timeMs: number): number {
    const f = this.flows;
    if (timeMs > f.lastSeen[flow]!) f.lastSeen[flow] = timeMs;
    if (timeMs < f.firstSeen[flow]!) f.firstSeen[flow] = timeMs;
    const row = f.deltaRow[flow]!;
    if (row === -1) return (f.deltaRow[flow] = this.deltas.open(flow, timeMs));
    const rows = this.deltas;
    if (timeMs < rows.firstSeen[row]!) rows.firstSeen[row] = timeMs;
    if (timeMs > rows.lastSeen[row]!) rows.lastSeen[row] = timeMs;
    return row;
  }

  /** Adds to one counter of a flow and of its delta row. */
  private add(flow: number, row: number, counter: number, amount: number): void {
    const counts = this.flows.counts;
    const deltaCounts = this.deltas.counts;
    counts[flow * COUNTS + counter] = counts[flow * COUNTS + counter]! + amount;
    deltaCounts[row * COUNTS + counter] = deltaCounts[row * COUNTS + counter]! + amount;
  }

  private openSocket(cookie: number | bigint, flow: number): number {
    if (this.socketSlots.size >= this.maxSockets) this.forgetOldestSocket();
    const s = this.sockets;
    const socket = s.slots.take();
    s.flow[socket] = flow;
    s.counted.fill(0, socket * 4, socket * 4 + 4);
    this.socketSlots.set(cookie, socket);
    this.flows.openSockets[flow] = this.flows.openSockets[flow]! + 1;
    return socket;
  }

  private closeSocket(cookie: number | bigint, socket: number): void {
    this.socketSlots.delete(cookie);
    if (this.totalsReads > 0) this.closedDuringReads.add(cookie);
    const flow = this.sockets.flow[socket]!;
    this.flows.openSockets[flow] = this.flows.openSockets[flow]! - 1;
    this.sockets.slots.release(socket);
  }

  /** Adds what a socket's totals grew by since they were last counted to its flow. */
  private count(
    socket: number,
    nowBytesOut: number,
    nowBytesIn: number,
    nowPacketsOut: number,
    nowPacketsIn: number,
    timeMs: number,
  ): void {
    const counted = this.sockets.counted;
    const at = socket * 4;
    const bytesOut = growth(nowBytesOut, counted[at]!);
    const bytesIn = growth(nowBytesIn, counted[at + 1]!);
    const packetsOut = growth(nowPacketsOut, counted[at + 2]!);
    const packetsIn = growth(nowPacketsIn, counted[at + 3]!);
    counted[at]! += bytesOut;
    counted[at + 1]! += bytesIn;
    counted[at + 2]! += packetsOut;
    counted[at + 3]! += packetsIn;
    if (bytesOut + bytesIn + packetsOut + packetsIn === 0) return;
    const flow = this.sockets.flow[socket]!;
    const row = this.touch(flow, timeMs);
    this.add(flow, row, BYTES_OUT, bytesOut);
    this.add(flow, row, BYTES_IN, bytesIn);
    this.add(flow, row, PACKETS_OUT, packetsOut);
    this.add(flow, row, PACKETS_IN, packetsIn);
  }

  private close(event: TrackedEvent, appId: number, timeMs: number, remoteName: string | null): void {
    const cookie = cookieKey(event.socketCookie);
    let socket = this.socketSlots.get(cookie);
    if (socket === undefined) {
      // The opening decision was not seen (lost, or the socket predates the helper): count the totals anyway.
      if (event.bytesOut + event.bytesIn + event.packetsOut + event.packetsIn === 0n) return;
      socket = this.openSocket(cookie, this.flowFor(event, appId, timeMs, remoteName));
    }
    this.count(
      socket,
      Number(event.bytesOut),
      Number(event.bytesIn),
      Number(event.packetsOut),
      Number(event.packetsIn),
      timeMs,
    );
    this.closeSocket(cookie, socket);
  }

  /** Sockets whose close was lost would be held forever: past the bound, the oldest go. */
  private forgetOldestSocket(): void {
    const oldest = this.socketSlots.entries().next();
    if (!oldest.done) this.closeSocket(oldest.value[0], oldest.value[1]);
  }

  private forgetFlow(flow: number): void {
    const f = this.flows;
    this.flowIndex.remove(flow);
    this.addresses.release(f.addrId[flow]!);
    f.remoteName[flow] = null;
    f.slots.release(flow);
  }

  /**
   * Past the bound: drop a tenth of the flows, least recently seen first, of those that are written
   * (they live on in the store) and have no open socket (a socket's later bytes need its flow).
   */
  private evict(): void {
    const f = this.flows;
    const target = Math.max(1, Math.floor(this.maxFlows / 10));
    const candidates: number[] = [];
    this.flowIndex.forEach((flow) => {
      if (f.deltaRow[flow] === -1 && f.openSockets[flow] === 0) candidates.push(flow);
    });
    candidates.sort((a, b) => f.lastSeen[a]! - f.lastSeen[b]!);
    for (const flow of candidates.slice(0, target)) {
      this.forgetFlow(flow);
      this.evicted++;
    }
  }
}
