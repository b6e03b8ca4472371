// A TCP listener that counts the connections it accepts (and closes them): what proves that held or
// blocked connects never reached their destination.
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Sandbox } from './sandbox.js';

export interface CountingListener {
  port: number;
  accepted(): number;
}

export async function countingListener(sandbox: Sandbox, host = '127.0.0.1'): Promise<CountingListener> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  sandbox.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted };
}
