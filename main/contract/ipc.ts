// The renderer's API, declared once. Electron main derives its handlers (each validates its payload
// with the schema here and checks the sender), the preload and the browser shell expose exactly the
// derived object, and the renderer's single bridge module types itself from it.
import { s, type Schema } from './schema.js';
import { ruleDraftSchema, rulePatchSchema, type Rule } from './rules.js';
import { connectionQuerySchema, settingsPatchSchema, type App, type ConnectionEvent, type Flow, type Settings, type Status } from './domain.js';
import { MAX_BATCH } from './rpc.js';
import type { ErrorKind } from './errors.js';

/** One environment check (doctor, first-run wizard): what, whether it passed, and how to fix it. */
export interface Check {
  id: 'kernel' | 'cgroup2' | 'bpffs' | 'btf' | 'hooks' | 'polkit' | 'polkit-agent' | 'helper' | 'installed';
  label: string;
  ok: boolean;
  detail: string;
  /** What to do when it failed, in plain words (a command where one helps). */
  fix: string | null;
}

export type HelperState =
  | { state: 'connected'; status: Status }
  | { state: 'not-running'; message: string }
  | { state: 'starting' }
  | { state: 'cancelled'; message: string } // pkexec 126: the person dismissed the dialog
  | { state: 'refused'; message: string } // pkexec 127 / not authorised / socket refused us
  | { state: 'failed'; message: string };

export interface WizardState {
  completed: boolean;
  mode: 'monitor' | 'allow-list' | null;
}

export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: { kind: ErrorKind; message: string; where?: string } };

interface Invoke<Req, Res> { kind: 'invoke'; request: Schema<Req>; response?: Res }
interface Notify<Payload> { kind: 'notify'; payload?: Payload }
const invoke = <Req, Res>(request: Schema<Req>): Invoke<Req, Res> => ({ kind: 'invoke', request });
const notify = <Payload>(): Notify<Payload> => ({ kind: 'notify' });

const ruleIds = s.array(s.int({ min: 1 }), { max: MAX_BATCH });

export const ipcSchema = {
  getStatus: invoke<Record<string, never>, Status>(s.none()),
  listRules: invoke<Record<string, never>, Rule[]>(s.none()),
  addRule: invoke<{ rule: unknown }, Rule>(s.object({ rule: ruleDraftSchema })),
  /** A chunk of an import; the renderer sends chunks and shows progress. */
  addRules: invoke<{ rules: unknown[] }, { added: number }>(s.object({ rules: s.array(ruleDraftSchema, { max: MAX_BATCH }) })),
  updateRule: invoke<{ id: number; patch: unknown }, Rule>(s.object({ id: s.int({ min: 1 }), patch: rulePatchSchema })),
  removeRules: invoke<{ ids: number[] }, { removed: number[] }>(s.object({ ids: ruleIds })),
  listApps: invoke<Record<string, never>, App[]>(s.none()),
  setAppDefault: invoke<{ appId: number; action: 'allow' | 'block' | null }, App>(
    s.object({ appId: s.int({ min: 1 }), action: s.nullable(s.oneOf(['allow', 'block'] as const)) }),
  ),
  listConnections: invoke<Record<string, unknown>, Flow[]>(connectionQuerySchema),
  setEnforcement: invoke<{ enabled: boolean; pauseMinutes?: number }, Status>(
    s.object({ enabled: s.boolean(), pauseMinutes: s.optional(s.int({ min: 1, max: 24 * 60 })) }),
  ),
  getSettings: invoke<Record<string, never>, Settings>(s.none()),
  updateSettings: invoke<{ patch: unknown }, Settings>(s.object({ patch: settingsPatchSchema })),
  getHelperState: invoke<Record<string, never>, HelperState>(s.none()),
  /** Starts the helper through polkit (pkexec) and connects. */
  startHelper: invoke<Record<string, never>, HelperState>(s.none()),
  runChecks: invoke<Record<string, never>, Check[]>(s.none()),
  getWizardState: invoke<Record<string, never>, WizardState>(s.none()),
  completeWizard: invoke<{ mode: 'monitor' | 'allow-list'; startAtBoot: boolean }, WizardState>(
    s.object({ mode: s.oneOf(['monitor', 'allow-list'] as const), startAtBoot: s.boolean() }),
  ),

  events: notify<{ events: ConnectionEvent[]; dropped: number }>(),
  status: notify<Status>(),
  rulesChanged: notify<{ ruleCount: number }>(),
  helperState: notify<HelperState>(),
} as const;

export type IpcSchema = typeof ipcSchema;
type InvokeNames = { [K in keyof IpcSchema]: IpcSchema[K] extends Invoke<unknown, unknown> ? K : never }[keyof IpcSchema];
type NotifyNames = { [K in keyof IpcSchema]: IpcSchema[K] extends Notify<unknown> ? K : never }[keyof IpcSchema];
export type RequestOf<K extends InvokeNames> = IpcSchema[K] extends Invoke<infer Req, unknown> ? Req : never;
export type ResponseOf<K extends InvokeNames> = IpcSchema[K] extends Invoke<unknown, infer Res> ? Res : never;
export type PayloadOf<K extends NotifyNames> = IpcSchema[K] extends Notify<infer P> ? P : never;
export type IpcInvokeName = InvokeNames;
export type IpcNotifyName = NotifyNames;

/** The object the renderer sees as window.portcullis. */
export type RendererApi = {
  [K in InvokeNames]: (request: RequestOf<K>) => Promise<IpcResult<ResponseOf<K>>>;
} & {
  [K in NotifyNames as `listen${Capitalize<K>}`]: (listener: (payload: PayloadOf<K>) => void) => () => void;
};

/** The main-process side: one handler per invoke channel. */
export type IpcHandlers = {
  [K in InvokeNames]: (request: RequestOf<K>) => Promise<ResponseOf<K>>;
};

export const ipcInvokeNames = Object.keys(ipcSchema).filter((k) => ipcSchema[k as keyof IpcSchema].kind === 'invoke') as IpcInvokeName[];
export const ipcNotifyNames = Object.keys(ipcSchema).filter((k) => ipcSchema[k as keyof IpcSchema].kind === 'notify') as IpcNotifyName[];
export const listenerName = (name: IpcNotifyName): `listen${Capitalize<IpcNotifyName>}` =>
  `listen${name[0]!.toUpperCase()}${name.slice(1)}` as `listen${Capitalize<IpcNotifyName>}`;
/** Channel names on the wire (Electron ipc / the shell's WebSocket). */
export const ipcChannel = (name: keyof IpcSchema): string => `portcullis:${name}`;
