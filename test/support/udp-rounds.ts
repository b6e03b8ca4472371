// A UDP sender driven in rounds: for each line read on stdin it sends `count` datagrams
// ("<round> <i>") to one address and prints one JSON line saying how many sends failed. The hold
// tests use it to show that a held flow's send() reports no error while nothing arrives, and that
// the next round arrives once the flow is allowed.
import type { ChildProcess } from 'node:child_process';
import { eventually, present } from './eventually.js';

const SENDER = `
import json, socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
for line in sys.stdin:
    errors = 0
    for i in range(count):
        try:
            s.sendto(("%s %d" % (line.strip(), i)).encode(), (host, port))
        except OSError:
            errors += 1
    print(json.dumps({"round": line.strip(), "errors": errors}), flush=True)
`;

/** The argv running the sender under `python` (a renamed copy of python is an app of its own). */
export function udpRoundsArgv(python: string, host: string, port: number, count = 5): string[] {
  return [python, '-c', SENDER, host, String(port), String(count)];
}

export interface RoundReport {
  round: string;
  errors: number;
}

export interface UdpRounds {
  /** Sends one round named `name`; resolves with the sender's report of it. */
  round(name: string): Promise<RoundReport>;
  /** Closes the sender's stdin: it exits after its last round. */
  end(): void;
}

/** Drives a sender spawned from udpRoundsArgv with stdin and stdout piped. */
export function udpRounds(child: ChildProcess, timeoutMs = 10_000): UdpRounds {
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  // Only whole lines: a report may arrive in pieces.
  const report = (name: string) =>
    out
      .split('\n')
      .slice(0, -1)
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as RoundReport)
      .find((parsed) => parsed.round === name);
  return {
    async round(name) {
      child.stdin!.write(`${name}\n`);
      return eventually(() => report(name), present, `the UDP sender's report of round ${name}`, {
        timeoutMs,
        everyMs: 10,
      });
    },
    end: () => child.stdin!.end(),
  };
}
