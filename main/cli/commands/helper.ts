// helper: run the privileged helper in the foreground (root). Loaded lazily: only this command
// needs the native addon.
import { PortcullisError } from '../../contract/index.js';
import type { Command } from '../command.js';

export const helperCommand: Command = {
  name: 'helper',
  summary: 'run the privileged helper in the foreground (root; until SIGTERM/SIGINT)',
  synopsis: '[--cgroup DIR] [--bpffs DIR] [--state-dir DIR] [--socket PATH] [--policy-dir DIR] [--metrics ADDRESS]',
  flags: {
    cgroup: {
      type: 'string',
      description: 'cgroup v2 directory to attach to (default: the cgroup2 root)',
      placeholder: 'DIR',
    },
    bpffs: {
      type: 'string',
      description: 'pin directory on a bpffs (default /sys/fs/bpf/portcullis)',
      placeholder: 'DIR',
    },
    'state-dir': {
      type: 'string',
      description: 'where the database lives (default /var/lib/portcullis)',
      placeholder: 'DIR',
    },
    'policy-dir': {
      type: 'string',
      description: 'root-owned policy files applied as managed rules (default /etc/portcullis/policy.d)',
      placeholder: 'DIR',
    },
    metrics: {
      type: 'string',
      description:
        'serve Prometheus metrics on 127.0.0.1:PORT, [::1]:PORT or a Unix socket path (default: helper.conf\'s "metrics", else off)',
      placeholder: 'ADDRESS',
    },
  },
  json: false,
  async run(context) {
    if (context.positionals.length > 0)
      throw new PortcullisError('invalid-input', `unexpected argument "${context.positionals[0]}"`, {
        where: 'arguments',
      });
    if (process.getuid?.() !== 0)
      throw new PortcullisError(
        'unauthorized',
        'the helper must run as root (it loads BPF programs): sudo portcullis helper',
      );
    const { runHelper } = await import('../../helper/run-helper.js');
    const flags = context.flags as Record<string, string | undefined>;
    // The global --socket only counts when given as a flag: PORTCULLIS_SOCKET is a client setting.
    try {
      return await runHelper({
        cgroup: flags.cgroup,
        bpffs: flags.bpffs,
        stateDir: flags['state-dir'],
        socket: flags.socket,
        policyDir: flags['policy-dir'],
        metrics: flags.metrics,
      });
    } catch (error) {
      // A libbpf failure at start-up (load, attach, pin) is the kernel's answer, with its log.
      const native = error as Error & { op?: unknown; detail?: unknown };
      if (!(error instanceof PortcullisError) && typeof native.op === 'string') {
        throw new PortcullisError(
          'kernel',
          `${native.message}${typeof native.detail === 'string' && native.detail ? `\n${native.detail}` : ''}`,
        );
      }
      throw error;
    }
  },
};
