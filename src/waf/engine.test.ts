import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWafRules, startTransaction, type LoadedRuleSet, WafConfigError } from './index.js';
import { RuleSetBuilder } from './loader.js';

interface Req { method?: string; uri?: string; headers?: Record<string, string>; body?: string }

function run(rules: LoadedRuleSet, r: Req = {}) {
  const headers = { host: 'x', 'user-agent': 'test', ...r.headers };
  const tx = startTransaction(rules, { method: r.method ?? 'GET', rawUri: r.uri ?? '/', protocol: 'HTTP/1.1', headers,
    remoteAddr: '10.1.2.3', remotePort: 5, serverPort: 80, host: 'x', uniqueId: 'id', startedAt: performance.now() });
  let hit = tx.runPhase(1);
  if (hit === undefined) {
    if (r.body !== undefined) tx.data.body = r.body;
    hit = tx.runPhase(2);
  }
  return { hit, tx };
}

function own(...secRules: string[]): LoadedRuleSet {
  const b = new RuleSetBuilder(undefined);
  secRules.forEach((text, i) => b.add({ text, name: `secRules[${i}]`, baseDir: undefined, skipUnsupported: false, perEntry: true }));
  return b.build();
}

test('chains match only when every link does; actions of every link run', () => {
  const rules = own(
    'SecRule REQUEST_METHOD "@streq POST" "id:1,phase:2,deny,status:409,chain,setvar:tx.a=1"',
    'SecRule ARGS:role "@streq admin" "setvar:tx.b=2"',
  );
  assert.equal(run(rules, { method: 'POST', uri: '/?role=user' }).hit, undefined);
  assert.equal(run(rules, { method: 'GET', uri: '/?role=admin' }).hit, undefined);
  const { hit, tx } = run(rules, { method: 'POST', uri: '/?role=admin' });
  assert.equal(hit?.status, 409);
  assert.deepEqual([tx.txNumber('a'), tx.txNumber('b')], [1, 2]);
});

test('setvar arithmetic and macros; anomaly scoring with a threshold rule', () => {
  const rules = own(
    'SecAction "id:1,phase:1,pass,nolog,setvar:tx.threshold=5,setvar:tx.score=0"',
    'SecRule ARGS "@contains evil" "id:2,phase:2,pass,msg:\'evil in %{MATCHED_VAR_NAME}\',setvar:tx.score=+3"',
    'SecRule ARGS_NAMES "@beginsWith x_" "id:3,phase:2,pass,setvar:tx.score=+%{tx.threshold},setvar:tx.score=-1"',
    'SecRule TX:score "@ge %{tx.threshold}" "id:4,phase:2,deny,msg:\'score %{tx.score}\'"',
  );
  assert.equal(run(rules, { uri: '/?a=evil' }).hit, undefined);
  const { hit, tx } = run(rules, { uri: '/?x_a=evil' });
  assert.equal(hit?.rule.id, 4);
  assert.equal(hit?.msg, 'score 7');
  assert.equal(tx.matches[0]!.msg, 'evil in ARGS:x_a');
});

test('skipAfter jumps to the marker; skip counts rules; allow stops the phase', () => {
  const rules = own(
    'SecRule REQUEST_HEADERS:X-Skip "@streq 1" "id:1,phase:1,pass,nolog,skipAfter:END"',
    'SecRule REQUEST_URI "@contains block" "id:2,phase:1,deny"',
    'SecMarker END',
    'SecRule REQUEST_HEADERS:X-Skip1 "@streq 1" "id:3,phase:1,pass,skip:1"',
    'SecRule REQUEST_URI "@contains other" "id:4,phase:1,deny"',
    'SecRule REQUEST_HEADERS:X-Allow "@streq 1" "id:5,phase:1,allow"',
    'SecRule REQUEST_URI "@contains late" "id:6,phase:2,deny"',
  );
  assert.equal(run(rules, { uri: '/block' }).hit?.rule.id, 2);
  assert.equal(run(rules, { uri: '/block', headers: { 'x-skip': '1' } }).hit, undefined);
  assert.equal(run(rules, { uri: '/other', headers: { 'x-skip1': '1' } }).hit, undefined);
  assert.equal(run(rules, { uri: '/late' }).hit?.rule.id, 6);
  assert.equal(run(rules, { uri: '/late', headers: { 'x-allow': '1' } }).hit, undefined);
});

test('exclusions, counts, regex selectors, ctl:ruleRemoveTargetById and ctl:ruleRemoveById', () => {
  const rules = own(
    'SecRule REQUEST_URI "@beginsWith /login" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=10;ARGS:password"',
    'SecRule REQUEST_URI "@beginsWith /health" "id:2,phase:1,pass,nolog,ctl:ruleRemoveById=10-11"',
    'SecRule ARGS|!ARGS:/^safe_/ "@contains \'" "id:10,phase:2,deny"',
    'SecRule &REQUEST_HEADERS:X-Api-Key "@eq 0" "id:11,phase:2,deny,status:401,chain"',
    'SecRule REQUEST_URI "@beginsWith /private"',
  );
  assert.equal(run(rules, { uri: "/x?q='" }).hit?.rule.id, 10);
  assert.equal(run(rules, { uri: "/x?safe_q='" }).hit, undefined);
  assert.equal(run(rules, { uri: "/login?password='" }).hit, undefined);
  assert.equal(run(rules, { uri: "/login?user='" }).hit?.rule.id, 10);
  assert.equal(run(rules, { uri: '/private' }).hit?.status, 401);
  assert.equal(run(rules, { uri: '/private', headers: { 'x-api-key': 'k' } }).hit, undefined);
  assert.equal(run(rules, { uri: "/health?q='" }).hit, undefined);
});

test('request bodies: form, JSON (json.a.b names), multipart files; REQUEST_BODY for urlencoded only', () => {
  const rules = own(
    'SecRule ARGS_POST:json.user.name "@streq root" "id:1,phase:2,deny,status:460"',
    'SecRule FILES "@endsWith .php" "id:2,phase:2,deny,status:461"',
    'SecRule REQUEST_BODY "@contains secret" "id:3,phase:2,deny,status:462"',
    'SecRule ARGS:comment "@contains bad" "id:4,phase:2,deny,status:463"',
    'SecRule REQBODY_ERROR "!@eq 0" "id:5,phase:2,deny,status:464"',
  );
  const json = { 'content-type': 'application/json' };
  assert.equal(run(rules, { method: 'POST', headers: json, body: '{"user":{"name":"root"}}' }).hit?.status, 460);
  assert.equal(run(rules, { method: 'POST', headers: json, body: '{"user":{"name":"ann"},"x":"secret"}' }).hit, undefined);
  assert.equal(run(rules, { method: 'POST', headers: json, body: '{"user":' }).hit?.status, 464);
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  assert.equal(run(rules, { method: 'POST', headers: form, body: 'a=secret' }).hit?.status, 462);
  assert.equal(run(rules, { method: 'POST', headers: form, body: 'comment=bad+idea' }).hit?.status, 463);
  const boundary = 'XyZ';
  const multipart = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="comment"\r\n\r\nfine\r\n`
    + `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="shell.php"\r\nContent-Type: text/plain\r\n\r\n<?php ?>\r\n--${boundary}--\r\n`;
  assert.equal(run(rules, { method: 'POST', headers: multipart, body }).hit?.status, 461);
});

test('SecRequestBodyLimit: only the first bytes are inspected (ProcessPartial), JSON values up to the limit', () => {
  const rules = own('SecRequestBodyLimit 64', 'SecRule ARGS "@contains evil" "id:1,phase:2,deny"');
  assert.equal(rules.bodyLimitAction, 'ProcessPartial');
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  assert.equal(run(rules, { method: 'POST', headers: form, body: 'a=evil&b=' + 'x'.repeat(100) }).hit?.rule.id, 1);
  assert.equal(run(rules, { method: 'POST', headers: form, body: 'b=' + 'x'.repeat(100) + '&a=evil' }).hit, undefined);
  const json = { 'content-type': 'application/json' };
  assert.equal(run(rules, { method: 'POST', headers: json, body: JSON.stringify({ a: 'evil', b: 'x'.repeat(100) }) }).hit?.rule.id, 1);
  assert.equal(run(rules, { method: 'POST', headers: json, body: JSON.stringify({ b: 'x'.repeat(100), a: 'evil' }) }).hit, undefined);
  assert.equal(own('SecRequestBodyLimitAction Reject').bodyLimitAction, 'Reject');
  assert.throws(() => own('SecRequestBodyLimit lots'), /SecRequestBodyLimit/);
});

test('operators: @pm, @within with macros, @ipMatch, @validateByteRange, @validateUrlEncoding, capture', () => {
  const rules = own(
    'SecAction "id:1,phase:1,pass,nolog,setvar:\'tx.methods=GET HEAD\'"',
    'SecRule REQUEST_METHOD "!@within %{tx.methods}" "id:2,phase:1,deny,status:405"',
    'SecRule REMOTE_ADDR "@ipMatch 192.0.2.0/24,10.9.9.9" "id:3,phase:1,deny,status:470"',
    'SecRule ARGS:n "@validateByteRange 48-57" "id:4,phase:2,deny,status:471"',
    'SecRule QUERY_STRING "@validateUrlEncoding" "id:5,phase:2,deny,status:472"',
    'SecRule ARGS:v "@rx ^v(\\d+)$" "id:6,phase:2,pass,capture,setvar:tx.version=%{tx.1}"',
    'SecRule TX:version "@gt 2" "id:7,phase:2,deny,status:473"',
    'SecRule REQUEST_HEADERS:User-Agent "@pm badbot evilcrawler" "id:8,phase:1,deny,status:474"',
  );
  assert.equal(run(rules, { method: 'DELETE' }).hit?.status, 405);
  assert.equal(run(rules, { uri: '/?n=123' }).hit, undefined);
  assert.equal(run(rules, { uri: '/?n=12a' }).hit?.status, 471);
  assert.equal(run(rules, { uri: '/?x=%zz' }).hit?.status, 472);
  assert.equal(run(rules, { uri: '/?v=v2' }).hit, undefined);
  assert.equal(run(rules, { uri: '/?v=v3' }).hit?.status, 473);
  assert.equal(run(rules, { headers: { 'user-agent': 'Mozilla EvilCrawler/1' } }).hit?.status, 474);
});

test('SecRuleEngine DetectionOnly and Off; SecDefaultAction gives block its action', () => {
  const detect = own('SecRuleEngine DetectionOnly', 'SecRule ARGS "@contains x" "id:1,phase:2,deny"');
  const { hit, tx } = run(detect, { uri: '/?a=x' });
  assert.equal(hit, undefined);
  assert.equal(tx.detected?.rule.id, 1);
  assert.equal(run(own('SecRuleEngine Off', 'SecRule ARGS "@contains x" "id:1,phase:2,deny"'), { uri: '/?a=x' }).hit, undefined);
  const blocking = own('SecDefaultAction "phase:2,deny,status:418"', 'SecRule ARGS "@contains x" "id:1,phase:2,block"');
  assert.equal(run(blocking, { uri: '/?a=x' }).hit?.status, 418);
  assert.equal(run(own('SecRule ARGS "@contains x" "id:1,phase:2,block"'), { uri: '/?a=x' }).hit, undefined, 'block without a default is pass');
});

test('SecRuleRemoveById and SecRuleUpdateTargetById edit earlier rules', () => {
  const rules = loadWafRules({ useCRS: false, crsPath: '/nonexistent', secRules: [
    'SecRuleRemoveById 10100', 'SecRuleUpdateTargetById 10130 "!ARGS:html"',
  ] });
  assert.equal(run(rules, { headers: { 'user-agent': 'sqlmap/1.0' } }).hit, undefined);
  assert.equal(run(rules, { uri: '/?html=%3Cscript%3E' }).hit, undefined);
  assert.equal(run(rules, { uri: '/?text=%3Cscript%3E' }).hit?.rule.id, 10130);
});

test('rules RE2 cannot run: refused in secRules (naming the entry), skipped and listed in included files', () => {
  assert.throws(() => loadWafRules({ useCRS: false, crsPath: '/nonexistent', secRules: ['SecRule ARGS "@rx (?=a)" "id:1"'] }),
    (e: unknown) => e instanceof WafConfigError && e.field === 'secRules[0]' && /lookahead/.test(e.message));
  const crs = mkdtempSync(join(tmpdir(), 'waf-crs-'));
  mkdirSync(join(crs, 'rules'));
  writeFileSync(join(crs, 'rules', 'A.conf'), [
    'SecRule ARGS "@rx (a)\\1" "id:100,phase:2,deny,chain"', 'SecRule ARGS "@rx b"',
    'SecRule ARGS "@pmFromFile words.data" "id:101,phase:2,deny,status:499"',
    'SecRule RESPONSE_BODY "@rx x" "id:102,phase:4,deny"',
  ].join('\n'));
  writeFileSync(join(crs, 'rules', 'words.data'), '# words\nfoo\nbar baz\n');
  const rules = loadWafRules({ useCRS: true, crsPath: crs, secRules: [] });
  assert.equal(rules.skipped.length, 1);
  assert.match(rules.skipped[0]!, /^100 \(A\.conf:1\): .*RE2/);
  assert.ok(rules.notes.some((n) => /phase 4 are not evaluated/.test(n)));
  assert.equal(run(rules, { uri: '/?q=bar%20baz' }).hit?.status, 499);
  assert.equal(run(rules, { uri: '/?q=aab' }).hit, undefined);
});

test('the same configuration compiles once', () => {
  const conf = { useCRS: false, crsPath: '/x', secRules: ['SecRule ARGS "@streq a" "id:1,phase:2,deny"'] };
  assert.equal(loadWafRules(conf), loadWafRules({ ...conf, secRules: [...conf.secRules] }));
});

test('a rule of the user\'s own in a phase this engine does not evaluate is refused, naming the entry; a chained rule follows its head', () => {
  assert.throws(() => loadWafRules({ useCRS: false, crsPath: '/nonexistent', secRules: ['SecRule ARGS "@rx a" "id:1,phase:2,deny"', 'SecRule RESPONSE_STATUS "@eq 500" "id:2,phase:3,deny"'] }),
    (e: unknown) => e instanceof WafConfigError && e.field === 'secRules[1]' && /phase 3/.test(e.message));
  const rules = loadWafRules({ useCRS: false, crsPath: '/nonexistent', secRules: ['SecRule ARGS "@rx a" "id:3,phase:1,deny,chain"', 'SecRule ARGS "@rx b" "t:none"'] });
  assert.ok(rules.ruleCount > 0);
});
