// Run by polkit tests as an unprivileged user: starts the installed helper the way the app does
// (main/client/launch-helper.ts -> pkexec -> launcher) and prints the outcome as one JSON line.
// Usage: node --import tsx launch-helper-as-caller.ts SOCKET
import { HelperClient } from '../../main/client/helper-client.js';
import { launchHelper } from '../../main/client/launch-helper.js';

async function main(): Promise<void> {
  const socketPath = process.argv[2];
  if (!socketPath) throw new Error('usage: launch-helper-as-caller.ts SOCKET');
  const result = await launchHelper({
    timeoutMs: 30_000,
    isReady: async () => {
      const client = await HelperClient.connect({ socketPath, clientName: 'polkit test' });
      client.close();
      return true;
    },
  });
  const summary = result.ok ? { ok: true, pid: result.pid } : { ok: false, kind: result.error.kind, message: result.error.message };
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
