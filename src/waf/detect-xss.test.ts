import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectXss } from './detect-xss.js';

// Payloads from the OWASP XSS filter evasion cheat sheet and PortSwigger's list.
const ATTACKS = [
  '<script>alert(1)</script>', '<SCRIPT SRC=//evil.example/x.js></SCRIPT>', '"><script>alert(document.cookie)</script>',
  '<img src=x onerror=alert(1)>', '<IMG SRC="javascript:alert(\'XSS\');">', '<svg onload=alert(1)>', '<svg/onload=alert(1)>',
  '<body onload=alert(1)>', '<iframe src="javascript:alert(1)"></iframe>', '<a href="jav&#x09;ascript:alert(1)">x</a>',
  'javascript:alert(1)', ' JaVaScRiPt:alert(1)', '<div style="width: expression(alert(1))">', '<object data="data:text/html;base64,PHNjcmlwdD4=">',
  '<details open ontoggle=alert(1)>', '<input autofocus onfocus=alert(1)>', '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<a href="vbscript:msgbox(1)">x</a>', '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">', '<embed src=x.swf>',
  "<form action=javascript:alert(1)><input type=submit>", '<isindex type=image src=1 onerror=alert(1)>', '<x onclick=alert(1)>click',
];
const BENIGN = [
  'a < b', 'x<5 and y>3', '<b>bold</b>', '<p class="intro">Hello</p>', '<a href="https://example.com/">link</a>',
  'I <3 this', 'Price <= 20 EUR', 'one, two > three', 'the <scripts> folder is fine', 'email@example.com',
  'Select all that apply', 'onload is an event name', 'javascript is a language', 'https://example.com/?q=javascript',
  'Markdown **bold** and `code`', '1 + 1 = 2', '<br/>', '<img src="/logo.png" alt="logo">',
];

test('known XSS payloads are detected', () => {
  for (const p of ATTACKS) assert.equal(detectXss(p), true, p);
});

test('ordinary text and harmless markup are not', () => {
  for (const b of BENIGN) assert.equal(detectXss(b), false, b);
});

test('long input stays linear', () => {
  const started = performance.now();
  detectXss('<a '.repeat(50_000));
  detectXss('<'.repeat(100_000));
  assert.ok(performance.now() - started < 2000);
});
