-- Add a finished request's tokens (and whether it failed) to a client key's usage of the day.
-- KEYS[1] usage hash of the day
-- ARGV[1] input tokens, ARGV[2] output tokens, ARGV[3] '1' when the request failed, ARGV[4] usage ttl s
local input, output = tonumber(ARGV[1]) or 0, tonumber(ARGV[2]) or 0
redis.call('HINCRBY', KEYS[1], 'input_tokens', input)
redis.call('HINCRBY', KEYS[1], 'output_tokens', output)
redis.call('HINCRBY', KEYS[1], 'tokens', input + output)
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[1], 'errors', 1)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
