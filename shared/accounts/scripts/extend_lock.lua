-- Extend a lock only if we still own it (compare-and-pexpire): a holder renews its lease while it works,
-- so a crashed holder's lock lapses within one lifetime while a slow but live one keeps it.
-- KEYS[1] lock key; ARGV[1] our owner token; ARGV[2] new lifetime (ms). Returns 1 when extended, 0 when
-- not ours any more.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
