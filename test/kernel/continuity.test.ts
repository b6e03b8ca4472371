// Enforcement outlives the process that attached it (pinned links and maps); a new process
// adopts the pins instead of attaching twice, and changes the rules; detach stops enforcement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { withSandbox } from '../support/sandbox.js';
import { attachedPrograms } from '../support/cgroup-programs.js';
import { nodeArgv } from '../support/node-entry.js';
import { Firewall, NativeError } from '../../native/index.js';
import { allowByDefault, connectProbe, probeResult, rule, runPython, type KernelFixture } from './kernel-fixture.js';

const ATTACHER = nodeArgv('test/kernel/fixtures/attach-and-wait.ts');

/** Counts the programs attached to a cgroup, to see that adoption does not attach twice. */
const programCount = (cgroup: string): number => attachedPrograms(cgroup).length;

/** The program each pinned link runs, by the link's name. */
function linkPrograms(pinDir: string): Map<string, number> {
  const links = new Map<string, number>();
  for (const name of readdirSync(join(pinDir, 'links'))) {
    const out = execFileSync('bpftool', ['-j', 'link', 'show', 'pinned', join(pinDir, 'links', name)], {
      encoding: 'utf8',
    });
    links.set(name, (JSON.parse(out) as { prog_id: number }).prog_id);
  }
  return links;
}

test('kill -9 of the attaching process leaves blocking in force; a new process adopts and changes rules', async () => {
  await withSandbox(async (sandbox) => {
    const cgroup = sandbox.makeCgroup('continuity');
    const pinDir = join(sandbox.makeBpffs(), 'portcullis');
    sandbox.defer(() => Firewall.detach(pinDir));

    const helper = spawn(ATTACHER[0]!, [...ATTACHER.slice(1), cgroup, pinDir, '127.0.0.7'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    sandbox.defer(() => void helper.kill('SIGKILL'));
    const line = await new Promise<string>((resolve, reject) => {
      let err = '';
      helper.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      helper.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
      helper.once('exit', (code) => reject(new Error(`attacher exited (${code}): ${err}`)));
    });
    assert.equal(line, 'ready false');
    const attached = programCount(cgroup);
    assert.ok(attached >= 10, `expected our cgroup programs on the test cgroup, found ${attached}`);

    const before = linkPrograms(pinDir);
    assert.ok(before.has('pcl_exec') && before.has('pcl_connect4'), [...before.keys()].join(' '));
    helper.kill('SIGKILL');
    await new Promise((resolve) => helper.once('exit', resolve));

    // The fixture shape runPython wants, without a Firewall of our own yet.
    const fixture = { sandbox, cgroup, pinDir } as KernelFixture;
    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9))).stdout).outcome,
      'EPERM',
      'still blocked after kill -9',
    );

    const adopted = await Firewall.open({ cgroup, pinDir });
    sandbox.defer(() => adopted.close());
    assert.equal(adopted.adopted, true);
    assert.equal(programCount(cgroup), attached, 'adoption re-used the links instead of attaching again');
    // Every link now runs this process's build of its program: the cgroup ones re-pointed, the
    // tracing ones (which cannot be) replaced by a new link pinned under the same name.
    const after = linkPrograms(pinDir);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the same pins, none left beside them');
    for (const [name, program] of after) assert.notEqual(program, before.get(name), `${name} runs the new build`);
    const stats = await adopted.setRules([rule('block', '127.0.0.8')], allowByDefault);
    assert.ok(stats.generation >= 2, 'generation continues from the pinned config');
    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9))).stdout).outcome,
      'ECONNREFUSED',
    );
    assert.equal(probeResult((await runPython(fixture, connectProbe(4, '127.0.0.8', 9))).stdout).outcome, 'EPERM');

    // close() keeps enforcement; detach() ends it and removes the pins.
    await adopted.close();
    assert.equal(probeResult((await runPython(fixture, connectProbe(4, '127.0.0.8', 9))).stdout).outcome, 'EPERM');
    await Firewall.detach(pinDir);
    assert.equal(existsSync(pinDir) ? readdirSync(pinDir).length : 0, 0);
    assert.equal(programCount(cgroup), 0);
    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.8', 9))).stdout).outcome,
      'ECONNREFUSED',
    );
  });
});

test('pins made for one cgroup are not adopted for another', async () => {
  await withSandbox(async (sandbox) => {
    const first = sandbox.makeCgroup('pin-a');
    const second = sandbox.makeCgroup('pin-b');
    const pinDir = join(sandbox.makeBpffs(), 'portcullis');
    sandbox.defer(() => Firewall.detach(pinDir));
    await (await Firewall.open({ cgroup: first, pinDir })).close();
    await assert.rejects(Firewall.open({ cgroup: second, pinDir }), (error: Error) => {
      assert.ok(error instanceof NativeError, 'a NativeError');
      assert.equal(error.code, 'EEXIST');
      assert.match(error.op, /^adopt /);
      assert.match(error.detail, /detach first/);
      return true;
    });
    assert.equal(programCount(second), 0);
    assert.ok(programCount(first) >= 10, 'the first attachment is untouched');
  });
});

test('a firewall whose ring buffer was made another size adopts it as it is (a helper of another version)', async () => {
  await withSandbox(async (sandbox) => {
    const cgroup = sandbox.makeCgroup('continuity-ring');
    const pinDir = join(sandbox.makeBpffs(), 'portcullis');
    sandbox.defer(() => Firewall.detach(pinDir));
    const ringSize = () =>
      (
        JSON.parse(
          execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', join(pinDir, 'maps', 'pcl_events')], {
            encoding: 'utf8',
          }),
        ) as { max_entries: number }
      ).max_entries;

    const first = await Firewall.open({ cgroup, pinDir, ringBytes: 64 * 1024 });
    await first.close();
    assert.equal(ringSize(), 64 * 1024);
    const adopted = await Firewall.open({ cgroup, pinDir });
    sandbox.defer(() => adopted.close());
    assert.equal(adopted.adopted, true);
    assert.equal(ringSize(), 64 * 1024, 'the pinned ring is kept, not replaced');
  });
});
