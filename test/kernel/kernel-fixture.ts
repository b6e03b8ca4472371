// Shared set-up for kernel tests: a sandbox with a test cgroup, a private bpffs holding the pins,
// an opened Firewall (detached and closed on cleanup) with the test programs loaded over it, and
// small traffic generators run inside the cgroup with python3.
import type { ChildProcess } from 'node:child_process';
import { Firewall } from '../../native/index.js';
import type { FirewallOptions, KernelDefaults, KernelRule } from '../../native/api.js';
import { TestPrograms } from '../../native/testing.js';
import { formatIp, parsePrefix } from '../../main/contract/net.js';
import { Sandbox } from '../support/sandbox.js';

export interface KernelFixture {
  sandbox: Sandbox;
  cgroup: string;
  pinDir: string;
  firewall: Firewall;
  /** BPF_PROG_TEST_RUN over the firewall's maps (native/testing.ts). */
  programs: TestPrograms;
}

export async function openFixture(
  sandbox: Sandbox,
  options: Pick<FirewallOptions, 'ringBytes' | 'fastPath'> = {},
): Promise<KernelFixture> {
  const cgroup = sandbox.makeCgroup('kernel');
  const bpffs = sandbox.makeBpffs();
  const pinDir = `${bpffs}/portcullis`;
  // Registered before open: cleanup runs in reverse, so the programs and the firewall close, then pins go.
  sandbox.defer(() => Firewall.detach(pinDir));
  const firewall = await Firewall.open({ cgroup, pinDir, ...options });
  sandbox.defer(() => firewall.close());
  const programs = await TestPrograms.load(firewall);
  sandbox.defer(() => programs.close());
  return { sandbox, cgroup, pinDir, firewall, programs };
}

/** How the events of kernel tests format IPv6 addresses: the contract's formatter, as the helper's. */
export const eventDecoding = { formatV6: (bytes: Uint8Array) => formatIp({ family: 6, bytes }) };

let nextRuleId = 1;

/** A rule from readable text: rule('block', '127.0.0.7') or rule('allow', '10.0.0.0/8', {...}). */
export function rule(action: 'block' | 'allow', remote: string, extra: Partial<KernelRule> = {}): KernelRule {
  const prefix = parsePrefix(remote);
  if (!prefix.ok) throw new Error(`bad test prefix ${remote}`);
  return {
    ruleId: nextRuleId++,
    scope: 0,
    family: prefix.value.family,
    addr: prefix.value.bytes,
    prefixLen: prefix.value.prefixLen,
    portLo: 0,
    portHi: 65535,
    protocol: 'any',
    direction: 'both',
    action,
    ...extra,
  };
}

export const allowByDefault: KernelDefaults = { global: 'allow', perApp: new Map() };

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Waits for a child to exit (bounded) and collects its output. */
export function finished(child: ChildProcess, timeoutMs = 10_000): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not finish within ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a python3 snippet inside the cgroup (optionally another executable), returning its output. */
export async function runPython(
  fixture: KernelFixture,
  code: string,
  options: { python?: string; netns?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, [options.python ?? 'python3', '-c', code], {
    netns: options.netns,
  });
  return finished(child, options.timeoutMs);
}

/** python: tries one connect and prints "<errno name> <ms>" or "ok <ms>". */
export function connectProbe(family: 4 | 6, address: string, port: number, type: 'tcp' | 'udp' = 'tcp'): string {
  return `
import socket, errno, time
s = socket.socket(socket.AF_INET${family === 6 ? '6' : ''}, socket.SOCK_${type === 'tcp' ? 'STREAM' : 'DGRAM'})
s.settimeout(3)
t = time.monotonic()
try:
    s.connect((${JSON.stringify(address)}, ${port}))
    print("ok", (time.monotonic() - t) * 1000)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), (time.monotonic() - t) * 1000)
`;
}

/** Parses connectProbe's output. */
export function probeResult(stdout: string): { outcome: string; ms: number } {
  const [outcome, ms] = stdout.trim().split(/\s+/);
  return { outcome: outcome ?? '', ms: Number(ms) };
}
