-- Redis Cluster, the epoch's slot. KEYS: epoch, known boards
-- ARGV: fresh epoch, board (or '' for none)
-- Returns {epoch, known}: the data set's epoch (made if missing) and, in
-- the same atomic step, whether `board` was created under it before (1)
-- or is recorded now (0).
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local known = 0
if ARGV[2] ~= '' and redis.call('SADD', KEYS[2], ARGV[2]) == 0 then known = 1 end
return {redis.call('GET', KEYS[1]), known}
