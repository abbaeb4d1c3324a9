// The script every request's context starts with, run inside the isolate. It builds the
// `ctx` object user functions get (one per request, so every function of the request,
// pre- and post-function alike, sees the same object and what earlier ones stored on it)
// and the entry points the gateway calls. Its only way out is `host(op, ...args)`, a
// callback whose arguments and results are copied across the boundary; it is captured
// here and not left on the global object. See docs/plugins/serverless.md for the surface.
//
// Evaluates to `(host) => api`; api.define / invoke / fire / take are what session.ts calls.

export const PRELUDE_SOURCE = String.raw`(function (host) {
  'use strict';
  const fns = [];
  const timers = new Map();
  const settled = new Map();
  let nextTimer = 1;
  let nextPending = 1;

  const text = (v) => (typeof v === 'string' ? v : String(v));
  const headerValue = (v) => (v === undefined || v === null ? undefined : typeof v === 'number' ? String(v) : v);

  // --- Buffer: the part of node's Buffer the old in-process functions used (from, concat,
  // isBuffer, byteLength, toString) over a Uint8Array, UTF-8 by hand (no TextEncoder in V8).
  function utf8Encode(s) {
    const out = [];
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return out;
  }
  function utf8Decode(b) {
    let s = '';
    for (let i = 0; i < b.length;) {
      const c = b[i];
      if (c < 0x80) { s += String.fromCharCode(c); i++; continue; }
      const need = c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : 0;
      let cp = c & (need === 1 ? 31 : need === 2 ? 15 : 7);
      let ok = need > 0;
      for (let k = 1; ok && k <= need; k++) {
        const d = b[i + k];
        if (d === undefined || (d & 0xc0) !== 0x80) ok = false;
        else cp = (cp << 6) | (d & 63);
      }
      if (!ok || (need === 2 && cp < 0x800) || (need === 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff)) {
        s += '\ufffd'; i++; continue;
      }
      s += String.fromCodePoint(cp);
      i += need + 1;
    }
    return s;
  }
  class Buffer extends Uint8Array {
    static from(v, enc) {
      if (typeof v === 'string') {
        if (enc === 'latin1' || enc === 'binary') return new Buffer(Array.from(v, (ch) => ch.charCodeAt(0) & 255));
        if (enc !== undefined && enc !== 'utf8' && enc !== 'utf-8') throw new TypeError('Buffer.from: only utf8 and latin1 strings are supported');
        return new Buffer(utf8Encode(v));
      }
      if (v instanceof ArrayBuffer) return new Buffer(v.slice(0));
      if (v !== null && typeof v === 'object' && typeof v.length === 'number') return new Buffer(Array.from(v));
      throw new TypeError('Buffer.from: expected a string, an array or an ArrayBuffer');
    }
    static isBuffer(v) { return v instanceof Buffer; }
    static byteLength(s) { return typeof s === 'string' ? utf8Encode(s).length : s.byteLength; }
    static concat(list) {
      let n = 0;
      for (const b of list) n += b.length;
      const out = new Buffer(n);
      let at = 0;
      for (const b of list) { out.set(b, at); at += b.length; }
      return out;
    }
    toString(enc) {
      if (enc === 'latin1' || enc === 'binary') return Array.from(this, (c) => String.fromCharCode(c)).join('');
      if (enc === 'hex') return Array.from(this, (c) => (c < 16 ? '0' : '') + c.toString(16)).join('');
      return utf8Decode(this);
    }
  }

  // --- timers: a callback runs later in this request's context, under the same deadline per call.
  function setTimeout(fn, ms, ...args) {
    if (typeof fn !== 'function') throw new TypeError('setTimeout: the callback must be a function');
    const id = nextTimer++;
    timers.set(id, () => fn(...args));
    host('timer.set', id, Number(ms) || 0);
    return id;
  }
  function clearTimeout(id) {
    if (timers.delete(id)) host('timer.clear', id);
  }

  const varCall = (name) => host('var', text(name));
  const vars = new Proxy(varCall, {
    get: (_, name) => (typeof name === 'string' ? host('var', name) : undefined),
    set: (_, name, value) => { host('var.set', text(name), value); return true; },
  });

  const request = Object.freeze({
    get method() { return host('req.method'); },
    get uri() { return host('req.uri'); },
    get host() { return host('req.host'); },
    get remoteAddr() { return host('req.remoteAddr'); },
    header: (name) => host('req.header', text(name)),
    setHeader: (name, value) => host('req.setHeader', text(name), headerValue(value)),
    arg: (name) => host('req.arg', text(name)),
    headers: () => host('req.headers'),
    get upstreamUri() { return host('req.upstreamUri'); },
    set upstreamUri(v) { host('req.setUpstreamUri', v); },
    get upstreamHost() { return host('req.upstreamHost'); },
    set upstreamHost(v) { host('req.setUpstreamHost', v); },
    get upstreamMethod() { return host('req.upstreamMethod'); },
    set upstreamMethod(v) { host('req.setUpstreamMethod', v); },
  });
  const response = Object.freeze({
    get status() { return host('res.status'); },
    set status(v) { host('res.setStatus', v); },
    header: (name) => host('res.header', text(name)),
    setHeader: (name, value) => host('res.setHeader', text(name), headerValue(value)),
    addHeader: (name, value) => host('res.addHeader', text(name), headerValue(value)),
    headers: () => host('res.headers'),
  });
  const say = (level) => (...parts) => host('log', level, parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' '));
  const ctx = {
    var: vars,
    setVar: (name, value) => host('var.set', text(name), value),
    request,
    response,
    setResponseHeader: (name, value) => host('setResponseHeader', text(name), headerValue(value)),
    get routeId() { return host('routeId'); },
    get serviceId() { return host('serviceId'); },
    get consumer() { return host('consumer'); },
    get startedAt() { return host('startedAt'); },
    shared: new Map(),
    log: Object.freeze({ debug: say('debug'), info: say('info'), warn: say('warn'), error: say('error') }),
  };

  // WebAssembly memories live outside the heap limit (a 4 GB Memory is allowed and
  // committed in the worker's own memory): functions get no WebAssembly.
  delete globalThis.WebAssembly;
  Object.defineProperties(globalThis, {
    Buffer: { value: Buffer, writable: true, configurable: true },
    setTimeout: { value: setTimeout, writable: true, configurable: true },
    clearTimeout: { value: clearTimeout, writable: true, configurable: true },
  });

  // --- what a function returned, as plain data the gateway copies out.
  function bytesOf(v) {
    return v instanceof Uint8Array ? new Uint8Array(v) : v instanceof ArrayBuffer ? new Uint8Array(v.slice(0)) : undefined;
  }
  function bodyOf(v) {
    if (v === undefined || v === null || typeof v === 'string') return v === null ? undefined : v;
    const bytes = bytesOf(v);
    return bytes !== undefined ? bytes : JSON.parse(JSON.stringify(v));
  }
  function headersOf(h) {
    if (h === undefined || h === null) return undefined;
    const out = {};
    for (const k of Object.keys(h)) out[k] = typeof h[k] === 'number' ? String(h[k]) : h[k];
    return out;
  }
  function outcome(mode, v) {
    if (mode === 'body') {
      if (typeof v === 'string') return { chunk: v };
      const bytes = bytesOf(v);
      return bytes !== undefined ? { chunk: bytes } : {};
    }
    if (mode !== 'request' || v === undefined || v === null) return {};
    if (typeof v === 'number') return { status: v };
    if (Array.isArray(v)) {
      if ((v[0] === undefined || v[0] === null) && (v[1] === undefined || v[1] === null)) return {};
      return { status: typeof v[0] === 'number' ? v[0] : 200, body: bodyOf(v[1]) };
    }
    if (typeof v === 'object' && typeof v.status === 'number') return { status: v.status, body: bodyOf(v.body), headers: headersOf(v.headers) };
    return { ignored: typeof v };
  }
  const errorText = (e) => (e instanceof Error ? e.name + ': ' + e.message : 'thrown: ' + text(e));

  return Object.freeze({
    define(slot, fn) {
      if (typeof fn !== 'function') throw new TypeError('only accept JavaScript function, the input code type is ' + (fn === null ? 'null' : typeof fn));
      fns[slot] = fn;
    },
    invoke(slot, conf, mode, chunk, eof) {
      const fn = fns[slot];
      const out = mode === 'body' ? fn(conf, ctx, new Buffer(chunk), eof) : fn(conf, ctx);
      if (out === null || (typeof out !== 'object' && typeof out !== 'function') || typeof out.then !== 'function') return outcome(mode, out);
      const id = nextPending++;
      Promise.resolve(out).then(
        (v) => { settled.set(id, { value: outcome(mode, v) }); host('settled', id); },
        (e) => { settled.set(id, { error: errorText(e) }); host('settled', id); });
      return { pending: id };
    },
    take(id) {
      const s = settled.get(id);
      settled.delete(id);
      return s;
    },
    fire(id) {
      const fn = timers.get(id);
      if (fn === undefined) return;
      timers.delete(id);
      fn();
    },
  });
})`;
