import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkedTracestate, formatTraceparent, parseTraceparent } from './trace-context.js';
import { isSpanId, isTraceId, newSpanId, newTraceId } from './ids.js';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

test('a valid traceparent gives the caller\'s trace, span and sampled flag', () => {
  assert.deepEqual(parseTraceparent(TP, 'rojo=00f067aa0ba902b7'), {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true, traceState: 'rojo=00f067aa0ba902b7',
  });
  assert.equal(parseTraceparent(TP.replace(/01$/, '00'), undefined)?.sampled, false);
  // other flag bits do not make it sampled; bit 0 does
  assert.equal(parseTraceparent(TP.replace(/01$/, '02'), undefined)?.sampled, false);
  assert.equal(parseTraceparent(TP.replace(/01$/, '03'), undefined)?.sampled, true);
  assert.equal(parseTraceparent(` ${TP} `, undefined)?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
});

test('a malformed traceparent is ignored (the gateway starts a trace)', () => {
  for (const bad of [
    '', 'garbage', TP.toUpperCase(), TP.replace('00-', 'ff-'), TP.replace('00-', '0x-'), `${TP}-extra`,
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01', TP.replace(/01$/, 'zz'), TP.replace(/-01$/, '_01'),
  ]) assert.equal(parseTraceparent(bad, undefined), undefined, bad);
  assert.equal(parseTraceparent(undefined, 'a=b'), undefined);
});

test('a later version may carry more fields after the flags', () => {
  assert.equal(parseTraceparent(`${TP.replace(/^00/, 'cc')}-what-comes-next`, undefined)?.spanId, '00f067aa0ba902b7');
  assert.equal(parseTraceparent(`${TP.replace(/^00/, 'cc')}x`, undefined), undefined);
});

test('tracestate: members kept in order, a malformed one drops it whole, at most 32 members', () => {
  assert.equal(checkedTracestate('congo=t61rcWkgMzE, rojo=00f067aa0ba902b7 ,,'), 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
  assert.equal(checkedTracestate('tenant@vendor=x'), 'tenant@vendor=x');
  assert.equal(checkedTracestate('Upper=x'), '');
  assert.equal(checkedTracestate('novalue'), '');
  assert.equal(checkedTracestate('k=a,b'), '');
  assert.equal(checkedTracestate('k=trailing '), 'k=trailing');
  assert.equal(checkedTracestate(Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(',')).split(',').length, 32);
  assert.equal(checkedTracestate(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')), '');
  assert.equal(checkedTracestate(undefined), '');
});

test('new ids are valid, distinct and round-trip through a traceparent', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const t = newTraceId();
    const s = newSpanId();
    assert.ok(isTraceId(t) && isSpanId(s));
    ids.add(t);
    const back = parseTraceparent(formatTraceparent(t, s, i % 2 === 0), undefined)!;
    assert.deepEqual([back.traceId, back.spanId, back.sampled], [t, s, i % 2 === 0]);
  }
  assert.equal(ids.size, 2000);
});
