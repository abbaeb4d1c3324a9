import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { compileReplaceRoles, DenyWords, MaskSession } from './masking.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

test('replace with captures, hash, restore of the restorable ones only', () => {
  const rules = compileReplaceRoles([
    { regex: '%{MOBILE}', type: 'replace', value: '****' },
    { regex: '%{EMAILLOCALPART}@%{HOSTNAME:domain}', type: 'replace', restore: true, value: '****@$domain' },
    { regex: 'sk-[0-9a-zA-Z]*', type: 'hash', restore: true },
  ], 'replace_roles');
  const s = new MaskSession(rules);
  const masked = s.mask('key sk-12345, mail test@gmail.com, phone 13800138000');
  assert.equal(masked, `key ${sha('sk-12345')}, mail ****@gmail.com, phone ****`);
  assert.equal(s.masked, 3);
  assert.equal(s.restore(`use ${sha('sk-12345')} and ****@gmail.com; **** stays`), 'use sk-12345 and test@gmail.com; **** stays');
  assert.equal(s.maxMaskLength, 64);
});

test('a mask two originals produced is not restored', () => {
  const s = new MaskSession(compileReplaceRoles([{ regex: '%{IP}', type: 'replace', restore: true, value: '***' }], 'r'));
  s.mask('10.0.0.1 and 10.0.0.2');
  assert.equal(s.restore('*** here'), '*** here');
  const one = new MaskSession(compileReplaceRoles([{ regex: '%{IP}', type: 'replace', restore: true, value: '***' }], 'r'));
  one.mask('10.0.0.1 and 10.0.0.1');
  assert.equal(one.restore('*** here'), '10.0.0.1 here');
});

test('safeCut never splits a mask', () => {
  const s = new MaskSession(compileReplaceRoles([{ regex: 'secret-\\d+', type: 'replace', restore: true, value: 'MASK$0' }], 'r'));
  s.mask('secret-1');
  assert.equal(s.safeCut('ab MASKsecret-1 cd', 5), 3);
  assert.equal(s.safeCut('ab MASKsecret-1 cd', 2), 2);
});

test('bad rules are refused naming the field', () => {
  assert.throws(() => compileReplaceRoles([{ regex: '(a', type: 'replace', value: 'x' }], 'replace_roles'), /replace_roles\[0\]\.regex/);
  assert.throws(() => compileReplaceRoles([{ regex: 'a(?=b)', type: 'replace', value: 'x' }], 'replace_roles'), /replace_roles\[0\]\.regex/);
  assert.throws(() => compileReplaceRoles([{ regex: 'a', type: 'replace', value: '$2' }], 'replace_roles'), /replace_roles\[0\]\.value: \$2/);
  assert.throws(() => compileReplaceRoles([{ regex: 'a', type: 'replace', value: '$dom' }], 'replace_roles'), /names no group/);
  assert.throws(() => compileReplaceRoles([{ regex: 'a', type: 'replace' }], 'replace_roles'), /replace_roles\[0\]\.value/);
  assert.throws(() => compileReplaceRoles([{ regex: 'a', type: 'hash', value: 'x' }], 'replace_roles'), /leave value out/);
});

test('deny words: case-insensitive, whole words for letters, substrings for other scripts', () => {
  const d = new DenyWords(['secret-project', 'ass', '机密']);
  assert.equal(d.find('about the Secret-Project plan'), 'Secret-Project');
  assert.equal(d.find('a class of its own'), undefined);
  assert.equal(d.find('这是机密文件'), '机密');
  assert.equal(d.maxLength, 14);
  assert.equal(new DenyWords([]).find('anything'), undefined);
});
