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
    // The shell opens us as http://127.0.0.1:PORT/#token=...; the token never reaches server logs.
    const token = new URLSearchParams(window.location.hash.slice(1)).get('token') ?? '';
    const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
    current = connectWebSocketApi(`${scheme}://${window.location.host}/ipc?token=${encodeURIComponent(token)}`);
  }
  return current;
}

/** Tests and benchmarks install their own implementation of the API. */
export function installBridge(api: RendererApi | null): void {
  current = api;
}
