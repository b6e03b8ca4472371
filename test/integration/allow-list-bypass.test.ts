// Allow-list mode closes the ways around a per-app rule that the README lists (issue 15): an app
// allowed a remote keeps it, while a copy of its binary and the same binary launched through the
// dynamic loader are other executables, and so blocked by the default.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import type { App, Flow } from '../../main/contract/index.js';

const LOADER = '/lib64/ld-linux-x86-64.so.2';
const CONNECT = `
import errno, socket, sys
s = socket.socket()
try:
    s.connect((sys.argv[1], 9))
    print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;

test('allow-list mode: the allowed app connects; a copy of it and a loader-launched run of it are blocked', async (t) => {
  if (!existsSync(LOADER)) return t.skip(`no ${LOADER} on this machine`);
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const rpc = await helper.client();
    const dir = sandbox.makeTempDir('allowed');
    const allowed = join(dir, 'allowed-app');
    copyFileSync(realpathSync('/usr/bin/python3'), allowed);
    const rule = await rpc.call('rules.add', { rule: { action: 'allow', app: allowed, remote: '127.0.0.131' } });
    await rpc.call('settings.update', { patch: { defaultAction: 'block' } });
    const connect = async (argv: string[]) => {
      const { code, stdout, stderr } = await sandbox.runInCgroup(helper.paths.cgroup, [
        ...argv,
        '-c',
        CONNECT,
        '127.0.0.131',
      ]);
      assert.equal(code, 0, stderr);
      return stdout.trim();
    };

    assert.equal(await connect([allowed]), 'ECONNREFUSED', 'the allowed app');
    const copy = join(dir, 'copy-of-allowed-app');
    copyFileSync(allowed, copy);
    assert.equal(await connect([copy]), 'EPERM', 'a copy of its binary');
    assert.equal(await connect([LOADER, allowed]), 'EPERM', 'its binary run through the dynamic loader');

    const flows = (await rpc.call('connections.list', { remote: '127.0.0.131' })) as Flow[];
    const apps = (await rpc.call('apps.list', undefined)) as App[];
    const allowedFlow = flows.find((f) => f.appId === rule.appId);
    assert.equal(allowedFlow?.allowed, 1);
    const others = flows.filter((f) => f.appId !== rule.appId);
    assert.ok(
      others.every((f) => f.allowed === 0 && f.blocked > 0),
      JSON.stringify(flows),
    );
    assert.ok(
      others.every((f) => apps.find((a) => a.id === f.appId)?.exe !== allowed),
      'neither is shown as the allowed app',
    );
  });
});
