-- instance_remove: forget an instance.  Accounts still mapped to it are
-- placed again on their next call, as it is not live; its count field stays
-- until they have moved (so a count always equals the accounts mapped).
-- KEYS: 1 instance_details, 2 instance_user_counts, 3 live:master,
--       4 live:client
-- ARGV: 1 id, 2 routing channel
-- Fenced (the scaler): KEYS 5 its lease, ARGV 3 its token.
-- Returns 1 if it existed, 0 if not.
local details, counts, live_master, live_client =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, channel = ARGV[1], ARGV[2]
if id == nil or channel == nil then
    return redis.error_reply('instance_remove: bad arguments')
end
local refused = fence_refused(KEYS[5], ARGV[3])
if refused then return refused end
live_update(live_master, live_client, id, nil)
if redis.call('HDEL', details, id) == 0 then return 0 end
if hash_int(counts, id) <= 0 then redis.call('HDEL', counts, id) end
routing_publish(channel, { op = 'instance', id = id, state = 'removed' })
return 1
