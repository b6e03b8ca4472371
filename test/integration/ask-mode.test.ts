// Ask mode end to end with the real helper and real apps in the test cgroup: held curl connects
// (v4, v6) wait, an allow through the RPC completes them with their body, a deny refuses, an
// unanswered one gets the timeout action at the configured time; a held UDP flow delivers nothing
// until allowed; 50 apps opening 1,000 held connections make 50 questions while the helper keeps
// answering, and nothing gets through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import {
  BODY,
  REFUSED,
  SYSTEM_PYTHON,
  buildConnectsApp,
  copyApp,
  hasHost,
  sleep,
  startApp,
  startAskHelper,
  startCurl,
  startWebServer,
  urlOf,
  waitForPrompt,
} from './ask-rig.js';
import { eventually } from '../support/eventually.js';
import { whenHeld } from '../support/hold-support.js';
import { countingListener } from '../support/counting-listener.js';
import { udpRounds, udpRoundsArgv } from '../support/udp-rounds.js';

const WEB_PORT = 8080;
// curl's exit code when it could not connect.
const CURL_COULDNT_CONNECT = 7;

test('switching to ask mode tells subscribed clients the new status (the desktop shows the mode from it)', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const client = await helper.client('ask-status');
    const modes: string[] = [];
    client.on('status.changed', (status) => modes.push(status.defaultAction));
    await client.call('events.subscribe');
    await client.call('settings.update', { patch: { defaultAction: 'ask' } });
    await eventually(
      async () => modes,
      (seen) => seen.includes('ask'),
      'a status.changed notification in ask mode',
    );
  }));

test(
  'held curl (v4 and v6) waits; allow completes it with its body, deny refuses it',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      // A long timeout: a refusal before it is the deny's, never the timeout action's.
      const timeoutSec = 50;
      const { helper, client } = await startAskHelper(sandbox, { timeoutSec });
      const host = sandbox.makeTestHost(1);
      await startWebServer(sandbox, host, WEB_PORT);
      const curl = copyApp(sandbox, '/usr/bin/curl', 'fetcher');

      const v4 = startCurl(sandbox, helper.paths.cgroup, urlOf(host.peer4, WEB_PORT), curl);
      const v6 = startCurl(sandbox, helper.paths.cgroup, urlOf(host.peer6, WEB_PORT), curl);
      const seen = () =>
        `curl v4: ${v4.state()}\ncurl v6: ${v6.state()}\nhelper log (end):\n${helper.logs.slice(-3000)}`;
      const prompt = await waitForPrompt(
        client,
        (p) => hasHost(host.peer4)(p) && hasHost(host.peer6)(p),
        'for both hosts, in one question',
        10_000,
        seen,
      );
      const asked = await client.call('prompts.list');
      assert.equal(asked.length, 1, `one app, one question; the helper asks: ${JSON.stringify(asked)}`);
      assert.equal(prompt.appName, 'fetcher');
      assert.deepEqual(
        prompt.hosts.map((h) => `${h.remoteAddr} port ${h.ports.join(',')}, ${h.held} held`).sort(),
        [host.peer4, host.peer6].map((address) => `${address} port ${WEB_PORT}, 1 held`).sort(),
        'one held connect for each host',
      );

      await sleep(5000);
      assert.ok(!v4.exited() && !v6.exited(), `both still waiting after 5 s\n${seen()}`);

      const allowed = await client.call('prompts.answer', { id: prompt.id, action: 'allow', host: host.peer4 });
      assert.deepEqual(allowed, { ruleIds: [], decided: 1 }, `the allow decided the v4 connect\n${seen()}`);
      const ok = await v4.done;
      assert.equal(ok.code, 0, `curl v4 after the allow: ${v4.state()}`);
      assert.equal(ok.stdout, BODY, 'curl v4 transferred the body');

      const left = await waitForPrompt(client, hasHost(host.peer6), 'still for the v6 host', 10_000, seen);
      assert.deepEqual(
        left.hosts.map((h) => h.remoteAddr),
        [host.peer6],
        'the answered host left the question',
      );
      assert.ok(!v6.exited(), `curl v6 still waits after the v4 answer\n${seen()}`);
      const deniedAt = Date.now();
      const denied = await client.call('prompts.answer', { id: prompt.id, action: 'deny', host: host.peer6 });
      assert.deepEqual(denied, { ruleIds: [], decided: 1 }, `the deny decided the v6 connect, still held\n${seen()}`);
      const refused = await v6.done;
      const refusedAt = Date.now();
      assert.equal(refused.code, CURL_COULDNT_CONNECT, `curl v6 after the deny: ${v6.state()}`);
      assert.match(refused.stderr, REFUSED, 'refused (the answer), not timed out (the end of the kernel hold)');
      // Promptly: long before the timeout action was due (no bound a loaded machine could miss).
      assert.ok(
        refusedAt < left.deadline,
        `refused ${refusedAt - deniedAt} ms after the deny, ${refusedAt - left.deadline} ms past the question's deadline`,
      );
      assert.deepEqual(await client.call('prompts.list'), [], 'no question left');
      assert.deepEqual(await client.call('rules.list'), [], 'answers given once make no rule');
    }),
  ),
);

test(
  'an unanswered question: its connection gets the timeout action (block) at the configured time',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const { helper, client } = await startAskHelper(sandbox, { timeoutSec: 5 });
      const host = sandbox.makeTestHost(1);
      await startWebServer(sandbox, host, WEB_PORT);
      const curl = startCurl(sandbox, helper.paths.cgroup, urlOf(host.peer6, WEB_PORT));
      const prompt = await waitForPrompt(
        client,
        hasHost(host.peer6),
        'for the v6 host',
        10_000,
        () => `curl: ${curl.state()}\nhelper log (end):\n${helper.logs.slice(-3000)}`,
      );
      assert.equal(prompt.deadline - prompt.askedAt, 5000, 'the question is due 5 s after it was asked');
      const result = await curl.done;
      const refusedAt = Date.now();
      assert.equal(result.code, CURL_COULDNT_CONNECT, `curl: ${curl.state()}`);
      // Refused, not timed out: the timeout action came before the kernel's own end of the hold (3 s later).
      assert.match(result.stderr, REFUSED, 'refused by the timeout action');
      assert.ok(refusedAt >= prompt.deadline, `refused ${prompt.deadline - refusedAt} ms before the question was due`);
      // The question went before the kernel refused the connect (ask-service.ts decide()).
      assert.deepEqual(await client.call('prompts.list'), [], 'no question left once the app was refused');
      assert.deepEqual(await client.call('rules.list'), [], 'a timeout is remembered nowhere');
    }),
  ),
);

test(
  'a held UDP flow: nothing delivered before the answer, the next datagrams after allow',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const { helper, client } = await startAskHelper(sandbox);
      const receiver = createSocket('udp4');
      const received: string[] = [];
      receiver.on('message', (message) => received.push(message.toString()));
      await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
      sandbox.defer(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
      const app = copyApp(sandbox, SYSTEM_PYTHON, 'datagrams');
      const sender = startApp(sandbox, helper.paths.cgroup, udpRoundsArgv(app, '127.0.0.1', receiver.address().port));
      const { round, end } = udpRounds(sender.child);

      assert.equal((await round('held')).errors, 0, 'no error while held');
      const prompt = await waitForPrompt(client, hasHost('127.0.0.1'), 'for the UDP flow');
      assert.deepEqual(prompt.hosts[0]!.protocols, ['udp']);
      assert.equal((await round('still-held')).errors, 0);
      await sleep(300);
      assert.deepEqual(received, [], 'nothing delivered before the answer');

      await client.call('prompts.answer', { id: prompt.id, action: 'allow' });
      assert.equal((await round('allowed')).errors, 0);
      await eventually(
        async () => received.length,
        (n) => n >= 5,
        'datagrams after the allow',
      );
      assert.deepEqual(
        received.sort(),
        [0, 1, 2, 3, 4].map((i) => `allowed ${i}`),
      );
      end();
    }),
  ),
);

test(
  '50 apps opening 1,000 held connections: 50 questions, status keeps answering, nothing leaks',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const { helper, client } = await startAskHelper(sandbox, { timeoutSec: 60 });
      const listener = await countingListener(sandbox, '0.0.0.0');
      const { port } = listener;

      const built = buildConnectsApp(sandbox);
      const dir = sandbox.makeTempDir('apps');
      const apps = Array.from({ length: 50 }, (_, i) => {
        const exe = join(dir, `held-app-${String(i).padStart(2, '0')}`);
        copyFileSync(built, exe);
        // 20 connections each, to 10 hosts: 1,000 held at once.
        const targets = Array.from({ length: 10 }, (_, h) => [`127.0.${i + 1}.${h + 1}`, String(port), '2']).flat();
        return startApp(sandbox, helper.paths.cgroup, [exe, '120', ...targets]);
      });

      // The helper answers status while the burst arrives, and its count of questions follows them
      // as they form (how fast it answers is bench/ask.ts's to measure).
      const pending: number[] = [];
      const prompts = await eventually(
        async () => {
          pending.push((await client.call('status')).pendingPrompts ?? -1);
          return client.call('prompts.list');
        },
        (list) => list.length === 50 && list.reduce((n, p) => n + p.hosts.reduce((m, h) => m + h.held, 0), 0) === 1000,
        '50 questions holding 1,000 connections',
        60_000,
      );
      assert.equal(new Set(prompts.map((p) => p.appName)).size, 50);
      assert.ok(prompts.every((p) => p.hosts.length === 10));
      const status = await client.call('status');
      assert.equal(status.pendingPrompts, 50);
      assert.ok(
        pending.every((count, i) => count >= 0 && count <= 50 && (i === 0 || count >= pending[i - 1]!)),
        `status counted the questions as they came, never more nor fewer: ${pending.join(', ')}`,
      );

      // Half the apps quit: their questions go. The rest are denied.
      for (const app of apps.slice(0, 25)) app.child.kill('SIGKILL');
      await eventually(
        async () => (await client.call('prompts.list')).length,
        (n) => n === 25,
        'the quit apps dropped',
      );
      for (const prompt of await client.call('prompts.list'))
        await client.call('prompts.answer', { id: prompt.id, action: 'deny' });
      const outcomes = await Promise.all(apps.slice(25).map((app) => app.done));
      for (const outcome of outcomes) {
        const counts = JSON.parse(outcome.stdout.split('\n').filter(Boolean).pop()!) as Record<string, number>;
        assert.deepEqual(counts, { connected: 0, refused: 20, eperm: 0, timedout: 0, other: 0, pending: 0 });
      }
      assert.equal(listener.accepted(), 0, 'no held connection got through');
      assert.deepEqual(await client.call('prompts.list'), []);
    }),
  ),
);
