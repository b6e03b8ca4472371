// Lists (imports, subscriptions, policy) as the helper holds them: shown, toggled and removed whole,
// subscriptions added and fetched. Opening the firewall (an allow list enabled, a block list disabled
// or removed) goes through valueAsAdministrator: a refusal offers to ask again. Entries are read page by page, only when a list is opened.
import { create } from 'zustand';
import type { ListEntry, ListUpdate, RuleList } from '../../main/contract/lists';
import type { Action } from '../../main/contract/rules';
import { bridge } from '../bridge';
import { useNotices, valueAsAdministrator, valueOr } from './notices-store';

/** Entries shown when a list is opened. */
export const ENTRIES_SHOWN = 200;

interface ListsStore {
  lists: RuleList[];
  loaded: boolean;
  /** The opened list's first entries. */
  opened: { id: number; total: number; entries: ListEntry[] } | null;
  /** Lists being fetched, by id (0: all). */
  fetching: Set<number>;
  load(): Promise<void>;
  /** Loads the lists and reloads them whenever the helper says rules or lists changed; returns the stop function. */
  follow(): () => void;
  subscribe(request: { url: string; name?: string; action?: Action; every?: string }): Promise<ListUpdate | null>;
  refresh(id?: number): Promise<void>;
  setEnabled(id: number, enabled: boolean): Promise<void>;
  remove(id: number): Promise<void>;
  open(id: number | null): Promise<void>;
}

function noteUpdate(update: ListUpdate): void {
  const { list } = update;
  if (update.result === 'failed')
    useNotices.getState().push('error', `Fetching "${list.name}" failed: ${update.error} (the last good copy stays)`);
  else
    useNotices
      .getState()
      .push(
        'info',
        update.result === 'changed'
          ? `"${list.name}" updated: +${update.added} −${update.removed}, ${list.entryCount} entries`
          : `"${list.name}" is up to date`,
      );
}

export const useLists = create<ListsStore>((set, get) => ({
  lists: [],
  loaded: false,
  opened: null,
  fetching: new Set(),

  async load() {
    const lists = valueOr(await bridge().listLists({}), 'Loading lists');
    if (lists) set({ lists, loaded: true });
  },

  follow() {
    void get().load();
    return bridge().listenRulesChanged(() => void get().load());
  },

  async subscribe(request) {
    set((state) => ({ fetching: new Set([...state.fetching, 0]) }));
    const update = valueOr(await bridge().subscribeList(request), 'Subscribing');
    set((state) => ({ fetching: new Set([...state.fetching].filter((id) => id !== 0)) }));
    if (update) noteUpdate(update);
    await get().load();
    return update;
  },

  async refresh(id) {
    const key = id ?? 0;
    set((state) => ({ fetching: new Set([...state.fetching, key]) }));
    const updates = valueOr(await bridge().refreshLists(id === undefined ? {} : { id }), 'Fetching lists');
    set((state) => ({ fetching: new Set([...state.fetching].filter((other) => other !== key)) }));
    for (const update of updates ?? []) noteUpdate(update);
    await get().load();
  },

  async setEnabled(id, enabled) {
    const list = await valueAsAdministrator(
      () => bridge().updateList({ id, patch: { enabled } }),
      enabled ? 'Enabling the list' : 'Disabling the list',
    );
    if (list) set((state) => ({ lists: state.lists.map((other) => (other.id === id ? list : other)) }));
  },

  async remove(id) {
    const result = await valueAsAdministrator(() => bridge().removeList({ id }), 'Removing the list');
    if (!result) return;
    set((state) => ({
      lists: state.lists.filter((list) => list.id !== id),
      opened: state.opened?.id === id ? null : state.opened,
    }));
    useNotices.getState().push('info', `Removed "${result.removed.name}" (${result.removed.entryCount} entries)`);
  },

  async open(id) {
    if (id === null || get().opened?.id === id) {
      set({ opened: null });
      return;
    }
    const page = valueOr(await bridge().listEntries({ id, limit: ENTRIES_SHOWN }), 'Reading the list');
    if (page) set({ opened: { id, total: page.total, entries: page.entries } });
  },
}));
