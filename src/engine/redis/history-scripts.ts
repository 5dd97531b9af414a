import { LuaScript } from './script.js';

/**
 * The Lua side of RedisGroupHistory. Per group (every key tagged `{h:<group>}`, so one slot):
 *   E  zset   score = offset, member = "<offset>:<msgpack entry>"
 *   X  zset   score = expiresAt (ms), member = "<offset>": the expiry index
 *   M  hash   epoch = this life's epoch, top = last assigned offset (HINCRBY, never reused)
 *
 * A sorted set rather than a stream: reads are "offset > after" and "offset < before,
 * newest first" (ZRANGEBYSCORE / ZREVRANGEBYSCORE with LIMIT), trimming is ZPOPMIN, and
 * entries that expire out of order (per-append TTLs) are removed by offset.
 * The three keys share one Redis expiry, renewed on each append, so an idle group's
 * history vanishes as a whole and the next append starts a new epoch: M never
 * outlives E, and a missing M with a leftover E (eviction) is cleared before reuse.
 * Offsets are formatted with %d: Lua prints large numbers as "1e+15" otherwise.
 */

/** KEYS E X M; ARGV payload expiresAt size now newEpoch keyTtlMs → {offset, epoch} */
export const APPEND = new LuaScript(`
local E, X, M = KEYS[1], KEYS[2], KEYS[3]
local epoch = redis.call('HGET', M, 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', E, X)
  redis.call('HSET', M, 'epoch', epoch)
end
local offset = string.format('%d', redis.call('HINCRBY', M, 'top', 1))
redis.call('ZADD', E, offset, offset .. ':' .. ARGV[1])
redis.call('ZADD', X, ARGV[2], offset)
local gone = redis.call('ZRANGEBYSCORE', X, '-inf', '(' .. ARGV[4])
for _, o in ipairs(gone) do redis.call('ZREMRANGEBYSCORE', E, o, o) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', X, '-inf', '(' .. ARGV[4]) end
local size = tonumber(ARGV[3])
local n = redis.call('ZCARD', E)
if n > size then
  local popped = redis.call('ZPOPMIN', E, n - size)
  for i = 2, #popped, 2 do redis.call('ZREM', X, popped[i]) end
end
redis.call('PEXPIRE', E, ARGV[6])
redis.call('PEXPIRE', X, ARGV[6])
redis.call('PEXPIRE', M, ARGV[6])
return {tonumber(offset), epoch}
`);

const HEAD = `
local now = tonumber(ARGV[3])
local function live(o)
  local at = redis.call('ZSCORE', KEYS[2], o)
  return at ~= false and tonumber(at) >= now
end
local epoch = redis.call('HGET', KEYS[3], 'epoch') or ''
local top = redis.call('HGET', KEYS[3], 'top') or '0'
local out = {epoch, top}
`;

/** KEYS E X M; ARGV after limit now → {epoch ('' none), top, members of unexpired entries with offset > after, at most limit} */
export const READ = new LuaScript(`${HEAD}
local after, limit = ARGV[1], tonumber(ARGV[2])
while #out - 2 < limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, limit - (#out - 2))
  if #page == 0 then break end
  for i = 1, #page, 2 do
    if live(page[i + 1]) then out[#out + 1] = page[i] end
  end
  after = page[#page]
end
return out
`);

/** KEYS E X M; ARGV before ('' = newest) limit now → {epoch, top, members newest first, offset < before, at most limit} */
export const PAGE = new LuaScript(`${HEAD}
local before, limit = ARGV[1], tonumber(ARGV[2])
local upper = before == '' and '+inf' or '(' .. before
while #out - 2 < limit do
  local page = redis.call('ZREVRANGEBYSCORE', KEYS[1], upper, '-inf', 'WITHSCORES', 'LIMIT', 0, limit - (#out - 2))
  if #page == 0 then break end
  for i = 1, #page, 2 do
    if live(page[i + 1]) then out[#out + 1] = page[i] end
  end
  upper = '(' .. page[#page]
end
return out
`);

/** KEYS E X; ARGV now → expired entries removed */
export const SWEEP_GROUP = new LuaScript(`
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
for _, o in ipairs(gone) do redis.call('ZREMRANGEBYSCORE', KEYS[1], o, o) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1]) end
return #gone
`);

export const HISTORY_SCRIPTS = [APPEND, READ, PAGE, SWEEP_GROUP];
