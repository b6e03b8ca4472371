// Flows grouped by application, updated in place. At 100k flows and thousands of events a second,
// copying maps per update would dominate; the store bumps a revision instead and views memoise on it.
import type { App, ConnectionEvent, Flow } from '../../main/contract/domain';

export interface AppGroup {
  appId: number;
  flows: Map<string, Flow>;
  bytesIn: number;
  bytesOut: number;
  allowed: number;
  blocked: number;
  lastSeen: number;
  /** Bumped on every change, so derived views (sorted flows) can be cached per group. */
  version: number;
}

export const flowKey = (flow: Pick<Flow, 'appId' | 'remoteAddr' | 'remotePort' | 'protocol' | 'direction'>): string =>
  `${flow.appId}|${flow.remoteAddr}|${flow.remotePort}|${flow.protocol}|${flow.direction}`;

export function groupOf(groups: Map<number, AppGroup>, appId: number): AppGroup {
  let group = groups.get(appId);
  if (!group) {
    group = { appId, flows: new Map(), bytesIn: 0, bytesOut: 0, allowed: 0, blocked: 0, lastSeen: 0, version: 0 };
    groups.set(appId, group);
  }
  return group;
}

/** Whether the app's group holds this flow already. */
export function hasFlow(groups: Map<number, AppGroup>, flow: Flow): boolean {
  return groups.get(flow.appId)?.flows.has(flowKey(flow)) ?? false;
}

/** Puts a flow as the helper reported it; returns the bytes it added since the last report. */

export function putFlow(groups: Map<number, AppGroup>, flow: Flow): { bytesIn: number; bytesOut: number } {
  const group = groupOf(groups, flow.appId);
  const key = flowKey(flow);
  const old = group.flows.get(key);
  const delta = { bytesIn: flow.bytesIn - (old?.bytesIn ?? 0), bytesOut: flow.bytesOut - (old?.bytesOut ?? 0) };
  group.flows.set(key, old?.remoteName && !flow.remoteName ? { ...flow, remoteName: old.remoteName } : flow);
  group.bytesIn += delta.bytesIn;
  group.bytesOut += delta.bytesOut;
  group.allowed += flow.allowed - (old?.allowed ?? 0);
  group.blocked += flow.blocked - (old?.blocked ?? 0);
  group.lastSeen = Math.max(group.lastSeen, flow.lastSeen);
  group.version++;
  return delta;
}

/** Counts a live decision against its flow (creating the flow on first sight). */
export function applyEvent(groups: Map<number, AppGroup>, event: ConnectionEvent): void {
  const group = groupOf(groups, event.appId);
  const key = flowKey(event);
  const old = group.flows.get(key);
  const allowed = event.verdict === 'allow' ? 1 : 0;
  const blocked = 1 - allowed;
  const flow: Flow = old
    ? {
        ...old,
        remoteName: event.remoteName ?? old.remoteName,
        lastSeen: Math.max(old.lastSeen, event.time),
        allowed: old.allowed + allowed,
        blocked: old.blocked + blocked,
        lastVerdict: event.verdict,
        lastRuleId: event.ruleId,
      }
    : {
        appId: event.appId,
        remoteAddr: event.remoteAddr,
        remoteName: event.remoteName,
        remotePort: event.remotePort,
        protocol: event.protocol,
        direction: event.direction,
        firstSeen: event.time,
        lastSeen: event.time,
        bytesOut: 0,
        bytesIn: 0,
        packetsOut: 0,
        packetsIn: 0,
        allowed,
        blocked,
        lastVerdict: event.verdict,
        lastRuleId: event.ruleId,
      };
  group.flows.set(key, flow);
  group.allowed += allowed;
  group.blocked += blocked;
  group.lastSeen = Math.max(group.lastSeen, event.time);
  group.version++;
}

/** Stands in for an app the helper has not described to us yet (the app list reloads soon after). */
export function placeholderApp(appId: number, comm: string, time: number): App {
  return {
    id: appId,
    kind: 'unknown',
    name: comm || `app ${appId}`,
    exe: null,
    identifier: null,
    icon: null,
    cgroup: null,
    firstSeen: time,
    lastSeen: time,
    defaultAction: null,
  };
}
