// Environment checks for `portcullis doctor` and the first-run wizard: unprivileged, each failure
// with its fix in plain words. The helper's own probe (status.kernel) adds what only root can see.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Check, Status } from '../contract/index.js';
import { findBpffsMounts, findCgroup2Mount } from '../common/cgroup2.js';
import { HelperClient } from './helper-client.js';

/**
 * The oldest kernel the programs load on: they use BPF atomics that return the old value and
 * pointer arguments to global functions (both 5.12), over cgroup links (5.7), ring buffers (5.8) and
 * the socket-release hook (5.9). Below it enforcement is impossible; above it, what a kernel lacks
 * makes a feature slower (the helper's probes say which: hooksCheck), never enforcement fail.
 */
export const MIN_KERNEL: [number, number] = [5, 12];

export function kernelCheck(kernelRelease = release()): Check {
  const match = /^(\d+)\.(\d+)/.exec(kernelRelease);
  const version: [number, number] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  const ok = version[0] > MIN_KERNEL[0] || (version[0] === MIN_KERNEL[0] && version[1] >= MIN_KERNEL[1]);
  return {
    id: 'kernel',
    label: 'Linux kernel',
    ok,
    detail: `Linux ${kernelRelease}`,
    fix: ok
      ? null
      : `Portcullis needs Linux ${MIN_KERNEL.join('.')} or newer (BPF atomics and global-function arguments); install a newer kernel from your distribution`,
  };
}

export function cgroup2Check(mountinfo?: string): Check {
  const mount = findCgroup2Mount(mountinfo);
  return {
    id: 'cgroup2',
    label: 'cgroup v2',
    ok: mount !== null,
    detail: mount ? `mounted at ${mount}` : 'no cgroup2 filesystem is mounted',
    fix: mount
      ? null
      : 'boot with systemd.unified_cgroup_hierarchy=1 (or mount it: sudo mount -t cgroup2 none /sys/fs/cgroup)',
  };
}

export function bpffsCheck(mountinfo?: string): Check {
  const mounts = findBpffsMounts(mountinfo);
  const system = mounts.includes('/sys/fs/bpf');
  return {
    id: 'bpffs',
    label: 'BPF filesystem',
    ok: system,
    detail: system
      ? 'mounted at /sys/fs/bpf'
      : mounts.length > 0
        ? `mounted only at ${mounts.join(', ')}`
        : 'not mounted',
    fix: system ? null : 'the helper mounts it when it starts; or: sudo mount -t bpf bpf /sys/fs/bpf',
  };
}

export function btfCheck(path = '/sys/kernel/btf/vmlinux'): Check {
  const ok = existsSync(path);
  return {
    id: 'btf',
    label: 'kernel BTF',
    ok,
    detail: ok ? `${path} present` : `${path} missing`,
    fix: ok ? null : 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels are)',
  };
}

function findInPath(name: string, extra: string[] = []): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extra];
  for (const dir of dirs) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return null;
}

function processRunning(comm: string): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) return true;
    } catch {
      /* exited while we looked */
    }
  }
  return false;
}

export function polkitCheck(): Check {
  const pkexec = findInPath('pkexec', ['/usr/bin']);
  const polkitd =
    ['/usr/lib/polkit-1/polkitd', '/usr/libexec/polkitd', '/usr/lib/policykit-1/polkitd'].find((path) =>
      existsSync(path),
    ) ?? null;
  const running = polkitd !== null && processRunning('polkitd');
  const ok = pkexec !== null && running;
  const detail = !pkexec
    ? 'pkexec not found'
    : !polkitd
      ? 'polkitd not installed'
      : running
        ? `${pkexec}, polkitd running`
        : 'polkitd installed but not running';
  const fix = ok
    ? null
    : !pkexec || !polkitd
      ? 'install polkit: sudo apt install pkexec polkitd'
      : 'start it: sudo systemctl start polkit';
  return { id: 'polkit', label: 'polkit', ok, detail, fix };
}

export interface HelperProbe {
  check: Check;
  status: Status | null;
}

export async function helperCheck(socketPath?: string): Promise<HelperProbe> {
  const base = { id: 'helper' as const, label: 'Portcullis helper' };
  let client: HelperClient | null = null;
  try {
    client = await HelperClient.connect({ socketPath, clientName: 'doctor' });
    const status = await client.call('status');
    const detail = `version ${status.version}, pid ${status.pid}, enforcement ${status.enforcing ? 'on' : 'off'}, ${status.ruleCount} rule(s)`;
    return { check: { ...base, ok: true, detail, fix: null }, status };
  } catch (error) {
    const kind = (error as { kind?: string }).kind;
    const fix =
      kind === 'unauthorized'
        ? "ask an administrator to add your uid to the helper's authorizedUsers setting, or start the helper yourself through the app"
        : 'start it: sudo portcullis helper (or from the Portcullis app)';
    return { check: { ...base, ok: false, detail: (error as Error).message, fix }, status: null };
  } finally {
    client?.close();
  }
}

/**
 * What the helper's kernel probes found, when the helper answered: fails only when something
 * enforcement needs is missing; lists which features run in which form (a slower one is no failure).
 */
export function hooksCheck(status: Status): Check {
  const { missing, features } = status.kernel;
  const reduced = features.filter((feature) => feature.reduced).map((feature) => feature.label.toLowerCase());
  return {
    id: 'hooks',
    label: 'BPF hooks',
    ok: missing.length === 0,
    detail:
      missing.length > 0
        ? missing.join('; ')
        : `every hook Portcullis needs loads on this kernel${reduced.length > 0 ? `; in an older form: ${reduced.join(', ')}` : ''}`,
    fix:
      missing.length === 0
        ? null
        : `use a kernel with cgroup BPF hooks, ring buffers and BTF (Linux ${MIN_KERNEL.join('.')}+ with CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF)`,
    features,
  };
}

/** The policy files, when the helper answered: fails when one is malformed or refused (its last good rules stay). */
export function policyCheck(status: Status): Check {
  const { dir, files, error } = status.policy;
  const bad = files.filter((file) => file.error !== null);
  const problems = [...(error ? [error] : []), ...bad.map((file) => `${file.name}: ${file.error}`)];
  return {
    id: 'policy',
    label: 'policy files',
    ok: problems.length === 0,
    detail:
      problems.length > 0
        ? problems.join('; ')
        : files.length === 0
          ? `none in ${dir}`
          : `${files.length} applied from ${dir}`,
    fix:
      problems.length === 0
        ? null
        : `fix the file named (root-owned, not writable by group or others, the JSON of "portcullis export"); the helper applies it when it changes`,
  };
}

export interface ChecksOptions {
  socketPath?: string;
  /** Whether the system-wide install is intact (main/install/state.ts knows; the client does not). */
  installed(): Check;
}

export async function runChecks(options: ChecksOptions): Promise<Check[]> {
  const checks = [kernelCheck(), cgroup2Check(), bpffsCheck(), btfCheck(), polkitCheck(), options.installed()];
  const helper = await helperCheck(options.socketPath);
  checks.push(helper.check);
  if (helper.status) checks.push(hooksCheck(helper.status), policyCheck(helper.status));
  return checks;
}
