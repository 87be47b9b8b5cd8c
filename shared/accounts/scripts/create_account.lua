-- Write a new account's record, once its id is registered (register_account.lua): what a deletion that
-- stopped half-way left under this id is replaced, never merged.
-- KEYS[1] account hash; ARGV: field, value pairs.
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
