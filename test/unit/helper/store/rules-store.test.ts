import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRuleDraft } from '../../../../main/contract/index.js';
import { openDatabase, migrate } from '../../../../main/helper/store/database.js';
import { migrations } from '../../../../main/helper/store/migrations.js';
import { RulesStore, type ResolvedSpec } from '../../../../main/helper/store/rules-store.js';
import { KeyValueStore } from '../../../../main/helper/store/key-value-store.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function spec(draft: Record<string, unknown>): ResolvedSpec {
  const parsed = parseRuleDraft({ action: 'block', ...draft }, 1000, 'rule');
  assert.ok(parsed.ok, JSON.stringify(parsed));
  const { app, ...rest } = parsed.value;
  return { ...rest, appId: typeof app === 'number' ? app : null };
}

test('rules round-trip through the store and survive reopening', (t) => {
  const dir = tempDir(t);
  let db = openDatabase(dir);
  const store = new RulesStore(db);
  const a = store.add(spec({ remote: '10.0.0.0/8', port: '80-90', protocol: 'tcp', note: 'lan' }), 5);
  const b = store.add(spec({ remote: '*.Example.COM', direction: 'out', for: '10m' }), 6);
  assert.deepEqual(a.remote, { kind: 'address', family: 4, text: '10.0.0.0/8', address: '10.0.0.0', prefixLen: 8 });
  assert.deepEqual(b.remote, { kind: 'domain', name: 'example.com', subdomains: true });
  assert.equal(b.expiresAt, 1000 + 600_000);
  db.close();
  db = openDatabase(dir);
  const again = new RulesStore(db).list();
  assert.deepEqual(again, [a, b]);
  assert.deepEqual(again[0]!.ports, { from: 80, to: 90 });
  db.close();
});

test('ids are never reused after a removal; expiry queries find due rules', (t) => {
  const db = openDatabase(tempDir(t));
  t.after(() => db.close());
  const store = new RulesStore(db);
  const first = store.add(spec({ remote: '1.1.1.1', expiresAt: 2000 }), 1);
  assert.deepEqual(store.remove([first.id, 999]), [first.id]);
  const second = store.add(spec({ remote: '1.1.1.1', expiresAt: 3000 }), 1);
  assert.ok(second.id > first.id);
  assert.equal(store.nextExpiry(), 3000);
  assert.deepEqual(store.expiredIds(2999), []);
  assert.deepEqual(store.expiredIds(3000), [second.id]);
  const updated = store.update(second.id, spec({ remote: '2.2.2.2', enabled: false }), 9)!;
  assert.equal(updated.enabled, false);
  assert.equal(updated.updatedAt, 9);
  assert.equal(store.update(12345, spec({}), 9), null);
});

test('migrations run once each, in order; a newer database is refused', (t) => {
  const dir = tempDir(t);
  const db = openDatabase(dir);
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), migrations.length);
  const extra = [...migrations, { description: 'test table', up: (d: typeof db) => d.exec('CREATE TABLE extra (x)') }];
  migrate(db, extra);
  migrate(db, extra); // idempotent: would fail on "table extra already exists"
  assert.equal(db.pragma('user_version', { simple: true }), migrations.length + 1);
  assert.throws(() => migrate(db, migrations), /newer than this helper knows/);
});

test('settings: stored values over defaults', (t) => {
  const db = openDatabase(tempDir(t));
  t.after(() => db.close());
  const settings = new KeyValueStore(db, 'settings', { defaultAction: 'allow', authorizedUsers: [] as number[] });
  assert.deepEqual(settings.get(), { defaultAction: 'allow', authorizedUsers: [] });
  assert.deepEqual(settings.set({ authorizedUsers: [1000] }), { defaultAction: 'allow', authorizedUsers: [1000] });
});
