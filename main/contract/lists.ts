// Lists: groups of entries that share their terms (action, app, direction, note) and come from one
// place — an imported file, a subscription URL, a policy file. A list's entries are shown, counted
// and toggled together and never mixed into the rules people write one by one. Each entry is a
// remote (address, CIDR or domain) with a rule id of its own, which decisions and hit counts name.
import { fail, ok, s, type Result } from './schema.js';
import { ACTIONS, DIRECTIONS, appSelectorSchema, idSchema, type Action, type Direction } from './rules.js';
import { LINE_FORMATS, type LineFormat, type SkippedLine } from './list-formats.js';

export const LIST_KINDS = ['import', 'subscription', 'policy'] as const;
export type ListKind = (typeof LIST_KINDS)[number];

/** A subscription's schedule and last outcome. */
export interface SubscriptionStatus {
  url: string;
  /** How the download is read. */
  format: LineFormat;
  /** How often it is fetched. */
  everyMs: number;
  /** When it was last fetched (successfully or not), ms since epoch. */
  lastCheckAt: number | null;
  /** When a download last succeeded (changed or not modified). */
  lastSuccessAt: number | null;
  nextCheckAt: number | null;
  /** Why the last fetch failed, in plain words; null after a success. The last good copy stays. */
  error: string | null;
}

/** A list as every client shows it (its entries are read page by page with lists.entries). */
export interface RuleList {
  id: number;
  name: string;
  kind: ListKind;
  /** Where the entries came from: a file name, "stdin", a URL, a policy file. Data, never opened by the helper. */
  source: string;
  action: Action;
  /** null = every app. */
  appId: number | null;
  direction: Direction;
  note: string;
  enabled: boolean;
  entryCount: number;
  /** Entries an allow list's updates brought that wait for review: not enforced until accepted. */
  pendingCount: number;
  createdAt: number;
  updatedAt: number;
  subscription: SubscriptionStatus | null;
  /** The policy file managing this list (read-only for clients), or null. */
  managedBy: string | null;
}

/** What fetching a subscription did. */
export interface ListUpdate {
  list: RuleList;
  /** changed: a diff was applied; unchanged: not modified, or the same entries; failed: the last good copy stays. */
  result: 'changed' | 'unchanged' | 'failed';
  added: number;
  removed: number;
  error: string | null;
}

export interface ListEntry {
  /** The rule id decisions and hit counts name; null for an entry waiting for review. */
  id: number | null;
  remote: string;
}

/**
 * Imports take the line formats, Portcullis's own JSON document (rules and lists, every field) and a
 * bundle of OpenSnitch rule files (opensnitch.ts).
 */
export const IMPORT_FORMATS = [...LINE_FORMATS, 'json', 'opensnitch'] as const;
/** Formats read whole at commit (JSON documents), not line by line. */
export const DOCUMENT_IMPORT_FORMATS: readonly ImportFormat[] = ['json', 'opensnitch'];
export type ImportFormat = (typeof IMPORT_FORMATS)[number];
export const EXPORT_FORMATS = ['json', 'hosts', 'cidr'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Characters of text one import.chunk carries: even all escaped (\u0001 is 6 bytes), a request stays under the line limit. */
export const IMPORT_CHUNK_CHARS = 128 * 1024;

/** Control characters (C0 and DEL): a name is shown on terminals and in the app, where they do harm. */
const isControl = (code: number) => code < 0x20 || code === 0x7f;
const withoutControls = (text: string) => [...text].filter((c) => !isControl(c.charCodeAt(0))).join('');

function parseListName(text: string, where: string): Result<string> {
  const name = text.trim();
  if (name === '') return fail(where, 'is empty: give the list a name');
  if (withoutControls(name) !== name) return fail(where, `"${name.slice(0, 40)}" contains control characters`);
  return ok(name);
}

export const listNameSchema = s.map(s.string({ max: 100 }), 'a list name', parseListName);

/** What a line import's entries share; the list takes them when it is made, and must match them when it exists. */
export const listTermsSchema = {
  action: s.optional(s.oneOf(ACTIONS)),
  app: s.optional(appSelectorSchema),
  direction: s.optional(s.oneOf(DIRECTIONS)),
  note: s.optional(s.string({ max: 1000 })),
};

export const importBeginSchema = s.object({
  format: s.oneOf(IMPORT_FORMATS),
  /** A label for where the text comes from (a file name, "stdin", a URL): shown, never opened. */
  source: s.string({ min: 1, max: 2000 }),
  /** The list a line import goes into (made when missing); default: named after the source. */
  list: s.optional(listNameSchema),
  ...listTermsSchema,
});

export const importChunkSchema = s.object({
  session: s.int({ min: 1 }),
  text: s.string({ max: IMPORT_CHUNK_CHARS }),
});

export const importSessionSchema = s.object({ session: s.int({ min: 1 }) });

/** How far an import has read. */
export interface ImportProgress {
  lines: number;
  entries: number;
  skipped: number;
  /** Characters of text received. */
  received: number;
}

/** What an import did. */
export interface ImportSummary {
  /** Entries (and, from a JSON document, rules) added. */
  added: number;
  /** Already there: in the list, earlier in the same file, or (JSON rules) an identical rule. */
  alreadyPresent: number;
  skippedCount: number;
  /** The first skipped lines with their reasons (JSON: entries located as "lists[0].entries[3]"). */
  skipped: SkippedLine[];
  /** Lists made or added to. */
  lists: RuleList[];
  elapsedMs: number;
}

export const listEntriesSchema = s.object({
  id: idSchema,
  /** The entries an allow list's updates brought, waiting for review, instead of the list's own. */
  pending: s.optional(s.boolean()),
  offset: s.optional(s.int({ min: 0 })),
  limit: s.optional(s.int({ min: 1, max: 200_000 })),
});

export const listPatchSchema = s.object({
  enabled: s.optional(s.boolean()),
  note: s.optional(s.string({ max: 1000 })),
  name: s.optional(listNameSchema),
});

/** A list's default name from where it came from: the file's base name, or the URL's host and path. */
export function listNameFromSource(source: string): string {
  const url = /^[a-z]+:\/\/([^/?#]+)([^?#]*)/i.exec(source);
  const name = url ? `${url[1]}${url[2] === '/' ? '' : url[2]}` : (source.split('/').pop() ?? source);
  const cleaned = withoutControls(name).slice(0, 100);
  return cleaned.trim() === '' ? 'imported' : cleaned;
}
