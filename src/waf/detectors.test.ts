import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectSqli } from './detect-sqli.js';
import { detectXss } from './detect-xss.js';

// SQL injection payloads from public cheat sheets (sqlmap's, OWASP's testing guide).
const SQLI_ATTACKS = [
  "1' or '1'='1", "' OR 1=1--", "admin'--", "admin' #", "admin'/*", "' or ''='", "1 OR 1=1", '1) or (1=1',
  '-1 UNION SELECT username, password FROM users', "' UNION ALL SELECT NULL,NULL--", "1' union/**/select/**/1,2--",
  "1; DROP TABLE users", "'; DELETE FROM orders WHERE 1=1; --", "1'; insert into users values('x','y')--",
  "1' AND SLEEP(5)--", "1 and benchmark(5000000,md5(1))", "'; WAITFOR DELAY '0:0:5'--", "1' and pg_sleep(5)--",
  "' and extractvalue(1,concat(0x7e,version()))--", "1 and updatexml(1,concat(0x7e,user()),1)",
  "' and 1=(select count(*) from information_schema.tables)--", "' union select @@version--", "1' ORDER BY 3--",
  "' OR 'x'='x", '" or "a"="a', "x' or 1=1 limit 1 -- -", "1'; exec xp_cmdshell 'dir'--", "' and (select 1)=1--",
  "1' into outfile '/tmp/x'--", "'; shutdown--",
];
const SQLI_BENIGN = [
  "O'Reilly", "it's a nice day", "Bob O'Neil", "rock 'n' roll", 'select a plan that fits', 'drop me a line',
  'union station', 'Tom & Jerry; Sylvester & Tweety', '1 or 2 items', "I don't know, maybe", 'price >= 10 and < 20',
  'Please update my address; thanks', 'order by price', 'user@example.com', '2024-01-01T00:00:00Z', 'C++ and C#',
  'Select all that apply, then drop them into the cart.', "Rue de l'Église 12", 'Q&A - sleep better', '50% off',
  '{"name":"D\'Angelo","qty":3}', 'a--b', '#hashtag', 'x=1', "Kate O'Brien's order", 'and', 'or 1',
];

// XSS payloads from the OWASP XSS filter evasion cheat sheet and PortSwigger's list.
const XSS_ATTACKS = [
  '<script>alert(1)</script>', '<SCRIPT SRC=//evil.example/x.js></SCRIPT>', '"><script>alert(document.cookie)</script>',
  '<img src=x onerror=alert(1)>', '<IMG SRC="javascript:alert(\'XSS\');">', '<svg onload=alert(1)>', '<svg/onload=alert(1)>',
  '<body onload=alert(1)>', '<iframe src="javascript:alert(1)"></iframe>', '<a href="jav&#x09;ascript:alert(1)">x</a>',
  'javascript:alert(1)', ' JaVaScRiPt:alert(1)', '<div style="width: expression(alert(1))">', '<object data="data:text/html;base64,PHNjcmlwdD4=">',
  '<details open ontoggle=alert(1)>', '<input autofocus onfocus=alert(1)>', '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<a href="vbscript:msgbox(1)">x</a>', '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">', '<embed src=x.swf>',
  "<form action=javascript:alert(1)><input type=submit>", '<isindex type=image src=1 onerror=alert(1)>', '<x onclick=alert(1)>click',
];
const XSS_BENIGN = [
  'a < b', 'x<5 and y>3', '<b>bold</b>', '<p class="intro">Hello</p>', '<a href="https://example.com/">link</a>',
  'I <3 this', 'Price <= 20 EUR', 'one, two > three', 'the <scripts> folder is fine', 'email@example.com',
  'Select all that apply', 'onload is an event name', 'javascript is a language', 'https://example.com/?q=javascript',
  'Markdown **bold** and `code`', '1 + 1 = 2', '<br/>', '<img src="/logo.png" alt="logo">',
];

function checks(name: string, detect: (s: string) => boolean, attacks: string[], benign: string[], floods: string[]): void {
  test(`${name}: known payloads are detected`, () => {
    for (const p of attacks) assert.equal(detect(p), true, p);
  });
  test(`${name}: ordinary text is not`, () => {
    for (const b of benign) assert.equal(detect(b), false, b);
  });
  test(`${name}: long input stays linear`, () => {
    const started = performance.now();
    for (const f of floods) detect(f);
    assert.ok(performance.now() - started < 2000);
  });
}

checks('@detectSQLi', detectSqli, SQLI_ATTACKS, SQLI_BENIGN, ["'".repeat(100_000), '('.repeat(100_000) + ' or 1=1']);
checks('@detectXSS', detectXss, XSS_ATTACKS, XSS_BENIGN, ['<a '.repeat(50_000), '<'.repeat(100_000)]);
