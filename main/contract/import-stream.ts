// Sending a list to the helper: one import session, the text in chunks with a few in flight (the
// helper parses each as it arrives, so reading, sending and parsing overlap), then one commit. The
// CLI and the desktop app both import through this, over their own way of calling the helper.
import type { ImportProgress, ImportSummary } from './lists.js';
import { IMPORT_CHUNK_CHARS } from './lists.js';
import type { ParamsOf, ResultOf } from './rpc.js';

/** Calls the helper's import methods; a failure throws. */
export interface ImportCalls {
  begin(params: ParamsOf<'import.begin'>): Promise<ResultOf<'import.begin'>>;
  chunk(params: ParamsOf<'import.chunk'>): Promise<ImportProgress>;
  commit(params: ParamsOf<'import.commit'>): Promise<ImportSummary>;
  abort(params: ParamsOf<'import.abort'>): Promise<unknown>;
}

export interface ImportStatus {
  phase: 'sending' | 'applying';
  /** Characters of text handed to the helper so far. */
  sent: number;
  /** What the helper has parsed, as of its last reply. */
  parsed: ImportProgress | null;
}

/** Chunks in flight at once: enough that the helper never waits for the next, few enough to bound memory. */
const IN_FLIGHT = 4;

/** Cuts text into pieces the helper takes in one request. */
export function* importChunks(text: string): Generator<string> {
  for (let at = 0; at < text.length; at += IMPORT_CHUNK_CHARS) yield text.slice(at, at + IMPORT_CHUNK_CHARS);
}

/**
 * Runs an import: begins a session, sends every piece of `source` (any sizes: they are cut to what a
 * request carries), commits. On any failure the session is aborted and nothing is stored.
 */
export async function streamImport(
  calls: ImportCalls,
  begin: ParamsOf<'import.begin'>,
  source: AsyncIterable<string> | Iterable<string>,
  onStatus?: (status: ImportStatus) => void,
): Promise<ImportSummary> {
  const { session } = await calls.begin(begin);
  const status: ImportStatus = { phase: 'sending', sent: 0, parsed: null };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown = null;
  try {
    for await (const piece of source) {
      for (const text of importChunks(piece)) {
        if (failure) throw failure;
        const sent = calls.chunk({ session, text }).then(
          (parsed) => {
            if (!status.parsed || parsed.received > status.parsed.received) status.parsed = parsed;
            onStatus?.(status);
          },
          (error: unknown) => {
            failure ??= error;
          },
        );
        const tracked = sent.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        status.sent += text.length;
        if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      }
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    status.phase = 'applying';
    onStatus?.(status);
    return await calls.commit({ session });
  } catch (error) {
    await Promise.all(inFlight);
    await calls.abort({ session }).catch(() => undefined); // the session may be gone already
    throw error;
  }
}
