import vm from 'node:vm';

// How a `functions` entry becomes a script, and the write-time check of it.
//
// An entry is either an expression that evaluates to a function ("(conf, ctx) => …") or,
// the shape of APISIX's Lua, a body that returns one ("return function (conf, ctx) { … }").
// Both are wrapped the same way for the check and for the isolate, so an entry that
// passes the check compiles in the isolate too (one V8, one parser).

/** The script text an entry is compiled to; its value is the entry's function. */
export function scriptText(source: string): string {
  return /^\s*return\b/.test(source) ? `(function () {\n${source}\n})()` : `(\n${source}\n)`;
}

/** Line offset that makes positions in errors point at the entry's own lines. */
export const SCRIPT_LINE_OFFSET = -1;

/**
 * Compiles an entry without running any of it: write-time validation happens in the
 * primary (Admin API, standalone file load, `gatehouse check`), where user code must
 * never execute. `new vm.Script` only parses and compiles; nothing calls runIn*Context on
 * it, and it is dropped at once. Throws `failed to compile <label>: SyntaxError: …`.
 */
export function checkSyntax(source: string, label: string): void {
  try {
    new vm.Script(scriptText(source), { filename: label, lineOffset: SCRIPT_LINE_OFFSET });
  } catch (err) {
    throw new Error(`failed to compile ${label}: ${String(err)}`);
  }
}
