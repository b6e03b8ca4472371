// The machine a run was measured on, published with its figures.
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { pinningFact } from './cpu-pinning.js';

export interface Machine {
  kernel: string;
  os: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  /** 1/5/15-minute load averages when the run started: others' work on a shared machine shows here. */
  loadAtStart: number[];
  freeMemoryGiB: number;
  /** Which processes of the traffic figures ran on which core. */
  pinning: string;
}

function osName(): string {
  if (!existsSync('/etc/os-release')) return 'unknown';
  const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
  return match?.[1] ?? 'unknown';
}

export function describeMachine(): Machine {
  const gib = (bytes: number) => Math.round((bytes / 2 ** 30) * 10) / 10;
  return {
    kernel: release(),
    os: osName(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: gib(totalmem()),
    node: process.version,
    loadAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    freeMemoryGiB: gib(freemem()),
    pinning: pinningFact(),
  };
}
