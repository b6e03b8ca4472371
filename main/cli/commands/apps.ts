// apps: the applications the helper knows, with their ids (for --app and per-app rules).
import type { App } from '../../contract/index.js';
import type { Command } from '../command.js';
import { table } from '../format.js';

function appRow(app: App): string[] {
  return [
    String(app.id),
    app.kind,
    app.name,
    app.identifier ?? '',
    app.exe ?? '',
    app.defaultAction ?? 'global',
    new Date(app.lastSeen).toISOString().replace('T', ' ').slice(0, 19),
  ];
}

export const appsCommand: Command = {
  name: 'apps',
  summary: 'list the applications seen (ids for --app)',
  synopsis: '[--json]',
  flags: {},
  json: true,
  async run(context) {
    const apps = await (await context.connect()).call('apps.list');
    if (context.json) context.out(JSON.stringify(apps));
    else
      context.out(
        apps.length === 0
          ? 'No applications seen yet.'
          : table(['ID', 'KIND', 'NAME', 'IDENTIFIER', 'EXECUTABLE', 'DEFAULT', 'LAST SEEN'], apps.map(appRow)),
      );
    return 0;
  },
};
