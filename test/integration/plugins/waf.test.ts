import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, startWithUpstream, stopWithUpstream, type Gateway } from '../../helpers/gateway.js';
import { withPluginRoutes } from '../../helpers/plugin-admin.js';
import type { TestUpstream } from '../../fixtures/upstream.js';
import { get, rawRequest } from '../../helpers/http.js';
import { ordinaryRequests } from '../../fixtures/waf-corpus.js';

const CRS = '/usr/share/modsecurity-crs';
const hasCrs = existsSync(`${CRS}/rules`);
const crsSkip = hasCrs ? false : `Debian's modsecurity-crs is not installed at ${CRS} (.ci/run installs it)`;
const API_METHODS = "SecAction \"id:900200,phase:1,nolog,pass,t:none,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'\"";
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const headers = { 'user-agent': BROWSER, accept: 'application/json' };

let gw: Gateway;
let up: TestUpstream;

before(async () => {
  ({ gw, up } = await startWithUpstream((upstream) => ({
    routes: [
      { id: 'waf', uri: '/waf/*', upstream, plugins: {
        prometheus: {}, waf: {},
        'file-logger': { path: 'waf.log', log_format: { uri: '$request_uri', action: '$waf_action', rule: '$waf_rule_id', msg: '$waf_msg' } },
      } },
      { id: 'custom', uri: '/custom/*', upstream, plugins: { waf: { secRules: [
        'SecRuleEngine On',
        'SecRule REQUEST_URI "@streq /custom/admin" "id:101,phase:1,t:lowercase,deny"',
        'SecRule REQUEST_HEADERS:X-Debug "@eq 1" "id:102,phase:1,deny,status:451,msg:\'debug header\'"',
        'SecRule ARGS:amount "@gt 1000" "id:103,phase:2,deny,status:402,chain"',
        'SecRule REQUEST_METHOD "@streq POST"',
      ] } } },
      { id: 'limit', uri: '/limit/*', upstream, plugins: { waf: { secRules: ['SecRequestBodyLimit 64', 'SecRequestBodyLimitAction Reject'] } } },
      { id: 'detect', uri: '/detect/*', upstream, plugins: { waf: { secRules: ['SecRuleEngine DetectionOnly'] },
        'file-logger': { path: 'detect.log', log_format: { uri: '$request_uri', action: '$waf_action', rule: '$waf_rule_id' } } } },
      ...(hasCrs ? [{ id: 'crs', uri: '/crs/*', upstream, plugins: { waf: { useCRS: true, secRules: [API_METHODS] },
        'file-logger': { path: 'crs.log', log_format: { uri: '$request_uri', rule: '$waf_rule_id', score: '$waf_anomaly_score', matched: '$waf_matched_rules' } } } }] : []),
    ],
  }), { workers: 1, extra: { log_dir: '.' } }));
});

after(async () => {
  await stopWithUpstream(gw, up);
});

const ATTACKS: [string, string, RequestInit?][] = [
  ['SQL injection in the query', "/waf/users?id=1'%20OR%20'1'%3D'1"],
  ['UNION SELECT', '/waf/users?id=-1%20union%20all%20select%20password,2%20from%20users--'],
  ['XSS in the query', '/waf/search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E'],
  ['XSS through an event handler', '/waf/search?q=%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E'],
  ['path traversal', '/waf/files?name=..%2F..%2F..%2Fetc%2Fpasswd'],
  ['command injection', '/waf/ping?host=127.0.0.1%3Bcat%20%2Fetc%2Fshadow'],
  ['command substitution', '/waf/ping?host=%24(whoami)'],
];

test('the default rules refuse SQL injection, XSS, path traversal and command injection with 403', async () => {
  for (const [what, path] of ATTACKS) {
    const r = await get(gw.url + path, { headers });
    assert.equal(r.status, 403, what);
    assert.equal(r.body, '', what);
  }
  const json = await get(gw.url + '/waf/users', { method: 'POST', headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: "admin' --", bio: 'hi' }) });
  assert.equal(json.status, 403, 'SQL injection in a JSON body');
  const form = await get(gw.url + '/waf/comments', { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'text=%3Csvg%20onload%3Dalert(1)%3E' });
  assert.equal(form.status, 403, 'XSS in a form body');
});

test('the default rules refuse scanners by User-Agent', async () => {
  for (const ua of ['sqlmap/1.7.2#stable (https://sqlmap.org)', 'Mozilla/5.00 (Nikto/2.1.6)', 'Nuclei - Open-source project (github.com/projectdiscovery/nuclei)']) {
    assert.equal((await get(gw.url + '/waf/x', { headers: { 'user-agent': ua } })).status, 403, ua);
  }
});

test('the default rules pass ordinary requests (a sample of the corpus, through the gateway)', async () => {
  const sample = ordinaryRequests().filter((_, i) => i % 12 === 0);
  for (const r of sample) {
    const reply = await get(gw.url + '/waf' + r.path, { method: r.method, headers: r.headers, body: r.body });
    assert.equal(reply.status, 200, `${r.method} ${r.path} ${r.body ?? ''}`);
  }
  assert.equal(up.seen.at(-1)!.headers['user-agent'], sample.at(-1)!.headers['user-agent']);
});

test('custom secRules refuse with their status, 403 when they name none', async () => {
  assert.equal((await get(gw.url + '/custom/ADMIN', { headers })).status, 403);
  assert.equal((await get(gw.url + '/custom/x', { headers: { ...headers, 'x-debug': '1' } })).status, 451);
  assert.equal((await get(gw.url + '/custom/pay', { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=5000' })).status, 402);
  assert.equal((await get(gw.url + '/custom/pay', { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=50' })).status, 200);
  assert.equal((await get(gw.url + '/custom/pay?amount=5000', { headers })).status, 200, 'the chain asks for POST');
  assert.equal((await get(gw.url + "/custom/x?id=1'%20or%201=1--", { headers })).status, 403, 'the default rules still apply');
});

test('SecRequestBodyLimitAction Reject refuses a body over SecRequestBodyLimit with 413', async () => {
  const form = { ...headers, 'content-type': 'application/x-www-form-urlencoded' };
  assert.equal((await get(gw.url + '/limit/x', { method: 'POST', headers: form, body: 'a=' + 'x'.repeat(100) })).status, 413);
  assert.equal((await get(gw.url + '/limit/x', { method: 'POST', headers: form, body: 'a=small' })).status, 200);
});

test('SecRuleEngine DetectionOnly lets attacks through and logs what it would have blocked', async () => {
  const r = await get(gw.url + '/detect/q?q=%3Cscript%3Ealert(1)%3C/script%3E', { headers });
  assert.equal(r.status, 200);
  let entries: { uri: string; action: string; rule: string }[] = [];
  await eventually(async () => {
    const text = await readFile(join(gw.dir, 'detect.log'), 'utf8').catch(() => '');
    entries = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    return entries.length > 0;
  });
  assert.deepEqual({ action: entries[0]!.action, rule: entries[0]!.rule }, { action: 'detect', rule: '10130' });
});

test('the log fields name the rule and its message; blocks are counted by rule', async () => {
  await get(gw.url + '/waf/ok?log=1', { headers });
  await get(gw.url + '/waf/search?log=2&q=%3Cscript%3Ex%3C/script%3E', { headers });
  let entries: { uri: string; action: string; rule?: string; msg?: string }[] = [];
  await eventually(async () => {
    const text = await readFile(join(gw.dir, 'waf.log'), 'utf8').catch(() => '');
    entries = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    return entries.some((e) => e.uri.includes('log=2'));
  });
  assert.equal(entries.find((e) => e.uri === '/waf/ok?log=1')!.action, 'pass');
  const blocked = entries.find((e) => e.uri.includes('log=2'))!;
  assert.deepEqual([blocked.action, blocked.rule, blocked.msg], ['block', '10130', 'Cross-site scripting']);
  const metrics = (await get(gw.metricsUrl)).body;
  assert.match(metrics, /^gatehouse_waf_blocks_total\{rule_id="10130"\} [1-9]/m);
  assert.match(metrics, /^gatehouse_waf_blocks_total\{rule_id="10120"\} [1-9]/m);
});

test('dot segments in the request target as sent are refused, though the route matches its normalised path', async () => {
  const reply = await rawRequest(gw.httpPort, 'GET /waf/a/%2e%2e/b HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\n\r\n', 5000);
  assert.match(reply, /^HTTP\/1\.1 403 /);
});

test('the OWASP CRS (anomaly scoring, paranoia level 1) refuses attacks through rule 949110', { skip: crsSkip }, async () => {
  for (const [what, path] of ATTACKS) {
    const r = await get(gw.url + path.replace('/waf/', '/crs/'), { headers });
    assert.equal(r.status, 403, what);
  }
  assert.equal((await get(gw.url + '/crs/x', { headers: { 'user-agent': 'sqlmap/1.7.2#stable' } })).status, 403, 'scanner');
  let entries: { uri: string; rule?: string; score?: number; matched?: string }[] = [];
  await eventually(async () => {
    const text = await readFile(join(gw.dir, 'crs.log'), 'utf8').catch(() => '');
    entries = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    return entries.length >= ATTACKS.length;
  });
  const xss = entries.find((e) => e.uri.includes('script'))!;
  assert.equal(xss.rule, '949110');
  assert.ok(Number(xss.score) >= 5, JSON.stringify(xss));
  assert.match(xss.matched!, /\b941100\b/);
});

test('the CRS passes ordinary requests (a sample of the corpus, through the gateway)', { skip: crsSkip }, async () => {
  for (const r of ordinaryRequests().filter((_, i) => i % 12 === 0)) {
    const reply = await get(gw.url + '/crs' + r.path, { method: r.method, headers: r.headers, body: r.body });
    assert.equal(reply.status, 200, `${r.method} ${r.path} ${r.body ?? ''}`);
  }
});

test('bad config is refused with a 400 naming the field', () => withPluginRoutes('waf', async (put) => {
  for (const [conf, field] of [
    [{ secRules: ['SecRule ARGS "@rx x" "id:1,deny"', 'SecRule ARGS "@rx x" "phase:1,deny"'] }, /secRules\[1\].*no 'id'/],
    [{ secRules: ['SecRul ARGS "@rx x" "id:1"'] }, /secRules\[0\].*unknown directive/],
    [{ secRules: ['SecRule NOPE "@rx x" "id:1"'] }, /secRules\[0\].*unknown variable 'NOPE'/],
    [{ secRules: ['SecRule ARGS "@rx (a)\\1" "id:1"'] }, /secRules\[0\].*RE2/],
    [{ secRules: ['SecRule ARGS "@rx x" "id:1,t:bogus"'] }, /secRules\[0\].*t:bogus/],
    [{ secRules: ['SecRule ARGS "@rx x" "id:1,chain"'] }, /secRules\[0\].*chain/],
    [{ secRules: ['Include /etc/passwd'] }, /secRules\[0\].*outside/],
    [{ useCRS: 'yes' }, /useCRS/],
    [{ useCRS: true, crsPath: '/nonexistent' }, /crsPath/],
    [{ secrules: [] }, /secrules/],
  ] as const) {
    const r = await put(conf);
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.error_msg, field);
  }
  assert.equal((await put({})).status, 201);
}));
