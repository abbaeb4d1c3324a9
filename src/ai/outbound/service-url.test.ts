import { test } from 'node:test';
import assert from 'node:assert/strict';
import { providerDomainAddress, proxyUrlAddress, serviceFieldsAddress } from './service-url.js';

test('ai-intent: proxyUrl, its host and port replaced by proxyDomain and proxyPort', () => {
  assert.equal(proxyUrlAddress({ proxyUrl: 'http://a.example/v1/chat/completions' }, 'llm.').url, 'http://a.example/v1/chat/completions');
  assert.equal(proxyUrlAddress({ proxyUrl: 'https://a.example/x', proxyDomain: 'b.example', proxyPort: 8443 }, 'llm.').url, 'https://b.example:8443/x');
  assert.throws(() => proxyUrlAddress({ proxyUrl: 'a.example/x' }, 'llm.'), /llm\.proxyUrl: "a\.example\/x" is not a URL/);
});

test('ai-json-resp: domain, port (443: https), path, serviceUrl filling what is missing, the client path last', () => {
  assert.equal(serviceFieldsAddress({ serviceDomain: 'api.example', servicePath: '/v1/chat/completions' }, '/c').url, 'https://api.example/v1/chat/completions');
  assert.equal(serviceFieldsAddress({ serviceDomain: '127.0.0.1', servicePort: 8080 }, '/client/path').url, 'http://127.0.0.1:8080/client/path');
  assert.equal(serviceFieldsAddress({ serviceUrl: 'http://127.0.0.1:9000/v1/chat/completions' }, '/c').url, 'http://127.0.0.1:9000/v1/chat/completions');
  assert.equal(serviceFieldsAddress({ serviceUrl: 'http://h.example/p', serviceDomain: 'd.example', servicePath: '/q' }, '/c').url, 'http://d.example/q');
  assert.throws(() => serviceFieldsAddress({ servicePath: '/x' }, '/c'), /serviceDomain or serviceUrl is required/);
});

test('ai-transformer: provider.domain is DashScope\'s host on https, or a whole URL', () => {
  assert.equal(providerDomainAddress('dashscope.aliyuncs.com', '/api/v1/x').url, 'https://dashscope.aliyuncs.com/api/v1/x');
  assert.equal(providerDomainAddress('http://127.0.0.1:1/v1/chat/completions', '/api').url, 'http://127.0.0.1:1/v1/chat/completions');
  assert.throws(() => providerDomainAddress('a/b', '/x'), /provider\.domain: "a\/b" is not a host name/);
});
