// A real OCI registry on loopback for the import tests: Debian's `docker-registry`
// (distribution 2.8) started in a temp dir, and a push over the registry HTTP API
// (blob upload POST + PUT ?digest=, then PUT of the manifest).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestOf, type Blob } from './oci-image.js';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** host:port, as an oci:// url names it. */
  host: string;
  /** Pushes the config and layer blobs, then a manifest naming them under `tag`; resolves the manifest's digest. */
  push(repo: string, tag: string, layers: Blob[], opts?: { config?: Buffer; manifestType?: string; configType?: string }): Promise<string>;
  /** PUTs a manifest (or index) as given under `ref`; resolves its digest. */
  pushManifest(repo: string, ref: string, manifest: Buffer, mediaType: string): Promise<string>;
  stop(): Promise<void>;
}

/** Why the registry tests cannot run here, or undefined when they can. */
export function registryMissing(): string | undefined {
  return existsSync(REGISTRY_BINARY) ? undefined
    : `${REGISTRY_BINARY} is missing: apt-get install -y docker-registry (CI's .ci/run installs it)`;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitReady(base: string, proc: ChildProcess, output: () => string): Promise<void> {
  // bounded: 100 tries, 50 ms apart
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited with ${proc.exitCode}: ${output()}`);
    try {
      const res = await fetch(`${base}/v2/`);
      if (res.status === 200) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer on ${base}: ${output()}`);
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1', 'log:', '  level: error', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`,
    'http:', `  addr: ${host}`, '',
  ].join('\n'));
  const proc = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });
  proc.stderr!.on('data', (c: Buffer) => { out = (out + c.toString()).slice(-4000); });
  const base = `http://${host}`;
  try {
    await waitReady(base, proc, () => out);
  } catch (e) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  const pushBlob = async (repo: string, bytes: Buffer): Promise<string> => {
    const digest = digestOf(bytes);
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
    const location = new URL(start.headers.get('location')!, base);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', body: new Uint8Array(bytes), headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
    return digest;
  };

  const registry: TestRegistry = {
    host,
    async push(repo, tag, layers, opts = {}) {
      const config = opts.config ?? Buffer.from('{}');
      const manifestType = opts.manifestType ?? 'application/vnd.oci.image.manifest.v1+json';
      await pushBlob(repo, config);
      for (const l of layers) await pushBlob(repo, l.bytes);
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: manifestType,
        config: { mediaType: opts.configType ?? 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: digestOf(l.bytes), size: l.bytes.length })),
      }));
      return registry.pushManifest(repo, tag, manifest, manifestType);
    },
    async pushManifest(repo, ref, manifest, mediaType) {
      const res = await fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: new Uint8Array(manifest), headers: { 'content-type': mediaType } });
      if (res.status !== 201) throw new Error(`manifest push: ${res.status} ${await res.text()}`);
      return digestOf(manifest);
    },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return registry;
}
