-- Redis Cluster, the board's slot. KEYS: seq, geometry, board epoch
-- ARGV: geometry, the data set's epoch, known (1: the board was created
-- under that epoch before)
-- Returns {stored geometry, status, board's epoch}: 'ok' (the board's copy
-- of the epoch is the given one), 'lost' (the board was known but its keys
-- are gone: its shard lost its data, so its seqs would be handed out again
-- under the same epoch; nothing written, the caller starts a new epoch
-- first) or 'stale' (the board has a later epoch than the given one:
-- epochs on Cluster begin with the time they were made, fixed width, so
-- they compare as strings; nothing written). A copy is never set back to
-- an earlier epoch, which another process that read the data set's epoch
-- before it changed would otherwise do.
local cur = redis.call('GET', KEYS[3])
if not cur and ARGV[3] == '1' then
  return {ARGV[1], 'lost', ''}
end
if cur and cur > ARGV[2] then
  return {ARGV[1], 'stale', cur}
end
if cur ~= ARGV[2] then
  redis.call('SET', KEYS[3], ARGV[2])
end
redis.call('SETNX', KEYS[1], 0)
local g = redis.call('GET', KEYS[2])
if not g then
  redis.call('SET', KEYS[2], ARGV[1])
  g = ARGV[1]
end
return {g, 'ok', ARGV[2]}
