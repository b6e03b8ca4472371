// Rules as the helper stores them, and list import/export (through the helper: it parses the text,
// stores the list in one change and says what it skipped; export reads rules and lists back).
import { create } from 'zustand';
import type { Rule, RuleDraft } from '../../main/contract/rules';
import { formatRemote } from '../../main/contract/rules';
import type { ExportFormat, ImportFormat, ImportSummary } from '../../main/contract/lists';
import type { IpcResult } from '../../main/contract/ipc';
import { streamImport, importChunks, type ImportCalls } from '../../main/contract/import-stream';
import { formatExport, readExport } from '../../main/contract/export';
import { readOpenSnitchBundle, type OpenSnitchFileSource } from '../../main/contract/opensnitch';
import { bridge } from '../bridge';
import { useNotices, valueAsAdministrator, valueOr } from './notices-store';

export interface ImportProgress {
  source: string;
  /** Characters of text in all, and handed to the helper so far. */
  total: number;
  sent: number;
  /** Entries the helper has read so far. */
  entries: number;
  phase: 'sending' | 'applying' | 'done';
  summary: ImportSummary | null;
  error: string | null;
}

/** An IPC result's value, or its error thrown (the import and export helpers stop at the first). */
async function must<T>(result: Promise<IpcResult<T>>): Promise<T> {
  const settled = await result;
  if (!settled.ok) throw new Error(settled.error.message);
  return settled.value;
}

const importCalls: ImportCalls = {
  begin: (params) => must(bridge().importBegin(params)),
  chunk: (params) => must(bridge().importChunk(params)),
  commit: (params) => must(bridge().importCommit(params)),
  abort: (params) => must(bridge().importAbort(params)),
};

interface RulesStore {
  rules: Rule[];
  loaded: boolean;
  importing: ImportProgress | null;
  load(): Promise<void>;
  /** Loads the rules and reloads them whenever the helper says they changed; returns the stop function. */
  follow(): () => void;
  add(draft: RuleDraft): Promise<Rule | null>;
  update(id: number, patch: Partial<RuleDraft>): Promise<Rule | null>;
  remove(ids: number[]): Promise<void>;
  setEnabled(id: number, enabled: boolean): Promise<void>;
  importList(source: string, text: string, options?: { format?: ImportFormat; list?: string }): Promise<void>;
  /** OpenSnitch's rule files, read here and sent as one bundle, as `portcullis import --format opensnitch` does. */
  importOpenSnitch(files: readonly OpenSnitchFileSource[]): Promise<void>;
  clearImport(): void;
  /** Rules and lists as text in a format (JSON imports back the same); null when reading them failed. */
  exportList(format: ExportFormat): Promise<string | null>;
}

export const useRules = create<RulesStore>((set, get) => ({
  rules: [],
  loaded: false,
  importing: null,

  async load() {
    const rules = valueOr(await bridge().listRules({}), 'Loading rules');
    if (rules) set({ rules, loaded: true });
  },

  follow() {
    void get().load();
    return bridge().listenRulesChanged(() => void get().load());
  },

  async add(draft) {
    const rule = await valueAsAdministrator(() => bridge().addRule({ rule: draft }), 'Adding the rule');
    if (rule) {
      set((state) => ({ rules: [...state.rules.filter((r) => r.id !== rule.id), rule] }));
      useNotices.getState().push('info', `Rule added: ${rule.action} ${formatRemote(rule.remote)}`);
    }
    return rule;
  },

  async update(id, patch) {
    const rule = await valueAsAdministrator(() => bridge().updateRule({ id, patch }), 'Saving the rule');
    if (rule) set((state) => ({ rules: state.rules.map((r) => (r.id === id ? rule : r)) }));
    return rule;
  },

  async remove(ids) {
    const result = await valueAsAdministrator(() => bridge().removeRules({ ids }), 'Removing rules');
    if (!result) return;
    const removed = new Set(result.removed);
    set((state) => ({ rules: state.rules.filter((rule) => !removed.has(rule.id)) }));
  },

  async setEnabled(id, enabled) {
    await get().update(id, { enabled });
  },

  async importList(source, text, options = {}) {
    const progress: ImportProgress = {
      source,
      total: text.length,
      sent: 0,
      entries: 0,
      phase: 'sending',
      summary: null,
      error: null,
    };
    set({ importing: progress });
    try {
      const summary = await streamImport(
        importCalls,
        { format: options.format ?? 'auto', source, ...(options.list ? { list: options.list } : {}) },
        importChunks(text),
        (status) =>
          set({
            importing: {
              ...get().importing!,
              sent: status.sent,
              entries: status.parsed?.entries ?? 0,
              phase: status.phase,
            },
          }),
      );
      set({ importing: { ...get().importing!, sent: text.length, phase: 'done', summary } });
    } catch (error) {
      set({ importing: { ...get().importing!, phase: 'done', error: (error as Error).message } });
    }
    await get().load();
  },

  async importOpenSnitch(files) {
    const source = `${files.length} OpenSnitch rule file${files.length === 1 ? '' : 's'}`;
    const reading: ImportProgress = {
      source,
      total: 0,
      sent: 0,
      entries: 0,
      phase: 'sending',
      summary: null,
      error: null,
    };
    set({ importing: reading });
    let bundle: string;
    try {
      bundle = await readOpenSnitchBundle(files);
    } catch (error) {
      set({ importing: { ...reading, phase: 'done', error: (error as Error).message } });
      return;
    }
    await get().importList(source, bundle, { format: 'opensnitch' });
  },

  clearImport() {
    set({ importing: null });
  },

  async exportList(format) {
    try {
      const data = await readExport({
        rules: () => must(bridge().listRules({})),
        lists: () => must(bridge().listLists({})),
        entries: (id, offset, limit) => must(bridge().listEntries({ id, offset, limit })),
        apps: () => must(bridge().listApps({})),
      });
      return formatExport(format, data).text;
    } catch (error) {
      useNotices.getState().push('error', `Exporting failed: ${(error as Error).message}`);
      return null;
    }
  },
}));
