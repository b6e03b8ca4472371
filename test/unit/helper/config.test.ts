import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveHelperConfig } from '../../../main/helper/config.js';
import { PortcullisError } from '../../../main/contract/index.js';

function withConfigFile(content: string | null, body: (path: string) => void, mode = 0o644): void {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-conf-'));
  try {
    const path = join(dir, 'helper.conf');
    if (content !== null) {
      writeFileSync(path, content);
      chmodSync(path, mode);
    }
    body(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const base = { cgroupRoot: '/sys/fs/cgroup/unified' };

test('defaults, then the config file, then flags', () => {
  withConfigFile(JSON.stringify({ stateDir: '/srv/pcl', socket: '/run/x/s.sock' }), (configFile) => {
    const none = resolveHelperConfig({ ...base, flags: {}, env: {}, configFile: configFile + '.missing' });
    assert.deepEqual(
      {
        cgroup: none.cgroup,
        bpffs: none.bpffs,
        stateDir: none.stateDir,
        socket: none.socket,
        policyDir: none.policyDir,
      },
      {
        cgroup: '/sys/fs/cgroup/unified',
        bpffs: '/sys/fs/bpf/portcullis',
        stateDir: '/var/lib/portcullis',
        socket: '/run/portcullis/helper.sock',
        policyDir: '/etc/portcullis/policy.d',
      },
    );
    const fromFile = resolveHelperConfig({ ...base, flags: { socket: '/tmp/t.sock' }, env: {}, configFile });
    assert.equal(fromFile.stateDir, '/srv/pcl');
    assert.equal(fromFile.socket, '/tmp/t.sock');
    assert.equal(fromFile.authorizingUid, null);
    assert.equal(fromFile.policyDir, '/etc/portcullis/policy.d');
    const moved = resolveHelperConfig({ ...base, flags: { policyDir: '/srv/policy.d' }, env: {}, configFile });
    assert.equal(moved.policyDir, '/srv/policy.d', "root's flag moves the policy directory");
  });
});

test('through pkexec: no flags, PKEXEC_UID remembered, the file still counts', () => {
  withConfigFile(JSON.stringify({ cgroup: '/sys/fs/cgroup/unified/portcullis-test-x' }), (configFile) => {
    assert.throws(
      () => resolveHelperConfig({ ...base, flags: { cgroup: '/tmp' }, env: { PKEXEC_UID: '1000' }, configFile }),
      (error: PortcullisError) => error.kind === 'invalid-input' && /takes no flags \(got cgroup\)/.test(error.message),
    );
    const config = resolveHelperConfig({ ...base, flags: {}, env: { PKEXEC_UID: '1000' }, configFile });
    assert.equal(config.authorizingUid, 1000);
    assert.equal(config.cgroup, '/sys/fs/cgroup/unified/portcullis-test-x');
  });
});

test('a config file others could write, not owned by root, with unknown keys or relative paths is refused', () => {
  const refused = (content: string, pattern: RegExp, mode?: number, owner?: number) =>
    withConfigFile(
      content,
      (configFile) => {
        if (owner !== undefined) chownSync(configFile, owner, owner);
        assert.throws(
          () => resolveHelperConfig({ ...base, flags: {}, env: {}, configFile }),
          (error: Error) => pattern.test(error.message),
        );
      },
      mode,
    );
  refused('{}', /writable by group or others \(mode 666\)/, 0o666);
  refused('{}', /owned by uid 65534, not root/, 0o644, 65534);
  refused('{"cgroups": "/x"}', /unknown key "cgroups"/);
  refused('{"socket": "run/x"}', /"socket" must be an absolute path/);
  refused('{nope', /not valid JSON/);
  refused('[]', /JSON object/);
});

test("the metrics endpoint is off unless helper.conf or root's --metrics flag names a loopback address or a socket", () => {
  withConfigFile(JSON.stringify({ stateDir: '/srv/pcl' }), (configFile) => {
    assert.equal(resolveHelperConfig({ ...base, flags: {}, env: {}, configFile }).metrics, null, 'off by default');
    assert.equal(
      resolveHelperConfig({ ...base, flags: {}, env: {}, configFile: configFile + '.missing' }).metrics,
      null,
      'off with no config file',
    );
    assert.deepEqual(resolveHelperConfig({ ...base, flags: { metrics: '[::1]:9464' }, env: {}, configFile }).metrics, {
      endpoint: { kind: 'tcp', host: '::1', port: 9464 },
      topApps: 20,
    });
    assert.throws(
      () => resolveHelperConfig({ ...base, flags: { metrics: '0.0.0.0:9464' }, env: {}, configFile }),
      (error: PortcullisError) =>
        error.kind === 'invalid-input' &&
        /^--metrics: "0.0.0.0:9464" does not name a loopback address/.test(error.message),
    );
    assert.throws(
      () =>
        resolveHelperConfig({ ...base, flags: { metrics: '127.0.0.1:9464' }, env: { PKEXEC_UID: '1000' }, configFile }),
      /takes no flags \(got metrics\)/,
      'a pkexec caller cannot turn it on',
    );
  });
  withConfigFile(JSON.stringify({ metrics: '/run/portcullis/metrics.sock', metricsTopApps: 5 }), (configFile) => {
    const config = resolveHelperConfig({ ...base, flags: {}, env: { PKEXEC_UID: '1000' }, configFile });
    assert.deepEqual(config.metrics, { endpoint: { kind: 'unix', path: '/run/portcullis/metrics.sock' }, topApps: 5 });
  });
  const refused = (content: object, pattern: RegExp) =>
    withConfigFile(JSON.stringify(content), (configFile) =>
      assert.throws(
        () => resolveHelperConfig({ ...base, flags: {}, env: {}, configFile }),
        (error: PortcullisError) =>
          error.kind === 'invalid-input' && error.message.includes(configFile) && pattern.test(error.message),
      ),
    );
  refused({ metrics: '10.0.0.1:9464' }, /"metrics": "10.0.0.1:9464" does not name a loopback address/);
  refused({ metrics: 9464 }, /"metrics" must be a string/);
  refused({ metrics: '127.0.0.1:9464', metricsTopApps: 0 }, /"metricsTopApps": 0 must be a whole number/);
});
