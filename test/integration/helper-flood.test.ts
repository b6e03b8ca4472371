// A stranger floods the helper socket: a real test user opens 10,000 connections as fast as it
// can while root's client keeps calling status, new authorised clients connect, and a process in
// the firewalled cgroup makes connections the kernel reports. The helper must keep answering, hold
// a bounded number of fds, log a bounded number of lines, and drop no kernel event.
// Latencies are printed for the record, never asserted (the machine is shared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess, REPO_ROOT } from '../support/helper-process.js';
import { makeUser, type TestUser } from '../support/polkit-env.js';
import { probeOne } from '../support/connect-probe.js';
import { HelperClient } from '../../main/client/helper-client.js';
import { eventually } from '../support/eventually.js';

const FLOOD_SCRIPT = join(REPO_ROOT, 'test', 'support', 'socket-flood.ts');
const CONNECTIONS = 10_000;
const IN_FLIGHT = 256;
const FLOOD_DEADLINE_MS = 60_000;

interface FloodReport {
  connected: number;
  closedByServer: number;
  errors: Record<string, number>;
  elapsedMs: number;
}

function floodAs(user: TestUser, socketPath: string): Promise<FloodReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'setpriv',
      [
        `--reuid=${user.uid}`,
        `--regid=${user.uid}`,
        '--clear-groups',
        process.execPath,
        '--import',
        'tsx',
        FLOOD_SCRIPT,
        socketPath,
        String(CONNECTIONS),
        String(IN_FLIGHT),
        String(FLOOD_DEADLINE_MS),
      ],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HOME: '/tmp' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`the flood exited with ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as FloodReport);
    });
  });
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

test(
  "a stranger's connect flood: authorised clients keep being answered, fds and log stay bounded, no kernel event dropped",
  { timeout: 180_000 },
  () =>
    withSandbox(async (sandbox) => {
      const helper = await HelperProcess.start(sandbox);
      const pid = helper.pid!;
      const stranger = makeUser(sandbox, 'flood');
      const root = await helper.client('status-loop');
      const before = await root.call('status');
      const fdsBefore = fdCount(pid);
      const logBefore = helper.logs.length;

      let flooding = true;
      const flood = floodAs(stranger, helper.paths.socket).finally(() => {
        flooding = false;
      });

      const latencies: number[] = [];
      let maxFds = fdsBefore;
      const statusLoop = (async () => {
        while (flooding) {
          const started = performance.now();
          const status = await root.call('status');
          latencies.push(performance.now() - started);
          assert.equal(status.pid, pid);
          maxFds = Math.max(maxFds, fdCount(pid));
        }
      })();

      // Fresh authorised connections during the flood (the listen backlog is shared with the stranger).
      const fresh = { served: 0, failed: [] as string[] };
      const freshLoop = (async () => {
        while (flooding) {
          try {
            const client = await HelperClient.connect({ socketPath: helper.paths.socket, clientName: 'fresh' });
            await client.call('status');
            client.close();
            fresh.served++;
          } catch (error) {
            fresh.failed.push((error as Error).message);
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })();

      // Kernel events while the helper's event loop is busy with the flood: each probe's connect is
      // refused by nothing listening (allowed, so the kernel reports a decision and a close). Each goes
      // to an address of its own: a known allowed flow's later connects are tallied, not recorded.
      let probes = 0;
      const probeLoop = (async () => {
        while (flooding || probes < 5) {
          const remote = `127.1.${Math.floor(probes / 250) % 250}.${(probes % 250) + 1}`;
          assert.equal(await probeOne(sandbox, helper.paths.cgroup, remote, 9), 'refused');
          probes++;
        }
      })();

      const report = await flood;
      await Promise.all([statusLoop, freshLoop, probeLoop]);
      // Let the last events reach the fan-out (batches are flushed within a few hundred ms).
      const after = await eventually(
        () => root.call('status'),
        (status) => status.eventsSeen - before.eventsSeen >= probes,
        `the helper seeing the events of the ${probes} probes`,
        { everyMs: 100, describe: (status) => `${status.eventsSeen - before.eventsSeen} seen` },
      );

      const sorted = [...latencies].sort((a, b) => a - b);
      const strangerLines = helper.logs
        .slice(logBefore)
        .split('\n')
        .filter((line) => line.includes(`uid ${stranger.uid}`));
      console.log(`flood: ${JSON.stringify(report)}`);
      console.log(
        `status during the flood: ${latencies.length} calls, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms`,
      );
      console.log(
        `fresh authorised connections during the flood: ${fresh.served} served, ${fresh.failed.length} failed${fresh.failed.length ? ` (${[...new Set(fresh.failed)].slice(0, 3).join('; ')})` : ''}`,
      );
      console.log(
        `helper fds: ${fdsBefore} before, at most ${maxFds} during; kernel events: ${after.eventsSeen - before.eventsSeen} seen for ${probes} probes, drops ${before.eventDrops} -> ${after.eventDrops}`,
      );
      console.log(`helper log lines about uid ${stranger.uid}: ${strangerLines.length}`);

      assert.equal(
        report.connected + Object.values(report.errors).reduce((a, b) => a + b, 0) >= CONNECTIONS,
        true,
        'the flood ran to its count',
      );
      assert.ok(
        report.connected >= CONNECTIONS / 2,
        `most of the flood got through to the helper: ${JSON.stringify(report)}`,
      );
      assert.ok(latencies.length > 0, 'status was called during the flood');
      assert.ok(
        fresh.served > 0,
        `a fresh authorised client was served during the flood: ${fresh.failed.slice(0, 3).join('; ')}`,
      );
      // Refused peers never take a connection slot and at most 32 linger (admission.ts).
      assert.ok(maxFds <= fdsBefore + 40, `helper fds stayed bounded: ${fdsBefore} -> ${maxFds}`);
      assert.ok(
        strangerLines.length >= 1 && strangerLines.length <= 2,
        `refusals are logged once per interval:\n${strangerLines.join('\n')}`,
      );
      assert.ok(
        after.eventsSeen - before.eventsSeen >= probes,
        `every probe's connection was reported (${after.eventsSeen - before.eventsSeen} events for ${probes} probes)`,
      );
      assert.equal(after.eventDrops, before.eventDrops, 'no kernel event was dropped');
      assert.equal((await root.call('status')).pid, pid, 'the helper still serves after the flood');
    }),
);
