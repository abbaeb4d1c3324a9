// Fixtures for the plugin marketplace tests: proxy-wasm modules built from .wat with the
// wabt package, and publish forms as multipart/form-data bodies.
import { randomBytes } from 'node:crypto';
import wabt from 'wabt';
import { Agent, request } from 'undici';

/** The smallest module the publish check accepts: ABI 0.2.1, an allocator, a root context that starts and configures. */
export function minimalProxyWasmWat(extra = ''): string {
  return `(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1"))
    (func (export "malloc") (param i32) (result i32) i32.const 1024)
    (func (export "proxy_on_context_create") (param i32 i32))
    (func (export "proxy_on_vm_start") (param i32 i32) (result i32) i32.const 1)
    (func (export "proxy_on_configure") (param i32 i32) (result i32) i32.const 1)
    ${extra})`;
}

export async function buildWasm(wat: string): Promise<Buffer> {
  const tools = await wabt();
  const mod = tools.parseWat('fixture.wat', wat);
  try {
    return Buffer.from(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

/** A valid module whose bytes differ per `tag` (so each version has its own sha256). */
export function validPlugin(tag = 'v1'): Promise<Buffer> {
  return buildWasm(minimalProxyWasmWat(`(func (export "tag_${tag}"))`));
}

export interface FormFile { bytes: Buffer; filename?: string }

/** A multipart/form-data body with the text fields, then the file part (when given). */
export function multipartBody(fields: Record<string, string>, file?: FormFile): { body: Buffer; contentType: string } {
  const boundary = `----gatehouse${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  if (file !== undefined) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.filename ?? 'plugin.wasm'}"\r\n`
      + 'Content-Type: application/wasm\r\n\r\n'), file.bytes, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

const agent = new Agent({ keepAliveTimeout: 2000, connections: 8 });

export interface PublishReply { status: number; body: any }

/** Sends the publish form: `PUT <adminUrl>/custom_plugins/<id>` or `POST <adminUrl>/custom_plugins`. */
export async function sendPublishForm(adminUrl: string, key: string, method: 'PUT' | 'POST', path: string,
  fields: Record<string, string>, file?: FormFile): Promise<PublishReply> {
  const { body, contentType } = multipartBody(fields, file);
  const res = await request(`${adminUrl}${path}`, {
    method, body, dispatcher: agent, headers: { 'x-api-key': key, 'content-type': contentType },
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) };
}

/** A plugin that adds `x-stamp: <value>` (3 bytes) to every request it sees (proxy_add_header_map_value on the request headers). */
export function headerStampPlugin(value = 'yes'): Promise<Buffer> {
  if (Buffer.byteLength(value) !== 3) throw new Error('the fixture writes a 3-byte value');
  const wat = minimalProxyWasmWat(`
    (data (i32.const 2048) "x-stamp")
    (data (i32.const 2064) "${value}")
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (drop (call $add (i32.const 0) (i32.const 2048) (i32.const 7) (i32.const 2064) (i32.const 3)))
      i32.const 0)`);
  return buildWasm(wat.replace('(module (memory',
    '(module (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32))) (memory'));
}
