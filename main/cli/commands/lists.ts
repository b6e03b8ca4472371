// lists: the lists (imports, subscriptions, policy) with their entry counts; lists show NAME,
// lists enable|disable NAME, lists remove NAME. Subscriptions: lists add URL, lists update [NAME].
import {
  LINE_FORMATS,
  PortcullisError,
  formatEvery,
  parseEvery,
  parseListUrl,
  type LineFormat,
  type ListUpdate,
  type RuleList,
} from '../../contract/index.js';
import type { HelperClient } from '../../client/helper-client.js';
import type { Command, CommandContext } from '../command.js';
import { formatDuration, table } from '../format.js';
import { formatCount } from '../progress.js';

/** A list by name (or id). */
export async function findList(client: HelperClient, nameOrId: string): Promise<RuleList> {
  const lists = await client.call('lists.list');
  const found =
    lists.find((list) => list.name === nameOrId) ??
    (/^[0-9]+$/.test(nameOrId) ? lists.find((list) => list.id === Number(nameOrId)) : undefined);
  if (!found)
    throw new PortcullisError(
      'not-found',
      `there is no list "${nameOrId}"${lists.length > 0 ? ` (lists: ${lists.map((l) => l.name).join(', ')})` : ''}`,
    );
  return found;
}

function when(time: number | null, now: number): string {
  if (time === null) return '-';
  return time <= now ? `${formatDuration(now - time)} ago` : `in ${formatDuration(time - now)}`;
}

export function listsTable(lists: RuleList[], now = Date.now()): string {
  if (lists.length === 0)
    return 'No lists. Import one with "portcullis import FILE" or subscribe with "portcullis lists add URL".';
  return table(
    ['ID', 'NAME', 'KIND', 'ACTION', 'ENTRIES', 'STATE', 'UPDATED', 'NEXT', 'SOURCE'],
    lists.map((list) => [
      String(list.id),
      list.name,
      list.managedBy ? `policy (${list.managedBy})` : list.kind,
      `${list.action}${list.appId !== null ? ` app ${list.appId}` : ''}`,
      `${formatCount(list.entryCount)}${list.pendingCount > 0 ? ` +${formatCount(list.pendingCount)} to review` : ''}`,
      `${list.enabled ? 'enabled' : 'disabled'}${list.subscription?.error ? ', failing' : ''}`,
      when(list.subscription?.lastSuccessAt ?? list.updatedAt, now),
      list.subscription
        ? `${when(list.subscription.nextCheckAt, now)} (every ${formatEvery(list.subscription.everyMs)})`
        : '-',
      list.subscription?.url ?? list.source,
    ]),
  );
}

function describeList(list: RuleList, now = Date.now()): string {
  const lines = [
    `list ${list.id} "${list.name}": ${list.kind}${list.managedBy ? `, managed by ${list.managedBy}` : ''}`,
    `  ${list.action}${list.appId !== null ? ` for app ${list.appId}` : ' for every app'}, ${list.direction === 'both' ? 'both directions' : list.direction === 'out' ? 'outbound' : 'inbound'}, ${list.enabled ? 'enabled' : 'disabled'}`,
    `  ${formatCount(list.entryCount)} entries${list.pendingCount > 0 ? `, ${formatCount(list.pendingCount)} waiting for review` : ''}`,
    `  source: ${list.subscription?.url ?? list.source}`,
  ];
  if (list.note) lines.push(`  note: ${list.note}`);
  const sub = list.subscription;
  if (sub) {
    lines.push(
      `  fetched every ${formatEvery(sub.everyMs)}; last check ${when(sub.lastCheckAt, now)}, last success ${when(sub.lastSuccessAt, now)}, next ${when(sub.nextCheckAt, now)}`,
    );
    if (sub.error) lines.push(`  last fetch failed (the last good copy stays): ${sub.error}`);
  }
  return lines.join('\n');
}

async function oneList(context: CommandContext, args: string[]): Promise<{ client: HelperClient; list: RuleList }> {
  const [name, ...extra] = args;
  if (name === undefined) throw new PortcullisError('invalid-input', 'NAME is missing: which list?', { where: 'NAME' });
  if (extra.length > 0)
    throw new PortcullisError('invalid-input', `unexpected argument "${extra[0]}"`, { where: 'arguments' });
  const client = await context.connect();
  return { client, list: await findList(client, name) };
}

type Verb = (context: CommandContext, args: string[]) => Promise<number>;

function describeUpdate(update: ListUpdate): string {
  const { list } = update;
  const what =
    update.result === 'failed'
      ? `fetching failed: ${update.error}; ${list.entryCount > 0 ? 'the last good copy stays' : 'it will be tried again'}`
      : update.result === 'changed'
        ? `+${formatCount(update.added)} -${formatCount(update.removed)}, ${formatCount(list.entryCount)} entries`
        : `unchanged, ${formatCount(list.entryCount)} entries`;
  return `list "${list.name}": ${what}${list.pendingCount > 0 ? ` (${formatCount(list.pendingCount)} wait for review: "portcullis lists enable ${list.name}")` : ''}`;
}

/** Options of "lists add" checked here, so a mistake names the flag (the helper checks them again). */
function subscribeOptions(context: CommandContext) {
  const flag = (name: string) => context.flags[name] as string | undefined;
  const every = flag('every');
  if (every !== undefined) {
    const parsed = parseEvery(every, '--every');
    if (!parsed.ok)
      throw new PortcullisError('invalid-input', `--every: ${parsed.error.message}`, { where: '--every' });
  }
  const format = flag('format');
  if (format !== undefined && !(LINE_FORMATS as readonly string[]).includes(format))
    throw new PortcullisError('invalid-input', `--format: "${format}" is not one of ${LINE_FORMATS.join(', ')}`, {
      where: '--format',
    });
  const action = flag('action');
  if (action !== undefined && action !== 'block' && action !== 'allow')
    throw new PortcullisError('invalid-input', `--action: "${action}" is neither block nor allow`, {
      where: '--action',
    });
  return {
    ...(flag('name') !== undefined ? { name: flag('name') } : {}),
    ...(every !== undefined ? { every } : {}),
    ...(format !== undefined ? { format: format as LineFormat } : {}),
    ...(action !== undefined ? { action: action as 'block' | 'allow' } : {}),
  };
}

export const listVerbs: Record<string, Verb> = {
  async add(context, args) {
    const [url, ...extra] = args;
    if (url === undefined)
      throw new PortcullisError('invalid-input', 'URL is missing: give an http(s) URL', { where: 'URL' });
    if (extra.length > 0)
      throw new PortcullisError('invalid-input', `unexpected argument "${extra[0]}"`, { where: 'arguments' });
    const checked = parseListUrl(url, 'URL');
    if (!checked.ok) throw new PortcullisError('invalid-input', `URL: ${checked.error.message}`, { where: 'URL' });
    const update = await (await context.connect()).call('lists.subscribe', { url, ...subscribeOptions(context) });
    context.out(context.json ? JSON.stringify(update) : describeUpdate(update));
    return update.result === 'failed' ? 1 : 0;
  },
  async update(context, args) {
    const client = await context.connect();
    const id = args.length === 0 ? undefined : (await oneList(context, args)).list.id;
    const updates = await client.call('lists.refresh', id === undefined ? {} : { id });
    if (context.json) context.out(JSON.stringify(updates));
    else context.out(updates.length === 0 ? 'No subscriptions.' : updates.map(describeUpdate).join('\n'));
    return updates.some((update) => update.result === 'failed') ? 1 : 0;
  },
  async show(context, args) {
    const { client, list } = await oneList(context, args);
    const first = await client.call('lists.entries', { id: list.id, limit: 20 });
    if (context.json) context.out(JSON.stringify({ list, entries: first.entries }));
    else {
      context.out(describeList(list));
      for (const entry of first.entries) context.out(`  ${entry.id}  ${entry.remote}`);
      if (first.total > first.entries.length)
        context.out(`  … ${formatCount(first.total - first.entries.length)} more`);
    }
    return 0;
  },
  async enable(context, args) {
    const { client, list } = await oneList(context, args);
    const updated = await client.call('lists.update', { id: list.id, patch: { enabled: true } });
    context.out(
      context.json
        ? JSON.stringify(updated)
        : `list "${updated.name}" enabled: ${formatCount(updated.entryCount)} entries enforced`,
    );
    return 0;
  },
  async disable(context, args) {
    const { client, list } = await oneList(context, args);
    const updated = await client.call('lists.update', { id: list.id, patch: { enabled: false } });
    context.out(context.json ? JSON.stringify(updated) : `list "${updated.name}" disabled`);
    return 0;
  },
  async remove(context, args) {
    const { client, list } = await oneList(context, args);
    const { removed } = await client.call('lists.remove', { id: list.id });
    context.out(
      context.json
        ? JSON.stringify(removed)
        : `removed list "${removed.name}" (${formatCount(removed.entryCount)} entries)`,
    );
    return 0;
  },
};

export const listsCommand: Command = {
  name: 'lists',
  summary: 'lists: subscribe (add URL), update, show, enable, disable, remove',
  synopsis: `[add URL [--name N] [--action block|allow] [--every 24h] [--format F] | update [NAME] | show|enable|disable|remove NAME]`,
  flags: {
    name: { type: 'string', description: 'add: the list name (default: the URL)', placeholder: 'NAME' },
    action: { type: 'string', description: 'add: block (default) or allow (waits for review)', placeholder: 'ACTION' },
    every: {
      type: 'string',
      description: 'add: how often to fetch it (default 24h, at least 15m)',
      placeholder: 'DURATION',
    },
    format: { type: 'string', description: `add: ${LINE_FORMATS.join(', ')} (default auto)`, placeholder: 'F' },
  },
  json: true,
  // Enabling an allow list, disabling or removing a block list (the helper decides which).
  mayLoosen: ({ positionals }) => ['enable', 'disable', 'remove'].includes(positionals[0] ?? ''),
  async run(context) {
    const [verb, ...args] = context.positionals;
    if (verb === undefined) {
      const lists = await (await context.connect()).call('lists.list');
      context.out(context.json ? JSON.stringify(lists) : listsTable(lists));
      return 0;
    }
    const run = listVerbs[verb];
    if (!run)
      throw new PortcullisError(
        'invalid-input',
        `unknown lists verb "${verb}" (${Object.keys(listVerbs).join(', ')})`,
        {
          where: 'VERB',
        },
      );
    return run(context, args);
  },
};
