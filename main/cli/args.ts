// Command-line parsing: global flags anywhere, the first bare word is the command, then the
// command's own flags (strict: an unknown flag is bad input, located by its name).
import { parseArgs } from 'node:util';
import { PortcullisError } from '../contract/index.js';
import type { FlagSpec } from './command.js';

export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  socket: {
    type: 'string',
    description: 'helper socket (default: $PORTCULLIS_SOCKET or /run/portcullis/helper.sock)',
    placeholder: 'PATH',
  },
  help: { type: 'boolean', description: 'show help' },
};

export interface ParsedCommandLine {
  command: string | null;
  positionals: string[];
  flags: Record<string, string | boolean | undefined>;
}

/** Finds the command word: the first argument that is neither a flag nor a global flag's value. */
export function findCommand(argv: readonly string[]): { command: string | null; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    if (token === '--socket') {
      i++;
      continue;
    }
    if (token.startsWith('-')) continue;
    return { command: token, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { command: null, rest: [...argv] };
}

export function parseCommandArgs(rest: string[], flags: Record<string, FlagSpec>): Omit<ParsedCommandLine, 'command'> {
  const options = Object.fromEntries(
    Object.entries({ ...GLOBAL_FLAGS, ...flags }).map(([name, spec]) => [name, { type: spec.type }]),
  );
  try {
    const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
    return { positionals, flags: values as Record<string, string | boolean | undefined> };
  } catch (error) {
    // node's messages name the flag ("Unknown option '--prot'", "Option '--port <value>' argument missing").
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new PortcullisError('invalid-input', `${message}; see "portcullis help"`, { where: 'arguments' });
  }
}
