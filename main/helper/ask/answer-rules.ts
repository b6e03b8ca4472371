// What an answer to a question means: which of its held connections it decides, and (unless it is
// for this time only) the ordinary rules that remember it, scoped to the app. Pure.
import {
  PortcullisError,
  parseRemote,
  type ParsedDraft,
  type PromptAnswer,
  type Remote,
} from '../../contract/index.js';
import type { HeldConnection } from './question-book.js';

export interface AnsweredQuestion {
  appId: number;
  appName: string;
  held: HeldConnection[];
}

export interface AnswerPlan {
  /** The question's held connections the answer decides. */
  covered: HeldConnection[];
  /** Rules to add (none for an answer given once). */
  drafts: ParsedDraft[];
}

const invalid = (where: string, message: string) =>
  new PortcullisError('invalid-input', `${where}: ${message}`, { where });

function distinct<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}

function addressRemote(address: string): Remote {
  const remote = parseRemote(address);
  if (!remote.ok) throw new Error(`a held connection's address ${address} does not parse`);
  return remote.value;
}

export function planAnswer(answer: PromptAnswer, question: AnsweredQuestion): AnswerPlan {
  const base = answer.host === null ? question.held : question.held.filter((held) => held.remoteAddr === answer.host);
  if (base.length === 0)
    throw invalid('params.host', `${question.appName} is not waiting for ${answer.host} (see "portcullis prompts")`);

  let covered: HeldConnection[];
  let terms: Array<Pick<ParsedDraft, 'remote' | 'ports' | 'protocol'>>;
  switch (answer.scope) {
    case 'host':
      covered = base;
      terms = distinct(base, (held) => held.remoteAddr).map((held) => ({
        remote: addressRemote(held.remoteAddr),
        ports: null,
        protocol: 'any',
      }));
      break;
    case 'domain': {
      const names = new Set(base.flatMap((held) => (held.remoteName ? [held.remoteName] : [])));
      if (names.size === 0)
        throw invalid(
          'params.scope',
          `no DNS name was seen for ${answer.host ?? 'these hosts'}: answer for the host, the port or any destination`,
        );
      covered = question.held.filter((held) => held.remoteName !== null && names.has(held.remoteName));
      terms = [...names].map((name) => ({
        remote: { kind: 'domain', name, subdomains: false },
        ports: null,
        protocol: 'any',
      }));
      break;
    }
    case 'port': {
      const ports = distinct(base, (held) => `${held.protocol}/${held.remotePort}`);
      const keys = new Set(ports.map((held) => `${held.protocol}/${held.remotePort}`));
      covered = question.held.filter((held) => keys.has(`${held.protocol}/${held.remotePort}`));
      terms = ports.map((held) => ({
        remote: { kind: 'any' },
        ports: { from: held.remotePort, to: held.remotePort },
        protocol: held.protocol,
      }));
      break;
    }
    case 'any':
      covered = question.held;
      terms = [{ remote: { kind: 'any' }, ports: null, protocol: 'any' }];
      break;
  }

  if (answer.lifetime === 'once') return { covered, drafts: [] };
  const lifetime = answer.lifetime;
  const note =
    lifetime === 'until-quit'
      ? `answered for ${question.appName} until it quits`
      : `answered for ${question.appName} when it asked`;
  const drafts = terms.map(
    (term): ParsedDraft => ({
      ...term,
      action: answer.action,
      app: question.appId,
      direction: 'out',
      expiry: typeof lifetime === 'object' ? { in: lifetime.forMs } : { at: null },
      note,
      enabled: true,
    }),
  );
  return { covered, drafts };
}
