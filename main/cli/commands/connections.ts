// connections [--follow]: recent flows, or the live decision stream until interrupted.
import type { ConnectionEvent } from '../../contract/index.js';
import type { Command } from '../command.js';
import { table } from '../format.js';

function eventLine(event: ConnectionEvent): string {
  const time = new Date(event.time).toISOString().slice(11, 23);
  const remote = event.remoteName ? `${event.remoteName} (${event.remoteAddr})` : event.remoteAddr;
  return `${time} ${event.verdict.padEnd(5)} ${event.direction.padEnd(3)} ${event.protocol.padEnd(4)} ${event.comm}[${event.pid}] app ${event.appId} -> ${remote}:${event.remotePort}${event.ruleId ? ` rule ${event.ruleId}` : ''}`;
}

export const connectionsCommand: Command = {
  name: 'connections',
  summary: 'show connections (--follow: live decisions until Ctrl-C)',
  synopsis: '[--follow] [--json]',
  flags: { follow: { type: 'boolean', description: 'stream decisions as they happen' } },
  json: true,
  async run(context) {
    const client = await context.connect();
    if (!context.flags.follow) {
      const flows = await client.call('connections.list', {});
      context.out(context.json ? JSON.stringify(flows) : table(
        ['APP', 'REMOTE', 'PORT', 'PROTO', 'DIR', 'OUT', 'IN', 'ALLOWED', 'BLOCKED'],
        flows.map((flow) => [String(flow.appId), flow.remoteName ?? flow.remoteAddr, String(flow.remotePort), flow.protocol, flow.direction,
          String(flow.bytesOut), String(flow.bytesIn), String(flow.allowed), String(flow.blocked)]),
      ));
      return 0;
    }
    client.on('events', ({ events, dropped }) => {
      // --json: one JSON object per line (NDJSON), easy to pipe.
      for (const event of events) context.out(context.json ? JSON.stringify(event) : eventLine(event));
      if (dropped > 0) context.note(`(${dropped} event(s) dropped)`);
    });
    await client.call('events.subscribe');
    return new Promise<number>((resolve) => {
      const stop = () => resolve(0);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      client.onClose((error) => {
        context.note(`portcullis: ${error.message}`);
        resolve(1);
      });
    });
  },
};
