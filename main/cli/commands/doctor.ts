// doctor: is everything Portcullis needs there? Each failed check names its fix.
import type { Command } from '../command.js';
import { runChecks } from '../../client/checks.js';
import { installedCheck } from '../../install/state.js';
import { featureLines } from '../format.js';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the kernel, cgroup2, bpffs, BTF, polkit and the helper; list which kernel features run in which form',
  synopsis: '[--json]',
  flags: {},
  json: true,
  async run(context) {
    const checks = await runChecks({ socketPath: context.socketPath, installed: installedCheck });
    if (context.json) context.out(JSON.stringify(checks));
    else {
      for (const check of checks) {
        context.out(`${check.ok ? '✓' : '✗'} ${check.label}: ${check.detail}`);
        if (check.fix) context.out(`    fix: ${check.fix}`);
        for (const line of featureLines(check.features ?? [])) context.out(`    ${line}`);
      }
    }
    return checks.every((check) => check.ok) ? 0 : 1;
  },
};
