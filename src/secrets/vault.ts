// HashiCorp Vault's KV secrets engine (v1 and v2) over its HTTP API: the `vault`
// secret manager of `/apisix/admin/secrets/vault/<id>`.

export interface VaultConf {
  uri: string;
  prefix: string;
  token: string;
  namespace?: string;
}

const TIMEOUT_MS = 5_000;

/**
 * Reads field `field` of the secret at `<prefix>/<path>`: `GET <uri>/v1/<prefix>/<path>`
 * with `X-Vault-Token`. KV v1 answers `{data: {...}}`; v2 (a prefix like `kv/data/app`)
 * answers `{data: {data: {...}, metadata: {...}}}`. Errors never carry the answer's body.
 */
export async function readVaultField(conf: VaultConf, token: string, path: string, field: string): Promise<string> {
  const segments = `${conf.prefix}/${path}`.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) throw new Error('the secret path may not contain "." or ".." segments');
  const url = `${conf.uri.replace(/\/+$/, '')}/v1/${segments.map(encodeURIComponent).join('/')}`;
  const headers: Record<string, string> = { 'x-vault-token': token, accept: 'application/json' };
  if (conf.namespace !== undefined) headers['x-vault-namespace'] = conf.namespace;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
  } catch (err) {
    throw new Error(`vault request failed: ${(err as Error).name === 'TimeoutError' ? 'timed out' : (err as Error).message}`);
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`vault answered ${res.status}`);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new Error('vault answered something that is not JSON');
  }
  let data = (body as { data?: unknown }).data as Record<string, unknown> | undefined;
  if (data !== null && typeof data === 'object' && typeof data.data === 'object' && data.data !== null
    && typeof data.metadata === 'object') {
    data = data.data as Record<string, unknown>; // KV v2
  }
  const v = data?.[field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`the secret has no string field ${field}`);
}
