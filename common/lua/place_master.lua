-- place_master: the instances hosting master accounts (SPEC 4), for a
-- batch of accounts in order.
-- KEYS: 1 instance_details, 2 instance_user_counts, 3 master_mapping,
--       4 live:master, 5 global_state
-- ARGV: 1 max_per_master, 2 routing channel, 3 the instance_accounts: key
--       prefix (not Cluster safe, as in place_client), 4.. the actids
-- Returns place_helpers' answer_new: {seq, a code per actid, the instances
-- the codes name}; an account with none (no live master below max) keeps
-- any placement it had; seq is the routing sequence when the batch ran.
local details, counts, mapping, live, global =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local max, channel, accounts = tonumber(ARGV[1]), ARGV[2], ARGV[3]
if max == nil or #ARGV < 4 or #KEYS < 5 or accounts == '' then
    return redis.error_reply('place_master: bad arguments')
end
for i = 4, #ARGV do
    if ARGV[i] == '' then
        return redis.error_reply('place_master: bad arguments')
    end
end

local f = fleet_new(details, live, counts, max)
local actids = {}
for i = 4, #ARGV do actids[#actids + 1] = ARGV[i] end
local placed_on = batch_read(mapping, actids)
local answer, added = answer_new(routing_seq(channel)), 0
local function place(actid)
    -- Idempotent re-login: still on a live master.
    local cur = placed_on[actid]
    if cur then
        local rec = fleet_record(f, cur)
        if rec then
            -- heals a set written before sets existed
            batch_move(f, accounts, actid, nil, cur)
            return cur, rec, 'existing'
        end
    end
    local id, rec = fleet_pick(f, nil)
    if id == nil then return nil end
    if cur then
        -- a move off an instance that is no longer live
        fleet_count(f, cur, -1)
    else
        added = added + 1
    end
    batch_hset(f, mapping, actid, id)
    batch_move(f, accounts, actid, cur, id)
    placed_on[actid] = id
    fleet_count(f, id, 1)
    return id, rec, 'placed'
end
for i = 4, #ARGV do answer_add(answer, place(ARGV[i])) end
batch_write(f)
if added > 0 then hash_add(global, 'masterCount', added, false) end
return answer_done(answer)
