import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTemplate, escapeHtml, luaNumber, renderTemplate, TemplateRenderError } from './prompt-template.js';

const translate = compileTemplate({
  model: 'gpt-4o-mini',
  temperature: 0.2,
  messages: [
    { role: 'system', content: 'Translate to {{ lang }}.' },
    { role: 'user', content: '{{text}} / raw: {*text*}' },
  ],
}, 'templates[0].template');

test('fields fill {{ }} HTML-escaped and {* *} as is; other fields and numbers are kept as values', () => {
  const out = renderTemplate(translate, { template_name: 't', lang: 'French', text: 'a<b> & "c" \'d\' e/f \\ \n', stream: true }, 1000);
  assert.deepEqual(out, {
    model: 'gpt-4o-mini',
    temperature: 0.2,
    messages: [
      { role: 'system', content: 'Translate to French.' },
      { role: 'user', content: 'a&lt;b&gt; &amp; &quot;c&quot; &#39;d&#39; e&#47;f \\ \n / raw: a<b> & "c" \'d\' e/f \\ \n' },
    ],
  });
  assert.deepEqual(translate.fields, ['lang', 'text']);
});

test('values as lua-resty-template writes them: numbers by Lua, true, and "" for missing, null and false', () => {
  const t = compileTemplate({ content: '[{{a}}|{{b}}|{{c}}|{{d}}|{{e}}]' }, 't');
  assert.deepEqual(renderTemplate(t, { a: 3, b: true, c: null, d: false }, 100), { content: '[3|true|||]' });
  assert.throws(() => renderTemplate(t, { a: { x: 1 } }, 100), (e: unknown) => e instanceof TemplateRenderError && e.status === 400 && /variable a is an object/.test(e.message));
  assert.throws(() => renderTemplate(t, { a: [1] }, 100), /variable a is an array/);
});

test('only own fields are read: prototype names render empty', () => {
  const t = compileTemplate({ content: '{{constructor}}{{__proto__}}{{toString}}' }, 't');
  assert.deepEqual(renderTemplate(t, JSON.parse('{"__proto__":"p"}'), 100), { content: 'p' });
  assert.deepEqual(renderTemplate(t, {}, 100), { content: '' });
});

test('the rendered strings are bounded before they are built (413)', () => {
  const t = compileTemplate({ a: '{*x*}{*x*}{*x*}', b: '{*x*}' }, 't');
  assert.deepEqual(renderTemplate(t, { x: 'abc' }, 12), { a: 'abcabcabc', b: 'abc' });
  assert.throws(() => renderTemplate(t, { x: 'abc' }, 11), (e: unknown) => e instanceof TemplateRenderError && e.status === 413);
});

test('a template cannot run code, include, or name anything but a top-level field: refused naming the place', () => {
  for (const [content, why] of [
    ['{% os.exit() %}', /Lua code/],
    ['{(other.html)}', /an include/],
    ['{[ "x" ]}', /an include/],
    ['{-block-}x{-block-}', /a block/],
    ['{# note #}', /a comment/],
    ['{{ a.b }}', /must name a top-level field/],
    ['{{ os.execute("x") }}', /must name a top-level field/],
    ['{{ _ctx }}', /does not name a body field/],
    ['{{ include }}', /does not name a body field/],
    ['{{ end }}', /does not name a body field/],
    ['\\{{x}}', /a backslash/],
  ] as const) {
    assert.throws(() => compileTemplate({ messages: [{ role: 'user', content }] }, 'templates[2].template'),
      (e: Error) => e.message.startsWith('templates[2].template.messages[0].content: ') && why.test(e.message), content);
  }
  assert.throws(() => compileTemplate({ '{{k}}': 'v' }, 't'), /the key "\{\{k\}\}" holds a template tag/);
});

test('braces that are no tag stay text', () => {
  const t = compileTemplate({ content: 'f(x) = {x | x > 0} {-1, 0} {% no end {{y}}' }, 't');
  assert.deepEqual(renderTemplate(t, { y: 'Y' }, 100), { content: 'f(x) = {x | x > 0} {-1, 0} {% no end Y' });
});

test('numbers as Lua\'s %.14g', () => {
  for (const [n, s] of [[3, '3'], [-2.5, '-2.5'], [0.1, '0.1'], [1e14, '1e+14'], [123456789012346, '1.2345678901235e+14'],
    [99999999999999, '99999999999999'], [0.0001, '0.0001'], [0.00001, '1e-05'], [1 / 3, '0.33333333333333'], [0, '0'], [1e300, '1e+300']] as const) {
    assert.equal(luaNumber(n), s, String(n));
  }
  assert.equal(escapeHtml('<&>'), '&lt;&amp;&gt;');
});
