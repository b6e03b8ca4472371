import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTempDir } from '../../support/temp-dir.js';
import { PortcullisError } from '../../../main/contract/index.js';
import { deepestExisting, makeDirectories } from '../../../main/helper/make-dirs.js';

test('make-dirs: makes the missing components with the mode asked for', () => {
  withTempDir((dir) => {
    const deep = join(dir, 'a', 'b', 'c');
    assert.equal(deepestExisting(deep), dir);
    makeDirectories(deep, 0o700, 'state directory');
    assert.equal(statSync(deep).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'a')).mode & 0o777, 0o700);
    makeDirectories(deep, 0o700, 'state directory'); // already there: nothing to do
  });
});

test('make-dirs: a file in the way, or a filesystem that refuses, is a clear error at once', () => {
  withTempDir((dir) => {
    writeFileSync(join(dir, 'file'), '');
    assert.throws(
      () => makeDirectories(join(dir, 'file', 'x'), 0o700, 'state directory'),
      (error: unknown) =>
        error instanceof PortcullisError &&
        error.kind === 'unavailable' &&
        /file is not a directory/.test(error.message),
    );
  });
  // sysfs answers ENOENT to mkdir where Node's recursive mkdir would retry forever.
  assert.throws(
    () => makeDirectories('/sys/kernel/portcullis-test/x', 0o700, '--bpffs'),
    (error: unknown) =>
      error instanceof PortcullisError &&
      /cannot create \/sys\/kernel\/portcullis-test \(E[A-Z]+\)/.test(error.message),
  );
});
