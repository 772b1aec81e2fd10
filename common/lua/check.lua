-- check: the invariants of SPEC 4 and 8 over the placement keys, read in
-- one atomic snapshot (olbctl check; the system tests run it after every
-- test that places accounts).  Read only; O(accounts), so it holds Redis
-- for about a millisecond per thousand accounts: an operator's command.
-- KEYS: 1 instance_details, 2 instance_user_counts, 3 master_mapping,
--       4 client_mapping, 5 client_master, 6 global_state,
--       7 client_master_tracking, 8 tracking_due, 9 live:master,
--       10 live:client
-- ARGV: 1 client_spread (prelude.lua: SPREAD_LAYOUT; the earliest
--       layout's keys are that name, ':' and a master), 2 max_per_master,
--       3 max_per_client (0: not checked), 4 the instance_accounts:
--       prefix, 5 the tracking_pending: prefix
-- Returns {masters, clients, instances, difference, ...}: each
-- difference one line of text; none when everything agrees.
local spread, accounts, pending = ARGV[1], ARGV[4], ARGV[5]
local cap = { master = tonumber(ARGV[2]) or 0,
    client = tonumber(ARGV[3]) or 0 }
if spread == nil or accounts == nil or accounts == '' or pending == nil or
    pending == '' or #KEYS < 10 then
    return redis.error_reply('check: bad arguments')
end
local out = {}
local function diff(...) out[#out + 1] = string.format(...) end
local function hash(key)
    local t, raw = {}, redis.call('HGETALL', key)
    for i = 1, #raw, 2 do t[raw[i]] = raw[i + 1] end
    return t
end
local function size(t)
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    return n
end
local recs, ninst = {}, 0
for id, raw in pairs(hash(KEYS[1])) do
    local ok, rec = pcall(cjson.decode, raw)
    if ok and type(rec) == 'table' then recs[id] = rec
    else diff('instance %s: its record is not a JSON object', id) end
    ninst = ninst + 1
end
local counts = hash(KEYS[2])
local mapping = { master = hash(KEYS[3]), client = hash(KEYS[4]) }
-- a client's mapping is '<id>\n<master>'; an earlier layout's is '<id>',
-- its master in client_master (KEYS 5), and only such a client has a field
-- there
local recorded, masters_of = hash(KEYS[5]), {}
for actid, v in pairs(mapping.client) do
    local id, m = string.match(v, '^([^\n]*)\n(.*)$')
    if id == nil then
        masters_of[actid] = recorded[actid]
    else
        mapping.client[actid] = id
        if m ~= '' then masters_of[actid] = m end
        if recorded[actid] then
            diff('client %s: a master in its mapping and in client_master',
                actid)
        end
    end
end
local mapped, on = {}, {}
for role, m in pairs(mapping) do
    for actid, id in pairs(m) do
        mapped[id] = (mapped[id] or 0) + 1
        local rec = recs[id]
        if rec and (rec.isMasterServer == true) ~= (role == 'master') then
            diff('%s %s is placed on %s, an instance of the other role',
                role, actid, id)
        end
        on[role .. ' ' .. actid] = id
    end
end
-- counts = accounts mapped, and no instance above its cap
local ids = {}
for id in pairs(counts) do ids[id] = true end
for id in pairs(mapped) do ids[id] = true end
for id in pairs(ids) do
    local c, m = tonumber(counts[id]), mapped[id] or 0
    if counts[id] == nil and recs[id] then
        diff('instance %s: no count, %d accounts mapped', id, m)
    elseif counts[id] ~= nil and c ~= m then
        diff('instance %s: count %s, %d accounts mapped', id, counts[id], m)
    end
    if recs[id] == nil and m > 0 then
        diff('instance %s is gone, %d accounts still mapped to it', id, m)
    elseif recs[id] == nil and counts[id] ~= nil then
        diff('instance %s is gone, its count field stays', id)
    end
    local rec = recs[id]
    local role = rec and (rec.isMasterServer and 'master' or 'client')
    if role and cap[role] > 0 and m > cap[role] then
        diff('instance %s: %d accounts, above the cap of %d', id, m, cap[role])
    end
end
-- clients: a master each; the spreads and arrays agree (an array is
-- checked when no change to it is pending)
local clients_of = {}
for actid in pairs(mapping.client) do
    local m = masters_of[actid]
    if m == nil then diff('client %s has no master recorded', actid)
    else
        clients_of[m] = clients_of[m] or {}
        clients_of[m][actid] = true
    end
end
for actid, m in pairs(recorded) do
    if mapping.client[actid] == nil then
        diff('client %s: master %s recorded, but not placed', actid, m)
    end
end
local dirty = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[8], 0, -1)) do
    dirty[m] = redis.call('EXISTS', pending .. m) == 1
end
local tracking = hash(KEYS[7])
-- a spread field: master -> a JSON object, instance id -> n, each n an
-- integer above 0 (prelude: SPREAD_LAYOUT); spreads of an earlier layout
-- are not compared (the next placement moves them in)
local spreads, raw_spreads, earlier = {}, hash(spread), false
if next(raw_spreads) ~= nil and raw_spreads[SPREAD_LAYOUT] ~= SPREAD_MARK then
    diff('%s: an earlier layout (the next placement moves it in)', spread)
    raw_spreads, earlier = {}, true
end
for m, v in pairs(raw_spreads) do
    if m ~= SPREAD_LAYOUT then
        local ok, t = pcall(cjson.decode, v)
        local sp = {}
        if not ok or type(t) ~= 'table' or next(t) == nil then
            diff('master %s: the spread "%s" is not instances and counts',
                m, (string.gsub(v, '\n', '\\n')))
        else
            for id, n in pairs(t) do
                if type(n) ~= 'number' or not (n >= 1) or n % 1 ~= 0 then
                    diff('master %s: spread on %s is %s', m, tostring(id),
                        tostring(n))
                end
                sp[tostring(id)] = n
            end
        end
        spreads[m] = sp
    end
end
for m, set in pairs(clients_of) do
    local per = {}
    for c in pairs(set) do
        local id = mapping.client[c]
        per[id] = (per[id] or 0) + 1
    end
    local sp = spreads[m] or {}
    if earlier then per = {} end
    for id, n in pairs(per) do
        if tonumber(sp[id]) ~= n then
            diff('master %s: spread on %s is %s, %d clients there', m, id,
                tostring(sp[id]), n)
        end
    end
    for id, n in pairs(sp) do
        if per[id] == nil then
            diff('master %s: spread on %s is %s, no client there', m, id, n)
        end
    end
    if not dirty[m] then
        local ok, arr = pcall(cjson.decode, tracking[m] or '[]')
        local seen, n = {}, 0
        if ok and type(arr) == 'table' then
            for _, c in ipairs(arr) do
                c = tostring(c)
                if seen[c] then diff('master %s: %s twice in tracking', m, c) end
                seen[c], n = true, n + 1
                if not set[c] then
                    diff('master %s: tracking holds %s, not its client', m, c)
                end
            end
        end
        for c in pairs(set) do
            if not seen[c] then diff('master %s: %s missing from tracking', m, c) end
        end
    end
end
for m in pairs(tracking) do
    if clients_of[m] == nil and not dirty[m] then
        diff('master %s: a tracking array, but no clients', m)
    end
end
-- fn(key, the rest of the key after prefix) for every key with prefix
local function each_key(prefix, fn)
    local cursor = '0'
    repeat
        local got = redis.call('SCAN', cursor, 'MATCH', prefix .. '*',
            'COUNT', 1000)
        cursor = got[1]
        for _, key in ipairs(got[2]) do fn(key, string.sub(key, #prefix + 1)) end
    until cursor == '0'
end
-- spreads of masters without clients must be gone, and the earlier
-- layout's keys (moved in by the first placement)
for m in pairs(spreads) do
    if clients_of[m] == nil then
        diff('master %s: a spread, but no clients', m)
    end
end
each_key(spread .. ':', function(key)
    diff('%s: left behind (the earlier layout)', key)
end)
-- each instance's set of accounts holds exactly the accounts mapped to it
local placed_on = {}
for _, m in pairs(mapping) do
    for actid, id in pairs(m) do
        placed_on[id] = placed_on[id] or {}
        placed_on[id][actid] = true
    end
end
each_key(accounts, function(key, id)
    for _, actid in ipairs(redis.call('SMEMBERS', key)) do
        if not (placed_on[id] and placed_on[id][actid]) then
            diff('instance %s: %s in its set of accounts, not placed there',
                id, actid)
        end
    end
end)
for id, set in pairs(placed_on) do
    for actid in pairs(set) do
        if redis.call('SISMEMBER', accounts .. id, actid) == 0 then
            diff('instance %s: %s placed there, not in its set of accounts',
                id, actid)
        end
    end
end
-- the global counters, and the live sets against the states
local global = hash(KEYS[6])
local nm, nc = size(mapping.master), size(mapping.client)
if (tonumber(global.masterCount) or 0) ~= nm then
    diff('masterCount %s, %d masters mapped', tostring(global.masterCount), nm)
end
if (tonumber(global.clientCount) or 0) ~= nc then
    diff('clientCount %s, %d clients mapped', tostring(global.clientCount), nc)
end
for i, role in ipairs({ 'master', 'client' }) do
    local live = {}
    for _, id in ipairs(redis.call('ZRANGE', KEYS[8 + i], 0, -1)) do
        live[id] = true
        local rec = recs[id]
        if rec == nil or rec.state ~= 'running' or
            (rec.isMasterServer == true) ~= (role == 'master') then
            diff('instance %s: live for %s accounts, but not a running %s',
                id, role, role)
        end
    end
    for id, rec in pairs(recs) do
        if rec.state == 'running' and (rec.isMasterServer == true) ==
            (role == 'master') and not live[id] then
            diff('instance %s: running, but takes no %s accounts', id, role)
        end
    end
end
table.sort(out)
table.insert(out, 1, ninst)
table.insert(out, 1, nc)
table.insert(out, 1, nm)
return out
