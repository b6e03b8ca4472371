// Processes gone before the helper looks (issue 15): 200 one-shot processes, 4 at a time, each a
// fresh exec that connects once and exits. The kernel carries each owner's executable (its path
// recorded at exec), so every flow is attributed to the executable without /proc; a per-app rule
// made before the executable ever ran blocks the first connect of each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import type { App, Flow } from '../../main/contract/index.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { eventually } from '../support/eventually.js';

const RUNS = 200;
const AT_ONCE = 4;
const CONNECT = `
import errno, socket, sys
s = socket.socket()
try:
    s.connect((sys.argv[1], 9))
    print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;

/** Runs `exe` RUNS times, AT_ONCE at a time, each connecting once; the outcomes, counted. */
async function oneShots(sandbox: Sandbox, cgroup: string, exe: string, host: string): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  let started = 0;
  const worker = async () => {
    while (started < RUNS) {
      started++;
      const { code, stdout, stderr } = await sandbox.runInCgroup(cgroup, [exe, '-c', CONNECT, host]);
      const outcome = code === 0 ? stdout.trim() : `exit ${code}: ${stderr}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: AT_ONCE }, worker));
  return outcomes;
}

function freshExecutable(sandbox: Sandbox, name: string): string {
  const exe = join(sandbox.makeTempDir('one-shot'), name);
  copyFileSync(realpathSync('/usr/bin/python3'), exe);
  return exe;
}

/** The flows to `host` once they account for `count` decisions. */
function flowsTo(rpc: HelperClient, host: string, count: number): Promise<Flow[]> {
  const decided = (flows: Flow[]) => flows.reduce((n, f) => n + f.allowed + f.blocked, 0);
  return eventually(
    () => rpc.call('connections.list', { remote: host }) as Promise<Flow[]>,
    (flows) => decided(flows) >= count,
    `flows to ${host} accounting for ${count} decisions`,
    { timeoutMs: 15_000, everyMs: 200, describe: (flows) => `${decided(flows)} decisions` },
  );
}

test(`${RUNS} one-shot processes: every flow is its executable's; a rule made before the first run blocks every first connect`, async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const rpc = await helper.client();

    const exe = freshExecutable(sandbox, 'one-shot');
    assert.deepEqual([...(await oneShots(sandbox, helper.paths.cgroup, exe, '127.0.0.121'))], [['ECONNREFUSED', RUNS]]);
    const flows = await flowsTo(rpc, '127.0.0.121', RUNS);
    const apps = (await rpc.call('apps.list', undefined)) as App[];
    const app = apps.find((a) => a.kind === 'executable' && a.exe === exe);
    assert.ok(app, `the executable is an app: ${JSON.stringify(apps.map((a) => [a.kind, a.name]))}`);
    assert.deepEqual(
      flows.map((f) => [f.appId, f.allowed, f.blocked]),
      [[app.id, RUNS, 0]],
      'every decision in the executable’s one flow, none unattributed',
    );

    const blocked = freshExecutable(sandbox, 'blocked-one-shot');
    const rule = await rpc.call('rules.add', { rule: { action: 'block', app: blocked, remote: '127.0.0.122' } });
    assert.deepEqual([...(await oneShots(sandbox, helper.paths.cgroup, blocked, '127.0.0.122'))], [['EPERM', RUNS]]);
    const blockedFlows = await flowsTo(rpc, '127.0.0.122', RUNS);
    assert.deepEqual(
      blockedFlows.map((f) => [f.appId, f.allowed, f.blocked, f.lastRuleId]),
      [[rule.appId, 0, RUNS, rule.id]],
    );
  });
});
