// Builds the connections side of the helper in one place: app identities, DNS names, domain rules,
// flow tracking and history. The helper calls startConnections() once and passes each kernel
// batch through `pipeline.process` on its way to the fan-out.
import type { DnsStatus } from '../../contract/index.js';
import type { AppBindingChange, AppBindings, EventDecoding } from '../../../native/api.js';
import { decodeTallyRecords, tallyFlowOfRecord } from '../../../native/tally-layout.js';
import { formatIp } from '../../contract/net.js';
import type { Db } from '../store/database.js';
import type { RulesEngine } from '../engine.js';
import { AppIdentities } from '../apps/app-identities.js';
import type { DesktopLookup } from '../apps/desktop-entries.js';
import { DnsNames } from '../dns/dns-names.js';
import { DomainRuleAddresses } from '../dns/domain-rules.js';
import { DnsObserver } from '../dns/dns-observer.js';
import { FlowTracker } from './flow-tracker.js';
import { FlowsStore } from './flows-store.js';
import { ConnectionPipeline } from './connection-pipeline.js';
import { FlowPages } from './flow-pages.js';
import { AppTraffic } from './app-traffic.js';

/** The part of the native Firewall the connections side uses. */
export interface ConnectionsFirewall {
  readFlows(): Promise<Buffer>;
  drainTally(): Promise<Buffer>;
  bindApps(change: AppBindingChange): Promise<void>;
}

export interface Connections {
  pipeline: ConnectionPipeline;
  /** connections.page: the pipeline's lists in pages. */
  pages: FlowPages;
  identities: AppIdentities;
  names: DnsNames;
  dns: DnsObserver;
  domains: DomainRuleAddresses;
  tracker: FlowTracker;
  store: FlowsStore;
  /** Per-app totals since the helper started. */
  appTraffic: AppTraffic;
  dnsStatus(): DnsStatus;
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
  const appTraffic = new AppTraffic();

  // Domain rules: their addresses are compiled with the stored rules; a newly resolved address re-applies them.
  const domainApplies = coalesced(
    () => engine.refresh().catch((error: Error) => log(`applying domain rule addresses failed: ${error.message}`)),
    MIN_REFRESH_GAP_MS,
  );
  const refreshDomains = () => domainApplies.request();
  // Called inside each rule change's transaction, so a new domain rule's addresses go to the kernel with it.
  engine.addRuleSource((now) => {
    domains.setRules(engine.domainRules(), now);
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

  const dns = new DnsObserver(names, (resolved) => {
    if (domains.learn(resolved)) refreshDomains();
  });
  const decoding: EventDecoding = { formatV6: (bytes) => formatIp({ family: 6, bytes }) };
  const pipeline = new ConnectionPipeline({
    identities,
    names,
    dns,
    tracker,
    store,
    log,
    readTotalRecords: () => firewall.readFlows(),
    tallyFlowOf: (records, at) => tallyFlowOfRecord(records, at, decoding),
    drainTally: async () => decodeTallyRecords(await firewall.drainTally(), decoding),
    retentionDays: () => engine.settings.get().retentionDays,
    appTraffic,
  });
  pipeline.start();

  return {
    pipeline,
    pages: new FlowPages((query) => pipeline.list(query)),
    identities,
    names,
    dns,
    domains,
    tracker,
    store,
    appTraffic,
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
      if (appsTimer) clearTimeout(appsTimer);
      if (pendingTimer) clearTimeout(pendingTimer);
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
