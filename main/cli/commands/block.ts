// block TARGET / allow TARGET: add a rule; print its id (--json: the rule). Blocking is free; an
// allow rule needs an administrator.
import { describeRule, type Action } from '../../contract/index.js';
import type { Command } from '../command.js';
import { RULE_FLAGS, buildDraft } from './rule-draft.js';

function ruleCommand(action: Action): Command {
  return {
    name: action,
    summary: `${action} traffic to an address, CIDR or domain`,
    synopsis:
      'TARGET [--app EXE-PATH|APP-ID] [--port N|A-B] [--proto P] [--dir out|in|both] [--for DURATION] [--note TEXT]',
    flags: RULE_FLAGS,
    json: true,
    ...(action === 'allow' ? { mayLoosen: () => true } : {}),
    async run(context) {
      const draft = buildDraft(action, context);
      const client = await context.connect();
      const rule = await client.call('rules.add', { rule: draft });
      if (context.json) context.out(JSON.stringify(rule));
      else {
        context.out(String(rule.id));
        context.note(
          `rule ${rule.id}: ${describeRule(rule)}${rule.remote.kind === 'domain' ? ' (enforced for the addresses apps resolve it to)' : ''}`,
        );
      }
      return 0;
    },
  };
}

export const blockCommand = ruleCommand('block');
export const allowCommand = ruleCommand('allow');
