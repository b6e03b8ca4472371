// One rule change -> enforcement, per firewall: from the call until a probe's connect in the
// firewall lane first fails (p50/p99). Portcullis through the helper's RPC, iptables -I, nft add
// element, each with the same rules already loaded.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sandbox } from '../../test/support/sandbox.js';
import type { Contender } from '../contenders/contender.js';
import { iptablesLinear, nftablesSet } from '../contenders/netfilter.js';
import { portcullis } from '../contenders/portcullis.js';
import type { Lab, Lane } from './lab.js';
import type { Loadgen } from './loadgen.js';
import { run } from './process.js';
import { summarizeWithPercentiles, type Summary } from './stats.js';

export interface LatencyFigure {
  firewall: string;
  how: string;
  iterations: number;
  /** Call -> first failing connect, ms. */
  enforcedMs: (Summary & { p50: number; p99: number }) | null;
  /** Call -> reply (or command exit), ms. */
  replyMs: (Summary & { p50: number; p99: number }) | null;
  /** Iterations whose first failing connect came before the reply (enforced before acknowledged). */
  enforcedBeforeReply: number;
  errors: string[];
}

/** One firewall's way to block and unblock one address, on the firewall lane. */
export interface RuleChanger {
  firewall: string;
  how: string;
  contender: Contender;
  block(address: string): Promise<void>;
  unblock(address: string): Promise<void>;
}

function inNs(lane: Lane, command: string, args: string[], input?: string): string {
  return run('ip', ['netns', 'exec', lane.netns, command, ...args], input);
}

const nowNs = () => Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, like the probe's

export function changers(sandbox: Sandbox, lane: Lane, loadedRules: number): RuleChanger[] {
  const helper = portcullis(sandbox, lane, loadedRules);
  let ruleId: number | null = null;
  return [
    {
      firewall: 'portcullis',
      how: 'rules.add / rules.remove over the helper socket',
      contender: helper,
      async block(address) {
        const rule = await helper
          .running()!
          .client.call('rules.add', { rule: { action: 'block', remote: address, direction: 'out' } });
        ruleId = rule.id;
      },
      async unblock() {
        if (ruleId !== null) await helper.running()!.client.call('rules.remove', { ids: [ruleId] });
        ruleId = null;
      },
    },
    {
      firewall: 'iptables',
      how: 'ip netns exec … iptables -I OUTPUT 1 -d ADDR -j DROP (a new process, as a person runs it)',
      contender: iptablesLinear(lane, loadedRules),
      async block(address) {
        inNs(lane, 'iptables', ['-I', 'OUTPUT', '1', '-d', address, '-j', 'DROP']);
      },
      async unblock() {
        inNs(lane, 'iptables', ['-D', 'OUTPUT', '1']);
      },
    },
    {
      firewall: 'nftables',
      how: 'ip netns exec … nft add element (a new process)',
      contender: nftablesSet(lane, loadedRules),
      async block(address) {
        inNs(lane, 'nft', ['add', 'element', 'inet', 'pcl_bench', 'blocked', `{ ${address} }`]);
      },
      async unblock(address) {
        inNs(lane, 'nft', ['delete', 'element', 'inet', 'pcl_bench', 'blocked', `{ ${address} }`]);
      },
    },
  ];
}

export async function measureRuleChange(
  loadgen: Loadgen,
  lab: Lab,
  changer: RuleChanger,
  iterations: number,
  log: (line: string) => void,
): Promise<LatencyFigure> {
  const lane = lab.firewall;
  const enforced: number[] = [];
  const replies: number[] = [];
  const errors: string[] = [];
  let beforeReply = 0;
  try {
    await changer.contender.start();
  } catch (error) {
    await changer.contender.stop();
    throw error;
  }
  const sink = await loadgen.startTcpSink(lane, 'veth', 600);
  try {
    for (let i = 0; i < iterations; i++) {
      const probe = await loadgen.startProbe(lane, 'veth', sink.port, 10, 200);
      await sleep(15);
      const called = nowNs();
      await changer.block(lane.serverAddr);
      const replied = nowNs();
      const result = await probe.result;
      await changer.unblock(lane.serverAddr);
      if (result.failedAtNs === 0) {
        errors.push(`iteration ${i + 1}: connects still succeeded 10 s after the change`);
        continue;
      }
      // A refusal (EPERM) fails at once; a dropped SYN only when the probe gives up: then the
      // attempt's start is when the rule was known to be in force.
      const refused = result.errno === 1 || result.errno === 111;
      const failedAt = refused ? result.failedAtNs : result.attemptStartNs!;
      if (failedAt < called) {
        errors.push(`iteration ${i + 1}: a connect failed before the change was made (errno ${result.errno})`);
        await sleep(100);
        continue;
      }
      enforced.push(Math.max(0, failedAt - called) / 1e6);
      replies.push((replied - called) / 1e6);
      if (failedAt <= replied) beforeReply++;
      await sleep(20);
    }
  } finally {
    await sink.stop();
    await changer.contender.stop();
  }
  const figure: LatencyFigure = {
    firewall: changer.firewall,
    how: changer.how,
    iterations,
    enforcedMs: summarizeWithPercentiles(enforced),
    replyMs: summarizeWithPercentiles(replies),
    enforcedBeforeReply: beforeReply,
    errors,
  };
  log(
    `rule change ${changer.firewall.padEnd(10)} enforced p50 ${figure.enforcedMs?.p50.toFixed(2)} ms, p99 ${figure.enforcedMs?.p99.toFixed(2)} ms; reply p50 ${figure.replyMs?.p50.toFixed(2)} ms (${errors.length} errors)`,
  );
  return figure;
}
