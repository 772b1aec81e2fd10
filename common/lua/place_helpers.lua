-- A batch of placements reads what it needs once and writes once per key:
-- each redis.call costs far more than the Lua around it.  The batch
-- (fleet_new) holds the live instances of one role: ids in launch order,
-- live[id], total[id] (accounts), rec[id] (decoded records) and
-- spread[master][id] (clients of master per live instance), each kept up to
-- date in Lua as the batch decides; what it changes waits in the batch and
-- batch_write sends it: mappings, client records, the sets of accounts per
-- instance, counts and spreads.  Decisions are exactly those of one call per
-- account (tests/unit/test_place_batch.c).
local function fleet_new(details, live, counts)
    local ids = redis.call('ZRANGE', live, 0, -1)
    local total = hmget_many(counts, ids)
    local f = { details = details, key = live, counts = counts, ids = ids,
        live = {}, total = {}, rec = {}, spread = {},
        counted = {}, spread_delta = {}, sets = {}, hashes = {} }
    for i, id in ipairs(ids) do
        f.live[id] = true
        f.total[id] = tonumber(total[i]) or 0
    end
    return f
end

-- The values of fields of a hash key, read in one call: field -> value or
-- false (a repeated field is read once).
local function batch_read(key, fields)
    local got = hmget_many(key, fields)
    local out = {}
    for i, field in ipairs(fields) do out[field] = got[i] end
    return out
end

-- field of hash key is value when the batch is written (the last one set
-- wins; fields are written in the order first set).
local function batch_hset(f, key, field, value)
    local h, fresh = ordered_entry(f.hashes, key)
    if fresh then h.order, h.value = {}, {} end
    if h.value[field] == nil then h.order[#h.order + 1] = field end
    h.value[field] = value
end

-- actid joins (op 'SADD') or leaves ('SREM') the set key when the batch is
-- written.
local function batch_set(f, op, key, actid)
    local s = ordered_entry(f.sets, key)
    s.op = op
    s[#s + 1] = actid
end

-- actid leaves the set of accounts of from (if any) and joins to's (if
-- any), as accounts_move does, when the batch is written.  In a batch an
-- account only leaves an instance that is not live, and only joins a live
-- one: a set never has both.
local function batch_move(f, prefix, actid, from, to)
    if from then batch_set(f, 'SREM', prefix .. from, actid) end
    if to then batch_set(f, 'SADD', prefix .. to, actid) end
end

-- The record of a live id, or nil; a live id without a usable record
-- leaves the live set.
local function fleet_record(f, id)
    if not f.live[id] then return nil end
    local rec = f.rec[id]
    if rec then return rec end
    rec = record(f.details, id)
    if rec then
        f.rec[id] = rec
        return rec
    end
    redis.call('ZREM', f.key, id)
    f.live[id] = nil
    local keep = {}
    for _, i in ipairs(f.ids) do
        if i ~= id then keep[#keep + 1] = i end
    end
    f.ids = keep
    return nil
end

-- The clients of each of masters per live instance (spread[master][id]),
-- read in one call for the batch (the earlier layout moved in first, if
-- that was not done yet).
local function fleet_spread_read(f, spread, masters)
    local fields, list, seen = { SPREAD_LAYOUT }, {}, {}
    for _, m in ipairs(masters) do
        if not seen[m] then
            seen[m] = true
            list[#list + 1] = m
            for _, id in ipairs(f.ids) do
                fields[#fields + 1] = spread_field(m, id)
            end
        end
    end
    local got = hmget_many(spread, fields)
    if not got[1] then
        spread_migrate(spread)
        got = hmget_many(spread, fields)
    end
    local i = 1
    for _, m in ipairs(list) do
        local t = {}
        for _, id in ipairs(f.ids) do
            i = i + 1
            t[id] = math.max(tonumber(got[i]) or 0, 0)
        end
        f.spread[m] = t
    end
end

-- Add delta to master's clients on id, in the batch's view now and in
-- Redis when the batch is written.
local function fleet_spread_add(f, master, id, delta)
    local d = ordered_entry(f.spread_delta, master)
    d[id] = (d[id] or 0) + delta
    local t = f.spread[master]
    if t and f.live[id] then t[id] = math.max(t[id] + delta, 0) end
end

-- The live instance for a new account: below max, fewest in same (id ->
-- accounts of one master; nil for masters), then fewest in total, then
-- first launched.  id, record or nil.
local function fleet_pick(f, max, same)
    while true do
        local best, best_same, best_total
        for _, id in ipairs(f.ids) do
            local t = f.total[id]
            local s = same and same[id] or 0
            if t < max and (best == nil or s < best_same or
                (s == best_same and t < best_total)) then
                best, best_same, best_total = id, s, t
            end
        end
        if best == nil then return nil end
        local rec = fleet_record(f, best)
        if rec then return best, rec end
    end
end

-- One account more on id (live) or one fewer on id (any instance).
local function fleet_count(f, id, delta)
    if f.counted[id] == nil then f.counted[#f.counted + 1] = id end
    f.counted[id] = (f.counted[id] or 0) + delta
    if f.live[id] then f.total[id] = math.max(f.total[id] + delta, 0) end
end

-- Write the spreads the batch changed: the clients on a live instance of
-- a master the batch read are known, and written as they are (one HSET,
-- and one HDEL for those at 0); other changes (an account that left an
-- instance no longer live, or a master not read) are added.
local function spread_write(f, spread)
    local set, gone = {}, {}
    for _, master in ipairs(f.spread_delta) do
        local t = f.spread[master]
        for id, n in pairs(f.spread_delta[master]) do
            if n ~= 0 then
                local field = spread_field(master, id)
                if not (t and f.live[id]) then
                    hash_add(spread, field, n, true)
                elseif t[id] > 0 then
                    set[#set + 1] = field
                    set[#set + 1] = t[id]
                else
                    gone[#gone + 1] = field
                end
            end
        end
    end
    if #set > 0 then redis.call('HSET', spread, unpack(set)) end
    if #gone > 0 then redis.call('HDEL', spread, unpack(gone)) end
end

-- Send what the batch changed: a call per hash, per set, per count and per
-- spread that changed.
local function batch_write(f, spread)
    for _, key in ipairs(f.hashes) do
        local h, args = f.hashes[key], {}
        for _, field in ipairs(h.order) do
            args[#args + 1] = field
            args[#args + 1] = h.value[field]
        end
        redis.call('HSET', key, unpack(args))
    end
    for _, key in ipairs(f.sets) do
        local s = f.sets[key]
        redis.call(s.op, key, unpack(s))
    end
    for _, id in ipairs(f.counted) do
        local n = f.counted[id]
        if n > 0 then
            hash_add(f.counts, id, n, false)
        elseif n < 0 then
            count_down(f.counts, f.details, id, -n)
        end
    end
    spread_write(f, spread)
end

-- The batch's answer for one account.
local function answer(id, rec, how)
    return { id, rec.ip, rec.port, how }
end
