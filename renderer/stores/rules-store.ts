// Rules as the helper stores them, and the blocklist import/export.
import { create } from 'zustand';
import type { Rule, RuleDraft } from '../../main/contract/rules';
import { formatRemote } from '../../main/contract/rules';
import { parseBlocklist, type ParsedList } from '../../main/contract/blocklist';
import { bridge } from '../bridge';
import { useNotices, valueAsAdministrator, valueOr } from './notices-store';

/** Rules per addRules call: small enough that the progress bar moves, large enough to be quick. */
export const IMPORT_CHUNK = 500;

export interface ImportProgress {
  source: string;
  total: number;
  done: number;
  skipped: ParsedList['skipped'];
  finished: boolean;
  error: string | null;
}

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
  importList(source: string, text: string): Promise<void>;
  clearImport(): void;
  /** The block rules' remotes as a list that importList reads back. */
  exportList(): string;
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

  async importList(source, text) {
    const parsed = parseBlocklist(text);
    const drafts: RuleDraft[] = parsed.remotes.map((remote) => ({
      action: 'block',
      remote,
      note: `imported from ${source}`,
    }));
    const progress: ImportProgress = {
      source,
      total: drafts.length,
      done: 0,
      skipped: parsed.skipped,
      finished: false,
      error: null,
    };
    set({ importing: progress });
    for (let start = 0; start < drafts.length; start += IMPORT_CHUNK) {
      const chunk = drafts.slice(start, start + IMPORT_CHUNK);
      const result = await bridge().addRules({ rules: chunk });
      if (!result.ok) {
        set({ importing: { ...get().importing!, finished: true, error: result.error.message } });
        await get().load();
        return;
      }
      set({ importing: { ...get().importing!, done: start + chunk.length } });
    }
    set({ importing: { ...get().importing!, finished: true } });
    await get().load();
  },

  clearImport() {
    set({ importing: null });
  },

  exportList() {
    const lines = [
      '# Portcullis block list: one address, CIDR or domain per line',
      `# exported ${new Date().toISOString()}`,
    ];
    for (const rule of get().rules) {
      if (rule.action === 'block' && rule.appId === null && rule.remote.kind !== 'any')
        lines.push(formatRemote(rule.remote));
    }
    return `${lines.join('\n')}\n`;
  },
}));
