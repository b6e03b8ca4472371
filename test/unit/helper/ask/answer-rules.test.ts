// An answer's plan: which held connections it decides and which rules remember it, per scope and
// lifetime; answers that cannot apply are refused with where they went wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortcullisError, promptAnswerSchema, type PromptAnswerInput } from '../../../../main/contract/index.js';
import { planAnswer } from '../../../../main/helper/ask/answer-rules.js';
import type { HeldConnection } from '../../../../main/helper/ask/question-book.js';

let cookie = 1n;
function held(
  remoteAddr: string,
  remotePort: number,
  remoteName: string | null,
  protocol: 'tcp' | 'udp' = 'tcp',
): HeldConnection {
  return {
    ref: { cookie: cookie++, protocol, family: 4, remote: new Uint8Array(4), remotePort },
    appId: 7,
    claimId: 0,
    pid: 70,
    uid: 1000,
    exe: null,
    comm: 'firefox',
    remoteAddr,
    remoteName,
    remotePort,
    protocol,
    heldAt: 0,
    deadline: 30_000,
  };
}

const question = {
  appId: 7,
  appName: 'Firefox',
  held: [
    held('192.0.2.1', 443, 'www.example.org'),
    held('192.0.2.1', 80, 'www.example.org'),
    held('192.0.2.2', 443, 'cdn.example.org'),
    held('2001:db8::1', 443, 'www.example.org'),
    held('198.51.100.9', 53, null, 'udp'),
  ],
};

function answer(input: Omit<PromptAnswerInput, 'id'>) {
  const parsed = promptAnswerSchema.parse({ id: 1, ...input }, 'params');
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return parsed.value;
}

const remotes = (plan: ReturnType<typeof planAnswer>) => plan.covered.map((c) => `${c.remoteAddr}:${c.remotePort}`);

test('once: the host (or every host) decided now, no rule', () => {
  const plan = planAnswer(answer({ action: 'allow', host: '192.0.2.1' }), question);
  assert.deepEqual(remotes(plan), ['192.0.2.1:443', '192.0.2.1:80']);
  assert.deepEqual(plan.drafts, []);
  assert.equal(planAnswer(answer({ action: 'deny' }), question).covered.length, 5);
});

test('host scope: one allow rule per address, for the app, outbound, any port', () => {
  const plan = planAnswer(answer({ action: 'allow', lifetime: 'always' }), question);
  assert.equal(plan.drafts.length, 4);
  const [first] = plan.drafts;
  assert.deepEqual(
    { ...first, note: undefined },
    {
      action: 'allow',
      app: 7,
      remote: { kind: 'address', family: 4, text: '192.0.2.1', address: '192.0.2.1', prefixLen: 32 },
      ports: null,
      protocol: 'any',
      direction: 'out',
      expiry: { at: null },
      enabled: true,
      note: undefined,
    },
  );
  assert.equal(plan.drafts[2]!.remote.kind === 'address' && plan.drafts[2]!.remote.prefixLen, 128);
});

test('domain scope: the names the app resolved, covering every held connection under them', () => {
  const plan = planAnswer(answer({ action: 'allow', for: '15m', scope: 'domain', host: '192.0.2.1' }), question);
  assert.deepEqual(
    plan.drafts.map((d) => d.remote),
    [{ kind: 'domain', name: 'www.example.org', subdomains: false }],
  );
  assert.deepEqual(plan.drafts[0]!.expiry, { in: 15 * 60_000 });
  assert.deepEqual(remotes(plan), ['192.0.2.1:443', '192.0.2.1:80', '2001:db8::1:443']);
});

test('port scope: any host on that port and protocol; any scope: everything, one rule', () => {
  const port = planAnswer(
    answer({ action: 'deny', lifetime: 'until-quit', scope: 'port', host: '192.0.2.2' }),
    question,
  );
  assert.deepEqual(
    port.drafts.map((d) => [d.action, d.remote, d.ports, d.protocol]),
    [['block', { kind: 'any' }, { from: 443, to: 443 }, 'tcp']],
  );
  assert.match(port.drafts[0]!.note, /until it quits/);
  assert.deepEqual(remotes(port), ['192.0.2.1:443', '192.0.2.2:443', '2001:db8::1:443']);
  const any = planAnswer(answer({ action: 'allow', lifetime: 'always', scope: 'any' }), question);
  assert.deepEqual(
    any.drafts.map((d) => [d.remote, d.ports, d.protocol]),
    [[{ kind: 'any' }, null, 'any']],
  );
  assert.equal(any.covered.length, 5);
});

test('refused: a host the question does not wait for; a domain for a host nobody resolved; both lifetimes', () => {
  assert.throws(
    () => planAnswer(answer({ action: 'allow', host: '203.0.113.1' }), question),
    (error: PortcullisError) => error.kind === 'invalid-input' && error.where === 'params.host',
  );
  assert.throws(
    () => planAnswer(answer({ action: 'allow', scope: 'domain', host: '198.51.100.9' }), question),
    (error: PortcullisError) => error.kind === 'invalid-input' && error.where === 'params.scope',
  );
  const both = promptAnswerSchema.parse({ id: 1, action: 'allow', lifetime: 'always', for: '1h' }, 'params');
  assert.ok(!both.ok);
  assert.equal(both.error.where, 'params.for');
  const bad = promptAnswerSchema.parse({ id: 1, action: 'allow', for: 'soon' }, 'params');
  assert.ok(!bad.ok);
  assert.equal(bad.error.where, 'params.for');
});
