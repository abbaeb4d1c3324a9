import type { ResourceDeclaration } from '../resource.js';
import { checkUniqueAuthKeys } from './auth-keys.js';

// `/consumers/<username>/credentials/<id>`; stored with the id `<username>/<id>`.
export const credentials: ResourceDeclaration = {
  kind: 'credentials',
  label: 'credential',
  post: false,
  patch: false,
  check: (value, ctx) => checkUniqueAuthKeys('credentials', value, ctx),
};
