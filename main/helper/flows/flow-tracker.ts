// Aggregates kernel decisions into flows: app × remote address × remote port × protocol × direction,
// with first/last seen, bytes and packets each way, allowed/blocked counts and the deciding rule.
//
// Bytes come per socket (socket cookie): live totals read from the kernel and final totals in the
// socket's close event. Each socket remembers the totals already counted, so live reads and the
// close event add only what is new and nothing is counted twice. What changed since the last
// write is kept as a delta per flow, which the store adds to its hourly rows in one transaction.
import type { FlowDirection, FlowProtocol, Verdict } from '../../contract/index.js';
import type { DecisionEvent, FlowTotals } from '../../../native/api.js';

/**
 * The fields of a kernel decision the tracker reads (a native DecisionEvent has them all). The
 * enrichment — app, wall time, remote name — comes as arguments, so no object is made per event.
 */
export type TrackedEvent = Pick<DecisionEvent,
  'kind' | 'socketCookie' | 'protocol' | 'direction' | 'localPort' | 'remoteAddr' | 'remotePort' | 'verdict' | 'ruleId'
  | 'bytesOut' | 'bytesIn' | 'packetsOut' | 'packetsIn'>;

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

/** What one flow gained since the last write, with the time span of those changes. */
export interface FlowDelta extends FlowKey, Counts {
  remoteName: string | null;
  firstSeen: number;
  lastSeen: number;
  lastVerdict: Verdict;
  lastRuleId: number | null;
}

export interface LiveFlow extends FlowKey, Counts {
  remoteName: string | null;
  firstSeen: number;
  lastSeen: number;
  lastVerdict: Verdict;
  lastRuleId: number | null;
}

interface FlowState extends LiveFlow {
  key: string;
  openSockets: number;
  delta: FlowDelta | null;
}

/** Totals already counted for one socket; numbers, not bigints (a socket moves far less than 2^53 bytes), to keep 100k sockets small. */
interface SocketState {
  flow: FlowState;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
}

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
  /** Bound on flows held in memory; idle, written flows go first. */
  maxFlows?: number;
  /** Bound on sockets tracked for byte counting. */
  maxSockets?: number;
  /** A flow with no open socket and nothing unwritten is forgotten after this idle time. */
  idleMs?: number;
}

export const flowKeyString = (k: FlowKey): string => `${k.appId}|${k.remoteAddr}|${k.remotePort}|${k.protocol}|${k.direction}`;
const listenerKey = (protocol: FlowProtocol, port: number): string => `${protocol}/${port}`;

export class FlowTracker {
  private readonly flows = new Map<string, FlowState>();
  private readonly sockets = new Map<bigint, SocketState>();
  /** protocol/local port -> app of the listening socket. */
  private readonly listeners = new Map<string, number>();
  private dirty = new Set<FlowState>();
  private readonly maxFlows: number;
  private readonly maxSockets: number;
  private readonly idleMs: number;
  private evicted = 0;
  private unattributedInbound = 0;

  constructor(options: FlowTrackerOptions = {}) {
    this.maxFlows = options.maxFlows ?? 200_000;
    this.maxSockets = options.maxSockets ?? 200_000;
    this.idleMs = options.idleMs ?? 10 * 60_000;
  }

  stats(): TrackerStats {
    return { flows: this.flows.size, sockets: this.sockets.size, listeners: this.listeners.size, evicted: this.evicted, unattributedInbound: this.unattributedInbound };
  }

  /** The app an inbound connection belongs to: the app that listens on its local port. */
  listenerApp(protocol: FlowProtocol, localPort: number): number {
    return this.listeners.get(listenerKey(protocol, localPort)) ?? 0;
  }

  /** One decision of `appId` (0: unknown; inbound ones then go to the listener) at `timeMs`. */
  ingest(event: TrackedEvent, appId: number, timeMs: number, remoteName: string | null): void {
    if (event.kind === 'listen') {
      if (appId !== 0) this.listeners.set(listenerKey(event.protocol, event.localPort), appId);
      return;
    }
    if (event.kind === 'dns') return;
    if (event.kind === 'close') {
      this.close(event, appId, timeMs, remoteName);
      return;
    }
    const flow = this.flowFor(event, appId, timeMs, remoteName);
    const delta = this.deltaOf(flow, timeMs);
    if (event.verdict === 'allow') { flow.allowed++; delta.allowed++; } else { flow.blocked++; delta.blocked++; }
    flow.lastVerdict = delta.lastVerdict = event.verdict;
    flow.lastRuleId = delta.lastRuleId = event.ruleId === 0 ? null : event.ruleId;
    if (event.socketCookie !== 0n && event.verdict === 'allow' && !this.sockets.has(event.socketCookie)) {
      if (this.sockets.size >= this.maxSockets) this.forgetOldestSocket();
      this.sockets.set(event.socketCookie, { flow, bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0 });
      flow.openSockets++;
    }
  }

  /** Live totals from the kernel: adds what each known socket sent and received since last seen. */
  applyTotals(totals: readonly SocketTotals[], nowMs: number): void {
    for (const total of totals) {
      const socket = this.sockets.get(total.socketCookie);
      if (socket) this.addTotals(socket, total, nowMs);
    }
  }

  /** Changes since the last call, one delta per flow, for the store. */
  takeDeltas(): FlowDelta[] {
    const out: FlowDelta[] = [];
    for (const flow of this.dirty) {
      if (flow.delta) out.push(flow.delta);
      flow.delta = null;
    }
    this.dirty = new Set();
    return out;
  }

  /** Flows in memory (recently active), newest first. */
  live(): LiveFlow[] {
    return [...this.flows.values()].map((flow) => this.publicView(flow)).sort((a, b) => b.lastSeen - a.lastSeen);
  }

  /** Forgets flows that are idle, closed and written; call after a write. */
  sweep(nowMs: number): void {
    for (const [key, flow] of this.flows) {
      if (flow.openSockets === 0 && flow.delta === null && nowMs - flow.lastSeen >= this.idleMs) this.flows.delete(key);
    }
  }

  private publicView(flow: FlowState): LiveFlow {
    const { key: _key, openSockets: _open, delta: _delta, ...view } = flow;
    return { ...view };
  }

  private flowFor(event: TrackedEvent, knownApp: number, timeMs: number, remoteName: string | null): FlowState {
    let appId = knownApp;
    if (appId === 0 && event.direction === 'in') {
      appId = this.listenerApp(event.protocol, event.localPort);
      if (appId === 0) this.unattributedInbound++;
    }
    const key = `${appId}|${event.remoteAddr}|${event.remotePort}|${event.protocol}|${event.direction}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.flows.size >= this.maxFlows) this.evict();
      // One literal with every field: this runs per new flow at event rate, so no spreads.
      flow = {
        appId, remoteAddr: event.remoteAddr, remotePort: event.remotePort, protocol: event.protocol, direction: event.direction,
        bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0, allowed: 0, blocked: 0,
        key, remoteName, firstSeen: timeMs, lastSeen: timeMs, lastVerdict: event.verdict, lastRuleId: null, openSockets: 0, delta: null,
      };
      this.flows.set(key, flow);
    } else if (remoteName !== null && flow.remoteName !== remoteName) {
      flow.remoteName = remoteName;
    }
    return flow;
  }

  private deltaOf(flow: FlowState, timeMs: number): FlowDelta {
    flow.lastSeen = Math.max(flow.lastSeen, timeMs);
    if (!flow.delta) {
      flow.delta = {
        appId: flow.appId, remoteAddr: flow.remoteAddr, remotePort: flow.remotePort, protocol: flow.protocol, direction: flow.direction,
        bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0, allowed: 0, blocked: 0,
        remoteName: flow.remoteName, firstSeen: timeMs, lastSeen: timeMs, lastVerdict: flow.lastVerdict, lastRuleId: flow.lastRuleId,
      };
      this.dirty.add(flow);
    }
    const delta = flow.delta;
    delta.remoteName = flow.remoteName;
    delta.firstSeen = Math.min(delta.firstSeen, timeMs);
    delta.lastSeen = Math.max(delta.lastSeen, timeMs);
    return delta;
  }

  private addTotals(socket: SocketState, total: Omit<SocketTotals, 'socketCookie'>, timeMs: number): void {
    // Totals only grow; a smaller number (a reused cookie, a reset) counts from zero again.
    const grow = (now: number, before: number): number => (now >= before ? now - before : now);
    const nowBytesOut = Number(total.bytesOut);
    const nowBytesIn = Number(total.bytesIn);
    const nowPacketsOut = Number(total.packetsOut);
    const nowPacketsIn = Number(total.packetsIn);
    const bytesOut = grow(nowBytesOut, socket.bytesOut);
    const bytesIn = grow(nowBytesIn, socket.bytesIn);
    const packetsOut = grow(nowPacketsOut, socket.packetsOut);
    const packetsIn = grow(nowPacketsIn, socket.packetsIn);
    socket.bytesOut = nowBytesOut;
    socket.bytesIn = nowBytesIn;
    socket.packetsOut = nowPacketsOut;
    socket.packetsIn = nowPacketsIn;
    if (bytesOut + bytesIn + packetsOut + packetsIn === 0) return;
    const flow = socket.flow;
    const delta = this.deltaOf(flow, timeMs);
    flow.bytesOut += bytesOut; delta.bytesOut += bytesOut;
    flow.bytesIn += bytesIn; delta.bytesIn += bytesIn;
    flow.packetsOut += packetsOut; delta.packetsOut += packetsOut;
    flow.packetsIn += packetsIn; delta.packetsIn += packetsIn;
  }

  private close(event: TrackedEvent, appId: number, timeMs: number, remoteName: string | null): void {
    let socket = this.sockets.get(event.socketCookie);
    if (!socket) {
      // The opening decision was not seen (lost, or the socket predates the helper): count the totals anyway.
      if (event.bytesOut + event.bytesIn + event.packetsOut + event.packetsIn === 0n) return;
      const flow = this.flowFor(event, appId, timeMs, remoteName);
      socket = { flow, bytesOut: 0, bytesIn: 0, packetsOut: 0, packetsIn: 0 };
      flow.openSockets++;
    }
    this.addTotals(socket, event, timeMs);
    this.sockets.delete(event.socketCookie);
    socket.flow.openSockets--;
  }

  /** Sockets whose close was lost would be held forever: past the bound, the oldest go. */
  private forgetOldestSocket(): void {
    const oldest = this.sockets.keys().next();
    if (oldest.done) return;
    const socket = this.sockets.get(oldest.value)!;
    socket.flow.openSockets--;
    this.sockets.delete(oldest.value);
  }

  /** Past the bound: drop a tenth of the flows, idle and written ones first (they live on in the store). */
  private evict(): void {
    const target = Math.max(1, Math.floor(this.maxFlows / 10));
    const candidates = [...this.flows.values()].filter((f) => f.delta === null).sort((a, b) => a.lastSeen - b.lastSeen);
    for (const flow of candidates.slice(0, target)) {
      this.flows.delete(flow.key);
      this.evicted++;
    }
  }
}
