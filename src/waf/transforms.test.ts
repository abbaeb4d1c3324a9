import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRANSFORMS } from './transforms.js';
import { PhraseMatcher } from './aho-corasick.js';
import { relaxPcre } from './operators.js';

const t = (name: string, input: string): string => TRANSFORMS[name]!(input);

test('decoders', () => {
  assert.equal(t('urldecodeuni', '%3Cscript%3E+%u0041%uff1c'), '<script> A<');
  assert.equal(t('urldecode', '%zz%41'), '%zzA');
  assert.equal(t('htmlentitydecode', '&lt;a&#x3e;&#65;&quot;&unknown;'), '<a>A"&unknown;');
  assert.equal(t('jsdecode', '\\x3cscript\\u003e\\n\\101'), '<script>\nA');
  assert.equal(t('cssdecode', 'j\\61 vascript\\3a'), 'javascript:');
  assert.equal(t('base64decode', 'PHNjcmlwdD4='), '<script>');
  assert.equal(t('hexdecode', '3c62'), '<b');
  assert.equal(t('utf8tounicode', Buffer.from('é', 'utf8').toString('latin1')), '%u00e9');
});

test('normalisers', () => {
  assert.equal(t('normalisepath', '/a/./b/../../../etc//passwd'), '/etc/passwd');
  assert.equal(t('normalisepathwin', 'a\\..\\..\\win.ini'), '../win.ini');
  assert.equal(t('cmdline', "C^at  /Etc/'pa'ss\\wd;  ls"), 'cat/etc/passwd ls');
  assert.equal(t('compresswhitespace', 'a \t\n b'), 'a b');
  assert.equal(t('removewhitespace', 'a \t\n b'), 'ab');
  assert.equal(t('replacecomments', 'un/**/ion sel/*ect'), 'un ion sel ');
  assert.equal(t('removenulls', 'a\0b'), 'ab');
  assert.equal(t('lowercase', 'SeLeCt'), 'select');
  assert.equal(t('length', 'abcd'), '4');
  assert.equal(t('trim', '  x  '), 'x');
  assert.equal(t('sha1', 'abc').length, 20);
});

test('Aho-Corasick: case-insensitive, overlapping phrases, first match', () => {
  const m = new PhraseMatcher(['he', 'she', 'hers', 'NIKTO']);
  assert.equal(m.find('ushers'), 'she');
  assert.equal(m.find('Mozilla (Nikto/2.1)'), 'NIKTO');
  assert.equal(m.find('nothing'), undefined);
  assert.equal(new PhraseMatcher(['abcd', 'bc']).find('xabcx'), 'bc');
});

test('possessive quantifiers become greedy, \\v a byte; classes and escapes are left alone', () => {
  assert.equal(relaxPcre('a*+b++c?+d{2}+'), 'a*b+c?d{2}');
  assert.equal(relaxPcre('[a++]\\++\\v'), '[a++]\\++\\x0b');
  assert.equal(relaxPcre('\\+++'), '\\++');
  assert.equal(relaxPcre('[\\s\\v]--\\\\v'), '[\\s\\x0b]--\\\\v', 'in a class too; an escaped backslash before v is not \\v');
});
