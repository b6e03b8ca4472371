// Builds the status every client shows.
import { PROTOCOL_VERSION, type Status } from '../contract/index.js';
import type { KernelFeatures } from '../../native/api.js';
import type { RulesEngine } from './engine.js';
import type { Enforcement } from './enforcement.js';
import type { EventFanout } from './event-fanout.js';

export interface StatusSources {
  version: string;
  startedAt: number;
  features: KernelFeatures;
  attach: Status['attach'];
  engine: RulesEngine;
  enforcement: Enforcement;
  fanout: EventFanout;
  /** Ask mode's questions waiting now. */
  pendingPrompts?: () => number;
}

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
      hold: features.hold,
    },
    ruleCount: engine.rules.count(),
    appCount: engine.apps.count(),
    eventsSeen: fanout.eventsSeen,
    // The fan-out counts its own drops and the kernel's (noted as the ring buffer reports them).
    eventDrops: fanout.eventsDropped,
    pendingPrompts: sources.pendingPrompts?.() ?? 0,
  };
}
