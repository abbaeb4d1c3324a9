// `GET /apisix/admin/session`: who the key sent with the request is (its name and role),
// so a client (the dashboard) can tell whether to offer writes. The key itself is never
// returned. Like every admin call it needs a key; viewers may read it.
import { AdminError } from './errors.js';
import type { AdminRouteHandler } from './server.js';

export interface SessionView {
  name: string;
  role: 'admin' | 'viewer';
}

export function sessionRoute(): AdminRouteHandler {
  return (req) => {
    if (req.segments.length !== 0) throw new AdminError(404, 'not found (try /apisix/admin/session)');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new AdminError(405, `not supported \`${req.method}\` method for session`);
    const body: SessionView = { name: req.key.name, role: req.key.role };
    return { status: 200, body };
  };
}
