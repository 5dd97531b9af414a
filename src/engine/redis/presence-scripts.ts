import { LuaScript } from './script.js';

/**
 * The Lua side of RedisPresenceStore; each script is atomic for one user (or one group).
 *
 * Per user (every key tagged `{u:<id>}`, so one slot):
 *   C  hash   connId → "nodeId|connectTime|order" (order: a per-user counter, the tie-break for evict-oldest)
 *   S  hash   on = "1" while online or in grace; gd = grace deadline (ms, only while in grace);
 *             cs = chosen status; ls = lastSeen (ms); n = the order counter
 *   G  set    the user's group memberships, "<byteLen(connId)>:<connId><group>", so a reaper can leave
 *             the groups of a dead node's connections without anyone calling leave()
 * Per group (tagged `{g:<group>}`):
 *   GC set    "<byteLen(userId)>:<userId><connId>" (one per joined connection; makes join/leave idempotent)
 *   GU zset   userId → number of its connections in the group (members() reads this)
 *
 * Numbers: times arrive as decimal strings and are stored as given (Lua would print
 * 1.7e12 as "1.7e+12"); they are compared with tonumber, exact below 2^53.
 */

/** Parses "node|time|order" from the right, so a node id containing '|' still parses. */
const PARSE = `
local function parse(v)
  local node, t, o = string.match(v, '^(.*)|([^|]*)|([^|]*)$')
  return node, tonumber(t) or 0, tonumber(o) or 0
end
`;

/** KEYS C S; ARGV connId nodeId now max policy → {'ok', count, cameOnline, chosen, evictedId, evictedNode, ...} | {'limit', count} */
export const CONNECT = new LuaScript(`${PARSE}
local C, S = KEYS[1], KEYS[2]
local connId, nodeId, now, max, policy = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local chosen = redis.call('HGET', S, 'cs') or 'online'
local n = redis.call('HLEN', C)
if redis.call('HEXISTS', C, connId) == 1 then
  return {'ok', n, 0, chosen}
end
local out = {'ok', 0, 0, ''}
if max > 0 and n >= max then
  if policy == 'reject' then return {'limit', n} end
  local all = redis.call('HGETALL', C)
  local list = {}
  for i = 1, #all, 2 do
    local node, t, o = parse(all[i + 1])
    list[#list + 1] = {id = all[i], node = node, t = t, o = o}
  end
  table.sort(list, function(a, b) if a.t ~= b.t then return a.t < b.t end return a.o < b.o end)
  local i = 1
  while n >= max and i <= #list do
    redis.call('HDEL', C, list[i].id)
    out[#out + 1] = list[i].id
    out[#out + 1] = list[i].node
    n = n - 1
    i = i + 1
  end
end
local cameOnline = 0
if redis.call('HGET', S, 'on') ~= '1' then
  cameOnline = 1
  if chosen ~= 'invisible' then chosen = 'online' end
  redis.call('HSET', S, 'on', '1', 'cs', chosen)
end
redis.call('HDEL', S, 'gd')
local order = redis.call('HINCRBY', S, 'n', 1)
redis.call('HSET', C, connId, nodeId .. '|' .. now .. '|' .. order)
if chosen ~= 'invisible' then redis.call('HSET', S, 'ls', now) end
redis.call('PERSIST', S)
out[2] = n + 1
out[3] = cameOnline
out[4] = chosen
return out
`);

/** KEYS C S; ARGV connId now deadline → {count, lastConnection, ownerNodeId | ''} */
export const DISCONNECT = new LuaScript(`${PARSE}
local C, S = KEYS[1], KEYS[2]
local v = redis.call('HGET', C, ARGV[1])
if not v then return {redis.call('HLEN', C), 0, ''} end
redis.call('HDEL', C, ARGV[1])
local n = redis.call('HLEN', C)
local last = 0
if n == 0 then
  redis.call('HSET', S, 'gd', ARGV[3])
  last = 1
end
if redis.call('HGET', S, 'cs') ~= 'invisible' then redis.call('HSET', S, 'ls', ARGV[2]) end
local node = parse(v)
return {n, last, node or ''}
`);

/** KEYS C S; ARGV now stateTtlMs → 1 when this call took the user offline */
export const EXPIRE = new LuaScript(`
local C, S = KEYS[1], KEYS[2]
if redis.call('HGET', S, 'on') ~= '1' or redis.call('HLEN', C) > 0 then return 0 end
local gd = redis.call('HGET', S, 'gd')
if not gd or tonumber(gd) > tonumber(ARGV[1]) then return 0 end
redis.call('HDEL', S, 'on', 'gd')
-- Offline users keep lastSeen and invisibility for stateTtlMs, then vanish.
redis.call('PEXPIRE', S, ARGV[2])
return 1
`);

/** KEYS S; ARGV status now → previous status, or false when offline */
export const SET_STATUS = new LuaScript(`
local S = KEYS[1]
if redis.call('HGET', S, 'on') ~= '1' then return false end
local prev = redis.call('HGET', S, 'cs') or 'online'
if prev == ARGV[1] then return prev end
redis.call('HSET', S, 'cs', ARGV[1])
if (prev == 'invisible') ~= (ARGV[1] == 'invisible') then redis.call('HSET', S, 'ls', ARGV[2]) end
return prev
`);

/** KEYS C S → {on, chosen, lastSeen, connections}: one consistent snapshot */
export const GET = new LuaScript(`
local s = redis.call('HMGET', KEYS[2], 'on', 'cs', 'ls')
return {s[1] or '', s[2] or '', s[3] or '0', redis.call('HLEN', KEYS[1])}
`);

/**
 * KEYS C S G; ARGV nodeId now connId... → {lastConnection, group, connId, group, connId, ...}
 * Removes the listed connections if (still) owned by nodeId, and the group memberships
 * of every listed connection (a dead node cannot leave them any more).
 */
export const REAP = new LuaScript(`${PARSE}
local C, S, G = KEYS[1], KEYS[2], KEYS[3]
local nodeId, now = ARGV[1], ARGV[2]
local removed = 0
local wanted = {}
for i = 3, #ARGV do
  local c = ARGV[i]
  local p = string.len(c) .. ':' .. c
  wanted[#wanted + 1] = {c = c, p = p}
  local v = redis.call('HGET', C, c)
  if v then
    local node = parse(v)
    if node == nodeId then
      redis.call('HDEL', C, c)
      removed = removed + 1
    end
  end
end
local out = {0}
for _, m in ipairs(redis.call('SMEMBERS', G)) do
  for _, w in ipairs(wanted) do
    if string.sub(m, 1, #w.p) == w.p then
      redis.call('SREM', G, m)
      out[#out + 1] = string.sub(m, #w.p + 1)
      out[#out + 1] = w.c
      break
    end
  end
end
if removed > 0 then
  if redis.call('HLEN', C) == 0 and redis.call('HGET', S, 'on') == '1' then
    redis.call('HSET', S, 'gd', now)
    out[1] = 1
  end
  if redis.call('HGET', S, 'cs') ~= 'invisible' then redis.call('HSET', S, 'ls', now) end
end
return out
`);

/** KEYS GC GU; ARGV member userId: one connection joins a group (idempotent) */
export const GROUP_JOIN = new LuaScript(`
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then redis.call('ZINCRBY', KEYS[2], 1, ARGV[2]) end
return 0
`);

/** KEYS GC GU; ARGV member userId: one connection leaves a group (idempotent) */
export const GROUP_LEAVE = new LuaScript(`
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  if tonumber(redis.call('ZINCRBY', KEYS[2], -1, ARGV[2])) <= 0 then redis.call('ZREM', KEYS[2], ARGV[2]) end
end
return 0
`);

/** KEYS GU; ARGV limit → {count, userId...} */
export const GROUP_MEMBERS = new LuaScript(`
local out = {redis.call('ZCARD', KEYS[1])}
local limit = tonumber(ARGV[1])
if limit > 0 then
  for _, u in ipairs(redis.call('ZRANGE', KEYS[1], 0, limit - 1)) do out[#out + 1] = u end
end
return out
`);

export const PRESENCE_SCRIPTS = [CONNECT, DISCONNECT, EXPIRE, SET_STATUS, GET, REAP, GROUP_JOIN, GROUP_LEAVE, GROUP_MEMBERS];
