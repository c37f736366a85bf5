-- Redis Cluster, the board's slot. KEYS: seq, px, exp, feed, board epoch,
-- board fence, placed
-- ARGV: index, color, now, expires_at, x, y, by, min_updates, min_age,
--       placement_id, epoch, keep_ms, nonce (one per call)
-- The second step of a placement on Cluster (the cooldown was reserved on
-- the user's slot): the same writes as PLACE on one server, plus `placed`,
-- `seq:nonce`, the seq this attempt got, kept for settling it.
if redis.call('GET', KEYS[5]) ~= ARGV[11] then
  return {3, 0}
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {2, 0}
end
-- Idempotent per call: the cluster client sends a command again after a
-- dropped connection, and the call that was applied already answers with
-- its seq.
local done = redis.call('GET', KEYS[7])
if done then
  local seq, nonce = string.match(done, '^(%d+):(.*)$')
  if nonce == ARGV[13] then return {1, tonumber(seq)} end
end
local now = tonumber(ARGV[3])
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[4], seq .. '-0', 't', ARGV[3], 'x', ARGV[5], 'y', ARGV[6], 'c', ARGV[2],
  'e', ARGV[4], 'b', ARGV[7])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
trim(KEYS[4], now, tonumber(ARGV[8]), tonumber(ARGV[9]), 4)
redis.call('SET', KEYS[7], seq .. ':' .. ARGV[13], 'PX', tonumber(ARGV[12]))
return {1, seq}
