// PATCH semantics of APISIX's Admin API: a JSON merge patch (RFC 7396: objects merged
// recursively, arrays and scalars replaced, null deletes a key), or with a sub-path the
// addressed field replaced wholesale by the body.
import { AdminError } from './errors.js';

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

// Keys are set with defineProperty so a JSON key named `__proto__` stays plain data
// instead of replacing the prototype of the stored object.
function setOwn(target: Obj, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Returns `base` merged with `patch`; neither input is modified. */
export function mergePatch(base: Obj, patch: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(base)) setOwn(out, k, v);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      delete out[k];
    } else if (isObject(v)) {
      // RFC 7396: a patch object over a missing or non-object value is merged into {}, so
      // its own null members are dropped rather than stored.
      setOwn(out, k, mergePatch(isObject(out[k]) ? out[k] as Obj : {}, v));
    } else {
      setOwn(out, k, structuredClone(v));
    }
  }
  return out;
}

/**
 * Returns a copy of `base` with the field at `path` (segments of `routes/1/<sub/path>`)
 * replaced by `value`. Missing objects on the way are created; array elements are
 * addressed by 0-based index. A null `value` removes the field.
 */
export function patchSubPath(base: Obj, path: string[], value: unknown): Obj {
  const root = structuredClone(base);
  const where = (i: number): string => `/${path.slice(0, i + 1).join('/')}`;
  let cur: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (seg === '' || seg === '__proto__') throw new AdminError(400, `invalid sub-path: ${where(i)}`);
    const last = i === path.length - 1;
    if (Array.isArray(cur)) {
      if (!/^\d+$/.test(seg) || Number(seg) > cur.length - (last ? 0 : 1)) {
        throw new AdminError(400, `invalid sub-path: ${where(i)}: not an index of the array`);
      }
      const idx = Number(seg);
      if (last) {
        if (value === null) cur.splice(idx, 1);
        else cur[idx] = value;
        return root;
      }
      cur = cur[idx];
    } else if (isObject(cur)) {
      if (last) {
        if (value === null) delete cur[seg];
        else setOwn(cur, seg, value);
        return root;
      }
      if (cur[seg] === undefined) setOwn(cur, seg, {});
      cur = cur[seg];
    }
    if (!last && (cur === null || typeof cur !== 'object')) {
      throw new AdminError(400, `invalid sub-path: ${where(i)} is not an object`);
    }
  }
  return root;
}
