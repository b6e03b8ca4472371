// rules: list every rule.
import type { Command } from '../command.js';
import { rulesTable } from '../format.js';

export const rulesCommand: Command = {
  name: 'rules',
  summary: 'list the rules',
  synopsis: '[--json]',
  flags: {},
  json: true,
  async run(context) {
    const rules = await (await context.connect()).call('rules.list');
    context.out(context.json ? JSON.stringify(rules) : rulesTable(rules));
    return 0;
  },
};
