// settings [--default-action allow|block] [--retention-days N] [--notify-on-first-block on|off]
// [--authorized-users UIDS|none]: print the helper's settings, or change them. An allow default and
// the history's length need an administrator; who may use the helper only root changes.
import { PortcullisError, settingsPatchSchema, type InputOf, type Settings } from '../../contract/index.js';
import type { Command, CommandContext } from '../command.js';
import { table } from '../format.js';

type SettingsPatch = InputOf<typeof settingsPatchSchema>;

const FLAGS = {
  'default-action': {
    type: 'string',
    description: 'allow (monitor mode) or block (allow-list mode)',
    placeholder: 'ACTION',
  },
  'retention-days': { type: 'string', description: 'days of connection history kept (1-3650)', placeholder: 'N' },
  'notify-on-first-block': {
    type: 'string',
    description: 'on or off: the desktop notification when an app is first blocked',
    placeholder: 'on|off',
  },
  'authorized-users': {
    type: 'string',
    description: 'uids besides root and who started the helper, comma-separated, or none (root only)',
    placeholder: 'UIDS',
  },
} as const;

const bad = (flag: string, message: string) =>
  new PortcullisError('invalid-input', `--${flag}: ${message}`, { where: `--${flag}` });

/** The flags given, as a patch the helper checks again (it is the trust boundary). */
function patchOf(flags: CommandContext['flags']): SettingsPatch {
  const patch: SettingsPatch = {};
  const text = (flag: keyof typeof FLAGS) => flags[flag] as string | undefined;
  const action = text('default-action');
  if (action !== undefined) {
    if (action !== 'allow' && action !== 'block')
      throw bad('default-action', `must be allow or block, got "${action}"`);
    patch.defaultAction = action;
  }
  const days = text('retention-days');
  if (days !== undefined) {
    if (!/^[0-9]{1,4}$/.test(days)) throw bad('retention-days', `"${days}" is not a whole number of days`);
    patch.retentionDays = Number(days);
  }
  const notify = text('notify-on-first-block');
  if (notify !== undefined) {
    if (notify !== 'on' && notify !== 'off') throw bad('notify-on-first-block', `must be on or off, got "${notify}"`);
    patch.notifyOnFirstBlock = notify === 'on';
  }
  const users = text('authorized-users');
  if (users !== undefined) {
    const parts = users === 'none' ? [] : users.split(',').map((part) => part.trim());
    const bogus = parts.find((part) => !/^[0-9]{1,10}$/.test(part));
    if (bogus !== undefined)
      throw bad('authorized-users', `"${bogus}" is not a uid (give numbers separated by commas, or none)`);
    patch.authorizedUsers = parts.map(Number);
  }
  const checked = settingsPatchSchema.parse(patch, 'settings');
  if (!checked.ok) {
    const flag =
      Object.keys(FLAGS).find((name) =>
        checked.error.where.endsWith(name.replace(/-(.)/g, (_, c: string) => c.toUpperCase())),
      ) ?? 'settings';
    throw bad(flag, checked.error.message);
  }
  return patch;
}

function settingsTable(settings: Settings): string {
  return table(
    ['', ''],
    [
      ['Default action', settings.defaultAction === 'allow' ? 'allow (monitor mode)' : 'block (allow-list mode)'],
      ['History kept', `${settings.retentionDays} days`],
      ['Notify on first block', settings.notifyOnFirstBlock ? 'on' : 'off'],
      [
        'Authorized users',
        settings.authorizedUsers.length > 0
          ? settings.authorizedUsers.join(', ')
          : 'none besides root and who started the helper',
      ],
    ],
  )
    .split('\n')
    .slice(1)
    .join('\n');
}

const changes = (flags: CommandContext['flags']) => Object.keys(FLAGS).some((flag) => flags[flag] !== undefined);

export const settingsCommand: Command = {
  name: 'settings',
  summary: "show the helper's settings, or change them with flags",
  synopsis:
    '[--default-action allow|block] [--retention-days N] [--notify-on-first-block on|off] [--authorized-users UIDS|none]',
  flags: FLAGS,
  json: true,
  mayLoosen: ({ flags }) => changes(flags),
  async run(context) {
    const patch = changes(context.flags) ? patchOf(context.flags) : null;
    const client = await context.connect();
    const settings = patch ? await client.call('settings.update', { patch }) : await client.call('settings.get');
    context.out(context.json ? JSON.stringify(settings) : settingsTable(settings));
    return 0;
  },
};
