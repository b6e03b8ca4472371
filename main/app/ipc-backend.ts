// The renderer API's implementation, built once from a helper connection and shared by Electron main
// and the browser shell: the handler table, and one stream of notifications to fan out to windows
// or WebSocket clients. The helper's methods pass the renderer's request on as received (the helper
// checks it, as it checks every client's); main's own requests arrive checked by dispatchInvoke.
import {
  ipcForwards,
  type Check,
  type HelperState,
  type IpcCalls,
  type IpcForwardName,
  type IpcHandlers,
  type IpcNotifyName,
  type PayloadOf,
  type WizardState,
} from '../contract/index.js';
import { HelperConnection, type HelperLink, type HelperConnectionDeps } from './helper-connection.js';
import type { WizardStore } from './wizard-store.js';

export type NotifyListener = <K extends IpcNotifyName>(name: K, payload: PayloadOf<K>) => void;

export interface IpcBackendDeps {
  connect: HelperConnectionDeps['connect'];
  launch: HelperConnectionDeps['launch'];
  runChecks(): Promise<Check[]>;
  wizard: WizardStore;
  /** Turns on the helper's systemd unit; only offered when installed. */
  enableAtBoot(): Promise<void>;
  retryMs?: number;
}

export interface IpcBackend {
  handlers: IpcHandlers;
  /** The same handlers, typed for main's own calls (the tray). */
  calls: IpcCalls;
  connection: HelperConnection;
  /** Every notification for the renderer; returns the unsubscribe. */
  subscribe(listener: NotifyListener): () => void;
  dispose(): void;
}

export function createIpcBackend(deps: IpcBackendDeps): IpcBackend {
  const listeners = new Set<NotifyListener>();
  const emit: NotifyListener = (name, payload) => {
    for (const listener of listeners) listener(name, payload);
  };

  const connection: HelperConnection = new HelperConnection({
    connect: deps.connect,
    launch: deps.launch,
    retryMs: deps.retryMs,
    onState: (state: HelperState) => emit('helperState', state),
    onLink: (link: HelperLink) => {
      link.on('events', (batch) => emit('events', batch));
      link.on('rules.changed', (change) => emit('rulesChanged', change));
      link.on('status.changed', (status) => {
        connection.updateStatus(status);
        emit('status', status);
      });
      link.on('prompts.changed', (prompts) => emit('prompts', prompts));
      // Subscribing is best effort: the list still polls if the stream cannot start.
      link.call('events.subscribe').catch(() => undefined);
      // The first notification carries the questions asked while no client was connected.
      link.call('prompts.subscribe').catch(() => undefined);
    },
  });
  const helper = () => connection.require();
  /** Passes a request on to the helper method the contract names for it. */
  const forward =
    <K extends IpcForwardName>(name: K) =>
    async (request: unknown) =>
      helper().relay(ipcForwards[name], request);

  const handlers: IpcHandlers = {
    getStatus: forward('getStatus'),
    listRules: forward('listRules'),
    addRule: forward('addRule'),
    addRules: forward('addRules'),
    updateRule: forward('updateRule'),
    removeRules: forward('removeRules'),
    listApps: forward('listApps'),
    setAppDefault: forward('setAppDefault'),
    listConnections: forward('listConnections'),
    setEnforcement: async (request) => {
      const status = await forward('setEnforcement')(request);
      connection.updateStatus(status);
      return status;
    },
    getSettings: forward('getSettings'),
    updateSettings: forward('updateSettings'),
    listPrompts: forward('listPrompts'),
    answerPrompt: forward('answerPrompt'),
    importBegin: forward('importBegin'),
    importChunk: forward('importChunk'),
    importCommit: forward('importCommit'),
    importAbort: forward('importAbort'),
    listLists: forward('listLists'),
    listEntries: forward('listEntries'),
    updateList: forward('updateList'),
    removeList: forward('removeList'),
    subscribeList: forward('subscribeList'),
    refreshLists: forward('refreshLists'),
    getHelperState: async () => {
      if (connection.state.state !== 'connected') await connection.connect();
      return connection.state;
    },
    startHelper: async () => connection.start(),
    runChecks: async () => deps.runChecks(),
    getWizardState: async () => deps.wizard.load(),
    completeWizard: async ({ mode, startAtBoot }) => {
      await helper().call('settings.update', { patch: { defaultAction: mode === 'monitor' ? 'allow' : 'block' } });
      if (startAtBoot) await deps.enableAtBoot();
      const state: WizardState = { completed: true, mode };
      deps.wizard.save(state);
      return state;
    },
  };

  return {
    handlers,
    calls: handlers,
    connection,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    dispose() {
      listeners.clear();
      connection.dispose();
    },
  };
}
