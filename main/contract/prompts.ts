// Ask mode's questions ("prompts"): an app wants to reach hosts no rule decides; its connections
// are held in the kernel until a person answers or the question times out. One question per app,
// listing every destination it is waiting for.
import { fail, ok, s, type InputOf, type Result } from './schema.js';
import { idSchema, parseDuration, type Action } from './rules.js';

/** The three modes: the global default when no rule decides. */
export const MODES = ['monitor', 'allowlist', 'ask'] as const;
export type Mode = (typeof MODES)[number];
/** The global default a mode stands for: allow (monitor), block (allow-list) or ask. */
export type DefaultAction = Action | 'ask';
export const DEFAULT_ACTIONS = ['allow', 'block', 'ask'] as const;

export function modeOf(defaultAction: DefaultAction): Mode {
  return defaultAction === 'allow' ? 'monitor' : defaultAction === 'block' ? 'allowlist' : 'ask';
}

export function defaultActionOf(mode: Mode): DefaultAction {
  return mode === 'monitor' ? 'allow' : mode === 'allowlist' ? 'block' : 'ask';
}

/** How long a question waits for an answer (the kernel holds a connect at most 120 s). */
export const ASK_TIMEOUT_SEC = { default: 30, min: 5, max: 110 } as const;

/** One destination an app is waiting for. */
export interface PromptHost {
  remoteAddr: string;
  /** The name the app resolved this address from (DNS answers it received), if any. */
  remoteName: string | null;
  ports: number[];
  protocols: Array<'tcp' | 'udp'>;
  /** Connections (TCP) and flows (UDP) held for it now. */
  held: number;
}

/** A question: an app's held connections, grouped by destination. */
export interface Prompt {
  id: number;
  appId: number;
  appName: string;
  exe: string | null;
  /** Processes whose connections are held. */
  pids: number[];
  /** When its first connection was held (ms since epoch). */
  askedAt: number;
  /** When its first held connection gets the timeout action (ms since epoch). */
  deadline: number;
  hosts: PromptHost[];
}

export const ANSWER_SCOPES = ['host', 'domain', 'port', 'any'] as const;
export type AnswerScope = (typeof ANSWER_SCOPES)[number];
export const ANSWER_LIFETIMES = ['once', 'until-quit', 'always'] as const;

/** How long an answer stands: only for the connections held now, until the app quits, for a while, or always. */
export type AnswerLifetime = 'once' | 'until-quit' | 'always' | { forMs: number };

/** An answer as the helper takes it (parsed). */
export interface PromptAnswer {
  id: number;
  action: Action;
  lifetime: AnswerLifetime;
  /** What a remembered answer covers besides the host: the domain it was resolved from, its port, or anything. */
  scope: AnswerScope;
  /** One of the question's hosts (its address); absent: every host of the question. */
  host: string | null;
}

/** prompts.answer's params as a sender writes them; 'allow'/'deny' and 'block' all work for the action. */
export const promptAnswerSchema = s.map(
  s.object({
    id: idSchema,
    action: s.oneOf(['allow', 'deny', 'block'] as const),
    lifetime: s.optional(s.oneOf(ANSWER_LIFETIMES)),
    /** A duration ("15m", "1h"): the answer becomes a rule that expires. Not with lifetime. */
    for: s.optional(s.map(s.string({ max: 20 }), 'a duration', parseDuration)),
    scope: s.optional(s.oneOf(ANSWER_SCOPES)),
    host: s.optional(s.string({ min: 1, max: 100 })),
  }),
  'an answer',
  (fields, where): Result<PromptAnswer> => {
    if (fields.for !== undefined && fields.lifetime !== undefined)
      return fail(`${where}.for`, 'give either a lifetime or a duration ("for"), not both');
    const lifetime: AnswerLifetime = fields.for !== undefined ? { forMs: fields.for } : (fields.lifetime ?? 'once');
    return ok({
      id: fields.id,
      action: fields.action === 'allow' ? 'allow' : 'block',
      lifetime,
      scope: fields.scope ?? 'host',
      host: fields.host ?? null,
    });
  },
);
export type PromptAnswerInput = InputOf<typeof promptAnswerSchema>;

/** What an answer did: the rules it made (none for "once") and the held connections it decided. */
export interface PromptAnswerResult {
  ruleIds: number[];
  /** Held connections or flows released or refused by it. */
  decided: number;
}

/** One line describing a question, for the CLI, notifications and logs. */
export function describePrompt(prompt: Prompt): string {
  const shown = prompt.hosts.slice(0, 3).map((host) => {
    const where = host.remoteName ?? host.remoteAddr;
    return host.ports.length === 1 ? `${where}:${host.ports[0]}` : where;
  });
  const more = prompt.hosts.length > 3 ? ` and ${prompt.hosts.length - 3} more` : '';
  return `${prompt.appName} wants to connect to ${shown.join(', ')}${more}`;
}
