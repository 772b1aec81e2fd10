-- locate: the instance an account is placed on, in any state (where its
-- remove_user_listener must go).  An account mapped to an instance that no
-- longer exists is released here: its listener went with the instance.
-- KEYS and ARGV: as release.
-- Returns {seq, id, ip, port, how}, how 'existing' when the instance is
-- live (running), else 'located'; or {seq, then four nils} if the account
-- is not placed.  seq: the routing sequence, as for placements.
local k, role, actid, master, spread, channel = release_args()
if k == nil then return redis.error_reply('locate: bad arguments') end
local cur = (mapping_split(redis.call('HGET', k.mapping, actid)))
if not cur then return { routing_seq(channel), false, false, false, false } end
local rec = record(k.details, cur)
if rec then
    return { routing_seq(channel), cur, rec.ip, rec.port,
        rec.state == 'running' and 'existing' or 'located' }
end
if redis.call('HEXISTS', k.details, cur) == 0 then
    release_account(k, role, actid, master, spread, channel, cur)
end
return { routing_seq(channel), false, false, false, false }
