// Asks polkit whether a process may do an action, with the system's pkcheck: a root-owned program
// at a fixed path, given the subject as pid,start-time,uid (the form its manual asks daemons to
// use; polkitd itself refuses a pid whose start time differs). Why pkcheck and not polkit's D-Bus
// API from Node: no D-Bus client (a new dependency parsing bus messages inside the root process),
// and a child process that waits while an authentication agent shows its dialog keeps that wait
// off the helper's event loop. The wait is bounded; killing pkcheck makes polkitd cancel the dialog
// (its caller left the bus).
import { spawn } from 'node:child_process';
import type { ProcessIdentity } from './process-identity.js';

export const PKCHECK = '/usr/bin/pkcheck';

export type PolkitRefusal = 'denied' | 'no-agent' | 'dismissed' | 'timeout' | 'abandoned' | 'failed';
export type PolkitAnswer = { granted: true } | { granted: false; reason: PolkitRefusal; detail: string };

export interface PolkitQuestion {
  actionId: string;
  subject: ProcessIdentity;
  /** Shown by the agent instead of the action's own message (polkit takes it from root callers). */
  message: string;
  timeoutMs: number;
  /** Aborted when the asking client goes away: the dialog goes with it. */
  signal?: AbortSignal;
}

/** pkcheck's exit statuses (pkcheck(1)). */
const EXIT_REASONS: Record<number, PolkitRefusal> = { 1: 'denied', 2: 'no-agent', 3: 'dismissed' };
const MAX_STDERR = 2048;

export function askPolkit(question: PolkitQuestion): Promise<PolkitAnswer> {
  const { actionId, subject, message, timeoutMs, signal } = question;
  if (signal?.aborted) return Promise.resolve({ granted: false, reason: 'abandoned', detail: 'the client went away' });
  return new Promise((resolve) => {
    const child = spawn(
      PKCHECK,
      [
        '--action-id',
        actionId,
        '--process',
        `${subject.pid},${subject.startTime},${subject.uid}`,
        '--allow-user-interaction',
        '--detail',
        'polkit.message',
        message,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } },
    );
    let stderr = '';
    let stoppedBecause: 'timeout' | 'abandoned' | null = null;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < MAX_STDERR) stderr += chunk.slice(0, MAX_STDERR - stderr.length);
    });
    const stop = (why: 'timeout' | 'abandoned') => {
      stoppedBecause ??= why;
      child.kill('SIGTERM');
    };
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    const onAbort = () => stop('abandoned');
    signal?.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    const finish = (answer: PolkitAnswer) => {
      if (finished) return; // a failed spawn may report both 'error' and 'close'
      finished = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(answer);
    };
    child.once('error', (error) =>
      finish({ granted: false, reason: 'failed', detail: `${PKCHECK}: ${error.message}` }),
    );
    child.once('close', (code) => {
      const detail = stderr.trim().split('\n')[0] ?? '';
      if (stoppedBecause) finish({ granted: false, reason: stoppedBecause, detail });
      else if (code === 0) finish({ granted: true });
      else
        finish({
          granted: false,
          reason: EXIT_REASONS[code ?? -1] ?? 'failed',
          detail: detail || `${PKCHECK} exited with ${code}`,
        });
    });
  });
}
