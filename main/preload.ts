// Exposes exactly the renderer API derived from main/contract/ipc.ts, nothing more: one function per
// declared invoke channel and one listen function per notification. No generic send/invoke.
// Sandboxed preloads cannot load our modules, so this file is bundled (npm run build:preload).
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { ipcChannel, ipcInvokeNames, ipcNotifyNames, listenerName } from './contract/ipc.js';

const api: Record<string, unknown> = {};
for (const name of ipcInvokeNames) {
  api[name] = (request: unknown) => ipcRenderer.invoke(ipcChannel(name), request ?? {});
}
for (const name of ipcNotifyNames) {
  api[listenerName(name)] = (listener: (payload: unknown) => void) => {
    // Wrap so the renderer never sees the IpcRendererEvent (it carries the sender).
    const wrapped = (_event: IpcRendererEvent, payload: unknown) => listener(payload);
    ipcRenderer.on(ipcChannel(name), wrapped);
    return () => ipcRenderer.removeListener(ipcChannel(name), wrapped);
  };
}
contextBridge.exposeInMainWorld('portcullis', api);
