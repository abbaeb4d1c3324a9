import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPort, urlHost } from './host-port.js';

test('an IPv6 literal is bracketed once; names and IPv4 addresses are kept', () => {
  assert.equal(urlHost('::1'), '[::1]');
  assert.equal(urlHost('[::1]'), '[::1]');
  assert.equal(urlHost('127.0.0.1'), '127.0.0.1');
  assert.equal(urlHost('example.com'), 'example.com');
  assert.equal(hostPort('fe80::1', 8080), '[fe80::1]:8080');
  assert.equal(hostPort('10.0.0.1', '80'), '10.0.0.1:80');
});
