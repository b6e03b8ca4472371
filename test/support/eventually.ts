// Waiting for something the real system does in its own time, bounded: no test sleeps a guess.

export interface Patience<T> {
  /** How long to wait before failing (default 10 s): it bounds the test, it measures nothing. */
  timeoutMs?: number;
  /** Between reads (default 50 ms); slower for reads that cost (a CLI run, a metrics scrape). */
  everyMs?: number;
  /** The last value as the failure shows it (JSON by default), with whatever else explains it. */
  describe?: (value: T) => string;
}

/** JSON that also takes bigints (kernel counters). */
const show = (value: unknown): string =>
  JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? `${item}n` : item)) ?? String(value);

/** Holds for a value that is there: `eventually(find, present, ...)` waits for it and types it. */
export const present = <T>(value: T | null | undefined): value is T => value !== null && value !== undefined;

/** Polls until `check` holds (bounded); returns its last value, or throws saying what was seen. */
export async function eventually<T, U extends T>(
  read: () => Promise<T> | T,
  check: (value: T) => value is U,
  what: string,
  patience?: number | Patience<T>,
): Promise<U>;
export async function eventually<T>(
  read: () => Promise<T> | T,
  check: (value: T) => boolean,
  what: string,
  patience?: number | Patience<T>,
): Promise<T>;
export async function eventually<T>(
  read: () => Promise<T> | T,
  check: (value: T) => boolean,
  what: string,
  patience: number | Patience<T> = {},
): Promise<T> {
  const {
    timeoutMs = 10_000,
    everyMs = 50,
    describe = show,
  } = typeof patience === 'number' ? { timeoutMs: patience } : patience;
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!check(value)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${describe(value)} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    value = await read();
  }
  return value;
}
