// Certificates: besides parsing (validate.ts), each private key must belong to its
// certificate and a server certificate must not have expired. Private keys are never
// returned to clients.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { clientCertUser, sslInUse } from '../references.js';
import { badRequest } from '../errors.js';
import type { ResourceDeclaration } from '../resource.js';

type Obj = Record<string, unknown>;

const isSecretRef = (v: unknown): boolean =>
  typeof v === 'string' && (v.startsWith('$secret://') || v.startsWith('$env://'));

function checkPair(cert: string, key: string, where: string, force: boolean, now: number): void {
  if (isSecretRef(cert) || isSecretRef(key)) return;
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw badRequest(`${where}the private key does not match the certificate`);
  const notAfter = Date.parse(x509.validTo);
  if (!force && Number.isFinite(notAfter) && notAfter < now) {
    throw badRequest(`${where}the certificate expired on ${new Date(notAfter).toISOString()}`
      + ' (add ?force=true to store it anyway)');
  }
}

export const ssls: ResourceDeclaration = {
  kind: 'ssls',
  label: 'ssl',
  post: true,
  patch: true,
  inUse: sslInUse,
  async check(value: Obj, ctx) {
    // `tls.client_cert_id` must name a client certificate, so a referenced one stays one.
    if (value.type !== 'client') {
      const user = await clientCertUser(ctx.store, ctx.storeId);
      if (user !== undefined) throw badRequest(`can not make this ssl a server certificate, ${user} uses it as a client certificate`);
    }
    const now = Date.now();
    checkPair(String(value.cert), String(value.key), '', ctx.force, now);
    const certs = (value.certs as string[] | undefined) ?? [];
    const keys = (value.keys as string[] | undefined) ?? [];
    for (let i = 0; i < certs.length && i < keys.length; i++) {
      checkPair(certs[i]!, keys[i]!, `failed to handle cert-key pair[${i + 1}]: `, ctx.force, now);
    }
  },
  present(value: Obj): Obj {
    const { key: _key, keys: _keys, ...rest } = value;
    return rest;
  },
};
