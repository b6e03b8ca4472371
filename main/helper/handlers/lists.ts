// import.* (sessions: begin, chunk, commit, abort) and lists.* (list, entries, update, remove).
// Changes are logged with who made them, like rule changes.
import { PortcullisError, additionLoosening, draftState, listLoosening } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';
import { listView, type StoredList } from '../store/lists-store.js';
import { enableList, managed } from '../lists/list-entries.js';
import type { UpdateOutcome } from '../lists/subscriptions.js';

/** An update as clients see it. */
const updateView = (outcome: UpdateOutcome) => ({ ...outcome, list: listView(outcome.list) });

export function listsHandlers({ engine, imports, subscriptions, authority, log }: HelperServices): HandlerTable {
  const audit = (who: string, what: string) => log?.(`${who}: ${what}`);
  const existing = (id: number): StoredList => {
    const list = engine.lists.get(id);
    if (!list)
      throw new PortcullisError('not-found', `there is no list ${id} (see "portcullis lists")`, { where: 'params.id' });
    return list;
  };
  return {
    'import.begin': (params, { connection }) => imports.begin(connection, params),
    'import.chunk': ({ session, text }, { connection }) => imports.chunk(connection, session, text),
    'import.abort': ({ session }, { connection }) => imports.abort(connection, session),
    'import.commit': async ({ session }, { connection }) => {
      // A document may hold enabled allow rules: one question for all of them, before anything is stored.
      const summary = await imports.commit(connection, session, async (document) => {
        const now = Date.now();
        await authority.request(connection, additionLoosening((document.rules ?? []).map((d) => draftState(d, now))));
      });
      audit(
        connection.describe(),
        `imported ${summary.added} entr${summary.added === 1 ? 'y' : 'ies'} (${summary.alreadyPresent} already present, ${summary.skippedCount} skipped)${summary.lists.length > 0 ? ` into ${summary.lists.map((l) => `list ${l.id} "${l.name}"`).join(', ')}` : ''}`,
      );
      return summary;
    },
    'lists.list': () => engine.lists.list().map(listView),
    'lists.entries': ({ id, pending, offset = 0, limit = 10_000 }) => {
      const list = existing(id);
      if (pending) {
        return {
          total: list.pending.length,
          entries: list.pending.slice(offset, offset + limit).map((remote) => ({ id: null, remote })),
        };
      }
      const end = Math.min(list.remotes.length, offset + limit);
      const entries = [];
      for (let i = offset; i < end; i++) entries.push({ id: list.ids[i]!, remote: list.remotes[i]! });
      return { total: list.remotes.length, entries };
    },
    'lists.update': async ({ id, patch }, { connection }) => {
      const toggle = patch.enabled === undefined ? null : patch.enabled ? 'enable' : 'disable';
      const loosening = (list: StoredList) => (toggle ? listLoosening(listView(list), toggle) : null);
      const before = engine.lists.get(id);
      const grant = await authority.request(connection, before ? loosening(before) : null);
      const updated = await engine.transaction((now) => {
        const list = existing(id);
        if (list.managedBy !== null) throw managed(list);
        grant.cover(loosening(list));
        if (patch.name !== undefined && patch.name !== list.name && engine.lists.byName(patch.name))
          throw new PortcullisError('invalid-input', `params.patch.name: there is already a list "${patch.name}"`, {
            where: 'params.patch.name',
          });
        const enabled = patch.enabled === true && (!list.enabled || list.pending.length > 0);
        const renamed = engine.lists.change(
          id,
          {
            ...(patch.name !== undefined ? { name: patch.name } : {}),
            ...(patch.note !== undefined ? { note: patch.note } : {}),
            ...(patch.enabled === false ? { enabled: false } : {}),
          },
          now,
        );
        return enabled ? enableList(engine, renamed, now) : renamed;
      });
      audit(
        connection.describe(),
        `updated list ${id} "${updated.name}": ${updated.enabled ? 'enabled' : 'disabled'}, ${updated.remotes.length} entries`,
      );
      return listView(updated);
    },
    'lists.subscribe': async (params, { connection }) => {
      const outcome = await subscriptions.add(params);
      audit(connection.describe(), `subscribed list ${outcome.list.id} "${outcome.list.name}" to ${params.url}`);
      return updateView(outcome);
    },
    'lists.refresh': async ({ id }) => {
      if (id === undefined) return (await subscriptions.updateAll()).map(updateView);
      if (!existing(id).subscription)
        throw new PortcullisError('invalid-input', `params.id: list ${id} is not a subscription; nothing to fetch`, {
          where: 'params.id',
        });
      return [updateView(await subscriptions.update(id))];
    },
    'lists.remove': async ({ id }, { connection }) => {
      const before = engine.lists.get(id);
      const grant = await authority.request(connection, before ? listLoosening(listView(before), 'remove') : null);
      const removed = await engine.transaction(() => {
        const list = existing(id);
        if (list.managedBy !== null) throw managed(list);
        grant.cover(listLoosening(listView(list), 'remove'));
        engine.lists.remove(id);
        return list;
      });
      audit(connection.describe(), `removed list ${id} "${removed.name}" (${removed.remotes.length} entries)`);
      return { removed: listView(removed) };
    },
  };
}
