// Subscriptions against a real helper and a list server in a test network namespace (no internet):
// subscribe, an update that changes the list (applied as a diff, counts right, enforced), 304 Not
// Modified, a 500, a truncated body, 200 MB refused by the size limit (declared, and streamed), a
// list that turns malformed — each failure keeping the last good copy and saying why — an allow
// list waiting for review, and the schedule fetching a subscription that is due.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, type TestHost } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne, SYSTEM_PYTHON } from '../support/connect-probe.js';
import type { ListUpdate, RuleList } from '../../main/contract/index.js';
import { eventually } from '../support/eventually.js';

const SERVER = join(__dirname, 'list-server.py');
const PORT = 8080;

describe('subscriptions: fetched by the helper from a list server in a test netns', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let host: TestHost;
  let root: string;
  let requests = '';
  const url = (name: string) => `http://${host.peer4}:${PORT}/${name}`;
  const probe = (address: string) => probeOne(sandbox, helper.paths.cgroup, address, 9);
  const serve = (name: string, lines: string[]) => writeFileSync(join(root, name), `${lines.join('\n')}\n`);
  const misbehave = (name: string, mode: string | null) => {
    if (mode === null) rmSync(join(root, `${name}.mode`), { force: true });
    else writeFileSync(join(root, `${name}.mode`), mode);
  };
  const run = async (...args: string[]) => {
    const result = await helper.cli([...args, '--json']);
    assert.ok(result.code === 0 || result.code === 1, `portcullis ${args.join(' ')}: ${result.stderr}`);
    return { code: result.code, out: JSON.parse(result.stdout) as unknown };
  };
  const update = async (name: string) => {
    const { code, out } = await run('lists', 'update', name);
    const [outcome] = out as ListUpdate[];
    return { code, outcome: outcome! };
  };
  const lists = async () => (await run('lists')).out as RuleList[];
  const addresses = (from: number, count: number) =>
    Array.from({ length: count }, (_, i) => `127.5.${(from + i) >> 8}.${(from + i) & 255}`);

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    host = sandbox.makeTestHost(1);
    root = sandbox.makeTempDir('served');
    const server = sandbox.spawnInNetns(host.netns, [SYSTEM_PYTHON, SERVER, root, host.peer4, String(PORT)]);
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (chunk: Buffer) => {
        requests += chunk.toString();
        if (requests.includes('ready')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`the list server exited (${code})`)));
    });
  });
  after(() => sandbox.dispose());

  test('subscribe: fetched at once, enforced, counted', async () => {
    serve('feed.txt', ['# a feed', ...addresses(0, 1000)]);
    const { code, out } = await run('lists', 'add', url('feed.txt'), '--name', 'feed', '--every', '6h');
    const added = out as ListUpdate;
    assert.equal(code, 0);
    assert.deepEqual(
      [added.result, added.added, added.list.entryCount, added.list.kind],
      ['changed', 1000, 1000, 'subscription'],
    );
    assert.equal(added.list.subscription!.everyMs, 6 * 3_600_000);
    assert.ok(Math.abs(added.list.subscription!.nextCheckAt! - (Date.now() + 6 * 3_600_000)) < 60_000);
    assert.equal(await probe('127.5.0.7'), 'EPERM');
    assert.equal(await probe('127.6.0.7'), 'refused');
    const duplicate = await helper.cli(['lists', 'add', url('feed.txt'), '--name', 'feed']);
    assert.equal(duplicate.code, 2);
    assert.match(duplicate.stderr, /already a list "feed"/);
  });

  test('an update that changes the list is applied as a diff; an unchanged one costs a 304', async () => {
    const before = (await lists()).find((l) => l.name === 'feed')!;
    serve('feed.txt', [...addresses(10, 990), ...addresses(2000, 15)]); // 10 gone, 15 new
    const { outcome } = await update('feed');
    assert.deepEqual(
      [outcome.result, outcome.added, outcome.removed, outcome.list.entryCount],
      ['changed', 15, 10, 1005],
    );
    assert.equal(await probe('127.5.0.3'), 'refused', 'an entry that left the list');
    assert.equal(await probe(addresses(2003, 1)[0]!), 'EPERM', 'an entry that came');
    assert.equal(await probe('127.5.0.200'), 'EPERM', 'an entry that stayed');
    assert.match(helper.logs, /list \d+ "feed": changed \(\+15 -10, 1005 entries\)/);
    assert.ok(outcome.list.subscription!.lastSuccessAt! >= before.subscription!.lastSuccessAt!);

    const again = await update('feed');
    assert.deepEqual([again.outcome.result, again.outcome.list.entryCount], ['unchanged', 1005]);
    assert.match(requests.trim().split('\n').at(-1)!, /GET \/feed\.txt 304/);
  });

  for (const [mode, why] of [
    ['500', /the server answered 500/],
    ['truncate', /the download broke off after \d+ bytes/],
    ['huge', /the list is 200 MB, more than the 64 MB a list may be/],
    ['huge-chunked', /longer than the 64 MB a list may be; download stopped/],
  ] as const) {
    test(`a failed download (${mode}) keeps the last good copy and says why`, async () => {
      serve('feed.txt', addresses(0, 50)); // a change the failure must not bring in
      misbehave('feed.txt', mode);
      try {
        const { code, outcome } = await update('feed');
        assert.equal(code, 1);
        assert.equal(outcome.result, 'failed');
        assert.match(outcome.error!, why);
        assert.equal(outcome.list.entryCount, 1005);
        assert.match(outcome.list.subscription!.error!, why);
        assert.equal(await probe(addresses(2003, 1)[0]!), 'EPERM');
        assert.match(
          (await helper.cli(['lists', 'show', 'feed'])).stdout,
          /last fetch failed \(the last good copy stays\)/,
        );
      } finally {
        misbehave('feed.txt', null);
      }
    });
  }

  test('a list that turns malformed keeps its last good copy; a good download clears the error', async () => {
    writeFileSync(
      join(root, 'feed.txt'),
      '<html><body>\n<h1>Service moved</h1>\n<p>see our new site</p>\n</body></html>\n',
    );
    const { outcome } = await update('feed');
    assert.equal(outcome.result, 'failed');
    assert.match(outcome.error!, /does not look like a list: 4 of 4 lines are not entries \(line 1:/);
    assert.equal(outcome.list.entryCount, 1005);
    serve('feed.txt', addresses(0, 20));
    const fixed = await update('feed');
    assert.deepEqual(
      [fixed.outcome.result, fixed.outcome.list.entryCount, fixed.outcome.list.subscription!.error],
      ['changed', 20, null],
    );
    assert.equal(await probe(addresses(2003, 1)[0]!), 'refused');
  });

  test('an allow subscription arrives disabled; enabling is the review; later entries wait for it', async () => {
    await helper.cli(['block', '127.7.0.0/16']);
    serve('open.txt', ['127.7.0.1']);
    const added = (await run('lists', 'add', url('open.txt'), '--action', 'allow')).out as ListUpdate;
    assert.equal(added.list.enabled, false);
    assert.equal(added.list.name, `${host.peer4}:${PORT}/open.txt`);
    assert.equal(await probe('127.7.0.1'), 'EPERM');
    await helper.cli(['lists', 'enable', added.list.name]);
    assert.equal(await probe('127.7.0.1'), 'refused');
    serve('open.txt', ['127.7.0.1', '127.7.0.2']);
    const { outcome } = await update(added.list.name);
    assert.deepEqual([outcome.added, outcome.list.entryCount, outcome.list.pendingCount], [1, 1, 1]);
    assert.equal(await probe('127.7.0.2'), 'EPERM', 'not opened until reviewed');
  });

  test('the schedule fetches a subscription that is due (one that came in a document)', async () => {
    serve('doc-feed.txt', addresses(3000, 5));
    const doc = join(root, 'doc.json');
    writeFileSync(
      doc,
      JSON.stringify({
        format: 'portcullis-rules',
        version: 1,
        lists: [
          { name: 'from-doc', action: 'block', subscription: { url: url('doc-feed.txt'), every: '1h' }, entries: [] },
        ],
      }),
    );
    assert.equal((await helper.cli(['import', doc])).code, 0);
    await eventually(
      async () => (await lists()).find((l) => l.name === 'from-doc'),
      (list) => list?.entryCount === 5,
      'the five entries fetched by the schedule, no one asking',
      { timeoutMs: 20_000, everyMs: 200 },
    );
    assert.equal(await probe(addresses(3002, 1)[0]!), 'EPERM');
  });

  test('only http(s) URLs: a path or another scheme is refused before anything is stored', async () => {
    for (const bad of ['file:///etc/shadow', '/etc/passwd', 'ftp://example.org/x']) {
      const result = await helper.cli(['lists', 'add', bad]);
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /URL/);
    }
    const client = await helper.client();
    await assert.rejects(
      client.call('lists.subscribe', { url: 'file:///etc/shadow' }),
      /params\.url: "file:" URLs are not fetched/,
    );
  });
});
