// A connect flood on a unix socket, run as a stranger uid by the flood test: `count` connections as
// fast as they go (`inFlight` at a time), each left to the server to close, all within `deadlineMs`.
// Prints one JSON line: how many connected, how many were closed by the server, the errors by code.
import { createConnection } from 'node:net';

const [socketPath = '', countText, inFlightText, deadlineText] = process.argv.slice(2);
const count = Number(countText);
const inFlight = Number(inFlightText);
const deadline = Date.now() + Number(deadlineText);
const report = { connected: 0, closedByServer: 0, errors: {} as Record<string, number>, elapsedMs: 0 };
const started = Date.now();
let begun = 0;
let finished = 0;

function next(): void {
  if (begun >= count || Date.now() > deadline) {
    if (finished === begun) done();
    return;
  }
  begun++;
  const socket = createConnection(socketPath);
  socket.once('connect', () => {
    report.connected++;
  });
  socket.on('data', () => {
    /* the refusal; read so the server sees it taken */
  });
  socket.once('end', () => {
    report.closedByServer++;
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    const code = error.code ?? 'unknown';
    report.errors[code] = (report.errors[code] ?? 0) + 1;
  });
  socket.once('close', () => {
    finished++;
    next();
  });
}

let reported = false;
function done(): void {
  if (reported) return;
  reported = true;
  report.elapsedMs = Date.now() - started;
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}

for (let i = 0; i < inFlight; i++) next();
setTimeout(done, deadline - Date.now() + 5000).unref();
