// connections [--app APP] [--since TIME] [--follow]: recent flows from the helper's history, or
// the live decision stream until interrupted.
import type { App, ConnectionEvent, Flow } from '../../contract/index.js';
import type { Command } from '../command.js';
import { table } from '../format.js';
import { parseSince, selectApp } from '../app-selection.js';
import { followUntilStopped } from '../follow.js';

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const appLabel = (apps: Map<number, App>, id: number): string =>
  id === 0 ? '(unknown)' : (apps.get(id)?.name ?? `app ${id}`);

function eventLine(event: ConnectionEvent, apps: Map<number, App>): string {
  const time = new Date(event.time).toISOString().slice(11, 23);
  const remote = event.remoteName ? `${event.remoteName} (${event.remoteAddr})` : event.remoteAddr;
  return `${time} ${event.verdict.padEnd(5)} ${event.direction.padEnd(3)} ${event.protocol.padEnd(4)} ${appLabel(apps, event.appId)} ${event.comm}[${event.pid}] -> ${remote}:${event.remotePort}${event.ruleId ? ` rule ${event.ruleId}` : ''}`;
}

function flowsTable(flows: Flow[], apps: Map<number, App>): string {
  if (flows.length === 0) return 'No connections recorded.';
  return table(
    ['APP', 'REMOTE', 'PORT', 'PROTO', 'DIR', 'SENT', 'RECEIVED', 'ALLOWED', 'BLOCKED', 'LAST SEEN'],
    flows.map((flow) => [
      appLabel(apps, flow.appId),
      flow.remoteName ? `${flow.remoteName} (${flow.remoteAddr})` : flow.remoteAddr,
      String(flow.remotePort),
      flow.protocol,
      flow.direction,
      formatBytes(flow.bytesOut),
      formatBytes(flow.bytesIn),
      String(flow.allowed),
      String(flow.blocked),
      new Date(flow.lastSeen).toISOString().replace('T', ' ').slice(0, 19),
    ]),
  );
}

export const connectionsCommand: Command = {
  name: 'connections',
  summary: 'show who talked to whom (--follow: live decisions until Ctrl-C)',
  synopsis: '[--app APP] [--since TIME] [--follow] [--json]',
  flags: {
    app: { type: 'string', description: 'only this app: an id, an executable path or a name', placeholder: 'APP' },
    since: { type: 'string', description: 'only since TIME: 10m / 2h / 7d ago, or a date/time', placeholder: 'TIME' },
    follow: { type: 'boolean', description: 'stream decisions as they happen' },
  },
  json: true,
  async run(context) {
    // Bad input is reported before any connection is made.
    const since = typeof context.flags.since === 'string' ? parseSince(context.flags.since, Date.now()) : undefined;
    const appText = typeof context.flags.app === 'string' ? context.flags.app : undefined;
    const client = await context.connect();
    const appList = await client.call('apps.list');
    const apps = new Map(appList.map((app) => [app.id, app]));
    const app = appText !== undefined ? selectApp(appList, appText) : undefined;

    if (!context.flags.follow) {
      const flows = await client.call('connections.list', {
        ...(app ? { app: app.id } : {}),
        ...(since !== undefined ? { since } : {}),
      });
      context.out(context.json ? JSON.stringify(flows) : flowsTable(flows, apps));
      return 0;
    }
    client.on('events', ({ events, dropped }) => {
      // --json: one JSON object per line (NDJSON), easy to pipe.
      for (const event of events) {
        if (app && event.appId !== app.id) continue;
        if (since !== undefined && event.time < since) continue;
        context.out(context.json ? JSON.stringify(event) : eventLine(event, apps));
      }
      if (dropped > 0) context.note(`(${dropped} event(s) dropped)`);
    });
    await client.call('events.subscribe');
    return followUntilStopped(client, context);
  },
};
