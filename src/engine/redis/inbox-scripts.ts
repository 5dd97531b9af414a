import { LuaScript } from './script.js';

/**
 * The Lua side of RedisInbox. Per user (every key in the slot of the user's channel,
 * see inbox-keys.ts):
 *   E  zset   score = seq, member = "<seq>:<msgpack entry>" (the seq prefix keeps members unique)
 *   T  zset   score = entry timestamp, member = "<seq>": the expiry index
 *   M  hash   seq = last assigned seq (HINCRBY, never reused), epoch = the counter's epoch
 *             (HSETNX of a random candidate from the caller: it lives and dies with `seq`),
 *             dropped = lost entries not yet reported
 *   D  string one per de-duplication key: "<seq> <epoch> <writtenAt> <timestamp> <mid>"
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

/** Removes the expired entries of E/T (timestamp < cutoff) and counts them in M; returns how many. */
const EXPIRE_USER = `
local function expire_user(E, T, M, cutoff)
  local gone = redis.call('ZRANGEBYSCORE', T, '-inf', '(' .. cutoff)
  for _, seq in ipairs(gone) do
    redis.call('ZREMRANGEBYSCORE', E, seq, seq)
  end
  if #gone > 0 then
    redis.call('ZREMRANGEBYSCORE', T, '-inf', '(' .. cutoff)
    redis.call('HINCRBY', M, 'dropped', #gone)
  end
  return #gone
end
`;

/**
 * KEYS E T M D; ARGV
 *   1 payload  2 timestamp  3 maxPerUser  4 keyTtlMs  5 metaTtlMs ('' = no expiry)
 *   6 epoch candidate  7 dedup window ms ('' = no dedup)  8 now (ms, gateway clock)
 *   9 mid  10 dedup record PX ms
 *   11 publish command ('' none, 'PUBLISH', 'SPUBLISH')  12 channel  13 envelope
 *   14 epoch offset  15 seq offset (0-based, inside the envelope)
 * → {seq, dropped, epoch, receivers (-1: nothing published)} for an append,
 *   {seq, 0, epoch, -2, mid, timestamp} for a de-duplicated resend.
 *
 * The live frame is published after the entry is stored, inside the script: Redis runs
 * one script at a time per shard, so frames of one user leave in seq order whichever
 * node appended them.
 */
export const APPEND = new LuaScript(`
local E, T, M, D = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local max = tonumber(ARGV[3])
if ARGV[7] ~= '' then
  local rec = redis.call('GET', D)
  if rec then
    local seq, epoch, written, ts, mid = string.match(rec, '^(%d+) (%w+) (%S+) (%S+) (.*)$')
    if seq and tonumber(ARGV[8]) - tonumber(written) <= tonumber(ARGV[7]) then
      return {tonumber(seq), 0, epoch, -2, mid, ts}
    end
  end
end
-- Refused before any write: a script error does not undo what the script already wrote.
if ARGV[11] ~= '' and tonumber(redis.call('HGET', M, 'seq') or '0') >= 4294967295 then
  return redis.error_reply('ERR inbox seq no longer fits the uint32 of the live frame')
end
redis.call('HSETNX', M, 'epoch', ARGV[6])
local epoch = redis.call('HGET', M, 'epoch')
local seqn = redis.call('HINCRBY', M, 'seq', 1)
local seq = string.format('%d', seqn)
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
if ARGV[7] ~= '' then
  redis.call('SET', D, seq .. ' ' .. epoch .. ' ' .. ARGV[8] .. ' ' .. ARGV[2] .. ' ' .. ARGV[9], 'PX', ARGV[10])
end
local receivers = -1
if ARGV[11] ~= '' then
  local frame = ARGV[13]
  local at = tonumber(ARGV[14])
  frame = string.sub(frame, 1, at) .. epoch .. string.sub(frame, at + 13)
  at = tonumber(ARGV[15])
  frame = string.sub(frame, 1, at) .. struct.pack('>I4', seqn) .. string.sub(frame, at + 5)
  receivers = redis.call(ARGV[11], ARGV[12], frame)
end
return {tonumber(seq), dropped, epoch, receivers}
`);

/** KEYS E T M; ARGV after limit cutoff → {epoch ('' if none), members ("<seq>:<payload>") of unexpired entries with seq > after, at most limit} */
export const READ = new LuaScript(`${EXPIRED}
local after, limit = ARGV[1], tonumber(ARGV[2])
local out = {redis.call('HGET', KEYS[3], 'epoch') or ''}
while #out - 1 < limit do
  local page = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. after, '+inf', 'WITHSCORES', 'LIMIT', 0, limit - (#out - 1))
  if #page == 0 then break end
  for i = 1, #page, 2 do
    if not expired(page[i + 1]) then out[#out + 1] = page[i] end
  end
  after = page[#page]
end
return out
`);

/**
 * KEYS E T M; ARGV upTo epoch ('' = current, else '=' .. epoch) cutoff → {current epoch or '', removed unexpired
 * members...}; expired ones in range are counted as dropped. An epoch other than the current one removes nothing.
 */
export const ACK = new LuaScript(`${EXPIRED}
local E, T, M = KEYS[1], KEYS[2], KEYS[3]
local current = redis.call('HGET', M, 'epoch') or ''
if ARGV[2] ~= '' and ARGV[2] ~= '=' .. current then return {current} end
local page = redis.call('ZRANGEBYSCORE', E, '-inf', ARGV[1], 'WITHSCORES')
local out = {current}
local lost = 0
for i = 1, #page, 2 do
  if expired(page[i + 1]) then lost = lost + 1 else out[#out + 1] = page[i] end
  redis.call('ZREM', T, page[i + 1])
end
if #page > 0 then redis.call('ZREMRANGEBYSCORE', E, '-inf', ARGV[1]) end
if lost > 0 then redis.call('HINCRBY', M, 'dropped', lost) end
return out
`);

/** KEYS E T M; ARGV cutoff ('' = never) → expires the user's entries, then the dropped count, reset to 0 */
export const TAKE_DROPPED = new LuaScript(`${EXPIRE_USER}
if ARGV[1] ~= '' then expire_user(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) end
local n = tonumber(redis.call('HGET', KEYS[3], 'dropped') or '0')
if n > 0 then redis.call('HDEL', KEYS[3], 'dropped') end
return n
`);

/** KEYS E T M; ARGV cutoff → how many expired entries were removed (and counted as dropped) */
export const SWEEP_USER = new LuaScript(`${EXPIRE_USER}
return expire_user(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
`);

export const INBOX_SCRIPTS = [APPEND, READ, ACK, TAKE_DROPPED, SWEEP_USER];
