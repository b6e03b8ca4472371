// Builds the connections side of the helper in one place: app identities, DNS names, domain rules,
// flow tracking and history. The helper calls startConnections() once and passes each kernel
// batch through `pipeline.process` on its way to the fan-out.
import type { App, DnsStatus } from '../../contract/index.js';
import type { AppBindingChange } from '../../../native/api.js';
import type { Db } from '../store/database.js';
import type { RulesEngine } from '../engine.js';
import { AppIdentities, type UnboundProcess } from '../apps/app-identities.js';
import { DesktopEntries } from '../apps/desktop-entries.js';
import { DnsNames } from '../dns/dns-names.js';
import { DomainRuleAddresses } from '../dns/domain-rules.js';
import { DnsObserver } from '../dns/dns-observer.js';
import { FlowTracker } from './flow-tracker.js';
import { FlowsStore } from './flows-store.js';
import { ConnectionPipeline } from './connection-pipeline.js';

/** The part of the native Firewall the connections side uses. */
export interface ConnectionsFirewall {
  readFlows(): Promise<Buffer>;
  bindApps(change: AppBindingChange): Promise<void>;
}

export interface Connections {
  pipeline: ConnectionPipeline;
  identities: AppIdentities;
  names: DnsNames;
  dns: DnsObserver;
  domains: DomainRuleAddresses;
  tracker: FlowTracker;
  store: FlowsStore;
  dnsStatus(): DnsStatus;
  /** Stops the timers and writes the flows not yet written. */
  stop(): Promise<void>;
}

/** New apps are bound in the kernel in batches, not one call per process. */
const BIND_BATCH_MS = 200;
const MIN_REFRESH_GAP_MS = 250;
const EXPIRY_CHECK_MS = 5000;

export function startConnections(options: {
  db: Db;
  engine: RulesEngine;
  firewall: ConnectionsFirewall;
  cgroupRoot: string | null;
  log(message: string): void;
}): Connections {
  const { db, engine, firewall, log } = options;
  const names = new DnsNames();
  const domains = new DomainRuleAddresses(names);
  const identities = new AppIdentities(db, engine.apps, new DesktopEntries(), { cgroupRoot: options.cgroupRoot });
  // Desktop scopes and services seen for apps are bound by cgroup id, with every other binding.
  engine.registry.addCgroupSource((only) =>
    identities.cgroupBindings().filter((binding) => !only || only.has(binding.appId)),
  );
  const tracker = new FlowTracker();
  const store = new FlowsStore(db);

  // Domain rules: their addresses are compiled with the stored rules; a newly resolved address re-applies them.
  const domainApplies = coalesced(
    () => engine.refresh().catch((error: Error) => log(`applying domain rule addresses failed: ${error.message}`)),
    MIN_REFRESH_GAP_MS,
  );
  const refreshDomains = () => domainApplies.request();
  // Called inside each rule change's transaction, so a new domain rule's addresses go to the kernel with it.
  engine.addRuleSource((now) => {
    domains.setRules(engine.rules.domainRules(), now);
    domains.expire(now);
    return domains.addressRules();
  });
  const expiry = setInterval(() => {
    if (domains.expire(Date.now())) refreshDomains();
  }, EXPIRY_CHECK_MS);
  expiry.unref();

  // Binding runs in the background of the timers below: a failure is logged, not thrown.
  const bind = (what: string, change: () => AppBindingChange) => {
    Promise.resolve()
      .then(() => firewall.bindApps(change()))
      .catch((error: Error) => log(`${what} failed: ${error.message}`));
  };

  // Apps found by classification are bound in the kernel, so their children and later execs are tagged there.
  let pendingApps: App[] = [];
  let bindTimer: NodeJS.Timeout | null = null;
  identities.onNewApp((app) => {
    pendingApps.push(app);
    bindTimer ??= setTimeout(() => {
      bindTimer = null;
      const apps = pendingApps;
      pendingApps = [];
      bind('binding new apps in the kernel', () => ({ add: engine.registry.bindings(new Set(apps.map((a) => a.id))) }));
    }, BIND_BATCH_MS);
  });

  // A known executable's process without the kernel's app id: bind its current file and the process
  // (after an update the new inode is what new processes exec).
  let unbound: UnboundProcess[] = [];
  let unboundTimer: NodeJS.Timeout | null = null;
  identities.onUnboundProcess((process) => {
    if (unbound.length < 1000) unbound.push(process);
    unboundTimer ??= setTimeout(() => {
      unboundTimer = null;
      const batch = unbound;
      unbound = [];
      const executables = batch.flatMap(({ file, appId }) => (file ? [{ ...file, appId }] : []));
      bind('binding processes in the kernel', () => ({
        add: { executables, processes: batch.map(({ tgid, appId }) => ({ tgid, appId })) },
      }));
    }, BIND_BATCH_MS);
  });

  const dns = new DnsObserver(names, (resolved) => {
    if (domains.learn(resolved)) refreshDomains();
  });
  const pipeline = new ConnectionPipeline({
    identities,
    names,
    dns,
    tracker,
    store,
    log,
    readTotalRecords: () => firewall.readFlows(),
    retentionDays: () => engine.settings.get().retentionDays,
  });
  pipeline.start();

  return {
    pipeline,
    identities,
    names,
    dns,
    domains,
    tracker,
    store,
    dnsStatus: () => ({
      queries: dns.counts.queries,
      answersLearned: dns.counts.answersLearned,
      answersIgnored: dns.counts.answersUnmatched,
      pendingQueries: dns.pending.size,
      domainAddresses: domains.size,
      domainApplies: domainApplies.runs,
    }),
    async stop() {
      clearInterval(expiry);
      domainApplies.stop();
      if (bindTimer) clearTimeout(bindTimer);
      if (unboundTimer) clearTimeout(unboundTimer);
      await pipeline.stop();
    },
  };
}

/**
 * Runs `run` on request, coalesced: each run compiles the whole ruleset, so a burst of answers
 * costs one, runs never overlap, and they are at least `gapMs` apart. The first request after a
 * quiet spell runs at once (an app connects right after its answer).
 */
function coalesced(run: () => Promise<void>, gapMs: number): { request(): void; stop(): void; readonly runs: number } {
  let timer: NodeJS.Timeout | null = null;
  let running = false;
  let requested = false;
  let lastStart = -Infinity;
  let runs = 0;
  const schedule = () => {
    if (timer || running || !requested) return;
    timer = setTimeout(
      () => {
        timer = null;
        requested = false;
        running = true;
        lastStart = Date.now();
        runs++;
        void run().finally(() => {
          running = false;
          schedule();
        });
      },
      Math.max(0, lastStart + gapMs - Date.now()),
    );
  };
  return {
    request() {
      requested = true;
      schedule();
    },
    stop() {
      if (timer) clearTimeout(timer);
      timer = null;
      requested = false;
    },
    get runs() {
      return runs;
    },
  };
}
