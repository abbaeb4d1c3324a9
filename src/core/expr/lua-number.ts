// Lua's `tonumber` as LuaJIT applies it to a string: ASCII whitespace around the
// number is allowed, hex integers (with sign) and inf/nan are numbers, anything
// else (including the empty string) is not. JS `Number()` differs on each of those
// (`Number('') === 0`, `Number('0b1') === 1`, `Number('\u00a01') === 1`), so the
// accepted shapes are checked first.
const DECIMAL = /^[ \t\n\v\f\r]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\v\f\r]*$/;
const HEX = /^[ \t\n\v\f\r]*([+-]?)0[xX]([0-9a-fA-F]+)[ \t\n\v\f\r]*$/;
const SPECIAL = /^[ \t\n\v\f\r]*([+-]?)(inf|infinity|nan)[ \t\n\v\f\r]*$/i;

/** Lua `tonumber(v)`: the number, or undefined where Lua returns nil. */
export function luaToNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  if (DECIMAL.test(v)) return Number(v);
  let m = HEX.exec(v);
  if (m !== null) {
    const n = parseInt(m[2]!, 16);
    return m[1] === '-' ? -n : n;
  }
  m = SPECIAL.exec(v);
  if (m !== null) {
    if (m[2]!.toLowerCase() === 'nan') return NaN;
    return m[1] === '-' ? -Infinity : Infinity;
  }
  return undefined;
}
