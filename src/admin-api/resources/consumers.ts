import type { ResourceDeclaration } from '../resource.js';
import { checkUniqueAuthKeys } from './auth-keys.js';

// Keyed by username: `PUT /consumers` (username in the body) or `PUT /consumers/<username>`.
export const consumers: ResourceDeclaration = {
  kind: 'consumers',
  label: 'consumer',
  post: false,
  patch: false,
  idField: 'username',
  check: (value, ctx) => checkUniqueAuthKeys('consumers', value, ctx),
  dependents: async (store, username) =>
    (await store.list('credentials')).filter((c) => c.id.startsWith(`${username}/`)),
};
