// A local server speaking the part of Eureka's REST API the eureka discovery uses, as
// Eureka documents it: `GET <prefix>apps` with `Accept: application/json` answers
// `{"applications": {"application": [{"name", "instance": [...]}]}}`, application names
// upper-cased, and, as Eureka's JSON does, a list of one written as the element itself.
// `auth` makes it require that Basic authorization (401 otherwise). Not Eureka itself: the
// gateway has not been tried against a real one. Every request is recorded.
import type http from 'node:http';
import { LocalHttpServer } from './discovery.js';

export interface EurekaInstance {
  ip: string;
  port?: number;
  securePort?: number;
  status?: string;
  overriddenStatus?: string;
  metadata?: Record<string, string>;
}

export class FakeEureka extends LocalHttpServer {
  readonly requests: { path: string; authorization: string | undefined; accept: string | undefined }[] = [];
  auth: { user: string; password: string } | undefined;
  private readonly apps = new Map<string, EurekaInstance[]>();
  constructor(private readonly prefix = '/eureka/') {
    super();
  }

  set(app: string, instances: EurekaInstance[]): void {
    this.apps.set(app.toUpperCase(), instances);
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ path: req.url ?? '', authorization: req.headers.authorization, accept: req.headers.accept });
    if (this.auth !== undefined && req.headers.authorization !== `Basic ${Buffer.from(`${this.auth.user}:${this.auth.password}`).toString('base64')}`) {
      res.writeHead(401).end();
      return;
    }
    if (req.url !== `${this.prefix}apps`) {
      res.writeHead(404).end();
      return;
    }
    const application = [...this.apps].map(([name, instances]) => ({
      name,
      instance: one(instances.map((i) => ({
        instanceId: `${i.ip}:${name}:${i.port ?? i.securePort}`, app: name, ipAddr: i.ip, hostName: i.ip,
        status: i.status ?? 'UP', overriddenStatus: i.overriddenStatus ?? 'UNKNOWN',
        port: { $: i.port ?? 80, '@enabled': String(i.port !== undefined) },
        securePort: { $: i.securePort ?? 443, '@enabled': String(i.securePort !== undefined) },
        metadata: i.metadata ?? { '@class': 'java.util.Collections$EmptyMap' },
      }))),
    }));
    const body = JSON.stringify({ applications: { versions__delta: '1', apps__hashcode: 'UP_1_', application: one(application) } });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }
}

/** Eureka's JSON: a list of one is written as its element. */
function one<T>(items: T[]): T | T[] {
  return items.length === 1 ? items[0]! : items;
}

export async function startFakeEureka(): Promise<FakeEureka> {
  const eureka = new FakeEureka();
  await eureka.start();
  return eureka;
}
