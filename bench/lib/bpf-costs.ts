// Where a firewall's time goes: the kernel's own run-time statistics of every BPF program attached to
// a cgroup (run count and nanoseconds, kept while kernel.bpf_stats_enabled is 1), read with bpftool,
// and a daemon's CPU time from /proc. The statistics cost a clock read per program run, so they are
// switched on only around the slice that measures them, never during the slices that give ratios.
import { readFileSync, writeFileSync } from 'node:fs';
import { attachedPrograms as programsOn } from '../../test/support/cgroup-programs.js';
import type { Sandbox } from '../../test/support/sandbox.js';
import { run } from './process.js';

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface ProgramStats {
  id: number;
  name: string;
  attachType: string;
  runTimeNs: number;
  runCount: number;
}

/** The programs attached to a cgroup (directly, by link or not), with their run statistics now. */
export function attachedPrograms(cgroup: string): ProgramStats[] {
  const attached = programsOn(cgroup);
  return attached.map((entry) => {
    const info = JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'id', String(entry.id)])) as {
      name?: string;
      run_time_ns?: number;
      run_cnt?: number;
    };
    return {
      id: entry.id,
      name: info.name ?? entry.name,
      attachType: entry.attach_type,
      runTimeNs: info.run_time_ns ?? 0,
      runCount: info.run_cnt ?? 0,
    };
  });
}

/**
 * Runs `body` with kernel.bpf_stats_enabled set to 1, and puts the previous value back afterwards,
 * also when it throws; the sandbox puts it back too if the run is interrupted meanwhile.
 */
export async function withBpfStats<T>(sandbox: Sandbox, body: () => Promise<T>): Promise<T> {
  const previous = readFileSync(STATS_SYSCTL, 'utf8').trim();
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    writeFileSync(STATS_SYSCTL, `${previous}\n`);
  };
  sandbox.defer(restore);
  writeFileSync(STATS_SYSCTL, '1\n');
  try {
    return await body();
  } finally {
    restore();
  }
}

/** One program's share of a measured slice. */
export interface ProgramCost {
  name: string;
  attachType: string;
  runs: number;
  totalNs: number;
  /** Average nanoseconds per run (the kernel's run_time_ns / run_cnt over the slice). */
  avgNs: number | null;
  /** Runs per measured operation (connection or datagram), and its nanoseconds per operation. */
  runsPerOperation: number;
  nsPerOperation: number;
}

/** A program's cost from its runs and nanoseconds over `operations` operations. */
export function programCost(
  program: { name: string; attachType: string },
  runs: number,
  ns: number,
  operations: number,
): ProgramCost {
  return {
    name: program.name,
    attachType: program.attachType,
    runs,
    totalNs: ns,
    avgNs: runs > 0 ? ns / runs : null,
    runsPerOperation: operations > 0 ? runs / operations : 0,
    nsPerOperation: operations > 0 ? ns / operations : 0,
  };
}

/** The statistics' change between two readings, per program (programs attached in both). */
export function programCosts(before: ProgramStats[], after: ProgramStats[], operations: number): ProgramCost[] {
  return after.flatMap((now) => {
    const then = before.find((b) => b.id === now.id);
    return then ? [programCost(now, now.runCount - then.runCount, now.runTimeNs - then.runTimeNs, operations)] : [];
  });
}
