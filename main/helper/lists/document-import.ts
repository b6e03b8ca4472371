// Storing Portcullis's own JSON document: its rules as rules, its lists as lists, in one engine
// change. Imported, a rule identical to one already stored (same terms) is already present, so
// importing a file twice adds nothing. Policy files go through here too, as managed rules and lists
// the file replaces whole (a diff) each time it changes.
import {
  DEFAULT_EVERY_MS,
  PortcullisError,
  formatRemote,
  invalidInput,
  parseDocument,
  parseEntry,
  MAX_SKIPPED_KEPT,
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
import { addEntries, newSubscription, replaceEntries, targetList, type EntriesWritten } from './list-entries.js';
import { RemoteSet } from './remote-set.js';

export interface DocumentImportOptions {
  /** Rules and lists written by a policy file carry its name and are read-only for clients. */
  managedBy?: string | null;
  /** The document replaces what `managedBy` holds (a policy file), instead of adding to it. */
  replace?: boolean;
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
    const remote = parseEntry(text, `${where}.entries[${index}]`);
    if (!remote.ok) {
      skippedCount++;
      if (skipped.length < MAX_SKIPPED_KEPT)
        skipped.push({
          line: index + 1,
          text: `${where}.entries[${index}]: ${text.slice(0, 200)}`,
          reason: remote.error.message,
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

/** What storing a document did; `removed` counts what a replacing document no longer holds. */
export type DocumentStored = Omit<ImportSummary, 'elapsedMs'> & { removed: number };

/** The identity of a policy file's rule: its terms and every field the file sets. */
const policyRuleKey = (rule: ResolvedSpec) =>
  `${ruleTermsKey(rule)} ${rule.enabled} ${rule.expiresAt ?? 'never'} ${JSON.stringify(rule.note)}`;

/**
 * Stores a parsed document's rules and lists in one change. An import adds what is not there yet;
 * a policy file (`replace` with its `managedBy`) is the whole truth for what it manages: its rules
 * and lists are made to match it as a diff (what stays keeps its ids), what it no longer holds goes.
 */
export async function storeDocument(
  engine: RulesEngine,
  document: ParsedRulesDocument,
  source: string,
  options: DocumentImportOptions = {},
): Promise<DocumentStored> {
  const managedBy = options.managedBy ?? null;
  const replace = options.replace === true && managedBy !== null;
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
    let removed = 0;
    let alreadyPresent = repeats;
    // An import skips rules identical to any stored; a policy file keeps its own that still match.
    const present = new Set(replace ? [] : engine.rules.list().map(ruleTermsKey));
    const owned = new Map<string, number[]>();
    if (replace)
      for (const rule of engine.rules.list()) {
        if (rule.managedBy !== managedBy) continue;
        const key = policyRuleKey(rule);
        owned.set(key, [...(owned.get(key) ?? []), rule.id]);
      }
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
      const key = replace ? policyRuleKey(spec) : ruleTermsKey(spec);
      const kept = owned.get(key);
      if (present.has(key) || (kept && kept.length > 0)) {
        kept?.pop();
        alreadyPresent++;
        return;
      }
      if (!replace) present.add(key);
      engine.rules.add(spec, now, managedBy);
      added++;
    });
    const gone = [...owned.values()].flat();
    if (gone.length > 0) removed += engine.rules.remove(gone).length;

    const lists: StoredList[] = [];
    const named = new Set<string>();
    (document.lists ?? []).forEach((list, index) => {
      named.add(list.name);
      const written = storeList(engine, list, index, listEntries[index]!, source, { managedBy, replace }, now);
      added += written.added;
      alreadyPresent += written.alreadyPresent;
      removed += written.removed;
      lists.push(written.list);
    });
    if (replace)
      for (const list of engine.lists.list())
        if (list.managedBy === managedBy && !named.has(list.name)) {
          removed += list.remotes.length;
          engine.lists.remove(list.id);
        }
    return {
      added,
      alreadyPresent,
      removed,
      skippedCount,
      skipped,
      lists: lists.map((list) => listView(engine.lists.get(list.id) ?? list)),
    };
  });
}

/** One list of a document, into the list of its name (inside the caller's transaction). */
function storeList(
  engine: RulesEngine,
  list: ParsedDocumentList,
  index: number,
  entries: readonly string[],
  source: string,
  { managedBy, replace }: { managedBy: string | null; replace: boolean },
  now: number,
): EntriesWritten {
  let before = engine.lists.byName(list.name);
  const appId = engine.registry.resolve(list.app ?? null, now, `lists[${index}].app`);
  // A policy file that changes a list's terms makes it anew: its entries now do something else.
  if (
    replace &&
    before?.managedBy === managedBy &&
    (before.action !== list.action || before.appId !== appId || before.direction !== (list.direction ?? 'both'))
  ) {
    engine.lists.remove(before.id);
    before = null;
  }
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
          ? newSubscription(
              list.subscription.url,
              list.subscription.format ?? 'auto',
              list.subscription.every ?? DEFAULT_EVERY_MS,
              now,
            )
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
  if (replace) {
    // A subscribed list's entries are its last good download, not the file's copy of them.
    const fetched = before !== null && before.subscription !== null && list.subscription !== undefined;
    const written = fetched
      ? { list: target, added: 0, alreadyPresent: entries.length, removed: 0 }
      : replaceEntries(engine, target, entries, now, false);
    const changed = engine.lists.change(
      target.id,
      {
        enabled: list.enabled ?? true,
        note: list.note ?? '',
        source: list.source ?? list.subscription?.url ?? source,
      },
      now,
    );
    return { ...written, list: changed };
  }
  const written = addEntries(engine, target, entries, now);
  // A new list is enabled as the document says, except that an allow list from a client waits
  // for review; a list already there keeps its state.
  const wanted = list.action === 'allow' && !managedBy ? false : (list.enabled ?? true);
  if (before !== null || written.list.enabled === wanted) return written;
  return { ...written, list: engine.lists.change(target.id, { enabled: wanted }, now) };
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
