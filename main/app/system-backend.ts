// The backend wired to the real system: the shared helper client, pkexec launch, the doctor checks,
// the wizard file and systemd. Electron main and the browser shell both start here.
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PortcullisError } from '../contract/index.js';
import { HelperClient } from '../client/helper-client.js';
import { launchFailureState, launchHelper } from '../client/launch-helper.js';
import { runChecks } from '../client/checks.js';
import { installedCheck } from '../install/state.js';
import { createIpcBackend, type IpcBackend } from './ipc-backend.js';
import { WizardStore, defaultConfigDir } from './wizard-store.js';

export interface SystemBackendOptions {
  clientName: string;
  socketPath?: string;
  configDir?: string;
  /** Tests running as root against their own helper (see HelperClient). */
  allowNonRootSocket?: boolean;
}

export function createSystemBackend(options: SystemBackendOptions): IpcBackend {
  const connect = () =>
    HelperClient.connect({
      socketPath: options.socketPath,
      clientName: options.clientName,
      allowNonRootSocket: options.allowNonRootSocket,
    });
  return createIpcBackend({
    connect,
    async launch() {
      const result = await launchHelper({
        isReady: async () => {
          const client = await connect();
          client.close();
          return true;
        },
      });
      return result.ok ? { ok: true } : { ok: false, state: launchFailureState(result.error) };
    },
    runChecks: async () => runChecks({ socketPath: options.socketPath, installed: installedCheck }),
    wizard: new WizardStore(join(options.configDir ?? defaultConfigDir(), 'wizard.json')),
    async enableAtBoot() {
      if (!installedCheck().ok)
        throw new PortcullisError(
          'unavailable',
          'enforcement from boot needs Portcullis installed system-wide: sudo portcullis install',
        );
      // systemd asks polkit itself (org.freedesktop.systemd1.manage-unit-files).
      await promisify(execFile)('systemctl', ['enable', 'portcullis-helper.service']).catch((error: Error) => {
        throw new PortcullisError('unauthorized', `could not enable start at boot: ${error.message}`);
      });
    },
  });
}
