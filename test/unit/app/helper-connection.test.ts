// The helper connection's state machine with its two delegates (connect, launch). Real sockets are
// covered by the browser-shell e2e; here the transitions the person sees: cancelled, refused,
// started, lost and found again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HelperConnection, type HelperLink, type LaunchOutcome } from '../../../main/app/helper-connection.js';
import { PortcullisError, type HelperState, type Status } from '../../../main/contract/index.js';
import { eventually } from '../../support/eventually.js';

const status = { version: '0.1.0', pid: 77, enforcing: true } as Status;

/** A stand-in link: answers status, and can be cut to see what the app does when the helper goes. */
function link(): HelperLink & { cut(): void } {
  let onClose: ((error: PortcullisError) => void) | null = null;
  return {
    call: (async (method: string) => {
      if (method === 'status') return status;
      throw new PortcullisError('not-found', method);
    }) as HelperLink['call'],
    relay: async (method) => {
      throw new PortcullisError('not-found', method);
    },
    on: () => () => undefined,
    onClose: (listener) => {
      onClose = listener;
    },
    close: () => undefined,
    cut: () => onClose?.(new PortcullisError('unavailable', 'the helper closed the connection')),
  };
}

const unavailable = () =>
  Promise.reject(new PortcullisError('unavailable', 'nothing answers at /run/portcullis/helper.sock'));

test('a cancelled or refused polkit start is reported as such, and a later start connects', async () => {
  const states: HelperState[] = [];
  let helperUp = false;
  const outcomes: LaunchOutcome[] = [
    { ok: false, state: { state: 'cancelled', message: 'authentication was cancelled' } },
    { ok: false, state: { state: 'refused', message: 'not authorised' } },
    { ok: true },
  ];
  const live = link();
  const connection = new HelperConnection({
    connect: () => (helperUp ? Promise.resolve(live) : unavailable()),
    launch: async () => {
      const outcome = outcomes.shift()!;
      helperUp = outcome.ok;
      return outcome;
    },
    onState: (state) => states.push(state),
    retryMs: 0,
  });
  assert.equal((await connection.connect()).state, 'not-running');
  assert.throws(
    () => connection.require(),
    (error: PortcullisError) => error.kind === 'unavailable' && /nothing answers/.test(error.message),
  );
  assert.deepEqual(await connection.start(), { state: 'cancelled', message: 'authentication was cancelled' });
  assert.equal((await connection.start()).state, 'refused');
  assert.deepEqual(await connection.start(), { state: 'connected', status });
  assert.equal(connection.require(), live);
  assert.deepEqual(
    states.map((state) => state.state),
    ['not-running', 'not-running', 'starting', 'cancelled', 'starting', 'refused', 'starting', 'connected'],
  );
});

test('a lost helper is not-running, and is found again by the retry', async () => {
  let current = link();
  let up = true;
  const states: string[] = [];
  const connection = new HelperConnection({
    connect: () => (up ? Promise.resolve(current) : unavailable()),
    launch: async () => ({ ok: true }),
    onState: (state) => states.push(state.state),
    retryMs: 20,
  });
  await connection.connect();
  up = false;
  const first = current;
  current = link();
  first.cut();
  assert.equal(connection.state.state, 'not-running');
  await new Promise((resolve) => setTimeout(resolve, 50));
  up = true;
  const stateNow = (): string => connection.state.state; // read fresh: the retry timer changes it
  await eventually(stateNow, (state) => state === 'connected', 'connected again by the retry', { everyMs: 20 });
  assert.equal(connection.require(), current);
  connection.dispose();
  assert.deepEqual(
    states.filter((state, index) => state !== states[index - 1]),
    ['connected', 'not-running', 'connected'],
  );
});
