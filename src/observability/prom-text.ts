// Reads samples back out of the Prometheus text format. The primary only ever holds the
// workers' metrics as the merged text prom-client's cluster aggregation renders (see
// export-server.ts), so a JSON view of them (the Admin API's metrics summary) is read
// from that same text rather than from a second collection path.

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of the metric names in `wanted` (exact sample names, e.g. `x_bucket`), by name. */
export function parseSamples(text: string, wanted: ReadonlySet<string>): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line)?.[0];
    if (name === undefined || !wanted.has(name)) continue;
    const sample = parseSampleLine(line, name.length);
    if (sample === undefined) continue;
    let list = out.get(name);
    if (list === undefined) out.set(name, (list = []));
    list.push(sample);
  }
  return out;
}

/** The labels and value of a sample line after its name (at `at`); undefined when malformed. */
function parseSampleLine(line: string, at: number): Sample | undefined {
  const labels: Record<string, string> = {};
  let i = at;
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      if (line[i] === ',') i++;
      if (line[i] === '}') break;
      const eq = line.indexOf('=', i);
      if (eq === -1 || line[eq + 1] !== '"') return undefined;
      const name = line.slice(i, eq).trim();
      let value = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) {
          j++;
          value += line[j] === 'n' ? '\n' : line[j];
        } else value += line[j];
      }
      if (j >= line.length) return undefined;
      labels[name] = value;
      i = j + 1;
    }
    i++;
  }
  const value = parseValue(line.slice(i).trim().split(/\s+/)[0] ?? '');
  return value === undefined ? undefined : { labels, value };
}

function parseValue(s: string): number | undefined {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const v = Number(s);
  return s === '' || Number.isNaN(v) ? undefined : v;
}
