// `/apisix/admin/secrets/<manager>/<id>` (APISIX 3.x): connections to secret managers
// that `$secret://<manager>/<id>/<path>/<key>` references read. Stored with the id
// `<manager>/<id>`. The Vault token is never returned: GET shows it masked (an
// `$env://` reference, which holds no secret itself, is shown as written), and a write
// that sends the mask back keeps the stored token, so GET-edit-PUT round trips work.
import { isSecretRef } from '../../secrets/references.js';
import { badRequest } from '../errors.js';
import type { ResourceDeclaration } from '../resource.js';

type Obj = Record<string, unknown>;

export const MASKED_TOKEN = '******';

export const secrets: ResourceDeclaration = {
  kind: 'secrets',
  label: 'secret',
  post: false,
  patch: true,
  async check(value: Obj, ctx) {
    if (value.token !== MASKED_TOKEN) return;
    const stored = await ctx.store.get('secrets', ctx.storeId);
    if (stored === undefined) throw badRequest('invalid configuration: token: the masked value can only keep an existing token');
    value.token = stored.value.token;
  },
  present(value: Obj): Obj {
    if (value.token === undefined || isSecretRef(value.token)) return value;
    return { ...value, token: MASKED_TOKEN };
  },
};
