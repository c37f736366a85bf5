-- Redis Cluster, the board's slot. KEYS: seq, geometry, board epoch, retired
-- ARGV: geometry, the data set's epoch, known (1: the board was created
-- under that epoch before)
-- Returns {stored geometry, status}: 'ok' (the board's copy of the epoch
-- is the given one), 'lost' (the board was known but its keys are gone:
-- its shard lost its data, so its seqs would be handed out again under the
-- same epoch; nothing written, the caller starts a new epoch first) or
-- 'stale' (the given epoch is one the board had before: the caller read
-- the data set's epoch before it changed; nothing written).
local cur = redis.call('GET', KEYS[3])
if not cur and ARGV[3] == '1' then
  return {ARGV[1], 'lost'}
end
if cur ~= ARGV[2] then
  if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then
    return {ARGV[1], 'stale'}
  end
  if cur then redis.call('SADD', KEYS[4], cur) end
  redis.call('SET', KEYS[3], ARGV[2])
end
redis.call('SETNX', KEYS[1], 0)
local g = redis.call('GET', KEYS[2])
if not g then
  redis.call('SET', KEYS[2], ARGV[1])
  g = ARGV[1]
end
return {g, 'ok'}
