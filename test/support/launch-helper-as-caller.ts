// Run by polkit tests as an unprivileged user: does what the app does through pkexec and prints
// the outcome as one JSON line.
//   launch SOCKET      start the installed helper (main/client/launch-helper.ts -> pkexec -> launcher)
//   install BUNDLE     install a bundle through pkexec (the wizard's path for the AppImage)
//   uninstall          uninstall through pkexec
import { HelperClient } from '../../main/client/helper-client.js';
import { launchHelper, runInstallerWithPkexec } from '../../main/client/launch-helper.js';

async function main([command, arg]: string[]): Promise<unknown> {
  if (command === 'launch' && arg) {
    const result = await launchHelper({
      timeoutMs: 30_000,
      isReady: async () => {
        const client = await HelperClient.connect({ socketPath: arg, clientName: 'polkit test' });
        client.close();
        return true;
      },
    });
    if (!result.ok) return { ok: false, kind: result.error.kind, message: result.error.message };
    return result.alreadyRunning ? { ok: true, alreadyRunning: true } : { ok: true, pid: result.pid };
  }
  if ((command === 'install' && arg) || command === 'uninstall') {
    const result = await runInstallerWithPkexec(
      command === 'install' ? { action: 'install', bundleDir: arg! } : { action: 'uninstall' },
    );
    return result.ok ? { ok: true } : { ok: false, kind: result.error.kind, message: result.error.message };
  }
  throw new Error('usage: launch-helper-as-caller.ts launch SOCKET | install BUNDLE | uninstall');
}

main(process.argv.slice(2)).then(
  (summary) => {
    process.stdout.write(JSON.stringify(summary) + '\n');
  },
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
