-- Redis Cluster, the epoch's slot. KEYS: epoch, known boards; ARGV: seen, fresh
-- A new epoch unless another process already replaced `seen`; no board is
-- known under the new one yet (each is recorded again as it is brought to it).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[2])
end
return redis.call('GET', KEYS[1])
