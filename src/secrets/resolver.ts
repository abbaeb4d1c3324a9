import { randomBytes } from 'node:crypto';
import type { ResourceKind } from '../contracts/resources.js';
import type { StoredObject } from '../contracts/store.js';
import { logger } from '../core/logger.js';
import { collectRefs, isSecretRef, parseSecretRef, resolveEnvRef, substituteRefs, type SecretRef } from './references.js';
import { readVaultField, type VaultConf } from './vault.js';

/** What the resolver reads: the raw objects of one revision (ConfigState, the data plane's ConfigView). */
export interface SecretSource {
  readonly revision: number;
  list(kind: ResourceKind): Iterable<StoredObject>;
  get(kind: ResourceKind, id: string): StoredObject | undefined;
}

/** The objects whose values may hold references: everything plugins read, and certificates. */
const REF_KINDS: ReadonlySet<ResourceKind> = new Set<ResourceKind>([
  'routes', 'services', 'plugin_configs', 'global_rules', 'consumers', 'credentials', 'consumer_groups',
  'plugin_metadata', 'ssls',
]);

export interface SecretResolverOptions {
  /** How long a value fetched from a secret manager is used before it is fetched again. */
  ttlMs: number;
  /** How long a failed lookup waits before it is tried again. */
  retryMs: number;
  env?: NodeJS.ProcessEnv;
  /** Called when cached values expire: the caller rebuilds, which calls prepare() again. */
  onExpiry: () => void;
}

interface Entry {
  value: string | undefined;
  error: string | undefined;
  /** An unguessable stand-in used while the reference cannot be resolved. */
  placeholder: string;
  expiresAt: number;
  /** `modifiedIndex` of the secret manager object the value came from. */
  source: number;
}

/**
 * Resolves `$env://` and `$secret://` references in configuration objects off the hot
 * path: `prepare` fetches what is missing or expired (asynchronously, before a snapshot
 * is built), `view` hands the snapshot builder the objects with plain values, so a
 * request never waits for a secret manager.
 *
 * A reference that cannot be resolved is reported (logged with its object, never with a
 * value) and replaced by a random 256-bit value, so the plugin fails closed: key-auth,
 * basic-auth, jwt-auth and hmac-auth match nothing against it, and a credential sent
 * upstream is refused there.
 */
export class SecretResolver {
  /** Changes whenever a resolved value changes: compiled routes that read consumers are rebuilt. */
  generation = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly substituted = new WeakMap<StoredObject, { signature: string; object: StoredObject }>();
  private readonly refsOf = new WeakMap<object, readonly string[]>();
  private readonly reported = new Map<string, string>();
  private readonly log = logger().child({ module: 'secrets' });
  private readonly env: NodeJS.ProcessEnv;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SecretResolverOptions) {
    this.env = opts.env ?? process.env;
  }

  /** Fetches every referenced secret that is not cached or has expired; never throws. */
  async prepare(source: SecretSource): Promise<void> {
    const now = Date.now();
    const pending: Promise<void>[] = [];
    const seen = new Set<string>();
    for (const kind of REF_KINDS) {
      for (const obj of source.list(kind)) {
        for (const ref of this.refsIn(obj)) {
          if (seen.has(ref)) continue;
          seen.add(ref);
          pending.push(this.refresh(ref, source, now));
        }
      }
    }
    await Promise.all(pending);
    for (const ref of this.entries.keys()) if (!seen.has(ref)) this.entries.delete(ref);
    this.schedule();
  }

  /** `source` with every reference replaced by its value (objects without references are returned as they are). */
  view<S extends SecretSource>(source: S): SecretSource & { readonly secretGeneration: number } {
    const substitute = (obj: StoredObject | undefined): StoredObject | undefined =>
      obj === undefined || !REF_KINDS.has(obj.kind) ? obj : this.substitute(obj);
    return {
      revision: source.revision,
      secretGeneration: this.generation,
      list: (kind) => {
        const objs = [...source.list(kind)];
        return REF_KINDS.has(kind) ? objs.map((o) => substitute(o)!) : objs;
      },
      get: (kind, id) => substitute(source.get(kind, id)),
    };
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refsIn(obj: StoredObject): readonly string[] {
    let refs = this.refsOf.get(obj.value);
    if (refs === undefined) {
      refs = [...collectRefs(obj.value)];
      this.refsOf.set(obj.value, refs);
    }
    return refs;
  }

  private substitute(obj: StoredObject): StoredObject {
    const refs = this.refsIn(obj);
    if (refs.length === 0) return obj;
    // The signature holds values only in memory; it keeps the substituted object's
    // identity while values are unchanged, so the snapshot builder reuses what it compiled.
    let signature = '';
    for (const ref of refs) {
      const e = this.entries.get(ref);
      signature += `${e?.value ?? e?.placeholder ?? ''}\u0000`;
      if (e === undefined || e.value === undefined) this.report(obj, ref, e?.error ?? 'not resolved yet');
      else this.reported.delete(`${obj.kind}/${obj.id}|${ref}`);
    }
    const hit = this.substituted.get(obj);
    if (hit !== undefined && hit.signature === signature) return hit.object;
    const value = substituteRefs(obj.value, (ref) => {
      const e = this.entries.get(ref);
      return e?.value ?? e?.placeholder ?? randomBytes(32).toString('hex');
    }) as Record<string, unknown>;
    const object = { ...obj, value };
    this.substituted.set(obj, { signature, object });
    return object;
  }

  private report(obj: StoredObject, ref: string, error: string): void {
    const key = `${obj.kind}/${obj.id}|${ref}`;
    if (this.reported.get(key) === error) return;
    if (this.reported.size > 10_000) this.reported.clear();
    this.reported.set(key, error);
    this.log.error({ kind: obj.kind, id: obj.id, reference: ref, err: error },
      'secret reference cannot be resolved: its plugin gets an unguessable value and accepts nothing');
  }

  private async refresh(ref: string, source: SecretSource, now: number): Promise<void> {
    let parsed: SecretRef;
    try {
      parsed = parseSecretRef(ref);
    } catch (err) {
      this.store(ref, { error: `malformed reference: ${(err as Error).message}` }, 0, Infinity);
      return;
    }
    if (parsed.kind === 'env') {
      // The environment of a running process does not change: resolved once.
      if (!this.entries.has(ref)) this.store(ref, resolveEnvRef(parsed, this.env), 0, Infinity);
      return;
    }
    const manager = source.get('secrets', `${parsed.manager}/${parsed.id}`);
    const version = manager?.modifiedIndex ?? -1;
    const current = this.entries.get(ref);
    if (current !== undefined && current.source === version && now < current.expiresAt) return;
    if (manager === undefined) {
      this.store(ref, { error: `no secret manager object ${parsed.manager}/${parsed.id}` }, version, now + this.opts.retryMs);
      return;
    }
    if (parsed.manager !== 'vault') {
      this.store(ref, { error: `secret manager ${parsed.manager} is not supported` }, version, Infinity);
      return;
    }
    const conf = manager.value as unknown as VaultConf;
    let token = conf.token;
    if (isSecretRef(token)) {
      const t = parseSecretRef(token);
      const r = t.kind === 'env' ? resolveEnvRef(t, this.env) : { error: 'the vault token may only reference $env://' };
      if ('error' in r) {
        this.store(ref, { error: `vault token: ${r.error}` }, version, now + this.opts.retryMs);
        return;
      }
      token = r.value;
    }
    try {
      const value = await readVaultField(conf, token, parsed.path, parsed.field);
      this.store(ref, { value }, version, Date.now() + this.opts.ttlMs);
    } catch (err) {
      const message = (err as Error).message;
      if (current?.value !== undefined && current.source === version) {
        // A manager that is briefly unreachable should not lock everyone out: keep the last value.
        this.log.warn({ reference: ref, err: message }, 'secret refresh failed; the previous value stays in use');
        this.store(ref, { value: current.value }, version, Date.now() + this.opts.retryMs);
      } else {
        this.store(ref, { error: message }, version, Date.now() + this.opts.retryMs);
      }
    }
  }

  private store(ref: string, result: { value: string } | { error: string }, source: number, expiresAt: number): void {
    const prev = this.entries.get(ref);
    const value = 'value' in result ? result.value : undefined;
    const error = 'error' in result ? result.error : undefined;
    if (prev === undefined || prev.value !== value || prev.error !== error) this.generation++;
    this.entries.set(ref, {
      value, error, source, expiresAt,
      placeholder: prev?.placeholder ?? randomBytes(32).toString('hex'),
    });
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    let next = Infinity;
    for (const e of this.entries.values()) if (e.expiresAt < next) next = e.expiresAt;
    if (next === Infinity) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.opts.onExpiry();
    }, Math.max(0, Math.min(next - Date.now(), 2 ** 31 - 1))).unref();
  }
}
