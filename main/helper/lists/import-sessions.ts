// Imports in sessions: a client begins one, streams the list's text in chunks (each parsed as it
// arrives, so the helper answers other requests between them and nothing waits for the whole file),
// and commits it: one transaction and one kernel apply for the whole list, however long. A session
// belongs to the connection that began it and ends with it; bad lines are reported, never stored.
import {
  DOCUMENT_IMPORT_FORMATS,
  ListParser,
  MAX_SKIPPED_KEPT,
  PortcullisError,
  invalidInput,
  mapOpenSnitch,
  parseOpenSnitchBundle,
  listNameFromSource,
  type ImportFormat,
  type ImportProgress,
  type ImportSummary,
  type Infer,
  type LineFormat,
  type ParsedRulesDocument,
  type SkippedLine,
  importBeginSchema,
} from '../../contract/index.js';
import type { RulesEngine } from '../engine.js';
import { listView } from '../store/lists-store.js';
import { addEntries, MAX_LIST_ENTRIES, targetList } from './list-entries.js';
import { RemoteSet } from './remote-set.js';
import { readDocument, storeDocument } from './document-import.js';

export type ImportBegin = Infer<typeof importBeginSchema>;

/** Who owns a session: its connection (the RPC layer's), compared by identity. */
export interface SessionOwner {
  onClose(listener: () => void): void;
}

/** Sessions one connection may hold at once, and all connections together. */
const MAX_SESSIONS_PER_OWNER = 2;
const MAX_SESSIONS = 8;
/** A JSON document is parsed whole at commit: its text is held until then, up to this much. */
const MAX_DOCUMENT_CHARS = 256 * 1024 * 1024;
/** A session no chunk has reached for this long is dropped (a client that went quiet). */
const IDLE_MS = 5 * 60_000;

interface Session {
  id: number;
  owner: SessionOwner;
  begin: ImportBegin;
  startedAt: number;
  received: number;
  lastActive: number;
  /** Line formats: the parser, the entries so far (repeats dropped) and how many repeats. Auto: made by the first text. */
  parser: ListParser | null;
  /** JSON or an OpenSnitch bundle, or auto text that starts with "{": read whole at commit. */
  isDocument: boolean;
  entries: string[];
  seen: RemoteSet;
  repeats: number;
  /** JSON: the text so far. */
  document: string[];
  committing: boolean;
}

export class ImportSessions {
  private readonly sessions = new Map<number, Session>();
  private nextId = 1;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly engine: RulesEngine) {
    this.sweeper = setInterval(() => this.dropIdle(Date.now()), 30_000);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sessions.clear();
  }

  begin(owner: SessionOwner, begin: ImportBegin, now = Date.now()): { session: number } {
    const owned = [...this.sessions.values()].filter((session) => session.owner === owner).length;
    if (owned >= MAX_SESSIONS_PER_OWNER || this.sessions.size >= MAX_SESSIONS)
      throw new PortcullisError(
        'unavailable',
        `too many imports at once (${owned} on this connection, ${this.sessions.size} in all); finish or abort one first`,
      );
    const isDocument = DOCUMENT_IMPORT_FORMATS.includes(begin.format);
    const namesList = begin.list !== undefined || begin.action !== undefined || begin.app !== undefined;
    if (isDocument && namesList)
      throw new PortcullisError(
        'invalid-input',
        `params.format: ${begin.format === 'json' ? 'a JSON document names its own lists and terms' : 'OpenSnitch rules carry their own terms'}; --list, --action and --app are for line formats`,
        { where: 'params.format' },
      );
    const id = this.nextId++;
    const session: Session = {
      id,
      owner,
      begin,
      startedAt: now,
      received: 0,
      lastActive: now,
      // Auto looks at the first text for a JSON document, unless the import names its list or terms.
      parser: isDocument || (begin.format === 'auto' && !namesList) ? null : new ListParser(begin.format as LineFormat),
      isDocument,
      entries: [],
      seen: new RemoteSet(),
      repeats: 0,
      document: [],
      committing: false,
    };
    this.sessions.set(id, session);
    owner.onClose(() => this.sessions.delete(id));
    return { session: id };
  }

  /** Parses a chunk as it arrives (synchronously: chunks of a session are taken in the order sent). */
  chunk(owner: SessionOwner, id: number, text: string, now = Date.now()): ImportProgress {
    const session = this.owned(owner, id);
    if (session.committing) throw new PortcullisError('invalid-input', `import ${id} is already being committed`);
    session.received += text.length;
    session.lastActive = now;
    if (!session.parser && !session.isDocument) {
      // Auto: Portcullis's own document starts with "{", which no line format does.
      const first = /\S/.exec(text);
      if (first) {
        if (first[0] === '{') session.isDocument = true;
        else session.parser = new ListParser('auto');
      }
      if (!first) {
        session.document.push(text);
        return this.progress(session);
      }
      if (session.parser && session.document.length > 0) session.parser.push(session.document.splice(0).join(''));
    }
    if (session.isDocument) {
      if (session.received > MAX_DOCUMENT_CHARS) {
        this.sessions.delete(id);
        throw new PortcullisError(
          'invalid-input',
          `the ${session.begin.format === 'opensnitch' ? 'OpenSnitch bundle' : 'JSON document'} is longer than ${MAX_DOCUMENT_CHARS} characters; import ended, nothing was stored`,
        );
      }
      session.document.push(text);
      return this.progress(session);
    }
    session.parser!.push(text);
    this.take(session);
    return this.progress(session);
  }

  abort(owner: SessionOwner, id: number): { aborted: true } {
    this.owned(owner, id);
    this.sessions.delete(id);
    return { aborted: true };
  }

  /** Stores what the session read, in one change: one transaction and one kernel apply. */
  async commit(
    owner: SessionOwner,
    id: number,
    authorize: (document: ParsedRulesDocument) => Promise<void> = async () => undefined,
  ): Promise<ImportSummary> {
    const session = this.owned(owner, id);
    if (session.committing) throw new PortcullisError('invalid-input', `import ${id} is already being committed`);
    session.committing = true;
    try {
      const { begin } = session;
      if (begin.format === 'opensnitch') {
        const files = parseOpenSnitchBundle(session.document.join(''));
        if (!files.ok) throw invalidInput(files.error);
        const mapping = mapOpenSnitch(files.value);
        await authorize(mapping.document);
        const { removed: _none, ...summary } = await storeDocument(this.engine, mapping.document, begin.source);
        const skipped = [...mapping.skipped, ...summary.skipped].slice(0, MAX_SKIPPED_KEPT);
        return {
          ...summary,
          skipped,
          skippedCount: summary.skippedCount + mapping.skipped.length,
          elapsedMs: Date.now() - session.startedAt,
        };
      }
      if (session.isDocument) {
        const document = readDocument(session.document.join(''));
        await authorize(document);
        const { removed: _none, ...summary } = await storeDocument(this.engine, document, begin.source);
        return { ...summary, elapsedMs: Date.now() - session.startedAt };
      }
      const parser = session.parser ?? new ListParser('auto');
      parser.push(session.document.join(''));
      parser.end();
      session.parser = parser;
      this.take(session);
      const entries = session.entries;
      const written = await this.engine.transaction((now) => {
        const list = targetList(
          this.engine,
          {
            name: begin.list ?? listNameFromSource(begin.source),
            kind: 'import',
            source: begin.source,
            action: begin.action ?? 'block',
            app: begin.app ?? null,
            direction: begin.direction ?? 'both',
            note: begin.note ?? '',
          },
          now,
        );
        return addEntries(this.engine, list, entries, now);
      });
      return {
        added: written.added,
        alreadyPresent: written.alreadyPresent + session.repeats,
        skippedCount: parser.skippedCount,
        skipped: parser.skipped as SkippedLine[],
        lists: [listView(written.list)],
        elapsedMs: Date.now() - session.startedAt,
      };
    } finally {
      this.sessions.delete(id);
    }
  }

  /** Moves the parser's new entries into the session's, dropping repeats. */
  private take(session: Session): void {
    const parsed = session.parser!.entries;
    const seen = session.seen;
    for (let i = 0; i < parsed.length; i++) {
      if (seen.add(parsed[i]!)) session.entries.push(parsed[i]!);
      else session.repeats++;
    }
    parsed.length = 0;
    if (session.entries.length > MAX_LIST_ENTRIES) {
      this.sessions.delete(session.id);
      throw new PortcullisError(
        'invalid-input',
        `the list has more than ${MAX_LIST_ENTRIES} entries (line ${session.parser!.lines}); import ended, nothing was stored`,
      );
    }
  }

  private progress(session: Session): ImportProgress {
    return {
      lines: session.parser?.lines ?? 0,
      entries: session.entries.length,
      skipped: session.parser?.skippedCount ?? 0,
      received: session.received,
    };
  }

  private owned(owner: SessionOwner, id: number): Session {
    const session = this.sessions.get(id);
    // Another connection's session is as good as none: its id tells a client nothing.
    if (!session || session.owner !== owner)
      throw new PortcullisError(
        'not-found',
        `there is no import ${id} on this connection (it ended or was never begun)`,
        {
          where: 'params.session',
        },
      );
    return session;
  }

  private dropIdle(now: number): void {
    for (const [id, session] of this.sessions)
      if (!session.committing && now - session.lastActive > IDLE_MS) this.sessions.delete(id);
  }
}

export type { ImportFormat };
