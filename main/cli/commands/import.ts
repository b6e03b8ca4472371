// import FILE|-|URL: a list (hosts, addresses, CIDRs, domains, AdBlock filters, or Portcullis's JSON)
// into the helper in one transaction and one kernel apply. The CLI reads the text (a file, stdin, or
// a URL fetched as the person running it) and streams it; the helper parses it and says what it did.
import { createReadStream, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  IMPORT_FORMATS,
  PortcullisError,
  readOpenSnitchBundle,
  skippedPlace,
  streamImport,
  type ImportCalls,
  type ImportFormat,
  type ImportSummary,
  type OpenSnitchFileSource,
  type ParamsOf,
} from '../../contract/index.js';
import type { HelperClient } from '../../client/helper-client.js';
import type { Command, CommandContext } from '../command.js';
import { ProgressLine, formatCount } from '../progress.js';
import { appSelector } from './rule-draft.js';

/** Skipped lines printed for a person (--json gives every one the helper kept). */
const SKIPPED_SHOWN = 20;

export function importCalls(client: HelperClient): ImportCalls {
  return {
    begin: (params) => client.call('import.begin', params),
    chunk: (params) => client.call('import.chunk', params),
    commit: (params) => client.call('import.commit', params),
    abort: (params) => client.call('import.abort', params),
  };
}

interface TextSource {
  label: string;
  /** Bytes in all, when known. */
  total: number | null;
  /** Bytes read so far. */
  read(): number;
  text: AsyncIterable<string> | Iterable<string>;
}

async function* decoded(stream: AsyncIterable<Uint8Array>, count: (n: number) => void): AsyncIterable<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const bytes of stream) {
    count(bytes.length);
    yield decoder.decode(bytes, { stream: true });
  }
  yield decoder.decode();
}

/** The text of FILE, "-" (stdin) or an http(s) URL (fetched here, as the person running the command). */
export async function openSource(target: string): Promise<TextSource> {
  let bytes = 0;
  const count = (n: number) => {
    bytes += n;
  };
  if (target === '-') return { label: 'stdin', total: null, read: () => bytes, text: decoded(process.stdin, count) };
  if (/^https?:\/\//i.test(target)) {
    let response: Response;
    try {
      response = await fetch(target, { redirect: 'follow', signal: AbortSignal.timeout(120_000) });
    } catch (error) {
      throw new PortcullisError('unavailable', `fetching ${target} failed: ${(error as Error).message}`);
    }
    if (!response.ok || !response.body)
      throw new PortcullisError(
        'unavailable',
        `fetching ${target}: the server answered ${response.status} ${response.statusText}`,
      );
    const length = Number(response.headers.get('content-length'));
    return {
      label: target,
      total: Number.isFinite(length) && length > 0 ? length : null,
      read: () => bytes,
      text: decoded(response.body as AsyncIterable<Uint8Array>, count),
    };
  }
  const path = resolve(target);
  let size: number;
  try {
    const stats = statSync(path);
    if (!stats.isFile()) throw new PortcullisError('invalid-input', `FILE: ${path} is not a file`, { where: 'FILE' });
    size = stats.size;
  } catch (error) {
    if (error instanceof PortcullisError) throw error;
    throw new PortcullisError('invalid-input', `FILE: cannot read ${path}: ${(error as NodeJS.ErrnoException).code}`, {
      where: 'FILE',
    });
  }
  return {
    label: path,
    total: size,
    read: () => bytes,
    text: decoded(createReadStream(path, { highWaterMark: 1024 * 1024 }), count),
  };
}

/**
 * OpenSnitch's rules: every *.json file of a rule directory (as OpenSnitch loads them), or one rule
 * file, read here and sent as one bundle; the helper maps them and says which it could not.
 */
export async function openOpenSnitchSource(target: string): Promise<TextSource> {
  const path = resolve(target);
  const ruleFile = (file: string): OpenSnitchFileSource => ({
    name: basename(file),
    size: statSync(file).size,
    read: () => readFileSync(file, 'utf8'),
  });
  let text: string;
  try {
    let files: OpenSnitchFileSource[];
    if (statSync(path).isDirectory()) {
      const names = readdirSync(path)
        .filter((name) => name.endsWith('.json') && statSync(join(path, name)).isFile())
        .sort();
      files = names.map((name) => ruleFile(join(path, name)));
      if (files.length === 0)
        throw new PortcullisError('invalid-input', `DIR: ${path} holds no *.json rule files`, { where: 'DIR' });
    } else files = [ruleFile(path)];
    text = await readOpenSnitchBundle(files);
  } catch (error) {
    if (error instanceof PortcullisError) throw error;
    throw new PortcullisError(
      'invalid-input',
      `DIR: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      { where: 'DIR' },
    );
  }
  return { label: path, total: text.length, read: () => text.length, text: [text] };
}

/** The summary for a person: counts, the lists touched, the first skipped lines with their reasons. */
export function formatSummary(summary: ImportSummary): string {
  const lines = [
    `${formatCount(summary.added)} added, ${formatCount(summary.alreadyPresent)} already present, ${formatCount(summary.skippedCount)} skipped (${(summary.elapsedMs / 1000).toFixed(1)} s)`,
  ];
  for (const list of summary.lists) {
    lines.push(
      `list "${list.name}" (id ${list.id}): ${formatCount(list.entryCount)} entries, ${list.action}${list.enabled ? '' : ', disabled'}`,
    );
    if (list.action === 'allow' && (!list.enabled || list.pendingCount > 0))
      lines.push(
        `  an allow list opens the firewall: review it, then "portcullis lists enable ${JSON.stringify(list.name)}"${list.pendingCount > 0 ? ` (${formatCount(list.pendingCount)} entries wait)` : ''}`,
      );
  }
  for (const skip of summary.skipped.slice(0, SKIPPED_SHOWN))
    lines.push(`  ${skippedPlace(skip)}: ${skip.text} — ${skip.reason}`);
  if (summary.skippedCount > SKIPPED_SHOWN)
    lines.push(
      `  … and ${formatCount(summary.skippedCount - SKIPPED_SHOWN)} more skipped (--json lists the first ${summary.skipped.length})`,
    );
  return lines.join('\n');
}

/** Streams a source into the helper with a progress line; the summary comes back. */
export async function runImport(
  context: CommandContext,
  begin: ParamsOf<'import.begin'>,
  source: TextSource,
): Promise<ImportSummary> {
  const client = await context.connect();
  const progress = new ProgressLine(context.json ? null : context.terminal);
  try {
    return await streamImport(importCalls(client), begin, source.text, (status) => {
      if (status.phase === 'applying') {
        progress.update(1, `applying ${formatCount(status.parsed?.entries ?? 0)} entries…`);
        return;
      }
      const parsed = status.parsed;
      const what = parsed ? `${formatCount(parsed.lines)} lines, ${formatCount(parsed.entries)} entries` : 'sending';
      progress.update(source.total ? source.read() / source.total : null, `reading ${source.label}: ${what}`);
    });
  } finally {
    progress.done();
  }
}

export const importCommand: Command = {
  name: 'import',
  summary: 'import a list (hosts, addresses, CIDRs, domains, AdBlock, JSON) in one go',
  synopsis:
    'FILE|-|URL [--format F] [--list NAME] [--action block|allow] [--app APP] [--note TEXT] | --format opensnitch DIR|FILE',
  flags: {
    format: {
      type: 'string',
      description: `${IMPORT_FORMATS.join(', ')} (default auto: every line format; opensnitch: a rule directory or file)`,
      placeholder: 'F',
    },
    list: {
      type: 'string',
      description: 'the list to add to (made if missing; default: the file name)',
      placeholder: 'NAME',
    },
    action: {
      type: 'string',
      description: 'block (default) or allow: allow lists wait for review',
      placeholder: 'ACTION',
    },
    app: { type: 'string', description: 'only this application: an executable path or an app id', placeholder: 'APP' },
    note: { type: 'string', description: 'a note for the list', placeholder: 'TEXT' },
  },
  json: true,
  // A Portcullis document may hold enabled allow rules (auto detects one).
  mayLoosen: ({ flags }) =>
    flags.format === undefined || flags.format === 'auto' || flags.format === 'json' || flags.format === 'opensnitch',
  async run(context) {
    const [target, ...extra] = context.positionals;
    if (target === undefined)
      throw new PortcullisError('invalid-input', 'FILE is missing: give a file, "-" for stdin, or an http(s) URL', {
        where: 'FILE',
      });
    if (extra.length > 0)
      throw new PortcullisError('invalid-input', `unexpected argument "${extra[0]}" (one list per import)`, {
        where: 'arguments',
      });
    const flag = (name: string) => context.flags[name] as string | undefined;
    const format = (flag('format') ?? 'auto') as ImportFormat;
    if (!(IMPORT_FORMATS as readonly string[]).includes(format))
      throw new PortcullisError('invalid-input', `--format: "${format}" is not one of ${IMPORT_FORMATS.join(', ')}`, {
        where: '--format',
      });
    const action = flag('action');
    if (action !== undefined && action !== 'block' && action !== 'allow')
      throw new PortcullisError('invalid-input', `--action: "${action}" is neither block nor allow`, {
        where: '--action',
      });
    const app = flag('app');
    const source = format === 'opensnitch' ? await openOpenSnitchSource(target) : await openSource(target);
    const summary = await runImport(
      context,
      {
        format,
        source: source.label,
        ...(flag('list') !== undefined ? { list: flag('list') } : {}),
        ...(action !== undefined ? { action } : {}),
        ...(app !== undefined ? { app: appSelector(app) } : {}),
        ...(flag('note') !== undefined ? { note: flag('note') } : {}),
      },
      source,
    );
    context.out(context.json ? JSON.stringify(summary) : formatSummary(summary));
    return 0;
  },
};
