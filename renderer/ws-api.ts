// RendererApi over the browser shell's WebSocket. Wire format (JSON text frames):
//   → { id, channel, request }         ← { id, result: IpcResult }
//   ← { channel, payload }             (notifications)
// Requests made before the socket opens are queued; a lost socket fails pending calls with
// kind "unavailable" and reconnects with a growing delay.
import {
  ipcChannel,
  ipcInvokeNames,
  ipcNotifyNames,
  listenerName,
  type IpcNotifyName,
  type IpcResult,
  type RendererApi,
} from '../main/contract/ipc';

type Pending = (result: IpcResult<unknown>) => void;

export function connectWebSocketApi(url: string, WebSocketImpl: typeof WebSocket = WebSocket): RendererApi {
  let socket: WebSocket | null = null;
  let nextId = 1;
  let retryMs = 250;
  const pending = new Map<number, Pending>();
  const queue: string[] = [];
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const channelToNotify = new Map(ipcNotifyNames.map((name) => [ipcChannel(name), name] as const));

  const unavailable = (message: string): IpcResult<never> => ({ ok: false, error: { kind: 'unavailable', message } });

  function open(): void {
    const ws = new WebSocketImpl(url);
    socket = ws;
    ws.onopen = () => {
      retryMs = 250;
      for (const frame of queue.splice(0)) ws.send(frame);
    };
    ws.onmessage = (message) => {
      let frame: { id?: number; result?: IpcResult<unknown>; channel?: string; payload?: unknown };
      try {
        frame = JSON.parse(String(message.data));
      } catch {
        return;
      }
      if (typeof frame.id === 'number') {
        pending.get(frame.id)?.(frame.result ?? unavailable('the shell sent an empty answer'));
        pending.delete(frame.id);
      } else if (frame.channel) {
        const name = channelToNotify.get(frame.channel);
        if (name) for (const listener of listeners.get(name) ?? []) listener(frame.payload);
      }
    };
    ws.onclose = () => {
      socket = null;
      for (const resolve of pending.values()) resolve(unavailable('lost the connection to the Portcullis shell'));
      pending.clear();
      const delay = retryMs;
      retryMs = Math.min(retryMs * 2, 5000);
      setTimeout(open, delay);
    };
  }

  function invoke(channel: string, request: unknown): Promise<IpcResult<unknown>> {
    return new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      const frame = JSON.stringify({ id, channel, request: request ?? {} });
      if (socket && socket.readyState === WebSocketImpl.OPEN) socket.send(frame);
      else queue.push(frame);
    });
  }

  const api: Record<string, unknown> = {};
  for (const name of ipcInvokeNames) api[name] = (request: unknown) => invoke(ipcChannel(name), request);
  for (const name of ipcNotifyNames) {
    api[listenerName(name)] = (listener: (payload: unknown) => void) => {
      const set = listeners.get(name) ?? new Set();
      listeners.set(name as IpcNotifyName, set);
      set.add(listener);
      return () => set.delete(listener);
    };
  }
  open();
  return api as RendererApi;
}
