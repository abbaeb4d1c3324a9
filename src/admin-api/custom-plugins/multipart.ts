// Reads a multipart/form-data body (the publish form): text fields, and one file held in
// memory up to a cap. The cap is enforced twice: a declared Content-Length over it is
// refused before anything is read, and a stream that passes it is cut off there.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { AdminError } from '../errors.js';

export interface MultipartForm {
  fields: Map<string, string>;
  file?: { field: string; filename: string; bytes: Buffer };
}

export interface MultipartLimits {
  /** The file part's cap in bytes. */
  maxFileBytes: number;
  /** Said in the 413 (`the .wasm file is larger than 50 MB`). */
  tooLargeMessage: string;
  /** The name of the one file part accepted. */
  fileField: string;
  /** Longest text field (default 1 MiB). */
  maxFieldBytes?: number;
  /** Most text fields (default 64). */
  maxFields?: number;
}

/** Room for the text fields and part headers beside the file in a declared Content-Length. */
export const FORM_OVERHEAD_BYTES = 2 * 1024 * 1024;

export function isMultipart(headers: IncomingHttpHeaders): boolean {
  return /^multipart\/form-data\s*(;|$)/i.test(headers['content-type'] ?? '');
}

/**
 * Parses the form. Throws AdminError: 413 for a file over the cap (or a declared length
 * that cannot fit), 400 for a malformed body, a second file, a file part under another
 * name, a repeated or too long field. The caller drains what is left of the stream.
 */
export function readMultipartForm(body: Readable, headers: IncomingHttpHeaders, limits: MultipartLimits): Promise<MultipartForm> {
  const declared = headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxFileBytes + FORM_OVERHEAD_BYTES) {
    return Promise.reject(new AdminError(413, limits.tooLargeMessage));
  }
  const maxFieldBytes = limits.maxFieldBytes ?? 1024 * 1024;
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers,
      limits: { fileSize: limits.maxFileBytes, files: 1, fields: limits.maxFields ?? 64, fieldSize: maxFieldBytes },
    });
  } catch (e) {
    return Promise.reject(new AdminError(400, `invalid multipart body: ${(e as Error).message}`));
  }
  return new Promise((resolve, reject) => {
    const form: MultipartForm = { fields: new Map() };
    let failed = false;
    let fileDone: Promise<void> = Promise.resolve();
    const fail = (err: AdminError): void => {
      if (failed) return;
      failed = true;
      body.unpipe(parser);
      parser.removeAllListeners();
      parser.on('error', () => undefined);
      reject(err);
    };
    parser.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated) return fail(new AdminError(400, `field ${name} is longer than ${maxFieldBytes} bytes`));
      if (form.fields.has(name)) return fail(new AdminError(400, `field ${name} is given twice`));
      if (name === limits.fileField) return fail(new AdminError(400, `field ${name} must be a file part (with a filename)`));
      form.fields.set(name, value);
    });
    parser.on('file', (name, stream, info) => {
      if (name !== limits.fileField) {
        stream.resume();
        return fail(new AdminError(400, `unexpected file field ${name}: send the file as ${limits.fileField}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      fileDone = new Promise((done) => {
        stream.on('data', (c: Buffer) => { size += c.length; chunks.push(c); });
        stream.on('limit', () => fail(new AdminError(413, limits.tooLargeMessage)));
        stream.on('end', () => {
          form.file = { field: name, filename: info.filename ?? '', bytes: Buffer.concat(chunks, size) };
          done();
        });
      });
    });
    parser.on('filesLimit', () => fail(new AdminError(400, `only one file may be sent (${limits.fileField})`)));
    parser.on('fieldsLimit', () => fail(new AdminError(400, 'too many form fields')));
    parser.on('error', (e) => fail(new AdminError(400, `invalid multipart body: ${(e as Error).message}`)));
    parser.on('close', () => {
      void fileDone.then(() => {
        if (!failed) resolve(form);
      });
    });
    body.on('error', (e) => fail(new AdminError(400, `invalid request body: ${e.message}`)));
    body.pipe(parser);
  });
}
