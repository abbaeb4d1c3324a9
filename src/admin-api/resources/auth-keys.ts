// An auth plugin finds its consumer by one attribute (key-auth `key`, ...), so two
// consumers or credentials holding the same value would make the lookup ambiguous.
// APISIX refuses such writes (best effort); so do we.
import type { ResourceKind } from '../../contracts/resources.js';
import { splitCredentialKey } from '../../config-store/state.js';
import { badRequest } from '../errors.js';
import type { WriteContext } from '../resource.js';

type Obj = Record<string, unknown>;

const KEY_FIELD: Record<string, string> = {
  'key-auth': 'key', 'basic-auth': 'username', 'jwt-auth': 'key', 'hmac-auth': 'key_id',
};

function authKeys(value: Obj): [string, string][] {
  const out: [string, string][] = [];
  const plugins = value.plugins as Obj | undefined;
  if (plugins === undefined) return out;
  for (const [plugin, field] of Object.entries(KEY_FIELD)) {
    const v = (plugins[plugin] as Obj | undefined)?.[field];
    if (typeof v === 'string') out.push([plugin, v]);
  }
  return out;
}

export async function checkUniqueAuthKeys(kind: ResourceKind, value: Obj, ctx: WriteContext): Promise<void> {
  const mine = authKeys(value);
  if (mine.length === 0) return;
  for (const other of ['consumers', 'credentials'] as const) {
    for (const o of await ctx.store.list(other)) {
      if (other === kind && o.id === ctx.storeId) continue;
      for (const [plugin, key] of authKeys(o.value)) {
        if (!mine.some(([p, k]) => p === plugin && k === key)) continue;
        const owner = other === 'consumers' ? o.id : splitCredentialKey(o.id).username;
        throw badRequest(`duplicate key of plugin ${plugin} found with consumer: ${owner}`);
      }
    }
  }
}
