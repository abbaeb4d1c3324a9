import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert { cert: string; key: string }

/** A self-signed certificate for `names` (the first is the CN), made with the openssl CLI. */
export function makeCert(names: string[], opts: { days?: number; keyType?: 'rsa' | 'ec' } = {}): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cert-'));
  try {
    const keyArgs = opts.keyType === 'ec'
      ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
      : ['-newkey', 'rsa:2048'];
    execFileSync('openssl', [
      'req', '-x509', ...keyArgs, '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', String(opts.days ?? 30), '-subj', `/CN=${names[0]}`,
      '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
    ], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TestCa extends TestCert { name: string }

/** A self-signed CA certificate, for tests that verify client (or server) certificates. */
export function makeCa(name: string): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ca-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '30', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ], { stdio: 'ignore' });
    return { name, cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A certificate for `cn` signed by `ca`; `asCa` makes it an intermediate CA. `names`
 * (DNS subjectAltNames) makes it usable as a server certificate.
 */
export function issueCert(ca: TestCa, cn: string, opts: { asCa?: boolean; names?: string[] } = {}): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cert-'));
  try {
    const p = (f: string): string => join(dir, f);
    execFileSync('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('key.pem'), '-out', p('req.csr'), '-subj', `/CN=${cn}`], { stdio: 'ignore' });
    const writeFile = (f: string, s: string): void => writeFileSync(p(f), s, { mode: 0o600 });
    writeFile('ca.pem', ca.cert);
    writeFile('ca.key', ca.key);
    const ext = opts.asCa === true
      ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n'
      : `basicConstraints=CA:FALSE\n${opts.names !== undefined ? `subjectAltName=${opts.names.map((n) => `DNS:${n}`).join(',')}\n` : ''}`;
    writeFile('ext.cnf', ext);
    execFileSync('openssl', ['x509', '-req', '-in', p('req.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-set_serial',
      `0x${randomBytes(8).toString('hex')}`, '-days', '30', '-out', p('cert.pem'), '-extfile', p('ext.cnf')], { stdio: 'ignore' });
    return { name: cn, cert: readFileSync(p('cert.pem'), 'utf8'), key: readFileSync(p('key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
