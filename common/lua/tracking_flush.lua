-- tracking_flush: apply the tracking log (prelude: tracking_log) to the
-- masters' JSON arrays (no prelude: it needs none).
-- 1. Up to max of the log's oldest entries move to their master's pending
--    list (tracking_pending:<master>, pairs op, actid, in order), and the
--    master is queued in tracking_due, due when its array may be written
--    again: an array of b bytes at most every b / 1024 * ms_per_kib ms
--    after it was last written (tracking_built), so writing a big array
--    costs O(b) at most every O(b) ms, however fast its clients come.
-- 2. Masters that are due, oldest first, have their pending entries
--    applied: a master whose entries only add clients has them appended to
--    its array as text, without decoding it (a copy of the array, not a
--    rebuild); one with a removal has its array decoded, changed and
--    encoded (a removal is rare: a listener removed, a client that changed
--    masters); a master left without clients loses its array.  The call
--    stops before a master that would take it past budget bytes of arrays
--    read (a decoded one counts eight times), though it takes the first.
-- Arrays of the layout before the log (a sorted set per master,
-- client_list:<master>, and the set of masters whose array is stale,
-- tracking_dirty) are rebuilt first, from those sets, which are then
-- deleted: nothing else is done while one is left.
-- KEYS: 1 client_master_tracking, 2 tracking_log, 3 tracking_due,
--       4 tracking_built, 5 tracking_dirty (the earlier layout)
-- ARGV: 1 max, 2 budget (bytes), 3 ms_per_kib, 4 the tracking_pending: key
--       prefix, 5 the client_list: key prefix (the earlier layout; both
--       prefixes name keys not declared: not Redis Cluster safe)
-- Returns 1 when work is left that could be done now, else 0.
local tracking, log, due, built, dirty =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local max, budget, per = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local pending, list = ARGV[4], ARGV[5]
if dirty == nil or max == nil or max < 1 or budget == nil or per == nil or
    per < 0 or pending == nil or pending == '' or list == nil then
    return redis.error_reply('tracking_flush: bad arguments')
end
max = math.min(math.floor(max), 2000)	-- RPUSH's unpack has a stack limit

-- The earlier layout: rebuild up to max stale arrays from their sets.
if redis.call('EXISTS', dirty) == 1 then
    for _, master in ipairs(redis.call('SPOP', dirty, max)) do
        local members = redis.call('ZRANGE', list .. master, 0, -1)
        if #members == 0 then
            redis.call('HDEL', tracking, master)
        else
            redis.call('HSET', tracking, master, cjson.encode(members))
        end
        redis.call('DEL', list .. master)
    end
    return 1
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- 1. The log's oldest entries, to their masters' pending lists.
local raw = redis.call('LRANGE', log, 0, 3 * max - 1)
if #raw > 0 then
    redis.call('LTRIM', log, #raw, -1)
    local ops, masters = {}, {}
    for i = 1, #raw - 2, 3 do
        local master = raw[i + 1]
        local mine = ops[master]
        if mine == nil then
            mine = {}
            ops[master] = mine
            masters[#masters + 1] = master
        end
        mine[#mine + 1] = raw[i]
        mine[#mine + 1] = raw[i + 2]
    end
    for _, master in ipairs(masters) do
        redis.call('RPUSH', pending .. master, unpack(ops[master]))
        local last = tonumber(redis.call('HGET', built, master)) or 0
        local wait = redis.call('HSTRLEN', tracking, master) / 1024 * per
        redis.call('ZADD', due, 'NX', math.max(now, math.floor(last + wait)),
            master)
    end
end

-- array (JSON text) with the clients added appended, without decoding
-- it; nil when it is not a JSON array.
local function appended(array, added)
    local inner = string.match(array, '^%s*%[(.*)%]%s*$')
    if inner == nil then return nil end
    local more = cjson.encode(added)
    if string.find(inner, '^%s*$') then return more end
    return '[' .. inner .. ',' .. string.sub(more, 2)
end

-- array with the operations applied in order (decoded): JSON text, or nil
-- for no clients left.  An add of a client already there, or a removal of
-- one not there, changes nothing; an array that is not a JSON array of
-- ids counts as empty.
local function applied(array, ops)
    local ok, old = pcall(cjson.decode, array)
    local order, at = {}, {}
    if ok and type(old) == 'table' then
        for _, c in ipairs(old) do
            if type(c) == 'string' or type(c) == 'number' then
                c = tostring(c)
                if at[c] == nil then
                    order[#order + 1] = c
                    at[c] = #order
                end
            end
        end
    end
    for j = 1, #ops, 2 do
        local op, c = ops[j], ops[j + 1]
        if op == '+' and at[c] == nil then
            order[#order + 1] = c
            at[c] = #order
        elseif op == '-' and at[c] then
            order[at[c]] = false
            at[c] = nil
        end
    end
    local out = {}
    for _, c in ipairs(order) do
        if c then out[#out + 1] = c end
    end
    if #out == 0 then return nil end
    return cjson.encode(out)
end

-- 2. The masters due, their pending entries applied.
local used = 0
for _, master in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now,
    'LIMIT', 0, max)) do
    local array = redis.call('HGET', tracking, master) or '[]'
    local ops = redis.call('LRANGE', pending .. master, 0, -1)
    local added = {}
    for j = 1, #ops, 2 do
        if ops[j] ~= '+' then
            added = nil
            break
        end
        added[#added + 1] = ops[j + 1]
    end
    local cost = added and #array or 8 * #array
    if used > 0 and used + cost > budget then break end
    used = used + math.max(cost, 1)
    local text
    if added and #added > 0 then text = appended(array, added) end
    if text == nil then text = applied(array, ops) end
    if text then
        redis.call('HSET', tracking, master, text)
        redis.call('HSET', built, master, now)
    else
        redis.call('HDEL', tracking, master)
        redis.call('HDEL', built, master)
    end
    redis.call('DEL', pending .. master)
    redis.call('ZREM', due, master)
end
if redis.call('EXISTS', log) == 1 or
    redis.call('ZCOUNT', due, '-inf', now) > 0 then
    return 1
end
return 0
