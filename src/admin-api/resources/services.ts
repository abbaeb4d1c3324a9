import { serviceInUse } from '../references.js';
import type { ResourceDeclaration } from '../resource.js';

export const services: ResourceDeclaration = {
  kind: 'services', label: 'service', post: true, patch: true, inUse: serviceInUse,
};
