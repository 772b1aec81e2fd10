-- instance_retire: a drained instance to terminating, only when no account
-- is placed on it.  Its set of accounts (kept with the mapping by every
-- placement script) must be empty once the members the mapping no longer
-- puts there are dropped, and its count must say 0 too: a count that
-- drifted cannot terminate live accounts.  The cost grows with the
-- accounts on this instance, not with all of them.
-- KEYS: 1 instance_details, 2 live:master, 3 live:client,
--       4 instance_user_counts, 5 master_mapping, 6 client_mapping
-- ARGV: 1 id, 2 routing channel, 3 the instance_accounts: key prefix, 4
--       the state it must be in
-- Fenced (the scaler): KEYS 7 its lease, ARGV 5 its token.
-- Returns {previous state, accounts placed there}: moved to terminating
-- only when previous is ARGV 4 and accounts is 0; nil if no such instance.
local details, live_master, live_client, counts =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, channel, prefix, from = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if id == nil or channel == nil or prefix == nil or prefix == '' or
    from == nil or not STATES[from] or #KEYS < 6 then
    return redis.error_reply('instance_retire: bad arguments')
end
local refused = fence_refused(KEYS[7], ARGV[5])
if refused then return refused end
local rec, answer = record_to_change(details, id, 'instance_retire')
if not rec then return answer end
local previous = tostring(rec.state)
if previous ~= from then return { previous, 0 } end
local mapping = rec.isMasterServer and KEYS[5] or KEYS[6]
local set = prefix .. id
local placed = 0
for _, actid in ipairs(redis.call('SMEMBERS', set)) do
    if (mapping_split(redis.call('HGET', mapping, actid))) == id then
        placed = placed + 1
    else
        redis.call('SREM', set, actid)
    end
end
local count = hash_int(counts, id)
if placed == 0 and count > 0 then placed = count end
if placed > 0 then return { previous, placed } end
state_write(details, live_master, live_client, channel, id, rec,
    'terminating')
return { previous, 0 }
