// One gate for every renderer request, used by Electron's ipcMain and the browser shell alike: the
// channel must be declared; a request main answers itself must pass its schema here (main is where
// it is used); a request for the helper goes on as received, and the helper checks it like any
// client's. Failures come back as values that keep their kind.
import {
  PortcullisError,
  ipcLocals,
  isIpcForwardName,
  isIpcLocalName,
  type IpcHandlers,
  type IpcInvokeName,
  type IpcLocalHandlers,
  type IpcLocalName,
  type IpcResult,
} from '../contract/index.js';

export function isInvokeName(name: unknown): name is IpcInvokeName {
  return isIpcForwardName(name) || isIpcLocalName(name);
}

export async function dispatchInvoke(
  handlers: IpcHandlers,
  name: unknown,
  request: unknown,
  log: (message: string) => void = console.error,
): Promise<IpcResult<unknown>> {
  if (!isInvokeName(name))
    return {
      ok: false,
      error: { kind: 'invalid-input', message: `unknown request ${JSON.stringify(String(name)).slice(0, 80)}` },
    };
  try {
    const value = isIpcForwardName(name) ? await handlers[name](request) : await answerLocally(handlers, name, request);
    return { ok: true, value };
  } catch (error) {
    if (error instanceof PortcullisError) {
      return {
        ok: false,
        error: {
          kind: error.kind,
          message: error.message,
          ...(error.where ? { where: error.where } : {}),
          ...(error.polkitAction ? { polkitAction: error.polkitAction } : {}),
        },
      };
    }
    // A bug: log it fully here, give the renderer a kind and a short message.
    log(`portcullis: ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return { ok: false, error: { kind: 'internal', message: error instanceof Error ? error.message : String(error) } };
  }
}

function answerLocally<K extends IpcLocalName>(
  handlers: IpcLocalHandlers,
  name: K,
  request: unknown,
): Promise<unknown> {
  const parsed = ipcLocals[name].request.parse(request, 'request');
  if (!parsed.ok) throw new PortcullisError('invalid-input', parsed.error.message, { where: parsed.error.where });
  return handlers[name](parsed.value);
}
