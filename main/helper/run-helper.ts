// The helper's life: resolve paths, open the store, open (adopt or load) the firewall, make the
// kernel match the store, serve the socket; on SIGTERM/SIGINT close everything but leave the
// pinned programs enforcing (a stopped helper must not open the firewall).
import type { Socket } from 'node:net';
import { formatIp, PortcullisError } from '../contract/index.js';
import { findBpffsMounts, findCgroup2Mount } from '../common/cgroup2.js';
import { productVersion } from '../common/version.js';
import { Firewall, peerCredentials, probeKernel, trimNativeHeap } from '../../native/index.js';
import { resolveHelperConfig, type HelperConfig, type HelperFlags } from './config.js';
import { preparePinDir } from './pin-dir.js';
import { openDatabase } from './store/database.js';
import { KeyValueStore } from './store/key-value-store.js';
import { RulesEngine } from './engine.js';
import { DesktopEntries } from './apps/desktop-entries.js';
import { DEFAULT_ENFORCEMENT, Enforcement, type EnforcementState } from './enforcement.js';
import { EventFanout } from './event-fanout.js';
import { startConnections, type Connections } from './flows/connections-service.js';
import { startQuietCompaction } from './flows/quiet-compaction.js';
import { RpcServer } from './rpc/server.js';
import { createHandlers } from './handlers/index.js';
import { ImportSessions } from './lists/import-sessions.js';
import { Subscriptions } from './lists/subscriptions.js';
import { PolicyFiles } from './policy/policy-files.js';
import { buildStatus } from './status.js';
import { describeKernelFeatures } from './kernel-features.js';
import { Authority } from './authority/authority.js';
import { MANAGE_ACTION_ID } from '../common/install-layout.js';
import { startAsk } from './ask/start-ask.js';
import type { AskService } from './ask/ask-service.js';
import { log } from './log.js';
import { MetricsServer } from './metrics/server.js';
import { takeSnapshot } from './metrics/snapshot.js';
import { renderMetrics } from './metrics/render.js';
import { describeEndpoint } from './metrics/endpoint.js';

/** The metrics page once the helper can say what it holds; null while starting and stopping. */
type MetricsPage = (() => Promise<string>) | null;

export async function runHelper(flags: HelperFlags): Promise<number> {
  const startedAt = Date.now();
  const config = resolveHelperConfig({ flags, env: process.env });
  // Opt-in (helper.conf). Bound before anything is loaded, so a taken port or a bad socket directory
  // stops the start at once, with nothing to undo.
  let page: MetricsPage = null;
  const metrics = config.metrics
    ? await MetricsServer.listen({
        endpoint: config.metrics.endpoint,
        render: () =>
          page ? page() : Promise.reject(new PortcullisError('unavailable', 'the helper is starting or stopping')),
        log,
      })
    : null;
  if (config.metrics) log(`metrics: serving ${describeEndpoint(config.metrics.endpoint)}`);
  try {
    return await serve(config, startedAt, (next) => {
      page = next;
    });
  } finally {
    await metrics?.close();
  }
}

async function serve(
  config: HelperConfig,
  startedAt: number,
  setMetricsPage: (page: MetricsPage) => void,
): Promise<number> {
  preparePinDir(config.bpffs, log);

  const features = await probeKernel({
    bpffs: config.bpffs,
    cgroup2Mount: findCgroup2Mount(),
    bpffsMounts: findBpffsMounts(),
  });
  const db = openDatabase(config.stateDir);
  const firewall = await Firewall.open({ cgroup: config.cgroup, pinDir: config.bpffs });
  log(
    `${firewall.adopted ? 'adopted pinned programs' : 'loaded and attached programs'} on ${config.cgroup} (pins in ${config.bpffs})`,
  );
  if (firewall.replaced !== null)
    log(
      `the pins were made by a build whose maps differ (${firewall.replaced}): this build's programs run beside its, which enforce until the rules are in these`,
    );
  const kernelFeatures = describeKernelFeatures(features, firewall.fastPath);
  for (const feature of kernelFeatures.filter((f) => f.reduced))
    log(`${feature.label}: ${feature.form}: ${feature.why}`);

  const fanout = new EventFanout({ log });
  const desktop = new DesktopEntries();
  const engine = new RulesEngine(db, firewall, log, desktop);
  const enforcementStore = new KeyValueStore<EnforcementState>(db, 'helper_state', DEFAULT_ENFORCEMENT);
  // Set once the connections side runs (status may be asked for while enforcement starts, before).
  let connections: Connections | null = null;
  // Likewise ask mode, which needs the connections side to name apps and hosts.
  let asks: AskService | null = null;
  const policy = new PolicyFiles(engine, config.policyDir, log);
  let status = () =>
    buildStatus({
      version: productVersion(),
      startedAt,
      features,
      kernelFeatures,
      attach,
      engine,
      enforcement,
      fanout,
      dns: () => connections?.dnsStatus() ?? null,
      pendingPrompts: () => asks?.pending ?? 0,
      policy: () => policy.status(),
    });
  const enforcement = new Enforcement(
    enforcementStore,
    firewall,
    (state) => {
      asks?.enforcementChanged(state.enforcing);
      fanout.broadcast('status.changed', status());
    },
    log,
  );
  const attach = { cgroup: config.cgroup, pinDir: config.bpffs, adopted: firewall.adopted };
  engine.onRulesChanged((ruleCount) => fanout.broadcast('rules.changed', { ruleCount }));

  await engine.start();
  await enforcement.start();
  // Root's policy is in force before any client is served.
  await policy.start();
  // Only now may the programs of a build replaced go (also after a takeover a helper did not finish).
  const { retired, left } = await firewall.retireOldBuild();
  if (retired > 0)
    log(`retired the replaced build's programs (${retired} link(s)): this build's enforce the rules alone`);
  // Not a reason to stop serving: these programs run beside this build's, and the next start tries again.
  for (const entry of left) log(`could not retire ${entry}; it stays, and the next start tries again`);

  // Apps, DNS names and flows: every kernel batch is enriched and aggregated on its way to the fan-out.
  const started = startConnections({ db, engine, firewall, cgroupRoot: findCgroup2Mount(), desktop, log });
  connections = started;
  // Ask mode: questions for what no rule decides (the kernel holds it meanwhile).
  const decoding = { formatV6: (bytes: Uint8Array) => formatIp({ family: 6, bytes }) };
  const ask = startAsk({ db, engine, firewall, connections: started, fanout, decoding, log });
  asks = ask;
  const subscription = firewall.subscribe((events, drops) => {
    fanout.noteDropped(Number(drops));
    // The pipeline first: it learns the names of DNS answers in this batch, and a connect held
    // right after its lookup often arrives in the same batch as the answer that named it.
    fanout.publish(started.pipeline.process(events));
    ask.noteEvents(events);
  }, decoding);
  await ask.start();
  const stopCompaction = startQuietCompaction({
    work: () => started.pipeline.eventsProcessed + started.pipeline.rowsWritten,
    trimNativeHeap,
    log,
  });

  const authorizedUids = (): Set<number> =>
    new Set([
      0,
      ...(config.authorizingUid !== null ? [config.authorizingUid] : []),
      ...engine.settings.get().authorizedUsers,
    ]);
  const imports = new ImportSessions(engine);
  const subscriptions = new Subscriptions(engine, log);
  subscriptions.start();
  const authority = new Authority({ actionId: MANAGE_ACTION_ID, log });
  const services = {
    engine,
    imports,
    subscriptions,
    enforcement,
    fanout,
    connections: started,
    authority,
    asks: ask,
    askUnavailable: features.hold.mechanism === null ? features.hold.detail : null,
    log,
    status: () => status(),
    settingsChanged: () => {
      server.dropUnauthorized();
      // The mode shown beside enforcement is the default action: clients that keep a status hear it.
      fanout.broadcast('status.changed', status());
    },
  };
  const server: RpcServer = await RpcServer.listen({
    socketPath: config.socket,
    handlers: createHandlers(services),
    version: productVersion(),
    peerOf: (socket: Socket) => {
      const peer = peerCredentials(socketFd(socket));
      authority.notePeer(socket, peer); // now, before its process could exit and its pid be reused
      return peer;
    },
    isAuthorized: (uid) => authorizedUids().has(uid),
    log,
  });
  const topApps = config.metrics?.topApps ?? 0;
  setMetricsPage(async () =>
    renderMetrics(
      await takeSnapshot({
        version: productVersion(),
        startedAtMs: startedAt,
        topApps,
        engine,
        enforcement,
        fanout,
        readCounters: () => firewall.readCounters(),
        appTraffic: () => started.appTraffic,
      }),
    ),
  );
  log(
    `ready: serving ${config.socket}, ${engine.rules.count()} rule(s), enforcement ${enforcement.state.enforcing ? 'on' : 'off'}, ask mode's hold: ${features.hold.mechanism ?? 'unavailable'}`,
  );

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log(`${signal}: stopping; the pinned programs keep enforcing`);
  setMetricsPage(null);
  status = () => {
    throw new PortcullisError('unavailable', 'the helper is stopping');
  };
  await server.close();
  await ask.stop(); // nobody asks while the helper is away: undecided connects are refused
  subscription.close();
  stopCompaction();
  await started.stop(); // writes the flows not yet written
  fanout.close();
  imports.stop();
  subscriptions.stop();
  policy.stop();
  engine.stop();
  enforcement.stop();
  await firewall.close(); // closes our fds only; links and maps stay pinned
  db.close();
  return 0;
}

/** The file descriptor under a connected unix socket (for SO_PEERCRED). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
  return fd;
}
