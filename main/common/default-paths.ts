// The system paths every part of Portcullis agrees on. Tests always pass their own.
import { LAYOUT } from './install-layout.js';

export const DEFAULT_SOCKET = '/run/portcullis/helper.sock';
export const DEFAULT_BPFFS = '/sys/fs/bpf/portcullis';
export const DEFAULT_STATE_DIR = '/var/lib/portcullis';
export const HELPER_CONFIG_FILE = '/etc/portcullis/helper.conf';
/** Where the helper reads policy files (LAYOUT.policyDir). */
export const DEFAULT_POLICY_DIR = LAYOUT.policyDir;
