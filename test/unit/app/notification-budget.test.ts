import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotificationBudget } from '../../../main/app/notification-budget.js';

test('a budget allows maxPerWindow notices in any window and hands the held-back count to the next', () => {
  let now = 0;
  const budget = new NotificationBudget({ now: () => now, maxPerWindow: 2, windowMs: 1_000 });
  assert.equal(budget.spend(), 0);
  now = 400;
  assert.equal(budget.spend(3), 0);
  assert.equal(budget.spend(4), null, 'the third in the window is held back');
  assert.equal(budget.spend(), null);
  now = 1_001; // the first notice left the window, the second has not
  assert.equal(budget.spend(), 5, 'the notice sums up what was held back');
  assert.equal(budget.spend(), null);
  now = 1_401;
  assert.equal(budget.spend(2), 1, 'only what was held back since the last notice');
  now = 5_000;
  assert.equal(budget.spend(), 0, 'the count started over');
});
