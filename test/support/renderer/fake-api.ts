// An in-memory RendererApi for component and store tests: it keeps rules with the contract's own
// parser (so validation is the real code), records calls, and lets a test push notifications.
// Imports go through the contract's own list parser and OpenSnitch bundle reader and mapping.
import {
  ipcNotifyNames,
  listenerName,
  type Check,
  type HelperState,
  type IpcNotifyName,
  type IpcResult,
  type PayloadOf,
  type RendererApi,
  type WizardState,
} from '../../../main/contract/ipc';
import type { App, Flow, Settings, Status } from '../../../main/contract/domain';
export { connectionEvent } from '../connection-event';
import { parseRuleDraft, specOf, type Rule, type RuleSpec } from '../../../main/contract/rules';
import { mapOpenSnitch, parseOpenSnitchBundle } from '../../../main/contract/opensnitch';
import type { Prompt } from '../../../main/contract/prompts';
import type { ErrorKind } from '../../../main/contract/errors';
import { ListParser, type LineFormat } from '../../../main/contract/list-formats';
import type { ImportFormat, ImportSummary, RuleList } from '../../../main/contract/lists';

export function status(overrides: Partial<Status> = {}): Status {
  return {
    version: '0.1.0',
    protocolVersion: 1,
    pid: 4242,
    uptimeSec: 10,
    enforcing: true,
    pausedUntil: null,
    defaultAction: 'allow',
    attach: { cgroup: '/sys/fs/cgroup/test', pinDir: '/sys/fs/bpf/test', adopted: false },
    kernel: {
      kernelRelease: '6.18.0',
      cgroup2Mount: '/sys/fs/cgroup',
      bpffsMount: '/sys/fs/bpf',
      btf: true,
      missing: [],
      features: [
        {
          id: 'verdicts',
          label: 'Connection verdicts',
          available: true,
          required: true,
          reduced: false,
          form: 'connect and sendmsg hooks',
          why: 'a blocked connection or datagram fails at once with EPERM in the application',
        },
        {
          id: 'fast-path',
          label: 'Cached fast path',
          available: true,
          required: false,
          reduced: false,
          form: 'per-socket entries',
          why: 'the kernel-context cast finds a settled socket’s cached verdict with no helper call per packet',
        },
      ],
    },
    ruleCount: 0,
    lists: { count: 0, entries: 0 },
    appCount: 0,
    eventsSeen: 0,
    eventDrops: 0,
    dns: { queries: 0, answersLearned: 0, answersIgnored: 0, pendingQueries: 0, domainAddresses: 0, domainApplies: 0 },
    policy: { dir: '/etc/portcullis/policy.d', files: [], error: null },
    ...overrides,
  };
}

export function app(id: number, name: string, overrides: Partial<App> = {}): App {
  return {
    id,
    kind: 'executable',
    name,
    exe: `/usr/bin/${name.toLowerCase()}`,
    identifier: null,
    icon: null,
    cgroup: null,
    firstSeen: 1000,
    lastSeen: 2000,
    defaultAction: null,
    ...overrides,
  };
}

export function flow(appId: number, remoteAddr: string, overrides: Partial<Flow> = {}): Flow {
  return {
    appId,
    remoteAddr,
    remoteName: null,
    remotePort: 443,
    protocol: 'tcp',
    direction: 'out',
    firstSeen: 1000,
    lastSeen: 2000,
    bytesOut: 100,
    bytesIn: 1000,
    packetsOut: 1,
    packetsIn: 1,
    allowed: 1,
    blocked: 0,
    lastVerdict: 'allow',
    lastRuleId: null,
    ...overrides,
  };
}

type Call = { name: string; request: unknown };
type Refusal = { name: string; message: string; kind?: ErrorKind };

export interface FakeApi extends RendererApi {
  calls: Call[];
  rules: Rule[];
  /** Lists with their entries; imports go through the real list parser. */
  lists: Array<RuleList & { entries: string[] }>;
  /** What subscribing to a URL downloads (a URL not here fails as a 404 would). */
  served: Map<string, string>;
  apps: App[];
  flows: Flow[];
  prompts: Prompt[];
  /** While set, pages of the connection history after the first wait for it. */
  laterPages: Promise<void> | null;
  helper: HelperState;
  wizard: WizardState;
  checks: Check[];
  startOutcome: HelperState;
  /**
   * Requests to answer with a refusal for want of an administrator, as the helper does when polkit's
   * dialog is dismissed, or with another failure when `kind` says so ('unavailable': the helper gone):
   * each entry is used once, by the next request of that name.
   */
  refusals: Refusal[];
  emit<K extends IpcNotifyName>(name: K, payload: PayloadOf<K>): void;
}

export function createFakeApi(): FakeApi {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  let nextRuleId = 1;
  const ok = <T>(value: T): Promise<IpcResult<T>> => Promise.resolve({ ok: true, value });
  const invalid = (where: string, message: string): Promise<IpcResult<never>> =>
    Promise.resolve({ ok: false, error: { kind: 'invalid-input', message, where } });
  const settings: Settings = {
    defaultAction: 'allow',
    retentionDays: 30,
    authorizedUsers: [],
    notifyOnFirstBlock: true,
    askTimeoutSec: 30,
    askTimeoutAction: 'block',
  };

  /** A line import's parser, or (OpenSnitch) the bundle's text, read whole at commit as the helper does. */
  const sessions = new Map<
    number,
    { parser: ListParser | null; bundle: string[]; begin: { format: ImportFormat; source: string; list?: string } }
  >();
  let nextSession = 1;
  /** The flows as they were at the last first page: later pages come from this picture. */
  let pagedFlows: Flow[] = [];
  const fake = {
    calls: [] as Call[],
    rules: [] as Rule[],
    lists: [] as Array<RuleList & { entries: string[] }>,
    served: new Map<string, string>(),
    apps: [] as App[],
    flows: [] as Flow[],
    prompts: [] as Prompt[],
    /** While set, pages after the first wait for it (to see what shows before the rest arrives). */
    laterPages: null as Promise<void> | null,
    helper: { state: 'connected', status: status() } as HelperState,
    wizard: { completed: true, mode: 'monitor' } as WizardState,
    checks: [] as Check[],
    startOutcome: { state: 'connected', status: status() } as HelperState,
    refusals: [] as Refusal[],
    emit(name: IpcNotifyName, payload: unknown) {
      for (const listener of listeners.get(name) ?? []) listener(payload);
    },
  };

  function storeRule(draft: unknown): IpcResult<Rule> {
    const parsed = parseRuleDraft(draft, Date.now());
    if (!parsed.ok)
      return { ok: false, error: { kind: 'invalid-input', message: parsed.error.message, where: parsed.error.where } };
    return { ok: true, value: storeSpec(parsed.value) };
  }

  function storeSpec(spec: RuleSpec): Rule {
    const now = Date.now();
    const rule: Rule = {
      id: nextRuleId++,
      action: spec.action,
      appId: typeof spec.app === 'number' ? spec.app : null,
      remote: spec.remote,
      ports: spec.ports,
      protocol: spec.protocol,
      direction: spec.direction,
      expiresAt: spec.expiresAt,
      note: spec.note,
      enabled: spec.enabled,
      createdAt: now,
      updatedAt: now,
      hits: 0,
    };
    fake.rules.push(rule);
    return rule;
  }

  /** What the helper's commit of an OpenSnitch bundle does; a rule with the same terms is not added twice. */
  function commitOpenSnitch(bundle: string): IpcResult<ImportSummary> {
    const files = parseOpenSnitchBundle(bundle);
    if (!files.ok)
      return { ok: false, error: { kind: 'invalid-input', message: files.error.message, where: files.error.where } };
    const mapping = mapOpenSnitch(files.value);
    const terms = (rule: RuleSpec | Rule) =>
      JSON.stringify([rule.action, rule.remote, rule.ports, rule.protocol, rule.direction, rule.note]);
    const drafts = mapping.document.rules ?? [];
    let added = 0;
    for (const draft of drafts) {
      const spec = specOf(draft, Date.now());
      if (!spec.ok || spec.value.app !== null) throw new Error('the fake holds global OpenSnitch rules only');
      if (fake.rules.some((rule) => rule.appId === null && terms(rule) === terms(spec.value))) continue;
      storeSpec(spec.value);
      added++;
    }
    return {
      ok: true,
      value: {
        added,
        alreadyPresent: drafts.length - added,
        skippedCount: mapping.skipped.length,
        skipped: mapping.skipped,
        lists: [],
        elapsedMs: 1,
      },
    };
  }

  const api: Record<string, unknown> = {
    getStatus: () => ok(status()),
    listRules: () => ok([...fake.rules]),
    addRule: ({ rule }: { rule: unknown }) => Promise.resolve(storeRule(rule)),
    addRules: ({ rules }: { rules: unknown[] }) => {
      let firstId: number | null = null;
      for (const [index, rule] of rules.entries()) {
        const stored = storeRule(rule);
        if (!stored.ok) return invalid(`rules[${index}]`, stored.error.message);
        firstId ??= stored.value.id;
      }
      return ok({ added: rules.length, firstId });
    },
    updateRule: ({ id, patch }: { id: number; patch: Record<string, unknown> }) => {
      const index = fake.rules.findIndex((rule) => rule.id === id);
      if (index < 0) return Promise.resolve({ ok: false, error: { kind: 'not-found', message: `no rule ${id}` } });
      const updated = {
        ...fake.rules[index]!,
        ...(typeof patch.enabled === 'boolean' ? { enabled: patch.enabled } : {}),
        ...(typeof patch.note === 'string' ? { note: patch.note } : {}),
        updatedAt: Date.now(),
      };
      fake.rules[index] = updated;
      return ok(updated);
    },
    removeRules: ({ ids }: { ids: number[] }) => {
      const removed = fake.rules.filter((rule) => ids.includes(rule.id)).map((rule) => rule.id);
      fake.rules = fake.rules.filter((rule) => !ids.includes(rule.id));
      return ok({ removed });
    },
    importBegin: (params: { format: ImportFormat; source: string; list?: string }) => {
      const parser = params.format === 'opensnitch' ? null : new ListParser(params.format as LineFormat);
      sessions.set(nextSession, { parser, bundle: [], begin: params });
      return ok({ session: nextSession++ });
    },
    importChunk: ({ session, text }: { session: number; text: string }) => {
      const { parser, bundle } = sessions.get(session)!;
      if (!parser) {
        bundle.push(text);
        return ok({ lines: 0, entries: 0, skipped: 0, received: 0 });
      }
      parser.push(text);
      return ok({ lines: parser.lines, entries: parser.entries.length, skipped: parser.skippedCount, received: 0 });
    },
    importAbort: ({ session }: { session: number }) => ok({ aborted: sessions.delete(session) }),
    importCommit: ({ session }: { session: number }) => {
      const { parser, bundle, begin } = sessions.get(session)!;
      sessions.delete(session);
      if (!parser) return Promise.resolve(commitOpenSnitch(bundle.join('')));
      parser.end();
      const name = begin.list ?? begin.source;
      let list = fake.lists.find((candidate) => candidate.name === name);
      if (!list) {
        list = {
          id: fake.lists.length + 1,
          name,
          kind: 'import',
          source: begin.source,
          action: 'block',
          appId: null,
          direction: 'both',
          note: '',
          enabled: true,
          entryCount: 0,
          pendingCount: 0,
          createdAt: Date.now(),
          updatedAt: Date.now(),
          subscription: null,
          managedBy: null,
          entries: [],
        };
        fake.lists.push(list);
      }
      const held = new Set(list.entries);
      const fresh = [...new Set(parser.entries)].filter((remote) => !held.has(remote));
      list.entries.push(...fresh);
      list.entryCount = list.entries.length;
      const { entries: _entries, ...view } = list;
      return ok({
        added: fresh.length,
        alreadyPresent: parser.entries.length - fresh.length,
        skippedCount: parser.skippedCount,
        skipped: parser.skipped,
        lists: [view],
        elapsedMs: 1,
      });
    },
    updateList: ({ id, patch }: { id: number; patch: { enabled?: boolean } }) => {
      const list = fake.lists.find((candidate) => candidate.id === id)!;
      if (patch.enabled !== undefined) list.enabled = patch.enabled;
      const { entries: _entries, ...view } = list;
      return ok(view);
    },
    removeList: ({ id }: { id: number }) => {
      const list = fake.lists.find((candidate) => candidate.id === id)!;
      fake.lists = fake.lists.filter((candidate) => candidate.id !== id);
      const { entries: _entries, ...view } = list;
      return ok({ removed: view });
    },
    subscribeList: ({ url, name }: { url: string; name?: string }) => {
      const text = fake.served.get(url);
      const parser = new ListParser('auto');
      parser.push(text ?? '');
      parser.end();
      const now = Date.now();
      const list = {
        id: fake.lists.length + 1,
        name: name ?? url,
        kind: 'subscription' as const,
        source: url,
        action: 'block' as const,
        appId: null,
        direction: 'both' as const,
        note: '',
        enabled: true,
        entryCount: parser.entries.length,
        pendingCount: 0,
        createdAt: now,
        updatedAt: now,
        subscription: {
          url,
          format: 'auto' as const,
          everyMs: 86_400_000,
          lastCheckAt: now,
          lastSuccessAt: text === undefined ? null : now,
          nextCheckAt: now + 86_400_000,
          error: text === undefined ? 'the server answered 404 Not Found' : null,
        },
        managedBy: null,
        entries: parser.entries,
      };
      fake.lists.push(list);
      const { entries: _entries, ...view } = list;
      return ok({
        list: view,
        result: text === undefined ? 'failed' : 'changed',
        added: parser.entries.length,
        removed: 0,
        error: view.subscription.error,
      });
    },
    listLists: () => ok(fake.lists.map(({ entries: _entries, ...view }) => view)),
    listEntries: ({ id, offset = 0, limit = 10_000 }: { id: number; offset?: number; limit?: number }) => {
      const list = fake.lists.find((candidate) => candidate.id === id)!;
      return ok({
        total: list.entries.length,
        entries: list.entries.slice(offset, offset + limit).map((remote, i) => ({ id: 1000 + offset + i, remote })),
      });
    },
    listApps: () => ok([...fake.apps]),
    setAppDefault: ({ appId, action }: { appId: number; action: 'allow' | 'block' | null }) => {
      const found = fake.apps.find((candidate) => candidate.id === appId)!;
      found.defaultAction = action;
      return ok({ ...found });
    },
    listConnections: ({ since }: { since?: number }) =>
      ok(fake.flows.filter((candidate) => since === undefined || candidate.lastSeen >= since)),
    // Pages of the flows as they were at the first page, most recent first; the cursor is the next offset.
    listConnectionsPage: async ({ cursor, pageSize }: { cursor?: string; pageSize: number }) => {
      if (cursor !== undefined) await fake.laterPages;
      const taken = cursor === undefined ? [...fake.flows].sort((a, b) => b.lastSeen - a.lastSeen) : pagedFlows;
      pagedFlows = taken;
      const offset = cursor === undefined ? 0 : Number(cursor);
      const flows = taken.slice(offset, offset + pageSize);
      const end = offset + flows.length;
      return ok({ flows, total: taken.length, cursor: end < taken.length ? String(end) : null });
    },
    setEnforcement: ({ enabled, pauseMinutes }: { enabled: boolean; pauseMinutes?: number }) =>
      ok(
        status({
          enforcing: enabled,
          pausedUntil: !enabled && pauseMinutes ? Date.now() + pauseMinutes * 60_000 : null,
        }),
      ),
    getSettings: () => ok(settings),
    updateSettings: ({ patch }: { patch: Partial<Settings> }) => ok(Object.assign(settings, patch)),
    listPrompts: () => ok([...fake.prompts]),
    answerPrompt: ({ id, host, lifetime }: { id: number; host?: string; lifetime?: string; for?: string }) => {
      const prompt = fake.prompts.find((candidate) => candidate.id === id);
      if (!prompt) return Promise.resolve({ ok: false, error: { kind: 'not-found', message: `no question ${id}` } });
      const answered = prompt.hosts.filter((h) => host === undefined || h.remoteAddr === host);
      prompt.hosts = prompt.hosts.filter((h) => !answered.includes(h));
      fake.prompts = fake.prompts.filter((candidate) => candidate.hosts.length > 0);
      const decided = answered.reduce((sum, h) => sum + h.held, 0);
      return ok({ ruleIds: lifetime === 'once' ? [] : [nextRuleId++], decided });
    },
    getHelperState: () => ok(fake.helper),
    startHelper: () => {
      fake.helper = fake.startOutcome;
      return ok(fake.helper);
    },
    runChecks: () => ok(fake.checks),
    getWizardState: () => ok(fake.wizard),
    completeWizard: ({ mode }: { mode: 'monitor' | 'allow-list' }) => {
      fake.wizard = { completed: true, mode };
      return ok(fake.wizard);
    },
  };
  for (const name of Object.keys(api)) {
    const handler = api[name] as (request: unknown) => Promise<unknown>;
    api[name] = (request: unknown) => {
      fake.calls.push({ name, request });
      const refusal = fake.refusals.findIndex((candidate) => candidate.name === name);
      if (refusal >= 0) {
        const { message, kind = 'cancelled' } = fake.refusals.splice(refusal, 1)[0]!;
        return Promise.resolve({
          ok: false,
          error: { kind, message, ...(kind === 'cancelled' ? { polkitAction: 'org.portcullis.manage' } : {}) },
        });
      }
      return handler(request ?? {});
    };
  }
  for (const name of ipcNotifyNames) {
    api[listenerName(name)] = (listener: (payload: unknown) => void) => {
      const set = listeners.get(name) ?? new Set();
      listeners.set(name, set);
      set.add(listener);
      return () => set.delete(listener);
    };
  }
  return Object.assign(fake, api) as unknown as FakeApi;
}
