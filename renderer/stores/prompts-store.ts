// Ask mode's questions, as the helper sends them (including those asked while no window was open),
// and the answers and the mode the person chooses.
import { create } from 'zustand';
import type { AnswerScope, Mode, Prompt, PromptAnswerInput } from '../../main/contract/prompts';
import { defaultActionOf, describePrompt } from '../../main/contract/prompts';
import { bridge } from '../bridge';
import { useNotices, valueOr } from './notices-store';
import { useUi } from './ui-store';

/** How long an answer stands, as the queue offers it. */
export const LIFETIMES = ['once', 'until-quit', '15m', '1h', 'always'] as const;
export type Lifetime = (typeof LIFETIMES)[number];

export interface Choice {
  action: 'allow' | 'deny';
  lifetime: Lifetime;
  scope: AnswerScope;
  /** One of the question's hosts, or null for all of them. */
  host: string | null;
}

interface PromptsStore {
  prompts: Prompt[];
  /** Questions with an answer on its way. */
  answering: Set<number>;
  /** Loads the questions and follows the helper's changes; returns the stop function. */
  follow(): () => void;
  answer(id: number, choice: Choice): Promise<boolean>;
  setMode(mode: Mode): Promise<boolean>;
}

function answerParams(id: number, choice: Choice): PromptAnswerInput {
  const params: PromptAnswerInput = { id, action: choice.action, scope: choice.scope };
  if (choice.lifetime === '15m' || choice.lifetime === '1h') params.for = choice.lifetime;
  else params.lifetime = choice.lifetime;
  if (choice.host !== null) params.host = choice.host;
  return params;
}

export const usePrompts = create<PromptsStore>((set, get) => ({
  prompts: [],
  answering: new Set(),

  follow() {
    const api = bridge();
    const stops = [
      api.listenPrompts(({ prompts }) => set({ prompts })),
      api.listenReviewPrompts(() => useUi.getState().setTab('prompts')),
    ];
    void api.listPrompts({}).then((result) => {
      const prompts = valueOr(result, 'Loading the questions');
      if (prompts) set({ prompts });
    });
    return () => stops.forEach((stop) => stop());
  },

  async answer(id, choice) {
    const prompt = get().prompts.find((candidate) => candidate.id === id);
    set((state) => ({ answering: new Set(state.answering).add(id) }));
    const result = valueOr(await bridge().answerPrompt(answerParams(id, choice)), 'Answering');
    set((state) => {
      const answering = new Set(state.answering);
      answering.delete(id);
      return { answering };
    });
    if (!result) return false;
    // The helper's next list follows; until then the answered host (or question) leaves at once.
    set((state) => ({
      prompts: state.prompts.flatMap((candidate) => {
        if (candidate.id !== id) return [candidate];
        if (choice.host === null) return [];
        const hosts = candidate.hosts.filter((host) => host.remoteAddr !== choice.host);
        return hosts.length > 0 ? [{ ...candidate, hosts }] : [];
      }),
    }));
    if (prompt) {
      const rules = result.ruleIds.length > 0 ? `; rule ${result.ruleIds.join(', ')} added` : '';
      useNotices
        .getState()
        .push('info', `${choice.action === 'allow' ? 'Allowed' : 'Denied'}: ${describePrompt(prompt)}${rules}`);
    }
    return true;
  },

  async setMode(mode) {
    const settings = valueOr(
      await bridge().updateSettings({ patch: { defaultAction: defaultActionOf(mode) } }),
      'Changing the mode',
    );
    return settings !== null;
  },
}));
