import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forbidsStoring, parseDirectives, parseVary, replayable, responseFreshness, varySignature } from './http-rules.js';

describe('proxy-cache HTTP rules', () => {
  it('parses Cache-Control directives as APISIX does (numbers as numbers, bare tokens true)', () => {
    assert.deepEqual(parseDirectives('private, max-age=600'), { private: true, 'max-age': 600 });
    assert.deepEqual(parseDirectives('Public,S-MAXAGE=10, community="UCI"'), { public: true, 's-maxage': 10, community: 'UCI' });
    assert.deepEqual(parseDirectives(undefined), {});
  });

  it("takes a response's freshness from s-maxage, then max-age, then Expires", () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(responseFreshness({ 's-maxage': 5, 'max-age': 60 }, undefined, now), 5);
    assert.equal(responseFreshness({ 'max-age': 60 }, 'Thu, 01 Jan 2026 00:10:00 GMT', now), 60);
    assert.equal(responseFreshness({}, 'Thu, 01 Jan 2026 00:10:00 GMT', now), 600);
    assert.equal(responseFreshness({}, 'Wed, 31 Dec 2025 00:00:00 GMT', now), 0);
    assert.equal(responseFreshness({}, 'garbage', now), 0);
    assert.equal(responseFreshness({ public: true }, undefined, now), undefined);
  });

  it('never stores private, no-store or no-cache responses', () => {
    for (const h of ['private', 'no-store', 'no-cache, max-age=60']) assert.equal(forbidsStoring(parseDirectives(h)), true, h);
    assert.equal(forbidsStoring(parseDirectives('public, max-age=60')), false);
  });

  it('reads Vary into sorted lower-case names; * is never stored', () => {
    assert.deepEqual(parseVary('User-Agent, accept-encoding'), ['accept-encoding', 'user-agent']);
    assert.deepEqual(parseVary(undefined), []);
    assert.equal(parseVary('Accept, *'), undefined);
  });

  it('signs a request by the values of the Vary headers, a missing one as empty', () => {
    const h = (v: Record<string, string>) => (n: string): string | undefined => v[n];
    const a = varySignature(['accept-language'], h({ 'accept-language': 'en' }));
    assert.equal(a, varySignature(['accept-language'], h({ 'accept-language': 'en', other: 'x' })));
    assert.notEqual(a, varySignature(['accept-language'], h({ 'accept-language': 'fr' })));
    assert.notEqual(a, varySignature(['accept-language'], h({})));
    assert.equal(varySignature([], h({})), '');
  });

  it('does not replay hop-by-hop headers, Content-Length or rate-limit counters', () => {
    for (const n of ['connection', 'transfer-encoding', 'content-length', 'apisix-cache-status', 'x-ratelimit-remaining']) {
      assert.equal(replayable(n), false, n);
    }
    assert.equal(replayable('content-type'), true);
  });
});
