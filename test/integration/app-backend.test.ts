// The IPC backend that Electron main and the browser shell share, against a real helper on a test
// cgroup: the helper state, rules through the contract-validated gate, the live event stream a
// window receives, the wizard writing the mode into the helper's settings, and a lost helper.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne } from '../support/connect-probe.js';
import { createSystemBackend } from '../../main/app/system-backend.js';
import { dispatchInvoke } from '../../main/app/ipc-dispatch.js';
import type { IpcBackend } from '../../main/app/ipc-backend.js';
import type { ConnectionEvent, HelperState, Rule } from '../../main/contract/index.js';
import { eventually, present } from '../support/eventually.js';

describe('the shared IPC backend against a real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let backend: IpcBackend;
  let configDir: string;
  const events: ConnectionEvent[] = [];
  const states: HelperState[] = [];

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    configDir = sandbox.makeTempDir('config');
    backend = createSystemBackend({ clientName: 'backend-test', socketPath: helper.paths.socket, configDir });
    sandbox.defer(() => backend.dispose());
    backend.subscribe((name, payload) => {
      if (name === 'events') events.push(...(payload as { events: ConnectionEvent[] }).events);
      if (name === 'helperState') states.push(payload as HelperState);
    });
  });
  after(() => sandbox.dispose());

  test('connects, streams decisions, and adds and removes rules through the validated gate', async () => {
    const state = await dispatchInvoke(backend.handlers, 'getHelperState', {});
    assert.equal(state.ok && (state.value as HelperState).state, 'connected');
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, '127.0.0.78', 9), 'refused');
    const seen = await eventually(
      () => events.find((event) => event.remoteAddr === '127.0.0.78'),
      present,
      'the connect reaching the window as an event',
    );
    assert.equal(seen.verdict, 'allow');

    const refused = await dispatchInvoke(backend.handlers, 'addRule', {
      rule: { action: 'block', remote: '127.0.0.78', port: '0' },
    });
    assert.deepEqual(refused.ok ? null : [refused.error.kind, refused.error.where], [
      'invalid-input',
      'params.rule.port',
    ]);
    const added = await dispatchInvoke(backend.handlers, 'addRule', {
      rule: { action: 'block', remote: '127.0.0.78', note: 'backend test' },
    });
    assert.ok(added.ok, JSON.stringify(added));
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, '127.0.0.78', 9), 'EPERM');
    const removed = await dispatchInvoke(backend.handlers, 'removeRules', { ids: [(added.value as Rule).id] });
    assert.deepEqual(removed, { ok: true, value: { removed: [(added.value as Rule).id] } });
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, '127.0.0.78', 9), 'refused');
  });

  test("the wizard sets the helper's default and is remembered in the config dir", async () => {
    const done = await dispatchInvoke(backend.handlers, 'completeWizard', { mode: 'allow-list', startAtBoot: false });
    assert.deepEqual(done, { ok: true, value: { completed: true, mode: 'allow-list' } });
    const settings = await dispatchInvoke(backend.handlers, 'getSettings', {});
    assert.equal(settings.ok && (settings.value as { defaultAction: string }).defaultAction, 'block');
    assert.deepEqual(JSON.parse(readFileSync(join(configDir, 'wizard.json'), 'utf8')), {
      completed: true,
      mode: 'allow-list',
    });
    await dispatchInvoke(backend.handlers, 'completeWizard', { mode: 'monitor', startAtBoot: false });
    assert.ok(existsSync(join(configDir, 'wizard.json')));
  });

  test('a stopped helper shows as not running, calls fail as unavailable, and it is found again', async () => {
    await helper.stop('SIGTERM');
    await eventually(
      () => backend.connection.state.state,
      (state) => state !== 'connected',
      'the stopped helper noticed',
      { everyMs: 20 },
    );
    assert.equal(backend.connection.state.state, 'not-running');
    const call = await dispatchInvoke(backend.handlers, 'listRules', {});
    assert.equal(call.ok ? null : call.error.kind, 'unavailable');
    await helper.launch();
    const state = await dispatchInvoke(backend.handlers, 'getHelperState', {});
    assert.equal(state.ok && (state.value as HelperState).state, 'connected');
    assert.deepEqual(states.map((s) => s.state).slice(-2), ['not-running', 'connected']);
  });
});
