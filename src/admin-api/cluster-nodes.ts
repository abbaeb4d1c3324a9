// `GET /apisix/admin/cluster/nodes`: the gateway nodes sharing this configuration, each
// with its version, the revision all its workers applied and how far behind that is
// (src/cluster/membership.ts). A node on an embedded store lists itself alone.
import type { ClusterNodeView } from '../cluster/membership.js';
import { AdminError } from './errors.js';
import type { AdminRouteHandler } from './server.js';

export interface ClusterNodesDeps {
  nodes(): Promise<ClusterNodeView[]>;
  /** The newest revision this node knows. */
  revision(): number;
}

export function clusterNodesRoute(deps: ClusterNodesDeps): AdminRouteHandler {
  return async (req) => {
    if (req.segments.length !== 1 || req.segments[0] !== 'nodes') throw new AdminError(404, 'not found (try /apisix/admin/cluster/nodes)');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new AdminError(405, `not supported \`${req.method}\` method for cluster nodes`);
    let list: ClusterNodeView[];
    try {
      list = await deps.nodes();
    } catch (err) {
      throw new AdminError(503, `the cluster's node directory cannot be read: ${(err as Error).message}`);
    }
    return { status: 200, body: { total: list.length, revision: deps.revision(), list } };
  };
}
