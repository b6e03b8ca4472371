// No firewall, iptables with N linear rules, and an nftables set of the same N addresses, all in the
// firewall lane's namespace. iptables is Debian's default (the nf_tables backend); its rules are a
// linear chain that every outgoing packet walks, which is what a list of N addresses costs there.
import { blockedAddresses } from '../lib/blocklist.js';
import type { Lane } from '../lib/lab.js';
import { run } from '../lib/process.js';
import { countLabel, type Contender } from './contender.js';

function inNs(lane: Lane, command: string, args: string[], input?: string): string {
  return run('ip', ['netns', 'exec', lane.netns, command, ...args], input);
}

/** Leaves the namespace's netfilter empty again, whatever a contender loaded. */
export function flushNetfilter(lane: Lane): void {
  inNs(lane, 'nft', ['flush', 'ruleset']);
}

export function noFirewall(): Contender {
  return { id: 'none', label: 'no firewall', start: async () => {}, stop: async () => {}, facts: () => ({}) };
}

export function iptablesLinear(lane: Lane, count: number): Contender {
  let version = '';
  return {
    id: `iptables-${countLabel(count)}`,
    label: `iptables, ${countLabel(count)} rules`,
    async start() {
      version = run('iptables', ['--version']).trim();
      const lines = [
        '*filter',
        ':OUTPUT ACCEPT [0:0]',
        ...blockedAddresses(count).map((a) => `-A OUTPUT -d ${a}/32 -j DROP`),
        'COMMIT',
        '',
      ];
      inNs(lane, 'iptables-restore', [], lines.join('\n'));
      const loaded = inNs(lane, 'iptables', ['-S', 'OUTPUT'])
        .split('\n')
        .filter((l) => l.startsWith('-A ')).length;
      if (loaded !== count) throw new Error(`iptables loaded ${loaded} rules, expected ${count}`);
    },
    async stop() {
      flushNetfilter(lane);
    },
    facts: () => ({
      version,
      rules: count,
      chain: 'filter OUTPUT, one -d ADDR -j DROP rule per address, no conntrack shortcut',
    }),
  };
}

export function nftablesSet(lane: Lane, count: number): Contender {
  let version = '';
  return {
    id: `nftables-${countLabel(count)}`,
    label: `nftables set, ${countLabel(count)} addresses`,
    async start() {
      version = run('nft', ['--version']).trim();
      const script = [
        'table inet pcl_bench {',
        `  set blocked { type ipv4_addr; elements = { ${blockedAddresses(count).join(', ')} } }`,
        '  chain output { type filter hook output priority 0; policy accept; ip daddr @blocked drop; }',
        '}',
        '',
      ].join('\n');
      inNs(lane, 'nft', ['-f', '-'], script);
    },
    async stop() {
      flushNetfilter(lane);
    },
    facts: () => ({ version, addresses: count, rule: 'inet filter output: ip daddr @blocked drop (hash set)' }),
  };
}
