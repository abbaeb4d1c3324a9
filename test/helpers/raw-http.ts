import net from 'node:net';

/**
 * One request on a new connection (`Connection: close`); resolves with the status line, or
 * rejects when the connection fails or gives no complete answer within `timeoutMs`.
 */
export function requestOnce(port: number, path: string, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    let out = '';
    s.on('data', (c: Buffer) => { out += c.toString('latin1'); });
    s.on('end', () => (out === '' ? reject(new Error('closed without an answer')) : resolve(out.split('\r\n')[0]!)));
    s.on('error', reject);
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  });
}
