// A URL a config field holds, parsed so that a bad one is refused naming the field: `new
// URL` alone throws a bare "Invalid URL" (for `http://h:99999` too, which the schemas'
// patterns let through).

/** Parses `text`; throws `<field>: "<text>" is not a URL` when it is not one. */
export function parseUrl(text: string, field: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new Error(`${field}: "${text}" is not a URL`);
  }
}

/** Parses `text` as an http or https URL; throws naming `field` otherwise. */
export function parseHttpUrl(text: string, field: string): URL {
  const url = parseUrl(text, field);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${field}: "${text}" is not an http or https URL`);
  return url;
}
