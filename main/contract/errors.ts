// Errors that cross a boundary keep a kind, so callers decide by kind and never by message text.

export const ERROR_KINDS = [
  'invalid-input', // the caller sent something wrong: CLI exit 2
  'not-found',
  'unauthorized', // peer credentials refused
  'protocol', // malformed message, request before hello, version mismatch
  'kernel', // BPF/libbpf failure
  'unavailable', // helper not running / not reachable
  'cancelled', // the person dismissed the polkit dialog
  'internal',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface PortcullisErrorData {
  kind: ErrorKind;
  /** Where the bad input was ("params.rule.port"), for invalid-input. */
  where?: string;
  /** A longer technical detail (a verifier log, an errno name). */
  detail?: string;
  /**
   * For unauthorized and cancelled: the polkit action an administrator could grant. The request
   * may be sent again: polkit asks again (a UI offers "Try again").
   */
  polkitAction?: string;
}

export class PortcullisError extends Error {
  readonly kind: ErrorKind;
  readonly where: string | undefined;
  readonly detail: string | undefined;
  readonly polkitAction: string | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    extra: { where?: string; detail?: string; polkitAction?: string } = {},
  ) {
    super(message);
    this.name = 'PortcullisError';
    this.kind = kind;
    this.where = extra.where;
    this.detail = extra.detail;
    this.polkitAction = extra.polkitAction;
  }

  toData(): PortcullisErrorData {
    return {
      kind: this.kind,
      ...(this.where ? { where: this.where } : {}),
      ...(this.detail ? { detail: this.detail } : {}),
      ...(this.polkitAction ? { polkitAction: this.polkitAction } : {}),
    };
  }
}

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (ERROR_KINDS as readonly string[]).includes(value);
}

/** A validation issue as an error; invalid-input messages begin with where the input was wrong. */
export function invalidInput(issue: { where: string; message: string }): PortcullisError {
  return new PortcullisError('invalid-input', `${issue.where}: ${issue.message}`, { where: issue.where });
}

/**
 * An invalid-input error about part of a request, located in the whole: "app" inside "params.rule"
 * is "params.rule.app", "[3].remote" inside "params.rules" is "params.rules[3].remote". Other errors
 * are returned as they are.
 */
export function locatedIn(at: string, error: PortcullisError): PortcullisError {
  if (error.kind !== 'invalid-input' || error.where === undefined) return error;
  const reason = error.message.startsWith(`${error.where}: `)
    ? error.message.slice(error.where.length + 2)
    : error.message;
  const where = error.where.startsWith('[') ? `${at}${error.where}` : `${at}.${error.where}`;
  return new PortcullisError('invalid-input', `${where}: ${reason}`, {
    where,
    ...(error.detail ? { detail: error.detail } : {}),
  });
}
