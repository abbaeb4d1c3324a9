import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, renderTemplate } from './template.js';

test('paths, the whole data and toJson; a missing value is nothing', () => {
  const t = compileTemplate('{{.a.b}}|{{ .n }}|{{toJson .a}}|{{ toJson .s }}|{{.missing.x}}|{{ . }}', 'f');
  const data = { a: { b: 'x' }, n: 3, s: 'q"' };
  assert.equal(renderTemplate(t, data), `x|3|{"b":"x"}|"q\\""||${JSON.stringify(data)}`);
  assert.deepEqual([...t.roots], ['a', 'n', 's', 'missing']);
});

test('escape applies to inserted values only, with their root', () => {
  const t = compileTemplate('http://h/{{.args.p}}?k={{.config.k}}', 'f');
  assert.equal(renderTemplate(t, { args: { p: 'a b/c' }, config: { k: 'x/y' } }, (v, root) => (root === 'args' ? encodeURIComponent(v) : v)),
    'http://h/a%20b%2Fc?k=x/y');
});

test('anything beyond the subset is refused, naming the field', () => {
  for (const [source, message] of [
    ['{{ .a | upper }}', /f: "\{\{ \.a \| upper \}\}" is not supported/],
    ['{{if .a}}x{{end}}', /not supported/],
    ['{{index .a 0}}', /not supported/],
    ['{{.a.0}}', /not supported/],
    ['{{- .a }}', /trim markers/],
    ['{{ .a', /never closed/],
    ['a }} b', /without a matching/],
  ] as const) assert.throws(() => compileTemplate(source, 'f'), message, source);
  assert.throws(() => compileTemplate('{{.other}}', 'f', ['args', 'config']), /must start with \.args or \.config/);
  assert.throws(() => compileTemplate('{{ . }}', 'f', ['args']), /must start with \.args/);
});
