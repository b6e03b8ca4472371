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
  eventually,
  hasHost,
  sleep,
  startApp,
  startAskHelper,
  startCurl,
  startWebServer,
  urlOf,
  waitForPrompt,
} from './ask-rig.js';
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
      const { helper, client } = await startAskHelper(sandbox);
      const host = sandbox.makeTestHost(1);
      await startWebServer(sandbox, host, WEB_PORT);
      const curl = copyApp(sandbox, '/usr/bin/curl', 'fetcher');

      const v4 = startCurl(sandbox, helper.paths.cgroup, urlOf(host.peer4, WEB_PORT), curl);
      const v6 = startCurl(sandbox, helper.paths.cgroup, urlOf(host.peer6, WEB_PORT), curl);
      const prompt = await waitForPrompt(
        client,
        (p) => hasHost(host.peer4)(p) && hasHost(host.peer6)(p),
        'for both hosts, in one question',
      );
      assert.equal(prompt.appName, 'fetcher');
      assert.equal(prompt.hosts.length, 2);
      assert.deepEqual(
        prompt.hosts.map((h) => h.ports),
        [[WEB_PORT], [WEB_PORT]],
      );
      assert.equal((await client.call('prompts.list')).length, 1, 'one app, one question');

      await sleep(5000);
      assert.ok(!v4.exited() && !v6.exited(), 'both still waiting after 5 s');

      const allowed = await client.call('prompts.answer', { id: prompt.id, action: 'allow', host: host.peer4 });
      assert.deepEqual(allowed, { ruleIds: [], decided: 1 });
      const ok = await v4.done;
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, BODY);

      const left = await waitForPrompt(client, hasHost(host.peer6), 'still for the v6 host');
      assert.equal(left.hosts.length, 1, 'the answered host left the question');
      const deniedAt = Date.now();
      const denied = await client.call('prompts.answer', { id: prompt.id, action: 'deny', host: host.peer6 });
      assert.equal(denied.decided, 1);
      const refused = await v6.done;
      assert.equal(refused.code, CURL_COULDNT_CONNECT);
      assert.match(refused.stderr, REFUSED);
      assert.ok(Date.now() - deniedAt < 1000, `refused ${Date.now() - deniedAt} ms after the answer`);
      assert.deepEqual(await client.call('prompts.list'), []);
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
      await waitForPrompt(client, hasHost(host.peer6), 'for the v6 host');
      const result = await curl.done;
      assert.equal(result.code, CURL_COULDNT_CONNECT, result.stderr);
      assert.match(result.stderr, REFUSED);
      assert.ok(result.ms >= 4500 && result.ms < 8000, `the timeout action came after ${result.ms} ms`);
      assert.deepEqual(await client.call('prompts.list'), []);
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

      // The helper answers status while the burst arrives.
      const statusMs: number[] = [];
      const prompts = await eventually(
        async () => {
          const started = performance.now();
          await client.call('status');
          statusMs.push(performance.now() - started);
          return client.call('prompts.list');
        },
        (list) => list.length === 50 && list.reduce((n, p) => n + p.hosts.reduce((m, h) => m + h.held, 0), 0) === 1000,
        '50 questions holding 1,000 connections',
        60_000,
      );
      assert.equal(new Set(prompts.map((p) => p.appName)).size, 50);
      assert.ok(prompts.every((p) => p.hosts.length === 10));
      assert.ok(Math.max(...statusMs) < 2000, `status took up to ${Math.max(...statusMs).toFixed(0)} ms`);
      const status = await client.call('status');
      assert.equal(status.pendingPrompts, 50);

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
        assert.deepEqual(counts, { connected: 0, refused: 20, eperm: 0, other: 0, pending: 0 });
      }
      assert.equal(listener.accepted(), 0, 'no held connection got through');
      assert.deepEqual(await client.call('prompts.list'), []);
    }),
  ),
);
