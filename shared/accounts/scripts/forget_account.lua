-- Take an account out of everything under the pick's tag: the accounts set, the pool, its columns and its
-- leases (its record and the rest of its keys are deleted next, in their own slot).
-- KEYS[1] accounts set, KEYS[2] pool zset, KEYS[3] the accounts' columns hash, KEYS[4] leases zset
-- ARGV[1] id, then the names of every column
-- Returns 1 when the account was registered, 0 otherwise.
local id = ARGV[1]
local registered = redis.call('SREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = col(ARGV[i], id) end
redis.call('HDEL', KEYS[3], unpack(fields))
local mine = {}
local prefix = id .. '|'
for _, member in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  if string.sub(member, 1, #prefix) == prefix and not string.find(member, '|', #prefix + 1, true) then
    mine[#mine + 1] = member
  end
end
if #mine > 0 then redis.call('ZREM', KEYS[4], unpack(mine)) end
return registered
