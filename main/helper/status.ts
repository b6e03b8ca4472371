// Builds the status every client shows.
import { PROTOCOL_VERSION, type DnsStatus, type KernelFeature, type Status } from '../contract/index.js';
import type { KernelFeatures } from '../../native/api.js';
import type { RulesEngine } from './engine.js';
import type { Enforcement } from './enforcement.js';
import type { EventFanout } from './event-fanout.js';

export interface StatusSources {
  version: string;
  startedAt: number;
  features: KernelFeatures;
  /** The features as described for people (kernel-features.ts): fixed for the firewall's life. */
  kernelFeatures: KernelFeature[];
  attach: Status['attach'];
  engine: RulesEngine;
  enforcement: Enforcement;
  fanout: EventFanout;
  /** What DNS taught (none before the connections side has started). */
  dns: () => DnsStatus | null;
  /** Ask mode's questions waiting now. */
  pendingPrompts?: () => number;
}

const NO_DNS: DnsStatus = {
  queries: 0,
  answersLearned: 0,
  answersIgnored: 0,
  pendingQueries: 0,
  domainAddresses: 0,
  domainApplies: 0,
};

export function buildStatus(sources: StatusSources, now = Date.now()): Status {
  const { features, engine, enforcement, fanout } = sources;
  const state = enforcement.state;
  return {
    version: sources.version,
    protocolVersion: PROTOCOL_VERSION,
    pid: process.pid,
    uptimeSec: Math.floor((now - sources.startedAt) / 1000),
    enforcing: state.enforcing,
    pausedUntil: state.enforcing ? null : state.pausedUntil,
    defaultAction: engine.settings.get().defaultAction,
    attach: sources.attach,
    kernel: {
      kernelRelease: features.kernelRelease,
      cgroup2Mount: features.cgroup2Mount,
      bpffsMount: features.bpffsMount,
      btf: features.btf,
      missing: features.missing,
      features: sources.kernelFeatures,
    },
    ruleCount: engine.rules.count(),
    lists: { count: engine.lists.list().length, entries: engine.lists.entryCount() },
    appCount: engine.apps.count(),
    eventsSeen: fanout.eventsSeen,
    // The fan-out counts its own drops and the kernel's (noted as the ring buffer reports them).
    eventDrops: fanout.eventsDropped,
    dns: sources.dns() ?? NO_DNS,
    pendingPrompts: sources.pendingPrompts?.() ?? 0,
  };
}
