// polkit's terminal agent for this process. A command that may loosen the firewall makes the helper
// ask polkit about this process, and polkit asks the agent registered for it: pkttyagent, which
// prompts for an administrator's password on this terminal, like pkexec's own agent and sudo. An
// agent registered for the process comes before the session's (a desktop dialog is for the app).
// Not --fallback: with it, polkit found no agent for a process outside any session (a console, ssh),
// where the terminal is the only place to ask.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { processStartTime } from '../common/process-start.js';

export const PKTTYAGENT = '/usr/bin/pkttyagent';
/** How long registering may take before the command goes ahead without it. */
const REGISTER_TIMEOUT_MS = 5000;

export interface TerminalAgent {
  stop(): void;
}

/**
 * Registers pkttyagent for this process and resolves once polkit knows it (pkttyagent closes the
 * notify fd then). Null when there is no terminal to prompt on or no pkttyagent; the helper's
 * refusal then says that no agent could ask.
 */
export async function startTerminalAgent(): Promise<TerminalAgent | null> {
  if (!process.stdin.isTTY || !process.stderr.isTTY || !existsSync(PKTTYAGENT)) return null;
  const startTime = processStartTime(process.pid);
  if (startTime === null) return null;
  // stdio 3 is the notify pipe; the prompts go to the terminal itself.
  const child = spawn(PKTTYAGENT, ['--process', `${process.pid},${startTime}`, '--notify-fd', '3'], {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  const notify = child.stdio[3]!;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, REGISTER_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    notify.once('close', done);
    notify.on('data', () => undefined); // keeps the pipe flowing so 'close' is seen
    child.once('exit', done);
    child.once('error', done);
  });
  return {
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
