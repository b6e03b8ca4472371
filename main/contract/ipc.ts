// The renderer's API, declared once. Most of it is the helper's RPC under the renderer's names: their
// params, results and bounds are the RPC table's (rpc.ts), and the helper checks those params, as it
// does for every client. The few requests Electron main answers itself (the helper's state, starting
// it, checks, the wizard) have their schemas here, checked by main's gate. Electron main derives its
// handlers, the preload and the browser shell expose exactly the derived object, and the renderer's
// single bridge module types itself from it.
import { s, type Infer, type InputOf, type Schema } from './schema.js';
import type { KernelFeature, Status } from './domain.js';
import { returns, type MethodName, type ParamsOf, type Returns, type ResultOf, type RpcNotifications } from './rpc.js';
import type { ErrorKind } from './errors.js';

/** One environment check (doctor, first-run wizard): what, whether it passed, and how to fix it. */
export interface Check {
  id: 'kernel' | 'cgroup2' | 'bpffs' | 'btf' | 'hooks' | 'polkit' | 'polkit-agent' | 'helper' | 'installed';
  label: string;
  ok: boolean;
  detail: string;
  /** What to do when it failed, in plain words (a command where one helps). */
  fix: string | null;
  /** The kernel check with the helper's probes: which features run in which form here. */
  features?: KernelFeature[];
}

export type HelperState =
  | { state: 'connected'; status: Status }
  | { state: 'not-running'; message: string }
  | { state: 'starting' }
  | { state: 'cancelled'; message: string } // pkexec 126: the person dismissed the dialog
  | { state: 'refused'; message: string } // pkexec 127 / not authorised / socket refused us
  | { state: 'failed'; message: string };

export const WIZARD_MODES = ['monitor', 'allow-list'] as const;

export interface WizardState {
  completed: boolean;
  mode: (typeof WIZARD_MODES)[number] | null;
}

/** A failure keeps its kind, where the bad input was, and the polkit action that could allow a refused request. */
export type IpcResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { kind: ErrorKind; message: string; where?: string; polkitAction?: string } };

/** Renderer name → the helper method it is. */
const forwards = {
  getStatus: 'status',
  listRules: 'rules.list',
  addRule: 'rules.add',
  /** A chunk of an import; the renderer sends chunks and shows progress. */
  addRules: 'rules.addMany',
  updateRule: 'rules.update',
  removeRules: 'rules.remove',
  listApps: 'apps.list',
  setAppDefault: 'apps.setDefault',
  listConnections: 'connections.list',
  setEnforcement: 'enforcement.set',
  getSettings: 'settings.get',
  updateSettings: 'settings.update',
  /** An import: the text goes to the helper in chunks of one session (see import-stream.ts). */
  importBegin: 'import.begin',
  importChunk: 'import.chunk',
  importCommit: 'import.commit',
  importAbort: 'import.abort',
  listLists: 'lists.list',
  listEntries: 'lists.entries',
  updateList: 'lists.update',
  removeList: 'lists.remove',
  subscribeList: 'lists.subscribe',
  refreshLists: 'lists.refresh',
  /** Ask mode's questions (those asked while no window was open included). */
  listPrompts: 'prompts.list',
  answerPrompt: 'prompts.answer',
} as const satisfies Record<string, Exclude<MethodName, 'hello' | 'events.subscribe' | 'prompts.subscribe'>>;

interface Local<Request, Response> {
  request: Schema<Request, unknown>;
  response?: Response;
}
const local = <Request, Response>(
  request: Schema<Request, unknown>,
  _response: Returns<Response>,
): Local<Request, Response> => ({ request });

/** What Electron main answers itself. */
const locals = {
  getHelperState: local(s.none(), returns<HelperState>()),
  /** Starts the helper through polkit (pkexec) and connects. */
  startHelper: local(s.none(), returns<HelperState>()),
  runChecks: local(s.none(), returns<Check[]>()),
  getWizardState: local(s.none(), returns<WizardState>()),
  completeWizard: local(s.object({ mode: s.oneOf(WIZARD_MODES), startAtBoot: s.boolean() }), returns<WizardState>()),
};

/** The notifications every window gets: the helper's streams under the renderer's names, and main's own. */
export interface IpcNotifications {
  events: RpcNotifications['events'];
  status: RpcNotifications['status.changed'];
  rulesChanged: RpcNotifications['rules.changed'];
  prompts: RpcNotifications['prompts.changed'];
  /** Main asks the window to show the questions (the tray's "Review pending…", a notification's click). */
  reviewPrompts: { promptId: number | null };
  helperState: HelperState;
}

export type IpcForwardName = keyof typeof forwards;
export type IpcLocalName = keyof typeof locals;
export type IpcInvokeName = IpcForwardName | IpcLocalName;
export type IpcNotifyName = keyof IpcNotifications;
export type PayloadOf<K extends IpcNotifyName> = IpcNotifications[K];

type LocalRequest<K extends IpcLocalName> = Infer<(typeof locals)[K]['request']>;
type LocalResponse<K extends IpcLocalName> =
  (typeof locals)[K] extends Local<unknown, infer Response> ? Response : never;

type ForwardResponse<K extends IpcForwardName> = ResultOf<(typeof forwards)[K]>;

/** What the renderer sends. */
export type RequestOf<K extends IpcInvokeName> = K extends IpcForwardName
  ? ParamsOf<(typeof forwards)[K]>
  : K extends IpcLocalName
    ? InputOf<(typeof locals)[K]['request']>
    : never;
export type ResponseOf<K extends IpcInvokeName> = K extends IpcForwardName
  ? ForwardResponse<K>
  : K extends IpcLocalName
    ? LocalResponse<K>
    : never;

/** The helper method behind each forwarded name. */
export const ipcForwards: { readonly [K in IpcForwardName]: (typeof forwards)[K] } = forwards;
/** Main's own requests, typed per name so the gate's generic code needs no casts. */
export const ipcLocals: { readonly [K in IpcLocalName]: Local<LocalRequest<K>, LocalResponse<K>> } = locals;

/** The object the renderer sees as window.portcullis. */
export type RendererApi = {
  [K in IpcInvokeName]: (request: RequestOf<K>) => Promise<IpcResult<ResponseOf<K>>>;
} & {
  [K in IpcNotifyName as `listen${Capitalize<K>}`]: (listener: (payload: PayloadOf<K>) => void) => () => void;
};

/** Main's handlers for the helper's methods: the request goes on as received, and the helper checks it. */
export type IpcForwardHandlers = { [K in IpcForwardName]: (request: unknown) => Promise<ForwardResponse<K>> };
/** Main's handlers for its own requests, given them as the gate parsed them. */
export type IpcLocalHandlers = { [K in IpcLocalName]: (request: LocalRequest<K>) => Promise<LocalResponse<K>> };
/** The main-process side: one handler per invoke channel. */
export type IpcHandlers = IpcForwardHandlers & IpcLocalHandlers;
/** The forwarded handlers as main's own code calls them (the tray): with typed requests. */
export type IpcCalls = { [K in IpcForwardName]: (request: RequestOf<K>) => Promise<ResponseOf<K>> };

/** Object.keys, for tables whose keys are exactly their type's. */
const namesOf = <T extends object>(table: T): Array<keyof T & string> => Object.keys(table) as Array<keyof T & string>;
const notifications: { [K in IpcNotifyName]: true } = {
  events: true,
  status: true,
  rulesChanged: true,
  prompts: true,
  reviewPrompts: true,
  helperState: true,
};

export const ipcForwardNames = namesOf(forwards);
export const ipcLocalNames = namesOf(locals);
export const ipcInvokeNames: IpcInvokeName[] = [...ipcForwardNames, ...ipcLocalNames];
export const ipcNotifyNames = namesOf(notifications);

export function isIpcForwardName(name: unknown): name is IpcForwardName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(forwards, name);
}
export function isIpcLocalName(name: unknown): name is IpcLocalName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(locals, name);
}

export const listenerName = (name: IpcNotifyName): `listen${Capitalize<IpcNotifyName>}` =>
  `listen${name[0]!.toUpperCase()}${name.slice(1)}` as `listen${Capitalize<IpcNotifyName>}`;
/** Channel names on the wire (Electron ipc / the shell's WebSocket). */
export const ipcChannel = (name: IpcInvokeName | IpcNotifyName): string => `portcullis:${name}`;
