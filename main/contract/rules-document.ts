// Portcullis's own JSON: rules and lists with every field a person sets, so an export imports back
// to the same rules (export, import into an empty helper, export again: the same text). Policy
// files (/etc/portcullis/policy.d/*.json) are this document too. Apps are written as executable
// paths where they have one (portable across machines), else as the helper's app id.
import { fail, s, type Infer, type Result } from './schema.js';
import {
  ACTIONS,
  DIRECTIONS,
  appSelectorSchema,
  formatPorts,
  formatRemote,
  ruleDraftSchema,
  type Rule,
  type RuleDraft,
} from './rules.js';
import { listNameSchema, type RuleList } from './lists.js';
import { LINE_FORMATS, type LineFormat } from './list-formats.js';
import type { App } from './domain.js';
import { jsonErrorPlace } from './json-error.js';
import { everySchema, formatEvery, listUrlSchema } from './subscriptions.js';

export const DOCUMENT_FORMAT = 'portcullis-rules';
export const DOCUMENT_VERSION = 1;

/** Most entries a list in a document may hold (the helper's own limit per list). */
const MAX_DOCUMENT_ENTRIES = 5_000_000;

export const documentListSchema = s.object({
  name: listNameSchema,
  source: s.optional(s.string({ max: 2000 })),
  action: s.oneOf(ACTIONS),
  app: s.optional(appSelectorSchema),
  direction: s.optional(s.oneOf(DIRECTIONS)),
  note: s.optional(s.string({ max: 1000 })),
  enabled: s.optional(s.boolean()),
  /** A subscription: fetched from this URL on this schedule; its entries are the last good copy. */
  subscription: s.optional(
    s.object({ url: listUrlSchema, every: everySchema, format: s.optional(s.oneOf(LINE_FORMATS)) }),
  ),
  entries: s.array(s.string({ max: 300 }), { max: MAX_DOCUMENT_ENTRIES }),
});

export const rulesDocumentSchema = s.object({
  format: s.literal(DOCUMENT_FORMAT),
  version: s.literal(DOCUMENT_VERSION),
  rules: s.optional(s.array(ruleDraftSchema, { max: 1_000_000 })),
  lists: s.optional(s.array(documentListSchema, { max: 10_000 })),
});

export type ParsedRulesDocument = Infer<typeof rulesDocumentSchema>;
export type ParsedDocumentList = Infer<typeof documentListSchema>;

export interface DocumentList {
  name: string;
  source: string;
  action: RuleList['action'];
  app: RuleDraft['app'];
  direction: RuleList['direction'];
  note: string;
  enabled: boolean;
  subscription?: { url: string; every: string; format?: LineFormat };
  entries: string[];
}

export interface RulesDocument {
  format: typeof DOCUMENT_FORMAT;
  version: typeof DOCUMENT_VERSION;
  rules: RuleDraft[];
  lists: DocumentList[];
}

/** How an app id is written: its executable's path when it has one, else the id. */
export function appReference(apps: readonly App[]): (appId: number | null) => string | number | null {
  const byId = new Map(apps.map((app) => [app.id, app]));
  return (appId) => {
    if (appId === null) return null;
    const app = byId.get(appId);
    return app?.kind === 'executable' && app.exe ? app.exe : appId;
  };
}

/** A rule as the document writes it: every field a person sets, nothing the helper keeps. */
export function documentRule(rule: Rule, app: (appId: number | null) => string | number | null): RuleDraft {
  return {
    action: rule.action,
    app: app(rule.appId),
    remote: formatRemote(rule.remote),
    port: rule.ports ? formatPorts(rule.ports) : null,
    protocol: rule.protocol,
    direction: rule.direction,
    expiresAt: rule.expiresAt,
    note: rule.note,
    enabled: rule.enabled,
  };
}

export function documentList(
  list: RuleList,
  entries: string[],
  app: (appId: number | null) => string | number | null,
): DocumentList {
  return {
    name: list.name,
    source: list.source,
    action: list.action,
    app: app(list.appId),
    direction: list.direction,
    note: list.note,
    enabled: list.enabled,
    ...(list.subscription
      ? {
          subscription: {
            url: list.subscription.url,
            every: formatEvery(list.subscription.everyMs),
            ...(list.subscription.format !== 'auto' ? { format: list.subscription.format } : {}),
          },
        }
      : {}),
    entries,
  };
}

/** The document's text: stable key order, one rule or list per line, so files diff well. */
export function formatDocument(document: RulesDocument): string {
  const lines = [
    '{',
    `  "format": ${JSON.stringify(document.format)},`,
    `  "version": ${document.version},`,
    `  "rules": [${document.rules.length === 0 ? '' : '\n'}${document.rules.map((rule) => `    ${JSON.stringify(rule)}`).join(',\n')}${document.rules.length === 0 ? '' : '\n  '}],`,
    `  "lists": [${document.lists.length === 0 ? '' : '\n'}${document.lists.map((list) => `    ${JSON.stringify(list)}`).join(',\n')}${document.lists.length === 0 ? '' : '\n  '}]`,
    '}',
    '',
  ];
  return lines.join('\n');
}

/** Parses a document's text: JSON errors and schema errors say where ("document.rules[3].port"). */
export function parseDocument(text: string, where = 'document'): Result<ParsedRulesDocument> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const place = jsonErrorPlace(text);
    const at = place ? ` at line ${place.line}, column ${place.column}` : '';
    return fail(where, `is not valid JSON${at}: ${(error as Error).message}`);
  }
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !('format' in raw))
    return fail(`${where}.format`, `is missing: a Portcullis document starts with "format": "${DOCUMENT_FORMAT}"`);
  return rulesDocumentSchema.parse(raw, where);
}
