import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpUrl, parseUrl } from './http-url.js';

test('a URL that does not parse is refused naming the field, not with a bare "Invalid URL"', () => {
  assert.throws(() => parseUrl('http://h:99999', 'endpoint_addrs[0]'), { message: 'endpoint_addrs[0]: "http://h:99999" is not a URL' });
  assert.equal(parseUrl('ftp://h/x', 'f').protocol, 'ftp:');
  assert.equal(parseHttpUrl('https://h:8443/p', 'f').port, '8443');
  assert.throws(() => parseHttpUrl('ftp://h/x', 'uri'), { message: 'uri: "ftp://h/x" is not an http or https URL' });
});
