// How pkexec's exits are reported, and what launchHelper says before it runs anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exitError,
  launchFailureState,
  launchHelper,
  PKEXEC_DISMISSED,
  PKEXEC_NOT_AUTHORISED,
} from '../../../main/client/launch-helper.js';

test('126 is a cancellation, 127 a refusal, anything else the helper failing', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-launch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'helper.log');
  writeFileSync(log, 'starting\n/etc/portcullis/helper.conf: is owned by uid 1000, not root; refusing to use it\n');

  const cancelled = exitError(PKEXEC_DISMISSED, null, null);
  assert.equal(cancelled.kind, 'cancelled');
  assert.deepEqual(launchFailureState(cancelled), { state: 'cancelled', message: cancelled.message });

  const refused = exitError(PKEXEC_NOT_AUTHORISED, null, null);
  assert.equal(refused.kind, 'unauthorized');
  assert.equal(launchFailureState(refused).state, 'refused');

  const failed = exitError(1, null, log);
  assert.equal(failed.kind, 'internal');
  assert.match(failed.message, /exited with status 1.*refusing to use it/);
  assert.equal(launchFailureState(failed).state, 'failed');
  assert.match(exitError(null, 'SIGKILL', null).message, /killed by SIGKILL/);
});

test('a missing launcher is reported as not installed, without running pkexec', async () => {
  const result = await launchHelper({ isReady: async () => false, launcher: '/nonexistent/portcullis-helper-launch' });
  assert.equal(result.ok, false);
  assert.ok(!result.ok);
  assert.equal(result.error.kind, 'unavailable');
  assert.match(result.error.message, /not installed.*portcullis install/);
  assert.equal(result.logPath, null);
});

test('a missing pkexec is reported with what to install', async () => {
  const result = await launchHelper({ isReady: async () => false, pkexec: '/nonexistent/pkexec' });
  assert.ok(!result.ok);
  assert.equal(result.error.kind, 'unavailable');
  assert.match(result.error.message, /pkexec/);
});

test('a helper that already answers is not started again (no pkexec, no dialog)', async () => {
  let asked = 0;
  const result = await launchHelper({
    isReady: async () => {
      asked++;
      return true;
    },
    pkexec: '/nonexistent/pkexec',
    launcher: '/nonexistent/launcher',
  });
  assert.deepEqual(result, { ok: true, alreadyRunning: true });
  assert.equal(asked, 1);
});
