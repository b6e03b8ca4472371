// Enforcement outlives the process that attached it (pinned links and maps); a new process
// adopts the pins instead of attaching twice, and changes the rules; detach stops enforcement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import { attachedPrograms } from '../support/cgroup-programs.js';
import { nodeArgv } from '../support/node-entry.js';
import { Firewall, NativeError } from '../../native/index.js';
import { allowByDefault, connectProbe, probeResult, rule, runPython, type KernelFixture } from './kernel-fixture.js';
import { needsKfunc } from './slot-entries.js';

const ATTACHER = nodeArgv('test/kernel/fixtures/attach-and-wait.ts');

/** Counts the programs attached to a cgroup, to see that adoption does not attach twice. */
const programCount = (cgroup: string): number => attachedPrograms(cgroup).length;

/** A test cgroup, and a pin directory on a bpffs of the sandbox's that is detached when the test ends. */
function cgroupWithPins(sandbox: Sandbox, name: string): { cgroup: string; pinDir: string } {
  const cgroup = sandbox.makeCgroup(name);
  const pinDir = join(sandbox.makeBpffs(), 'portcullis');
  sandbox.defer(() => Firewall.detach(pinDir));
  return { cgroup, pinDir };
}

interface PinnedLink {
  link: number;
  program: number;
  /** The name of the program the link runs. */
  runs: string;
}

/** The link pinned under each name, and the program it runs. */
function pinnedLinks(pinDir: string): Map<string, PinnedLink> {
  const bpftool = (...args: string[]) => JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' }));
  const links = new Map<string, PinnedLink>();
  for (const name of readdirSync(join(pinDir, 'links'))) {
    const link = bpftool('link', 'show', 'pinned', join(pinDir, 'links', name)) as { id: number; prog_id: number };
    const program = bpftool('prog', 'show', 'id', String(link.prog_id)) as { name: string };
    links.set(name, { link: link.id, program: link.prog_id, runs: program.name });
  }
  return links;
}

/** Swaps two pins by name, so each names a link that runs another program than its name's. */
function swapPins(dir: string, a: string, b: string): void {
  renameSync(join(dir, a), join(dir, `${a}-swap`));
  renameSync(join(dir, b), join(dir, a));
  renameSync(join(dir, `${a}-swap`), join(dir, b));
}

test('kill -9 of the attaching process leaves blocking in force; a new process adopts and changes rules', async () => {
  await withSandbox(async (sandbox) => {
    const { cgroup, pinDir } = cgroupWithPins(sandbox, 'continuity');

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

    const before = pinnedLinks(pinDir);
    assert.ok(before.has('pcl_exec') && before.has('pcl_connect4'), [...before.keys()].join(' '));
    for (const [name, pinned] of before) assert.equal(pinned.runs, name);
    helper.kill('SIGKILL');
    await new Promise((resolve) => helper.once('exit', resolve));

    // The fixture shape runPython wants, without a Firewall of our own yet.
    const fixture = { sandbox, cgroup, pinDir } as KernelFixture;
    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9))).stdout).outcome,
      'EPERM',
      'still blocked after kill -9',
    );

    // Two tracing pins made to run another program than this build's for their name, as another
    // build's would (tracing links cannot be re-pointed: such a link is replaced).
    swapPins(join(pinDir, 'links'), 'pcl_exec', 'pcl_fork');
    const adopted = await Firewall.open({ cgroup, pinDir });
    sandbox.defer(() => adopted.close());
    assert.equal(adopted.adopted, true);
    assert.equal(programCount(cgroup), attached, 'adoption re-used the links instead of attaching again');
    const after = pinnedLinks(pinDir);
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort(), 'the same pins, none left beside them');
    for (const [name, pinned] of after) {
      if (name === 'pcl_exec' || name === 'pcl_fork') {
        // Replaced by a new link running this process's program of that name.
        assert.equal(pinned.runs, name);
        assert.ok(
          ![...before.values()].some((old) => old.link === pinned.link || old.program === pinned.program),
          name,
        );
        continue;
      }
      // This build's program already: the link is kept as it was (no update, no second link).
      assert.deepEqual(pinned, before.get(name), `${name} kept`);
    }
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
    const { cgroup, pinDir } = cgroupWithPins(sandbox, 'continuity-ring');
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

test('a map pin gone missing: the pinned programs use a map this process does not, so every link gets its programs', async () => {
  await withSandbox(async (sandbox) => {
    const { cgroup, pinDir } = cgroupWithPins(sandbox, 'continuity-missing-map');
    await (await Firewall.open({ cgroup, pinDir })).close();
    const before = pinnedLinks(pinDir);
    // Same instructions (same tag), but the pinned programs count hits in the map unpinned here,
    // which this process cannot see: keeping them would lose every hit.
    rmSync(join(pinDir, 'maps', 'pcl_rule_hits'));

    const adopted = await Firewall.open({ cgroup, pinDir });
    sandbox.defer(() => adopted.close());
    assert.equal(adopted.adopted, true);
    const after = pinnedLinks(pinDir);
    for (const [name, pinned] of after) {
      assert.equal(pinned.runs, name);
      assert.notEqual(pinned.program, before.get(name)!.program, `${name} runs this process's program`);
    }
    const blocked = rule('block', '127.0.0.9');
    await adopted.setRules([blocked], allowByDefault);
    const fixture = { sandbox, cgroup, pinDir } as KernelFixture;
    assert.equal(probeResult((await runPython(fixture, connectProbe(4, '127.0.0.9', 9))).stdout).outcome, 'EPERM');
    assert.ok((await adopted.readCounters()).ruleHits.get(blocked.ruleId)! > 0n, 'the hit is counted where it is read');
  });
});

/** How many of the hooks attached to `cgroup` end in `hook` (bpftool versions differ in their prefixes). */
function hooksOf(cgroup: string, hook: string): number {
  return attachedPrograms(cgroup).filter((p) => p.attach_type.endsWith(hook)).length;
}

// Where TCP and UDP sockets are born at their first use (the entry form), the creation hook has no
// work and is not attached: its run on every socket would cost for nothing. The getsockname hooks
// have work only there (a listener that was never bound).
for (const fastPath of ['auto', 'socket-storage'] as const) {
  test(`each form attaches only the hooks it has work for (${fastPath} form)`, async () => {
    await withSandbox(async (sandbox) => {
      const { cgroup, pinDir } = cgroupWithPins(sandbox, `continuity-form-${fastPath}`);
      const firewall = await Firewall.open({ cgroup, pinDir, fastPath });
      sandbox.defer(() => firewall.close());
      const entries = firewall.fastPath === 'entry';
      assert.equal(hooksOf(cgroup, 'sock_create'), entries ? 0 : 1, 'the creation hook');
      assert.equal(hooksOf(cgroup, 'getsockname'), entries ? 2 : 0, 'the getsockname hooks');
      assert.equal(hooksOf(cgroup, 'inet4_connect'), 1, 'the connect hook, in both');
      assert.ok(!existsSync(join(pinDir, 'links', entries ? 'pcl_sock_create' : 'pcl_getsockname4')));
    });
  });
}

// An upgrade: a helper of an earlier build attached the creation hook in the entry form too. The new
// helper adopts the pins and detaches the link it has no work for, instead of leaving it to run.
test('adopting pins, a helper detaches a pinned link of a hook its form has no work for', needsKfunc, async () => {
  await withSandbox(async (sandbox) => {
    const { cgroup, pinDir } = cgroupWithPins(sandbox, 'continuity-form-upgrade');
    await (await Firewall.open({ cgroup, pinDir })).close();
    const attached = programCount(cgroup);
    // A link under the creation hook's name, as the earlier build left it (here getsockname6's own:
    // bpffs pins can be renamed, not made from nothing).
    renameSync(join(pinDir, 'links', 'pcl_getsockname6'), join(pinDir, 'links', 'pcl_sock_create'));

    const adopted = await Firewall.open({ cgroup, pinDir });
    sandbox.defer(() => adopted.close());
    assert.equal(adopted.adopted, true);
    assert.ok(!existsSync(join(pinDir, 'links', 'pcl_sock_create')), 'the pin is gone');
    assert.equal(pinnedLinks(pinDir).get('pcl_getsockname6')?.runs, 'pcl_getsockname6');
    assert.equal(programCount(cgroup), attached, 'its link was detached: no program runs twice');
    assert.equal(hooksOf(cgroup, 'inet6_getsockname'), 1);
  });
});
