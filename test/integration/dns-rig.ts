// What the DNS integration tests share: the test resolver (connections-dns-server.py) on a test
// host's address, apps run in the helper's cgroup that print one JSON line, and the helper's view of
// what DNS taught it (rules.addresses, status.dns).
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { killAndWait, type Sandbox } from '../support/sandbox.js';
import type { HelperProcess } from '../support/helper-process.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { SYSTEM_PYTHON } from './connections-rig.js';
import type { DnsStatus, DomainAddress } from '../../main/contract/index.js';

export const DNS_SERVER = join(__dirname, 'connections-dns-server.py');

/** Resolves when the child prints its first line; rejects if it exits or stays silent for 5 s. */
export async function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 5 s`)), 5000);
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes('\n')) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(text.split('\n')[0]!);
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}`));
    });
  });
}

/** The test resolver on `bindAddr` (outside the cgroup), answering `answerAddr` with `ttl`. */
export async function startResolver(sandbox: Sandbox, bindAddr: string, answerAddr: string, ttl = 300): Promise<void> {
  const dns = spawn(SYSTEM_PYTHON, [DNS_SERVER, bindAddr, answerAddr, String(ttl)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  sandbox.defer(() => killAndWait(dns));
  await firstLine(dns, 'DNS server');
}

/** Runs an app in the cgroup to its end; its last JSON line, or its exit code and stderr. */
export async function runApp(sandbox: Sandbox, cgroup: string, argv: string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await sandbox.runInCgroup(cgroup, argv);
  if (code !== 0) return { exit: code, stderr };
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

/**
 * One connection per helper for the asks below: they are polled, and a connection each would run
 * into the helper's limit on connections per user within a long wait.
 */
const askers = new WeakMap<HelperProcess, Promise<HelperClient>>();
function askerOf(helper: HelperProcess): Promise<HelperClient> {
  let asker = askers.get(helper);
  if (!asker) {
    asker = helper.client('dns-rig');
    askers.set(helper, asker);
  }
  return asker;
}

export async function domainAddresses(helper: HelperProcess, ruleId?: number): Promise<DomainAddress[]> {
  return (await askerOf(helper)).call('rules.addresses', ruleId === undefined ? {} : { id: ruleId });
}

export async function dnsStatus(helper: HelperProcess): Promise<DnsStatus> {
  return (await (await askerOf(helper)).call('status')).dns;
}
