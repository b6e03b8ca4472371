// Importing Portcullis's own JSON document: its rules as rules, its lists as lists, in one engine
// change. A rule identical to one already stored (same terms) is already present, so importing a
// file twice adds nothing. Policy files go through here too, as managed rules and lists.
import {
  DEFAULT_EVERY_MS,
  PortcullisError,
  formatRemote,
  invalidInput,
  parseDocument,
  parseRemote,
  specOf,
  type ImportSummary,
  type ParsedDraft,
  type ParsedDocumentList,
  type ParsedRulesDocument,
  type Rule,
  type SkippedLine,
} from '../../contract/index.js';
import type { RulesEngine } from '../engine.js';
import { listView, type StoredList } from '../store/lists-store.js';
import type { ResolvedSpec } from '../store/rules-store.js';
import { addEntries, targetList } from './list-entries.js';
import { RemoteSet } from './remote-set.js';

export interface DocumentImportOptions {
  /** Rules and lists written by a policy file carry its name and are read-only for clients. */
  managedBy?: string | null;
}

/** What makes two rules the same rule: everything but bookkeeping. */
export function ruleTermsKey(
  rule: Pick<Rule, 'action' | 'appId' | 'remote' | 'ports' | 'protocol' | 'direction'>,
): string {
  const ports = rule.ports ? `${rule.ports.from}-${rule.ports.to}` : 'any';
  return `${rule.action} ${rule.appId ?? 'any'} ${formatRemote(rule.remote)} ${ports} ${rule.protocol} ${rule.direction}`;
}

/** A list's entries parsed one by one; bad ones are reported with where they were. */
function documentEntries(
  list: ParsedDocumentList,
  where: string,
  skipped: SkippedLine[],
): { entries: string[]; repeats: number; skippedCount: number } {
  const seen = new RemoteSet();
  const entries: string[] = [];
  let repeats = 0;
  let skippedCount = 0;
  list.entries.forEach((text, index) => {
    const remote = parseRemote(text, `${where}.entries[${index}]`);
    const reason = !remote.ok
      ? remote.error.message
      : remote.value.kind === 'any'
        ? '"any" would match everything'
        : null;
    if (reason !== null || !remote.ok || remote.value.kind === 'any') {
      skippedCount++;
      if (skipped.length < 1000)
        skipped.push({
          line: index + 1,
          text: `${where}.entries[${index}]: ${text.slice(0, 200)}`,
          reason: reason ?? '',
        });
      return;
    }
    const canonical = formatRemote(remote.value);
    if (seen.add(canonical)) entries.push(canonical);
    else repeats++;
  });
  return { entries, repeats, skippedCount };
}

/** Parses and validates a document's text; a document that does not parse stores nothing. */
export function readDocument(text: string, where = 'document'): ParsedRulesDocument {
  const parsed = parseDocument(text, where);
  if (!parsed.ok) throw invalidInput(parsed.error);
  return parsed.value;
}

/** Stores a parsed document's rules and lists in one change. */
export async function storeDocument(
  engine: RulesEngine,
  document: ParsedRulesDocument,
  source: string,
  options: DocumentImportOptions = {},
): Promise<Omit<ImportSummary, 'elapsedMs'>> {
  const managedBy = options.managedBy ?? null;
  const skipped: SkippedLine[] = [];
  let skippedCount = 0;
  let repeats = 0;
  const listEntries = (document.lists ?? []).map((list, index) => {
    const parsed = documentEntries(list, `lists[${index}]`, skipped);
    skippedCount += parsed.skippedCount;
    repeats += parsed.repeats;
    return parsed.entries;
  });
  return engine.transaction((now) => {
    let added = 0;
    let alreadyPresent = repeats;
    const present = new Set(engine.rules.list().map(ruleTermsKey));
    (document.rules ?? []).forEach((draft: ParsedDraft, index) => {
      if ('at' in draft.expiry && draft.expiry.at !== null && draft.expiry.at <= now) {
        skippedCount++;
        skipped.push({
          line: index + 1,
          text: `rules[${index}]`,
          reason: `expired at ${new Date(draft.expiry.at).toISOString()}`,
        });
        return;
      }
      const spec = resolve(engine, draft, now, `rules[${index}]`);
      const key = ruleTermsKey({ ...spec, remote: spec.remote });
      if (present.has(key)) {
        alreadyPresent++;
        return;
      }
      present.add(key);
      engine.rules.add(spec, now, managedBy);
      added++;
    });
    const lists: StoredList[] = [];
    (document.lists ?? []).forEach((list, index) => {
      const existed = engine.lists.byName(list.name) !== null;
      let target: StoredList;
      try {
        target = targetList(
          engine,
          {
            name: list.name,
            kind: managedBy ? 'policy' : list.subscription ? 'subscription' : 'import',
            source: list.source ?? list.subscription?.url ?? source,
            action: list.action,
            app: list.app ?? null,
            direction: list.direction ?? 'both',
            note: list.note ?? '',
            managedBy,
            subscription: list.subscription
              ? {
                  url: list.subscription.url,
                  format: list.subscription.format ?? 'auto',
                  everyMs: list.subscription.every ?? DEFAULT_EVERY_MS,
                  lastCheckAt: null,
                  lastSuccessAt: null,
                  nextCheckAt: now,
                  error: null,
                  etag: null,
                  lastModified: null,
                }
              : null,
          },
          now,
        );
      } catch (error) {
        throw error instanceof PortcullisError && error.where === 'list'
          ? new PortcullisError('invalid-input', `lists[${index}].name: ${error.message.replace(/^list: /, '')}`, {
              where: `lists[${index}].name`,
            })
          : error;
      }
      const written = addEntries(engine, target, listEntries[index]!, now);
      added += written.added;
      alreadyPresent += written.alreadyPresent;
      // A new list is enabled as the document says, except that an allow list from a client waits
      // for review; a list already there keeps its state.
      const wanted = list.action === 'allow' && !managedBy ? false : (list.enabled ?? true);
      const keep = existed || written.list.enabled === wanted;
      lists.push(keep ? written.list : engine.lists.change(target.id, { enabled: wanted }, now));
    });
    return {
      added,
      alreadyPresent,
      skippedCount,
      skipped,
      lists: lists.map((list) => listView(engine.lists.get(list.id) ?? list)),
    };
  });
}

function resolve(engine: RulesEngine, draft: ParsedDraft, now: number, where: string): ResolvedSpec {
  const spec = specOf(draft, now);
  if (!spec.ok)
    throw new PortcullisError('invalid-input', `${where}.${spec.error.where}: ${spec.error.message}`, {
      where: `${where}.${spec.error.where}`,
    });
  const { app, ...terms } = spec.value;
  return { ...terms, appId: engine.registry.resolve(app, now, `${where}.app`) };
}
