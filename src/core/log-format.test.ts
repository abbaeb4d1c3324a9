import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPretty, resolveLogFormat } from './log-format.js';

describe('resolveLogFormat', () => {
  it('auto is pretty on a terminal and JSON otherwise; explicit settings win', () => {
    assert.equal(resolveLogFormat('auto', true), 'pretty');
    assert.equal(resolveLogFormat('auto', false), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
    assert.equal(resolveLogFormat('pretty', false), 'pretty');
  });
});

describe('formatPretty', () => {
  const line = JSON.stringify({
    level: 30, time: '2026-12-03T13:23:09.368Z', pid: 4242, module: 'primary', msg: 'gatehouse started',
    listen: [{ host: '0.0.0.0', port: 9080, tls: false }], store: 'sqlite', note: 'two words', revision: 3,
  });

  it('writes time, level, pid, module and message, then the other fields as key=value', () => {
    assert.equal(formatPretty(line, false),
      '13:23:09.368 INFO  [4242] primary: gatehouse started listen=0.0.0.0:9080 store=sqlite note="two words" revision=3\n');
  });

  it('writes listener addresses as host:port, other objects as JSON', () => {
    const out = formatPretty(JSON.stringify({
      level: 40, time: '2026-12-03T00:00:00.000Z', pid: 1, msg: 'm',
      listen: [{ host: '0.0.0.0', port: 9080, tls: false }, { host: '::1', port: 9443, tls: true }],
      admin: { host: '127.0.0.1', port: 9180 }, other: { host: 'h', port: 1, extra: true }, none: [],
    }), false);
    assert.equal(out, '00:00:00.000 WARN  [1] m listen=0.0.0.0:9080,[::1]:9443(tls) admin=127.0.0.1:9180 other={"host":"h","port":1,"extra":true} none=[]\n');
  });

  it('colours the level and dims the rest only when asked', () => {
    const colored = formatPretty(line, true);
    assert.ok(colored.includes('\x1b[32mINFO \x1b[0m'));
    assert.ok(!formatPretty(line, false).includes('\x1b['));
  });

  it('puts an error stack on indented lines below the entry', () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (x.js:1:1)' };
    const out = formatPretty(JSON.stringify({ level: 50, time: '2026-12-03T00:00:00.000Z', pid: 1, msg: 'failed', err }), false);
    assert.equal(out, '00:00:00.000 ERROR [1] failed err=boom\n    Error: boom\n        at f (x.js:1:1)\n');
  });

  it('passes a line that is not a JSON object through', () => {
    assert.equal(formatPretty('plain text', false), 'plain text\n');
    assert.equal(formatPretty('[1,2]\n', false), '[1,2]\n');
  });
});
