// Sign-in for the browser shell: one live one-time code (handed over by the launch page), exchanged
// once for a session held in an HttpOnly, SameSite=Strict cookie. A used code is dead; the next
// code is made at once, so the launch page can open another window later.
import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Sessions kept at once (browser windows signed in); the oldest goes first. */
const MAX_SESSIONS = 16;

export class SignIn {
  private code = newSecret();
  private readonly sessions: Buffer[] = [];

  /** Cookie names ignore ports, and another local server sees cookies for 127.0.0.1: the port keeps shells apart. */
  constructor(readonly cookieName: string) {}

  get currentCode(): string {
    return this.code;
  }

  /** Exchanges the live code for a new session token, or null for any other code. */
  exchange(given: string): string | null {
    if (!sameSecret(given, this.code)) return null;
    this.code = newSecret();
    const session = newSecret();
    this.sessions.push(Buffer.from(session));
    if (this.sessions.length > MAX_SESSIONS) this.sessions.shift();
    return session;
  }

  /** The Set-Cookie value for a session: never readable from page scripts, never sent from other sites. */
  cookieFor(session: string): string {
    return `${this.cookieName}=${session}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** Whether a request's Cookie header holds one of our sessions. */
  hasSession(cookieHeader: string | undefined): boolean {
    const given = cookieValue(cookieHeader ?? '', this.cookieName);
    if (given === null) return false;
    const bytes = Buffer.from(given);
    return this.sessions.some((session) => session.length === bytes.length && timingSafeEqual(session, bytes));
  }
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string, name: string): string | null {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
