import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxCountFor, parseRewrite } from './rewrite.js';

test('parseRewrite: kinds by prefix, arXiv also without its category, at most maxCount queries, none', () => {
  assert.deepEqual(parseRewrite(' internet: gold price trend \nprivate: wallet, password\ncs.AI: attention, neuron\njunk\n', 5), [
    { kind: 'internet', queries: ['gold price trend'] },
    { kind: 'private', queries: ['wallet', 'password'] },
    { kind: 'arxiv', queries: ['attention', 'neuron'], arxivCategory: 'cs.AI' },
    { kind: 'arxiv', queries: ['attention', 'neuron'], arxivCategory: '' },
  ]);
  assert.equal(parseRewrite('internet: a\ninternet: b\ninternet: c', 2).length, 2);
  assert.deepEqual(parseRewrite('none', 3), []);
  assert.deepEqual(parseRewrite('no idea', 3), []);
  assert.deepEqual(parseRewrite('internet:', 3), []);
});

test('maxCountFor: search_context_size low/medium/high, else the configured count', () => {
  assert.deepEqual([maxCountFor({ search_context_size: 'low' }, 3), maxCountFor({ search_context_size: 'high' }, 3), maxCountFor({}, 4), maxCountFor(undefined, 2)], [1, 5, 4, 2]);
});
