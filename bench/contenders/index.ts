// Which firewalls a run compares. The smoke run keeps the small ones and leaves OpenSnitch out.
import type { Sandbox } from '../../test/support/sandbox.js';
import type { Lab } from '../lib/lab.js';
import { hasCommand } from '../lib/process.js';
import type { Contender } from './contender.js';
import { iptablesLinear, nftablesSet, noFirewall } from './netfilter.js';
import { openSnitch } from './opensnitch.js';
import { portcullis } from './portcullis.js';

export interface ContenderOptions {
  smoke: boolean;
  workDir: string;
  log: (line: string) => void;
}

export function buildContenders(sandbox: Sandbox, lab: Lab, options: ContenderOptions): Contender[] {
  const ruleCounts = options.smoke ? [10, 1000] : [10, 1000, 10_000];
  const largest = ruleCounts[ruleCounts.length - 1]!;
  const contenders: Contender[] = [noFirewall()];
  // Always in: without its addon built, its start fails and the run says so (npm run build).
  contenders.push(portcullis(sandbox, lab.firewall, largest));
  if (!options.smoke) contenders.push(portcullis(sandbox, lab.firewall, largest, { kernelOnly: true }));
  // BENCH_BASELINE=DIR[@NAME]: a built checkout of an older commit beside the current one.
  const baseline = process.env.BENCH_BASELINE;
  if (baseline) {
    const [root, name] = baseline.split('@');
    contenders.push(portcullis(sandbox, lab.firewall, largest, { baseline: { root: root!, name: name ?? root! } }));
  }
  for (const count of ruleCounts) contenders.push(iptablesLinear(lab.firewall, count));
  contenders.push(nftablesSet(lab.firewall, largest));
  if (options.smoke) {
    options.log('OpenSnitch is left out of the smoke run');
  } else if (hasCommand('opensnitchd')) {
    contenders.push(openSnitch(sandbox, lab.firewall, options.workDir));
  } else {
    options.log('opensnitchd is not installed: OpenSnitch is left out (bench/run.sh installs it)');
  }
  return contenders;
}
