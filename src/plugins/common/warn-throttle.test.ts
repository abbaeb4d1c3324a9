import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WarnThrottle } from './warn-throttle.js';

test('the first problem is said at once, the next ones summed into one line at the end of the interval', async () => {
  let clock = 0;
  let pending = 0;
  const lines: number[] = [];
  const throttle = new WarnThrottle(40, () => {
    if (pending === 0) return false;
    lines.push(pending);
    pending = 0;
    return true;
  }, () => clock);
  const problem = (): void => { pending++; throttle.due(); };
  problem();
  assert.deepEqual(lines, [1]);
  clock = 10;
  problem();
  problem();
  assert.deepEqual(lines, [1], 'kept back within the interval');
  clock = 40;
  // the timer set at clock 10 fires 30 ms later (real time)
  for (let i = 0; i < 100 && lines.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(lines, [1, 2]);
  clock = 200;
  problem();
  assert.deepEqual(lines, [1, 2, 1], 'after a quiet interval: at once again');
});
