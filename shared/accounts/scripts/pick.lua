-- Pick one usable account by weight and take an in-flight lease on it, in one atomic step.
-- KEYS[1] pool zset, KEYS[2] sticky key of the conversation ('' = no affinity)
-- ARGV[1] account key head ("<prefix>{acct:"), ARGV[2..4] suffixes of the data hash, leases zset, rate key
-- ARGV[5] lease id, ARGV[6] lease ttl ms, ARGV[7] default max concurrency, ARGV[8] default min interval ms
-- ARGV[9] governor jitter ratio, ARGV[10] access token margin s, ARGV[11] sticky ttl s
-- ARGV[12..] account ids already tried for this request (never picked again)
-- Returns {'ok', account id, lease id} or {'none', reason, retry after ms} where reason is
--   'empty' (no account in the pool), 'cooling' (every account waits), 'busy' (concurrency cap or governor),
--   'no_token' (no usable access token), 'excluded' (every usable account was already tried).
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now_s = now_ms / 1000
local head, data_sfx, lease_sfx, rate_sfx = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local lease_id, ttl_ms = ARGV[5], tonumber(ARGV[6])
local def_cap, def_interval, jitter = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local margin, sticky_ttl = tonumber(ARGV[10]), tonumber(ARGV[11])

local excluded = {}
for i = 12, #ARGV do excluded[ARGV[i]] = true end

-- the soonest time a waiting account becomes usable, as a retry hint
local function soonest_wait()
  local later = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_s, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #later == 0 then return 0 end
  return math.max(0, math.ceil(tonumber(later[2]) * 1000 - now_ms))
end

local members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s)
if #members == 0 then
  if redis.call('ZCARD', KEYS[1]) == 0 then return {'none', 'empty', 0} end
  return {'none', 'cooling', soonest_wait()}
end

local ids, weights, caps, intervals, total = {}, {}, {}, {}, 0
local n_excluded, n_no_token = 0, 0
for _, id in ipairs(members) do
  if excluded[id] then
    n_excluded = n_excluded + 1
  else
    local f = redis.call('HMGET', head .. id .. data_sfx, 'enabled', 'state', 'weight', 'access_token_enc',
      'access_expires_at', 'max_concurrency', 'min_interval_ms')
    local state = f[2]
    local weight = tonumber(f[3]) or 100
    if f[1] == '1' and weight > 0 and (state == 'active' or state == 'cooldown' or state == 'exhausted') then
      if f[4] and f[4] ~= '' and (tonumber(f[5]) or 0) > now_s + margin then
        local cap = tonumber(f[6]) or 0
        if cap <= 0 then cap = def_cap end
        local interval = tonumber(f[7]) or -1
        if interval < 0 then interval = def_interval end
        ids[#ids + 1] = id
        weights[#ids] = weight
        caps[#ids] = cap
        intervals[#ids] = interval
        total = total + weight
      else
        n_no_token = n_no_token + 1
      end
    end
  end
end

-- take a slot on candidate i if it has room under its cap and its governor allows a start now
local busy_wait = -1
local function try_take(i)
  local id = ids[i]
  local leases = head .. id .. lease_sfx
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now_ms)
  if redis.call('ZCARD', leases) >= caps[i] then
    if busy_wait < 0 or busy_wait > 50 then busy_wait = 50 end
    return false
  end
  local interval = intervals[i]
  if interval > 0 then
    local rate = head .. id .. rate_sfx
    local next_ms = tonumber(redis.call('GET', rate) or '0')
    if now_ms < next_ms then
      local wait = next_ms - now_ms
      if busy_wait < 0 or wait < busy_wait then busy_wait = wait end
      return false
    end
    local spacing = math.floor(interval * (1 + jitter * math.random()))
    redis.call('SET', rate, tostring(now_ms + spacing), 'PX', spacing + 1000)
  end
  redis.call('ZADD', leases, now_ms + ttl_ms, lease_id)
  redis.call('PEXPIRE', leases, ttl_ms + 60000)
  if KEYS[2] ~= '' and sticky_ttl > 0 then
    redis.call('SET', KEYS[2], id, 'EX', sticky_ttl)
  end
  return true
end

local removed = {}
if KEYS[2] ~= '' then
  local preferred = redis.call('GET', KEYS[2])
  if preferred then
    for i, id in ipairs(ids) do
      if id == preferred then
        if try_take(i) then return {'ok', id, lease_id} end
        removed[i] = true
        total = total - weights[i]
        break
      end
    end
  end
end

while total > 0 do
  local r = math.random() * total
  local chosen = nil
  for i = 1, #ids do
    if not removed[i] then
      r = r - weights[i]
      if r < 0 then chosen = i break end
      chosen = i
    end
  end
  if try_take(chosen) then return {'ok', ids[chosen], lease_id} end
  removed[chosen] = true
  total = total - weights[chosen]
end

if busy_wait >= 0 then return {'none', 'busy', busy_wait} end
if n_no_token > 0 then return {'none', 'no_token', soonest_wait()} end
if n_excluded > 0 then return {'none', 'excluded', 0} end
return {'none', 'cooling', soonest_wait()}
