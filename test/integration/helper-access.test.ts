// Who the helper serves: SO_PEERCRED decides. An unused uid is refused with a clear error and a log
// line; after root lists it in settings.authorizedUsers, the same uid is served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess, CLI_ARGV, type CliResult } from '../support/helper-process.js';
import { spawn } from 'node:child_process';
import { probeOne } from '../support/connect-probe.js';
import { eventually } from '../support/eventually.js';

/** A uid no account uses (checked against /etc/passwd), so nothing is created or left behind. */
function unusedUid(): number {
  const used = new Set(
    readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => Number(line.split(':')[2])),
  );
  for (let uid = 54321; ; uid++) if (!used.has(uid)) return uid;
}

/** The CLI as another uid (setpriv drops root before node starts). */
function cliAs(uid: number, socket: string, args: string[], onStdout?: (chunk: string) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', ...CLI_ARGV, '--socket', socket, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HOME: '/tmp' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStdout?.(chunk.toString());
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('an unauthorised uid is refused (clear error, exit 1, log line); once authorised it is served', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const uid = unusedUid();
    const root = await helper.client();

    const refused = await cliAs(uid, helper.paths.socket, ['status']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`uid ${uid} is not authorised to use the Portcullis helper`));
    assert.equal(refused.stdout, '');
    assert.match(helper.logs, new RegExp(`refused uid ${uid} \\(pid \\d+\\): not authorised`));
    const blocked = await cliAs(uid, helper.paths.socket, ['block', '127.0.0.30']);
    assert.equal(blocked.code, 1);
    assert.equal((await root.call('rules.list')).length, 0, 'the refused client changed nothing');

    await root.call('settings.update', { patch: { authorizedUsers: [uid] } });
    const served = await cliAs(uid, helper.paths.socket, ['status', '--json']);
    assert.equal(served.code, 0, served.stderr);
    assert.equal(JSON.parse(served.stdout).pid, helper.pid);
    const added = await cliAs(uid, helper.paths.socket, ['block', '127.0.0.30']);
    assert.equal(added.code, 0, added.stderr);
    assert.equal((await root.call('rules.list')).length, 1);

    // A connection that stays open (connections --follow) is closed when the uid loses its access.
    let followedOut = '';
    const follower = cliAs(uid, helper.paths.socket, ['connections', '--follow'], (chunk) => {
      followedOut += chunk;
    });
    await eventually(
      async () => {
        await probeOne(sandbox, helper.paths.cgroup, '127.0.0.30', 9); // blocked: a decision the follower prints
        return followedOut;
      },
      (out) => out.includes('127.0.0.30'),
      'the follower printing a blocked probe',
      { timeoutMs: 20_000, everyMs: 200 },
    );
    assert.match(followedOut, /block .*127\.0\.0\.30:9/, 'the authorised follower receives events');
    await root.call('settings.update', { patch: { authorizedUsers: [] } });
    const followed = await follower;
    assert.equal(followed.code, 1);
    assert.match(followed.stderr, new RegExp(`uid ${uid} is no longer authorised`));
    assert.match(helper.logs, /no longer authorised/);
    assert.equal((await cliAs(uid, helper.paths.socket, ['rules'])).code, 1, 'removing the uid refuses it again');
  }));
