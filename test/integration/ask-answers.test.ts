// What answers leave behind, with the real helper and real apps: each scope and lifetime makes the
// right rule (or none), and the app's next connection is decided by it without a question; an
// until-quit rule goes when the app quits. A killed helper lets nothing through (held connects
// fail when their hold ends); a restarted helper asks again about what is still held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Flow, Prompt, Rule } from '../../main/contract/index.js';
import { killAndWait, withSandbox } from '../support/sandbox.js';
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
  startTalkingApp,
  startWebServer,
  talkingAppExe,
  urlOf,
  waitForPrompt,
} from './ask-rig.js';
import { eventually } from '../support/eventually.js';
import { whenHeld } from '../support/hold-support.js';
import { countingListener } from '../support/counting-listener.js';

const DNS_SERVER = join(__dirname, 'connections-dns-server.py');
const MINUTE = 60_000;

const forApp = (appName: string) => (prompt: Prompt) => prompt.appName === appName;

test(
  'each answer makes the rule its scope and lifetime say; the next connection is decided without a question',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const { helper, client } = await startAskHelper(sandbox);
      const cgroup = helper.paths.cgroup;
      const host = sandbox.makeTestHost(1);
      await startWebServer(sandbox, host, 8080);
      await startWebServer(sandbox, host, 8081);
      const rulesOf = async (appId: number): Promise<Rule[]> =>
        (await client.call('rules.list')).filter((rule) => rule.appId === appId);
      const noQuestionFrom = async (appName: string) =>
        assert.ok(!(await client.call('prompts.list')).some(forApp(appName)), `no question from ${appName}`);
      /**
       * The kernel decided the app's connect to address:port with the rule itself (its hooks stamp
       * the rule's id on the decision): never held for a question, which no rule id would carry.
       */
      const decidedByRule = async (appId: number, address: string, port: number, rule: Rule) => {
        const flow = await eventually(
          async () =>
            (await client.call('connections.list', { app: appId, remote: address })).find(
              (found) => found.remotePort === port,
            ),
          (found): found is Flow => found !== undefined && found.allowed + found.blocked > 0,
          `the decision on ${address} port ${port}`,
        );
        assert.deepEqual(
          [flow.lastVerdict, flow.lastRuleId, flow.allowed + flow.blocked],
          [rule.action, rule.id, 1],
          `one connect, decided by rule ${rule.id}: ${JSON.stringify(flow)}`,
        );
      };

      // Host, once: no rule; the next connection asks again.
      const onceCurl = copyApp(sandbox, '/usr/bin/curl', 'once-app');
      const first = startCurl(sandbox, cgroup, urlOf(host.peer4, 8080), onceCurl);
      let prompt = await waitForPrompt(client, forApp('once-app'), 'from once-app');
      await client.call('prompts.answer', { id: prompt.id, action: 'allow', lifetime: 'once' });
      assert.equal((await first.done).stdout, BODY);
      assert.deepEqual(await rulesOf(prompt.appId), []);
      const again = startCurl(sandbox, cgroup, urlOf(host.peer4, 8080), onceCurl);
      prompt = await waitForPrompt(client, forApp('once-app'), 'from once-app again');
      await client.call('prompts.answer', { id: prompt.id, action: 'deny' });
      assert.match((await again.done).stderr, REFUSED);

      // Host, 15 minutes (through the RPC): an allow rule for that address that expires; the app's
      // next connection there (another port) passes unasked.
      const hostCurl = copyApp(sandbox, '/usr/bin/curl', 'host-app');
      const held = startCurl(sandbox, cgroup, urlOf(host.peer4, 8080), hostCurl);
      prompt = await waitForPrompt(client, forApp('host-app'), 'from host-app');
      const answeredAt = Date.now();
      const hostAnswer = await client.call('prompts.answer', { id: prompt.id, action: 'allow', for: '15m' });
      assert.equal(hostAnswer.ruleIds.length, 1);
      assert.equal((await held.done).stdout, BODY);
      const [hostRule] = await rulesOf(prompt.appId);
      assert.equal(hostRule!.action, 'allow');
      assert.deepEqual(hostRule!.remote, {
        kind: 'address',
        family: 4,
        text: host.peer4,
        address: host.peer4,
        prefixLen: 32,
      });
      assert.equal(hostRule!.ports, null);
      assert.equal(hostRule!.direction, 'out');
      assert.ok(Math.abs(hostRule!.expiresAt! - (answeredAt + 15 * MINUTE)) < MINUTE, 'expires in 15 minutes');
      const unasked = await startCurl(sandbox, cgroup, urlOf(host.peer4, 8081), hostCurl).done;
      assert.equal(unasked.stdout, BODY);
      await decidedByRule(prompt.appId, host.peer4, 8081, hostRule!);
      await noQuestionFrom('host-app');

      // Host, 1 hour, through the CLI (prompts --json, answer --for 1h --scope host --host ADDR).
      const cliCurl = copyApp(sandbox, '/usr/bin/curl', 'cli-app');
      const cliHeld = startCurl(sandbox, cgroup, urlOf(host.peer6, 8080), cliCurl);
      await waitForPrompt(client, forApp('cli-app'), 'from cli-app');
      const listed = JSON.parse((await helper.cli(['prompts', '--json'])).stdout) as Prompt[];
      const cliPrompt = listed.find(forApp('cli-app'))!;
      const cli = await helper.cli([
        'answer',
        String(cliPrompt.id),
        'allow',
        '--for',
        '1h',
        '--scope',
        'host',
        '--host',
        host.peer6,
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /allowed 1 held connection\(s\); rule\(s\) \d+/);
      assert.equal((await cliHeld.done).stdout, BODY);
      const [cliRule] = await rulesOf(cliPrompt.appId);
      assert.equal(cliRule!.remote.kind === 'address' && cliRule!.remote.address, host.peer6);
      assert.ok(Math.abs(cliRule!.expiresAt! - (Date.now() + 60 * MINUTE)) < MINUTE, 'expires in an hour');

      // Domain, always: a rule for the name the app resolved; a new process of the app resolving it
      // again reaches another port unasked.
      await client.call('rules.add', {
        rule: { action: 'allow', port: 53, protocol: 'udp', note: 'the test resolver' },
      });
      const dns = spawn(SYSTEM_PYTHON, [DNS_SERVER, host.host4, host.peer4, '300'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      sandbox.defer(() => killAndWait(dns));
      await new Promise((resolve) => dns.stdout!.once('data', resolve));
      const browserExe = talkingAppExe(sandbox, 'domain-app');
      const browser = await startTalkingApp(sandbox, cgroup, browserExe);
      assert.deepEqual((await browser.send(`resolve www.example.test ${host.host4}`)).resolved, host.peer4);
      const domainFetch = browser.send(`fetch ${host.peer4} 8080`);
      prompt = await waitForPrompt(client, forApp('domain-app'), 'from domain-app');
      assert.equal(prompt.hosts[0]!.remoteName, 'www.example.test');
      await client.call('prompts.answer', { id: prompt.id, action: 'allow', lifetime: 'always', scope: 'domain' });
      assert.equal((await domainFetch).body, BODY);
      const [domainRule] = await rulesOf(prompt.appId);
      assert.deepEqual(domainRule!.remote, { kind: 'domain', name: 'www.example.test', subdomains: false });
      assert.equal(domainRule!.expiresAt, null);
      browser.child.kill();
      const browser2 = await startTalkingApp(sandbox, cgroup, browserExe);
      assert.equal((await browser2.send(`resolve www.example.test ${host.host4}`)).resolved, host.peer4);
      const unaskedDomain = await browser2.send(`fetch ${host.peer4} 8081`);
      assert.equal(
        unaskedDomain.body,
        BODY,
        `${JSON.stringify(unaskedDomain)} rules ${JSON.stringify(await client.call('rules.list'))} prompts ${JSON.stringify(await client.call('prompts.list'))}`,
      );
      await noQuestionFrom('domain-app');

      // Port, until the app quits: a rule for the port (any host); the app's next connection on that
      // port (another host) passes unasked; when the app quits the rule goes.
      const portApp = await startTalkingApp(sandbox, cgroup, talkingAppExe(sandbox, 'port-app'));
      const portFetch = portApp.send(`fetch ${host.peer4} 8081`);
      prompt = await waitForPrompt(client, forApp('port-app'), 'from port-app');
      await client.call('prompts.answer', { id: prompt.id, action: 'allow', lifetime: 'until-quit', scope: 'port' });
      assert.equal((await portFetch).body, BODY);
      const [portRule] = await rulesOf(prompt.appId);
      assert.deepEqual(
        [portRule!.remote, portRule!.ports, portRule!.protocol],
        [{ kind: 'any' }, { from: 8081, to: 8081 }, 'tcp'],
      );
      assert.match(portRule!.note, /until it quits/);
      assert.equal((await portApp.send(`fetch ${host.peer6} 8081`)).body, BODY);
      await noQuestionFrom('port-app');
      portApp.child.kill();
      await eventually(
        () => rulesOf(prompt.appId),
        (rules) => rules.length === 0,
        'the until-quit rule removed',
        10_000,
      );

      // Any destination, always, deny: a block rule for the app; its next connect fails at once.
      const denyCurl = copyApp(sandbox, '/usr/bin/curl', 'deny-app');
      const denied = startCurl(sandbox, cgroup, urlOf(host.peer4, 8080), denyCurl);
      prompt = await waitForPrompt(client, forApp('deny-app'), 'from deny-app');
      await client.call('prompts.answer', { id: prompt.id, action: 'deny', lifetime: 'always', scope: 'any' });
      assert.match((await denied.done).stderr, REFUSED);
      const [denyRule] = await rulesOf(prompt.appId);
      assert.deepEqual([denyRule!.action, denyRule!.remote, denyRule!.expiresAt], ['block', { kind: 'any' }, null]);
      const blocked = await startCurl(sandbox, cgroup, urlOf(host.peer6, 8081), denyCurl).done;
      // EPERM is the connect hook's refusal in the call; a held connect ends refused or timed out.
      assert.match(blocked.stderr, /Operation not permitted/);
      await decidedByRule(prompt.appId, host.peer6, 8081, denyRule!);
      await noQuestionFrom('deny-app');
    }),
  ),
);

test(
  'an answer for a host the question does not hold, or a domain nobody resolved, is refused and changes nothing',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const { helper, client } = await startAskHelper(sandbox);
      const host = sandbox.makeTestHost(1);
      await startWebServer(sandbox, host, 8080);
      const curl = startCurl(sandbox, helper.paths.cgroup, urlOf(host.peer4, 8080));
      const prompt = await waitForPrompt(client, hasHost(host.peer4), 'for the host');
      await assert.rejects(client.call('prompts.answer', { id: prompt.id, action: 'allow', host: '192.0.2.99' }), {
        kind: 'invalid-input',
        where: 'params.host',
      });
      await assert.rejects(
        client.call('prompts.answer', { id: prompt.id, action: 'allow', scope: 'domain', lifetime: 'always' }),
        {
          kind: 'invalid-input',
          where: 'params.scope',
        },
      );
      await assert.rejects(client.call('prompts.answer', { id: prompt.id + 100, action: 'allow' }), {
        kind: 'not-found',
      });
      await assert.rejects(client.relay('prompts.answer', { id: prompt.id, action: 'maybe' }), {
        kind: 'invalid-input',
        where: 'params.action',
      });
      const cli = await helper.cli(['answer', String(prompt.id), 'allow', '--once', '--always']);
      assert.equal(cli.code, 2);
      assert.deepEqual(await client.call('rules.list'), []);
      assert.equal((await client.call('prompts.list')).length, 1, 'the question still waits');
      await client.call('prompts.answer', { id: prompt.id, action: 'allow' });
      assert.equal((await curl.done).stdout, BODY);
    }),
  ),
);

test(
  'the helper killed while connections are held: they fail when their hold ends, none gets through',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const { helper, client } = await startAskHelper(sandbox, { timeoutSec: 5 });
      const listener = await countingListener(sandbox);
      const port = String(listener.port);
      const app = buildConnectsApp(sandbox);
      const before = startApp(sandbox, helper.paths.cgroup, [
        app,
        '30',
        '127.0.0.1',
        port,
        '5',
        '::ffff:127.0.0.1',
        port,
        '5',
      ]);
      await waitForPrompt(client, hasHost('127.0.0.1'), 'for the local listener');
      client.close();
      await helper.stop('SIGKILL');
      // With no helper at all, new undecided connects are held too, and fail the same way.
      const during = startApp(sandbox, helper.paths.cgroup, [app, '30', '127.0.0.1', port, '5']);
      const [heldBefore, heldDuring] = await Promise.all([before.done, during.done]);
      for (const [outcome, count] of [
        [heldBefore, 10],
        [heldDuring, 5],
      ] as const) {
        const counts = JSON.parse(outcome.stdout.split('\n').filter(Boolean).pop()!) as Record<string, number>;
        // ETIMEDOUT is the end of the kernel's hold (the timeout plus its margin, 8 s), well inside
        // the app's own 30 s (none left pending); nothing refused them, as a live helper would.
        assert.deepEqual(
          counts,
          { connected: 0, refused: 0, eperm: 0, timedout: count, other: 0, pending: 0 },
          outcome.stdout,
        );
        // And not before the hold was over (a wall-clock floor no machine speed can break).
        assert.ok(outcome.ms > 7000, `failed ${outcome.ms} ms after it began, before the 8 s hold ended`);
      }
      assert.equal(listener.accepted(), 0, 'nothing got through while the helper was dead');
    }),
  ),
);

test(
  'a restarted helper asks again about what is still held; the answer releases it',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const { helper, client } = await startAskHelper(sandbox, { timeoutSec: 30 });
      const host = sandbox.makeTestHost(1);
      await startWebServer(sandbox, host, 8080);
      const curl = startCurl(sandbox, helper.paths.cgroup, urlOf(host.peer6, 8080));
      const before = await waitForPrompt(client, hasHost(host.peer6), 'before the restart');
      client.close();
      await helper.stop('SIGKILL');
      await sleep(500);
      await helper.launch();
      assert.match(helper.logs, /1 connection\(s\) still held from before: asking again/);
      const again = await helper.client('after-restart');
      const prompt = await waitForPrompt(again, hasHost(host.peer6), 'after the restart');
      assert.equal(prompt.appName, before.appName);
      assert.ok(Math.abs(prompt.deadline - before.deadline) < 1000, 'the same deadline as before');
      assert.ok(!curl.exited(), 'still waiting');
      await again.call('prompts.answer', { id: prompt.id, action: 'allow' });
      const done = await curl.done;
      assert.equal(done.code, 0, done.stderr);
      assert.equal(done.stdout, BODY);
    }),
  ),
);
