// What a CLI command is. Each command is one module in commands/, registered in commands/index.ts.
import type { HelperClient } from '../client/helper-client.js';

export type FlagSpec = { type: 'string' | 'boolean'; description: string; placeholder?: string };

export interface CommandContext {
  /** Positional arguments after the command name. */
  positionals: string[];
  /** Flag values by name (strings or booleans), as parsed against the command's flags. */
  flags: Record<string, string | boolean | undefined>;
  /** --json: print JSON only on stdout. */
  json: boolean;
  socketPath: string | undefined;
  /** Connects to the helper (the command closes nothing: the CLI closes it on exit). */
  connect(): Promise<HelperClient>;
  out(text: string): void;
  /** Human notes for a person at a terminal; stderr, so stdout stays scriptable. */
  note(text: string): void;
  /** Writes to stderr without a newline when it is a terminal (a progress line); null otherwise. */
  terminal: ((text: string) => void) | null;
}

export interface Command {
  name: string;
  summary: string;
  /** Argument synopsis after the command name ("TARGET [flags]"). */
  synopsis: string;
  flags: Record<string, FlagSpec>;
  /** Read commands accept --json. */
  json: boolean;
  /**
   * Whether this run may loosen the firewall (the helper then asks polkit for an administrator; the
   * CLI offers polkit a terminal agent, and help marks the command).
   */
  mayLoosen?(args: Pick<CommandContext, 'positionals' | 'flags'>): boolean;
  /** Resolves to the exit code; throws PortcullisError for failures (the CLI maps kinds to codes). */
  run(context: CommandContext): Promise<number>;
}
