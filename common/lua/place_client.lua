-- place_client: the instances hosting client accounts (SPEC 4), for a
-- batch of accounts in order.
-- KEYS: 1 instance_details, 2 instance_user_counts, 3 client_mapping
--       ('<id>\n<master>': prelude, mapping_split), 4 live:client,
--       5 global_state, 6 client_master (the masters of placements of an
--       earlier layout), 7 tracking_due
-- ARGV: 1 max_per_client, 2 client_spread (prelude: SPREAD_LAYOUT; the
--       earliest layout's keys are that name and ':'), 3 routing channel,
--       4 the instance_accounts: key prefix, 5 the tracking_pending: key
--       prefix (the script appends an id or actid to them: such keys are
--       not declared, so this is not Redis Cluster safe; olb uses one
--       Redis), then pairs: actid, master actid
-- Returns place_helpers' answer_new: {seq, a code per account, the
-- instances the codes name}; an account with none (no live client instance
-- below max) keeps any placement it had; seq is the routing sequence when
-- it ran.
local details, counts, mapping, live, global, masters =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local max, spread, channel = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local accounts, pending = ARGV[4], ARGV[5]
if max == nil or spread == nil or spread == '' or channel == nil or
    #ARGV < 7 or #ARGV % 2 ~= 1 or #KEYS < 7 or accounts == nil or
    accounts == '' or pending == nil or pending == '' then
    return redis.error_reply('place_client: bad arguments')
end
local actids, wanted, n = {}, {}, 0
for i = 6, #ARGV, 2 do
    local actid, master = ARGV[i], ARGV[i + 1]
    if actid == '' or master == '' then
        return redis.error_reply('place_client: bad arguments')
    end
    n = n + 1
    actids[n], wanted[n] = actid, master
end
local k = { due = KEYS[7], pending = pending }

local f = fleet_new(details, live, counts, max)
-- placed_on[actid], master_of[actid]: its instance and master, nil for
-- none; earlier[actid]: its master is in the client_master field that goes
-- when its mapping is written.  A new account sets no key (in Lua 5.1
-- storing nil under a new key still makes one, and grows the table).
local placed_on, master_of, earlier = {}, {}, {}
local values, old = hmget_many(mapping, actids), {}
for i, actid in ipairs(actids) do
    local v = values[i]
    if v then
        local cur, known = mapping_split(v)
        placed_on[actid], master_of[actid] = cur, known
        if known == nil then old[#old + 1] = actid end
    end
end
if #old > 0 then
    local got = batch_read(masters, old)
    for _, actid in ipairs(old) do
        master_of[actid], earlier[actid] = got[actid] or nil, true
    end
end
local function map(actid, id, master)
    batch_hset(f, mapping, actid, id .. '\n' .. master)
    if earlier[actid] then
        earlier[actid] = nil
        batch_set(f, 'HDEL', masters, actid)
    end
end
-- the spreads the batch will likely change, read in one call: an account
-- placed on a live instance under the same master changes none (any other
-- is read when needed)
local need = {}
for i, actid in ipairs(actids) do
    local known = master_of[actid]
    if known and known ~= wanted[i] then need[#need + 1] = known end
    if known ~= wanted[i] or not f.live[placed_on[actid]] then
        need[#need + 1] = wanted[i]
    end
end
fleet_spread_read(f, spread, need)
local answer, added = answer_new(routing_seq(channel)), 0
local function place(actid, master)
    local cur, known = placed_on[actid], master_of[actid]
    local old = known or master
    -- Idempotent re-login; a client that now copies another master moves
    -- to that master's books on the same instance.
    if cur then
        local rec = fleet_record(f, cur)
        if rec then
            if old ~= master then
                fleet_spread_add(f, old, cur, -1)
                fleet_spread_add(f, master, cur, 1)
                tracking_remove(k, old, actid)
                tracking_add(k, master, actid)
                map(actid, cur, master)
                master_of[actid] = master
            end
            -- heals a set written before sets existed
            batch_move(f, accounts, actid, nil, cur)
            return cur, rec, 'existing'
        end
    end
    local id, rec = fleet_pick(f, fleet_spread(f, master))
    if id == nil then return nil end
    if cur then
        -- a move off an instance that is no longer live
        fleet_count(f, cur, -1)
        fleet_spread_add(f, old, cur, -1)
        if old ~= master then tracking_remove(k, old, actid) end
    else
        added = added + 1
    end
    map(actid, id, master)
    batch_move(f, accounts, actid, cur, id)
    placed_on[actid], master_of[actid] = id, master
    fleet_spread_add(f, master, id, 1)
    if known ~= master then tracking_add(k, master, actid) end
    fleet_count(f, id, 1)
    return id, rec, 'placed'
end
for i = 6, #ARGV, 2 do answer_add(answer, place(ARGV[i], ARGV[i + 1])) end
batch_write(f)
tracking_done(k)
if added > 0 then hash_add(global, 'clientCount', added, false) end
return answer_done(answer)
