// The helper's ask service on the real kernel (its firewall, holds and events), without the rest of
// the helper: the order in which a question and the kernel learn of a decision, and of a socket
// that is held and closed before the helper reads either event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import type { Prompt, Settings } from '../../main/contract/index.js';
import type { HoldAnswer } from '../../native/api.js';
import { AskService, type AskFirewall } from '../../main/helper/ask/ask-service.js';
import { DEFAULT_UNTIL_QUIT, UntilQuit, type UntilQuitState } from '../../main/helper/ask/until-quit.js';
import { openDatabase } from '../../main/helper/store/database.js';
import { KeyValueStore } from '../../main/helper/store/key-value-store.js';
import { formatIp } from '../../main/contract/net.js';
import { withSandbox } from '../support/sandbox.js';
import { eventually } from '../support/eventually.js';
import { whenHeld } from '../support/hold-support.js';
import { EventCollector } from './event-collector.js';
import { eventDecoding, openFixture, type KernelFixture } from './kernel-fixture.js';

/** Every held connection in these tests is one app's (the kernel knows no app here). */
const APP_ID = 1;

interface AskRig {
  asks: AskService;
  /** Set by a test: runs after the kernel has an answer, before the service hears it was sent. */
  hooks: { afterAnswer: ((answers: readonly HoldAnswer[]) => Promise<void>) | null };
  log: string[];
}

/** An ask service on the fixture's firewall, in ask mode with this timeout; its kernel answers can be observed. */
async function startAskService(fixture: KernelFixture, askTimeoutSec: number): Promise<AskRig> {
  const kernel = fixture.firewall;
  await kernel.setRules([], { global: 'ask', perApp: new Map() });
  const db = openDatabase(fixture.sandbox.makeTempDir('ask-state'));
  fixture.sandbox.defer(() => {
    db.close();
  });
  const log: string[] = [];
  const settings: Settings = {
    defaultAction: 'ask',
    retentionDays: 30,
    authorizedUsers: [],
    notifyOnFirstBlock: false,
    askTimeoutSec,
    askTimeoutAction: 'block',
  };
  const hooks: AskRig['hooks'] = { afterAnswer: null };
  const firewall: AskFirewall = {
    setAsk: (options) => kernel.setAsk(options),
    readHolds: (decoding) => kernel.readHolds(decoding),
    forgetHolds: (refs) => kernel.forgetHolds(refs),
    decideFlows: (queries) => kernel.decideFlows(queries),
    async answerHolds(answers) {
      const outcomes = await kernel.answerHolds(answers);
      await hooks.afterAnswer?.(answers);
      return outcomes;
    },
  };
  const asks = new AskService({
    firewall,
    settings: () => settings,
    addRules: () => Promise.reject(new Error('these tests answer once: no rules')),
    app: () => ({ name: 'test app', exe: null }),
    appIdOf: (owner) => owner.appId || APP_ID,
    nameOf: () => null,
    untilQuit: new UntilQuit(
      new KeyValueStore<UntilQuitState>(db, 'helper_state', DEFAULT_UNTIL_QUIT),
      () => Promise.resolve([]),
      (line) => log.push(line),
    ),
    decoding: eventDecoding,
    log: (line) => log.push(line),
  });
  await asks.start();
  fixture.sandbox.defer(() => asks.stop());
  return { asks, hooks, log };
}

/** A TCP listener outside the cgroup (in this process), closed on cleanup. */
async function listen(fixture: KernelFixture): Promise<number> {
  const server = createServer((socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  fixture.sandbox.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

interface Curl {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
}

function startCurl(fixture: KernelFixture, url: string): Curl {
  const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, ['curl', '-sSv', '--max-time', '60', url]);
  let stderr = '';
  child.stdout!.resume();
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr })),
  );
  return { child, done };
}

const addressOf = (answer: HoldAnswer) => formatIp({ family: answer.ref.family, bytes: answer.ref.remote });
const hostsWaiting = (prompts: Prompt[]) => prompts.flatMap((prompt) => prompt.hosts.map((host) => host.remoteAddr));

test(
  'a decided connection has left its question by the time its app sees the answer (a deny, and the timeout action)',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const fixture = await openFixture(sandbox);
      const rig = await startAskService(fixture, 5);
      const subscription = fixture.firewall.subscribe((events) => rig.asks.noteEvents(events), eventDecoding);
      sandbox.defer(() => subscription.close());
      const port = await listen(fixture);
      const curls = new Map([
        ['127.0.0.1', startCurl(fixture, `http://127.0.0.1:${port}/`)],
        ['127.0.0.2', startCurl(fixture, `http://127.0.0.2:${port}/`)],
      ]);
      // What a client asking the service would see once the app has its answer.
      const seenByApp = new Map<string, string[]>();
      rig.hooks.afterAnswer = async (answers) => {
        for (const answer of answers) {
          const curl = curls.get(addressOf(answer));
          if (!curl) continue;
          // Bounded: a refusal that never comes fails below, on curl's own outcome.
          await Promise.race([curl.done, new Promise((resolve) => setTimeout(resolve, 5000))]);
          seenByApp.set(addressOf(answer), hostsWaiting(rig.asks.prompts()));
        }
      };

      const [prompt] = await eventually(
        () => rig.asks.prompts(),
        (prompts) => prompts.length === 1 && prompts[0]!.hosts.length === 2,
        'one question for both held connects',
      );
      const denied = await rig.asks.answer(
        { id: prompt!.id, action: 'block', lifetime: 'once', scope: 'host', host: '127.0.0.1' },
        'test',
      );
      assert.deepEqual(denied, { ruleIds: [], decided: 1 }, 'the deny decided the one held connect');
      const deniedCurl = await curls.get('127.0.0.1')!.done;
      assert.equal(deniedCurl.code, 7, `the denied connect was refused: ${deniedCurl.stderr}`);
      assert.deepEqual(
        seenByApp.get('127.0.0.1'),
        ['127.0.0.2'],
        'once its app was refused, the denied host had left the question (the other still waits)',
      );

      // The other gets the timeout action at its deadline.
      await eventually(() => seenByApp.has('127.0.0.2'), Boolean, 'the timeout action for 127.0.0.2');
      const timedOut = await curls.get('127.0.0.2')!.done;
      assert.equal(timedOut.code, 7, `the unanswered connect got the timeout action (refused): ${timedOut.stderr}`);
      assert.deepEqual(
        seenByApp.get('127.0.0.2'),
        [],
        `once its app was refused by the timeout action, no question was left; log: ${rig.log.join(' | ')}`,
      );
      assert.deepEqual(rig.asks.prompts(), []);
    }),
  ),
);

// A UDP datagram and a non-blocking TCP connect, each socket closed at once: held, then closed.
const HOLD_AND_CLOSE = `
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b'x', (host, port))
u.close()
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setblocking(False)
t.connect_ex((host, port))
t.close()
`;

test(
  'sockets held and closed before the helper reads either event leave no question and no held UDP entry',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const fixture = await openFixture(sandbox);
      const rig = await startAskService(fixture, 30);
      // The service gets the events in one batch, as a helper that read the ring after both came.
      const events = new EventCollector(fixture.firewall);
      sandbox.defer(() => events.stop());
      const port = await listen(fixture);
      const run = sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-c', HOLD_AND_CLOSE, '127.0.0.1', String(port)]);
      const code = await new Promise((resolve) => run.once('close', resolve));
      assert.equal(code, 0, 'the app held and closed its sockets');

      const udpHold = await events.waitFor((e) => e.kind === 'hold' && e.protocol === 'udp', 'UDP hold');
      const tcpHold = await events.waitFor((e) => e.kind === 'hold' && e.protocol === 'tcp', 'TCP hold');
      for (const hold of [udpHold, tcpHold])
        await events.waitFor(
          (e) => e.kind === 'unhold' && e.socketCookie === hold.socketCookie,
          `the close of the ${hold.protocol} socket`,
        );
      const batch = events.events.filter((e) => e.kind === 'hold' || e.kind === 'unhold');
      assert.equal(batch.length, 4, `two holds and two closes: ${batch.map((e) => e.kind).join(', ')}`);
      const udpEntries = async () =>
        (await fixture.firewall.readHolds(eventDecoding)).filter((flow) => flow.ref.cookie === udpHold.socketCookie);
      assert.equal((await udpEntries()).length, 1, 'the kernel keeps a UDP hold until the helper forgets it');

      rig.asks.noteEvents(batch);
      // stop() runs after every step queued before it: the batch has been handled.
      await rig.asks.stop();
      assert.deepEqual(rig.asks.prompts(), [], 'no question is left for sockets already closed');
      assert.deepEqual(await udpEntries(), [], "the closed UDP socket's held flow left the kernel");
      assert.deepEqual(rig.log, []);
    }),
  ),
);
