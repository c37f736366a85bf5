-- KEYS: seq, px, exp, feed, cooldown, fence, epoch, placed
-- ARGV: index, color, now, expires_at, cooldown_until, x, y, by, min_updates, min_age,
--       placement_id, epoch, placed_keep_ms
-- `placed` (`placed:<user>:<placement_id>`) keeps the seq this attempt got for a
-- while, so an attempt whose answer was lost can be looked up (SETTLE)
-- even after the user's next placement replaced the cooldown key.
-- The cooldown key holds `until:placement_id:seq` of the user's last
-- placement.
if redis.call('GET', KEYS[7]) ~= ARGV[12] then
  -- Another data set than the caller's: nothing written.
  return {3, 0}
end
local now = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[6]) == 1 then
  -- Settled as not applied while this step was on its way: stay so.
  return {2, 0}
end
local until_ = tonumber(string.match(redis.call('GET', KEYS[5]) or '0', '^(%-?%d+)'))
if until_ > now then
  return {0, until_ - now}
end
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[4], seq .. '-0', 't', ARGV[3], 'x', ARGV[6], 'y', ARGV[7], 'c', ARGV[2],
  'e', ARGV[4], 'b', ARGV[8])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
trim(KEYS[4], now, tonumber(ARGV[9]), tonumber(ARGV[10]), 4)
local cd = tonumber(ARGV[5])
-- The TTL only collects garbage (the stored value is what is compared); it
-- is at least two minutes so that a lost answer can still be settled.
-- Without a cooldown (cd = now) the stored end is 0: another gateway's
-- placement computed a millisecond earlier must not count as in cooldown.
local until_new = '0'
if cd > now then until_new = ARGV[5] end
redis.call('SET', KEYS[5], until_new .. ':' .. ARGV[11] .. ':' .. seq, 'PX', math.max(cd - now, 120000))
redis.call('SET', KEYS[8], seq, 'PX', tonumber(ARGV[13]))
return {1, seq}
