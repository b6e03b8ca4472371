// Where the traffic figures' processes run: the load generator alone on the last core, everything
// else (sinks, the firewall's daemon) on core 0, as the issue's own measurement was made. Unpinned,
// on a 2-core machine the scheduler puts a busy daemon or sink on the generator's core at random,
// and the ratio measures that lottery instead of what the firewall costs the connecting program;
// pinned, a daemon's CPU still counts, against the sink it shares core 0 with (and is reported
// apart, as the daemon's CPU per thousand operations). One core: nothing is pinned.
import { availableParallelism } from 'node:os';
import { run } from './process.js';

export interface CpuPinning {
  /** The core the load generator (the measured program) runs on. */
  clientCpu: number;
  /** The core for everything else the figures need: sinks, daemons. */
  otherCpu: number;
}

export const cpuPinning: CpuPinning | null =
  process.env.BENCH_PIN === '0' || availableParallelism() < 2
    ? null
    : { clientCpu: availableParallelism() - 1, otherCpu: 0 };

/** argv run on one core, when the run is pinned. */
function onCpu(cpu: keyof CpuPinning, argv: string[]): string[] {
  return cpuPinning ? ['taskset', '-c', String(cpuPinning[cpu]), ...argv] : argv;
}

/** argv run on the load generator's core. */
export const onClientCpu = (argv: string[]): string[] => onCpu('clientCpu', argv);

/** argv run on the other core (sinks, daemons started by the harness). */
export const onOtherCpu = (argv: string[]): string[] => onCpu('otherCpu', argv);

/** Moves a running daemon, all its threads, to the other core (threads it makes later inherit it). */
export function pinToOtherCpu(pid: number): void {
  if (cpuPinning) run('taskset', ['-a', '-p', '-c', String(cpuPinning.otherCpu), String(pid)]);
}

/** How the run was pinned, for the report. */
export function pinningFact(): string {
  return cpuPinning
    ? `load generator on CPU ${cpuPinning.clientCpu}; sinks and daemons on CPU ${cpuPinning.otherCpu}`
    : 'not pinned (one CPU, or BENCH_PIN=0)';
}
