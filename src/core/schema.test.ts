import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSchema, compileSchema, formatSchemaError } from './schema.js';

const route = compileSchema({
  type: 'object',
  properties: {
    uri: { type: 'string', minLength: 1 },
    methods: { type: 'array', items: { type: 'string', enum: ['GET', 'POST'] }, uniqueItems: true },
    priority: { type: 'integer', default: 0 },
    upstream: {
      type: 'object',
      properties: {
        nodes: {
          anyOf: [
            { type: 'object', patternProperties: { '.*': { type: 'integer', minimum: 0 } } },
            { type: 'array', items: { type: 'object', properties: { port: { type: 'integer', minimum: 1 } }, required: ['port'] } },
          ],
        },
        name: { type: 'string', pattern: '^[a-z]+$' },
      },
      required: ['nodes'],
      additionalProperties: false,
    },
    status: { type: 'integer', enum: [0, 1] },
  },
  allOf: [{ oneOf: [{ required: ['uri'] }, { required: ['uris'] }] }],
  anyOf: [{ required: ['plugins', 'uri'] }, { required: ['upstream', 'uri'] }],
  additionalProperties: false,
});

const check = (data: unknown): string | undefined => checkSchema(route, data);

describe('formatSchemaError', () => {
  it('names the field and the Lua type on a wrong type', () => {
    assert.equal(check({ uri: 1 }), 'property "uri" validation failed: wrong type: expected string, got number');
    assert.equal(check({ uri: '/', upstream: [] }), 'property "upstream" validation failed: wrong type: expected object, got table');
  });

  it('reports an array item by its 1-based position', () => {
    assert.equal(check({ uri: '/', upstream: { nodes: {} }, methods: ['GET', 'FOO'] }),
      'property "methods" validation failed: failed to validate item 2: matches none of the enum values');
    assert.equal(check({ uri: '/', upstream: { nodes: {} }, methods: ['GET', 'GET'] }),
      'property "methods" validation failed: expected unique items but items 1 and 2 are equal');
  });

  it('reports forbidden additional properties', () => {
    assert.equal(check({ uri: '/', foo: 1 }), 'additional properties forbidden, found foo');
    assert.equal(check({ uri: '/', upstream: { nodes: {}, bar: 1 } }),
      'property "upstream" validation failed: additional properties forbidden, found bar');
  });

  it('names a missing nested property by its dotted path', () => {
    assert.equal(check({ uri: '/', upstream: {} }), 'property "upstream.nodes" is required');
  });

  it('checks the type before the enum, as the Lua validator does', () => {
    assert.equal(check({ uri: '/', upstream: { nodes: {} }, status: 'on' }),
      'property "status" validation failed: wrong type: expected integer, got string');
    assert.equal(check({ uri: '/', upstream: { nodes: {} }, status: 2 }),
      'property "status" validation failed: matches none of the enum values');
  });

  it('checks properties before the object-level combinators', () => {
    assert.equal(check({ uri: 5 }), 'property "uri" validation failed: wrong type: expected string, got number');
  });

  it('prefixes a failing user allOf branch like APISIX does', () => {
    assert.equal(check({ upstream: { nodes: {} } }),
      'allOf 1 failed: value should match only one schema, but matches none');
  });

  it('lists the required alternatives when anyOf fails', () => {
    assert.equal(check({ uri: '/' }),
      'object matches none of the required: ["plugins","uri"] or ["upstream","uri"]');
  });

  it('reports the branch that matches the value type inside anyOf', () => {
    assert.equal(check({ uri: '/', upstream: { nodes: [{ port: 0 }] } }),
      'property "upstream.nodes" validation failed: failed to validate item 1: property "port" validation failed: expected 0 to be at least 1');
    assert.equal(check({ uri: '/', upstream: { nodes: { 'a:80': -1 } } }),
      'property "upstream.nodes.a:80" validation failed: expected -1 to be at least 0');
    assert.equal(check({ uri: '/', upstream: { nodes: 'x' } }),
      'property "upstream.nodes" validation failed: object matches none of the required');
  });

  it('quotes the pattern and the value on a pattern mismatch', () => {
    assert.equal(check({ uri: '/', upstream: { nodes: {}, name: 'A' } }),
      'property "upstream.name" validation failed: failed to match pattern "^[a-z]+$" with "A"');
  });

  it('reports string lengths', () => {
    assert.equal(check({ uri: '' }), 'property "uri" validation failed: string too short, expected at least 1, got 0');
  });

  it('fills defaults into the validated object', () => {
    const data: Record<string, unknown> = { uri: '/', upstream: { nodes: {} } };
    assert.equal(check(data), undefined);
    assert.equal(data.priority, 0);
  });

  it('works without the data or the schema, guessing indexes from digits', () => {
    assert.ok(!route({ uri: '/', upstream: { nodes: {} }, methods: ['X'] }));
    assert.equal(formatSchemaError(route.errors),
      'property "methods" validation failed: failed to validate item 1: matches none of the enum values');
    assert.equal(formatSchemaError([]), 'unknown schema error');
  });

  it('describes numeric limits in APISIX words', () => {
    const v = compileSchema({
      type: 'object',
      properties: { a: { type: 'number', exclusiveMinimum: 0 }, b: { type: 'integer', maximum: 3 } },
    });
    assert.equal(checkSchema(v, { a: 0 }), 'property "a" validation failed: expected 0 to be greater than 0');
    assert.equal(checkSchema(v, { b: 4 }), 'property "b" validation failed: expected 4 to be at most 3');
  });

  it('reuses one compiled validator per schema object', () => {
    const schema = { type: 'string' };
    assert.equal(compileSchema(schema), compileSchema(schema));
  });
});
