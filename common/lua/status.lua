-- status: everything the status page shows (workers/admin/status.c), read
-- at once so the page is one consistent picture.  Reads only.
-- KEYS: 1 instance_details, 2 instance_user_counts, 3 fleet,
--       4 schedule:state, 5 events:recent, 6 health:panic
-- ARGV: 1 the heartbeat key pattern, 2 the lease key prefix, 3 the health
--       history key prefix, 4 probes shown per instance, 5 the schedule
--       runs key prefix, 6... job names
-- Returns { details, counts, fleet, schedule state, panic (HGETALL flat
-- arrays), heartbeats (values), leases {scaler, health, scheduler} (false
-- when free), recent events (newest first), health {id, "10..." newest
-- probe first (1 success, 0 failure)}..., last runs {job, scheduled ms,
-- record}... }
local details = redis.call('HGETALL', KEYS[1])
local n = tonumber(ARGV[4]) or 0
local out = {
    details,
    redis.call('HGETALL', KEYS[2]),
    redis.call('HGETALL', KEYS[3]),
    redis.call('HGETALL', KEYS[4]),
    redis.call('HGETALL', KEYS[6]),
}
local beats, cursor = {}, '0'
repeat
    local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
    cursor = r[1]
    for _, k in ipairs(r[2]) do
        local v = redis.call('GET', k)
        if v then beats[#beats + 1] = v end
    end
until cursor == '0'
out[6] = beats
out[7] = {
    redis.call('GET', ARGV[2] .. 'scaler'),
    redis.call('GET', ARGV[2] .. 'health'),
    redis.call('GET', ARGV[2] .. 'scheduler'),
}
out[8] = redis.call('LRANGE', KEYS[5], 0, -1)
local health = {}
for i = 1, #details, 2 do
    local id, strip = details[i], {}
    if n > 0 then
        for _, rec in ipairs(redis.call('LRANGE', ARGV[3] .. id, 0, n - 1)) do
            strip[#strip + 1] = string.find(rec, '"healthy":true', 1, true) and
                '1' or '0'
        end
    end
    health[#health + 1] = id
    health[#health + 1] = table.concat(strip)
end
out[9] = health
local runs = {}
for i = 6, #ARGV do
    local key, best = ARGV[5] .. ARGV[i], nil
    for _, at in ipairs(redis.call('HKEYS', key)) do
        if best == nil or tonumber(at) > tonumber(best) then best = at end
    end
    if best then
        runs[#runs + 1] = ARGV[i]
        runs[#runs + 1] = best
        runs[#runs + 1] = redis.call('HGET', key, best)
    end
end
out[10] = runs
return out
