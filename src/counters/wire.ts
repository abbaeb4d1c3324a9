// The IPC messages between a worker's IpcCounterStore and the primary's CounterService.
//
// Wire format (kept flat and small: it is JSON over the IPC channel). A worker sends the
// operations queued during one tick as one `counter-ops` message, `ops` being a flat
// list of OP_FIELDS-tuples `[id, op, key, a, b, c]`:
//   OP_INCR    a = by, b = windowMs           → `[id, count, resetMs, 0, 0, 0]`
//   OP_TAKE    a = rate, b = burst            → `[id, delayMs | -1, 0, 0, 0, 0]`
//   OP_ACQUIRE a = max                        → `[id, inUse | -1, 0, 0, 0, 0]`
//   OP_RELEASE (id 0: no answer)
//   OP_LEASE   a = limit, b = windowMs, c = wanted tokens
//                                            → `[id, granted, resetMs, pool, gen, sole]`
//   OP_PREFETCH  as OP_LEASE, sent while the worker still holds tokens of the window
//   OP_RETURN  (id 0: no answer) a = unused tokens given back, b = the window's gen
//   OP_MARK    a = ttlMs                      → `[id, 1, 0, 0, 0, 0]`
//   OP_MARKED                                → `[id, ms left of the mark | 0, 0, 0, 0, 0]`
//   OP_GET     a plain value (value-book.ts)  → `[id, value | 0, 0, 0, 0, 0]`
//   OP_SET     a = value                      → `[id, value, 0, 0, 0, 0]`
//   OP_ADD     a = by (negative: subtracts)   → `[id, sum, 0, 0, 0, 0]`
// The primary answers the operations with an id in `counter-results` messages, a flat
// list of RESULT_FIELDS-tuples; `[id, null, message, 0, 0, 0]` reports an error. The same
// message type carries the primary's requests to give leases back: `[RECLAIM_ID, key,
// gen, 0, 0, 0]`, answered by an OP_RETURN (of 0 tokens when nothing is left).

export const OP_INCR = 1;
export const OP_TAKE = 2;
export const OP_ACQUIRE = 3;
export const OP_RELEASE = 4;
export const OP_LEASE = 5;
export const OP_RETURN = 6;
export const OP_PREFETCH = 7;
export const OP_MARK = 8;
export const OP_MARKED = 9;
export const OP_GET = 10;
export const OP_SET = 11;
export const OP_ADD = 12;
export const OP_FIELDS = 6;
export const RESULT_FIELDS = 6;
/** The id of a result tuple that is the primary asking for a key's unused lease back. */
export const RECLAIM_ID = -1;

export interface CounterOpsMessage { type: 'counter-ops'; ops: (number | string)[] }
export interface CounterResultsMessage { type: 'counter-results'; results: (number | string | null)[] }
