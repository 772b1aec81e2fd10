-- lease: the lease of a singleton duty (the scaler, SPEC 2).  The token is
-- '<holder>#<fence>', the fence a counter that only grows, so a write made
-- under an old lease can always be told apart (fence_refused).
-- KEYS: 1 the lease, 2 its fence counter
-- ARGV: 1 holder ('host:pid'), 2 ttl ms, 3 'take' or 'drop', 4 the token
--       the caller holds (or a dead holder's it may replace), or ''
-- take: renew the lease held with ARGV 4 by this holder; else acquire it
-- when free or still held with ARGV 4 (a dead holder's).  drop: release it
-- if held with ARGV 4.
-- Returns {token or '', 'acquired'|'renewed'|'held'|'released',
--          the current holder's token or ''}.
local lease, fence = KEYS[1], KEYS[2]
local holder, ttl, op, mine = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
if holder == nil or holder == '' or ttl == nil or ttl < 1 or
    (op ~= 'take' and op ~= 'drop') or mine == nil then
    return redis.error_reply('lease: bad arguments')
end
local cur = redis.call('GET', lease)
if op == 'drop' then
    if cur and mine ~= '' and cur == mine then
        redis.call('DEL', lease)
        return { '', 'released', '' }
    end
    return { '', 'held', cur or '' }
end
if cur and mine ~= '' and cur == mine and
    string.sub(cur, 1, #holder + 1) == holder .. '#' then
    redis.call('PEXPIRE', lease, math.floor(ttl))
    return { cur, 'renewed', cur }
end
if cur and cur ~= mine then return { '', 'held', cur } end
local token = holder .. '#' .. redis.call('INCR', fence)
redis.call('SET', lease, token, 'PX', math.floor(ttl))
return { token, 'acquired', token }
