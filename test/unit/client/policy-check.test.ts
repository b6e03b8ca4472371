// How doctor and status put the policy files: a bad file fails the check naming the file and
// the problem; the status line counts what is in force; the helper's own ownership test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, lstatSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyCheck } from '../../../main/client/checks.js';
import { policySummary } from '../../../main/cli/commands/status.js';
import { unsafeReason } from '../../../main/common/root-alone.js';
import type { PolicyFileStatus, Status } from '../../../main/contract/index.js';

const DIR = '/etc/portcullis/policy.d';
const applied = (name: string, rules: number, lists: number): PolicyFileStatus => ({
  name,
  state: 'applied',
  error: null,
  rules,
  lists,
  appliedAt: 1,
});
const withPolicy = (policy: Status['policy']) => ({ policy }) as Status;

test('no files, good files and bad files as doctor and status show them', () => {
  assert.deepEqual(
    [
      policyCheck(withPolicy({ dir: DIR, files: [], error: null })).ok,
      policySummary({ dir: DIR, files: [], error: null }),
    ],
    [true, `${DIR}: no policy files`],
  );
  const files = [
    applied('10-base.json', 3, 1),
    {
      ...applied('20-ports.json', 2, 0),
      state: 'malformed' as const,
      error: '20-ports.json.rules[0].port: port 0 is outside 1-65535',
    },
    {
      name: '30-open.json',
      state: 'refused' as const,
      error: 'is writable by group or others (mode 666)',
      rules: 0,
      lists: 0,
      appliedAt: null,
    },
  ];
  const check = policyCheck(withPolicy({ dir: DIR, files, error: null }));
  assert.equal(check.ok, false);
  assert.match(check.detail, /20-ports\.json: 20-ports\.json\.rules\[0\]\.port: port 0/);
  assert.match(check.detail, /30-open\.json: is writable by group or others/);
  assert.match(check.fix!, /root-owned/);
  assert.equal(
    policySummary({ dir: DIR, files, error: null }),
    `3 file(s) in ${DIR}: 5 rule(s), 1 list(s); 2 with errors (their last good rules stay)`,
  );
  const unsafeDir = policyCheck(withPolicy({ dir: DIR, files: [], error: `${DIR} is owned by uid 1000, not root` }));
  assert.deepEqual([unsafeDir.ok, unsafeDir.detail], [false, `${DIR} is owned by uid 1000, not root`]);
});

test("a policy path counts only when it is root's alone", () => {
  const base = mkdtempSync(join(tmpdir(), 'portcullis-policy-'));
  try {
    const file = join(base, 'a.json');
    writeFileSync(file, '{}');
    chmodSync(file, 0o644);
    assert.equal(unsafeReason(lstatSync(file), 'file'), null);
    chmodSync(file, 0o664);
    assert.equal(unsafeReason(lstatSync(file), 'file'), 'is writable by group or others (mode 664)');
    chmodSync(file, 0o644);
    chownSync(file, 65534, 65534);
    assert.equal(unsafeReason(lstatSync(file), 'file'), 'is owned by uid 65534, not root');
    const link = join(base, 'b.json');
    symlinkSync(file, link);
    assert.equal(unsafeReason(lstatSync(link), 'file'), 'is a symbolic link, not a regular file');
    const sub = join(base, 'sub');
    mkdirSync(sub, { mode: 0o755 });
    assert.equal(unsafeReason(lstatSync(sub), 'directory'), null);
    assert.equal(unsafeReason(lstatSync(sub), 'file'), 'is not a file');
    const subLink = join(base, 'sub-link');
    symlinkSync(sub, subLink);
    assert.equal(unsafeReason(lstatSync(subLink), 'directory'), 'is a symbolic link, not a directory');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
