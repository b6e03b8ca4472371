// Names come from the DNS answers applications actually received (captured by the kernel hooks,
// parsed by the helper): flows carry the name the app asked for, and a domain rule blocks the
// addresses its names resolved to — including names reached through a CNAME chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { killAndWait, withSandbox, type Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { PEER_SCRIPT, SYSTEM_PYTHON, TRAFFIC_SCRIPT, randomPort } from './connections-rig.js';
import type { Flow } from '../../main/contract/index.js';

const DNS_SERVER = join(__dirname, 'connections-dns-server.py');

async function ready(child: ChildProcess, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 5 s`)), 5000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}`));
    });
  });
}

async function runApp(sandbox: Sandbox, cgroup: string, argv: string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await sandbox.runInCgroup(cgroup, argv);
  if (code !== 0) return { exit: code, stderr };
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

test('connections DNS: flows carry resolved names; domain rules block resolved addresses, CNAME chains included', async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const host = sandbox.makeTestHost(1);
    // The resolver on the host side of the veth (the test's own address); it answers with the test host behind it.
    const dns = spawn(SYSTEM_PYTHON, [DNS_SERVER, host.host4, host.peer4, '300'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sandbox.defer(() => killAndWait(dns));
    await ready(dns, 'DNS server');
    const port = randomPort();
    await ready(sandbox.spawnInNetns(host.netns, [SYSTEM_PYTHON, PEER_SCRIPT, host.peer4, String(port)]), 'peer');
    const appExe = join(sandbox.makeTempDir('dns-app'), 'browser');
    copyFileSync(SYSTEM_PYTHON, appExe);
    const resolveConnect = (name: string, waitMs = 300) =>
      runApp(sandbox, helper.paths.cgroup, [
        appExe,
        TRAFFIC_SCRIPT,
        'resolve-connect',
        host.host4,
        '53',
        name,
        String(port),
        '100000',
        String(waitMs),
      ]);
    const plainConnect = () =>
      runApp(sandbox, helper.paths.cgroup, [appExe, TRAFFIC_SCRIPT, 'tcp-download', host.peer4, String(port), '1000']);

    // 1. The flow is named after what the app asked for.
    const first = await resolveConnect('www.example.test');
    assert.deepEqual([first.resolved, first.outcome], [host.peer4, 'ok'], JSON.stringify(first));
    let named: Flow | undefined;
    for (let i = 0; i < 50 && !named; i++) {
      const flows = JSON.parse((await helper.cli(['connections', '--json'])).stdout) as Flow[];
      named = flows.find((f) => f.remoteAddr === host.peer4 && f.remotePort === port);
      if (!named) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(named, 'the flow was recorded');
    assert.equal(named.remoteName, 'www.example.test');
    const dnsFlow = (JSON.parse((await helper.cli(['connections', '--json'])).stdout) as Flow[]).find(
      (f) => f.remotePort === 53,
    );
    assert.equal(dnsFlow?.protocol, 'udp', 'the DNS query itself is a flow of the app');

    // 2. Blocking the domain (and names under it) blocks what they already resolved to, at once.
    const blocked = await helper.cli(['block', '*.example.test', '--json']);
    assert.equal(blocked.code, 0, blocked.stderr);
    const ruleId = (JSON.parse(blocked.stdout) as { id: number }).id;
    assert.equal((await plainConnect()).exit, 1, 'a connect to the resolved address is refused');
    const again = await resolveConnect('api.example.test');
    assert.equal(again.outcome, 'EPERM', JSON.stringify(again));
    const blockedFlows = JSON.parse((await helper.cli(['connections', '--json'])).stdout) as Flow[];
    assert.ok(
      blockedFlows.some((f) => f.remoteAddr === host.peer4 && f.blocked > 0 && f.lastRuleId === ruleId),
      JSON.stringify(blockedFlows),
    );

    // 3. Unblocking restores it.
    assert.equal((await helper.cli(['unblock', String(ruleId)])).code, 0);
    assert.equal((await plainConnect()).exit, undefined, 'connects again after unblock');

    // 4. A rule for a CDN name: nothing is blocked until an answer leads there through a CNAME.
    assert.equal((await helper.cli(['block', 'edge.cdn-shop.test'])).code, 0);
    assert.equal((await plainConnect()).exit, undefined, 'no answer named edge.cdn-shop.test yet');
    const viaAlias = await resolveConnect('alias.shop.test');
    assert.deepEqual([viaAlias.resolved, viaAlias.outcome], [host.peer4, 'EPERM'], JSON.stringify(viaAlias));
  });
});
