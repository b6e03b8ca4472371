// The one module that touches window.portcullis. In Electron the preload exposes the API there; in the
// browser shell there is no preload, so the same API is spoken over the shell's WebSocket. Stores call
// bridge(); components never do.
import type { RendererApi } from '../main/contract/ipc';
import { connectWebSocketApi } from './ws-api';

declare global {
  interface Window {
    portcullis?: RendererApi;
  }
}

let current: RendererApi | null = null;

export function bridge(): RendererApi {
  if (current) return current;
  if (window.portcullis) {
    current = window.portcullis;
  } else {
    // The browser signed in to the shell before it loaded us: its session is an HttpOnly cookie
    // that the WebSocket handshake carries, so this page never holds a secret.
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    current = connectWebSocketApi(`${scheme}://${window.location.host}/ipc`);
  }
  return current;
}

/** Tests and benchmarks install their own implementation of the API. */
export function installBridge(api: RendererApi | null): void {
  current = api;
}
