import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  escapeLabelValue,
  MAX_LABEL_VALUE_CHARS,
  renderFamilies,
  type MetricFamily,
} from '../../../../main/helper/metrics/exposition.js';
import { promtoolCheckMetrics } from '../../../support/promtool.js';

test('label values: backslash, quote and newline escaped; other controls and lone surrogates replaced', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  assert.equal(escapeLabelValue('tab\there\u0000\u007f'), 'tab\uFFFDhere\uFFFD\uFFFD');
  assert.equal(escapeLabelValue('x\uD800y\uDC00z'), 'x\uFFFDy\uFFFDz');
  assert.equal(escapeLabelValue('ok \u{1F525} Ünïcode'), 'ok \u{1F525} Ünïcode', 'pairs and non-ASCII stay');
});

test('label values are cut to a bound, never inside a surrogate pair', () => {
  const long = escapeLabelValue('/opt/' + 'a'.repeat(1000));
  assert.equal(long.length, MAX_LABEL_VALUE_CHARS);
  assert.ok(long.endsWith('\u2026'));
  const emoji = escapeLabelValue('\u{1F525}'.repeat(300));
  assert.ok(emoji.length <= MAX_LABEL_VALUE_CHARS);
  assert.doesNotMatch(emoji, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
});

test('a family is HELP, TYPE and its samples; hostile label values still parse for promtool', async () => {
  const families: MetricFamily[] = [
    {
      name: 'demo_things_total',
      help: 'Things counted.\nSecond line with a \\ backslash.',
      type: 'counter',
      samples: [
        { labels: { app: 'evil"} 1\nfake_metric 2 #' }, value: 3 },
        { labels: { app: 'back\\slash' }, value: 12345678901234567890n },
      ],
    },
    {
      name: 'demo_level',
      help: 'A level.',
      type: 'gauge',
      samples: [{ value: 0.25 }, { labels: { k: 'v' }, value: NaN }],
    },
  ];
  const text = renderFamilies(families);
  assert.equal(
    text,
    [
      '# HELP demo_things_total Things counted.\\nSecond line with a \\\\ backslash.',
      '# TYPE demo_things_total counter',
      'demo_things_total{app="evil\\"} 1\\nfake_metric 2 #"} 3',
      'demo_things_total{app="back\\\\slash"} 12345678901234567890',
      '# HELP demo_level A level.',
      '# TYPE demo_level gauge',
      'demo_level 0.25',
      'demo_level{k="v"} NaN',
      '',
    ].join('\n'),
  );
  const verdict = await promtoolCheckMetrics(text);
  assert.ok(verdict.ok, verdict.output);
});

test('our own mistakes throw: bad names, counters without _total, a series or family given twice', () => {
  const one = (family: Partial<MetricFamily>) => [
    { name: 'x_total', help: 'h', type: 'counter' as const, samples: [{ value: 1 }], ...family },
  ];
  assert.throws(() => renderFamilies(one({ name: 'bad-name_total' })), /bad metric name/);
  assert.throws(() => renderFamilies(one({ name: 'x_bytes' })), /must end in _total/);
  assert.throws(() => renderFamilies(one({ samples: [{ labels: { 'bad-label': 'v' }, value: 1 }] })), /bad label name/);
  assert.throws(() => renderFamilies(one({ samples: [{ labels: { __name__: 'v' }, value: 1 }] })), /bad label name/);
  assert.throws(() => renderFamilies(one({ samples: [{ value: 1 }, { value: 2 }] })), /given twice/);
  assert.throws(() => renderFamilies([...one({}), ...one({})]), /given twice/);
});
