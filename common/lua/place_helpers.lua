-- The live instances of one role, read once per batch: ids in launch
-- order, live[id], total[id] (accounts), rec[id] (decoded records) and
-- spread[master][id] (clients of master per instance).
local function fleet_new(details, live, counts)
    local ids = redis.call('ZRANGE', live, 0, -1)
    local total = hmget_many(counts, ids)
    local f = { details = details, key = live, counts = counts, ids = ids,
        live = {}, total = {}, rec = {}, spread = {} }
    for i, id in ipairs(ids) do
        f.live[id] = true
        f.total[id] = tonumber(total[i]) or 0
    end
    return f
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

-- master's clients per live instance (read once per batch).
local function fleet_spread(f, spread, master)
    local t = f.spread[master]
    if t then return t end
    t = {}
    local same = hmget_many(spread .. master, f.ids)
    for i, id in ipairs(f.ids) do t[id] = tonumber(same[i]) or 0 end
    f.spread[master] = t
    return t
end

-- Add delta to master's clients on id, in Redis and in the batch's view.
local function fleet_spread_add(f, spread, master, id, delta)
    local n = hash_add(spread .. master, id, delta, true)
    if f.spread[master] and f.live[id] then f.spread[master][id] = n end
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
local function fleet_count_up(f, id)
    f.total[id] = hash_add(f.counts, id, 1, false)
end
local function fleet_count_down(f, id)
    count_down(f.counts, f.details, id)
    if f.live[id] then f.total[id] = math.max(f.total[id] - 1, 0) end
end

-- The batch's answer for one account.
local function answer(id, rec, how)
    return { id, rec.ip, rec.port, how }
end
