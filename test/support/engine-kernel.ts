// The rules engine over a stand-in for the kernel side, for unit tests of what the engine hands it:
// entries held by identity as the real compiler holds them, a change all or nothing, and a refusal
// on request. Kernel behaviour itself is tested against the real kernel (test/kernel).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApplyStats, CompilableRule, Counters, KernelDefaults } from '../../native/api.js';
import { RulesEngine, type KernelFirewall } from '../../main/helper/engine.js';
import { openDatabase, type Db } from '../../main/helper/store/database.js';

/** Holds entries by identity like the real compiler does; all or nothing; fails when told to. */
export class FakeFirewall implements KernelFirewall {
  readonly entries = new Set<CompilableRule>();
  readonly calls: Array<{ removed: number; added: number }> = [];
  failNext = false;

  async changeRules(
    change: { removed: readonly CompilableRule[]; added: readonly CompilableRule[] },
    _defaults: KernelDefaults,
  ): Promise<ApplyStats> {
    for (const entry of change.removed)
      assert.ok(this.entries.has(entry), `rule ${entry.ruleId}: removed but never added`);
    this.calls.push({ removed: change.removed.length, added: change.added.length });
    if (this.failNext) {
      this.failNext = false;
      throw new Error('injected kernel failure');
    }
    for (const entry of change.removed) this.entries.delete(entry);
    for (const entry of change.added) this.entries.add(entry);
    return {
      mode: 'diff',
      entriesWritten: change.added.length,
      entriesDeleted: change.removed.length,
      generation: 0,
      elapsedMs: 0,
    };
  }

  async bindApps(): Promise<void> {}
  async readCounters(): Promise<Counters> {
    return { allowed: 0n, blocked: 0n, events: 0n, eventDrops: 0n, ruleHits: new Map() };
  }

  /** Entries as comparable text. */
  describe(): string[] {
    return [...this.entries].map(describeEntry).sort();
  }
}

export function describeEntry(e: CompilableRule): string {
  const addr =
    typeof e.addr === 'number' ? (e.addr >>> 0).toString(16).padStart(8, '0') : Buffer.from(e.addr).toString('hex');
  return `${e.ruleId} ${e.scope} ${addr}/${e.prefixLen} ${e.portLo}-${e.portHi} ${e.protocol} ${e.direction} ${e.action}`;
}

export async function withEngine(
  t: { after(fn: () => void): void },
  run: (engine: RulesEngine, kernel: FakeFirewall, reopen: () => Promise<RulesEngine>) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-engine-'));
  let db: Db = openDatabase(dir);
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const kernel = new FakeFirewall();
  let engine = new RulesEngine(db, kernel, () => undefined);
  await engine.start();
  /** A new engine on the same store and a fresh stand-in kernel, as after a restart. */
  const reopen = async () => {
    engine.stop();
    db.close();
    db = openDatabase(dir);
    kernel.entries.clear();
    engine = new RulesEngine(db, kernel, () => undefined);
    await engine.start();
    return engine;
  };
  try {
    await run(engine, kernel, reopen);
  } finally {
    engine.stop();
  }
}
