// OpenSnitch rule files as its daemon writes them (one rule per file), for the migration tests.

export type OpenSnitchOperator = {
  type: string;
  operand: string;
  data?: string;
  sensitive?: boolean;
  list?: OpenSnitchOperator[] | null;
};

export const simple = (operand: string, data: string): OpenSnitchOperator => ({ type: 'simple', operand, data });
export const all = (...list: OpenSnitchOperator[]): OpenSnitchOperator => ({
  type: 'list',
  operand: 'list',
  data: '',
  list,
});

/** One rule file's text; `extra` adds or overrides top-level fields (a duration, a description). */
export function openSnitchRuleText(
  name: string,
  action: string,
  operator: OpenSnitchOperator,
  extra: Record<string, unknown> = {},
): string {
  const rule = {
    created: '2024-05-02T09:30:00.000000000+02:00',
    updated: '2024-05-02T09:30:00.000000000+02:00',
    name,
    enabled: true,
    precedence: false,
    action,
    duration: 'always',
    operator: { sensitive: false, list: [], ...operator },
    ...extra,
  };
  return `${JSON.stringify(rule, null, 2)}\n`;
}
