import { test } from 'node:test';
import assert from 'node:assert/strict';
import { programShare } from '../../../bench/lib/program-share.js';
import type { TrafficSeries } from '../../../bench/traffic.js';

function series(programNs: number[], baselinePerSecond: number | null): TrafficSeries {
  return {
    path: 'loopback',
    kind: 'tcp-connect',
    contender: 'portcullis',
    pairs: [],
    errors: [],
    rate: null,
    baselineRate:
      baselinePerSecond === null
        ? null
        : { n: 1, min: baselinePerSecond, median: baselinePerSecond, max: baselinePerSecond },
    ratio: null,
    costs: {
      operations: 1000,
      programs: programNs.map((ns, i) => ({
        name: `p${i}`,
        attachType: 'cgroup_inet_egress',
        runs: 1000,
        totalNs: ns * 1000,
        runsPerOperation: 1,
        avgNs: ns,
        nsPerOperation: ns,
      })),
      daemonCpuMsPerThousand: null,
      daemonOperations: 0,
      errors: [],
    },
  };
}

test('the programs’ ns per operation against an operation’s time without a firewall predict the ratio', () => {
  // 40,000 connections/s without a firewall: 25 µs each; 1,000 + 250 ns of programs is 5 % more.
  const share = programShare(series([1000, 250], 40_000));
  assert.ok(share);
  assert.equal(share.programNs, 1250);
  assert.equal(share.operationNs, 25_000);
  assert.equal(share.ratio.toFixed(4), (1 / 1.05).toFixed(4));
});

test('no prediction without the kernel statistics or the baseline rate', () => {
  assert.equal(programShare(series([], 40_000)), null);
  assert.equal(programShare(series([500], null)), null);
  assert.equal(programShare(undefined), null);
});
