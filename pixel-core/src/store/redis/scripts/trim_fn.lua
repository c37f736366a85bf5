local function trim(feed, now, min_updates, min_age, budget)
  local n = redis.call('XLEN', feed)
  if n <= min_updates then return end
  local first = redis.call('XRANGE', feed, '-', '+', 'COUNT', 1)[1]
  if not first or tonumber(first[2][2]) >= now - min_age then return end
  local head = redis.call('XRANGE', feed, '-', '+', 'COUNT', math.min(budget, n - min_updates))
  local cut = nil
  for _, e in ipairs(head) do
    if tonumber(e[2][2]) >= now - min_age then break end
    cut = e[1]
  end
  if cut then
    local seq = tonumber(string.match(cut, '^(%d+)'))
    redis.call('XTRIM', feed, 'MINID', (seq + 1) .. '-0')
  end
end
