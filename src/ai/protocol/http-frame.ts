// The HTTP message as Higress's ai-transformer shows it to a model and reads it back:
// `name:value` header lines, a blank line, the body. Reading is strict, as Higress's is: a
// header line without a `:` after its first character, or no blank line, makes the whole
// answer unusable (the message is then left as it was).

export interface HttpFrame { headers: Array<[string, string]>; body: string }

const TOKEN = /^:?[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

export function formatHttpFrame(headers: ReadonlyArray<readonly [string, string]>, body: string): string {
  return `${headers.map(([name, value]) => `${name}:${value}\n`).join('')}\n${body}`;
}

/** The model's message, or undefined when it is not one (the caller keeps the original). */
export function parseHttpFrame(answer: string): HttpFrame | undefined {
  const text = answer.replace(/\r\n/g, '\n');
  const blank = text.indexOf('\n\n');
  if (blank < 0) return undefined;
  const headers: Array<[string, string]> = [];
  for (const line of text.slice(0, blank).split('\n')) {
    const colon = line.indexOf(':', 1);
    if (colon < 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || BAD_VALUE.test(value)) return undefined;
    headers.push([name, value]);
  }
  return { headers, body: text.slice(blank + 2) };
}
