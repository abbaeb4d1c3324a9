// Reading a reply whole without trusting its size: shared by the plugins' HTTP calls and
// the primary's registry clients (which must not import plugin code).

/** Reads at most `maxBytes`; undefined when the body is larger (the rest is not read). */
export async function boundedBody(body: AsyncIterable<Buffer>, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
