-- Pick one usable account by weight and take an in-flight lease on it, in one atomic step.
-- KEYS[1] pool zset, KEYS[2] the accounts' columns hash (shared/accounts/columns.py: weight, enabled,
-- state, token_until, caps, in-flight count, governor time), KEYS[3] leases zset of every account
-- (`<id>|<lease>` -> expiry ms), KEYS[4] sticky key of the conversation (absent = no affinity: never an
-- empty name, which a Cluster would hash to a slot of its own). Only the drawn candidates' columns are read.
-- lease_id; ttl_ms: lease ttl; def_cap, def_interval: default max concurrency and
-- min interval ms; jitter: governor jitter ratio; margin: access token margin s; sticky_ttl s;
-- full_scan: largest usable count read whole; sample: ranks drawn in a larger pool;
-- tried: account ids already tried for this request (never picked again)
--! ARGV: lease_id ttl_ms:n def_cap:n def_interval:n jitter:n margin:n sticky_ttl:n full_scan:n sample:n ...tried
-- Returns {'ok', account id, lease id} or {'none', reason, retry after ms} where reason is
--   'empty' (no account in the pool), 'cooling' (every account waits), 'busy' (concurrency cap or governor),
--   'no_token' (no usable access token), 'excluded' (every usable account was already tried).
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = now_ms / 1000
local excluded = {}
for _, id in ipairs(tried) do excluded[id] = true end

-- the soonest time a waiting account becomes usable, as a retry hint
local function soonest_wait()
  local later = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_s, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #later == 0 then return 0 end
  return math.max(0, math.ceil(tonumber(later[2]) * 1000 - now_ms))
end

-- Usable members are the lowest `count` ranks of the pool (scored by when they become usable). A pool
-- larger than `full_scan` is first tried on a bounded random sample (`sample` ranks, plus the
-- conversation's account), drawn by weight within the sample, so a pick costs the same at 5 or 2,000
-- accounts; only when no sampled account can take the request does the pick read every member, to
-- find one or say exactly why none can.
local cols = KEYS[2]
-- leases of crashed requests (never released) stop counting once they expire
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now_ms)
if #expired > 0 then
  for _, member in ipairs(expired) do
    local id = string.match(member, '^(.*)|[^|]*$')
    if id then redis.call('HINCRBY', cols, col(F.inflight, id), -1) end
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms)
end

local count = redis.call('ZCOUNT', KEYS[1], '-inf', now_s)
if count == 0 then
  if redis.call('ZCARD', KEYS[1]) == 0 then return {'none', 'empty', 0} end
  return {'none', 'cooling', soonest_wait()}
end

local ids, weights, total = {}, {}, 0
local n_excluded, n_no_token = 0, 0
local sticky = KEYS[4]
local preferred = nil
if sticky then preferred = redis.call('GET', sticky) end

-- candidates: `members` not excluded, with their weights (a missing weight is 100)
local function load(members)
  ids, weights, total = {}, {}, 0
  for _, id in ipairs(members) do
    if excluded[id] then
      n_excluded = n_excluded + 1
    else
      ids[#ids + 1] = id
    end
  end
  for from = 1, #ids, 1000 do  -- unpack() is bounded by the Lua stack
    local upto = math.min(from + 999, #ids)
    local fields = {}
    for j = from, upto do fields[#fields + 1] = col(F.weight, ids[j]) end
    local stored = redis.call('HMGET', cols, unpack(fields))
    for j = from, upto do
      local weight = tonumber(stored[j - from + 1]) or 100
      if weight < 0 then weight = 0 end
      weights[j] = weight
      total = total + weight
    end
  end
end

-- the candidate's record: usable (enabled, pickable state, fresh token) -> its cap and spacing
local caps, intervals = {}, {}
local function usable(i)
  local id = ids[i]
  local f = redis.call('HMGET', cols, col(F.enabled, id), col(F.state, id), col(F.token_until, id),
    col(F.max_concurrency, id), col(F.min_interval_ms, id))
  local state = f[2]
  if f[1] ~= '1' or not (state == S.active or state == S.cooldown or state == S.exhausted) then
    return false
  end
  if (tonumber(f[3]) or 0) <= now_s + margin then
    n_no_token = n_no_token + 1
    return false
  end
  local cap = tonumber(f[4]) or 0
  if cap <= 0 then cap = def_cap end
  local interval = tonumber(f[5]) or -1
  if interval < 0 then interval = def_interval end
  caps[i], intervals[i] = cap, interval
  return true
end

-- take a slot on candidate i if it has room under its cap and its governor allows a start now
local busy_wait = -1
local function try_take(i)
  local id = ids[i]
  if (tonumber(redis.call('HGET', cols, col(F.inflight, id))) or 0) >= caps[i] then
    if busy_wait < 0 or busy_wait > 50 then busy_wait = 50 end
    return false
  end
  local interval = intervals[i]
  if interval > 0 then
    local next_ms = tonumber(redis.call('HGET', cols, col(F.next_start, id))) or 0
    if now_ms < next_ms then
      local wait = next_ms - now_ms
      if busy_wait < 0 or wait < busy_wait then busy_wait = wait end
      return false
    end
    local spacing = math.floor(interval * (1 + jitter * math.random()))
    redis.call('HSET', cols, col(F.next_start, id), tostring(now_ms + spacing))
  end
  redis.call('ZADD', KEYS[3], now_ms + ttl_ms, id .. '|' .. lease_id)
  redis.call('HINCRBY', cols, col(F.inflight, id), 1)
  if sticky and sticky_ttl > 0 then
    redis.call('SET', sticky, id, 'EX', sticky_ttl)
  end
  return true
end

-- the conversation's account first, then draw by weight; a drawn account that cannot take the request
-- leaves the draw (the rest stay in proportion to their weights). Returns the index taken, or nil.
local function attempt()
  local removed = {}
  if preferred then
    for i, id in ipairs(ids) do
      if id == preferred then
        if weights[i] > 0 and usable(i) and try_take(i) then return i end
        removed[i] = true
        total = total - weights[i]
        break
      end
    end
  end
  while total > 0 do
    local r = math.random() * total
    local chosen = nil
    for i = 1, #ids do
      if not removed[i] and weights[i] > 0 then
        r = r - weights[i]
        if r < 0 then chosen = i break end
        chosen = i
      end
    end
    if usable(chosen) and try_take(chosen) then return chosen end
    removed[chosen] = true
    total = total - weights[chosen]
  end
  return nil
end

if count > full_scan then
  local seen, sampled = {}, {}
  if preferred then
    local score = redis.call('ZSCORE', KEYS[1], preferred)
    if score and tonumber(score) <= now_s then
      seen[preferred] = true
      sampled[1] = preferred
    end
  end
  local drawn = {}
  if count == redis.call('ZCARD', KEYS[1]) then  -- nobody waits: any member, distinct, in one call
    drawn = redis.call('ZRANDMEMBER', KEYS[1], sample)
  else
    for _ = 1, sample do
      local rank = math.random(0, count - 1)
      drawn[#drawn + 1] = redis.call('ZRANGE', KEYS[1], rank, rank)[1]
    end
  end
  for _, id in ipairs(drawn) do
    if not seen[id] then
      seen[id] = true
      sampled[#sampled + 1] = id
    end
  end
  load(sampled)
  local taken = attempt()
  if taken then return {'ok', ids[taken], lease_id} end
  n_excluded, n_no_token, busy_wait = 0, 0, -1
end

load(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s))
local taken = attempt()
if taken then return {'ok', ids[taken], lease_id} end

if busy_wait >= 0 then return {'none', 'busy', busy_wait} end
if n_no_token > 0 then return {'none', 'no_token', soonest_wait()} end
if n_excluded > 0 then return {'none', 'excluded', 0} end
return {'none', 'cooling', soonest_wait()}
