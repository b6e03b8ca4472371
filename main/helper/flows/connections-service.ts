// Builds the connections side of the helper in one place: app identities, DNS names, domain rules,
// flow tracking and history. The helper calls startConnections() once and passes each kernel
// batch through `pipeline.process` on its way to the fan-out.
import type { AppBindingChange, AppBindings } from '../../../native/api.js';
import type { Db } from '../store/database.js';
import type { RulesEngine } from '../engine.js';
import { AppIdentities } from '../apps/app-identities.js';
import type { DesktopLookup } from '../apps/desktop-entries.js';
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

/** What classification finds is bound in the kernel in batches, not one call per process. */
const BIND_BATCH_MS = 200;
const MIN_REFRESH_GAP_MS = 250;
const EXPIRY_CHECK_MS = 5000;

export function startConnections(options: {
  db: Db;
  engine: RulesEngine;
  firewall: ConnectionsFirewall;
  cgroupRoot: string | null;
  /** The desktop entries apps are named by (the engine binds desktop apps' programs by the same). */
  desktop: DesktopLookup;
  log(message: string): void;
}): Connections {
  const { db, engine, firewall, log } = options;
  const names = new DnsNames();
  const domains = new DomainRuleAddresses(names);
  const identities = new AppIdentities(db, engine.apps, options.desktop, { cgroupRoot: options.cgroupRoot });
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
  const bind = (what: string, change: () => Promise<void>) => {
    Promise.resolve()
      .then(change)
      .catch((error: Error) => log(`${what} failed: ${error.message}`));
  };

  // Apps classification added: the engine binds their executables, so their children and later
  // execs are theirs in the kernel.
  let appsTimer: NodeJS.Timeout | null = null;
  identities.onNewApp(() => {
    appsTimer ??= setTimeout(() => {
      appsTimer = null;
      bind('binding new apps in the kernel', () => engine.syncApps());
    }, BIND_BATCH_MS);
  });

  // What classification verified (units, own programs) and stale executables' processes.
  const pending: Pick<AppBindings, 'executables' | 'cgroups' | 'processes'> = {
    executables: [],
    cgroups: [],
    processes: [],
  };
  let pendingTimer: NodeJS.Timeout | null = null;
  identities.onBind((found) => {
    if (pending.executables.length + pending.cgroups.length + pending.processes.length >= 3000) return;
    pending.executables.push(...(found.executables ?? []));
    pending.cgroups.push(...(found.cgroups ?? []));
    pending.processes.push(...(found.processes ?? []));
    pendingTimer ??= setTimeout(() => {
      pendingTimer = null;
      const add = { executables: pending.executables, cgroups: pending.cgroups, processes: pending.processes };
      pending.executables = [];
      pending.cgroups = [];
      pending.processes = [];
      bind('binding what classification verified', () => firewall.bindApps({ add }));
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
      if (appsTimer) clearTimeout(appsTimer);
      if (pendingTimer) clearTimeout(pendingTimer);
      await pipeline.stop();
    },
  };
}
