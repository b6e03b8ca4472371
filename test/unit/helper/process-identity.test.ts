// The process behind a connection, named as polkit names it: read from the real /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processStartTime } from '../../../main/common/process-start.js';
import { identifyPeer } from '../../../main/helper/authority/process-identity.js';

/** Clock ticks since boot now (USER_HZ is 100 on Linux). */
const uptimeTicks = () => Math.ceil(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 100);

test('the start time of a process whose command name holds spaces and parentheses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-comm-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // The kernel takes the command name from the file run: this one reads "a) b (c" in /proc/PID/stat.
  const weird = join(dir, 'a) b (c');
  symlinkSync('/bin/sleep', weird);
  const child = spawn(weird, ['30'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  assert.ok(stat.includes('(a) b (c)'), stat.slice(0, 40));

  const own = Number(processStartTime(process.pid));
  const started = processStartTime(child.pid!);
  assert.match(started ?? '', /^[0-9]+$/);
  assert.ok(Number(started) >= own, 'started after this test process');
  assert.ok(Number(started) <= uptimeTicks(), 'not in the future');
  assert.equal(processStartTime(child.pid!), started, 'the same process, the same start time');

  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  assert.equal(processStartTime(child.pid!), null, 'no process, no start time');
});

test('a peer is identified only while its pid is its own', () => {
  const self = { pid: process.pid, uid: process.getuid!() };
  assert.deepEqual(identifyPeer(self), { ...self, startTime: processStartTime(process.pid) });
  assert.equal(identifyPeer({ ...self, uid: self.uid + 1 }), null, 'the /proc entry belongs to another uid');
  assert.equal(identifyPeer({ pid: 0, uid: self.uid }), null, 'a peer in another pid namespace reads as pid 0');
  assert.equal(identifyPeer({ pid: 2 ** 22 + 1, uid: self.uid }), null, 'no such process');
});
