-- sweep: free the places of accounts whose instance is gone (no record,
-- or terminated), a bounded slice of one mapping per call, so the keys of
-- accounts that never call again do not stay forever (SPEC 8).  Each is
-- released exactly as a remove_user_listener would, on that instance only.
-- KEYS: as release.
-- ARGV: 1 'master'|'client', 2 HSCAN cursor, 3 HSCAN COUNT, 4-7 as release,
--       8 '1' while the desired fleet is down: the accounts of terminated
--       instances (their records kept) then wait for daily_reset, which
--       archives the day's placements before it clears them
-- Returns {next cursor ('0': a full round is done), accounts released}.
local k, role, cursor, count, spread, channel = release_args()
local keep = ARGV[8] == '1'
count = tonumber(count)
if k == nil or count == nil or count < 1 then
    return redis.error_reply('sweep: bad arguments')
end
local got = redis.call('HSCAN', k.mapping, cursor, 'COUNT', math.floor(count))
local gone, released = {}, 0
for i = 1, #got[2], 2 do
    local actid, id = got[2][i], (mapping_split(got[2][i + 1]))
    if gone[id] == nil then
        local raw = redis.call('HGET', k.details, id)
        local ok, rec = pcall(cjson.decode, raw or '')
        gone[id] = not raw or (not keep and ok and type(rec) == 'table' and
            rec.state == 'terminated')
    end
    if gone[id] then
        released = released + release_account(k, role, actid, '', spread,
            channel, id)
    end
end
return { got[1], released }
