// The rules engine against a stand-in kernel: each change hands over only the entries it touches,
// and a kernel that refuses a change leaves store and kernel as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApplyStats, Counters, KernelDefaults, KernelRule } from '../../../native/api.js';
import { RulesEngine, type KernelFirewall } from '../../../main/helper/engine.js';
import { openDatabase } from '../../../main/helper/store/database.js';
import { toKernelRules } from '../../../main/helper/kernel-rules.js';
import {
  rulePatchSchema,
  ruleDraftSchema,
  type ParsedDraft,
  type ParsedPatch,
  type RuleDraft,
} from '../../../main/contract/index.js';

/** The engine takes drafts as the RPC layer parsed them. */
function parsed(drafts: RuleDraft[]): ParsedDraft[] {
  return drafts.map((draft) => {
    const result = ruleDraftSchema.parse(draft);
    assert.ok(result.ok, JSON.stringify(result));
    return result.value;
  });
}
function parsedPatch(patch: Partial<RuleDraft>): ParsedPatch {
  const result = rulePatchSchema.parse(patch);
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

/** Holds entries by identity like the real compiler does; all or nothing; fails when told to. */
class FakeFirewall implements KernelFirewall {
  readonly entries = new Set<KernelRule>();
  readonly calls: Array<{ removed: number; added: number }> = [];
  failNext = false;

  async changeRules(
    change: { removed: readonly KernelRule[]; added: readonly KernelRule[] },
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

function describeEntry(e: KernelRule): string {
  return `${e.ruleId} ${e.scope} ${Buffer.from(e.addr).toString('hex')}/${e.prefixLen} ${e.portLo}-${e.portHi} ${e.protocol} ${e.direction} ${e.action}`;
}

async function withEngine(
  t: { after(fn: () => void): void },
  run: (engine: RulesEngine, kernel: FakeFirewall) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-engine-'));
  const db = openDatabase(dir);
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const kernel = new FakeFirewall();
  const engine = new RulesEngine(db, kernel, () => undefined);
  await engine.start();
  try {
    await run(engine, kernel);
  } finally {
    engine.stop();
  }
}

const storedEntries = (engine: RulesEngine) => toKernelRules(engine.rules.list(), Date.now()).map(describeEntry).sort();

test('each change hands the kernel only the entries of the rules it wrote', async (t) => {
  await withEngine(t, async (engine, kernel) => {
    await engine.addRules(
      parsed(Array.from({ length: 200 }, (_, i) => ({ action: 'block', remote: `10.0.${i >> 8}.${i & 255}` }))),
    );
    const [one] = await engine.addRules(parsed([{ action: 'block', remote: '192.0.2.1' }]));
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 1 });
    await engine.updateRule(one!.id, parsedPatch({ action: 'allow' }));
    assert.deepEqual(kernel.calls.at(-1), { removed: 1, added: 1 });
    await engine.updateRule(one!.id, parsedPatch({ enabled: false }));
    assert.deepEqual(kernel.calls.at(-1), { removed: 1, added: 0 });
    await engine.removeRules([one!.id]);
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 0 });
    await engine.addRules(parsed([{ action: 'block', remote: 'any', port: '25' }]));
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 2 }, '"any" is one entry per family');
    assert.deepEqual(kernel.describe(), storedEntries(engine));
  });
});

test('a change the kernel refuses leaves store and kernel as they were, and the next change goes through', async (t) => {
  await withEngine(t, async (engine, kernel) => {
    const [kept] = await engine.addRules(
      parsed([
        { action: 'block', remote: '10.0.0.0/8' },
        { action: 'allow', remote: '10.1.0.0/16' },
      ]),
    );
    const before = kernel.describe();

    kernel.failNext = true;
    await assert.rejects(
      engine.addRules(parsed([{ action: 'block', remote: '10.1.2.3' }])),
      /the kernel refused the rules.*injected kernel failure/,
    );
    assert.equal(engine.rules.count(), 2);
    assert.deepEqual(kernel.describe(), before);

    kernel.failNext = true;
    await assert.rejects(engine.updateRule(kept!.id, parsedPatch({ action: 'allow' })), /injected/);
    assert.equal(engine.rules.get(kept!.id)!.action, 'block');
    assert.deepEqual(kernel.describe(), before);

    kernel.failNext = true;
    await assert.rejects(engine.removeRules([kept!.id]), /injected/);
    assert.ok(engine.rules.get(kept!.id));
    assert.deepEqual(kernel.describe(), before);

    await engine.addRules(parsed([{ action: 'block', remote: '10.1.2.3' }]));
    await engine.removeRules([kept!.id]);
    assert.equal(engine.rules.count(), 2);
    assert.deepEqual(kernel.describe(), storedEntries(engine));
  });
});
