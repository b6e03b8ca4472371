import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { withTempDir } from '../../support/temp-dir.js';
import { PortcullisError } from '../../../main/contract/index.js';
import { deepestExisting } from '../../../main/helper/make-dirs.js';
import { preparePinDir } from '../../../main/helper/pin-dir.js';

test('pin-dir: a pin directory off bpffs is refused with what to do, and nothing is made', () => {
  withTempDir((dir) => {
    const pins = join(dir, 'pins', 'portcullis');
    let mounted = false;
    assert.throws(
      () =>
        preparePinDir(pins, {
          mountBpffs: () => {
            mounted = true;
          },
          log: () => undefined,
        }),
      (error: unknown) =>
        error instanceof PortcullisError &&
        error.kind === 'unavailable' &&
        error.message.includes(`${dir} is not on a BPF filesystem`) &&
        error.message.includes(`mount -t bpf bpf ${dir}`),
    );
    assert.equal(mounted, false, 'only the system bpffs mount point is mounted on');
    assert.equal(deepestExisting(pins), dir);
  });
});
