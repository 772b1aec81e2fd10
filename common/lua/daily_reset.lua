-- daily_reset: the end of a trading day (SPEC 9, the scheduler's
-- fleet_down once no managed instance is left): the day's placements are
-- renamed to a dated archive with a TTL, and the counts, mappings, client
-- tracking, name counters and global counters start again from zero, in
-- one step, so a proxy sees either the whole day or none of it.  The
-- proxies drop their cached placements on the routing message.
-- Fenced by the scheduler lease.  O(keys of the day): once a day.
-- KEYS: 1 the scheduler lease, 2 instance_user_counts, 3 master_mapping,
--       4 client_mapping, 5 client_master, 6 global_state,
--       7 client_master_tracking, 8 tracking_due, 9 name_seq, then the
--       earlier tracking layout's (tracking_flush): 10 tracking_built,
--       11 tracking_dirty, 12 tracking_seq
-- ARGV: 1 lease token, 2 archive prefix with the date
--       ("<prefix>archive:2026-12-06:"), 3 its TTL (ms), 4 client_spread
--       (and its earlier layout's keys: that name and ':'), 5 the
--       client_list: prefix (the earlier layout), 6 the instance_accounts:
--       prefix, 7 the routing channel, 8 the tracking_pending: prefix
-- Returns {masters archived, clients archived}.
local archive, ttl = ARGV[2], tonumber(ARGV[3])
if #KEYS < 12 or archive == nil or archive == '' or ttl == nil or
    ttl < 1 or ARGV[4] == nil or ARGV[4] == '' or ARGV[5] == nil or
    ARGV[6] == nil or ARGV[6] == '' or ARGV[7] == nil or ARGV[8] == nil or
    ARGV[8] == '' then
    return redis.error_reply('daily_reset: bad arguments')
end
local refused = fence_refused(KEYS[1], ARGV[1])
if refused then return refused end
local out = {}
for i, name in ipairs({ 'master_mapping', 'client_mapping' }) do
    local from, to = KEYS[2 + i], archive .. name
    out[i] = redis.call('HLEN', from)
    if out[i] > 0 then
        if redis.call('EXISTS', to) == 0 then
            redis.call('RENAME', from, to)
        else	-- a second teardown the same day adds to the archive
            local cursor = '0'
            repeat
                local got = redis.call('HSCAN', from, cursor, 'COUNT', 1000)
                cursor = got[1]
                if #got[2] > 0 then redis.call('HSET', to, unpack(got[2])) end
            until cursor == '0'
            redis.call('DEL', from)
        end
        redis.call('PEXPIRE', to, ttl)
    end
end
for _, prefix in ipairs({ ARGV[4] .. ':', ARGV[5], ARGV[6], ARGV[8] }) do
    if prefix ~= '' then
        local cursor = '0'
        repeat
            local got = redis.call('SCAN', cursor, 'MATCH', prefix .. '*',
                'COUNT', 1000)
            cursor = got[1]
            for _, key in ipairs(got[2]) do redis.call('UNLINK', key) end
        until cursor == '0'
    end
end
redis.call('DEL', KEYS[2], KEYS[5], KEYS[7], KEYS[8], KEYS[9], KEYS[10],
    KEYS[11], KEYS[12])
redis.call('DEL', ARGV[4])
redis.call('HSET', ARGV[4], SPREAD_LAYOUT, SPREAD_MARK)
redis.call('HSET', KEYS[6], 'masterCount', 0, 'clientCount', 0)
routing_publish(ARGV[7], { op = 'reset' })
return out
