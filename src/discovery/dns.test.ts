import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolverSettings, splitServiceName } from './dns.js';

describe('dns discovery settings', () => {
  it('splits service_name into host and port', () => {
    assert.deepEqual(splitServiceName('web.test'), { host: 'web.test', port: undefined });
    assert.deepEqual(splitServiceName('web.test:8080'), { host: 'web.test', port: 8080 });
    assert.deepEqual(splitServiceName('_http._tcp.web.test'), { host: '_http._tcp.web.test', port: undefined });
    assert.deepEqual(splitServiceName('[::1]:80'), { host: '::1', port: 80 });
    assert.deepEqual(splitServiceName('::1'), { host: '::1', port: undefined });
  });

  it('reads nameservers and timeouts from resolv_conf, and refuses a file without nameserver', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-resolv-'));
    try {
      const file = join(dir, 'resolv.conf');
      writeFileSync(file, '# comment\nsearch example.com\nnameserver 10.0.0.53\nnameserver ::1 # local\nnameserver not-an-ip\noptions timeout:3 attempts:4 ndots:2\n');
      assert.deepEqual(resolverSettings({ resolv_conf: file, order: ['A'] }), { servers: ['10.0.0.53', '::1'], timeoutMs: 3000, tries: 4 });
      writeFileSync(file, 'search example.com\n');
      assert.throws(() => resolverSettings({ resolv_conf: file, order: ['A'] }), /discovery\.dns\.resolv_conf: .* names no nameserver/);
      assert.throws(() => resolverSettings({ resolv_conf: join(dir, 'missing'), order: ['A'] }), /discovery\.dns\.resolv_conf: cannot read/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
