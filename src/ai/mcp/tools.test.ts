import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildToolRequest, checkArguments, prepareTool, renderToolAnswer, type ToolConf } from './tools.js';

const conf = (over: Partial<ToolConf['requestTemplate']> = {}, args: ToolConf['args'] = []): ToolConf =>
  ({ name: 't', description: 'd', args, requestTemplate: { url: 'http://api.test/x', method: 'POST', ...over } });

test('argsToFormBody sends the unpositioned args as a form; positioned ones go where they say', () => {
  const tool = prepareTool(conf({ argsToFormBody: true, headers: [{ key: 'X-K', value: 'k={{.config.k}}' }] }, [
    { name: 'a', description: '' }, { name: 'b', description: '', type: 'integer' }, { name: 'h', description: '', position: 'header' },
  ]), 0);
  const req = buildToolRequest(tool, { a: 'x y', b: 2, h: 'hv' }, { k: 'secret' });
  assert.deepEqual(req, { method: 'POST', url: 'http://api.test/x', headers: { 'x-k': 'k=secret', h: 'hv', 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=x+y&b=2' });
});

test('without a bulk mode, unpositioned args are only what the templates use', () => {
  const tool = prepareTool(conf({ url: 'http://api.test/u/{{.args.id}}', method: 'GET' }, [{ name: 'id', description: '' }]), 0);
  assert.deepEqual(buildToolRequest(tool, { id: 'a/b' }, {}), { method: 'GET', url: 'http://api.test/u/a%2Fb', headers: {} });
});

test('arguments: defaults filled, types and enums checked', () => {
  const tool = prepareTool(conf({}, [
    { name: 'n', description: '', type: 'number', default: 1.5 }, { name: 'o', description: '', type: 'object' },
    { name: 'b', description: '', type: 'boolean', enum: [true] },
  ]), 0);
  assert.deepEqual(checkArguments(tool, undefined), { ok: true, args: { n: 1.5 } });
  assert.deepEqual(checkArguments(tool, { o: [] }), { ok: false, message: 'argument o must be of type object' });
  assert.deepEqual(checkArguments(tool, { b: false }), { ok: false, message: 'argument b must be one of [true]' });
  assert.deepEqual(checkArguments(tool, { n: Infinity }), { ok: false, message: 'argument n must be of type number' });
});

test('the answer: a body template needs JSON; without one, prepend and append surround the text', () => {
  const templated = prepareTool({ ...conf(), responseTemplate: { body: 'v={{.v}}' } }, 0);
  assert.deepEqual(renderToolAnswer(templated, '{"v": [1]}'), { ok: true, text: 'v=[1]' });
  assert.equal(renderToolAnswer(templated, 'not json').ok, false);
  const plain = prepareTool({ ...conf(), responseTemplate: { prependBody: '<', appendBody: '>' } }, 0);
  assert.deepEqual(renderToolAnswer(plain, 'x'), { ok: true, text: '<x>' });
});
