// Which firewalls a run compares. The smoke run keeps the small ones and leaves OpenSnitch out.
import type { Sandbox } from '../../test/support/sandbox.js';
import type { Lab } from '../lib/lab.js';
import { hasCommand } from '../lib/process.js';
import type { Contender } from './contender.js';
import { iptablesLinear, nftablesSet, noFirewall } from './netfilter.js';
import { openSnitch } from './opensnitch.js';

export interface ContenderOptions {
  smoke: boolean;
  workDir: string;
  log: (line: string) => void;
}

export function buildContenders(sandbox: Sandbox, lab: Lab, options: ContenderOptions): Contender[] {
  const ruleCounts = options.smoke ? [10, 1000] : [10, 1000, 10_000];
  const contenders: Contender[] = [noFirewall()];
  for (const count of ruleCounts) contenders.push(iptablesLinear(lab.firewall, count));
  contenders.push(nftablesSet(lab.firewall, ruleCounts[ruleCounts.length - 1]!));
  if (options.smoke) {
    options.log('OpenSnitch is left out of the smoke run');
  } else if (hasCommand('opensnitchd')) {
    contenders.push(openSnitch(sandbox, lab.firewall, options.workDir));
  } else {
    options.log('opensnitchd is not installed: OpenSnitch is left out (bench/run.sh installs it)');
  }
  return contenders;
}
