-- KEYS: epoch; ARGV: seen, fresh
-- A new epoch unless another process already replaced `seen`.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
end
return redis.call('GET', KEYS[1])
