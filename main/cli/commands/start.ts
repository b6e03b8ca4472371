// `portcullis start`: starts the installed helper through polkit (pkexec on the launcher, an
// administrator's password), as the app does; says plainly when the dialog was dismissed (126) or
// polkit refused (127). Root runs `portcullis helper` instead.
import { PortcullisError } from '../../contract/index.js';
import { HelperClient } from '../../client/helper-client.js';
import { launchHelper } from '../../client/launch-helper.js';
import type { Command } from '../command.js';

export const startCommand: Command = {
  name: 'start',
  summary: 'start the installed helper through polkit (asks for an administrator)',
  synopsis: '',
  flags: {},
  json: false,
  async run(context) {
    if (context.positionals.length > 0)
      throw new PortcullisError('invalid-input', `unexpected argument "${context.positionals[0]}"`, {
        where: 'arguments',
      });
    const answers = async () => {
      const client = await HelperClient.connect({ socketPath: context.socketPath, clientName: 'cli start' });
      client.close();
      return true;
    };
    const result = await launchHelper({ isReady: answers });
    if (!result.ok) throw result.error;
    context.out(
      result.alreadyRunning
        ? 'the helper is already running'
        : `helper started (pid ${result.pid}); its log: ${result.logPath}`,
    );
    return 0;
  },
};
