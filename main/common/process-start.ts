// When a process started: field 22 of /proc/PID/stat, clock ticks after boot. With its pid it names
// one process for as long as the system runs (a pid alone is reused once its process exits), which
// is how polkit names a process: the helper for the client it asks about, the CLI for itself when it
// registers polkit's terminal agent.
import { readFileSync } from 'node:fs';

/** As /proc writes it (decimal text), or null when there is no such process. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2 (the command name) is in parentheses and may itself hold spaces and ')': the fields
  // after the last ')' start with field 3, so field 22 is the 20th of them.
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  return start !== undefined && /^[0-9]+$/.test(start) ? start : null;
}
