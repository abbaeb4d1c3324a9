// The whole raw configuration held in memory: one Map per resource kind. Stores use it
// for their current state; workers use it to hold what the primary broadcasts and feed
// it to the snapshot builder (it satisfies the data plane's ConfigView).
import { RESOURCE_KINDS, type ResourceKind } from '../contracts/resources.js';
import type { StoreEvent, StoreState, StoredObject } from '../contracts/store.js';

/** Store id of a credential: credentials live under their consumer. */
export function credentialKey(username: string, credentialId: string): string {
  return `${username}/${credentialId}`;
}

/** Splits a credential store id into its consumer username and credential id. */
export function splitCredentialKey(key: string): { username: string; id: string } {
  const slash = key.indexOf('/');
  if (slash <= 0 || slash === key.length - 1) throw new Error(`invalid credential key "${key}": expected <username>/<id>`);
  return { username: key.slice(0, slash), id: key.slice(slash + 1) };
}

export class ConfigState {
  /** The store revision this state reflects (the highest revision applied). */
  revision = 0;
  private readonly kinds = new Map<ResourceKind, Map<string, StoredObject>>();

  constructor() {
    for (const kind of RESOURCE_KINDS) this.kinds.set(kind, new Map());
  }

  static fromStoreState(state: StoreState): ConfigState {
    const s = new ConfigState();
    s.replace(state);
    return s;
  }

  /** Plain data (objects shared, not copied): what a store returns from load() or sends to workers. */
  toStoreState(): StoreState {
    const objects: StoredObject[] = [];
    for (const kind of RESOURCE_KINDS) objects.push(...this.kinds.get(kind)!.values());
    return { revision: this.revision, objects };
  }

  get(kind: ResourceKind, id: string): StoredObject | undefined {
    return this.map(kind).get(id);
  }

  has(kind: ResourceKind, id: string): boolean {
    return this.map(kind).has(id);
  }

  /** Objects of one kind, in the order they were first added (a replaced object keeps its place). */
  list(kind: ResourceKind): StoredObject[] {
    return [...this.map(kind).values()];
  }

  /** Credentials of one consumer. */
  credentialsOf(username: string): StoredObject[] {
    const prefix = `${username}/`;
    return this.list('credentials').filter((o) => o.id.startsWith(prefix));
  }

  /** Number of objects of one kind, or of all kinds. */
  size(kind?: ResourceKind): number {
    if (kind !== undefined) return this.map(kind).size;
    let n = 0;
    for (const m of this.kinds.values()) n += m.size;
    return n;
  }

  set(object: StoredObject): void {
    this.map(object.kind).set(object.id, object);
    if (object.modifiedIndex > this.revision) this.revision = object.modifiedIndex;
  }

  delete(kind: ResourceKind, id: string): boolean {
    return this.map(kind).delete(id);
  }

  /** Replaces everything with `state`. */
  replace(state: StoreState): void {
    for (const m of this.kinds.values()) m.clear();
    for (const o of state.objects) this.map(o.kind).set(o.id, o);
    this.revision = state.revision;
  }

  /**
   * Applies one store event. Events below the current revision are ignored, so a watcher
   * that also received a full state can replay an overlapping event stream. Events of the
   * current revision are applied: one etcd transaction gives all its changes one revision
   * (they touch different keys, so applying one again changes nothing).
   * Returns whether anything changed.
   */
  applyEvent(event: StoreEvent): boolean {
    if (event.type === 'reset') {
      this.replace(event.state);
      return true;
    }
    if (event.revision < this.revision) return false;
    if (event.type === 'put') this.map(event.object.kind).set(event.object.id, event.object);
    else this.map(event.kind).delete(event.id);
    this.revision = event.revision;
    return true;
  }

  private map(kind: ResourceKind): Map<string, StoredObject> {
    const m = this.kinds.get(kind);
    if (m === undefined) throw new Error(`unknown resource kind "${String(kind)}"`);
    return m;
  }
}
