// CPU time and resident memory of a process, from /proc, for "idle" and "under load" figures.
import { readFileSync, writeFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/PID/stat times (USER_HZ: 100 on every Linux arch we run). */
const USER_HZ = 100;

export interface ProcSample {
  cpuSeconds: number;
  rssMiB: number;
  atMs: number;
}

export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return { cpuSeconds: (utime + stime) / USER_HZ, rssMiB: rssKiB / 1024, atMs: performance.now() };
}

export interface UsageWindow {
  /** Share of one core, in percent. */
  cpuPercent: number;
  rssMiB: number;
  windowMs: number;
}

/** CPU share and RSS of a process while `during` runs (or for windowMs when it is a number). */
export async function measureUsage(pid: number, during: number | (() => Promise<unknown>)): Promise<UsageWindow> {
  const before = sampleProcess(pid);
  if (typeof during === 'number') await new Promise((resolve) => setTimeout(resolve, during));
  else await during();
  const after = sampleProcess(pid);
  const windowMs = after.atMs - before.atMs;
  return {
    cpuPercent: ((after.cpuSeconds - before.cpuSeconds) / (windowMs / 1000)) * 100,
    rssMiB: after.rssMiB,
    windowMs,
  };
}

/** A figure of a process's /proc status (kB), in MiB. */
export function procMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kib = Number(
    new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1],
  );
  return kib / 1024;
}

/** Starts a new peak: VmHWM drops to the current RSS (proc(5), clear_refs "5"). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
