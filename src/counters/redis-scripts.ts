// The server-side scripts of the Redis counter store (redis-store.ts). Each runs
// atomically on the server, so counting and checking are one step whichever gateway node
// sends it, and each touches exactly one key (KEYS[1]), so it runs unchanged on Redis
// Cluster (a script's keys must share a hash slot there).
//
// The clock is Redis's own (`TIME`, and PEXPIRE for windows), never the node's: every
// node that counts a key reads the one clock of the server holding it, so nodes whose
// clocks drift apart still drain a bucket at exactly `rate` and expire a slot once. Redis
// 7 replicates a script's effects, not the script, so reading TIME before writing is
// allowed (Redis 5 and 6 do the same by default).
//
// Numbers with a fraction go back as strings: Redis truncates a Lua number in a reply.

/** How ioredis registers a script: sent by SHA (EVALSHA), the body only when the server lacks it. */
export interface ScriptDefinition {
  numberOfKeys: 1;
  lua: string;
}

/**
 * Fixed window (limit-count), as APISIX's redis policy: the first hit of a window sets
 * the key's expiry to the window, later hits only add. ARGV: by, windowMs.
 * Returns {count, ms left in the window}.
 */
export const FIXED_WINDOW: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}
`,
};

/**
 * Leaky bucket (limit-req), nginx's limit_req as CounterTable.take: a hash of the excess
 * over `rate` and when it was last drained (ms on the server's clock). A key's first
 * request starts with no excess; beyond `burst` the request is refused and nothing is
 * written. The key expires once the bucket has drained to the state of a new one.
 * ARGV: rate (per second), burst. Returns the delay in ms as a string, or '-1'.
 */
export const LEAKY_BUCKET: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'excess', 'last')
local excess = 0
if state[1] and state[2] then
  excess = math.max(tonumber(state[1]) - rate * math.abs(now - tonumber(state[2])) / 1000 + 1, 0)
  if excess > burst + 1e-9 then return '-1' end
end
redis.call('HSET', KEYS[1], 'excess', string.format('%.17g', excess), 'last', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((excess + 1) * 1000 / rate))
return string.format('%.17g', excess * 1000 / rate)
`,
};

/**
 * Concurrency (limit-conn): a sorted set of the slots in use, each a member scored with
 * the time it expires by itself (the server's clock), so the slots of a node that dies
 * holding them are given back after the TTL instead of never. Expired slots are dropped
 * first; at `max` nothing is taken. ARGV: max, ttlMs, slot id.
 * Returns the slots in use, this one included, or -1.
 */
export const ACQUIRE_SLOT: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[1]) then return -1 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return n + 1
`,
};

/**
 * A mark that expires (jwt-logout's revocations): set for ARGV[1] ms unless the key is
 * already marked for longer (PTTL -2: absent; -1 cannot happen, marks always expire).
 * Returns 1.
 */
export const MARK_UNTIL: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local ttl = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('SET', KEYS[1], '1', 'PX', ttl) end
return 1
`,
};

/**
 * Higress cluster-key-rate-limit's fixed window, so that its keys in a Redis it shares
 * with Higress gateways count alike: a count already past the threshold is not raised
 * further; otherwise INCR, and the first hit sets the expiry in seconds.
 * ARGV: threshold, windowSeconds. Returns {count, seconds left in the window}.
 */
export const THRESHOLD_WINDOW: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then return {current, redis.call('TTL', KEYS[1])} end
current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return {current, redis.call('TTL', KEYS[1])}
`,
};

/**
 * Higress ai-token-ratelimit's window: `by` 0 reads the count; otherwise the tokens are
 * added while the count is not past the threshold (so one call may overshoot it), and a
 * key without expiry gets the window's. ARGV: threshold, windowSeconds, by.
 * Returns {count, seconds left in the window (-2: no key)}.
 */
export const TOKEN_WINDOW: ScriptDefinition = {
  numberOfKeys: 1,
  lua: `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local by = tonumber(ARGV[3])
if by > 0 and current <= tonumber(ARGV[1]) then
  current = redis.call('INCRBY', KEYS[1], by)
  if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
end
return {current, redis.call('TTL', KEYS[1])}
`,
};
