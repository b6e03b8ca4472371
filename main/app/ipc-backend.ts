// The renderer API's implementation, built once from a helper connection and shared by Electron main
// and the browser shell: the handler table, and one stream of notifications to fan out to windows
// or WebSocket clients. Payloads reach these handlers only after dispatchInvoke validated them
// against ipcSchema, and the helper validates them again, hence the casts to the RPC's param types.
import type { Check, HelperState, IpcHandlers, IpcNotifyName, PayloadOf, WizardState } from '../contract/index.js';
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
      // Subscribing is best effort: the list still polls if the stream cannot start.
      link.call('events.subscribe').catch(() => undefined);
    },
  });
  const helper = () => connection.require();

  const handlers: IpcHandlers = {
    getStatus: async () => helper().call('status'),
    listRules: async () => helper().call('rules.list'),
    addRule: async ({ rule }) => helper().call('rules.add', { rule: rule as never }),
    addRules: async ({ rules }) => {
      const result = await helper().call('rules.addMany', { rules: rules as never[] });
      return { added: result.added };
    },
    updateRule: async ({ id, patch }) => helper().call('rules.update', { id, patch: patch as never }),
    removeRules: async ({ ids }) => helper().call('rules.remove', { ids }),
    listApps: async () => helper().call('apps.list'),
    setAppDefault: async (request) => helper().call('apps.setDefault', request),
    listConnections: async (query) => helper().call('connections.list', query as never),
    setEnforcement: async (request) => {
      const status = await helper().call('enforcement.set', request);
      connection.updateStatus(status);
      return status;
    },
    getSettings: async () => helper().call('settings.get'),
    updateSettings: async ({ patch }) => helper().call('settings.update', { patch: patch as never }),
    getHelperState: async () => {
      if (connection.state.state !== 'connected') await connection.connect();
      return connection.state;
    },
    startHelper: async () => connection.start(),
    runChecks: async () => deps.runChecks(),
    getWizardState: async () => deps.wizard.load(),
    completeWizard: async ({ mode, startAtBoot }) => {
      await helper().call('settings.update', { patch: { defaultAction: mode === 'monitor' ? 'allow' : 'block' } as never });
      if (startAtBoot) await deps.enableAtBoot();
      const state: WizardState = { completed: true, mode };
      deps.wizard.save(state);
      return state;
    },
  };

  return {
    handlers,
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
