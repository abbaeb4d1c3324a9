import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findFormField, formDataBoundary, replaceFormField } from './multipart-field.js';

const form = (boundary: string, parts: string[]): Buffer =>
  Buffer.from(parts.map((p) => `--${boundary}\r\n${p}\r\n`).join('') + `--${boundary}--\r\n`);

test('the boundary of a multipart/form-data Content-Type, quoted or not', () => {
  assert.equal(formDataBoundary('multipart/form-data; boundary=abc'), 'abc');
  assert.equal(formDataBoundary('Multipart/Form-Data; charset=utf-8; BOUNDARY="a b:c"'), 'a b:c');
  assert.equal(formDataBoundary('multipart/form-data'), undefined);
  assert.equal(formDataBoundary('multipart/mixed; boundary=abc'), undefined);
  assert.equal(formDataBoundary('application/json'), undefined);
  assert.equal(formDataBoundary(undefined), undefined);
  assert.equal(formDataBoundary(`multipart/form-data; boundary=${'x'.repeat(71)}`), undefined);
});

test('finds a field by name and replaces its value, leaving every other byte as it was', () => {
  const file = 'Content-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n\x00\x01name="model"\r\n--notb';
  const body = form('XyZ', [file, 'Content-Disposition: form-data; name="model"\r\n\r\nopenai/whisper-1', 'Content-Disposition: form-data; name=language\r\n\r\nen']);
  const field = findFormField(body, 'XyZ', 'model')!;
  assert.equal(field.value.toString(), 'openai/whisper-1');
  const replaced = replaceFormField(body, field, 'whisper-1');
  assert.equal(replaced.toString(), body.toString().replace('openai/whisper-1', 'whisper-1'));
  assert.equal(findFormField(body, 'XyZ', 'language')!.value.toString(), 'en', 'an unquoted name');
  assert.equal(findFormField(body, 'XyZ', 'missing'), undefined);
});

test('a preamble, a part without headers and a non-form-data part are read as Go\'s multipart reader does', () => {
  const body = Buffer.concat([Buffer.from('preamble\r\n'), form('b', ['\r\nno headers', 'Content-Disposition: attachment; name="model"\r\n\r\nx', 'Content-Disposition: form-data; name="model"\r\n\r\n'])]);
  const field = findFormField(body, 'b', 'model')!;
  assert.equal(field.value.length, 0, 'the attachment is skipped; the form-data part has an empty value');
});

test('malformed bodies give nothing', () => {
  assert.equal(findFormField(Buffer.from('no delimiter at all'), 'b', 'model'), undefined);
  assert.equal(findFormField(Buffer.from('--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nunterminated'), 'b', 'model'), undefined);
  assert.equal(findFormField(Buffer.from('--b\r\nContent-Disposition: form-data; name="model"'), 'b', 'model'), undefined);
  assert.equal(findFormField(Buffer.from(''), 'b', 'model'), undefined);
});
