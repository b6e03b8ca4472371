// The programs attached to a cgroup, as the kernel lists them (bpftool): what tests check to see
// that nothing was attached twice, left behind, or taken away.
import { execFileSync } from 'node:child_process';

export interface AttachedProgram {
  id: number;
  /** bpftool's name of the hook, e.g. cgroup_inet4_connect. */
  attach_type: string;
  name: string;
}

/** Programs attached to a cgroup (empty when none). */
export function attachedPrograms(cgroup: string): AttachedProgram[] {
  const out = execFileSync('bpftool', ['-j', 'cgroup', 'show', cgroup], { encoding: 'utf8' }).trim();
  return out ? (JSON.parse(out) as AttachedProgram[]) : [];
}
