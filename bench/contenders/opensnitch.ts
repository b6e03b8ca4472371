// OpenSnitch: Debian's opensnitchd in its default configuration (/etc/opensnitchd/default-config.json,
// started the way its systemd unit starts it), inside the firewall lane's namespace, where its
// iptables rules send every new connection to its netfilter queue. No UI is connected, so the
// configured default action (allow) answers. Debian's package ships no eBPF object and this kernel
// has no kprobes, so the daemon falls back to its /proc process monitor; what it logged is recorded.
import { existsSync, mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { killAndWait, type Sandbox } from '../../test/support/sandbox.js';
import { spawnInNs, type Lane } from '../lib/lab.js';
import type { LineProcess } from '../lib/process.js';
import { run } from '../lib/process.js';
import type { Contender } from './contender.js';
import { flushNetfilter } from './netfilter.js';

const RULES_DIR = '/etc/opensnitchd/rules';
const CONFIG = '/etc/opensnitchd/default-config.json';
const DEFAULT_LOG = '/var/log/opensnitchd.log';

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Terminal colour codes, which the daemon writes into its log files too. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

function readFrom(path: string, offset: number): string {
  if (!existsSync(path)) return '';
  return readFileSync(path).subarray(offset).toString('utf8').replace(ANSI_COLOUR, '');
}

async function until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function openSnitch(sandbox: Sandbox, lane: Lane, logDir: string): Contender & { pid(): number | undefined } {
  let daemon: LineProcess | null = null;
  let createdRulesDir = false;
  let version = '';
  const monitorLines = new Set<string>();
  const logFile = join(logDir, 'opensnitchd.log');

  const queueRuleLoaded = () =>
    run('ip', ['netns', 'exec', lane.netns, 'iptables', '-t', 'mangle', '-S', 'OUTPUT']).includes('NFQUEUE');

  return {
    id: 'opensnitch',
    label: 'OpenSnitch daemon',
    pid: () => daemon?.child.pid,
    async start() {
      version = run('opensnitchd', ['-version']).trim();
      if (!existsSync(RULES_DIR)) {
        mkdirSync(RULES_DIR, { recursive: true });
        createdRulesDir = true;
        // Also when the run is interrupted and stop() never comes.
        sandbox.defer(() => {
          try {
            rmdirSync(RULES_DIR);
          } catch {
            /* gone, or not empty */
          }
        });
      }
      const defaultLogOffset = fileSize(DEFAULT_LOG);
      daemon = spawnInNs(sandbox, lane.netns, ['opensnitchd', '-rules-path', RULES_DIR, '-log-file', logFile]);
      await until(
        () => daemon!.child.exitCode === null && queueRuleLoaded(),
        15000,
        'opensnitchd to install its NFQUEUE rule',
      );
      // Its config names a log file of its own, written before -log-file takes over: read both.
      const logged = readFrom(DEFAULT_LOG, defaultLogOffset) + readFrom(logFile, 0);
      for (const line of logged.split('\n')) {
        if (/monitor method|ebpf|process monitor/i.test(line))
          monitorLines.add(line.replace(/^\[[^\]]*\]\s*/, '').trim());
      }
    },
    async stop() {
      if (daemon) {
        daemon.child.kill('SIGTERM');
        // It waits up to ~5 s for its queue before exiting.
        await Promise.race([daemon.exited, new Promise((resolve) => setTimeout(resolve, 8000))]);
        await killAndWait(daemon.child);
        daemon = null;
      }
      flushNetfilter(lane);
      if (createdRulesDir) {
        try {
          rmdirSync(RULES_DIR);
        } catch {
          /* the daemon left something there: keep it */
        }
        createdRulesDir = false;
      }
    },
    facts() {
      const config = existsSync(CONFIG) ? (JSON.parse(readFileSync(CONFIG, 'utf8')) as Record<string, unknown>) : null;
      const lines = [...monitorLines];
      const ebpfFailed = lines.some((l) => /error starting ebpf|Failed to load/i.test(l));
      return {
        version,
        config,
        processMonitor: ebpfFailed
          ? 'proc (the configured ebpf monitor failed to start)'
          : (config?.ProcMonitorMethod ?? 'unknown'),
        monitorLog: lines.slice(0, 6),
      };
    },
  };
}
