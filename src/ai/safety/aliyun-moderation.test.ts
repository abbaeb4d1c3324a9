import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aliyunVerdict, percentEncode, rpcSignature, rpcStringToSign } from './aliyun-moderation.js';

test("the RPC signature of Aliyun's documented example (DescribeRegions, secret testsecret)", () => {
  const params = {
    AccessKeyId: 'testid', Action: 'DescribeRegions', Format: 'XML', SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf', SignatureVersion: '1.0', Timestamp: '2016-02-23T12:46:24Z', Version: '2014-05-26',
  };
  assert.equal(rpcStringToSign('GET', params), 'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML'
    + '%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0'
    + '%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26');
  assert.equal(rpcSignature('GET', params, 'testsecret'), 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
});

test('percent-encoding as the signature defines it: space %20, * encoded, ~ kept, UTF-8 bytes', () => {
  assert.equal(percentEncode("a b*c~d!'()"), 'a%20b%2Ac~d%21%27%28%29');
  assert.equal(percentEncode('中'), '%E4%B8%AD');
});

test('TextModerationPlus verdicts against the level bars', () => {
  const bars = { contentModeration: 'high', promptAttack: 'max', sensitiveData: 'S3' };
  const answer = (data: Record<string, unknown>) => ({ Code: 200, Data: data });
  assert.equal(aliyunVerdict(answer({ RiskLevel: 'medium' }), bars).flagged, false);
  const high = aliyunVerdict(answer({ RiskLevel: 'high', Result: [{ Label: 'political_a' }], Advice: [{ Answer: 'no.' }] }), bars);
  assert.deepEqual(high, { flagged: true, labels: ['political_a'], advice: 'no.' });
  assert.equal(aliyunVerdict(answer({ RiskLevel: 'none', SensitiveLevel: 'S3' }), bars).flagged, true);
  assert.equal(aliyunVerdict(answer({ RiskLevel: 'high', AttackLevel: 'high' }), { ...bars, contentModeration: 'max' }).flagged, false, 'max never blocks');
  assert.throws(() => aliyunVerdict({ Code: 400, Message: 'bad' }, bars), /Code 400/);
});
