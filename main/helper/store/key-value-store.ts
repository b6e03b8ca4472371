// A small JSON key-value table (settings, helper state): few keys, read whole, written rarely.
import type { Db } from './database.js';

export class KeyValueStore<T extends object> {
  private readonly selectAll;
  private readonly upsert;

  constructor(
    db: Db,
    table: 'settings' | 'helper_state',
    private readonly defaults: T,
  ) {
    this.selectAll = db.prepare<[], { key: string; value: string }>(`SELECT key, value FROM ${table}`);
    this.upsert = db.prepare(
      `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
    );
  }

  /** Stored values over the defaults; keys the defaults do not name are ignored. */
  get(): T {
    const out = { ...this.defaults } as Record<string, unknown>;
    for (const { key, value } of this.selectAll.all()) {
      if (key in this.defaults) out[key] = JSON.parse(value);
    }
    return out as T;
  }

  set(patch: Partial<T>): T {
    for (const [key, value] of Object.entries(patch)) {
      if (value !== undefined) this.upsert.run(key, JSON.stringify(value));
    }
    return this.get();
  }
}
