import { consumerGroupInUse } from '../references.js';
import type { ResourceDeclaration } from '../resource.js';

export const consumerGroups: ResourceDeclaration = {
  kind: 'consumer_groups', label: 'consumer group', post: false, patch: true, inUse: consumerGroupInUse,
};
