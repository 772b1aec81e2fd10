-- tracking_flush: rebuild the tracking arrays of up to max masters taken
-- from the dirty set, each from its client_list set in placement order
-- (no prelude: it needs none).  SPOP hands each master to one caller.  A
-- master with n clients is rebuilt at most once per n * per_client ms
-- (tracking_built holds when it last was); one rebuilt sooner goes back
-- to the dirty set.  So a rebuild costs O(n) at most every O(n) ms.  One
-- call writes about budget clients at most (a bigger master alone), so it
-- never holds Redis for long; the rest waits for the next call.
-- KEYS: 1 client_master_tracking, 2 tracking_dirty, 3 tracking_built
-- ARGV: 1 the client_list: key prefix, 2 max, 3 per_client (ms), 4 budget
-- Returns the number of masters rebuilt (or removed: no clients left).
local tracking, dirty, built = KEYS[1], KEYS[2], KEYS[3]
local list, max, per = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
if list == nil or max == nil or max < 1 or per == nil or budget == nil or
    built == nil then
    return redis.error_reply('tracking_flush: bad arguments')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local masters = redis.call('SPOP', dirty, math.floor(max))
local later, rebuilt, entries = {}, 0, 0
for _, master in ipairs(masters) do
    local n = redis.call('ZCARD', list .. master)
    local last = tonumber(redis.call('HGET', built, master)) or 0
    if entries > 0 and entries + n > budget then
        later[#later + 1] = master  -- this call has done its share
    elseif n == 0 then
        redis.call('HDEL', tracking, master)
        redis.call('HDEL', built, master)
        rebuilt = rebuilt + 1
    elseif now >= last and now - last < n * per then
        later[#later + 1] = master
    else
        redis.call('HSET', tracking, master,
            cjson.encode(redis.call('ZRANGE', list .. master, 0, -1)))
        redis.call('HSET', built, master, now)
        rebuilt, entries = rebuilt + 1, entries + n
    end
end
for _, master in ipairs(later) do redis.call('SADD', dirty, master) end
return rebuilt
