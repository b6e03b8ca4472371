// The installed helper's process entry, started by the polkit launcher and the systemd unit with
// no arguments: paths come from the defaults and /etc/portcullis/helper.conf (main/helper/config.ts).
import { runHelper } from '../../helper/run-helper.js';

runHelper({}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`portcullis-helper: ${(error as Error).message ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
