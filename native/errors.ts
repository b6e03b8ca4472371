// The one error class of the native side: every failure of the kernel or libbpf reaches JS as a
// NativeError (the addon makes them through setErrorClass), as does misuse of a closed firewall.
// Argument checks throw TypeError and invalid rules RangeError: those are bugs of the caller.

export interface NativeErrorFields {
  /** errno name, e.g. 'EPERM', 'ENOENT'. */
  code: string;
  errno: number;
  /** What was being done, e.g. 'load BPF programs' or 'open cgroup /sys/fs/cgroup/x'. */
  op: string;
  /** What libbpf or the verifier said meanwhile (the verifier's log for a rejected program), or ''. */
  detail: string;
}

export class NativeError extends Error implements NativeErrorFields {
  readonly code: string;
  readonly errno: number;
  readonly op: string;
  readonly detail: string;

  constructor(message: string, fields: NativeErrorFields) {
    super(message);
    this.name = 'NativeError';
    this.code = fields.code;
    this.errno = fields.errno;
    this.op = fields.op;
    this.detail = fields.detail;
  }
}
