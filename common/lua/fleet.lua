-- fleet: the scaler's writes to the desired fleet and to its launch
-- reservations, each refused unless it still holds the scaler lease.
-- KEYS: 1 the scaler lease, 2 fleet, 3 launches, 4 name counters
-- ARGV: 1 lease token, 2 op, then:
--   reserve: 3 launch token, 4 role, 5 record JSON -> the name given
--            (Master_Listener-N / Client_Listener-N; the same name again
--            for a token already reserved)
--   forget:  3 launch token -> 1 | 0
--   desire:  3.. field, value pairs set on fleet -> 1
local lease, fleet, launches, names = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token, op = ARGV[1], ARGV[2]
local refused = fence_refused(lease, token)
if refused then return refused end
if op == 'reserve' then
    local launch, role = ARGV[3], ARGV[4]
    local ok, rec = pcall(cjson.decode, ARGV[5] or '')
    if launch == nil or launch == '' or
        (role ~= 'master' and role ~= 'client') or not ok or
        type(rec) ~= 'table' then
        return redis.error_reply('fleet: bad reserve arguments')
    end
    local raw = redis.call('HGET', launches, launch)
    if raw then
        local okk, old = pcall(cjson.decode, raw)
        if okk and type(old) == 'table' and type(old.name) == 'string' then
            return old.name
        end
    end
    local n = redis.call('HINCRBY', names, role, 1)
    rec.name = (role == 'master' and 'Master_Listener-' or
        'Client_Listener-') .. n
    rec.role, rec.reservedAt = role, now_ms()
    redis.call('HSET', launches, launch, cjson.encode(rec))
    return rec.name
elseif op == 'forget' then
    if ARGV[3] == nil then
        return redis.error_reply('fleet: bad forget arguments')
    end
    return redis.call('HDEL', launches, ARGV[3])
elseif op == 'desire' then
    if #ARGV < 4 or #ARGV % 2 ~= 0 then
        return redis.error_reply('fleet: bad desire arguments')
    end
    for i = 3, #ARGV, 2 do
        redis.call('HSET', fleet, ARGV[i], ARGV[i + 1])
    end
    return 1
end
return redis.error_reply('fleet: unknown op')
