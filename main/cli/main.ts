// The portcullis command: parse, run one command, map failures to exit codes
// (0 success, 2 bad input, 1 anything else) with a message that says what and where.
import { PortcullisError } from '../contract/index.js';
import { HelperClient } from '../client/helper-client.js';
import { findCommand, parseCommandArgs, GLOBAL_FLAGS } from './args.js';
import { commands } from './commands/index.js';
import type { Command, FlagSpec } from './command.js';
import { startTerminalAgent, type TerminalAgent } from './terminal-agent.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stderr without a newline, when it is a terminal (progress lines). */
  terminal?: ((text: string) => void) | null;
  env: NodeJS.ProcessEnv;
  /** Lets polkit ask for an administrator's password here, for commands that may loosen the firewall. */
  startAgent?(): Promise<TerminalAgent | null>;
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(`${text}\n`),
  stderr: (text) => process.stderr.write(`${text}\n`),
  terminal: process.stderr.isTTY ? (text) => process.stderr.write(text) : null,
  env: process.env,
  startAgent: startTerminalAgent,
};

const JSON_FLAG: FlagSpec = { type: 'boolean', description: 'print JSON only' };

function flagLines(flags: Record<string, FlagSpec>): string[] {
  return Object.entries(flags).map(
    ([name, spec]) => `  --${name}${spec.placeholder ? ` ${spec.placeholder}` : ''}`.padEnd(34) + spec.description,
  );
}

export function usage(command?: Command): string {
  if (command) {
    const flags = { ...command.flags, ...(command.json ? { json: JSON_FLAG } : {}), ...GLOBAL_FLAGS };
    const administrator = command.mayLoosen
      ? ['', 'What lets more traffic through needs an administrator (polkit asks for a password; root never).']
      : [];
    return [
      `usage: portcullis ${command.name} ${command.synopsis}`.trimEnd(),
      '',
      command.summary,
      ...administrator,
      '',
      'flags:',
      ...flagLines(flags),
    ].join('\n');
  }
  return [
    'usage: portcullis [--socket PATH] COMMAND [flags]',
    '',
    'commands:',
    ...commands.map((c) => `${c.mayLoosen ? '* ' : '  '}${c.name.padEnd(12)} ${c.summary}`),
    '',
    '* may let more traffic through: unless run as root, the helper asks polkit for an administrator',
    "  (org.portcullis.manage), who authenticates in the desktop's dialog or at this terminal.",
    '',
    'Run "portcullis COMMAND --help" for its flags. Exit codes: 0 success, 2 bad input, 1 other failure.',
  ].join('\n');
}

export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let client: HelperClient | null = null;
  let agent: TerminalAgent | null = null;
  try {
    const { command: name, rest } = findCommand(argv);
    if (name === null || name === 'help') {
      const topic = name === 'help' ? commands.find((c) => c.name === findCommand(rest).command) : undefined;
      io.stdout(usage(topic));
      return name === null && !rest.includes('--help') ? EXIT_BAD_INPUT : EXIT_OK;
    }
    const command = commands.find((c) => c.name === name);
    if (!command)
      throw new PortcullisError(
        'invalid-input',
        `unknown command "${name}"; commands: ${commands.map((c) => c.name).join(', ')}`,
        { where: 'COMMAND' },
      );
    const parsed = parseCommandArgs(rest, { ...command.flags, ...(command.json ? { json: JSON_FLAG } : {}) });
    if (parsed.flags.help) {
      io.stdout(usage(command));
      return EXIT_OK;
    }
    const socketPath = (parsed.flags.socket as string | undefined) ?? (io.env.PORTCULLIS_SOCKET || undefined);
    if (command.mayLoosen?.(parsed) && process.getuid?.() !== 0) agent = (await io.startAgent?.()) ?? null;
    return await command.run({
      positionals: parsed.positionals,
      flags: parsed.flags,
      json: parsed.flags.json === true,
      socketPath,
      connect: async () => (client ??= await HelperClient.connect({ socketPath, clientName: `cli ${name}` })),
      out: io.stdout,
      note: io.stderr,
      terminal: io.terminal ?? null,
    });
  } catch (error) {
    if (error instanceof PortcullisError) {
      io.stderr(`portcullis: ${error.message}`);
      return error.kind === 'invalid-input' ? EXIT_BAD_INPUT : EXIT_FAILURE;
    }
    io.stderr(`portcullis: internal error: ${(error as Error).stack ?? String(error)}`);
    return EXIT_FAILURE;
  } finally {
    (client as HelperClient | null)?.close();
    (agent as TerminalAgent | null)?.stop();
  }
}
