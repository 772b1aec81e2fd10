-- health_record: a batch of probe results of the health worker (SPEC 7),
-- each written as the earlier service wrote it, and the state changes the
-- consecutive counts call for, in one script: the Redis cost per probe is
-- a small constant.  Per result: LPUSH the record onto history:<id>, trim
-- it to the history length, count it in stats:<id> (totalSuccesses or
-- totalFailures, lastCheckedAt), and keep the consecutive count in the
-- streak hash (id -> n > 0 successes, n < 0 failures in a row).  Then:
--   pending   + a success          -> running
--   running   + fall failures      -> unhealthy, unless its role is held
--   unhealthy + rise successes     -> running
-- A held role is one in panic (SPEC 7): its instances keep routing while
-- the health worker suspects itself rather than them.
-- A result for an instance that no longer has a record writes nothing.
-- KEYS: 1 instance_details, 2 live:master, 3 live:client, 4 the streak
--       hash; fenced (the health worker): KEYS 5 its lease
-- ARGV: 1 history prefix, 2 stats prefix, 3 history length, 4 fall,
--       5 rise, 6 routing channel, 7 the roles held ('m' and/or 'c',
--       or '-'), then triples: id, '1' | '0', record
--       JSON (its timestamp in ms is lastCheckedAt); fenced: last, the
--       lease token
-- Returns the changes applied: {id, from, to, consecutive count} each.
local details, live_master, live_client, streaks =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local history, stats = ARGV[1], ARGV[2]
local keep, fall, rise = tonumber(ARGV[3]), tonumber(ARGV[4]),
    tonumber(ARGV[5])
local channel, hold = ARGV[6], ARGV[7] or ''
local last = #ARGV
if KEYS[5] then
    local refused = fence_refused(KEYS[5], ARGV[#ARGV])
    if refused then return refused end
    last = last - 1
end
if keep == nil or keep < 1 or fall == nil or fall < 1 or rise == nil or
    rise < 1 or channel == nil or #KEYS < 4 or (last - 7) % 3 ~= 0 then
    return redis.error_reply('health_record: bad arguments')
end
local changed = {}
for i = 8, last, 3 do
    local id, ok, json = ARGV[i], ARGV[i + 1] == '1', ARGV[i + 2]
    local rec = record_to_change(details, id, 'health_record')
    if type(rec) ~= 'table' then
        redis.call('HDEL', streaks, id)
    else
        local okj, probe = pcall(cjson.decode, json)
        local at = okj and type(probe) == 'table' and
            tonumber(probe.timestamp) or now_ms()
        redis.call('LPUSH', history .. id, json)
        redis.call('LTRIM', history .. id, 0, keep - 1)
        redis.call('HINCRBY', stats .. id, ok and 'totalSuccesses' or
            'totalFailures', 1)
        redis.call('HSET', stats .. id, 'lastCheckedAt', at)
        local n = tonumber(redis.call('HGET', streaks, id)) or 0
        if ok then n = n > 0 and n + 1 or 1 else n = n < 0 and n - 1 or -1 end
        redis.call('HSET', streaks, id, n)
        local from, to = tostring(rec.state), nil
        if from == 'pending' and ok then to = 'running'
        elseif from == 'running' and n <= -fall and not string.find(hold,
            rec.isMasterServer == true and 'm' or 'c', 1, true) then
            to = 'unhealthy'
        elseif from == 'unhealthy' and n >= rise then to = 'running' end
        if to then
            state_write(details, live_master, live_client, channel, id, rec,
                to)
            changed[#changed + 1] = { id, from, to, n }
        end
    end
end
return changed
