-- Redis Cluster, the user's slot. KEYS: cooldown
-- ARGV: now, cooldown_until, placement_id, board, nonce (one per call)
-- The first step of a placement on Cluster: takes the user's cooldown for
-- this attempt before the board's step runs, so two placements of one user
-- on two boards (two shards) cannot both pass. The cooldown then holds
-- `until:placement_id:board:nonce`, so that a placement that did not apply can
-- give back exactly its own reservation (RELEASE).
-- Returns {1, 0} reserved, {0, retry_after_ms} in cooldown. Idempotent
-- per call: the cluster client sends a command again after a dropped
-- connection, and the reservation this very call made is reserved.
local now = tonumber(ARGV[1])
local held = redis.call('GET', KEYS[1]) or '0'
if string.match(held, ':([^:]*)$') == ARGV[5] then
  return {1, 0}
end
local until_ = tonumber(string.match(held, '^(%-?%d+)'))
if until_ > now then
  return {0, until_ - now}
end
local cd = tonumber(ARGV[2])
local until_new = '0'
if cd > now then until_new = ARGV[2] end
redis.call('SET', KEYS[1], until_new .. ':' .. ARGV[3] .. ':' .. ARGV[4] .. ':' .. ARGV[5], 'PX', math.max(cd - now, 120000))
return {1, 0}
