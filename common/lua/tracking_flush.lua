-- tracking_flush: apply the masters' pending lists (prelude: tracking_log)
-- to their JSON arrays (no prelude: it needs none).  Masters are taken
-- from tracking_due when due, earliest first.  A master whose entries only
-- add clients has them appended to its array as text, without decoding it
-- (a copy of the array, not a rebuild); one with a removal has its array
-- decoded, changed and encoded (a removal is rare: a listener removed, a
-- client that changed masters); a master left without clients loses its
-- array.  A master written stays queued, due again b / 1024 * ms_per_kib
-- ms later for an array of b bytes, so writing a big array costs O(b) at
-- most every O(b) ms, however fast its clients come; one found due with
-- nothing pending leaves the queue.  The call stops once it has spent its
-- budget: the bytes of the arrays it read (a decoded one counts eight
-- times) and OP_COST per change applied; a master with more changes
-- pending than the budget pays for has the oldest applied, and stays due.
-- Arrays of the layout before the lists (a sorted set per master,
-- client_list:<master>, and the set of masters whose array is stale,
-- tracking_dirty) are rebuilt first, from those sets, which are then
-- deleted: nothing else is done while one is left.
-- KEYS: 1 client_master_tracking, 2 tracking_due, 3 tracking_dirty (the
--       earlier layout)
-- ARGV: 1 max (masters per call), 2 budget (bytes), 3 ms_per_kib, 4 the
--       tracking_pending: key prefix, 5 the client_list: key prefix (the
--       earlier layout; both prefixes name keys not declared: not Redis
--       Cluster safe)
-- Returns 1 when a master is left that is due now, else 0.
local OP_COST = 128	-- a change costs about what 128 array bytes do
local tracking, due, dirty = KEYS[1], KEYS[2], KEYS[3]
local max, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local per, pending, list = tonumber(ARGV[3]), ARGV[4], ARGV[5]
if dirty == nil or max == nil or max < 1 or budget == nil or per == nil or
    per < 0 or pending == nil or pending == '' or list == nil then
    return redis.error_reply('tracking_flush: bad arguments')
end

-- The earlier layout: rebuild up to max stale arrays from their sets.
if redis.call('EXISTS', dirty) == 1 then
    for _, master in ipairs(redis.call('SPOP', dirty, math.floor(max))) do
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

-- array (JSON text) with the clients added appended, without decoding
-- it; nil when it is not a JSON array.  (Arrays olb writes begin with [
-- and end with ]: a pattern over the whole text is only for others.)
local function appended(array, added)
    local more = cjson.encode(added)
    if string.byte(array, 1) ~= 91 or string.byte(array, -1) ~= 93 then
        local inner = string.match(array, '^%s*%[(.*)%]%s*$')
        if inner == nil then return nil end
        array = '[' .. inner .. ']'
    end
    if string.find(array, '^%[%s*%]$') then return more end
    return string.sub(array, 1, -2) .. ',' .. string.sub(more, 2)
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

-- The text master's array becomes with ops (pairs op, actid) applied, or
-- nil for none; and what reading it costs against the budget.
local function written(master, ops)
    local array = redis.call('HGET', tracking, master) or '[]'
    local added = {}
    for j = 1, #ops, 2 do
        if ops[j] ~= '+' then
            added = nil
            break
        end
        added[#added + 1] = ops[j + 1]
    end
    local text
    if added then text = appended(array, added) end
    if text == nil then
        return applied(array, ops), 8 * #array
    end
    return text, #array
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local most = 2 * math.max(math.floor(budget / OP_COST), 1)	-- list entries
local used = 0
for _, master in ipairs(redis.call('ZRANGEBYSCORE', due, '-inf', now,
    'LIMIT', 0, math.floor(max))) do
    if used >= budget then break end
    local key = pending .. master
    local ops = redis.call('LRANGE', key, 0, most - 1)
    if #ops == 0 then
        redis.call('ZREM', due, master)
    else
        local text, cost = written(master, ops)
        used = used + cost + OP_COST * #ops / 2
        local rest = redis.call('LLEN', key) > #ops
        if rest then
            redis.call('LTRIM', key, #ops, -1)
        else
            redis.call('DEL', key)
        end
        if text then
            redis.call('HSET', tracking, master, text)
            redis.call('ZADD', due, 'XX', rest and now or
                now + math.floor(#text / 1024 * per), master)
        else
            redis.call('HDEL', tracking, master)
            if not rest then redis.call('ZREM', due, master) end
        end
    end
end
if redis.call('ZCOUNT', due, '-inf', now) > 0 then return 1 end
return 0
