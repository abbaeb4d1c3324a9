import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { AdminAuth } from './auth.js';
import { AdminError } from './errors.js';

const req = (headers: Record<string, string>, remoteAddress = '127.0.0.1'): IncomingMessage =>
  ({ headers, socket: { remoteAddress } }) as unknown as IncomingMessage;
const q = (s = ''): URLSearchParams => new URLSearchParams(s);

const auth = new AdminAuth([
  { name: 'admin', key: 'admin-secret', role: 'admin' },
  { name: 'ro', key: 'viewer-secret', role: 'viewer' },
], ['127.0.0.0/8', '::1']);

function refused(fn: () => unknown, status: number, description?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof AdminError && e.status === status
    && (description === undefined || e.extra?.description === description));
}

describe('admin access control', () => {
  it('refuses clients outside the allow list with 403, IPv4-mapped addresses included', () => {
    auth.checkAddress(req({}, '127.0.0.1'));
    auth.checkAddress(req({}, '::ffff:127.0.0.9'));
    auth.checkAddress(req({}, '::1'));
    refused(() => auth.checkAddress(req({}, '10.1.2.3')), 403);
    refused(() => auth.checkAddress(req({}, '::ffff:10.1.2.3')), 403);
  });

  it('reads the key from the header, the api_key argument or the x_api_key cookie', () => {
    assert.equal(auth.authenticate(req({ 'x-api-key': 'admin-secret' }), q(), 'PUT').name, 'admin');
    assert.equal(auth.authenticate(req({}), q('api_key=admin-secret'), 'PUT').name, 'admin');
    assert.equal(auth.authenticate(req({ cookie: 'a=b; x_api_key=admin-secret' }), q(), 'PUT').name, 'admin');
  });

  it('answers 401 for a missing or wrong key, with APISIX descriptions', () => {
    refused(() => auth.authenticate(req({}), q(), 'GET'), 401, 'missing apikey');
    refused(() => auth.authenticate(req({ 'x-api-key': 'admin-secre' }), q(), 'GET'), 401, 'wrong apikey');
    refused(() => auth.authenticate(req({ 'x-api-key': 'admin-secret-and-more' }), q(), 'GET'), 401, 'wrong apikey');
  });

  it('lets a viewer read but answers 403 when it writes', () => {
    assert.equal(auth.authenticate(req({ 'x-api-key': 'viewer-secret' }), q(), 'GET').role, 'viewer');
    for (const m of ['PUT', 'POST', 'PATCH', 'DELETE']) {
      refused(() => auth.authenticate(req({ 'x-api-key': 'viewer-secret' }), q(), m), 403, 'invalid method for role viewer');
    }
  });
});
