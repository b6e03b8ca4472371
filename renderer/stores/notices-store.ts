// Short messages for the person (a rule was added, a call failed). Failures keep their kind.
import { create } from 'zustand';
import type { IpcResult } from '../../main/contract/ipc';

export interface Notice {
  id: number;
  tone: 'info' | 'error';
  text: string;
}

interface NoticesState {
  notices: Notice[];
  push(tone: Notice['tone'], text: string): void;
  dismiss(id: number): void;
}

let nextId = 1;

export const useNotices = create<NoticesState>((set) => ({
  notices: [],
  push(tone, text) {
    const id = nextId++;
    set((state) => ({ notices: [...state.notices.slice(-4), { id, tone, text }] }));
    if (tone === 'info') setTimeout(() => useNotices.getState().dismiss(id), 4000);
  },
  dismiss(id) {
    set((state) => ({ notices: state.notices.filter((notice) => notice.id !== id) }));
  },
}));

/** The value of a call, or null after telling the person what went wrong. */
export function valueOr<T>(result: IpcResult<T>, doing: string): T | null {
  if (result.ok) return result.value;
  const where = result.error.where ? ` (${result.error.where})` : '';
  useNotices.getState().push('error', `${doing} failed: ${result.error.message}${where}`);
  return null;
}
