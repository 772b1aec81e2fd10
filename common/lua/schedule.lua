-- schedule: the scheduler's run records and its writes to the desired
-- fleet (SPEC 9), each refused unless it still holds the scheduler lease,
-- so a run is claimed once whatever the hosts, restarts and reloads.
-- A record is "<runs prefix><job>" field <scheduled ms>, JSON: job,
-- action, scheduled, status (started, finished, failed, missed), how
-- (due, catch-up, manual), host, holder (lease token), startedAt,
-- finishedAt, durationMs, detail, resumed.  Times are the scheduler's
-- clock (ARGV 4).
-- KEYS: 1 the scheduler lease, 2 schedule:state, 3 fleet
-- ARGV: 1 lease token, 2 op, 3 the schedule:runs: prefix, 4 now (ms),
--       5 host, 6 records kept per job, then:
--   plan:   7 checked ('' keeps it), 8 job ('' none), 9 its scheduled ms,
--           10 action, 11 how, 12.. missed (job, scheduled ms, action)
--           -> {claim, superseded "job@ms" or '', new missed (job, ms)...}
--           claim: claimed | resumed | running (this holder's) | none |
--           the status the run already has
--   finish: 7 job, 8 scheduled ms, 9 status, 10 detail -> 1 | 0 (not
--           this holder's run)
--   desire: 7.. field, value pairs set on fleet -> 1; masters and clients
--           never lower a fleet that is already up (a resumed fleet_up
--           must not drain what the scaler raised for the day's load)
local lease, state, fleet = KEYS[1], KEYS[2], KEYS[3]
local token, op, prefix = ARGV[1], ARGV[2], ARGV[3]
local now, host, keep = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
if state == nil or fleet == nil or prefix == nil or now == nil or
    host == nil or keep == nil or keep < 1 then
    return redis.error_reply('schedule: bad arguments')
end
local refused = fence_refused(lease, token)
if refused then return refused end

local function get(job, at)
    local raw = redis.call('HGET', prefix .. job, at)
    if not raw then return nil end
    local ok, rec = pcall(cjson.decode, raw)
    if ok and type(rec) == 'table' then return rec end
    return { job = job, scheduled = tonumber(at), status = 'damaged' }
end
local function put(rec)
    local key = prefix .. rec.job
    redis.call('HSET', key, string.format('%d', rec.scheduled),
        cjson.encode(rec))
    local n = redis.call('HLEN', key)
    if n > keep then
        local all = redis.call('HKEYS', key)
        table.sort(all, function(a, b)
            return (tonumber(a) or 0) < (tonumber(b) or 0)
        end)
        for i = 1, n - keep do redis.call('HDEL', key, all[i]) end
    end
end
local function new(job, at, action, status, how)
    return { job = job, scheduled = tonumber(at), action = action,
        status = status, how = how, host = host, holder = token,
        startedAt = now }
end

if op == 'plan' then
    local checked, job, at = ARGV[7], ARGV[8], ARGV[9]
    local action, how = ARGV[10], ARGV[11]
    if checked == nil or job == nil or at == nil or action == nil or
        how == nil or (#ARGV - 11) % 3 ~= 0 then
        return redis.error_reply('schedule: bad plan arguments')
    end
    local out = { 'none', '' }
    for i = 12, #ARGV, 3 do
        local mjob, mat = ARGV[i], ARGV[i + 1]
        if get(mjob, mat) == nil then
            local rec = new(mjob, mat, ARGV[i + 2], 'missed', 'due')
            rec.finishedAt = now
            put(rec)
            out[#out + 1] = mjob
            out[#out + 1] = mat
        end
    end
    if checked ~= '' and tonumber(checked) and
        tonumber(checked) > (tonumber(redis.call('HGET', state, 'checked')) or 0)
    then
        redis.call('HSET', state, 'checked', checked)
    end
    if job == '' then return out end
    if how == 'manual' then redis.call('HDEL', state, 'request:' .. job) end
    local id = job .. '@' .. at
    local rec = get(job, at)
    if rec and rec.status ~= 'started' then
        out[1] = tostring(rec.status)
        return out
    end
    if rec and rec.holder == token then
        out[1] = 'running'
        return out
    end
    -- a run still under way that this one overtakes ends here
    local cur = redis.call('HGET', state, 'current')
    if cur and cur ~= id then
        local cjob, cat = string.match(cur, '^(.*)@(%d+)$')
        local crec = cjob and get(cjob, cat)
        if crec and crec.status == 'started' then
            crec.status, crec.finishedAt = 'failed', now
            crec.durationMs = now - (tonumber(crec.startedAt) or now)
            crec.detail = 'overtaken by ' .. id
            put(crec)
            out[2] = cur
        end
    end
    redis.call('HSET', state, 'current', id)
    if rec then
        rec.holder, rec.host = token, host
        rec.resumed = (tonumber(rec.resumed) or 0) + 1
        put(rec)
        out[1] = 'resumed'
        return out
    end
    put(new(job, at, action, 'started', how))
    out[1] = 'claimed'
    return out
elseif op == 'finish' then
    local job, at, status, detail = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
    if job == nil or at == nil or (status ~= 'finished' and
        status ~= 'failed') or detail == nil then
        return redis.error_reply('schedule: bad finish arguments')
    end
    local rec = get(job, at)
    if rec == nil or rec.status ~= 'started' or rec.holder ~= token then
        return 0
    end
    rec.status, rec.finishedAt, rec.detail = status, now, detail
    rec.durationMs = now - (tonumber(rec.startedAt) or now)
    put(rec)
    if redis.call('HGET', state, 'current') == job .. '@' .. at then
        redis.call('HDEL', state, 'current')
    end
    return 1
elseif op == 'desire' then
    if #ARGV < 8 or (#ARGV - 6) % 2 ~= 0 then
        return redis.error_reply('schedule: bad desire arguments')
    end
    local up = redis.call('HGET', fleet, 'state') == 'up'
    for i = 7, #ARGV, 2 do
        local field, value = ARGV[i], ARGV[i + 1]
        if up and (field == 'masters' or field == 'clients') then
            local cur = tonumber(redis.call('HGET', fleet, field))
            if cur and tonumber(value) and cur > tonumber(value) then
                value = cur
            end
        end
        redis.call('HSET', fleet, field, value)
    end
    return 1
end
return redis.error_reply('schedule: unknown op')
