// Builds ask mode's side of the helper in one place: the service, the store its until-quit answers
// live in, and its links to the rules engine, app identities, DNS names and connection history.
import type { DecisionEvent, EventDecoding } from '../../../native/api.js';
import type { Db } from '../store/database.js';
import { KeyValueStore } from '../store/key-value-store.js';
import type { RulesEngine } from '../engine.js';
import type { EventFanout } from '../event-fanout.js';
import type { Connections } from '../flows/connections-service.js';
import { AskService, type AskFirewall } from './ask-service.js';
import type { HeldConnection } from './question-book.js';
import { DEFAULT_UNTIL_QUIT, UntilQuit, type UntilQuitState } from './until-quit.js';

export function startAsk(options: {
  db: Db;
  engine: RulesEngine;
  firewall: AskFirewall;
  connections: Connections;
  fanout: EventFanout;
  decoding: EventDecoding;
  log(message: string): void;
}): AskService {
  const { db, engine, connections, fanout, log } = options;
  const untilQuit = new UntilQuit(
    new KeyValueStore<UntilQuitState>(db, 'helper_state', DEFAULT_UNTIL_QUIT),
    (ids) => engine.removeRules(ids),
    log,
  );
  const asks = new AskService({
    firewall: options.firewall,
    settings: () => engine.settings.get(),
    addRules: (drafts) => engine.addRules(drafts),
    app: (appId) => engine.apps.get(appId),
    appIdOf: (owner) => connections.identities.appIdOf(owner),
    nameOf: (address, now) => connections.names.nameOf(address, now),
    untilQuit,
    decoding: options.decoding,
    log,
    onRefused: (held) => fanout.publish(connections.pipeline.process(held.map(refusedEvent))),
  });
  engine.onRulesChanged(() => asks.rulesChanged());
  return asks;
}

/** A held connection that was refused, as the decision event the connections side records. */
function refusedEvent(held: HeldConnection): DecisionEvent {
  return {
    kind: 'connect',
    timeNs: process.hrtime.bigint(),
    tgid: held.pid,
    uid: held.uid,
    comm: held.comm,
    cgroupId: 0n,
    exe: held.exe,
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
