// False positives on ordinary traffic: the deterministic corpus (test/fixtures/waf-corpus)
// through the default rules (none may block) and through the CRS at paranoia level 1
// (a documented bound; docs/plugins/waf.md has the numbers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { ordinaryRequests, type CorpusRequest } from '../../test/fixtures/waf-corpus.js';
import { DEBIAN_CRS_PATH, loadWafRules, startTransaction, type LoadedRuleSet } from './index.js';

const CRS_PL1_MAX_BLOCKED = 10;

export function evaluate(rules: LoadedRuleSet, r: CorpusRequest): number | undefined {
  const host = 'shop.example.com';
  const headers: Record<string, string> = { host, ...r.headers };
  if (r.body !== undefined) headers['content-length'] = String(Buffer.byteLength(r.body));
  const tx = startTransaction(rules, {
    method: r.method, rawUri: r.path, protocol: 'HTTP/1.1', headers, remoteAddr: '192.0.2.10', remotePort: 40000,
    serverPort: 443, host, uniqueId: 'corpus', startedAt: performance.now(),
  });
  let hit = tx.runPhase(1);
  if (hit === undefined) {
    if (r.body !== undefined) tx.data.body = Buffer.from(r.body, 'utf8').toString('latin1');
    hit = tx.runPhase(2);
  }
  return hit?.rule.id;
}

function blockedBy(rules: LoadedRuleSet, corpus: CorpusRequest[]): Map<number, CorpusRequest[]> {
  const out = new Map<number, CorpusRequest[]>();
  for (const r of corpus) {
    const id = evaluate(rules, r);
    if (id !== undefined) out.set(id, [...(out.get(id) ?? []), r]);
  }
  return out;
}

const corpus = ordinaryRequests();

test('the corpus has at least 1,000 ordinary requests, GETs and JSON and form POSTs', () => {
  assert.ok(corpus.length >= 1000);
  assert.ok(corpus.some((r) => r.headers['content-type'] === 'application/json'));
  assert.ok(corpus.some((r) => r.headers['content-type'] === 'application/x-www-form-urlencoded'));
  assert.deepEqual(ordinaryRequests(), corpus, 'deterministic');
});

test('the default rules block none of the ordinary requests', () => {
  const blocked = blockedBy(loadWafRules({ useCRS: false, secRules: [], crsPath: DEBIAN_CRS_PATH }), corpus);
  assert.deepEqual([...blocked].map(([id, reqs]) => `${id}: ${reqs.length} e.g. ${JSON.stringify(reqs[0])}`), []);
});

const crsSkip = existsSync(`${DEBIAN_CRS_PATH}/rules`) ? false : `no CRS at ${DEBIAN_CRS_PATH} (apt-get install modsecurity-crs; .ci/run does)`;
/** crs-setup's way to allow a REST API's methods (CRS 3.3 allows GET HEAD POST OPTIONS). */
export const API_METHODS = "SecAction \"id:900200,phase:1,nolog,pass,t:none,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'\"";

test('the CRS as shipped refuses only the PUT and PATCH requests (rule 911100, method not allowed by policy)', { skip: crsSkip }, () => {
  const blocked = blockedBy(loadWafRules({ useCRS: true, secRules: [], crsPath: DEBIAN_CRS_PATH }), corpus);
  const methods = new Set([...blocked.values()].flat().map((r) => r.method));
  assert.deepEqual([...methods].sort(), ['PATCH', 'PUT']);
  assert.equal(blocked.get(949110)?.length, corpus.filter((r) => r.method === 'PUT' || r.method === 'PATCH').length);
});

test(`the CRS at paranoia level 1 with a REST API's methods allowed blocks at most ${CRS_PL1_MAX_BLOCKED} of them`, { skip: crsSkip }, () => {
  const blocked = blockedBy(loadWafRules({ useCRS: true, secRules: [API_METHODS], crsPath: DEBIAN_CRS_PATH }), corpus);
  const total = [...blocked.values()].reduce((n, l) => n + l.length, 0);
  console.log(`CRS PL1 false positives: ${total} of ${corpus.length}`);
  assert.ok(total <= CRS_PL1_MAX_BLOCKED, [...blocked].map(([id, reqs]) => `${id}: ${reqs.length} e.g. ${JSON.stringify(reqs[0])}`).join('\n'));
});

/** Prose that looks like shell, SQL or HTML to a pattern matcher; not in the corpus, which is measured as is. */
const TRICKY_PROSE = [
  'Dogs; cat food and treats', 'Show fields name|id|price', 'R&D; echo chamber effects', 'Go to bed; sleep 8 hours',
  'Tom & Jerry | cat and mouse', 'We (the team) select & update the plan weekly', "Don't drop the table, it's fragile",
  'union of workers; select committee', 'x < y and y > z', 'Use <b>bold</b> sparingly', 'see ../docs/readme for details',
];

function trickyRequest(text: string): CorpusRequest {
  return { method: 'POST', path: '/api/v1/comments', headers: { 'content-type': 'application/json', 'user-agent': 'curl/8.5.0' }, body: JSON.stringify({ comment: text }) };
}

test('prose with shell, SQL and HTML words passes the default rules', () => {
  const rules = loadWafRules({ useCRS: false, secRules: [], crsPath: DEBIAN_CRS_PATH });
  assert.deepEqual(TRICKY_PROSE.filter((t) => evaluate(rules, trickyRequest(t)) !== undefined), []);
});

test('the CRS at paranoia level 1 refuses some of that prose (documented, not a bound)', { skip: crsSkip }, () => {
  const rules = loadWafRules({ useCRS: true, secRules: [API_METHODS], crsPath: DEBIAN_CRS_PATH });
  const refused = TRICKY_PROSE.filter((t) => evaluate(rules, trickyRequest(t)) !== undefined);
  console.log(`CRS PL1 refuses ${refused.length} of ${TRICKY_PROSE.length} tricky prose strings: ${JSON.stringify(refused)}`);
  assert.ok(refused.length < TRICKY_PROSE.length);
});

test('the Debian CRS loads with only the rules docs/plugins/waf.md lists as skipped', { skip: crsSkip }, () => {
  const rules = loadWafRules({ useCRS: true, secRules: [], crsPath: DEBIAN_CRS_PATH });
  assert.deepEqual(rules.skipped.map((s) => s.split(' ')[0]), ['910100', '910140', '920120', '942130', '953120']);
  assert.equal(rules.ruleCount, 629);
});
