// The floor: the bare hooks a cgroup firewall cannot do without (cgroup connect4 and cgroup_skb
// in/egress) over an LPM trie holding the same blocked addresses as the Portcullis lane, and
// nothing else (bpf/bench-floor.bpf.c). What Portcullis pays above this is what its features cost.
// Loaded and attached with bpftool (the helper never loads this object), on the lane's cgroup,
// with its programs and map pinned in a private bpffs; stopping detaches and unpins them.
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Sandbox } from '../../test/support/sandbox.js';
import { blockedAddresses } from '../lib/blocklist.js';
import type { Lane } from '../lib/lab.js';
import { run } from '../lib/process.js';
import { countLabel, type Contender } from './contender.js';

const OBJECT = resolve(__dirname, '..', '..', 'build', 'bpf', 'bench-floor.bpf.o');

/** The hooks, by bpftool's attach type and the program's name in the object. */
const HOOKS = [
  { attachType: 'connect4', program: 'floor_connect4' },
  { attachType: 'egress', program: 'floor_egress' },
  { attachType: 'ingress', program: 'floor_ingress' },
] as const;

/** bpftool's batch line that adds one /32 to the trie (key: prefix length, then the address). */
function trieEntry(map: string, address: string): string {
  const bytes = address.split('.').map((octet) => Number(octet).toString(16).padStart(2, '0'));
  return `map update pinned ${map} key hex 20 00 00 00 ${bytes.join(' ')} value hex 01`;
}

export function bareHooks(sandbox: Sandbox, lane: Lane, ruleCount: number): Contender {
  let root: string | null = null;
  let attached: Array<(typeof HOOKS)[number]> = [];
  const facts: Record<string, unknown> = {
    rules: ruleCount,
    programs: HOOKS.map((h) => h.attachType).join(', '),
    map: 'IPv4 LPM trie, one /32 per blocked address',
  };
  const programPath = (name: string) => join(root!, 'progs', name);

  return {
    id: 'bare-hooks',
    label: `Bare hooks (connect4 + cgroup_skb, LPM trie), ${countLabel(ruleCount)} addresses`,
    async start() {
      // bpftool pins into a bpffs of its own (paths without dots: libbpf rewrites them in map pins).
      if (!root) root = sandbox.makeBpffs();
      run('bpftool', ['prog', 'loadall', OBJECT, join(root, 'progs'), 'pinmaps', join(root, 'maps')]);
      const map = join(root, 'maps', 'floor_v4');
      const batch = join(sandbox.makeTempDir('bench-floor'), 'entries');
      writeFileSync(
        batch,
        `${blockedAddresses(ruleCount)
          .map((a) => trieEntry(map, a))
          .join('\n')}\n`,
      );
      const began = performance.now();
      run('bpftool', ['batch', 'file', batch]);
      facts.fillMs = Math.round(performance.now() - began);
      for (const hook of HOOKS) {
        run('bpftool', [
          'cgroup',
          'attach',
          lane.cgroup,
          hook.attachType,
          'pinned',
          programPath(hook.program),
          'multi',
        ]);
        attached.push(hook);
      }
      facts.bpftool = run('bpftool', ['version']).split('\n')[0];
    },
    async stop() {
      for (const hook of attached)
        run('bpftool', ['cgroup', 'detach', lane.cgroup, hook.attachType, 'pinned', programPath(hook.program)]);
      attached = [];
      if (root) {
        rmSync(join(root, 'progs'), { recursive: true, force: true });
        rmSync(join(root, 'maps'), { recursive: true, force: true });
      }
    },
    facts: () => ({ ...facts }),
    costs: { cgroup: lane.cgroup, daemonPid: () => null },
  };
}
