// What the browser-shell tests use to look at the shell from outside: the sign-in link its launch
// page holds, a client that forges every header a browser would send, and a scan of the /proc
// command lines and environments a user can read for secrets. The scripts are plain JavaScript run
// with `node -e` (as another uid), and take secrets on stdin, never as arguments.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The sign-in address the launch page holds now (what a browser opening it is sent on to). */
export function signInLinkOf(launchUrl: string): string {
  const html = readFileSync(fileURLToPath(launchUrl), 'utf8');
  const match = /content="0;url=([^"]+)"/.exec(html);
  if (!match) throw new Error(`no sign-in link in the launch page:\n${html}`);
  return match[1]!.replace(/&#38;/g, '&');
}

/** The one-time code in a sign-in address. */
export function codeOf(signInLink: string): string {
  return new URL(signInLink).searchParams.get('code') ?? '';
}

// Connects to the shell's port and sends a plain GET and a WebSocket upgrade with our Host, our
// Origin and the cookie given on stdin; prints what came back for each (an answer starts "HTTP/").
const FORGED_CLIENT = `
const net = require('node:net');
const port = Number(process.argv[1]);
let cookie = '';
process.stdin.on('data', (chunk) => { cookie += chunk; });
process.stdin.on('end', async () => {
  const headers = 'Host: 127.0.0.1:' + port + '\\r\\nOrigin: http://127.0.0.1:' + port + '\\r\\nCookie: ' + cookie.trim() + '\\r\\n';
  const requests = {
    get: 'GET / HTTP/1.1\\r\\n' + headers + '\\r\\n',
    upgrade: 'GET /ipc HTTP/1.1\\r\\n' + headers + 'Connection: Upgrade\\r\\nUpgrade: websocket\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n',
  };
  const out = {};
  for (const [name, text] of Object.entries(requests)) {
    out[name] = await new Promise((resolve) => {
      let answer = '';
      const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
      socket.on('data', (chunk) => { answer += chunk; });
      socket.on('error', (error) => { answer += '[' + error.code + ']'; });
      socket.on('close', () => resolve(answer));
      setTimeout(() => socket.destroy(), 5000);
    });
  }
  console.log(JSON.stringify(out));
});
`;

/** Runs the forged client as `uid` against the shell's port; what each request got back. */
export async function forgedRequestsAs(
  uid: number,
  port: number,
  cookie: string,
): Promise<{ get: string; upgrade: string }> {
  const output = await runNodeAs(uid, FORGED_CLIENT, [String(port)], cookie);
  return JSON.parse(output) as { get: string; upgrade: string };
}

// Reads every /proc/PID/cmdline and environ it can; reports how many it read, the command lines
// that mention chromium, and where any of the secrets (JSON list on stdin) appeared.
const PROC_SCAN = `
const fs = require('node:fs');
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const secrets = JSON.parse(input);
  const out = { read: { cmdline: 0, environ: 0 }, hits: [], chromium: [] };
  for (const pid of fs.readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))) {
    if (Number(pid) === process.pid) continue;
    for (const file of ['cmdline', 'environ']) {
      let text;
      try { text = fs.readFileSync('/proc/' + pid + '/' + file, 'latin1'); } catch { continue; }
      out.read[file]++;
      if (file === 'cmdline' && /chrom/.test(text)) out.chromium.push(text.split('\\0').join(' '));
      for (const secret of secrets) if (text.includes(secret)) out.hits.push({ pid: Number(pid), file, secret: secret.slice(0, 6) + '…' });
    }
  }
  console.log(JSON.stringify(out));
});
`;

export interface ProcScan {
  read: { cmdline: number; environ: number };
  hits: Array<{ pid: number; file: string; secret: string }>;
  chromium: string[];
}

/** Scans /proc as `uid` (0 reads everything) for the secrets. */
export async function scanProcAs(uid: number, secrets: string[]): Promise<ProcScan> {
  return JSON.parse(await runNodeAs(uid, PROC_SCAN, [], JSON.stringify(secrets))) as ProcScan;
}

/** Node running `script` as uid (setpriv drops root first), `stdin` written to it. Never blocks the caller's event loop. */
async function runNodeAs(uid: number, script: string, args: string[], stdin: string): Promise<string> {
  const child = spawn(
    'setpriv',
    [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script, ...args],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(stdin);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`node as uid ${uid} exited with ${code}: ${stderr}`);
  return stdout;
}

/** Whether `uid` can read a file (by trying, as that uid). */
export async function canReadAs(uid: number, path: string): Promise<boolean> {
  try {
    await promisify(execFile)('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'cat', path]);
    return true;
  } catch {
    return false;
  }
}
