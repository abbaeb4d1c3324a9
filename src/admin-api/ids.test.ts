import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdminError } from './errors.js';
import { checkPathId, IdGenerator } from './ids.js';

describe('ids', () => {
  it('accepts APISIX ids and refuses path characters, dot-only ids and overlong ids', () => {
    for (const ok of ['1', 'route-1', 'a_b.c', 'x'.repeat(64)]) checkPathId(ok, 'route');
    for (const bad of ['', '.', '..', 'a/b', 'a b', '%2F', 'x'.repeat(65), 'é']) {
      assert.throws(() => checkPathId(bad, 'route'), (e: unknown) => e instanceof AdminError && e.status === 400, bad);
    }
    checkPathId('jack_1-x', 'consumer', { username: true });
    assert.throws(() => checkPathId('jack.x', 'consumer', { username: true }), AdminError);
  });

  it('generates 20-digit ids that sort in creation order, even within one millisecond', () => {
    const gen = new IdGenerator();
    const ids = [gen.next(1_000), gen.next(1_000), gen.next(1_000), gen.next(999), gen.next(2_000)];
    for (const id of ids) assert.match(id, /^\d{20}$/);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    assert.match(new IdGenerator().next(), /^\d{20}$/);
  });
});
