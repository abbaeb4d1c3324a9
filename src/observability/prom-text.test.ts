import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSamples } from './prom-text.js';

test('reads the wanted samples with their labels, skipping comments and other metrics', () => {
  const text = [
    '# HELP a_total things', '# TYPE a_total counter',
    'a_total{code="200",route="r1"} 3',
    'a_total{code="500",route=""} 1',
    'b_total 7',
    'h_bucket{le="+Inf",x="y"} 2',
    '',
  ].join('\n');
  const got = parseSamples(text, new Set(['a_total', 'h_bucket']));
  assert.deepEqual(got.get('a_total'), [
    { labels: { code: '200', route: 'r1' }, value: 3 },
    { labels: { code: '500', route: '' }, value: 1 },
  ]);
  assert.deepEqual(got.get('h_bucket'), [{ labels: { le: '+Inf', x: 'y' }, value: 2 }]);
  assert.equal(got.has('b_total'), false);
});

test('label values keep escaped quotes, backslashes, commas and newlines; a name prefix is not a match', () => {
  const text = 'm{route="a\\"b\\\\c,d}",uri="x\\ny"} 1.5e3\nm_other 2\n';
  const got = parseSamples(text, new Set(['m']));
  assert.deepEqual(got.get('m'), [{ labels: { route: 'a"b\\c,d}', uri: 'x\ny' }, value: 1500 }]);
});

test('a malformed line is skipped, not thrown on', () => {
  const got = parseSamples('m{route="unterminated 1\nm{route=x} 2\nm{route="ok"} 3\nm{route="v"} notanumber\n', new Set(['m']));
  assert.deepEqual(got.get('m'), [{ labels: { route: 'ok' }, value: 3 }]);
});
