-- A batch of placements reads what it needs once and writes once per key:
-- each redis.call costs far more than the Lua around it.  The batch
-- (fleet_new) holds the live instances of one role: ids in launch order,
-- live[id], pos[id] (launch rank), total[id] (accounts), rec[id] (decoded
-- records), order (the live ids below max, by total then launch order)
-- and spread[master][id] (clients of master per instance, for the masters
-- read), each kept up to date in Lua as the batch decides; what it changes
-- waits in the batch and batch_write sends it: mappings, client records,
-- the sets of accounts per instance, counts and spreads.  Decisions are
-- exactly those of one call per account, and those of SPEC 4
-- (tests/unit/test_place_batch.c).
local function fleet_new(details, live, counts, max)
    local ids = redis.call('ZRANGE', live, 0, -1)
    -- all the counts, not HMGET of the live ones: below 512 fields Redis
    -- keeps the hash as a list, where each field looked up is a scan
    local total, raw = {}, redis.call('HGETALL', counts)
    for i = 1, #raw, 2 do total[raw[i]] = raw[i + 1] end
    local f = { details = details, key = live, counts = counts, ids = ids,
        max = max, live = {}, pos = {}, total = {}, rec = {}, order = {},
        picked_at = 0,
        spread = {}, spread_dirty = {}, counted = {},
        sets = {}, hashes = {} }
    -- order: a counting sort on the totals below max, stable in launch
    -- order (O(ids), and the distinct totals are few)
    local level, levels = {}, {}
    for i, id in ipairs(ids) do
        local t = math.max(tonumber(total[id]) or 0, 0)
        f.live[id], f.pos[id], f.total[id] = true, i, t
        if t < max then
            if level[t] == nil then
                level[t] = {}
                levels[#levels + 1] = t
            end
            level[t][#level[t] + 1] = id
        end
    end
    table.sort(levels)
    for _, t in ipairs(levels) do
        for _, id in ipairs(level[t]) do f.order[#f.order + 1] = id end
    end
    return f
end

-- Where live id (total t) is in f.order, or would go: the first entry
-- that is not before it.  O(log ids).
local function order_find(f, id, t)
    local o, p, lo, hi = f.order, f.pos[id], 1, #f.order + 1
    while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        local at = o[mid]
        local ta = f.total[at]
        if ta < t or (ta == t and f.pos[at] < p) then
            lo = mid + 1
        else
            hi = mid
        end
    end
    return lo
end

-- Live id leaves f.order (if it is in it: below max); where the last pick
-- found it, if that is id.
local function order_remove(f, id)
    if f.total[id] >= f.max then return end
    local i = f.picked_at
    if f.order[i] ~= id then i = order_find(f, id, f.total[id]) end
    if f.order[i] == id then table.remove(f.order, i) end
end

-- The values of fields of a hash key, read in one call: field -> value or
-- false (a repeated field is read once).
local function batch_read(key, fields)
    local got = hmget_many(key, fields)
    local out = {}
    for i = 1, #fields do out[fields[i]] = got[i] end
    return out
end

-- field of hash key is value when the batch is written (the last one set
-- wins; fields are written in the order first set).  The batch keeps each
-- hash as HSET's arguments, field and value in turn, and at[field] the
-- position of field's value.
local function batch_hset(f, key, field, value)
    local h = f.hashes[key]
    if h == nil then
        ordered_add(f.hashes, key, { field, value, at = { [field] = 2 } })
        return
    end
    local at = h.at[field]
    if at == nil then
        local n = #h
        h[n + 1], h[n + 2] = field, value
        h.at[field] = n + 2
    else
        h[at] = value
    end
end

-- actid joins (op 'SADD') or leaves ('SREM') the set key, or leaves the
-- hash key ('HDEL'), when the batch is written (one op per key).
local function batch_set(f, op, key, actid)
    local s = f.sets[key]
    if s == nil then
        ordered_add(f.sets, key, { actid, op = op })
    else
        s.op = op
        s[#s + 1] = actid
    end
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
    order_remove(f, id)
    f.live[id] = nil
    local keep = {}
    for _, i in ipairs(f.ids) do
        if i ~= id then keep[#keep + 1] = i end
    end
    f.ids = keep
    return nil
end

-- The spreads of masters (spread[master]), read in one call for the
-- batch (the earlier layouts moved in first, if that was not done yet).
-- The spread hash is f.spread_key from here on.
local function fleet_spread_read(f, spread, masters)
    local fields, seen = { SPREAD_LAYOUT }, {}
    for _, m in ipairs(masters) do
        if not seen[m] then
            seen[m] = true
            fields[#fields + 1] = m
        end
    end
    local got = hmget_many(spread, fields)
    if got[1] ~= SPREAD_MARK then
        spread_migrate(spread)
        got = hmget_many(spread, fields)
    end
    f.spread_key = spread
    for i = 2, #fields do f.spread[fields[i]] = spread_decode(got[i]) end
end

-- master's spread in the batch, read now if the batch did not read it.
local function fleet_spread(f, master)
    local t = f.spread[master]
    if t == nil then
        t = spread_decode(redis.call('HGET', f.spread_key, master))
        f.spread[master] = t
    end
    return t
end

-- Add delta to master's clients on id, in the batch's view now and in
-- Redis when the batch is written.
local function fleet_spread_add(f, master, id, delta)
    local t = fleet_spread(f, master)
    if not f.spread_dirty[master] then
        f.spread_dirty[master] = true
        f.spread_dirty[#f.spread_dirty + 1] = master
    end
    local n = (t[id] or 0) + delta
    if n > 0 then t[id] = n else t[id] = nil end
end

-- The live instance for a new account: below max, fewest in same (id ->
-- accounts of one master, absent for none; nil for masters), then fewest
-- in total, then first launched: in f.order, the first without any in
-- same, else the first with the fewest.  id, record or nil.
local function fleet_pick(f, same)
    while true do
        local best, at, fewest
        local order = f.order
        for i = 1, #order do
            if same == nil or same[order[i]] == nil then
                best, at = order[i], i
                break
            end
        end
        if best == nil then	-- same has accounts on every one
            for i = 1, #order do
                local id = order[i]
                local n = same[id]
                if best == nil or n < fewest then
                    best, at, fewest = id, i, n
                end
            end
        end
        if best == nil then return nil end
        f.picked_at = at
        local rec = fleet_record(f, best)
        if rec then return best, rec end
    end
end

-- One account more on id (live) or one fewer on id (any instance).
local function fleet_count(f, id, delta)
    if f.counted[id] == nil then f.counted[#f.counted + 1] = id end
    f.counted[id] = (f.counted[id] or 0) + delta
    if not f.live[id] then return end
    order_remove(f, id)
    local t = math.max(f.total[id] + delta, 0)
    f.total[id] = t
    if t < f.max then table.insert(f.order, order_find(f, id, t), id) end
end

-- Write the spreads the batch changed: one HSET, and one HDEL for those
-- left empty.
local function spread_write(f)
    local set, gone = {}, {}
    for _, master in ipairs(f.spread_dirty) do
        local v = spread_encode(f.spread[master])
        if v == '' then
            gone[#gone + 1] = master
        else
            set[#set + 1] = master
            set[#set + 1] = v
        end
    end
    if #set > 0 then redis.call('HSET', f.spread_key, unpack(set)) end
    if #gone > 0 then redis.call('HDEL', f.spread_key, unpack(gone)) end
end

-- Send what the batch changed: a call per hash, per set, per count and per
-- spread that changed.
local function batch_write(f)
    for _, key in ipairs(f.hashes) do
        redis.call('HSET', key, unpack(f.hashes[key]))
    end
    for _, key in ipairs(f.sets) do
        local s = f.sets[key]
        redis.call(s.op, key, unpack(s))
    end
    -- a live instance's count is known (read whole by fleet_new): one HSET
    -- for all of them; one fewer on an instance no longer live is counted
    -- down as releases do
    local totals = {}
    for _, id in ipairs(f.counted) do
        local n = f.counted[id]
        if f.live[id] and n ~= 0 then
            totals[#totals + 1] = id
            totals[#totals + 1] = f.total[id]
        elseif n > 0 then
            hash_add(f.counts, id, n, false)
        elseif n < 0 then
            count_down(f.counts, f.details, id, -n)
        end
    end
    if #totals > 0 then redis.call('HSET', f.counts, unpack(totals)) end
    spread_write(f)
end

-- A batch's answer: {seq, then a code per account in order, then id, ip
-- and port of each instance the codes name}.  Code j (1, 2, ...) is the
-- j-th instance named, where the account was placed now; -j the same
-- where it already was; 0 none (no live instance below max).  An instance
-- is named once per batch, not once per account: Redis turns each element
-- into a reply, and the proxy each reply into an object.
local function answer_new(seq)
    return { out = { seq }, at = {}, named = {} }
end

-- The answer for the next account: id, its record and how ('placed' or
-- 'existing'), or nil for none.
local function answer_add(a, id, rec, how)
    local out = a.out
    if id == nil then
        out[#out + 1] = 0
        return
    end
    local j = a.at[id]
    if j == nil then
        local named = a.named
        local n = #named
        named[n + 1], named[n + 2], named[n + 3] = id, rec.ip, rec.port
        j = n / 3 + 1
        a.at[id] = j
    end
    if how == 'existing' then j = -j end
    out[#out + 1] = j
end

-- The answer to return, once every account's is added.
local function answer_done(a)
    local out, named = a.out, a.named
    local n = #out
    for i = 1, #named do out[n + i] = named[i] end
    return out
end
