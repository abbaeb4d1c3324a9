import type { ResourceDeclaration } from '../resource.js';

export const routes: ResourceDeclaration = { kind: 'routes', label: 'route', post: true, patch: true };
