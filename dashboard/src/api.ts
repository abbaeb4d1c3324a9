// The dashboard's only way to the gateway: the public Admin API, every call carrying the
// signed-in key in X-API-KEY (so anything the UI does, a script can do too).
export const ADMIN_BASE = '/apisix/admin';

/** A refused or failed Admin API call: its status, error_msg and, when the message names one, the field. */
export class ApiError extends Error {
  readonly field: string | undefined;

  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.field = fieldNamedBy(message);
  }
}

/**
 * The field an Admin API message names: `invalid field priority: ...`, `missing field file`,
 * `unknown field x`, `field x cannot be changed`, or a JSON-Schema `property "name" ...`.
 */
export function fieldNamedBy(message: string): string | undefined {
  const m = /\b(?:invalid|missing|unknown) field ([A-Za-z0-9_.]+)/.exec(message)
    ?? /\bfield ([A-Za-z0-9_.]+) cannot\b/.exec(message)
    ?? /\bproperty "([A-Za-z0-9_.]+)"/.exec(message);
  return m?.[1];
}

let apiKey: string | undefined;
let unauthorized: () => void = () => undefined;

/** Sets the key calls carry and what a 401 (the key no longer valid) does: back to sign-in. */
export function configureApi(key: string | undefined, onUnauthorized: () => void): void {
  apiKey = key;
  unauthorized = onUnauthorized;
}

function errorOf(status: number, text: string): ApiError {
  let message = text.trim() === '' ? `HTTP ${status}` : text.trim();
  try {
    const body = JSON.parse(text) as { error_msg?: unknown };
    if (typeof body.error_msg === 'string') message = body.error_msg;
  } catch {
    // not JSON: the text itself is the reason
  }
  return new ApiError(status, message);
}

/** A JSON call to `ADMIN_BASE + path`; resolves the parsed body (undefined when empty). */
export async function api<T>(method: string, path: string, body?: unknown, key = apiKey): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key !== undefined) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${ADMIN_BASE}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, (e as Error).message);
  }
  const text = await res.text();
  if (!res.ok) {
    if (res.status === 401 && key === apiKey) unauthorized();
    throw errorOf(res.status, text);
  }
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** A multipart upload (the publish form) reporting progress from 0 to 1 as the body is sent. */
export function uploadForm<T>(method: string, path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, `${ADMIN_BASE}${path}`);
    if (apiKey !== undefined) xhr.setRequestHeader('x-api-key', apiKey);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve((xhr.responseText === '' ? undefined : JSON.parse(xhr.responseText)) as T);
        return;
      }
      if (xhr.status === 401) unauthorized();
      reject(errorOf(xhr.status, xhr.responseText));
    };
    xhr.onerror = () => reject(new ApiError(0, 'the gateway could not be reached'));
    xhr.send(form);
  });
}
