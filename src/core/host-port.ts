// A host as it goes into a URL or an `address:port` text: an IPv6 literal in brackets
// (RFC 3986), anything else as it is. Only an IPv6 literal has a colon in it; one that is
// bracketed already (as a user may write it) stays as it is.

/** `host`, bracketed when it is a bare IPv6 literal. */
export function urlHost(host: string): string {
  return host.includes(':') && host.charCodeAt(0) !== 91 /* [ */ ? `[${host}]` : host;
}

/** `host:port`, the host bracketed when it is an IPv6 literal. */
export function hostPort(host: string, port: number | string): string {
  return `${urlHost(host)}:${port}`;
}
