import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROVIDER_NAMES, providerAdapter } from '../providers/index.js';
import { providerTarget, type TargetOptions } from './target.js';

const OPTS: TargetOptions = { timeoutMs: 30000, keepalive: true, keepaliveTimeoutMs: 60000, keepalivePool: 30, sslVerify: true };

function target(provider: string, opts: Partial<TargetOptions> = {}) {
  return providerTarget(providerAdapter(provider)!, { ...OPTS, ...opts });
}

test('each provider\'s default origin and paths (no override.endpoint)', () => {
  const expected: Record<string, [string, string, string | undefined]> = {
    openai: ['https://api.openai.com', '/v1/chat/completions', '/v1/embeddings'],
    deepseek: ['https://api.deepseek.com', '/chat/completions', undefined],
    qwen: ['https://dashscope.aliyuncs.com', '/compatible-mode/v1/chat/completions', '/compatible-mode/v1/embeddings'],
    ollama: ['http://127.0.0.1:11434', '/v1/chat/completions', '/v1/embeddings'],
    anthropic: ['https://api.anthropic.com', '/v1/messages', undefined],
  };
  for (const [provider, [origin, chat, embeddings]] of Object.entries(expected)) {
    const t = target(provider);
    assert.equal(t.origin, origin, provider);
    assert.equal(t.pathFor('openai-chat', '/client', ''), chat, provider);
    assert.deepEqual(providerAdapter(provider)!.paths['openai-embeddings'], embeddings, provider);
  }
  assert.deepEqual(PROVIDER_NAMES, ['openai', 'deepseek', 'azure-openai', 'openai-compatible', 'qwen', 'ollama', 'anthropic']);
});

test('the inline upstream: node, scheme, Host, TLS verification, timeouts and keepalive pool from the config', () => {
  const t = target('openai', { timeoutMs: 1500, keepalivePool: 7, keepaliveTimeoutMs: 2000, sslVerify: false });
  const up = t.upstreamConf as Record<string, any>;
  assert.deepEqual(up.nodes, [{ host: 'api.openai.com', port: 443, weight: 1 }]);
  assert.equal(up.scheme, 'https');
  assert.equal(up.pass_host, 'node');
  assert.equal(t.host, 'api.openai.com');
  assert.deepEqual(up.tls, { verify: false });
  assert.deepEqual(up.timeout, { connect: 1.5, send: 1.5, read: 1.5 });
  assert.deepEqual(up.keepalive_pool, { size: 7, idle_timeout: 2, requests: 1000 });
  assert.equal((target('openai', { keepalive: false }).upstreamConf as any).keepalive_pool.requests, 1);
  const local = target('ollama').upstreamConf as Record<string, any>;
  assert.deepEqual([local.scheme, local.nodes[0].host, local.nodes[0].port, local.tls], ['http', '127.0.0.1', 11434, undefined]);
});

test('override.endpoint: its path replaces the default, its query and auth.query are added over the client\'s', () => {
  const t = target('openai-compatible', { endpoint: 'http://[::1]:8000/v2/chat?v=1', authQuery: { key: 'secret' } });
  assert.equal(t.host, '[::1]:8000');
  assert.equal((t.upstreamConf as any).nodes[0].host, '::1');
  assert.equal(t.pathFor('openai-chat', '/x', ''), '/v2/chat?v=1&key=secret');
  assert.equal(t.pathFor('openai-embeddings', '/x', 'key=mine&a=b'), '/v2/chat?a=b&v=1&key=secret');
  assert.equal(t.pathFor('passthrough', '/client/path', 'a=b'), '/client/path?a=b&v=1&key=secret');
  assert.equal(target('openai', { endpoint: 'https://proxy.example' }).pathFor('openai-chat', '/x', ''), '/v1/chat/completions');
});

test('a missing or unusable endpoint is an error naming override.endpoint', () => {
  assert.throws(() => target('openai-compatible'), /override\.endpoint is required for provider openai-compatible/);
  assert.throws(() => target('azure-openai'), /override\.endpoint is required for provider azure-openai/);
  assert.throws(() => target('openai', { endpoint: 'nope' }), /override\.endpoint: not a URL/);
  assert.throws(() => target('openai', { endpoint: 'ws://x' }), /override\.endpoint: the scheme must be http or https/);
  assert.throws(() => target('openai', { endpoint: 'https://u:p@x' }), /override\.endpoint: credentials go in auth/);
});
