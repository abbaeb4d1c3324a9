import { test } from 'node:test';
import assert from 'node:assert/strict';
import frontendGray, { fileRewrite, indexRewrite, isPagePath } from './frontend-gray.js';
import { routingTable, uidBucket } from './common/gray-choice.js';
import { rewriteHtml } from './common/gray-html.js';
import { compilePathGlob } from './common/path-glob.js';
import { prepareWith, schemaError } from '../../test/helpers/plugin-context.js';

test('path globs match as doublestar: * and ? in one segment, ** across segments, classes and alternatives', () => {
  const m = (glob: string, path: string): boolean => compilePathGlob(glob).matches(path);
  assert.ok(m('/api/**', '/api'));
  assert.ok(m('/api/**', '/api/v1/users'));
  assert.ok(!m('/api/**', '/apix'));
  assert.ok(m('/resource/**/manifest-main.json', '/resource/manifest-main.json'));
  assert.ok(m('/resource/**/manifest-main.json', '/resource/a/b/manifest-main.json'));
  assert.ok(m('/*.js', '/a.js'));
  assert.ok(!m('/*.js', '/x/a.js'));
  assert.ok(m('/v?/x', '/v1/x'));
  assert.ok(m('/{app1,app2}/index.html', '/app2/index.html'));
  assert.ok(!m('/{app1,app2}/index.html', '/app3/index.html'));
  assert.ok(m('/[ab]c', '/bc'));
  assert.ok(!m('/[!ab]c', '/bc'));
  assert.ok(m('/a.b(c)', '/a.b(c)'), 'regex characters are literal');
  assert.throws(() => compilePathGlob('/a**/b'), /whole path segment/);
  assert.throws(() => compilePathGlob('/{a,b'), /without \}/);
  assert.throws(() => compilePathGlob('/[ab'), /without \]/);
});

test('page paths as Higress: /, no extension, or a page extension', () => {
  for (const p of ['/', '/app1', '/app1/index.html', '/x.php', '/a.b/c']) assert.ok(isPagePath(p), p);
  for (const p of ['/js/a.js', '/logo.png', '/app1/manifest.json']) assert.ok(!isPagePath(p), p);
});

test('indexRouting replaces the whole path, fileRouting the longest prefix; {version} substituted', () => {
  const index = routingTable({ '/app1': '/mfe/app1/{version}/index.html', '/': '/mfe/root/{version}/index.html' });
  assert.equal(indexRewrite(index, '/app1/users/7', 'v2'), '/mfe/app1/v2/index.html');
  assert.equal(indexRewrite(index, '/other', 'v2'), '/mfe/root/v2/index.html');
  const files = routingTable({ '/': '/mfe/app1/{version}', '/app1/': '/mfe/app1/{version}' });
  assert.equal(fileRewrite(files, '/js/a.js', '1.0.0'), '/mfe/app1/1.0.0/js/a.js');
  assert.equal(fileRewrite(files, '/app1/js/template/a.js', '1.0.0'), '/mfe/app1/1.0.0/js/template/a.js');
  assert.equal(fileRewrite(routingTable({ '/static/': '/cdn' }), '/img/a.png', 'v'), '/img/a.png');
});

test('percentage buckets: CRC-32 (IEEE) of the unique id, mod 100, as Higress', () => {
  assert.equal(uidBucket('abc'), 0x352441c2 % 100);
  assert.equal(uidBucket(''), 0);
});

test('HTML edits: head and body injections, {version}, the localStorage script', () => {
  const html = '<html><head><title>{version}</title></head><body><p>x</p></body></html>';
  const out = rewriteHtml(html, {
    head: ['<meta name="h">'], bodyFirst: ['<i>first</i>'], bodyLast: ['<i>last {version}</i>'],
    global: undefined, localStorageGrayKey: 'uid',
  }, 'gray', undefined);
  assert.match(out, /<title>gray<\/title><meta name="h">\n<\/head>/);
  assert.match(out, /<body>\n<script>\n!function\(\)\{var o,e,n="uid"[^]*<\/script>\n\n<i>first<\/i><p>x<\/p><i>last gray<\/i>\n<\/body>/);
});

test('config checks name the field', () => {
  const base = { baseDeployment: { version: 'base' } };
  assert.equal(schemaError(frontendGray.schema, base), undefined);
  assert.match(schemaError(frontendGray.schema, {})!, /baseDeployment/);
  assert.match(schemaError(frontendGray.schema, { baseDeployment: { version: '../x' } })!, /version/);
  assert.match(schemaError(frontendGray.schema, { ...base, rewrite: { fileRouting: { '/': '/a/../b' } } })!, /fileRouting/);
  assert.match(schemaError(frontendGray.schema, { ...base, skippedPathPrefixes: ['/api'] })!, /skippedPathPrefixes/);
  assert.match(schemaError(frontendGray.schema, { ...base, rules: [{ name: 'r', grayTagKey: 'level' }] })!, /grayTagValue/);
  const refused = (conf: Record<string, unknown>): string => {
    try {
      prepareWith(frontendGray, { ...base, ...conf });
    } catch (e) {
      return (e as Error).message;
    }
    return 'accepted';
  };
  assert.match(refused({ useManifestAsEntry: true }), /^useManifestAsEntry/);
  assert.match(refused({ graySubKey: 'id' }), /^graySubKey/);
  assert.match(refused({ rules: [{ name: 'r', grayKeyValue: ['1'] }] }), /^rules\[0\]\.grayKeyValue/);
  assert.match(refused({ grayKey: 'u', rules: [{ name: 'r' }, { name: 'r' }] }), /^rules\[1\]\.name/);
  assert.match(refused({ grayDeployments: [{ name: 'beta', version: 'g', enabled: true }] }), /^grayDeployments\[0\]\.name: no rule named "beta"/);
  assert.match(refused({ grayDeployments: [{ name: 'a', version: 'a', enabled: true, weight: 60 }, { name: 'b', version: 'b', enabled: true, weight: 50 }] }), /^grayDeployments: .* 110/);
  assert.match(refused({ indexPaths: ['/ok/**', '/a**'] }), /^indexPaths\[1\]/);
  assert.equal(refused({ grayDeployments: [{ name: 'off', version: 'g', enabled: false }] }), 'accepted', 'a disabled deployment needs no rule');
});
