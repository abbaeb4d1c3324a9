import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeUriControlChars, uriSafeEncode } from './ngx-uri.js';

test('uriSafeEncode escapes what nginx escapes in a URI and nothing else', () => {
  assert.equal(uriSafeEncode('/a-b_c.d~e/f:g@h!$&\'()*+,;='), '/a-b_c.d~e/f:g@h!$&\'()*+,;=');
  assert.equal(uriSafeEncode('/a b#c%d?e'), '/a%20b%23c%25d%3Fe');
  assert.equal(uriSafeEncode('/é\r\n'), '/%C3%A9%0D%0A');
});

test('escapeUriControlChars keeps query delimiters', () => {
  assert.equal(escapeUriControlChars('?a=1&b=2 3'), '?a=1&b=2 3');
  assert.equal(escapeUriControlChars('?a=\r\n'), '?a=%0D%0A');
});
