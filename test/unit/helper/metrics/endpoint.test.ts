import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeEndpoint, parseMetricsEndpoint, parseTopApps } from '../../../../main/helper/metrics/endpoint.js';
import { PortcullisError } from '../../../../main/contract/index.js';

test('loopback literals with a port and absolute socket paths are accepted', () => {
  assert.deepEqual(parseMetricsEndpoint('127.0.0.1:9464', 'metrics'), { kind: 'tcp', host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseMetricsEndpoint('[::1]:1', 'metrics'), { kind: 'tcp', host: '::1', port: 1 });
  assert.deepEqual(parseMetricsEndpoint('/run/portcullis/metrics.sock', 'metrics'), {
    kind: 'unix',
    path: '/run/portcullis/metrics.sock',
  });
  assert.equal(describeEndpoint({ kind: 'tcp', host: '::1', port: 9464 }), 'http://[::1]:9464/metrics');
});

test('anything that could reach the network, or is not an address, is refused and says why', () => {
  const refused: Array<[string, RegExp]> = [
    ['0.0.0.0:9464', /does not name a loopback address/],
    ['[::]:9464', /does not name a loopback address/],
    ['192.168.1.20:9464', /does not name a loopback address/],
    ['127.0.0.2:9464', /does not name a loopback address/],
    ['[::ffff:127.0.0.1]:9464', /does not name a loopback address/],
    [':9464', /does not name a loopback address/],
    ['localhost:9464', /written as an address, not a name/],
    ['::1:9464', /in brackets/],
    ['[127.0.0.1]:9464', /in brackets/],
    ['127.0.0.1:0', /outside 1-65535/],
    ['127.0.0.1:65536', /outside 1-65535/],
    ['127.0.0.1', /neither HOST:PORT nor an absolute path/],
    ['metrics.sock', /neither HOST:PORT nor an absolute path/],
    ['/run/portcullis/', /not a socket path/],
  ];
  for (const [text, why] of refused) {
    assert.throws(
      () => parseMetricsEndpoint(text, 'helper.conf: "metrics"'),
      (error: PortcullisError) =>
        error.kind === 'invalid-input' &&
        why.test(error.message) &&
        error.message.startsWith(`helper.conf: "metrics": "${text}"`),
      text,
    );
  }
});

test('the top-apps bound is a whole number within limits', () => {
  assert.equal(parseTopApps(20, 'x'), 20);
  for (const bad of [0, -1, 2.5, 501, '20', null])
    assert.throws(() => parseTopApps(bad, 'x'), /whole number from 1 to 500/);
});
