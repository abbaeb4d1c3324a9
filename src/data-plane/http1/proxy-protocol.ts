// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): a load balancer in
// front of the gateway prefixes each TCP connection with the client's and its own
// addresses. A listener with `proxy_protocol: true` reads this header before anything
// else (before the TLS handshake on a TLS listener) and refuses connections without it.
import type { Socket } from 'node:net';

/** The addresses a PROXY header carried; absent on LOCAL / UNKNOWN headers (health checks). */
export interface ProxyAddresses {
  sourceAddr: string;
  sourcePort: number;
  destAddr: string;
  destPort: number;
}

export type ProxyHeaderResult =
  | { state: 'more' }
  | { state: 'error'; reason: string }
  | { state: 'done'; consumed: number; addresses: ProxyAddresses | undefined };

const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The largest v2 header accepted: room for the address block and the usual TLVs, not the 64 KiB the length field allows. */
export const V2_MAX = 16 + 2048;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

const MORE: ProxyHeaderResult = { state: 'more' };
const error = (reason: string): ProxyHeaderResult => ({ state: 'error', reason });

/** Whether `buf` so far agrees with `prefix` (shorter buffers compare on their length). */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

/** Parses the PROXY header at the start of `buf`: `more` until it is complete, `error` as soon as it cannot be one. */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return MORE;
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < 16 ? MORE : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return parseV1(buf);
  return error('no PROXY protocol header');
}

const decimalPort = (s: string | undefined): number | undefined => {
  if (s === undefined || !/^(0|[1-9]\d{0,4})$/.test(s)) return undefined;
  const n = Number(s);
  return n <= 65535 ? n : undefined;
};

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function parseV1(buf: Buffer): ProxyHeaderResult {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= V1_MAX ? error('PROXY v1 header longer than 107 bytes') : MORE;
  if (end + 2 > V1_MAX) return error('PROXY v1 header longer than 107 bytes');
  const parts = buf.toString('latin1', 0, end).split(' ');
  const consumed = end + 2;
  if (parts[1] === 'UNKNOWN') return { state: 'done', consumed, addresses: undefined };
  if (parts.length !== 6) return error('PROXY v1 header must have 6 fields');
  const [, family, src, dst, sport, dport] = parts;
  const sourcePort = decimalPort(sport);
  const destPort = decimalPort(dport);
  if (sourcePort === undefined || destPort === undefined) return error('PROXY v1 header has a bad port');
  if (family === 'TCP4') {
    if (!IPV4.test(src!) || !IPV4.test(dst!)) return error('PROXY v1 header has a bad IPv4 address');
  } else if (family === 'TCP6') {
    if (!isIPv6Text(src!) || !isIPv6Text(dst!)) return error('PROXY v1 header has a bad IPv6 address');
  } else {
    return error(`PROXY v1 header has an unknown protocol ${JSON.stringify(family)}`);
  }
  return { state: 'done', consumed, addresses: { sourceAddr: src!, sourcePort, destAddr: dst!, destPort } };
}

function isIPv6Text(s: string): boolean {
  // node:net's isIP would accept zone ids; PROXY v1 carries plain addresses.
  return /^[0-9a-fA-F:.]{2,45}$/.test(s) && s.includes(':') && ipv6Words(s) !== undefined;
}

function ipv6Words(s: string): number[] | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const words: number[] = [];
    const groups = part.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && IPV4.test(g)) {
        const o = g.split('.').map(Number);
        words.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
        words.push(parseInt(g, 16));
      } else {
        return undefined;
      }
    }
    return words;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  return head.length + tail.length <= 7 ? head : undefined;
}

function ipv6Text(buf: Buffer, at: number): string {
  const words: string[] = [];
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(at + i * 2).toString(16));
  // the canonical form (RFC 5952): the longest run of zero words (two or more) becomes ::
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

function parseV2(buf: Buffer): ProxyHeaderResult {
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) return error('PROXY v2 header has an unknown version');
  const command = versionCommand & 0x0f;
  if (command > 1) return error('PROXY v2 header has an unknown command');
  const length = buf.readUInt16BE(14);
  const consumed = 16 + length;
  if (consumed > V2_MAX) return error(`PROXY v2 header longer than ${V2_MAX} bytes`);
  if (buf.length < consumed) return MORE;
  // LOCAL: the proxy's own connection (a health check); the addresses are the socket's
  if (command === 0) return { state: 'done', consumed, addresses: undefined };
  const familyProtocol = buf[13]!;
  if (familyProtocol === 0x11) {
    if (length < 12) return error('PROXY v2 TCP4 address block shorter than 12 bytes');
    return {
      state: 'done', consumed, addresses: {
        sourceAddr: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`,
        destAddr: `${buf[20]}.${buf[21]}.${buf[22]}.${buf[23]}`,
        sourcePort: buf.readUInt16BE(24), destPort: buf.readUInt16BE(26),
      },
    };
  }
  if (familyProtocol === 0x21) {
    if (length < 36) return error('PROXY v2 TCP6 address block shorter than 36 bytes');
    return {
      state: 'done', consumed, addresses: {
        sourceAddr: ipv6Text(buf, 16), destAddr: ipv6Text(buf, 32),
        sourcePort: buf.readUInt16BE(48), destPort: buf.readUInt16BE(50),
      },
    };
  }
  // UNSPEC is allowed with PROXY ("the receiver must accept it and use the real addresses");
  // UDP and UNIX sockets are not what an HTTP listener is reached over.
  if (familyProtocol === 0x00) return { state: 'done', consumed, addresses: undefined };
  return error('PROXY v2 header is not TCP over IPv4 or IPv6');
}

const addressesBySocket = new WeakMap<Socket, ProxyAddresses>();

/** The PROXY header's addresses for a connection (the raw or the TLS socket); undefined without one. */
export function proxyAddressesOf(socket: Socket | undefined): ProxyAddresses | undefined {
  return socket === undefined ? undefined : addressesBySocket.get(socket);
}

export function rememberProxyAddresses(socket: Socket, addresses: ProxyAddresses): void {
  addressesBySocket.set(socket, addresses);
}

/**
 * Reads the PROXY header off a freshly accepted socket, within `timeoutMs`. On success the
 * bytes after it are put back (`unshift`) and `onHeader` gets the socket, paused; on any
 * failure (no header, a bad one, too slow, the peer gone) the socket is destroyed.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number, onHeader: (addresses: ProxyAddresses | undefined) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  const finish = (): void => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onGone);
    socket.removeListener('error', onGone);
    socket.removeListener('close', onClosed);
  };
  const onGone = (): void => {
    finish();
    socket.destroy();
  };
  const onClosed = (): void => finish();
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const result = parseProxyHeader(buffered);
    if (result.state === 'more') return;
    if (result.state === 'error') {
      onGone();
      return;
    }
    finish();
    socket.pause();
    if (result.consumed < buffered.length) socket.unshift(buffered.subarray(result.consumed));
    if (result.addresses !== undefined) rememberProxyAddresses(socket, result.addresses);
    onHeader(result.addresses);
  };
  const timer = setTimeout(onGone, timeoutMs);
  timer.unref();
  socket.on('data', onData);
  socket.on('end', onGone);
  socket.on('error', onGone);
  socket.on('close', onClosed);
}
