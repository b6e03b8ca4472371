// What the person is looking at: the tab, the connection filter and sort, open groups, the selected
// app, and which rule is being edited.
import { create } from 'zustand';
import type { RuleDraft } from '../../main/contract/rules';
import type { RowFilter, SortKey } from '../model/connection-rows';

export type Tab = 'connections' | 'rules' | 'lists' | 'prompts';
/** The rule form: a new rule (maybe prefilled) or an existing one by id. */
/** The import dialog open: a list (hosts, CIDRs, AdBlock, JSON) or OpenSnitch's rule files. */
export type ImportKind = 'list' | 'opensnitch';
export type Editing = { mode: 'new'; draft: RuleDraft } | { mode: 'edit'; id: number } | null;

interface UiStore {
  tab: Tab;
  filter: RowFilter;
  sort: SortKey;
  expanded: Set<number>;
  selectedAppId: number | null;
  editing: Editing;
  importing: ImportKind | null;
  setTab(tab: Tab): void;
  setFilter(patch: Partial<RowFilter>): void;
  setSort(sort: SortKey): void;
  toggleExpanded(appId: number): void;
  selectApp(appId: number | null): void;
  edit(editing: Editing): void;
  openImport(kind: ImportKind): void;
  closeImport(): void;
}

export const useUi = create<UiStore>((set) => ({
  tab: 'connections',
  filter: { text: '', verdict: 'all', appId: null },
  sort: 'recent',
  expanded: new Set(),
  selectedAppId: null,
  editing: null,
  importing: null,
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
  openImport: (importing) => set({ importing }),
  closeImport: () => set({ importing: null }),
}));
