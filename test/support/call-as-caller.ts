// Run by authority tests as an unprivileged user: one request to a helper, its outcome printed as
// one JSON line ({ ok, result } or { ok: false, kind, message, polkitAction? }).
//   call-as-caller.ts SOCKET METHOD PARAMS-JSON
import { PortcullisError, isMethodName, type MethodName } from '../../main/contract/index.js';
import { HelperClient } from '../../main/client/helper-client.js';

async function main([socketPath, method, params]: string[]): Promise<unknown> {
  if (!socketPath || !isMethodName(method) || method === 'hello' || params === undefined)
    throw new Error('usage: call-as-caller.ts SOCKET METHOD PARAMS-JSON');
  const client = await HelperClient.connect({ socketPath, clientName: 'authority test' });
  try {
    return { ok: true, result: await client.relay(method as Exclude<MethodName, 'hello'>, JSON.parse(params)) };
  } catch (error) {
    if (error instanceof PortcullisError)
      return {
        ok: false,
        kind: error.kind,
        message: error.message,
        ...(error.polkitAction ? { polkitAction: error.polkitAction } : {}),
      };
    throw error;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then(
  (outcome) => {
    process.stdout.write(JSON.stringify(outcome) + '\n');
  },
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
