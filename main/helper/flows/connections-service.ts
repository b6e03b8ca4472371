// Builds the connections side of the helper in one place: app identities, DNS names, domain rules,
// flow tracking and history. The helper calls startConnections() once and passes each kernel
// batch through `pipeline.process` on its way to the fan-out.
import type { App } from '../../contract/index.js';
import type { AppBindingChange } from '../../../native/api.js';
import type { Db } from '../store/database.js';
import type { RulesEngine } from '../engine.js';
import { AppIdentities, type UnboundProcess } from '../apps/app-identities.js';
import { DesktopEntries } from '../apps/desktop-entries.js';
import { DnsNames } from '../dns/dns-names.js';
import { DomainRuleAddresses } from '../dns/domain-rules.js';
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
  domains: DomainRuleAddresses;
  tracker: FlowTracker;
  store: FlowsStore;
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
  // Each re-apply compiles the whole ruleset, so they are coalesced and spaced: a burst of answers
  // costs one apply, and expiries are checked every few seconds.
  let domainRefresh: NodeJS.Timeout | null = null;
  let lastRefresh = 0;
  const refreshDomains = () => {
    if (domainRefresh) return;
    domainRefresh = setTimeout(
      () => {
        domainRefresh = null;
        lastRefresh = Date.now();
        engine.refresh().catch((error: Error) => log(`applying domain rule addresses failed: ${error.message}`));
      },
      Math.max(0, lastRefresh + MIN_REFRESH_GAP_MS - Date.now()),
    );
  };
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

  const pipeline = new ConnectionPipeline({
    identities,
    names,
    tracker,
    store,
    log,
    readTotalRecords: () => firewall.readFlows(),
    onResolved: (resolved) => {
      if (domains.learn(resolved)) refreshDomains();
    },
    retentionDays: () => engine.settings.get().retentionDays,
  });
  pipeline.start();

  return {
    pipeline,
    identities,
    names,
    domains,
    tracker,
    store,
    async stop() {
      clearInterval(expiry);
      if (domainRefresh) clearTimeout(domainRefresh);
      if (bindTimer) clearTimeout(bindTimer);
      if (unboundTimer) clearTimeout(unboundTimer);
      await pipeline.stop();
    },
  };
}
