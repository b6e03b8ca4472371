// Bad input against a real helper: the CLI catalogue exits 2 with the flag named and loses nothing;
// the helper validates drafts itself (a client that skips validation gets invalid-input with the
// location); raw socket abuse is answered with kinds while another client keeps being served.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import type { PortcullisError, Rule } from '../../main/contract/index.js';
import { eventually } from '../support/eventually.js';

const CLI_CASES: Array<[string[], RegExp]> = [
  [['block', '1.2.3'], /TARGET: "1\.2\.3" is not an IPv4 address/],
  [['block', '1.2.3.256'], /TARGET: .*more than 255/],
  [['block', '::g'], /TARGET: "::g" is not an IPv6 address/],
  [['block', '01.2.3.4'], /TARGET: .*leading zero/],
  [['block', '10.0.0.0/33'], /TARGET: .*prefix length 33 is more than 32/],
  [['block', '::/129'], /TARGET: .*prefix length 129 is more than 128/],
  [['block', '10.0.0.0/-1'], /TARGET: .*must be a whole number/],
  [['block', '1.2.3.4', '--port', '0'], /--port: port 0 is outside 1-65535/],
  [['block', '1.2.3.4', '--port', '65536'], /--port: port 65536 is outside/],
  [['block', '1.2.3.4', '--port', 'a-b'], /--port: range start "a" is not a number/],
  [['block', '1.2.3.4', '--port', '90-80'], /--port: range "90-80" runs backwards/],
  [['block', '1.2.3.4', '--proto', 'sctp'], /--proto: must be one of any, tcp, udp, icmp/],
  [['block', '1.2.3.4', '--dir', 'up'], /--dir: must be one of out, in, both/],
  [['block', '1.2.3.4', '--for', '5 minutes'], /--for: "5 minutes" is not a duration/],
  [['block', '1.2.3.4', '--for', '0m'], /--for: "0m" is zero/],
];

describe('bad input against a real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let bystander: HelperClient;
  let kept: Rule;

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    bystander = await helper.client('bystander');
    kept = await bystander.call('rules.add', { rule: { action: 'block', remote: '127.0.0.40' } });
  });
  after(() => sandbox.dispose());

  const stillServed = async () => {
    const rules = await bystander.call('rules.list');
    assert.deepEqual(
      rules.map((r) => r.id),
      [kept.id],
      'nothing lost, nothing added',
    );
  };

  test('the CLI catalogue: exit 2, what and where, nothing lost', async () => {
    for (const [args, message] of CLI_CASES) {
      const result = await helper.cli(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
      assert.equal(result.stdout, '');
    }
    await stillServed();
  });

  test('the helper validates on its own: invalid drafts get invalid-input with the location', async () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [{ action: 'block', remote: '1.2.3' }, 'params.rule.remote', /needs four numbers/],
      [{ action: 'block', remote: '1.2.3.4', port: '90-80' }, 'params.rule.port', /runs backwards/],
      [{ action: 'block', remote: '1.2.3.4', port: 0 }, 'params.rule.port', /port 0 is outside/],
      [{ action: 'block', remote: '1.2.3.4', protocol: 'sctp' }, 'params.rule.protocol', /must be one of/],
      [{ action: 'block', remote: '1.2.3.4', for: '-1m' }, 'params.rule.for', /not a duration/],
      [
        { action: 'block', remote: '1.2.3.4', app: '/no/such/exe' },
        'params.rule.app',
        /"\/no\/such\/exe" does not exist/,
      ],
      [{ action: 'block', remote: '1.2.3.4', app: 4242 }, 'params.rule.app', /no app with id 4242/],
      [{ action: 'nuke' }, 'params.rule.action', /must be one of block, allow/],
      [{ action: 'block', remote: '1.2.3.4', colour: 'red' }, 'params.rule.colour', /not a known field/],
    ];
    for (const [rule, where, message] of cases) {
      await assert.rejects(bystander.relay('rules.add', { rule }), (error: PortcullisError) => {
        assert.equal(error.kind, 'invalid-input', JSON.stringify(rule));
        assert.equal(error.where, where, JSON.stringify(rule));
        assert.match(error.message, message);
        return true;
      });
    }
    // A batch with one bad rule adds none of them.
    await assert.rejects(
      bystander.call('rules.addMany', {
        rules: [
          { action: 'block', remote: '10.9.9.9' },
          { action: 'block', remote: '10.9.9.256' },
        ],
      }),
      (error: PortcullisError) => error.kind === 'invalid-input' && error.where === 'params.rules[1].remote',
    );
    await assert.rejects(
      bystander.call('rules.update', { id: kept.id, patch: { port: '0' } }),
      (error: PortcullisError) => error.where === 'params.patch.port',
    );
    await assert.rejects(
      bystander.call('rules.update', { id: 999999, patch: { enabled: false } }),
      (error: PortcullisError) => error.kind === 'not-found',
    );
    await stillServed();
  });

  test('socket abuse: each answered with a kind; the bystander keeps being served', async () => {
    const connection = async () => {
      const socket: Socket = createConnection(helper.paths.socket);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.on('error', () => {});
      const lines: Array<{
        id: unknown;
        result?: unknown;
        error?: { code: number; message: string; data: { kind: string; where?: string } };
      }> = [];
      let buffer = '';
      socket.on('data', (chunk) => {
        buffer += chunk.toString();
        for (let i; (i = buffer.indexOf('\n')) !== -1; buffer = buffer.slice(i + 1))
          lines.push(JSON.parse(buffer.slice(0, i)));
      });
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const reply = async (n: number) => {
        await eventually(
          () => lines.length,
          (count) => count >= n,
          `reply ${n}`,
          { everyMs: 5 },
        );
        return lines[n - 1]!;
      };
      return { socket, reply, closed };
    };

    const c = await connection();
    c.socket.write('{"jsonrpc":"2.0","id":1,"method":"rules.list"}\n');
    assert.deepEqual(
      [(await c.reply(1)).error?.data.kind, (await c.reply(1)).error?.message],
      ['protocol', 'send "hello" first (got "rules.list" before it)'],
    );
    c.socket.write('{"jsonrpc":"2.0","id":2,"method":"hello","params":{"protocol":1,"client":"abuser"}}\n');
    assert.ok((await c.reply(2)).result);
    c.socket.write('{"jsonrpc":"2.0","id":3,\n');
    assert.equal((await c.reply(3)).error?.code, -32700);
    assert.match((await c.reply(3)).error!.message, /malformed JSON/);
    c.socket.write(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
    assert.match((await c.reply(4)).error!.message, /not valid UTF-8/);
    c.socket.write('{"jsonrpc":"2.0","id":5,"method":"rm -rf"}\n');
    assert.deepEqual([(await c.reply(5)).error?.code, (await c.reply(5)).error?.data.kind], [-32601, 'not-found']);
    c.socket.write('{"jsonrpc":"2.0","id":6,"method":"rules.remove","params":{"ids":["1"]}}\n');
    assert.deepEqual(
      [(await c.reply(6)).error?.data.kind, (await c.reply(6)).error?.data.where],
      ['invalid-input', 'params.ids[0]'],
    );
    c.socket.write('{"jsonrpc":"2.0","id":7,"method":"enforcement.set","params":{"enabled":"no"}}\n');
    assert.match((await c.reply(7)).error!.message, /params\.enabled: must be true or false, got "no"/);
    await stillServed();

    const big = await connection();
    big.socket.write(Buffer.alloc(10 * 1024 * 1024, 0x61));
    const refusal = await big.reply(1);
    assert.equal(refusal.error?.data.kind, 'protocol');
    assert.match(refusal.error!.message, /longer than 1048576 bytes/);
    await big.closed;

    const version = await connection();
    version.socket.write('{"jsonrpc":"2.0","id":1,"method":"hello","params":{"protocol":99,"client":"future"}}\n');
    assert.match((await version.reply(1)).error!.message, /speaks protocol 1, the client speaks 99/);
    version.socket.destroy();
    c.socket.destroy();
    await stillServed();
    assert.equal((await bystander.call('status')).pid, helper.pid);
  });
});
