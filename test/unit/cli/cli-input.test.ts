// The CLI's bad-input catalogue: every case exits 2 with a message naming what and where, before
// any helper is contacted (the socket given does not exist, so reaching it would exit 1 instead).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../../main/cli/main.js';

async function run(...argv: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await main(['--socket', '/nonexistent/portcullis.sock', ...argv], {
    stdout: (s) => stdout.push(s),
    stderr: (s) => stderr.push(s),
    env: {},
  });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

const catalogue: Array<[string[], RegExp]> = [
  [['block', '1.2.3'], /TARGET: "1.2.3" is not an IPv4 address: it needs four numbers/],
  [['block', '1.2.3.256'], /TARGET: .*part 4 is 256, more than 255/],
  [['block', '::g'], /TARGET: "::g" is not an IPv6 address: "g" is not a group of 1-4 hex digits/],
  [['block', '01.2.3.4'], /TARGET: .*leading zero/],
  [['block', '10.0.0.0/33'], /TARGET: .*prefix length 33 is more than 32/],
  [['block', '2001:db8::/129'], /TARGET: .*prefix length 129 is more than 128/],
  [['block', '10.0.0.0/-1'], /TARGET: .*prefix length "-1" must be a whole number/],
  [['block', '1.2.3.4', '--port', '0'], /--port: port 0 is outside 1-65535/],
  [['block', '1.2.3.4', '--port', '65536'], /--port: port 65536 is outside 1-65535/],
  [['block', '1.2.3.4', '--port', 'a-b'], /--port: range start "a" is not a number/],
  [['block', '1.2.3.4', '--port', '90-80'], /--port: range "90-80" runs backwards/],
  [['block', '1.2.3.4', '--proto', 'sctp'], /--proto: must be one of any, tcp, udp, icmp, got "sctp"/],
  [['allow', '1.2.3.4', '--dir', 'sideways'], /--dir: must be one of out, in, both, got "sideways"/],
  [['block', '1.2.3.4', '--for', '10'], /--for: "10" is not a duration/],
  [['block', '1.2.3.4', '--for', '0s'], /--for: "0s" is zero/],
  [['block', '1.2.3.4', '--for', '400d'], /--for: "400d" is longer than a year/],
  [['block', '1.2.3.4', '--for=-5m'], /--for: "-5m" is not a duration/],
  [['block', '1.2.3.4', '--for', '-5m'], /'--for' argument is ambiguous/],
  [
    ['block', '1.2.3.4', '--app', 'no-such-program-pcl'],
    /--app: "no-such-program-pcl" is not an app id, and no "no-such-program-pcl" was found in PATH/,
  ],
  [['block', '1.2.3.4', '--app', './no/such/file'], /--app: ".*\/no\/such\/file" does not exist/],
  [['block', '1.2.3.4', '--proto', 'icmp', '--port', '80'], /--port: ICMP has no ports/],
  [['block'], /TARGET is missing/],
  [['block', '1.2.3.4', '--prot', 'tcp'], /Unknown option '--prot'/],
  [['block', '1.2.3.4', '--port'], /--port <value>' argument missing/],
  [['frobnicate'], /unknown command "frobnicate"/],
  [['disable', '--for', 'soon'], /--for: "soon" is not a duration/],
  [['unblock', '1.2.3'], /TARGET: "1.2.3" is not an IPv4 address/],
  [['settings', '--default-action', 'deny'], /--default-action: must be allow or block, got "deny"/],
  [['settings', '--retention-days', '0'], /--retention-days: .*between 1 and 3650, got 0/],
  [['settings', '--retention-days', 'week'], /--retention-days: "week" is not a whole number/],
  [['settings', '--notify-on-first-block', 'yes'], /--notify-on-first-block: must be on or off/],
  [['settings', '--authorized-users', '1000,bob'], /--authorized-users: "bob" is not a uid/],
  [['app-default', 'firefox', 'allow'], /APP-ID: give an app id .*got "firefox"/],
  [['app-default', '3', 'maybe'], /ACTION: must be allow, block or global, got "maybe"/],
  [['app-default', '3'], /ACTION: must be allow, block or global$/],
];

for (const [argv, message] of catalogue) {
  test(`portcullis ${argv.join(' ')} -> exit 2`, async () => {
    const result = await run(...argv);
    assert.equal(result.code, 2, `exit code for ${argv.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stdout, '');
  });
}

test('a valid command with no helper exits 1 and says the helper is not running', async () => {
  const result = await run('block', '1.2.3.4', '--port', '443', '--proto', 'tcp');
  assert.equal(result.code, 1);
  assert.match(result.stderr, /helper is not running/);
});

test("help lists every command; a command's --help lists its flags", async () => {
  const help = await run('help');
  assert.equal(help.code, 0);
  for (const name of ['status', 'rules', 'block', 'enable', 'apps', 'connections', 'doctor', 'helper'])
    assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
  // What may let more traffic through is marked: the helper will ask for an administrator.
  for (const name of ['allow', 'unblock', 'disable', 'app-default', 'settings'])
    assert.match(help.stdout, new RegExp(`^\\* ${name} `, 'm'));
  assert.match(
    help.stdout,
    /^\* may let more traffic through: unless run as root, the helper asks polkit for an administrator/m,
  );
  const block = await run('block', '--help');
  assert.equal(block.code, 0);
  for (const flag of ['--app', '--port', '--proto', '--dir', '--for', '--note', '--json', '--socket'])
    assert.ok(block.stdout.includes(flag), flag);
});
