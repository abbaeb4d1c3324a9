import { test } from 'node:test';
import assert from 'node:assert/strict';
import botDetect, { crawlerToken, MAX_LOGGED_TOKEN } from './bot-detect.js';
import { createTestContext, prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

const ua = (value: string | undefined) => createTestContext(value === undefined ? {} : { headers: { 'user-agent': value } });
const REFUSED = { status: 403, body: 'Invalid User-Agent' };

test('schema: defaults, field errors, a bad regex names its field and item', () => {
  const p = prepareWith(botDetect, {});
  assert.equal(p.status, 403);
  assert.equal(p.message, 'Invalid User-Agent');
  assert.match(schemaError(botDetect.schema, { allow: 'x' })!, /property "allow"/);
  assert.match(schemaError(botDetect.schema, { deny: [''] })!, /property "deny"/);
  assert.match(schemaError(botDetect.schema, { blocked_code: 700 })!, /property "blocked_code"/);
  assert.throws(() => prepareWith(botDetect, { deny: ['ok', '(unclosed'] }), /property "deny" validation failed: item 2: invalid regex "\(unclosed"/);
  assert.throws(() => prepareWith(botDetect, { allow: ['(a)\\1'] }), /property "allow"/, 'backreferences are not RE2');
});

test('known crawlers are refused; browsers and HTTP clients pass', () => {
  const p = prepareWith(botDetect, {});
  for (const bot of [
    'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    'Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)',
    'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)',
    'Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)',
    'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; +https://openai.com/gptbot)',
    'Scrapy/2.11.0 (+https://scrapy.org)',
    'facebookexternalhit/1.1',
    'my-little-crawler',
  ]) assert.deepEqual(botDetect.access!(p, ua(bot)), REFUSED, bot);
  for (const client of [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    'Mozilla/5.0 (Linux; Android 9; CUBOT X19) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/100.0 Mobile Safari/537.36',
    'curl/8.5.0', 'python-requests/2.31.0', 'Go-http-client/1.1', 'axios/1.6.0', 'node',
  ]) assert.equal(botDetect.access!(p, ua(client)), undefined, client);
});

test('allow wins over deny and the built-in list; deny adds patterns', () => {
  const p = prepareWith(botDetect, { allow: ['MyMonitor'], deny: ['^spd-tools'], blocked_code: 429, blocked_message: 'no bots' });
  assert.equal(botDetect.access!(p, ua('MyMonitor-bot/1.0')), undefined);
  assert.deepEqual(botDetect.access!(p, ua('spd-tools/2')), { status: 429, body: 'no bots' });
  assert.deepEqual(botDetect.access!(p, ua('Googlebot/2.1')), { status: 429, body: 'no bots' });
  assert.equal(botDetect.access!(p, ua('my-spd-tools/2')), undefined, 'patterns are searched, so ^ anchors');
});

test('an empty or absent User-Agent is refused at once', () => {
  const p = prepareWith(botDetect, { allow: ['.*'] });
  assert.deepEqual(botDetect.access!(p, ua('')), REFUSED);
  assert.deepEqual(botDetect.access!(p, ua(undefined)), REFUSED);
});

test('a long User-Agent is searched in linear time', () => {
  const p = prepareWith(botDetect, { deny: ['(a+)+$'] });
  const start = performance.now();
  assert.equal(botDetect.access!(p, ua('a'.repeat(16_000) + '!')), undefined);
  assert.ok(performance.now() - start < 1000);
});

test('crawlerToken: the User-Agent token around a built-in match, bounded', () => {
  const ua = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
  assert.equal(crawlerToken(ua, 'bot/2'), 'Googlebot/2.1');
  assert.equal(crawlerToken('Scrapy/2.11.0 (+https://scrapy.org)', 'Scrapy'), 'Scrapy/2.11.0');
  const long = crawlerToken(`x${'a'.repeat(200)}bot/1`, 'bot/1');
  assert.equal(long.length, MAX_LOGGED_TOKEN);
  assert.ok(long.endsWith('bot/1'), 'the window keeps the match');
});
