// The otel scenario's collector: takes OTLP/HTTP posts (any path), reads and discards their
// bodies and answers 200, as an OpenTelemetry Collector that accepted them would. Counts
// the bytes it got, so a run can tell spans were exported (GET /stats).
import { serveOnLoopback } from './serve-loopback.js';

let posts = 0;
let bytes = 0;

serveOnLoopback('trace sink', (req, res) => {
  if (req.method === 'GET') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ posts, bytes }));
    return;
  }
  req.on('data', (c: Buffer) => { bytes += c.length; });
  req.on('end', () => {
    posts++;
    res.statusCode = 200;
    res.end();
  });
});
