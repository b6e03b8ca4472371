// What the person is looking at: the tab, the connection filter and sort, open groups, the selected
// app, and which rule is being edited.
import { create } from 'zustand';
import type { RuleDraft } from '../../main/contract/rules';
import type { RowFilter, SortKey } from '../model/connection-rows';

export type Tab = 'connections' | 'rules' | 'lists' | 'prompts';
/** The rule form: a new rule (maybe prefilled) or an existing one by id. */
export type Editing = { mode: 'new'; draft: RuleDraft } | { mode: 'edit'; id: number } | null;

interface UiStore {
  tab: Tab;
  filter: RowFilter;
  sort: SortKey;
  expanded: Set<number>;
  selectedAppId: number | null;
  editing: Editing;
  importOpen: boolean;
  setTab(tab: Tab): void;
  setFilter(patch: Partial<RowFilter>): void;
  setSort(sort: SortKey): void;
  toggleExpanded(appId: number): void;
  selectApp(appId: number | null): void;
  edit(editing: Editing): void;
  setImportOpen(open: boolean): void;
}

export const useUi = create<UiStore>((set) => ({
  tab: 'connections',
  filter: { text: '', verdict: 'all', appId: null },
  sort: 'recent',
  expanded: new Set(),
  selectedAppId: null,
  editing: null,
  importOpen: false,
  setTab: (tab) => set({ tab }),
  setFilter: (patch) => set((state) => ({ filter: { ...state.filter, ...patch } })),
  setSort: (sort) => set({ sort }),
  toggleExpanded: (appId) =>
    set((state) => {
      const expanded = new Set(state.expanded);
      if (!expanded.delete(appId)) expanded.add(appId);
      return { expanded };
    }),
  selectApp: (selectedAppId) => set({ selectedAppId }),
  edit: (editing) => set({ editing, ...(editing ? { tab: 'rules' as const } : {}) }),
  setImportOpen: (importOpen) => set({ importOpen }),
}));
