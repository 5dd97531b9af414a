import { LuaScript } from './script.js';

/**
 * The Lua side of RedisInbox. Per user (every key tagged `{i:<id>}`, so one slot):
 *   E  zset   score = seq, member = "<seq>:<msgpack entry>" (the seq prefix keeps members unique)
 *   T  zset   score = entry timestamp, member = "<seq>": the expiry index
 *   M  hash   seq = last assigned seq (HINCRBY, never reused), dropped = lost entries not yet reported
 *
 * Why a sorted set: reads are "seq > after, at most limit" (ZRANGEBYSCORE with LIMIT, O(log n)
 * per page), a cumulative ack is one range removal, MaxPerUser trimming is ZPOPMIN, and
 * single entries can be removed by seq when they expire out of order (timestamps come from
 * several gateways' clocks, so they need not follow seq order). A list cannot remove by
 * seq cheaply; a stream could (XTRIM MINID for acks), but expiring entries out of order
 * needs XDEL per entry anyway plus a timestamp index, so it buys nothing here.
 *
 * `cutoff` arguments: an entry expired when its timestamp < cutoff; '' means never.
 * Seqs are formatted with %d: Lua prints large numbers as "1e+15" otherwise.
 */

const EXPIRED = `
local cutoff = tonumber(ARGV[#ARGV])
local function expired(seq)
  if not cutoff then return false end
  local ts = redis.call('ZSCORE', KEYS[2], seq)
  return ts ~= false and tonumber(ts) < cutoff
end
`;

/** KEYS E T M; ARGV payload timestamp maxPerUser keyTtlMs metaTtlMs ('' = no expiry) → {seq, dropped} */
export const APPEND = new LuaScript(`
local E, T, M = KEYS[1], KEYS[2], KEYS[3]
local max = tonumber(ARGV[3])
local seq = string.format('%d', redis.call('HINCRBY', M, 'seq', 1))
redis.call('ZADD', E, seq, seq .. ':' .. ARGV[1])
redis.call('ZADD', T, ARGV[2], seq)
local dropped = 0
local n = redis.call('ZCARD', E)
if n > max then
  local gone = redis.call('ZPOPMIN', E, n - max)
  for i = 2, #gone, 2 do redis.call('ZREM', T, gone[i]) end
  dropped = #gone / 2
  redis.call('HINCRBY', M, 'dropped', dropped)
end
if ARGV[4] ~= '' then
  redis.call('PEXPIRE', E, ARGV[4])
  redis.call('PEXPIRE', T, ARGV[4])
  redis.call('PEXPIRE', M, ARGV[5])
end
return {tonumber(seq), dropped}
`);

/** KEYS E T; ARGV after limit cutoff → members ("<seq>:<payload>") of unexpired entries with seq > after, at most limit */
export const READ = new LuaScript(`${EXPIRED}
local after, limit = ARGV[1], tonumber(ARGV[2])
local out = {}
while #out < limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, limit - #out)
  if #page == 0 then break end
  for i = 1, #page, 2 do
    if not expired(page[i + 1]) then out[#out + 1] = page[i] end
  end
  after = page[#page]
end
return out
`);

/** KEYS E T M; ARGV upTo cutoff → removed unexpired members; expired ones in range are counted as dropped */
export const ACK = new LuaScript(`${EXPIRED}
local E, T, M = KEYS[1], KEYS[2], KEYS[3]
local page = redis.call('ZRANGEBYSCORE', E, '-inf', ARGV[1], 'WITHSCORES')
local out = {}
local lost = 0
for i = 1, #page, 2 do
  if expired(page[i + 1]) then lost = lost + 1 else out[#out + 1] = page[i] end
  redis.call('ZREM', T, page[i + 1])
end
if #page > 0 then redis.call('ZREMRANGEBYSCORE', E, '-inf', ARGV[1]) end
if lost > 0 then redis.call('HINCRBY', M, 'dropped', lost) end
return out
`);

/** KEYS M → the dropped count, reset to 0 */
export const TAKE_DROPPED = new LuaScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'dropped') or '0')
if n > 0 then redis.call('HDEL', KEYS[1], 'dropped') end
return n
`);

/** KEYS E T M; ARGV cutoff → how many expired entries were removed (and counted as dropped) */
export const SWEEP_USER = new LuaScript(`
local E, T, M = KEYS[1], KEYS[2], KEYS[3]
local gone = redis.call('ZRANGEBYSCORE', T, '-inf', '(' .. ARGV[1])
for _, seq in ipairs(gone) do
  redis.call('ZREMRANGEBYSCORE', E, seq, seq)
end
if #gone > 0 then
  redis.call('ZREMRANGEBYSCORE', T, '-inf', '(' .. ARGV[1])
  redis.call('HINCRBY', M, 'dropped', #gone)
end
return #gone
`);

export const INBOX_SCRIPTS = [APPEND, READ, ACK, TAKE_DROPPED, SWEEP_USER];
