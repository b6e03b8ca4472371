// Uninstall removes pins only on a bpf filesystem: a pin directory that helper.conf (or a bug)
// points anywhere else is refused before anything is detached or deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removePins, type PinTools } from '../../../main/install/uninstall.js';

/** Records what removePins asked of the addon (these tests are about what it refuses first). */
function recording(): PinTools & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    detach: async (pinDir) => void asked.push(`detach ${pinDir}`),
    setAsideLinks: (pinDir) => (asked.push(`setAsideLinks ${pinDir}`), []),
  };
}

test('a pin directory outside any bpffs is refused and left untouched', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-not-bpffs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'precious'), 'data');
  const firewall = recording();
  await assert.rejects(removePins(dir, ['maps/precious'], firewall), (error: Error & { kind?: string }) => {
    assert.equal(error.kind, 'invalid-input');
    assert.match(error.message, /is not on a bpf filesystem; refusing to remove it/);
    return true;
  });
  assert.deepEqual(firewall.asked, []);
  assert.ok(existsSync(join(dir, 'precious')));
});

test('a missing pin directory means nothing to detach', async () => {
  const firewall = recording();
  assert.match(await removePins('/nonexistent/portcullis-pins', ['maps/pcl_events'], firewall), /no pins/);
  assert.deepEqual(firewall.asked, []);
});
