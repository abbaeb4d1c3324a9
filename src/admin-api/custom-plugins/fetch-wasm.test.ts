import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { digestOf, higressLayer, tarOf } from '../../../test/helpers/oci-image.js';
import { AdminError } from '../errors.js';
import { extractPluginWasm, fetchLimited, parseBearerChallenge, parseOciUrl, pullOciWasm, registryBaseUrl, selectFromIndex, selectLayers, WASM_LAYER } from './fetch-wasm.js';

const wasm = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x2a]);

describe('oci:// references', () => {
  it('parses host, port, repository, tag and digest', () => {
    assert.deepEqual(parseOciUrl('oci://127.0.0.1:5000/plugins/demo:1.0.0'),
      { registry: '127.0.0.1:5000', repository: 'plugins/demo', reference: '1.0.0', tag: '1.0.0' });
    assert.deepEqual(parseOciUrl('oci://registry.example.com/demo'),
      { registry: 'registry.example.com', repository: 'demo', reference: 'latest', tag: 'latest' });
    const digest = `sha256:${'a'.repeat(64)}`;
    assert.deepEqual(parseOciUrl(`oci://h:1/demo@${digest}`), { registry: 'h:1', repository: 'demo', reference: digest });
    assert.throws(() => parseOciUrl('oci://hostonly'), (e: unknown) => e instanceof AdminError && /spec\.url/.test(e.message));
    assert.throws(() => parseOciUrl('oci://h/Demo'), /spec\.url/);
  });

  it('speaks plain http only to loopback registries', () => {
    assert.equal(registryBaseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(registryBaseUrl('localhost:5000'), 'http://localhost:5000');
    assert.equal(registryBaseUrl('[::1]:5000'), 'http://[::1]:5000');
    assert.equal(registryBaseUrl('registry.example.com'), 'https://registry.example.com');
    assert.equal(registryBaseUrl('127.example.com'), 'https://127.example.com');
  });
});

describe('manifest and layer selection', () => {
  const d = (mediaType: string, n: string): { mediaType: string; digest: string } => ({ mediaType, digest: `sha256:${n.repeat(64)}` });
  it('takes the first manifest of an index', () => {
    assert.equal(selectFromIndex({ manifests: [d('application/vnd.oci.image.manifest.v1+json', '1'), d('x', '2')] }).digest, `sha256:${'1'.repeat(64)}`);
    assert.throws(() => selectFromIndex({ manifests: [] }), /no manifest/);
  });
  it('prefers the wasm layer; otherwise tar layers from the top', () => {
    const tarA = d('application/vnd.oci.image.layer.v1.tar+gzip', 'a');
    const tarB = d('application/vnd.docker.image.rootfs.diff.tar.gzip', 'b');
    const w = d(WASM_LAYER, 'c');
    assert.deepEqual(selectLayers({ layers: [tarA, w] }), [w]);
    assert.deepEqual(selectLayers({ layers: [tarA, tarB] }), [tarB, tarA]);
    assert.throws(() => selectLayers({ layers: [d('application/json', 'e')] }), /no wasm layer/);
  });
});

describe('plugin.wasm from a tar layer', () => {
  it('finds plugin.wasm in a gzipped or plain tar, with or without ./', () => {
    assert.deepEqual(extractPluginWasm(higressLayer(wasm)), wasm);
    assert.deepEqual(extractPluginWasm(tarOf([['README', Buffer.alloc(700, 1)], ['plugin.wasm', wasm]])), wasm);
    assert.deepEqual(extractPluginWasm(gzipSync(tarOf([['/plugin.wasm', wasm]]))), wasm);
  });
  it('is undefined when there is none, and refuses a broken gzip', () => {
    assert.equal(extractPluginWasm(tarOf([['other.wasm', wasm], ['dir/plugin.wasm', wasm]])), undefined);
    assert.throws(() => extractPluginWasm(Buffer.from([0x1f, 0x8b, 1, 2, 3])), /not valid gzip/);
  });
});

describe('fetching over http', () => {
  async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, close: () => { server.closeAllConnections(); return new Promise((r) => server.close(() => r())); } };
  }
  const opts = { timeoutMs: 300, maxBytes: 1000, tooLarge: 'too large: the limit', field: 'spec.url' };
  const status = (n: number, re: RegExp) => (e: unknown): boolean => e instanceof AdminError && e.status === n && re.test(e.message);

  it('caps the size whether declared or streamed (413), refuses a non-200 and a server that never answers (400)', async () => {
    const srv = await serve((req, res) => {
      if (req.url === '/declared') { res.writeHead(200, { 'content-length': '5000' }); res.write(Buffer.alloc(10)); return; }
      if (req.url === '/streamed') { res.writeHead(200); for (let i = 0; i < 5; i++) res.write(Buffer.alloc(400)); res.end(); return; }
      if (req.url === '/hang') return;
      if (req.url === '/ok') { res.end(Buffer.from('wasm')); return; }
      res.writeHead(404).end();
    });
    try {
      await assert.rejects(fetchLimited(`${srv.url}/declared`, opts), status(413, /the limit/));
      await assert.rejects(fetchLimited(`${srv.url}/streamed`, opts), status(413, /the limit/));
      await assert.rejects(fetchLimited(`${srv.url}/nothing`, opts), status(400, /spec\.url: .* answered 404/));
      await assert.rejects(fetchLimited(`${srv.url}/hang`, opts), status(400, /spec\.url: .*no answer within 300 ms/));
      assert.equal((await fetchLimited(`${srv.url}/ok`, opts)).bytes.toString(), 'wasm');
    } finally {
      await srv.close();
    }
  });

  it('pulls an image from a registry API, refusing a layer whose bytes do not match its digest', async () => {
    const good = higressLayer(wasm);
    const manifest = (layer: Buffer, claimed = layer): Buffer => Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(claimed), size: layer.length }],
    }));
    const blobs = new Map([[digestOf(good), good]]);
    const tampered = Buffer.concat([good, Buffer.from('x')]);
    const srv = await serve((req, res) => {
      const m = /^\/v2\/p\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
      if (m?.[1] === 'manifests' && m[2] === 'good') { res.end(manifest(good)); return; }
      if (m?.[1] === 'manifests' && m[2] === 'bad') { res.end(manifest(good, tampered)); blobs.set(digestOf(tampered), good); return; }
      const blob = m?.[1] === 'blobs' ? blobs.get(m[2]!) : undefined;
      if (blob !== undefined) { res.end(blob); return; }
      res.writeHead(404).end();
    });
    try {
      const host = srv.url.slice('http://'.length);
      const pulled = await pullOciWasm(`oci://${host}/p:good`, { timeoutMs: 5000 });
      assert.deepEqual(pulled, { bytes: wasm, tag: 'good' });
      await assert.rejects(pullOciWasm(`oci://${host}/p:bad`, { timeoutMs: 5000 }), status(400, /spec\.url: layer sha256:[0-9a-f]+ arrived with digest/));
    } finally {
      await srv.close();
    }
  });
});

describe('registries that want a token', () => {
  it('parses Bearer challenges', () => {
    assert.deepEqual(parseBearerChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:p:pull"'),
      { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:p:pull' });
    assert.equal(parseBearerChallenge('Basic realm="x"'), undefined);
    assert.equal(parseBearerChallenge(null), undefined);
  });

  it('fetches an anonymous pull token on the first 401 and sends it on; a refused token is a 400', async () => {
    const layer = Buffer.from(wasm);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.module.wasm.config.v1+json', digest: digestOf(Buffer.from('{}')), size: 2 },
      layers: [{ mediaType: WASM_LAYER, digest: digestOf(layer), size: layer.length }] }));
    const tokenRequests: string[] = [];
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/token') {
        tokenRequests.push(url.search);
        if (url.searchParams.get('scope') === 'repository:private:pull') { res.writeHead(401).end('{"errors":[]}'); return; }
        res.end(JSON.stringify({ token: 't0k' }));
        return;
      }
      const repo = /^\/v2\/([a-z]+)\//.exec(url.pathname)?.[1] ?? '';
      if (req.headers.authorization !== 'Bearer t0k') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="reg",scope="repository:${repo}:pull"` }).end();
        return;
      }
      if (url.pathname === `/v2/${repo}/manifests/1.0`) res.end(manifest);
      else if (url.pathname === `/v2/${repo}/blobs/${digestOf(layer)}`) res.end(layer);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      assert.deepEqual(await pullOciWasm(`oci://127.0.0.1:${port}/public:1.0`, { timeoutMs: 5000 }), { bytes: layer, tag: '1.0' });
      assert.deepEqual(tokenRequests, ['?service=reg&scope=repository%3Apublic%3Apull'], 'one token for the whole pull');
      await assert.rejects(pullOciWasm(`oci://127.0.0.1:${port}/private:1.0`, { timeoutMs: 5000 }),
        (e: unknown) => e instanceof AdminError && e.status === 400 && /wants a login.*imagePullSecret is not supported/.test(e.message));
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
