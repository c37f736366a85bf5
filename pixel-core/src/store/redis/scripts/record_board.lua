-- Redis Cluster, the epoch's slot. KEYS: epoch, known boards; ARGV: epoch, board
-- Records that `board`'s keys exist under `epoch`, unless the data set has
-- another epoch by now (its recovery records the board again).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SADD', KEYS[2], ARGV[2])
  return 1
end
return 0
