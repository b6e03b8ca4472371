// A real connections stack for accuracy tests: the native firewall on a test cgroup (private
// bpffs), the rules engine and store (SQLite in a temp dir) and the connections side exactly as
// the helper composes it, fed by the real ring buffer. Generators run inside the cgroup; peers
// run outside it (or in a test netns), so only the generator's side of each flow is counted.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { Firewall } from '../../native/index.js';
import { findCgroup2Mount } from '../../main/common/cgroup2.js';
import { openDatabase } from '../../main/helper/store/database.js';
import { RulesEngine } from '../../main/helper/engine.js';
import { DesktopEntries } from '../../main/helper/apps/desktop-entries.js';
import { startConnections, type Connections } from '../../main/helper/flows/connections-service.js';
import { formatIp, type Flow } from '../../main/contract/index.js';
import { killAndWait, type Sandbox } from '../support/sandbox.js';

export const TRAFFIC_SCRIPT = join(__dirname, 'connections-traffic.py');
export const PEER_SCRIPT = join(__dirname, 'connections-peer.py');
export const SYSTEM_PYTHON = '/usr/bin/python3.11';

export interface Rig {
  sandbox: Sandbox;
  cgroup: string;
  firewall: Firewall;
  engine: RulesEngine;
  connections: Connections;
  /** A copy of python under its own name: the "application" the generators run as. */
  appExe: string;
  appId: number;
  logs: string[];
}

export async function openRig(sandbox: Sandbox): Promise<Rig> {
  const cgroup = sandbox.makeCgroup('conn');
  const pinDir = `${sandbox.makeBpffs()}/portcullis`;
  sandbox.defer(() => Firewall.detach(pinDir));
  const firewall = await Firewall.open({ cgroup, pinDir, ringBytes: 4 * 1024 * 1024 });
  sandbox.defer(() => firewall.close());
  const logs: string[] = [];
  const log = (message: string) => {
    logs.push(message);
  };
  const db = openDatabase(sandbox.makeTempDir('conn-state'));
  sandbox.defer(() => {
    db.close();
  });
  const engine = new RulesEngine(db, firewall, log);
  await engine.start();
  sandbox.defer(() => engine.stop());
  const connections = startConnections({
    db,
    engine,
    firewall,
    cgroupRoot: findCgroup2Mount(),
    desktop: new DesktopEntries([]),
    log,
  });
  sandbox.defer(() => connections.stop());
  const subscription = firewall.subscribe((events) => connections.pipeline.process(events), {
    formatV6: (bytes) => formatIp({ family: 6, bytes }),
  });
  sandbox.defer(() => subscription.close());

  const appExe = join(sandbox.makeTempDir('conn-app'), 'traffic-app');
  copyFileSync(SYSTEM_PYTHON, appExe);
  // The app is known before it runs (as after any earlier sighting, or a rule naming it): bound in the kernel.
  const app = engine.registry.registerExecutable(appExe, Date.now(), 'test');
  await engine.refresh();
  return { sandbox, cgroup, firewall, engine, connections, appExe, appId: app.id, logs };
}

/** A peer server outside the test cgroup (or inside a netns), ready when it says so. */
export async function startPeer(rig: Rig, host: string, port: number, netns?: string): Promise<ChildProcess> {
  const argv = [SYSTEM_PYTHON, PEER_SCRIPT, host, String(port)];
  const child = netns
    ? rig.sandbox.spawnInNetns(netns, argv)
    : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  if (!netns) rig.sandbox.defer(() => killAndWait(child));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('peer did not start within 5 s')), 5000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peer exited with ${code}`));
    });
  });
  return child;
}

export interface Generated {
  sent: number;
  received: number;
  pid: number;
  [key: string]: unknown;
}

/** Runs a generator mode inside the cgroup as the app (or another executable); returns its own counts. */
export async function generate(
  rig: Rig,
  mode: string,
  host: string,
  port: number,
  args: number[],
  options: { exe?: string; netns?: string; timeoutMs?: number } = {},
): Promise<Generated> {
  const child = rig.sandbox.spawnInCgroup(
    rig.cgroup,
    [options.exe ?? rig.appExe, TRAFFIC_SCRIPT, mode, host, String(port), ...args.map(String)],
    { netns: options.netns },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`generator ${mode} timed out; stderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) throw new Error(`generator ${mode} exited with ${code}: ${stderr}`);
  return JSON.parse(stdout.trim().split('\n').pop()!) as Generated;
}

export interface Totals {
  bytesOut: number;
  bytesIn: number;
  flows: Flow[];
}

/** Sums the stored flows of one app to one remote (all flows when port is null). */
export async function totalsFor(
  rig: Rig,
  appId: number,
  remote: string,
  port: number | null,
  protocol: Flow['protocol'],
): Promise<Totals> {
  const flows = (await rig.connections.pipeline.list({ app: appId, remote, limit: 100_000 })).filter(
    (f) => f.protocol === protocol && (port === null || f.remotePort === port),
  );
  return {
    bytesOut: flows.reduce((n, f) => n + f.bytesOut, 0),
    bytesIn: flows.reduce((n, f) => n + f.bytesIn, 0),
    flows,
  };
}

/**
 * Waits (bounded) until the app's counted bytes reach what the generator counted within the
 * tolerance — close events and live totals arrive asynchronously — and returns the last totals.
 */
export async function settledTotals(
  rig: Rig,
  appId: number,
  remote: string,
  port: number | null,
  protocol: Flow['protocol'],
  expected: { out: number; in: number },
  tolerance = 0.1,
): Promise<Totals> {
  let totals = await totalsFor(rig, appId, remote, port, protocol);
  for (
    let i = 0;
    i < 100 && !(within(totals.bytesOut, expected.out, tolerance) && within(totals.bytesIn, expected.in, tolerance));
    i++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    totals = await totalsFor(rig, appId, remote, port, protocol);
  }
  return totals;
}

export function within(actual: number, expected: number, tolerance: number): boolean {
  return Math.abs(actual - expected) <= tolerance * Math.max(expected, 1);
}

export function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 30_000);
}
