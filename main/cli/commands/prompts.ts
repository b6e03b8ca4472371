// Ask mode from the command line: `mode ask|monitor|allowlist`, `prompts [--follow]` (the questions
// waiting) and `answer ID allow|deny [...]`.
import {
  MODES,
  PortcullisError,
  defaultActionOf,
  describePrompt,
  modeOf,
  type Mode,
  type Prompt,
  type PromptAnswerInput,
} from '../../contract/index.js';
import type { Command } from '../command.js';
import { formatDuration, table } from '../format.js';
import { followUntilStopped } from '../follow.js';

export const MODE_WORDS: Record<Mode, string> = {
  monitor: 'monitor (allow what no rule decides)',
  allowlist: 'allow-list (block what no rule decides)',
  ask: 'ask (hold what no rule decides and ask)',
};

export const modeCommand: Command = {
  name: 'mode',
  summary: 'show or set what happens to traffic no rule decides: ask, monitor or allowlist',
  synopsis: '[ask|monitor|allowlist] [--json]',
  flags: {},
  json: true,
  async run(context) {
    const [wanted, extra] = context.positionals;
    if (extra !== undefined)
      throw new PortcullisError('invalid-input', `mode: unexpected "${extra}"; give one mode`, { where: 'arguments' });
    if (wanted !== undefined && !(MODES as readonly string[]).includes(wanted))
      throw new PortcullisError('invalid-input', `mode: "${wanted}" is not a mode: give ${MODES.join(', ')}`, {
        where: 'mode',
      });
    const client = await context.connect();
    const settings =
      wanted === undefined
        ? await client.call('settings.get')
        : await client.call('settings.update', { patch: { defaultAction: defaultActionOf(wanted as Mode) } });
    const mode = modeOf(settings.defaultAction);
    context.out(context.json ? JSON.stringify({ mode }) : `mode: ${MODE_WORDS[mode]}`);
    return 0;
  },
};

function promptsTable(prompts: Prompt[], now: number): string {
  if (prompts.length === 0) return 'No questions waiting.';
  const rows: string[][] = [];
  for (const prompt of prompts) {
    prompt.hosts.forEach((host, i) => {
      rows.push([
        i === 0 ? String(prompt.id) : '',
        i === 0 ? prompt.appName : '',
        host.remoteName ? `${host.remoteName} (${host.remoteAddr})` : host.remoteAddr,
        host.ports.join(','),
        host.protocols.join(','),
        String(host.held),
        i === 0 ? `in ${formatDuration(prompt.deadline - now)}` : '',
      ]);
    });
  }
  return table(['ID', 'APP', 'HOST', 'PORTS', 'PROTO', 'HELD', 'TIMES OUT'], rows);
}

export const promptsCommand: Command = {
  name: 'prompts',
  summary: 'show the questions ask mode is waiting on (--follow: as they come, until Ctrl-C)',
  synopsis: '[--follow] [--json]',
  flags: { follow: { type: 'boolean', description: 'print the questions again whenever they change' } },
  json: true,
  async run(context) {
    const client = await context.connect();
    if (!context.flags.follow) {
      const prompts = await client.call('prompts.list');
      context.out(context.json ? JSON.stringify(prompts) : promptsTable(prompts, Date.now()));
      return 0;
    }
    let shown = new Set<number>();
    client.on('prompts.changed', ({ prompts }) => {
      // --json: the whole list per line (NDJSON); for people, each new question once.
      if (context.json) {
        context.out(JSON.stringify(prompts));
        return;
      }
      for (const prompt of prompts) if (!shown.has(prompt.id)) context.out(`[${prompt.id}] ${describePrompt(prompt)}`);
      shown = new Set(prompts.map((prompt) => prompt.id));
    });
    await client.call('prompts.subscribe');
    return followUntilStopped(client, context);
  },
};

const LIFETIME_FLAGS = ['once', 'until-quit', 'for', 'always'] as const;

export const answerCommand: Command = {
  name: 'answer',
  summary: 'answer a question: allow or deny, once (default) or remembered as a rule',
  synopsis: 'ID allow|deny [--once|--until-quit|--for DURATION|--always] [--scope host|domain|port|any] [--host ADDR]',
  flags: {
    once: { type: 'boolean', description: 'only the connections held now (the default)' },
    'until-quit': { type: 'boolean', description: 'a rule that goes when the app quits' },
    for: { type: 'string', description: 'a rule that expires after this long (15m, 1h)', placeholder: 'DURATION' },
    always: { type: 'boolean', description: 'a permanent rule' },
    scope: {
      type: 'string',
      description: 'what the answer covers: the host (default), its domain, its port, or any destination',
      placeholder: 'SCOPE',
    },
    host: { type: 'string', description: 'answer for this host of the question only', placeholder: 'ADDR' },
  },
  json: true,
  async run(context) {
    const [idText, action, extra] = context.positionals;
    if (idText === undefined || action === undefined || extra !== undefined)
      throw new PortcullisError(
        'invalid-input',
        'answer: give a question id and allow or deny (see "portcullis prompts")',
        {
          where: 'arguments',
        },
      );
    if (!/^[0-9]+$/.test(idText))
      throw new PortcullisError('invalid-input', `answer: "${idText}" is not a question id`, { where: 'id' });
    if (action !== 'allow' && action !== 'deny')
      throw new PortcullisError('invalid-input', `answer: "${action}" is neither allow nor deny`, { where: 'action' });
    const given = LIFETIME_FLAGS.filter((flag) => context.flags[flag] !== undefined && context.flags[flag] !== false);
    if (given.length > 1)
      throw new PortcullisError('invalid-input', `answer: give one of --${given.join(', --')}, not several`, {
        where: `--${given[1]}`,
      });
    const params: PromptAnswerInput = { id: Number(idText), action };
    if (given[0] === 'for') params.for = context.flags.for as string;
    else if (given[0] !== undefined) params.lifetime = given[0];
    if (typeof context.flags.scope === 'string') params.scope = context.flags.scope;
    if (typeof context.flags.host === 'string') params.host = context.flags.host;
    const result = await (await context.connect()).call('prompts.answer', params);
    context.out(
      context.json
        ? JSON.stringify(result)
        : `${action === 'allow' ? 'allowed' : 'denied'} ${result.decided} held connection(s)${
            result.ruleIds.length > 0 ? `; rule(s) ${result.ruleIds.join(', ')}` : ''
          }`,
    );
    return 0;
  },
};
