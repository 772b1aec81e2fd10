-- instance_put: create or replace an instance record.
-- KEYS: 1 instance_details, 2 instance_user_counts, 3 live:master,
--       4 live:client, 5 launch_seq
-- ARGV: 1 id ('' = assign 'inst-<launch_seq>'; no control characters: the
--       mappings and spreads use a newline to separate an id from what
--       follows), 2 record JSON (SPEC 8:
--       isMasterServer, serverName, ip, port, state, provider, launchedAt;
--       other members are kept), 3 routing channel
-- Fenced (the scaler): KEYS 6 its lease, ARGV 4 its token.
-- Returns {id, launchOrder}.  launchOrder comes from the record, else from
-- the record it replaces, else from launch_seq; launchedAt likewise, else now.
-- stateSince (ms) is kept while the state stays, else set to now.
local details, counts, live_master, live_client, seq =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, channel = ARGV[1], ARGV[3]
local refused = fence_refused(KEYS[6], ARGV[4])
if refused then return refused end
local ok, rec = pcall(cjson.decode, ARGV[2] or '')
if not ok or type(rec) ~= 'table' or id == nil or #id > 63 or
    string.find(id, '%c') or channel == nil then
    return redis.error_reply('instance_put: bad arguments')
end
local port = tonumber(rec.port)
if type(rec.isMasterServer) ~= 'boolean' or type(rec.ip) ~= 'string' or
    rec.ip == '' or #rec.ip > 63 or port == nil or port < 1 or
    port > 65535 or port % 1 ~= 0 then
    return redis.error_reply('instance_put: need isMasterServer, ip, port')
end
if not STATES[rec.state] then
    return redis.error_reply('instance_put: bad state')
end

local order = tonumber(rec.launchOrder)
if id == '' then
    local n = redis.call('INCR', seq)
    id, order = 'inst-' .. n, order or n
end
local old = record(details, id) or {}
order = order or tonumber(old.launchOrder) or redis.call('INCR', seq)
rec.id, rec.port, rec.launchOrder = id, port, order
local now = now_ms()
if tonumber(rec.launchedAt) == nil then
    rec.launchedAt = tonumber(old.launchedAt) or now
end
if old.state == rec.state and tonumber(old.stateSince) then
    rec.stateSince = tonumber(old.stateSince)
else
    rec.stateSince = now
end
if type(rec.serverName) ~= 'string' or rec.serverName == '' then
    rec.serverName = id
end

redis.call('HSET', details, id, cjson.encode(rec))
redis.call('HSETNX', counts, id, 0)
live_update(live_master, live_client, id, rec)
routing_publish(channel, { op = 'instance', id = id, state = rec.state })
return { id, order }
