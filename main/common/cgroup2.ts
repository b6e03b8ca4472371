// Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on unified systems,
// /sys/fs/cgroup/unified on hybrid ones. Read from mountinfo, never assumed.
import { readFileSync } from 'node:fs';

/** Mount points of a filesystem type, from /proc/self/mountinfo ("... - fstype source opts"). */
export function mountPointsOf(fsType: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after) continue;
    if (after.split(' ')[0] !== fsType) continue;
    const mountPoint = before.split(' ')[4];
    if (mountPoint) points.push(unescapeMountPath(mountPoint));
  }
  return points;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function findCgroup2Mount(mountinfo?: string): string | null {
  const points = mountPointsOf('cgroup2', mountinfo);
  // Prefer the canonical locations when several exist (containers sometimes add more).
  return (
    points.find((p) => p === '/sys/fs/cgroup') ??
    points.find((p) => p === '/sys/fs/cgroup/unified') ??
    points[0] ??
    null
  );
}

export function findBpffsMounts(mountinfo?: string): string[] {
  return mountPointsOf('bpf', mountinfo);
}
