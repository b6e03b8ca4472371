// The helper's life: resolve paths, open the store, open (adopt or load) the firewall, make the
// kernel match the store, serve the socket; on SIGTERM/SIGINT close everything but leave the
// pinned programs enforcing (a stopped helper must not open the firewall).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Socket } from 'node:net';
import { formatIp, PortcullisError } from '../contract/index.js';
import { findBpffsMounts, findCgroup2Mount } from '../common/cgroup2.js';
import { productVersion } from '../common/version.js';
import { Firewall, peerCredentials, probeKernel, trimNativeHeap } from '../../native/index.js';
import { resolveHelperConfig, type HelperPaths } from './config.js';
import { openDatabase } from './store/database.js';
import { KeyValueStore } from './store/key-value-store.js';
import { RulesEngine } from './engine.js';
import { DEFAULT_ENFORCEMENT, Enforcement, type EnforcementState } from './enforcement.js';
import { EventFanout } from './event-fanout.js';
import { startConnections } from './flows/connections-service.js';
import { startQuietCompaction } from './flows/quiet-compaction.js';
import { RpcServer } from './rpc/server.js';
import { createHandlers } from './handlers/index.js';
import { buildStatus } from './status.js';
import { AskService } from './ask/ask-service.js';
import type { HeldConnection } from './ask/question-book.js';
import type { DecisionEvent } from '../../native/api.js';
import { DEFAULT_UNTIL_QUIT, UntilQuit, type UntilQuitState } from './ask/until-quit.js';
import { log } from './log.js';

export async function runHelper(flags: Partial<HelperPaths>): Promise<number> {
  const startedAt = Date.now();
  const config = resolveHelperConfig({ flags, env: process.env });
  if (config.usesDefaultBpffs) ensureSystemBpffs(dirname(config.bpffs));
  mkdirSync(config.bpffs, { recursive: true, mode: 0o700 });

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

  const fanout = new EventFanout({ log });
  const engine = new RulesEngine(db, firewall, log);
  const enforcementStore = new KeyValueStore<EnforcementState>(db, 'helper_state', DEFAULT_ENFORCEMENT);
  // Made once the connections side is up (it names apps and hosts); enforcement may change before.
  const late: { asks?: AskService } = {};
  let status = () =>
    buildStatus({
      version: productVersion(),
      startedAt,
      features,
      attach,
      engine,
      enforcement,
      fanout,
      pendingPrompts: () => late.asks?.pending ?? 0,
    });
  const enforcement = new Enforcement(
    enforcementStore,
    firewall,
    (state) => {
      late.asks?.enforcementChanged(state.enforcing);
      fanout.broadcast('status.changed', status());
    },
    log,
  );
  const attach = { cgroup: config.cgroup, pinDir: config.bpffs, adopted: firewall.adopted };
  engine.onRulesChanged((ruleCount) => fanout.broadcast('rules.changed', { ruleCount }));

  await engine.start();
  await enforcement.start();

  // Apps, DNS names and flows: every kernel batch is enriched and aggregated on its way to the fan-out.
  const connections = startConnections({ db, engine, firewall, cgroupRoot: findCgroup2Mount(), log });
  // Ask mode: questions for what no rule decides (the kernel holds it meanwhile).
  const decoding = { formatV6: (bytes: Uint8Array) => formatIp({ family: 6, bytes }) };
  const untilQuit = new UntilQuit(
    new KeyValueStore<UntilQuitState>(db, 'helper_state', DEFAULT_UNTIL_QUIT),
    (ids) => engine.removeRules(ids),
    log,
  );
  const ask = new AskService({
    firewall,
    settings: () => engine.settings.get(),
    addRules: (drafts) => engine.addRules(drafts),
    app: (appId) => engine.apps.get(appId),
    appIdOf: (owner) => connections.identities.appIdOf(owner),
    nameOf: (address, now) => connections.names.nameOf(address, now),
    untilQuit,
    decoding,
    log,
    onRefused: (held) => fanout.publish(connections.pipeline.process(held.map(refusedEvent))),
  });
  late.asks = ask;
  engine.onRulesChanged(() => ask.rulesChanged());
  const subscription = firewall.subscribe((events, drops) => {
    fanout.noteDropped(Number(drops));
    ask.noteEvents(events);
    fanout.publish(connections.pipeline.process(events));
  }, decoding);
  await ask.start();
  const stopCompaction = startQuietCompaction({
    work: () => connections.pipeline.eventsProcessed + connections.pipeline.rowsWritten,
    trimNativeHeap,
    log,
  });

  const authorizedUids = (): Set<number> =>
    new Set([
      0,
      ...(config.authorizingUid !== null ? [config.authorizingUid] : []),
      ...engine.settings.get().authorizedUsers,
    ]);
  const services = {
    engine,
    enforcement,
    fanout,
    connections,
    asks: ask,
    askUnavailable: features.hold.mechanism === null ? features.hold.detail : null,
    log,
    status: () => status(),
    settingsChanged: () => server.dropUnauthorized(),
  };
  const server: RpcServer = await RpcServer.listen({
    socketPath: config.socket,
    handlers: createHandlers(services),
    version: productVersion(),
    peerOf: (socket: Socket) => peerCredentials(socketFd(socket)),
    isAuthorized: (uid) => authorizedUids().has(uid),
    log,
  });
  log(
    `ready: serving ${config.socket}, ${engine.rules.count()} rule(s), enforcement ${enforcement.state.enforcing ? 'on' : 'off'}, ask mode's hold: ${features.hold.mechanism ?? 'unavailable'}`,
  );

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log(`${signal}: stopping; the pinned programs keep enforcing`);
  status = () => {
    throw new PortcullisError('unavailable', 'the helper is stopping');
  };
  await server.close();
  await ask.stop(); // nobody asks while the helper is away: undecided connects are refused
  subscription.close();
  stopCompaction();
  await connections.stop(); // writes the flows not yet written
  fanout.close();
  engine.stop();
  enforcement.stop();
  await firewall.close(); // closes our fds only; links and maps stay pinned
  db.close();
  return 0;
}

/** A held connection that was refused, as the decision event the connections side records. */
function refusedEvent(held: HeldConnection): DecisionEvent {
  return {
    kind: 'connect',
    timeNs: process.hrtime.bigint(),
    tgid: held.pid,
    uid: 0,
    comm: held.comm,
    cgroupId: 0n,
    appId: held.appId,
    socketCookie: held.ref.cookie,
    family: held.ref.family,
    protocol: held.protocol,
    direction: 'out',
    localAddr: held.ref.family === 4 ? '0.0.0.0' : '::',
    localPort: 0,
    remoteAddr: held.remoteAddr,
    remotePort: held.remotePort,
    verdict: 'block',
    ruleId: 0,
    bytesOut: 0n,
    bytesIn: 0n,
    packetsOut: 0n,
    packetsIn: 0n,
  };
}

/** The default pin directory needs the system bpffs at /sys/fs/bpf; mount it if it is missing. */
function ensureSystemBpffs(mountPoint: string): void {
  if (findBpffsMounts().includes(mountPoint)) return;
  log(`mounting bpffs on ${mountPoint}`);
  execFileSync('mount', ['-t', 'bpf', 'bpf', mountPoint]);
}

/** The file descriptor under a connected unix socket (for SO_PEERCRED). */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor');
  return fd;
}
