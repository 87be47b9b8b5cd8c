-- Delete a lock only if we still own it (compare-and-delete); an expired-and-retaken lock is left alone.
-- KEYS[1] lock key; ARGV[1] our owner token. Returns 1 when released, 0 when not ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
