-- notify: the webhook's outbox (SPEC 8), a list of notify-level events that
-- every publisher appends to and the one sender (the health lease holder,
-- workers/health/notify.c) posts from.  The list is bounded: past the bound
-- the oldest event goes and is counted as dropped.  The state hash counts
-- the entries ever removed from the front ('head'), so the entry at index i
-- is number head + i for good, and an acknowledgement removes exactly what
-- was posted even if pushes overflowed the list meanwhile.
-- KEYS: 1 the outbox, 2 its state hash; fenced (ack): KEYS 3 the lease
-- ARGV: 1 the operation, then
--   push: 2 bound, 3 channel, 4 event JSON -> PUBLISH it too; returns
--         {events waiting, events dropped so far if this push dropped one,
--         else 0}
--   peek: 2 n -> {head, dropped, up to n events oldest first}
--   ack:  2 head seen by peek, 3 n posted, 4 '1' if they were refused and
--         count as dropped, fenced: last the lease token -> removed
local outbox, state, op = KEYS[1], KEYS[2], ARGV[1]
if outbox == nil or state == nil then
    return redis.error_reply('notify: bad arguments')
end
local function head()
    return tonumber(redis.call('HGET', state, 'head')) or 0
end
if op == 'push' then
    local bound, channel, msg = tonumber(ARGV[2]), ARGV[3], ARGV[4]
    if bound == nil or bound < 1 or channel == nil or msg == nil then
        return redis.error_reply('notify: bad arguments')
    end
    local n, dropped = redis.call('RPUSH', outbox, msg), 0
    if n > bound then
        redis.call('LTRIM', outbox, n - bound, -1)
        redis.call('HINCRBY', state, 'head', n - bound)
        dropped = redis.call('HINCRBY', state, 'dropped', n - bound)
        n = bound
    end
    redis.call('PUBLISH', channel, msg)
    return { n, dropped }
elseif op == 'peek' then
    local n = tonumber(ARGV[2])
    if n == nil or n < 1 then
        return redis.error_reply('notify: bad arguments')
    end
    return { head(), tonumber(redis.call('HGET', state, 'dropped')) or 0,
        redis.call('LRANGE', outbox, 0, n - 1) }
elseif op == 'ack' then
    local refused = fence_refused(KEYS[3], ARGV[#ARGV])
    if refused then return refused end
    local seen, n = tonumber(ARGV[2]), tonumber(ARGV[3])
    if seen == nil or n == nil or n < 0 then
        return redis.error_reply('notify: bad arguments')
    end
    local remove = seen + n - head()
    if remove <= 0 then return 0 end
    redis.call('LTRIM', outbox, remove, -1)
    redis.call('HINCRBY', state, 'head', remove)
    if ARGV[4] == '1' then
        redis.call('HINCRBY', state, 'dropped', remove)
    end
    return remove
end
return redis.error_reply('notify: unknown operation')
