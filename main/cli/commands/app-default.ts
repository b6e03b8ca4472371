// app-default APP-ID allow|block|global: what an app may do where no rule decides. Allowing by
// default (or dropping a block default for the global one) needs an administrator.
import { PortcullisError, type Action } from '../../contract/index.js';
import type { Command } from '../command.js';

const CHOICES: Record<string, Action | null> = { allow: 'allow', block: 'block', global: null };

export const appDefaultCommand: Command = {
  name: 'app-default',
  summary: "set an app's default verdict (global: follow the global default)",
  synopsis: 'APP-ID allow|block|global',
  flags: {},
  json: true,
  mayLoosen: ({ positionals }) => positionals[1] !== 'block',
  async run(context) {
    const [idText, choice, ...extra] = context.positionals;
    if (idText === undefined || !/^[0-9]{1,10}$/.test(idText)) {
      throw new PortcullisError(
        'invalid-input',
        `APP-ID: give an app id (see "portcullis apps")${idText === undefined ? '' : `, got "${idText}"`}`,
        { where: 'APP-ID' },
      );
    }
    if (choice === undefined || !Object.prototype.hasOwnProperty.call(CHOICES, choice)) {
      throw new PortcullisError(
        'invalid-input',
        `ACTION: must be allow, block or global${choice === undefined ? '' : `, got "${choice}"`}`,
        { where: 'ACTION' },
      );
    }
    if (extra.length > 0)
      throw new PortcullisError('invalid-input', `unexpected argument "${extra[0]}"`, { where: 'arguments' });
    const app = await (
      await context.connect()
    ).call('apps.setDefault', { appId: Number(idText), action: CHOICES[choice]! });
    context.out(
      context.json ? JSON.stringify(app) : `${app.name} (app ${app.id}): ${app.defaultAction ?? 'global'} by default`,
    );
    return 0;
  },
};
