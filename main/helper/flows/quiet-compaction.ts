// Gives memory back after a burst. A burst of events (100k new flows in seconds) grows V8's heap,
// and it stays that size until the next garbage collection; a helper that then goes quiet
// allocates next to nothing, so none comes (RSS stayed ~80 MiB above the live heap), while the
// buffers of live-totals reads pile up outside the heap. Each time the pipeline has been quiet (at
// most a trickle of events and history writes: a desktop always has some) for a check interval
// and the heap plus its outside buffers grew since the last collection, this collects once, then
// hands the C heap's free pages back (trimNativeHeap): glibc keeps a burst's freed buffers
// resident while live allocations sit above them (~25 MiB after 100k flows).
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface QuietCompactionOptions {
  /**
   * A count of the pipeline's work (events processed plus flow rows written): growing by at most
   * quietWork over an interval means quiet. Writes count too: a collection while a burst's
   * backlog is still being written finds V8 allocating fast, and it keeps its young generation
   * at full size (32 MiB).
   */
  work(): number;
  /**
   * Work per interval that still counts as quiet (500): room for a desktop's background traffic
   * and its flows written every 2 s, far below a burst (~20k rows a second written).
   */
  quietWork?: number;
  /** How often to check (ms). */
  everyMs?: number;
  /** Growth of the heap and its outside buffers since the last collection (bytes) worth giving back. */
  growthBytes?: number;
  /** Returns the C heap's free pages to the kernel (native trimNativeHeap), after each collection. */
  trimNativeHeap?(): void;
  log(message: string): void;
}

/** V8's collector as a function (the --expose-gc flag set at run time, read by a fresh context), or null. */
function fullCollector(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
}

const mib = (bytes: number): string => (bytes / 1_048_576).toFixed(0);

/** Starts the checks; returns the function that stops them. */
export function startQuietCompaction(options: QuietCompactionOptions): () => void {
  const collect = fullCollector();
  if (!collect) {
    options.log('no heap compaction after bursts: V8 would not expose its collector');
    return () => {};
  }
  const growthBytes = options.growthBytes ?? 8 * 1024 * 1024;
  const heapBytes = (): number => {
    const heap = getHeapStatistics();
    return heap.total_heap_size + heap.external_memory;
  };
  let baseline = heapBytes();
  const quietWork = options.quietWork ?? 500;
  let lastWork = options.work();
  const timer = setInterval(() => {
    const work = options.work();
    const quiet = work - lastWork <= quietWork;
    lastWork = work;
    const now = heapBytes();
    if (now < baseline) baseline = now;
    if (!quiet || now - baseline < growthBytes) return;
    collect();
    options.trimNativeHeap?.();
    baseline = heapBytes();
    options.log(`quiet after a burst: collected, heap and its buffers ${mib(now)} -> ${mib(baseline)} MiB`);
  }, options.everyMs ?? 5000);
  timer.unref();
  return () => clearInterval(timer);
}
