// A synthetic backend for the UI benchmark: the renderer's whole IPC answered from memory at once,
// with as many flows as asked for.
import type { App, Flow, IpcHandlers, IpcNotifyName, PayloadOf, Status } from '../../main/contract/index.js';
import type { NotifyListener } from '../../main/app/ipc-backend.js';

/** One app per 500 flows. */
export const appsFor = (rows: number): number => Math.max(1, Math.round(rows / 500));

/** `rows` flows spread over one app per 500 of them, seen over the last hour. */
export function syntheticFlows(rows: number): { apps: App[]; flows: Flow[] } {
  const APPS = appsFor(rows);
  const now = Date.now();
  const apps: App[] = Array.from({ length: APPS }, (_, i) => ({
    id: i + 1,
    kind: 'executable',
    name: `app-${String(i).padStart(3, '0')}`,
    exe: `/usr/bin/app-${i}`,
    identifier: null,
    icon: null,
    cgroup: null,
    firstSeen: now - 86_400_000,
    lastSeen: now,
    defaultAction: null,
  }));
  const flows: Flow[] = Array.from({ length: rows }, (_, i) => ({
    appId: (i % APPS) + 1,
    remoteAddr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    remoteName: i % 3 === 0 ? `host-${i}.example.net` : null,
    remotePort: 443 + (i % 7),
    protocol: i % 5 === 0 ? 'udp' : 'tcp',
    direction: 'out',
    firstSeen: now - 3_600_000,
    lastSeen: now - (i % 3600) * 1000,
    bytesOut: (i * 37) % 100_000,
    bytesIn: (i * 91) % 1_000_000,
    packetsOut: 3,
    packetsIn: 5,
    allowed: 1,
    blocked: i % 11 === 0 ? 1 : 0,
    lastVerdict: i % 11 === 0 ? 'block' : 'allow',
    lastRuleId: null,
  }));
  return { apps, flows };
}

/**
 * The IPC backend the renderer talks to, answering instantly from `rows` synthetic flows (so the
 * figures are the renderer's own); `emit` sends it notifications as the helper would.
 */
export function syntheticBackend(rows: number) {
  const APPS = appsFor(rows);
  const { apps, flows } = syntheticFlows(rows);
  const listeners = new Set<NotifyListener>();
  const status = {
    version: 'bench',
    protocolVersion: 1,
    pid: process.pid,
    uptimeSec: 1,
    enforcing: true,
    pausedUntil: null,
    defaultAction: 'allow',
    attach: { cgroup: '-', pinDir: '-', adopted: false },
    kernel: { kernelRelease: '-', cgroup2Mount: null, bpffsMount: null, btf: true, missing: [], features: [] },
    ruleCount: 0,
    lists: { count: 0, entries: 0 },
    appCount: APPS,
    eventsSeen: 0,
    eventDrops: 0,
    dns: { queries: 0, answersLearned: 0, answersIgnored: 0, pendingQueries: 0, domainAddresses: 0, domainApplies: 0 },
    policy: { dir: '/etc/portcullis/policy.d', files: [], error: null },
  } as Status;
  const unsupported = async () => {
    throw new Error('not in the benchmark');
  };
  const handlers: IpcHandlers = {
    getStatus: async () => status,
    listRules: async () => [],
    addRule: unsupported,
    addRules: unsupported,
    updateRule: unsupported,
    removeRules: unsupported,
    listApps: async () => apps,
    setAppDefault: unsupported,
    listConnections: async (query) => ((query as { since?: number }).since === undefined ? flows : []),
    // The helper's paging as the renderer sees it: the cursor is the next offset.
    listConnectionsPage: async (query) => {
      const { cursor, pageSize } = query as { cursor?: string; pageSize: number };
      const offset = cursor === undefined ? 0 : Number(cursor);
      const end = Math.min(flows.length, offset + pageSize);
      return { flows: flows.slice(offset, end), total: flows.length, cursor: end < flows.length ? String(end) : null };
    },
    setEnforcement: unsupported,
    getSettings: unsupported,
    updateSettings: unsupported,
    listPrompts: async () => [],
    answerPrompt: unsupported,
    importBegin: unsupported,
    importChunk: unsupported,
    importCommit: unsupported,
    importAbort: unsupported,
    listLists: async () => [],
    listEntries: unsupported,
    updateList: unsupported,
    removeList: unsupported,
    subscribeList: unsupported,
    refreshLists: unsupported,
    getHelperState: async () => ({ state: 'connected', status }),
    startHelper: async () => ({ state: 'connected', status }),
    runChecks: async () => [],
    getWizardState: async () => ({ completed: true, mode: 'monitor' }),
    completeWizard: unsupported,
  };
  const emit = <K extends IpcNotifyName>(name: K, payload: PayloadOf<K>) => {
    for (const listener of listeners) listener(name, payload);
  };
  return {
    handlers,
    subscribe: (listener: NotifyListener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit,
  };
}
