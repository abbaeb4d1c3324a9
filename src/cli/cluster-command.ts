// `gatehouse cluster status`: the nodes sharing this configuration, through the Admin API
// of any of them (GET /apisix/admin/cluster/nodes).
import { adminTarget, table } from './admin-client.js';

export const CLUSTER_USAGE = `Usage: gatehouse cluster status [--admin URL] [--key KEY] [-c conf/config.yaml] [--json]

Lists the gateway nodes registered in the cluster: id, host, version, store, the
configuration revision all of a node's workers applied, and its lag behind the newest.
`;

interface NodeRow {
  id: string; hostname: string; version: string; store: string; applied_revision: number; lag: number; updated_at: string; self: boolean;
}

export async function clusterCommand(argv: string[], out: (t: string) => void, err: (t: string) => void,
  env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const options = new Map<string, string>();
  let json = false;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--admin' || a === '--key' || a === '-c' || a === '--config') {
      const v = argv[++i];
      if (v === undefined) {
        err(`${a} needs a value\n\n${CLUSTER_USAGE}`);
        return 2;
      }
      options.set(a === '--config' ? '-c' : a, v);
    } else if (a === '--json') json = true;
    else if (a.startsWith('-')) {
      err(`unknown option ${a}\n\n${CLUSTER_USAGE}`);
      return 2;
    } else positional.push(a);
  }
  if (positional.length !== 1 || positional[0] !== 'status') {
    err(CLUSTER_USAGE);
    return 2;
  }
  try {
    const api = await adminTarget(options, env);
    const r = await api.json('GET', '/cluster/nodes') as { revision: number; list: NodeRow[] };
    if (json) {
      out(`${JSON.stringify(r, null, 2)}\n`);
      return 0;
    }
    out(`${r.list.length} node(s); newest revision known here: ${r.revision}\n`);
    out(table([['ID', 'HOST', 'VERSION', 'STORE', 'APPLIED', 'LAG', 'UPDATED'],
      ...r.list.map((n) => [`${n.self ? '*' : ' '}${n.id}`, n.hostname, n.version, n.store, String(n.applied_revision), String(n.lag), n.updated_at])]));
    return 0;
  } catch (e) {
    err(`gatehouse cluster: ${(e as Error).message}\n`);
    return 1;
  }
}
