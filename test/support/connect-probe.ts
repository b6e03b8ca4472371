// TCP connect probes from inside a test cgroup: each target reports what connect() said.
// "refused" means the packet left and nothing listened (allowed); "EPERM" means a cgroup hook denied it.
import type { Sandbox } from './sandbox.js';

export type ProbeResult = 'connected' | 'refused' | 'EPERM' | 'timeout' | string;

export interface ProbeTarget {
  host: string;
  port: number;
}

// One connect per target, 1 s timeout each; prints a JSON list of results.
const PROBE_SCRIPT = `
import errno, json, socket, sys, time
out = []
linger = float(sys.argv[1])
for target in sys.argv[2:]:
    host, port = target.rsplit(' ', 1)
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect((host, int(port)))
        out.append('connected')
    except socket.timeout:
        out.append('timeout')
    except OSError as e:
        out.append('refused' if e.errno == errno.ECONNREFUSED else errno.errorcode.get(e.errno, str(e.errno)))
    finally:
        s.close()
print(json.dumps(out), flush=True)
time.sleep(linger)
`;

export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Runs the probe in the cgroup (as `exe`, a python interpreter, so per-app rules can be tested). */
export interface ProbeOptions {
  exe?: string;
  netns?: string;
  /** Stay alive this long after the connects, as an app would (the helper reads /proc to name it). */
  lingerMs?: number;
}

export async function probeConnect(
  sandbox: Sandbox,
  cgroup: string,
  targets: ProbeTarget[],
  options: ProbeOptions = {},
): Promise<ProbeResult[]> {
  const linger = String((options.lingerMs ?? 0) / 1000);
  const child = sandbox.spawnInCgroup(
    cgroup,
    [options.exe ?? SYSTEM_PYTHON, '-c', PROBE_SCRIPT, linger, ...targets.map((t) => `${t.host} ${t.port}`)],
    options.netns ? { netns: options.netns } : {},
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  if (code !== 0) throw new Error(`probe exited with ${code}: ${stderr}`);
  return JSON.parse(stdout) as ProbeResult[];
}

/** One target's result. */
export async function probeOne(
  sandbox: Sandbox,
  cgroup: string,
  host: string,
  port: number,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  return (await probeConnect(sandbox, cgroup, [{ host, port }], options))[0]!;
}
