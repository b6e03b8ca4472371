// Where the helper works: cgroup to attach to, bpffs pin directory, state directory, socket, and
// the policy directory.
//
// Run directly by root, flags override /etc/portcullis/helper.conf, which overrides the defaults.
// Started through pkexec (PKEXEC_UID set) the caller controls the command line, so flags are
// refused and only the defaults and the root-owned config file count.
//
// The metrics endpoint is off unless the file (or root's --metrics flag) names where it listens:
// it is the administrator's choice, never a client's (no RPC turns it on).
import { lstatSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { PortcullisError } from '../contract/index.js';
import { findCgroup2Mount } from '../common/cgroup2.js';
import {
  DEFAULT_BPFFS,
  DEFAULT_POLICY_DIR,
  DEFAULT_SOCKET,
  DEFAULT_STATE_DIR,
  HELPER_CONFIG_FILE,
} from '../common/default-paths.js';
import { DEFAULT_TOP_APPS, parseMetricsEndpoint, parseTopApps, type MetricsEndpoint } from './metrics/endpoint.js';

export interface HelperPaths {
  cgroup: string;
  bpffs: string;
  stateDir: string;
  socket: string;
  /** Policy files applied as managed rules (root-owned; LAYOUT.policyDir unless moved by root). */
  policyDir: string;
}

/** What the command line may set (root only; refused through pkexec). */
export interface HelperFlags extends Partial<HelperPaths> {
  metrics?: string;
}

export interface MetricsConfig {
  endpoint: MetricsEndpoint;
  /** Apps with their own series; the rest are summed into one. */
  topApps: number;
}

export interface HelperConfig extends HelperPaths {
  /** The uid that authorised the helper through pkexec, if it was started that way. */
  authorizingUid: number | null;
  /** Null: no metrics endpoint (the default). */
  metrics: MetricsConfig | null;
}

/** What helper.conf may hold. */
export interface ConfigFile extends Partial<HelperPaths> {
  metrics?: MetricsEndpoint;
  metricsTopApps?: number;
}

export { DEFAULT_BPFFS, DEFAULT_STATE_DIR, DEFAULT_SOCKET, HELPER_CONFIG_FILE as CONFIG_FILE };

const CONFIG_KEYS = ['cgroup', 'bpffs', 'stateDir', 'socket', 'policyDir'] as const;
const METRICS_KEYS = ['metrics', 'metricsTopApps'] as const;

export interface ConfigInputs {
  flags: HelperFlags;
  env: NodeJS.ProcessEnv;
  configFile?: string;
  /** cgroup2 root, found from mountinfo when not given. */
  cgroupRoot?: string | null;
}

export function resolveHelperConfig(inputs: ConfigInputs): HelperConfig {
  const configFile = inputs.configFile ?? HELPER_CONFIG_FILE;
  const pkexecUid = parsePkexecUid(inputs.env.PKEXEC_UID);
  const flagNames = Object.entries(inputs.flags)
    .filter(([, value]) => value !== undefined)
    .map(([key]) => key);
  if (pkexecUid !== null && flagNames.length > 0) {
    throw new PortcullisError(
      'invalid-input',
      `started through pkexec, the helper takes no flags (got ${flagNames.join(', ')}); its paths come from ${configFile}`,
    );
  }
  const fromFile = readConfigFile(configFile);
  const cgroupRoot = inputs.cgroupRoot === undefined ? findCgroup2Mount() : inputs.cgroupRoot;
  const cgroup = inputs.flags.cgroup ?? fromFile.cgroup ?? cgroupRoot;
  if (!cgroup) throw new PortcullisError('unavailable', 'no cgroup v2 hierarchy is mounted; see "portcullis doctor"');
  const paths: HelperPaths = {
    cgroup,
    bpffs: inputs.flags.bpffs ?? fromFile.bpffs ?? DEFAULT_BPFFS,
    stateDir: inputs.flags.stateDir ?? fromFile.stateDir ?? DEFAULT_STATE_DIR,
    socket: inputs.flags.socket ?? fromFile.socket ?? DEFAULT_SOCKET,
    policyDir: inputs.flags.policyDir ?? fromFile.policyDir ?? DEFAULT_POLICY_DIR,
  };
  for (const key of CONFIG_KEYS) {
    if (!isAbsolute(paths[key]))
      throw new PortcullisError('invalid-input', `${key}: "${paths[key]}" must be an absolute path`, { where: key });
  }
  const endpoint =
    inputs.flags.metrics !== undefined ? parseMetricsEndpoint(inputs.flags.metrics, '--metrics') : fromFile.metrics;
  const metrics = endpoint ? { endpoint, topApps: fromFile.metricsTopApps ?? DEFAULT_TOP_APPS } : null;
  return { ...paths, authorizingUid: pkexecUid, metrics };
}

function parsePkexecUid(value: string | undefined): number | null {
  if (value === undefined || value === '') return null;
  if (!/^[0-9]{1,10}$/.test(value)) throw new PortcullisError('invalid-input', `PKEXEC_UID "${value}" is not a uid`);
  return Number(value);
}

/** The config file's settings; none when it does not exist. Refused when others could have written it. */
export function readConfigFile(path: string): ConfigFile {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return {};
  }
  const refuse = (why: string) =>
    new PortcullisError('invalid-input', `${path}: ${why}; refusing to use it`, { where: path });
  if (!stats.isFile()) throw refuse('is not a regular file');
  if (stats.uid !== 0) throw refuse(`is owned by uid ${stats.uid}, not root`);
  if ((stats.mode & 0o022) !== 0)
    throw refuse(`is writable by group or others (mode ${(stats.mode & 0o777).toString(8)})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw refuse(`is not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw refuse('must hold a JSON object');
  const out: ConfigFile = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (key === 'metrics') {
      if (typeof value !== 'string') throw refuse(`"metrics" must be a string (an address or a socket path)`);
      out.metrics = parseMetricsEndpoint(value, `${path}: "metrics"`);
      continue;
    }
    if (key === 'metricsTopApps') {
      out.metricsTopApps = parseTopApps(value, `${path}: "metricsTopApps"`);
      continue;
    }
    if (!(CONFIG_KEYS as readonly string[]).includes(key))
      throw refuse(`has an unknown key "${key}" (known: ${[...CONFIG_KEYS, ...METRICS_KEYS].join(', ')})`);
    if (typeof value !== 'string' || !isAbsolute(value)) throw refuse(`"${key}" must be an absolute path`);
    out[key as keyof HelperPaths] = value;
  }
  return out;
}
