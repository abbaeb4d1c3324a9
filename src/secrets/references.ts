// Secret references in configuration values, with APISIX's syntax:
//   $env://NAME           the worker's environment variable NAME
//   $env://NAME/key       field `key` of the JSON object in NAME
//   $secret://<manager>/<secret id>/<path>/<key>   field <key> of the secret at <path>
// (APISIX apisix/secret.lua and apisix/core/env.lua.)

const SECRET_PREFIX = '$secret://';
const ENV_PREFIX = '$ENV://';

export type SecretRef =
  | { kind: 'env'; name: string; field: string | undefined }
  | { kind: 'secret'; manager: string; id: string; path: string; field: string };

/** Whether a value is a reference (the env prefix is case-insensitive, as in APISIX). */
export function isSecretRef(value: unknown): value is string {
  if (typeof value !== 'string' || value.charCodeAt(0) !== 36 /* $ */) return false;
  return value.startsWith(SECRET_PREFIX) || value.slice(0, ENV_PREFIX.length).toUpperCase() === ENV_PREFIX;
}

/** Parses a reference; throws with the reason it is malformed (the reference itself is not secret). */
export function parseSecretRef(ref: string): SecretRef {
  if (ref.startsWith(SECRET_PREFIX)) {
    const rest = ref.slice(SECRET_PREFIX.length);
    const a = rest.indexOf('/');
    if (a <= 0) throw new Error('no secret manager');
    const b = rest.indexOf('/', a + 1);
    if (b === -1 || b === a + 1) throw new Error('no secret id');
    const key = rest.slice(b + 1);
    const last = key.lastIndexOf('/');
    if (last <= 0 || last === key.length - 1) throw new Error('expected <path>/<key> after the secret id');
    return { kind: 'secret', manager: rest.slice(0, a), id: rest.slice(a + 1, b), path: key.slice(0, last), field: key.slice(last + 1) };
  }
  const rest = ref.slice(ENV_PREFIX.length);
  const slash = rest.indexOf('/');
  const name = slash === -1 ? rest : rest.slice(0, slash);
  if (name === '') throw new Error('no environment variable name');
  const field = slash === -1 || slash === rest.length - 1 ? undefined : rest.slice(slash + 1);
  return { kind: 'env', name, field };
}

/** Every reference string inside a JSON value. */
export function collectRefs(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (isSecretRef(value)) out.add(value);
  else if (Array.isArray(value)) for (const v of value) collectRefs(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) collectRefs(v, out);
  return out;
}

/** A copy of `value` with each reference replaced by `lookup(ref)`. */
export function substituteRefs(value: unknown, lookup: (ref: string) => string): unknown {
  if (isSecretRef(value)) return lookup(value);
  if (Array.isArray(value)) return value.map((v) => substituteRefs(v, lookup));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteRefs(v, lookup);
    return out;
  }
  return value;
}

/** The value of `$env://NAME[/key]` in `env`, or an error saying why there is none. */
export function resolveEnvRef(ref: SecretRef & { kind: 'env' }, env: NodeJS.ProcessEnv): { value: string } | { error: string } {
  const raw = env[ref.name];
  if (raw === undefined) return { error: `environment variable ${ref.name} is not set` };
  if (ref.field === undefined) return { value: raw };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { error: `environment variable ${ref.name} is not a JSON object` };
  }
  const v = (parsed as Record<string, unknown> | null)?.[ref.field];
  if (typeof v === 'string') return { value: v };
  if (typeof v === 'number' || typeof v === 'boolean') return { value: String(v) };
  return { error: `environment variable ${ref.name} has no string field ${ref.field}` };
}
