-- olb placement prelude: helpers shared by every script (each script is
-- sent whole, so each carries its own copy).
local STATES = { pending = true, running = true, unhealthy = true,
    draining = true, terminating = true, terminated = true }

-- HMGET for any number of fields (unpack has a stack limit): values in order.
local function hmget_many(key, fields)
    local n = #fields
    if n == 0 then return {} end
    if n <= 1000 then return redis.call('HMGET', key, unpack(fields)) end
    local out = {}
    for i = 1, #fields, 1000 do
        local chunk = {}
        for j = i, math.min(i + 999, #fields) do
            chunk[#chunk + 1] = fields[j]
        end
        local got = redis.call('HMGET', key, unpack(chunk))
        for j = 1, #chunk do
            out[#out + 1] = got[j]
        end
    end
    return out
end

-- An integer field of a hash, 0 when absent or not a number.
local function hash_int(key, field)
    local n = tonumber(redis.call('HGET', key, field))
    if n == nil then return 0 end
    return math.floor(n)
end

-- Add delta to a counter field.  HINCRBY is called with pcall so a damaged
-- value (read as 0) can never stop a script half way (scripts do not roll
-- back).  At zero or below the field is deleted if drop is true, else 0.
local function hash_add(key, field, delta, drop)
    local n = redis.pcall('HINCRBY', key, field, delta)
    local damaged = type(n) ~= 'number'
    if damaged then n = delta end
    if n <= 0 then
        if drop then
            redis.call('HDEL', key, field)
        elseif n < 0 or damaged then
            redis.call('HSET', key, field, 0)
        end
        return 0
    end
    if damaged then redis.call('HSET', key, field, n) end
    return n
end

-- n (default 1) fewer accounts on an instance.  A removed instance keeps
-- its count field while accounts are still mapped to it, and loses it at
-- zero.
local function count_down(counts, details, id, n)
    if redis.call('HEXISTS', counts, id) == 0 then return end
    hash_add(counts, id, -(n or 1), redis.call('HEXISTS', details, id) == 0)
end

-- Each master's clients per instance: the hash spread, field master -> a
-- JSON object, instance id -> n > 0 of its clients there (the field is
-- deleted when none is left).  A master's spread is one field, read and
-- written whole, so a placement costs what the instances holding its
-- clients cost, not what the fleet does; cjson reads and writes it, where
-- Lua's patterns and string edits cost a fifth of a placement.  The field
-- SPREAD_LAYOUT (not an actid: actids have no control characters) holds
-- SPREAD_MARK once olb's earlier layouts were moved in: a hash per master
-- (spread .. ':' .. master), then a field per master and instance (master
-- '\n' id -> n, marked by the field 'layout'), then a field per master of
-- "\n<id> <n>" per instance (SPREAD_LAYOUT holding another text).  Scripts
-- read it with their first read of the hash, and spread_migrate moves them
-- when it is not SPREAD_MARK (once: daily_reset writes it again when it
-- empties the hash).
local SPREAD_LAYOUT = '\nlayout'
-- The mark's value: longer than Redis' hash-max-listpack-value (64 bytes
-- by default), so Redis keeps the hash as a hash table whatever its size.
-- As a listpack (up to 512 fields) each field read or written is a scan
-- of the whole hash, and a batch reads and writes a field per master.
local SPREAD_MARK = 'one field per master: a JSON object, instance id -> ' ..
    'its clients of that master; a long value, so that Redis keeps this ' ..
    'hash as a hash table'

-- A spread field's value v (false: no field) as id -> n, an integer from
-- 1 to 2^53 (a damaged entry is left out: it could stop a script half way,
-- and scripts do not roll back; a JSON array, whose keys would be numbers,
-- is none).
local function spread_decode(v)
    if not v then return {} end
    local ok, t = pcall(cjson.decode, v)
    if not ok or type(t) ~= 'table' or t[1] ~= nil then return {} end
    for id, n in next, t do
        if type(n) ~= 'number' or not (n >= 1) or
            n > 9007199254740992 then
            t[id] = nil
        elseif n % 1 ~= 0 then
            t[id] = math.floor(n)
        end
    end
    return t
end

-- The field's value for t (id -> n > 0), '' for none.
local function spread_encode(t)
    if next(t) == nil then return '' end
    return cjson.encode(t)
end

-- Write master's spread v, deleting the field when it is empty.
local function spread_put(spread, master, v)
    if v == '' then
        redis.call('HDEL', spread, master)
    else
        redis.call('HSET', spread, master, v)
    end
end

-- Move the earlier layouts into spread and mark it: O(their fields), once
-- per deployment.
local function spread_migrate(spread)
    local all, masters = {}, {}
    local function add(master, id, n)
        n = tonumber(n)
        if n == nil or not (n >= 1) or n > 9007199254740992 then return end
        if all[master] == nil then
            all[master] = {}
            masters[#masters + 1] = master
        end
        all[master][id] = (all[master][id] or 0) + math.floor(n)
    end
    local raw = redis.call('HGETALL', spread)
    for i = 1, #raw, 2 do
        local field, v = raw[i], raw[i + 1]
        local master, id = string.match(field, '^([^\n]+)\n(.+)$')
        if master then	-- a field per master and instance
            add(master, id, v)
        elseif field ~= 'layout' and field ~= SPREAD_LAYOUT then
            if string.byte(v, 1) == 123 then	-- '{': this layout, mark lost
                for id2, n in pairs(spread_decode(v)) do add(field, id2, n) end
            else	-- "\n<id> <n>" per instance
                for id2, n in string.gmatch(v, '\n([^\n]+) (%d+)') do
                    add(field, id2, n)
                end
            end
        end
    end
    local prefix, cursor = spread .. ':', '0'
    repeat
        local got = redis.call('SCAN', cursor, 'MATCH', prefix .. '*',
            'COUNT', 1000)
        cursor = got[1]
        for _, key in ipairs(got[2]) do
            local master = string.sub(key, #prefix + 1)
            raw = redis.call('HGETALL', key)
            for i = 1, #raw, 2 do add(master, raw[i], raw[i + 1]) end
            redis.call('DEL', key)
        end
    until cursor == '0'
    redis.call('DEL', spread)
    for _, master in ipairs(masters) do
        spread_put(spread, master, spread_encode(all[master]))
    end
    redis.call('HSET', spread, SPREAD_LAYOUT, SPREAD_MARK)
end

-- Before a script's first read of spread that does not read SPREAD_LAYOUT
-- with it.
local function spread_ready(spread)
    if redis.call('HGET', spread, SPREAD_LAYOUT) ~= SPREAD_MARK then
        spread_migrate(spread)
    end
end

-- delta more of master's clients on id, in spread.
local function spread_add(spread, master, id, delta)
    local t = spread_decode(redis.call('HGET', spread, master))
    local n = (t[id] or 0) + delta
    if n > 0 then t[id] = n else t[id] = nil end
    spread_put(spread, master, spread_encode(t))
end

-- A placement as client_mapping holds it: '<id>\n<master>', the instance
-- and the master the client copies in one field (actids and instance ids
-- hold no newline), so a placement writes one big hash, not two.  olb
-- before this layout wrote '<id>' there and the master in client_master
-- (the hash KEYS name masters): such a value is read with that field,
-- which goes when the placement is next written (daily_reset deletes the
-- hash).  A master_mapping value is the id alone.  id, master (nil: not
-- in the value); nil for no value.
local function mapping_split(v)
    if not v then return nil, nil end
    local nl = string.find(v, '\n', 1, true)
    if nl == nil then return v, nil end
    return string.sub(v, 1, nl - 1), string.sub(v, nl + 1)
end

-- The accounts placed on each instance: a set per instance (prefix ..
-- id), kept in step with the mapping by every script that changes it, so a
-- drained instance is proven empty by its own set, at a cost that does not
-- grow with the accounts placed elsewhere.  An account leaves from (if
-- any) and joins to (if any).
local function accounts_move(prefix, actid, from, to)
    if from then redis.call('SREM', prefix .. from, actid) end
    if to then redis.call('SADD', prefix .. to, actid) end
end

-- Redis' clock in ms.
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Publish a routing change (a cached placement may be stale) numbered by
-- the routing sequence '<channel>:seq', which placement answers carry
-- too: a proxy never caches an answer older than a change it has seen.
local function routing_publish(channel, msg)
    msg.seq = redis.call('INCR', channel .. ':seq')
    redis.call('PUBLISH', channel, cjson.encode(msg))
end

-- The routing sequence now (0 before the first change).
local function routing_seq(channel)
    return tonumber(redis.call('GET', channel .. ':seq')) or 0
end

-- A singleton's write carries the lease token it was decided under (KEYS
-- and ARGV past the script's own): the error to return when that lease is
-- no longer held with that token, else nil.  No fence key: nil.
local function fence_refused(key, token)
    if key == nil then return nil end
    if token == nil or redis.call('GET', key) ~= token then
        return redis.error_reply('FENCED lease ' .. key .. ' not held')
    end
    return nil
end

-- The decoded JSON record of an instance, or nil when absent or unusable
-- (no ip or one longer than 63 bytes, port out of range).
local function record(details, id)
    local raw = redis.call('HGET', details, id)
    if not raw then return nil end
    local ok, rec = pcall(cjson.decode, raw)
    if not ok or type(rec) ~= 'table' or type(rec.ip) ~= 'string' or
        rec.ip == '' or #rec.ip > 63 then
        return nil
    end
    local port = tonumber(rec.port)
    if port == nil or port < 1 or port > 65535 or port % 1 ~= 0 then
        return nil
    end
    rec.port = port
    return rec
end

-- The decoded record of id, for a script that changes it: rec; or nil and
-- the answer to return (nil when there is no such instance, an error when
-- its record is not a JSON object).
local function record_to_change(details, id, script)
    local raw = redis.call('HGET', details, id)
    if not raw then return nil, false end
    local ok, rec = pcall(cjson.decode, raw)
    if not ok or type(rec) ~= 'table' then
        return nil, redis.error_reply(script .. ': record of ' .. id ..
            ' is not a JSON object')
    end
    return rec
end

-- t[name] = e (t has no such entry yet), its name appended to t's list:
-- entries kept in the order first set.  e.  The caller builds e with its
-- first members: a table built whole is allocated at its size, where one
-- grown by appends is reallocated at each power of two (which cost 2 % of
-- Redis' work per placement).
local function ordered_add(t, name, e)
    t[name] = e
    t[#t + 1] = name
    return e
end

-- A master's clients are the earlier service's JSON array in the tracking
-- hash and, not yet in it, the changes waiting in the master's pending
-- list (k.pending .. master): each placement or release that adds a client
-- to a master's books or takes one off appends op ('+' or '-') and actid
-- there, one RPUSH per master per script, and queues the master in
-- tracking_due (k.due); tracking_flush applies the lists to the arrays,
-- appending to an array rather than rewriting it.  So a placement costs a
-- list entry, not a copy of an array of thousands of clients.
local function tracking_log(k, op, master, actid)
    k.ops = k.ops or {}
    local ops = k.ops[master]
    if ops == nil then
        ordered_add(k.ops, master, { op, actid })
    else
        ops[#ops + 1] = op
        ops[#ops + 1] = actid
    end
end

-- actid joins master's clients (it is not among them: its client record
-- named another master, or none).
local function tracking_add(k, master, actid)
    tracking_log(k, '+', master, actid)
end

-- actid leaves master's clients (the master's last one takes the array
-- away when the list is applied).
local function tracking_remove(k, master, actid)
    tracking_log(k, '-', master, actid)
end

-- After a script's last tracking change: its entries go to the masters'
-- lists, and a master whose list is new is queued, due at once (one
-- already queued keeps its time: see tracking_flush).  A master with a
-- list is queued (tracking_flush deletes the list before it unqueues the
-- master), so a list that was there already needs no ZADD: under load
-- most batches send none.  A list whose entry was lost (the queue deleted
-- by hand) is queued again each time it passes a multiple of TRACKING_HEAL
-- entries.
local TRACKING_HEAL = 64
local function tracking_done(k)
    if k.ops == nil then return end
    local queue = {}
    for _, master in ipairs(k.ops) do
        local ops = k.ops[master]
        local len = redis.call('RPUSH', k.pending .. master, unpack(ops))
        if len == #ops or len % TRACKING_HEAL < #ops then
            queue[#queue + 1] = '0'	-- a string: a number is formatted
            queue[#queue + 1] = master
        end
    end
    if #queue > 0 then redis.call('ZADD', k.due, 'NX', unpack(queue)) end
    k.ops = nil
end

-- Keep the live sets in step with a record: only running instances are live.
local function live_update(live_master, live_client, id, rec)
    redis.call('ZREM', live_master, id)
    redis.call('ZREM', live_client, id)
    if rec and rec.state == 'running' then
        local live = rec.isMasterServer and live_master or live_client
        redis.call('ZADD', live, tonumber(rec.launchOrder) or 0, id)
    end
end

-- Write rec (decoded) of id in state, with stateSince when the state
-- changes, keep the live sets in step and publish the change.  The
-- previous state.
local function state_write(details, live_master, live_client, channel, id,
    rec, state)
    local previous = tostring(rec.state)
    if previous ~= state or tonumber(rec.stateSince) == nil then
        rec.stateSince = now_ms()
    end
    rec.state = state
    redis.call('HSET', details, id, cjson.encode(rec))
    live_update(live_master, live_client, id, rec)
    routing_publish(channel, { op = 'instance', id = id, state = state })
    return previous
end

-- Free an account's place: mapping, count, global counter and, for a
-- client, its spread and tracking entry (the tracking entry
-- also when it was left without a placement).  Publishes the release.
-- With expect (an instance id), only a placement on that instance is
-- freed: one made meanwhile elsewhere stays (compare and delete).
-- 1 if the account was placed (there), else 0.
local function release_account(k, role, actid, master, spread, channel,
    expect)
    local cur, known = mapping_split(redis.call('HGET', k.mapping, actid))
    if cur and expect and expect ~= '' and cur ~= expect then return 0 end
    if role == 'client' then
        if known == nil then	-- an earlier layout's placement, or none
            known = redis.call('HGET', k.masters, actid)
            redis.call('HDEL', k.masters, actid)
        end
        master = known or master
        if master ~= '' then
            tracking_remove(k, master, actid)
            tracking_done(k)
            if cur then
                spread_ready(spread)
                spread_add(spread, master, cur, -1)
            end
        end
    end
    if not cur then return 0 end
    redis.call('HDEL', k.mapping, actid)
    accounts_move(k.accounts, actid, cur, nil)
    count_down(k.counts, k.details, cur)
    hash_add(k.global, role == 'master' and 'masterCount' or 'clientCount',
        -1, false)
    routing_publish(channel, { op = 'release', role = role, actid = actid,
        id = cur })
    return 1
end

-- The KEYS and ARGV of release, locate and sweep, checked: k, role, actid
-- (sweep: the cursor), master (sweep: the count), spread prefix, channel;
-- or nil.  ARGV 6 is the instance_accounts: prefix, 7 the
-- tracking_pending: prefix.
local function release_args()
    local role, actid = ARGV[1], ARGV[2]
    if (role ~= 'master' and role ~= 'client') or actid == nil or
        actid == '' or ARGV[4] == nil or ARGV[5] == nil or
        ARGV[6] == nil or ARGV[6] == '' or ARGV[7] == nil or
        ARGV[7] == '' or #KEYS < 6 then
        return nil
    end
    local k = { details = KEYS[1], counts = KEYS[2], mapping = KEYS[3],
        global = KEYS[4], masters = KEYS[5], due = KEYS[6],
        accounts = ARGV[6], pending = ARGV[7] }
    return k, role, actid, ARGV[3] or '', ARGV[4], ARGV[5]
end
