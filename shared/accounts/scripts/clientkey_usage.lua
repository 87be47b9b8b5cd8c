-- Add a finished request's tokens (and whether it failed) to a client key's usage of the day.
-- KEYS[1] usage hash of the day
-- input, output: tokens; failed: '1' when the request failed; ttl: usage ttl s
--! ARGV: input:n output:n failed ttl:n
input, output = input or 0, output or 0
redis.call('HINCRBY', KEYS[1], C.input_tokens, input)
redis.call('HINCRBY', KEYS[1], C.output_tokens, output)
redis.call('HINCRBY', KEYS[1], C.tokens, input + output)
if failed == '1' then
  redis.call('HINCRBY', KEYS[1], C.errors, 1)
end
redis.call('EXPIRE', KEYS[1], ttl)
return 1
