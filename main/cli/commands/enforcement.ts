// enable / disable [--for DURATION]: turn enforcement on or off (or pause it; both need an
// administrator).
import { PortcullisError, parseDuration } from '../../contract/index.js';
import type { Command } from '../command.js';
import { formatStatus } from './status.js';

export const enableCommand: Command = {
  name: 'enable',
  summary: 'turn enforcement on',
  synopsis: '',
  flags: {},
  json: true,
  async run(context) {
    const status = await (await context.connect()).call('enforcement.set', { enabled: true });
    context.out(context.json ? JSON.stringify(status) : 'enforcement on');
    return 0;
  },
};

export const disableCommand: Command = {
  name: 'disable',
  summary: 'turn enforcement off (rules stay; --for pauses it)',
  synopsis: '[--for DURATION]',
  flags: {
    for: {
      type: 'string',
      description: 'turn it back on after this long (5m, 1h; at most 24h)',
      placeholder: 'DURATION',
    },
  },
  json: true,
  mayLoosen: () => true,
  async run(context) {
    const text = context.flags.for as string | undefined;
    let pauseMinutes: number | undefined;
    if (text !== undefined) {
      const duration = parseDuration(text, '--for');
      if (!duration.ok)
        throw new PortcullisError('invalid-input', `--for: ${duration.error.message}`, { where: '--for' });
      pauseMinutes = Math.ceil(duration.value / 60_000);
      if (pauseMinutes > 24 * 60)
        throw new PortcullisError(
          'invalid-input',
          `--for: "${text}" is longer than 24h; disable without --for instead`,
          { where: '--for' },
        );
    }
    const status = await (
      await context.connect()
    ).call('enforcement.set', { enabled: false, ...(pauseMinutes ? { pauseMinutes } : {}) });
    context.out(
      context.json
        ? JSON.stringify(status)
        : formatStatus(status)
            .split('\n')[1]!
            .replace(/^Enforcement\s+/, 'enforcement '),
    );
    return 0;
  },
};
