import type { ResourceDeclaration } from '../resource.js';

export const globalRules: ResourceDeclaration = { kind: 'global_rules', label: 'global rule', post: false, patch: true };
