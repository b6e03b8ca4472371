// Short messages for the person (a rule was added, a call failed). Failures keep their kind. A
// request refused for want of an administrator says so and offers to try again: polkit asks again.
import { create } from 'zustand';
import type { IpcResult } from '../../main/contract/ipc';

/** "Try again" on a notice: retry sends the request again; abandon ends the wait when it is closed. */
export interface NoticeRetry {
  retry(): void;
  abandon(): void;
}

export interface Notice {
  id: number;
  tone: 'info' | 'error';
  text: string;
  again?: NoticeRetry;
}

interface NoticesState {
  notices: Notice[];
  push(tone: Notice['tone'], text: string, again?: NoticeRetry): void;
  dismiss(id: number): void;
  /** Closes the notice and sends its request again. */
  retry(id: number): void;
}

/** Notices shown at once; older ones give way. */
const SHOWN = 5;
let nextId = 1;

export const useNotices = create<NoticesState>((set, get) => ({
  notices: [],
  push(tone, text, again) {
    const id = nextId++;
    const notices = [...get().notices, { id, tone, text, ...(again ? { again } : {}) }];
    for (const dropped of notices.slice(0, -SHOWN)) dropped.again?.abandon();
    set({ notices: notices.slice(-SHOWN) });
    if (tone === 'info') setTimeout(() => useNotices.getState().dismiss(id), 4000);
  },
  dismiss(id) {
    get()
      .notices.find((notice) => notice.id === id)
      ?.again?.abandon();
    set((state) => ({ notices: state.notices.filter((notice) => notice.id !== id) }));
  },
  retry(id) {
    const notice = get().notices.find((candidate) => candidate.id === id);
    set((state) => ({ notices: state.notices.filter((candidate) => candidate.id !== id) }));
    notice?.again?.retry();
  },
}));

/** The value of a call, or null after telling the person what went wrong. */
export function valueOr<T>(result: IpcResult<T>, doing: string): T | null {
  if (result.ok) return result.value;
  const where = result.error.where ? ` (${result.error.where})` : '';
  useNotices.getState().push('error', `${doing} failed: ${result.error.message}${where}`);
  return null;
}

/**
 * Runs a request that may need an administrator (the helper asks polkit, whose dialog the desktop
 * shows). When it is refused for want of one, the notice says so (the helper's message names what
 * needed an administrator and why it was not given) and offers "Try again", which sends it again.
 * Settles with the value, or null once the person closes the notice or another error comes.
 */
export async function valueAsAdministrator<T>(call: () => Promise<IpcResult<T>>, doing: string): Promise<T | null> {
  for (;;) {
    const result = await call();
    if (result.ok || !result.error.polkitAction) return valueOr(result, doing);
    const message = result.error.message;
    const again = await new Promise<boolean>((resolve) => {
      useNotices.getState().push('error', message, { retry: () => resolve(true), abandon: () => resolve(false) });
    });
    if (!again) return null;
  }
}
