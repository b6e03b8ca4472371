// One gate for every renderer request, used by Electron's ipcMain and the browser shell alike: the
// channel must be declared, the payload must pass the contract's schema, and failures come back as
// values that keep their kind.
import { PortcullisError, ipcInvokeNames, ipcSchema, type IpcHandlers, type IpcInvokeName, type IpcResult } from '../contract/index.js';

export function isInvokeName(name: unknown): name is IpcInvokeName {
  return typeof name === 'string' && (ipcInvokeNames as string[]).includes(name);
}

export async function dispatchInvoke(handlers: IpcHandlers, name: unknown, request: unknown, log: (message: string) => void = console.error): Promise<IpcResult<unknown>> {
  if (!isInvokeName(name)) return { ok: false, error: { kind: 'invalid-input', message: `unknown request ${JSON.stringify(String(name)).slice(0, 80)}` } };
  const parsed = ipcSchema[name].request.parse(request, 'request');
  if (!parsed.ok) return { ok: false, error: { kind: 'invalid-input', message: parsed.error.message, where: parsed.error.where } };
  try {
    const handler = handlers[name] as (request: unknown) => Promise<unknown>;
    return { ok: true, value: await handler(parsed.value) };
  } catch (error) {
    if (error instanceof PortcullisError) {
      return { ok: false, error: { kind: error.kind, message: error.message, ...(error.where ? { where: error.where } : {}) } };
    }
    // A bug: log it fully here, give the renderer a kind and a short message.
    log(`portcullis: ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return { ok: false, error: { kind: 'internal', message: error instanceof Error ? error.message : String(error) } };
  }
}
