// Portcullis as people run it: the real helper (test/support/helper-process.ts: the CLI's `helper`
// command as root), its programs attached to the firewall lane's test cgroup (never the root
// cgroup) with everything on — owner tracking, decision events consumed by the helper, byte
// accounting — and the same blocked addresses as the peers, imported through the RPC like a
// person's blocklist. Stopping it stops the helper and detaches its pins, so the next contender
// finds the cgroup bare.
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_BATCH } from '../../main/contract/rpc.js';
import { streamImport } from '../../main/contract/import-stream.js';
import { importCalls } from '../../main/cli/commands/import.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { Firewall } from '../../native/index.js';
import { HelperProcess } from '../../test/support/helper-process.js';
import type { Sandbox } from '../../test/support/sandbox.js';
import { blockedAddresses } from '../lib/blocklist.js';
import { pinToOtherCpu } from '../lib/cpu-pinning.js';
import type { Lane } from '../lib/lab.js';
import { countLabel, type Contender } from './contender.js';

export interface RunningPortcullis {
  helper: HelperProcess;
  client: HelperClient;
}

export interface PortcullisContender extends Contender {
  /** The running helper and a connected client, while started. */
  running(): RunningPortcullis | null;
}

/**
 * Blocks the addresses as one list, through the helper's import RPC (one session, one transaction,
 * one kernel apply), as "portcullis import" does. Resolves with how many entries were added.
 */
export async function importBlocklist(
  client: HelperClient,
  addresses: readonly string[],
  list = 'bench',
): Promise<number> {
  const summary = await streamImport(
    importCalls(client),
    { format: 'plain', source: 'bench', list, direction: 'out' },
    [`${addresses.join('\n')}\n`],
  );
  return summary.added;
}

export interface PortcullisOptions {
  /**
   * Stop the helper once the rules are in (SIGTERM leaves the programs pinned and enforcing): the
   * kernel side alone, nobody reading its events — to tell the datapath's cost from the helper's.
   */
  kernelOnly?: boolean;
  /** The CLI that runs the helper (default: from source through tsx, as the tests run it). */
  cli?: readonly string[];
  /**
   * Another checkout of Portcullis (an older commit, built), run from its own sources the same way:
   * a change's cost measured against the build before it in one run. Its rules go in through
   * rules.addMany, which every version since the first benchmark serves.
   */
  baseline?: { root: string; name: string };
}

/** Adds the addresses as block rules in rules.addMany chunks (the RPC older helpers serve too). */
async function addBlockRules(client: HelperClient, addresses: readonly string[]): Promise<number> {
  let added = 0;
  for (let start = 0; start < addresses.length; start += MAX_BATCH) {
    const chunk = addresses.slice(start, start + MAX_BATCH);
    const result = await client.call('rules.addMany', {
      rules: chunk.map((remote) => ({ action: 'block' as const, remote, direction: 'out' as const })),
    });
    added += result.added;
  }
  return added;
}

export function portcullis(
  sandbox: Sandbox,
  lane: Lane,
  ruleCount: number,
  options: PortcullisOptions = {},
): PortcullisContender {
  let base: string | null = null;
  let pinDir: string | null = null;
  let starts = 0;
  let current: RunningPortcullis | null = null;
  const facts: Record<string, unknown> = {
    rules: ruleCount,
    via: 'real helper process + one list imported over its socket',
  };

  const { baseline } = options;
  const cli = baseline
    ? [process.execPath, '--import', 'tsx', join(baseline.root, 'main', 'cli', 'entry.ts')]
    : options.cli;
  if (baseline) facts.baseline = baseline.name;

  return {
    id: baseline ? 'portcullis-baseline' : options.kernelOnly ? 'portcullis-kernel' : 'portcullis',
    label: baseline
      ? `Portcullis at ${baseline.name}, ${countLabel(ruleCount)} rules`
      : options.kernelOnly
        ? `Portcullis programs only (helper stopped), ${countLabel(ruleCount)} rules`
        : `Portcullis, ${countLabel(ruleCount)} rules`,
    running: () => current,
    async start() {
      if (!base || !pinDir) {
        base = sandbox.makeTempDir('bench-helper');
        chmodSync(base, 0o755);
        pinDir = join(sandbox.makeBpffs(), 'portcullis');
      }
      starts++;
      // A fresh store each time: the rules are imported anew, like the first time.
      const helper = await HelperProcess.start(
        sandbox,
        {
          cgroup: lane.cgroup,
          bpffs: pinDir,
          stateDir: join(base, `state-${starts}`),
          socket: join(base, `run-${starts}`, 'helper.sock'),
          // A baseline may predate policy files and refuse the flag.
          policyDir: baseline ? null : join(base, `policy-${starts}`),
        },
        cli,
      );
      pinToOtherCpu(helper.pid!);
      const client = await helper.client('bench');
      current = { helper, client };
      const began = performance.now();
      const added =
        ruleCount === 0
          ? 0
          : baseline
            ? await addBlockRules(client, blockedAddresses(ruleCount))
            : await importBlocklist(client, blockedAddresses(ruleCount));
      facts.importMs = Math.round(performance.now() - began);
      if (added !== ruleCount) throw new Error(`the helper added ${added} rules, expected ${ruleCount}`);
      const status = await client.call('status');
      if (!status.enforcing) throw new Error('the helper is not enforcing');
      facts.version = status.version;
      facts.attach = status.attach.cgroup;
      facts.kernel = status.kernel;
      if (options.kernelOnly) {
        client.close();
        await helper.stop('SIGTERM');
        current = null;
      }
    },
    async stop() {
      if (current) {
        current.client.close();
        await current.helper.stop('SIGTERM');
        current = null;
      }
      // SIGTERM leaves the programs pinned and enforcing (by design): take them off the cgroup.
      if (pinDir) {
        await Firewall.detach(pinDir).catch(() => {
          /* nothing was attached */
        });
      }
    },
    facts: () => ({ ...facts }),
    costs: { cgroup: lane.cgroup, daemonPid: () => current?.helper.pid ?? null },
  };
}
