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
      ['Policy', policySummary(status.policy)],
      ['Kernel', kernel],
    ],
  )
    .split('\n')
    .slice(1);
  const problems = [
    ...(status.policy.error ? [status.policy.error] : []),
    ...status.policy.files.filter((file) => file.error).map((file) => `${file.name}: ${file.error}`),
  ];
  return [
    ...lines,
    ...problems.map((problem) => `  policy ${problem}`),
    ...featureLines(status.kernel.features).map((line) => `  ${line}`),
  ].join('\n');
}

/** The policy directory in a line: its files, what they hold, how many need fixing. */
export function policySummary(policy: Status['policy']): string {
  const applied = policy.files.filter((file) => file.appliedAt !== null);
  const rules = applied.reduce((sum, file) => sum + file.rules, 0);
  const lists = applied.reduce((sum, file) => sum + file.lists, 0);
  const bad = policy.files.filter((file) => file.error).length;
  if (policy.files.length === 0) return `${policy.dir}: ${policy.error ? 'not read' : 'no policy files'}`;
  return `${policy.files.length} file(s) in ${policy.dir}: ${rules} rule(s), ${lists} list(s)${bad > 0 ? `; ${bad} with errors (their last good rules stay)` : ''}`;
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
