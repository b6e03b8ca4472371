// Outbound verdicts on real traffic from processes in the test cgroup: connect4 denies with
// EPERM in the call, by the rule; allowed destinations are untouched; processes outside the cgroup are unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { withSandbox } from '../support/sandbox.js';
import { allowByDefault, connectProbe, openFixture, probeResult, rule, runPython } from './kernel-fixture.js';

test("TCP connect to a blocked IPv4 address fails with EPERM, the rule's verdict; others are untouched", async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const block = rule('block', '127.0.0.7');
    await fixture.firewall.setRules([block], allowByDefault);

    // EPERM is the connect hook's refusal, given in the call (nothing else answers a connect with
    // it); the rule's hit count says which rule gave it.
    const blocked = probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9))).stdout);
    assert.equal(blocked.outcome, 'EPERM');
    assert.equal((await fixture.firewall.readCounters()).ruleHits.get(block.ruleId), 1n, 'one hit of the block rule');

    // Nothing listens on 127.0.0.8:9, so an allowed connect is refused by the stack, not by us.
    const allowed = probeResult((await runPython(fixture, connectProbe(4, '127.0.0.8', 9))).stdout);
    assert.equal(allowed.outcome, 'ECONNREFUSED');
  });
});

test('a process outside the cgroup is unaffected by the rules', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    await fixture.firewall.setRules([rule('block', '127.0.0.7')], allowByDefault);
    const outside = execFileSync('python3', ['-c', connectProbe(4, '127.0.0.7', 9)], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(probeResult(outside).outcome, 'ECONNREFUSED');
  });
});
