// status: what the helper is doing.
import { modeOf, type Status } from '../../contract/index.js';
import { MODE_WORDS } from './prompts.js';
import type { Command } from '../command.js';
import { featureLines, formatDuration, table } from '../format.js';

export function formatStatus(status: Status, now = Date.now()): string {
  const enforcement = status.enforcing
    ? 'on'
    : status.pausedUntil
      ? `paused, resumes in ${formatDuration(status.pausedUntil - now)}`
      : 'off';
  const kernel =
    status.kernel.missing.length === 0
      ? `Linux ${status.kernel.kernelRelease}, every hook enforcement needs present`
      : `Linux ${status.kernel.kernelRelease}, missing: ${status.kernel.missing.join('; ')}`;
  const lines = table(
    ['', ''],
    [
      [
        'Helper',
        `running, pid ${status.pid}, version ${status.version}, up ${formatDuration(status.uptimeSec * 1000)}`,
      ],
      ['Enforcement', enforcement],
      ['Mode', MODE_WORDS[modeOf(status.defaultAction)]],
      ...(status.pendingPrompts ? [['Questions', `${status.pendingPrompts} waiting (portcullis prompts)`]] : []),
      [
        'Attached',
        `${status.attach.cgroup} (pins in ${status.attach.pinDir}${status.attach.adopted ? ', adopted' : ''})`,
      ],
      ['Rules', String(status.ruleCount)],
      ['Lists', `${status.lists.count} holding ${status.lists.entries} entries`],
      ['Apps', String(status.appCount)],
      ['Events', `${status.eventsSeen} seen, ${status.eventDrops} dropped`],
      [
        'DNS',
        `${status.dns.answersLearned} answers learned, ${status.dns.answersIgnored} ignored (no matching query); ` +
          `${status.dns.domainAddresses} addresses for domain rules`,
      ],
      ['Kernel', kernel],
    ],
  )
    .split('\n')
    .slice(1);
  return [...lines, ...featureLines(status.kernel.features).map((line) => `  ${line}`)].join('\n');
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'show enforcement, rule count and kernel features',
  synopsis: '[--json]',
  flags: {},
  json: true,
  async run(context) {
    const status = await (await context.connect()).call('status');
    context.out(context.json ? JSON.stringify(status) : formatStatus(status));
    return 0;
  },
};
