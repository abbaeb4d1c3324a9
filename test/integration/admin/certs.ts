import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestCert } from '../../helpers/certs.js';

/** A self-signed certificate for `name` whose validity ended yesterday. */
export function makeExpiredCert(name: string): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-expired-'));
  try {
    const key = join(dir, 'key.pem');
    const csr = join(dir, 'req.csr');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`],
      { stdio: 'ignore' });
    // x509 -days takes a negative count: notAfter ends up before notBefore (now)
    execFileSync('openssl', ['x509', '-req', '-in', csr, '-signkey', key, '-days', '-1', '-out', cert], { stdio: 'ignore' });
    return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
