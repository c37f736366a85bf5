-- KEYS: seq, px, exp, feed, epoch
-- ARGV: now, limit, width, min_updates, min_age, epoch
-- Returns {next_due or -1, backlog, first_seq, index1, index2, ...} (the
-- removals have consecutive seqs from first_seq), or {-2, 0} (nothing
-- written) when the data set is not the caller's.
if redis.call('GET', KEYS[5]) ~= ARGV[6] then
  return {-2, 0}
end
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {-1, 0}
if #due > 0 then
  for i = 1, #due, 1000 do
    local chunk = {unpack(due, i, math.min(i + 999, #due))}
    redis.call('ZREM', KEYS[3], unpack(chunk))
    redis.call('HDEL', KEYS[2], unpack(chunk))
  end
  local seq = redis.call('INCRBY', KEYS[1], #due) - #due
  out[3] = seq + 1
  -- A removal names its cell by index and the board's width, both strings
  -- already: no number formatting, half the fields of a placement's
  -- entry (this loop is most of a sweep's cost in Redis).
  for _, idx in ipairs(due) do
    seq = seq + 1
    redis.call('XADD', KEYS[4], seq .. '-0', 't', ARGV[1], 'r', idx, 'w', ARGV[3])
    out[#out + 1] = idx
  end
  trim(KEYS[4], now, tonumber(ARGV[4]), tonumber(ARGV[5]), #due + 4)
end
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
if first[2] then out[1] = tonumber(first[2]) end
out[2] = redis.call('ZCOUNT', KEYS[3], '-inf', now)
return out
