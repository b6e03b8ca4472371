// export [--format json|hosts|cidr] [--app APP] [--list NAME]: rules and lists as text on stdout.
// JSON imports back to the same rules; hosts and CIDR hold the blocks other tools read.
import { EXPORT_FORMATS, PortcullisError, formatExport, readExport, type ExportFormat } from '../../contract/index.js';
import type { HelperClient } from '../../client/helper-client.js';
import type { Command } from '../command.js';
import { selectApp } from '../app-selection.js';
import { findList } from './lists.js';

export function exportSource(client: HelperClient) {
  return {
    rules: () => client.call('rules.list'),
    lists: () => client.call('lists.list'),
    entries: (id: number, offset: number, limit: number) => client.call('lists.entries', { id, offset, limit }),
    apps: () => client.call('apps.list'),
  };
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'write the rules and lists as JSON, a hosts file or a CIDR list',
  synopsis: '[--format json|hosts|cidr] [--app APP] [--list NAME]',
  flags: {
    format: { type: 'string', description: 'json (default: every rule and list), hosts or cidr', placeholder: 'F' },
    app: {
      type: 'string',
      description: "only this app's rules and lists: an id, a path or a name",
      placeholder: 'APP',
    },
    list: { type: 'string', description: 'only this list', placeholder: 'NAME' },
  },
  json: false,
  async run(context) {
    if (context.positionals.length > 0)
      throw new PortcullisError('invalid-input', `unexpected argument "${context.positionals[0]}"`, {
        where: 'arguments',
      });
    const format = ((context.flags.format as string | undefined) ?? 'json') as ExportFormat;
    if (!(EXPORT_FORMATS as readonly string[]).includes(format))
      throw new PortcullisError('invalid-input', `--format: "${format}" is not one of ${EXPORT_FORMATS.join(', ')}`, {
        where: '--format',
      });
    const client = await context.connect();
    const appText = context.flags.app as string | undefined;
    const listName = context.flags.list as string | undefined;
    const appId = appText === undefined ? undefined : selectApp(await client.call('apps.list'), appText).id;
    const listId = listName === undefined ? undefined : (await findList(client, listName)).id;
    const data = await readExport(exportSource(client), {
      ...(appId !== undefined ? { appId } : {}),
      ...(listId !== undefined ? { listId } : {}),
    });
    const { text, left } = formatExport(format, data);
    context.out(text.replace(/\n$/, ''));
    for (const note of left) context.note(`not exported as ${format}: ${note}`);
    return 0;
  },
};
