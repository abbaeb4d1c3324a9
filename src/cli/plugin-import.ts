// `gatehouse plugin import FILE.yaml`: every Higress WasmPlugin of a (multi-document) YAML
// file through POST /custom_plugins/import. A file:// url is read here, relative to the
// YAML file, and its bytes uploaded: the gateway's Admin API never reads its host's files.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseResourceDocuments } from '../admin-api/custom-plugins/wasmplugin.js';

type Obj = Record<string, unknown>;

export interface ImportIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Sends one import body; resolves the 2xx JSON answer, rejects with the server's message. */
export type PostImport = (body: Buffer, contentType: string) => Promise<any>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The local path of a file:// url: absolute as given, otherwise relative to the YAML file's folder. */
export function localWasmPath(url: string, yamlFile: string): string {
  let path = url.slice('file://'.length);
  try {
    path = decodeURIComponent(path);
  } catch { /* keep it as written */ }
  return path.startsWith('/') ? path : resolve(dirname(yamlFile), path);
}

/** Imports each WasmPlugin of `file`; returns the exit code (0 all imported, 1 any refused). */
export async function importWasmPluginFile(file: string, post: PostImport, io: ImportIo): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let docs: unknown[];
  try {
    docs = parseResourceDocuments(text);
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const plugins = docs.filter((d) => isObject(d) && d.kind === 'WasmPlugin');
  if (plugins.length === 0) throw new Error(`${file} holds no WasmPlugin resource`);
  for (const d of docs) {
    if (!plugins.includes(d)) io.stderr(`skipped a ${isObject(d) && typeof d.kind === 'string' ? d.kind : 'non-WasmPlugin'} document\n`);
  }
  let failed = 0;
  for (const doc of plugins as Obj[]) {
    const name = isObject(doc.metadata) && typeof doc.metadata.name === 'string' ? doc.metadata.name : '(no metadata.name)';
    try {
      const url = isObject(doc.spec) ? doc.spec.url : undefined;
      let body: Obj = doc;
      if (typeof url === 'string' && /^file:\/\//i.test(url)) {
        const path = localWasmPath(url, file);
        let bytes: Buffer;
        try {
          bytes = await readFile(path);
        } catch (e) {
          throw new Error(`spec.url ${url}: cannot read ${path}: ${(e as Error).message}`);
        }
        body = { resource: doc, wasm_base64: bytes.toString('base64') };
      }
      const r = await post(Buffer.from(JSON.stringify(body)), 'application/json');
      io.stdout(`imported ${r.plugin.id}: plugin ${r.plugin.action}, version ${r.plugin.version} (sha256 ${r.plugin.sha256}); `
        + `global rule ${r.global_rule.id} ${r.global_rule.action}\n`);
    } catch (e) {
      failed++;
      io.stderr(`${name}: not imported: ${(e as Error).message}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}
