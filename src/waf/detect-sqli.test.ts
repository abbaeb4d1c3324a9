import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectSqli } from './detect-sqli.js';

// Payloads from public SQL injection cheat sheets (sqlmap's, OWASP's testing guide).
const ATTACKS = [
  "1' or '1'='1", "' OR 1=1--", "admin'--", "admin' #", "admin'/*", "' or ''='", "1 OR 1=1", '1) or (1=1',
  '-1 UNION SELECT username, password FROM users', "' UNION ALL SELECT NULL,NULL--", "1' union/**/select/**/1,2--",
  "1; DROP TABLE users", "'; DELETE FROM orders WHERE 1=1; --", "1'; insert into users values('x','y')--",
  "1' AND SLEEP(5)--", "1 and benchmark(5000000,md5(1))", "'; WAITFOR DELAY '0:0:5'--", "1' and pg_sleep(5)--",
  "' and extractvalue(1,concat(0x7e,version()))--", "1 and updatexml(1,concat(0x7e,user()),1)",
  "' and 1=(select count(*) from information_schema.tables)--", "' union select @@version--", "1' ORDER BY 3--",
  "' OR 'x'='x", '" or "a"="a', "x' or 1=1 limit 1 -- -", "1'; exec xp_cmdshell 'dir'--", "' and (select 1)=1--",
  "1' into outfile '/tmp/x'--", "'; shutdown--",
];
const BENIGN = [
  "O'Reilly", "it's a nice day", "Bob O'Neil", "rock 'n' roll", 'select a plan that fits', 'drop me a line',
  'union station', 'Tom & Jerry; Sylvester & Tweety', '1 or 2 items', "I don't know, maybe", 'price >= 10 and < 20',
  'Please update my address; thanks', 'order by price', 'user@example.com', '2024-01-01T00:00:00Z', 'C++ and C#',
  'Select all that apply, then drop them into the cart.', "Rue de l'Église 12", 'Q&A - sleep better', '50% off',
  '{"name":"D\'Angelo","qty":3}', 'a--b', '#hashtag', 'x=1', "Kate O'Brien's order", 'and', 'or 1',
];

test('known SQL injection payloads are detected', () => {
  for (const p of ATTACKS) assert.equal(detectSqli(p), true, p);
});

test('ordinary text, including apostrophes and SQL words, is not', () => {
  for (const b of BENIGN) assert.equal(detectSqli(b), false, b);
});

test('long input stays linear', () => {
  const started = performance.now();
  detectSqli("'".repeat(100_000));
  detectSqli('('.repeat(100_000) + ' or 1=1');
  assert.ok(performance.now() - started < 2000);
});
