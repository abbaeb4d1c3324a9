import { findGlobalRuleConflict } from '../../config-store/validate.js';
import { badRequest } from '../errors.js';
import type { ResourceDeclaration } from '../resource.js';

export const globalRules: ResourceDeclaration = {
  kind: 'global_rules',
  label: 'global rule',
  post: false,
  patch: true,
  async check(value, ctx) {
    const conflict = findGlobalRuleConflict(ctx.storeId, value, await ctx.store.list('global_rules'));
    if (conflict !== undefined) throw badRequest(conflict);
  },
};
