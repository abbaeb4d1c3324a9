import { upstreamInUse } from '../references.js';
import type { ResourceDeclaration } from '../resource.js';

export const upstreams: ResourceDeclaration = {
  kind: 'upstreams', label: 'upstream', post: true, patch: true, inUse: upstreamInUse,
};
