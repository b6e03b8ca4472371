// How a --follow command ends: a person's Ctrl-C or SIGTERM is a normal end (0); the helper closing
// the connection is a failure (1) and says why.
import type { HelperClient } from '../client/helper-client.js';
import type { CommandContext } from './command.js';

export function followUntilStopped(client: HelperClient, context: Pick<CommandContext, 'note'>): Promise<number> {
  return new Promise<number>((resolve) => {
    const stop = () => resolve(0);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    client.onClose((error) => {
      context.note(`portcullis: ${error.message}`);
      resolve(1);
    });
  });
}
