// Uninstall removes pins only on a bpf filesystem: a pin directory that helper.conf (or a bug)
// points anywhere else is refused before anything is detached or deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removePins } from '../../../main/install/uninstall.js';

test('a pin directory outside any bpffs is refused and left untouched', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-not-bpffs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'precious'), 'data');
  const detached: string[] = [];
  await assert.rejects(
    removePins(dir, ['maps/precious'], async (pinDir) => void detached.push(pinDir)),
    (error: Error & { kind?: string }) => {
      assert.equal(error.kind, 'invalid-input');
      assert.match(error.message, /is not on a bpf filesystem; refusing to remove it/);
      return true;
    },
  );
  assert.deepEqual(detached, []);
  assert.ok(existsSync(join(dir, 'precious')));
});

test('a missing pin directory means nothing to detach', async () => {
  const detached: string[] = [];
  assert.match(
    await removePins('/nonexistent/portcullis-pins', ['maps/pcl_events'], async (pinDir) => void detached.push(pinDir)),
    /no pins/,
  );
  assert.deepEqual(detached, []);
});
