-- metrics_flush: add one process's counter increments to its olbd's metrics
-- hash (common/metrics.c), all or nothing, at most once per batch.  A batch
-- whose reply was lost is sent again unchanged with the same sequence
-- number; the sequence key remembers the last batch applied for the
-- process, so the repeat adds nothing.
-- KEYS: 1 the metrics hash, 2 the process's sequence key (only a process
--       still running sends a batch again, so it lives 10 minutes at most)
-- ARGV: 1 the process ("<pid>.<started ms>"), 2 the batch's sequence
--       number, 3 the hash's time to live (ms), 4 the batch: one
--       "<field> <delta>\n" per counter
-- Returns 1 if the batch was applied, 0 if it had been already.
local hash, seqkey = KEYS[1], KEYS[2]
local proc, seq, ttl, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if hash == nil or seqkey == nil or proc == nil or seq == nil or ttl == nil or
    ttl < 1 or batch == nil then
    return redis.error_reply('metrics_flush: bad arguments')
end
local last = redis.call('GET', seqkey)
if last then
    local p, s = string.match(last, '^(.*) (%d+)$')
    if p == proc and tonumber(s) >= seq then
        return 0
    end
end
-- All or nothing: every delta is checked before any is added (a script's
-- writes before an error stay).  More than 15 digits is no real count.
local fields, deltas = {}, {}
for field, delta in string.gmatch(batch, '([^\n]+) (%d+)\n') do
    if #delta > 15 then
        return redis.error_reply('metrics_flush: delta out of range for ' .. field)
    end
    fields[#fields + 1], deltas[#deltas + 1] = field, delta
end
for i = 1, #fields do
    redis.call('HINCRBY', hash, fields[i], deltas[i])
end
redis.call('PEXPIRE', hash, ttl)
redis.call('SET', seqkey, proc .. ' ' .. seq, 'PX', math.min(ttl, 600000))
return 1
