// Exports, for the CLI and the desktop app alike: what to read from the helper, and the text of each
// format. JSON is Portcullis's own document (every rule and list, imports back the same); hosts and
// CIDR are the block entries other tools read, each noting what it could not express.
import type { App } from './domain.js';
import type { ListEntry, RuleList, ExportFormat } from './lists.js';
import { formatRemote, parseRemote, type Rule } from './rules.js';
import { isCanonicalIpv4 } from './list-formats.js';
import {
  DOCUMENT_FORMAT,
  DOCUMENT_VERSION,
  appReference,
  documentList,
  documentRule,
  formatDocument,
} from './rules-document.js';

/** How an export reads the helper (each client over its own transport); failures throw. */
export interface ExportSource {
  rules(): Promise<Rule[]>;
  lists(): Promise<RuleList[]>;
  entries(id: number, offset: number, limit: number): Promise<{ total: number; entries: ListEntry[] }>;
  apps(): Promise<App[]>;
}

export interface ExportFilter {
  /** Only rules and lists of this app (null: those for every app; undefined: all). */
  appId?: number | null;
  /** Only this list (and no rules). */
  listId?: number;
}

export interface ExportData {
  rules: Rule[];
  lists: Array<{ list: RuleList; entries: string[] }>;
  apps: App[];
}

const PAGE = 200_000;

/** Reads what an export needs; managed rules and lists stay with the policy files that made them. */
export async function readExport(source: ExportSource, filter: ExportFilter = {}): Promise<ExportData> {
  const wanted = (appId: number | null) => filter.appId === undefined || filter.appId === appId;
  const [rules, lists, apps] = await Promise.all([source.rules(), source.lists(), source.apps()]);
  const out: ExportData = {
    rules: filter.listId !== undefined ? [] : rules.filter((rule) => !rule.managedBy && wanted(rule.appId)),
    lists: [],
    apps,
  };
  for (const list of lists) {
    if (list.managedBy !== null || !wanted(list.appId)) continue;
    if (filter.listId !== undefined && list.id !== filter.listId) continue;
    const entries: string[] = [];
    for (let offset = 0; offset < list.entryCount; offset += PAGE) {
      const page = await source.entries(list.id, offset, PAGE);
      for (const entry of page.entries) entries.push(entry.remote);
      if (page.entries.length === 0) break;
    }
    out.lists.push({ list, entries });
  }
  return out;
}

/** The export's text in a format, and what the format could not hold (for a note to the person). */
export function formatExport(format: ExportFormat, data: ExportData): { text: string; left: string[] } {
  if (format === 'json') {
    const app = appReference(data.apps);
    const text = formatDocument({
      format: DOCUMENT_FORMAT,
      version: DOCUMENT_VERSION,
      rules: data.rules.map((rule) => documentRule(rule, app)),
      lists: data.lists.map(({ list, entries }) => documentList(list, entries, app)),
    });
    return { text, left: [] };
  }
  // hosts and CIDR lists hold blocks of every app's traffic to a remote, and nothing else.
  const left: string[] = [];
  const remotes: string[] = [];
  const seen = new Set<string>();
  const take = (remote: string) => {
    if (!seen.has(remote)) {
      seen.add(remote);
      remotes.push(remote);
    }
  };
  let narrower = 0;
  for (const rule of data.rules) {
    if (rule.action !== 'block' || !rule.enabled || rule.remote.kind === 'any') continue;
    if (rule.appId !== null || rule.ports !== null || rule.protocol !== 'any' || rule.direction !== 'both') {
      narrower++;
      continue;
    }
    take(formatRemote(rule.remote));
  }
  for (const { list, entries } of data.lists) {
    if (list.action !== 'block' || !list.enabled) continue;
    if (list.appId !== null || list.direction !== 'both') {
      narrower += entries.length;
      continue;
    }
    for (const remote of entries) take(remote);
  }
  if (narrower > 0) left.push(`${narrower} block(s) limited to an app, port, protocol or direction`);
  // Entries and rules are canonical: a dotted quad needs no parse, everything else takes the one parser.
  const isDomain = (remote: string) => {
    if (isCanonicalIpv4(remote)) return false;
    const parsed = parseRemote(remote);
    return parsed.ok && parsed.value.kind === 'domain';
  };
  const lines = [`# Portcullis block list (${format}): exported ${new Date().toISOString()}`];
  if (format === 'hosts') {
    let wildcards = 0;
    let addresses = 0;
    for (const remote of remotes) {
      if (!isDomain(remote)) addresses++;
      else if (remote.startsWith('*.')) wildcards++;
      else lines.push(`0.0.0.0 ${remote}`);
    }
    if (wildcards > 0) left.push(`${wildcards} domain(s) with everything under them (a hosts file names single hosts)`);
    if (addresses > 0) left.push(`${addresses} address(es) and CIDR(s) (a hosts file holds names; use --format cidr)`);
  } else {
    let domains = 0;
    for (const remote of remotes) {
      if (isDomain(remote)) domains++;
      else lines.push(remote);
    }
    if (domains > 0) left.push(`${domains} domain(s) (a CIDR list holds addresses; use --format hosts or json)`);
  }
  for (const note of left) lines.push(`# not in this file: ${note}`);
  return { text: `${lines.join('\n')}\n`, left };
}
