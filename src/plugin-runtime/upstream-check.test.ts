import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkedInlineUpstream } from './upstream-check.js';

test('an inline upstream is validated and normalised, errors naming the field', () => {
  const up = checkedInlineUpstream({ nodes: { '127.0.0.1:8080': 2 } }, 'upstream');
  assert.equal(up.type, 'roundrobin', 'defaults filled in');
  assert.throws(() => checkedInlineUpstream({ nodes: {}, type: 'fastest' }, 'rules[0].upstream'), /^Error: rules\[0\]\.upstream: /);
});

test('service discovery in a plugin\'s inline upstream is refused, naming the field and the way out', () => {
  for (const [value, named] of [
    [{ discovery_type: 'dns', service_name: 'api.test' }, 'service_name'],
    [{ type: 'roundrobin', discovery_type: 'consul' }, 'discovery_type'],
    [{ nodes: { '127.0.0.1:80': 1 }, discovery_args: { namespace_id: 'n' } }, 'discovery_args'],
  ] as const) {
    assert.throws(() => checkedInlineUpstream(value, 'targets[1].upstream'), (err: Error) => {
      assert.match(err.message, new RegExp(`^targets\\[1\\]\\.upstream\\.${named}: `));
      assert.match(err.message, /upstream_id pointing at an upstream with discovery/);
      return true;
    });
  }
});
