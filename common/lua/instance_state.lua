-- instance_state: change the state of an instance (health, scaler, olbctl).
-- KEYS: 1 instance_details, 2 live:master, 3 live:client
-- ARGV: 1 id, 2 state, 3 routing channel, 4 the state it must be in
--       ('' = any)
-- Fenced (the scaler): KEYS 4 its lease, ARGV 5 its token.
-- Returns the previous state (the current one, unchanged, when it is not
-- ARGV 4), or nil if there is no such instance.  A change of state sets
-- stateSince (ms).
local details, live_master, live_client = KEYS[1], KEYS[2], KEYS[3]
local id, state, channel = ARGV[1], ARGV[2], ARGV[3]
if id == nil or not STATES[state] or channel == nil then
    return redis.error_reply('instance_state: bad arguments')
end
local refused = fence_refused(KEYS[4], ARGV[5])
if refused then return refused end
local rec, answer = record_to_change(details, id, 'instance_state')
if not rec then return answer end
if ARGV[4] and ARGV[4] ~= '' and ARGV[4] ~= tostring(rec.state) then
    return tostring(rec.state)
end
return state_write(details, live_master, live_client, channel, id, rec,
    state)
