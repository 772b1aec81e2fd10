/*
 * scripts: the placement and registry Lua scripts (see scripts.h), their SHA1
 * digests (OpenSSL EVP) and their EVALSHA command lines.
 *
 * Each script is one decision and runs atomically in Redis, so the rules hold
 * under any interleaving of callers: an account has at most one placement per
 * role, an instance's count equals the accounts mapped to it and never passes
 * the cap it was placed under, a master's tracking array has no duplicates,
 * masterCount and clientCount equal the entries of master_mapping and
 * client_mapping.  Scripts do not roll back on error, so each one validates
 * its arguments before its first write, and counters are written with HSET of
 * a value computed in Lua (a damaged counter reads as 0 rather than failing
 * HINCRBY half way).  Placement reads only the live sets, the counts and the
 * one chosen record, never every instance.  Changes that make a cached
 * placement stale are published on the routing channel from inside the
 * scripts: {"op":"release","role":..,"actid":..} and
 * {"op":"instance","id":..,"state":..} (state "removed" for a removal).
 *
 * Talks to nobody: placement.c and registry.c send the command lines.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/keys.h"
#include "common/scripts.h"

/*
 * Helpers every script starts with (each EVAL is self-contained, so the
 * prelude is part of each source and of its digest).
 */
#define SCRIPTS_PRELUDE \
	"-- olb placement prelude: helpers shared by every script (each script is\n" \
	"-- sent whole, so each carries its own copy).\n" \
	"local STATES = { pending = true, running = true, unhealthy = true,\n" \
	"    draining = true, terminating = true, terminated = true }\n" \
	"\n" \
	"-- HMGET for any number of fields (unpack has a stack limit): values in order.\n" \
	"local function hmget_many(key, fields)\n" \
	"    local out = {}\n" \
	"    for i = 1, #fields, 1000 do\n" \
	"        local chunk = {}\n" \
	"        for j = i, math.min(i + 999, #fields) do\n" \
	"            chunk[#chunk + 1] = fields[j]\n" \
	"        end\n" \
	"        local got = redis.call('HMGET', key, unpack(chunk))\n" \
	"        for j = 1, #chunk do\n" \
	"            out[#out + 1] = got[j]\n" \
	"        end\n" \
	"    end\n" \
	"    return out\n" \
	"end\n" \
	"\n" \
	"-- An integer field of a hash, 0 when absent or not a number.\n" \
	"local function hash_int(key, field)\n" \
	"    local n = tonumber(redis.call('HGET', key, field))\n" \
	"    if n == nil then return 0 end\n" \
	"    return math.floor(n)\n" \
	"end\n" \
	"\n" \
	"-- Add delta to a counter field.  HINCRBY is called with pcall so a damaged\n" \
	"-- value (read as 0) can never stop a script half way (scripts do not roll\n" \
	"-- back).  At zero or below the field is deleted if drop is true, else 0.\n" \
	"local function hash_add(key, field, delta, drop)\n" \
	"    local n = redis.pcall('HINCRBY', key, field, delta)\n" \
	"    local damaged = type(n) ~= 'number'\n" \
	"    if damaged then n = delta end\n" \
	"    if n <= 0 then\n" \
	"        if drop then\n" \
	"            redis.call('HDEL', key, field)\n" \
	"        elseif n < 0 or damaged then\n" \
	"            redis.call('HSET', key, field, 0)\n" \
	"        end\n" \
	"        return 0\n" \
	"    end\n" \
	"    if damaged then redis.call('HSET', key, field, n) end\n" \
	"    return n\n" \
	"end\n" \
	"\n" \
	"-- One less account on an instance.  A removed instance keeps its count field\n" \
	"-- while accounts are still mapped to it, and loses it at zero.\n" \
	"local function count_down(counts, details, id)\n" \
	"    if redis.call('HEXISTS', counts, id) == 0 then return end\n" \
	"    hash_add(counts, id, -1, redis.call('HEXISTS', details, id) == 0)\n" \
	"end\n" \
	"\n" \
	"-- Redis' clock in ms.\n" \
	"local function now_ms()\n" \
	"    local t = redis.call('TIME')\n" \
	"    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
	"end\n" \
	"\n" \
	"-- Publish a routing change (a cached placement may be stale) numbered by\n" \
	"-- the routing sequence '<channel>:seq', which placement answers carry\n" \
	"-- too: a proxy never caches an answer older than a change it has seen.\n" \
	"local function routing_publish(channel, msg)\n" \
	"    msg.seq = redis.call('INCR', channel .. ':seq')\n" \
	"    redis.call('PUBLISH', channel, cjson.encode(msg))\n" \
	"end\n" \
	"\n" \
	"-- The routing sequence now (0 before the first change).\n" \
	"local function routing_seq(channel)\n" \
	"    return tonumber(redis.call('GET', channel .. ':seq')) or 0\n" \
	"end\n" \
	"\n" \
	"-- A singleton's write carries the lease token it was decided under (KEYS\n" \
	"-- and ARGV past the script's own): the error to return when that lease is\n" \
	"-- no longer held with that token, else nil.  No fence key: nil.\n" \
	"local function fence_refused(key, token)\n" \
	"    if key == nil then return nil end\n" \
	"    if token == nil or redis.call('GET', key) ~= token then\n" \
	"        return redis.error_reply('FENCED lease ' .. key .. ' not held')\n" \
	"    end\n" \
	"    return nil\n" \
	"end\n" \
	"\n" \
	"-- The decoded JSON record of an instance, or nil when absent or unusable\n" \
	"-- (no ip or one longer than 63 bytes, port out of range).\n" \
	"local function record(details, id)\n" \
	"    local raw = redis.call('HGET', details, id)\n" \
	"    if not raw then return nil end\n" \
	"    local ok, rec = pcall(cjson.decode, raw)\n" \
	"    if not ok or type(rec) ~= 'table' or type(rec.ip) ~= 'string' or\n" \
	"        rec.ip == '' or #rec.ip > 63 then\n" \
	"        return nil\n" \
	"    end\n" \
	"    local port = tonumber(rec.port)\n" \
	"    if port == nil or port < 1 or port > 65535 or port % 1 ~= 0 then\n" \
	"        return nil\n" \
	"    end\n" \
	"    rec.port = port\n" \
	"    return rec\n" \
	"end\n" \
	"\n" \
	"-- A master's clients live in a sorted set (actid -> placement order), and\n" \
	"-- the earlier service's JSON array in the tracking hash is rebuilt from it\n" \
	"-- by tracking_flush for the masters listed in the dirty set: a placement\n" \
	"-- costs O(log n), not a copy of an array of thousands of clients.  k holds\n" \
	"-- tracking, dirty, seq (keys) and list (the key prefix of the sets).\n" \
	"-- The name of master's set; if it does not exist yet but the master has a\n" \
	"-- tracking array (written before the sets existed), the set is seeded\n" \
	"-- from that array first, in its order.\n" \
	"local function clients_key(k, master)\n" \
	"    local key = k.list .. master\n" \
	"    if redis.call('EXISTS', key) == 1 then return key end\n" \
	"    local raw = redis.call('HGET', k.tracking, master)\n" \
	"    if not raw then return key end\n" \
	"    local ok, list = pcall(cjson.decode, raw)\n" \
	"    if not ok or type(list) ~= 'table' or #list == 0 then return key end\n" \
	"    local seq = redis.call('INCRBY', k.seq, #list) - #list\n" \
	"    for i, v in ipairs(list) do\n" \
	"        if type(v) == 'string' or type(v) == 'number' then\n" \
	"            redis.call('ZADD', key, 'NX', seq + i, tostring(v))\n" \
	"        end\n" \
	"    end\n" \
	"    return key\n" \
	"end\n" \
	"\n" \
	"-- Add actid to master's clients.  A batch reserves its placement order\n" \
	"-- numbers with one INCR and settles the counter in tracking_done; it\n" \
	"-- checks each master's set and marks it dirty once.\n" \
	"local function tracking_add(k, master, actid)\n" \
	"    k.known = k.known or {}\n" \
	"    local key = k.known[master]\n" \
	"    if key == nil then\n" \
	"        key = clients_key(k, master)\n" \
	"        k.known[master] = key\n" \
	"    end\n" \
	"    if k.seq_next == nil then\n" \
	"        k.seq_next, k.seq_used = redis.call('INCR', k.seq), 0\n" \
	"    end\n" \
	"    if redis.call('ZADD', key, 'NX', k.seq_next + k.seq_used, actid) == 1 then\n" \
	"        k.seq_used = k.seq_used + 1\n" \
	"        k.dirtied = k.dirtied or {}\n" \
	"        if not k.dirtied[master] then\n" \
	"            redis.call('SADD', k.dirty, master)\n" \
	"            k.dirtied[master] = true\n" \
	"        end\n" \
	"    end\n" \
	"end\n" \
	"\n" \
	"-- After the last tracking_add of a script: the order numbers it used.\n" \
	"local function tracking_done(k)\n" \
	"    if k.seq_used ~= nil and k.seq_used > 1 then\n" \
	"        redis.call('INCRBY', k.seq, k.seq_used - 1)\n" \
	"    end\n" \
	"end\n" \
	"\n" \
	"-- Remove actid; the last one removes the tracking field at once (and\n" \
	"-- leaves the master dirty, so tracking_flush forgets it).\n" \
	"local function tracking_remove(k, master, actid)\n" \
	"    local key = clients_key(k, master)\n" \
	"    if k.known then k.known[master] = nil end\n" \
	"    if redis.call('ZREM', key, actid) == 0 then return end\n" \
	"    if redis.call('EXISTS', key) == 0 then\n" \
	"        redis.call('HDEL', k.tracking, master)\n" \
	"    end\n" \
	"    redis.call('SADD', k.dirty, master)\n" \
	"end\n" \
	"\n" \
	"-- Keep the live sets in step with a record: only running instances are live.\n" \
	"local function live_update(live_master, live_client, id, rec)\n" \
	"    redis.call('ZREM', live_master, id)\n" \
	"    redis.call('ZREM', live_client, id)\n" \
	"    if rec and rec.state == 'running' then\n" \
	"        local live = rec.isMasterServer and live_master or live_client\n" \
	"        redis.call('ZADD', live, tonumber(rec.launchOrder) or 0, id)\n" \
	"    end\n" \
	"end\n" \
	"\n" \
	"-- Free an account's place: mapping, count, global counter and, for a\n" \
	"-- client, its master record, spread and tracking entry (the tracking entry\n" \
	"-- also when it was left without a placement).  Publishes the release.\n" \
	"-- With expect (an instance id), only a placement on that instance is\n" \
	"-- freed: one made meanwhile elsewhere stays (compare and delete).\n" \
	"-- 1 if the account was placed (there), else 0.\n" \
	"local function release_account(k, role, actid, master, spread, channel,\n" \
	"    expect)\n" \
	"    local cur = redis.call('HGET', k.mapping, actid)\n" \
	"    if cur and expect and expect ~= '' and cur ~= expect then return 0 end\n" \
	"    if role == 'client' then\n" \
	"        master = redis.call('HGET', k.masters, actid) or master\n" \
	"        redis.call('HDEL', k.masters, actid)\n" \
	"        if master ~= '' then\n" \
	"            tracking_remove(k, master, actid)\n" \
	"            if cur then hash_add(spread .. master, cur, -1, true) end\n" \
	"        end\n" \
	"    end\n" \
	"    if not cur then return 0 end\n" \
	"    redis.call('HDEL', k.mapping, actid)\n" \
	"    count_down(k.counts, k.details, cur)\n" \
	"    hash_add(k.global, role == 'master' and 'masterCount' or 'clientCount',\n" \
	"        -1, false)\n" \
	"    routing_publish(channel, { op = 'release', role = role, actid = actid,\n" \
	"        id = cur })\n" \
	"    return 1\n" \
	"end\n" \
	"\n" \
	"-- The KEYS and ARGV of release, locate and sweep, checked: k, role, actid\n" \
	"-- (sweep: the cursor), master (sweep: the count), spread prefix, channel;\n" \
	"-- or nil.\n" \
	"local function release_args()\n" \
	"    local role, actid = ARGV[1], ARGV[2]\n" \
	"    if (role ~= 'master' and role ~= 'client') or actid == nil or\n" \
	"        actid == '' or ARGV[4] == nil or ARGV[5] == nil or\n" \
	"        ARGV[6] == nil or #KEYS < 8 then\n" \
	"        return nil\n" \
	"    end\n" \
	"    local k = { details = KEYS[1], counts = KEYS[2], mapping = KEYS[3],\n" \
	"        global = KEYS[4], tracking = KEYS[5], masters = KEYS[6],\n" \
	"        dirty = KEYS[7], seq = KEYS[8], list = ARGV[6] }\n" \
	"    return k, role, actid, ARGV[3] or '', ARGV[4], ARGV[5]\n" \
	"end\n"

/*
 * What the two placement scripts share: a batch of accounts is placed in
 * order, one decision each exactly as if one script ran per account, while
 * the live instances, their counts, decoded records and a master's spread
 * are read once per batch and kept in step with the batch's own writes
 * (nothing else runs during a script).
 */
#define SCRIPTS_PLACE_HELPERS \
	"-- The live instances of one role, read once per batch: ids in launch\n" \
	"-- order, live[id], total[id] (accounts), rec[id] (decoded records) and\n" \
	"-- spread[master][id] (clients of master per instance).\n" \
	"local function fleet_new(details, live, counts)\n" \
	"    local ids = redis.call('ZRANGE', live, 0, -1)\n" \
	"    local total = hmget_many(counts, ids)\n" \
	"    local f = { details = details, key = live, counts = counts, ids = ids,\n" \
	"        live = {}, total = {}, rec = {}, spread = {} }\n" \
	"    for i, id in ipairs(ids) do\n" \
	"        f.live[id] = true\n" \
	"        f.total[id] = tonumber(total[i]) or 0\n" \
	"    end\n" \
	"    return f\n" \
	"end\n" \
	"\n" \
	"-- The record of a live id, or nil; a live id without a usable record\n" \
	"-- leaves the live set.\n" \
	"local function fleet_record(f, id)\n" \
	"    if not f.live[id] then return nil end\n" \
	"    local rec = f.rec[id]\n" \
	"    if rec then return rec end\n" \
	"    rec = record(f.details, id)\n" \
	"    if rec then\n" \
	"        f.rec[id] = rec\n" \
	"        return rec\n" \
	"    end\n" \
	"    redis.call('ZREM', f.key, id)\n" \
	"    f.live[id] = nil\n" \
	"    local keep = {}\n" \
	"    for _, i in ipairs(f.ids) do\n" \
	"        if i ~= id then keep[#keep + 1] = i end\n" \
	"    end\n" \
	"    f.ids = keep\n" \
	"    return nil\n" \
	"end\n" \
	"\n" \
	"-- master's clients per live instance (read once per batch).\n" \
	"local function fleet_spread(f, spread, master)\n" \
	"    local t = f.spread[master]\n" \
	"    if t then return t end\n" \
	"    t = {}\n" \
	"    local same = hmget_many(spread .. master, f.ids)\n" \
	"    for i, id in ipairs(f.ids) do t[id] = tonumber(same[i]) or 0 end\n" \
	"    f.spread[master] = t\n" \
	"    return t\n" \
	"end\n" \
	"\n" \
	"-- Add delta to master's clients on id, in Redis and in the batch's view.\n" \
	"local function fleet_spread_add(f, spread, master, id, delta)\n" \
	"    local n = hash_add(spread .. master, id, delta, true)\n" \
	"    if f.spread[master] and f.live[id] then f.spread[master][id] = n end\n" \
	"end\n" \
	"\n" \
	"-- The live instance for a new account: below max, fewest in same (id ->\n" \
	"-- accounts of one master; nil for masters), then fewest in total, then\n" \
	"-- first launched.  id, record or nil.\n" \
	"local function fleet_pick(f, max, same)\n" \
	"    while true do\n" \
	"        local best, best_same, best_total\n" \
	"        for _, id in ipairs(f.ids) do\n" \
	"            local t = f.total[id]\n" \
	"            local s = same and same[id] or 0\n" \
	"            if t < max and (best == nil or s < best_same or\n" \
	"                (s == best_same and t < best_total)) then\n" \
	"                best, best_same, best_total = id, s, t\n" \
	"            end\n" \
	"        end\n" \
	"        if best == nil then return nil end\n" \
	"        local rec = fleet_record(f, best)\n" \
	"        if rec then return best, rec end\n" \
	"    end\n" \
	"end\n" \
	"\n" \
	"-- One account more on id (live) or one fewer on id (any instance).\n" \
	"local function fleet_count_up(f, id)\n" \
	"    f.total[id] = hash_add(f.counts, id, 1, false)\n" \
	"end\n" \
	"local function fleet_count_down(f, id)\n" \
	"    count_down(f.counts, f.details, id)\n" \
	"    if f.live[id] then f.total[id] = math.max(f.total[id] - 1, 0) end\n" \
	"end\n" \
	"\n" \
	"-- The batch's answer for one account.\n" \
	"local function answer(id, rec, how)\n" \
	"    return { id, rec.ip, rec.port, how }\n" \
	"end\n"

static const char scripts_place_master_lua[] =
	SCRIPTS_PRELUDE
	SCRIPTS_PLACE_HELPERS
	"-- place_master: the instances hosting master accounts (SPEC 4), for a\n"
	"-- batch of accounts in order.\n"
	"-- KEYS: 1 instance_details, 2 instance_user_counts, 3 master_mapping,\n"
	"--       4 live:master, 5 global_state\n"
	"-- ARGV: 1 max_per_master, 2 routing channel, 3.. the actids\n"
	"-- Returns {seq, then per actid {id, ip, port, 'existing'|'placed'}, or\n"
	"-- nil when no live master is below max (the account then keeps any\n"
	"-- placement it had)}; seq is the routing sequence when the batch ran.\n"
	"local details, counts, mapping, live, global =\n"
	"    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
	"local max, channel = tonumber(ARGV[1]), ARGV[2]\n"
	"if max == nil or #ARGV < 3 or #KEYS < 5 then\n"
	"    return redis.error_reply('place_master: bad arguments')\n"
	"end\n"
	"for i = 3, #ARGV do\n"
	"    if ARGV[i] == '' then\n"
	"        return redis.error_reply('place_master: bad arguments')\n"
	"    end\n"
	"end\n"
	"\n"
	"local f = fleet_new(details, live, counts)\n"
	"local out, added = { routing_seq(channel) }, 0\n"
	"local function place(actid)\n"
	"    -- Idempotent re-login: still on a live master.\n"
	"    local cur = redis.call('HGET', mapping, actid)\n"
	"    if cur then\n"
	"        local rec = fleet_record(f, cur)\n"
	"        if rec then return answer(cur, rec, 'existing') end\n"
	"    end\n"
	"    local id, rec = fleet_pick(f, max, nil)\n"
	"    if id == nil then return false end\n"
	"    if cur then\n"
	"        -- a move off an instance that is no longer live\n"
	"        fleet_count_down(f, cur)\n"
	"    else\n"
	"        added = added + 1\n"
	"    end\n"
	"    redis.call('HSET', mapping, actid, id)\n"
	"    fleet_count_up(f, id)\n"
	"    return answer(id, rec, 'placed')\n"
	"end\n"
	"for i = 3, #ARGV do out[i - 1] = place(ARGV[i]) end\n"
	"if added > 0 then hash_add(global, 'masterCount', added, false) end\n"
	"return out\n";

static const char scripts_place_client_lua[] =
	SCRIPTS_PRELUDE
	SCRIPTS_PLACE_HELPERS
	"-- place_client: the instances hosting client accounts (SPEC 4), for a\n"
	"-- batch of accounts in order.\n"
	"-- KEYS: 1 instance_details, 2 instance_user_counts, 3 client_mapping,\n"
	"--       4 live:client, 5 global_state, 6 client_master_tracking,\n"
	"--       7 client_master, 8 tracking_dirty, 9 tracking_seq\n"
	"-- ARGV: 1 max_per_client, 2 the client_spread: key prefix, 3 the\n"
	"--       client_list: key prefix (the script appends a master actid: such\n"
	"--       keys are not declared, so this is not Redis Cluster safe; olb uses\n"
	"--       one Redis), 4 routing channel, then pairs: actid, master actid\n"
	"-- Returns {seq, then per account {id, ip, port, 'existing'|'placed'}, or\n"
	"-- nil when no live client instance is below max (the account then keeps\n"
	"-- any placement it had)}; seq is the routing sequence when it ran.\n"
	"local details, counts, mapping, live, global, masters =\n"
	"    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7]\n"
	"local max, spread, channel = tonumber(ARGV[1]), ARGV[2], ARGV[4]\n"
	"if max == nil or spread == nil or ARGV[3] == nil or #ARGV < 6 or\n"
	"    #ARGV % 2 ~= 0 or #KEYS < 9 then\n"
	"    return redis.error_reply('place_client: bad arguments')\n"
	"end\n"
	"for i = 5, #ARGV do\n"
	"    if ARGV[i] == '' then\n"
	"        return redis.error_reply('place_client: bad arguments')\n"
	"    end\n"
	"end\n"
	"local k = { tracking = KEYS[6], dirty = KEYS[8], seq = KEYS[9],\n"
	"    list = ARGV[3] }\n"
	"\n"
	"local f = fleet_new(details, live, counts)\n"
	"local out, added = { routing_seq(channel) }, 0\n"
	"local function place(actid, master)\n"
	"    local cur = redis.call('HGET', mapping, actid)\n"
	"    local old = redis.call('HGET', masters, actid) or master\n"
	"    -- Idempotent re-login; a client that now copies another master moves\n"
	"    -- to that master's books on the same instance.\n"
	"    if cur then\n"
	"        local rec = fleet_record(f, cur)\n"
	"        if rec then\n"
	"            if old ~= master then\n"
	"                fleet_spread_add(f, spread, old, cur, -1)\n"
	"                fleet_spread_add(f, spread, master, cur, 1)\n"
	"                tracking_remove(k, old, actid)\n"
	"                tracking_add(k, master, actid)\n"
	"                redis.call('HSET', masters, actid, master)\n"
	"            end\n"
	"            return answer(cur, rec, 'existing')\n"
	"        end\n"
	"    end\n"
	"    local id, rec = fleet_pick(f, max, fleet_spread(f, spread, master))\n"
	"    if id == nil then return false end\n"
	"    if cur then\n"
	"        -- a move off an instance that is no longer live\n"
	"        fleet_count_down(f, cur)\n"
	"        fleet_spread_add(f, spread, old, cur, -1)\n"
	"        if old ~= master then tracking_remove(k, old, actid) end\n"
	"    else\n"
	"        added = added + 1\n"
	"    end\n"
	"    redis.call('HSET', mapping, actid, id)\n"
	"    redis.call('HSET', masters, actid, master)\n"
	"    fleet_spread_add(f, spread, master, id, 1)\n"
	"    tracking_add(k, master, actid)\n"
	"    fleet_count_up(f, id)\n"
	"    return answer(id, rec, 'placed')\n"
	"end\n"
	"for i = 5, #ARGV, 2 do out[(i - 1) / 2] = place(ARGV[i], ARGV[i + 1]) end\n"
	"tracking_done(k)\n"
	"if added > 0 then hash_add(global, 'clientCount', added, false) end\n"
	"return out\n";

static const char scripts_release_lua[] =
	SCRIPTS_PRELUDE
	"-- release: an account's listener was removed; free its place.\n"
	"-- KEYS: 1 instance_details, 2 instance_user_counts, 3 master_mapping or\n"
	"--       client_mapping (by role), 4 global_state, 5 client_master_tracking,\n"
	"--       6 client_master, 7 tracking_dirty, 8 tracking_seq\n"
	"-- ARGV: 1 'master'|'client', 2 actid, 3 master actid of a client ('' if\n"
	"--       unknown: the recorded one is used first), 4 the client_spread: key\n"
	"--       prefix, 5 routing channel, 6 the client_list: key prefix (both\n"
	"--       not Cluster safe, as in place_client), 7 the instance whose\n"
	"--       listener was removed ('' = wherever it is)\n"
	"-- Returns {1 if the account was placed (on that instance) else 0, the\n"
	"-- routing sequence after it (the release message's number when 1)}.\n"
	"local k, role, actid, master, spread, channel = release_args()\n"
	"if k == nil then return redis.error_reply('release: bad arguments') end\n"
	"local found = release_account(k, role, actid, master, spread, channel,\n"
	"    ARGV[7])\n"
	"return { found, routing_seq(channel) }\n";

static const char scripts_locate_lua[] =
	SCRIPTS_PRELUDE
	"-- locate: the instance an account is placed on, in any state (where its\n"
	"-- remove_user_listener must go).  An account mapped to an instance that no\n"
	"-- longer exists is released here: its listener went with the instance.\n"
	"-- KEYS and ARGV: as release.\n"
	"-- Returns {seq, {id, ip, port, how}}, how 'existing' when the instance is\n"
	"-- live (running), else 'located'; or {seq, nil} if the account is not\n"
	"-- placed.  seq: the routing sequence, as for placements.\n"
	"local k, role, actid, master, spread, channel = release_args()\n"
	"if k == nil then return redis.error_reply('locate: bad arguments') end\n"
	"local cur = redis.call('HGET', k.mapping, actid)\n"
	"if not cur then return { routing_seq(channel), false } end\n"
	"local rec = record(k.details, cur)\n"
	"if rec then\n"
	"    return { routing_seq(channel), { cur, rec.ip, rec.port,\n"
	"        rec.state == 'running' and 'existing' or 'located' } }\n"
	"end\n"
	"if redis.call('HEXISTS', k.details, cur) == 0 then\n"
	"    release_account(k, role, actid, master, spread, channel, cur)\n"
	"end\n"
	"return { routing_seq(channel), false }\n";

static const char scripts_sweep_lua[] =
	SCRIPTS_PRELUDE
	"-- sweep: free the places of accounts whose instance is gone (no record,\n"
	"-- or terminated), a bounded slice of one mapping per call, so the keys of\n"
	"-- accounts that never call again do not stay forever (SPEC 8).  Each is\n"
	"-- released exactly as a remove_user_listener would, on that instance only.\n"
	"-- KEYS: as release.\n"
	"-- ARGV: 1 'master'|'client', 2 HSCAN cursor, 3 HSCAN COUNT, 4-6 as release\n"
	"-- Returns {next cursor ('0': a full round is done), accounts released}.\n"
	"local k, role, cursor, count, spread, channel = release_args()\n"
	"count = tonumber(count)\n"
	"if k == nil or count == nil or count < 1 then\n"
	"    return redis.error_reply('sweep: bad arguments')\n"
	"end\n"
	"local got = redis.call('HSCAN', k.mapping, cursor, 'COUNT', math.floor(count))\n"
	"local gone, released = {}, 0\n"
	"for i = 1, #got[2], 2 do\n"
	"    local actid, id = got[2][i], got[2][i + 1]\n"
	"    if gone[id] == nil then\n"
	"        local raw = redis.call('HGET', k.details, id)\n"
	"        local ok, rec = pcall(cjson.decode, raw or '')\n"
	"        gone[id] = not raw or (ok and type(rec) == 'table' and\n"
	"            rec.state == 'terminated')\n"
	"    end\n"
	"    if gone[id] then\n"
	"        released = released + release_account(k, role, actid, '', spread,\n"
	"            channel, id)\n"
	"    end\n"
	"end\n"
	"return { got[1], released }\n";

static const char scripts_check_lua[] =
	"-- check: the invariants of SPEC 4 and 8 over the placement keys, read in\n"
	"-- one atomic snapshot (olbctl check; the system tests run it after every\n"
	"-- test that places accounts).  Read only; O(accounts), so it holds Redis\n"
	"-- for about a millisecond per thousand accounts: an operator's command.\n"
	"-- KEYS: 1 instance_details, 2 instance_user_counts, 3 master_mapping,\n"
	"--       4 client_mapping, 5 client_master, 6 global_state,\n"
	"--       7 client_master_tracking, 8 tracking_dirty, 9 live:master,\n"
	"--       10 live:client\n"
	"-- ARGV: 1 the client_spread: prefix, 2 the client_list: prefix,\n"
	"--       3 max_per_master, 4 max_per_client (0: not checked)\n"
	"-- Returns {masters, clients, instances, difference, ...}: each\n"
	"-- difference one line of text; none when everything agrees.\n"
	"local spread, list = ARGV[1], ARGV[2]\n"
	"local cap = { master = tonumber(ARGV[3]) or 0,\n"
	"    client = tonumber(ARGV[4]) or 0 }\n"
	"if spread == nil or list == nil or #KEYS < 10 then\n"
	"    return redis.error_reply('check: bad arguments')\n"
	"end\n"
	"local out = {}\n"
	"local function diff(...) out[#out + 1] = string.format(...) end\n"
	"local function hash(key)\n"
	"    local t, raw = {}, redis.call('HGETALL', key)\n"
	"    for i = 1, #raw, 2 do t[raw[i]] = raw[i + 1] end\n"
	"    return t\n"
	"end\n"
	"local function size(t)\n"
	"    local n = 0\n"
	"    for _ in pairs(t) do n = n + 1 end\n"
	"    return n\n"
	"end\n"
	"local recs, ninst = {}, 0\n"
	"for id, raw in pairs(hash(KEYS[1])) do\n"
	"    local ok, rec = pcall(cjson.decode, raw)\n"
	"    if ok and type(rec) == 'table' then recs[id] = rec\n"
	"    else diff('instance %s: its record is not a JSON object', id) end\n"
	"    ninst = ninst + 1\n"
	"end\n"
	"local counts = hash(KEYS[2])\n"
	"local mapping = { master = hash(KEYS[3]), client = hash(KEYS[4]) }\n"
	"local masters_of = hash(KEYS[5])\n"
	"local mapped, on = {}, {}\n"
	"for role, m in pairs(mapping) do\n"
	"    for actid, id in pairs(m) do\n"
	"        mapped[id] = (mapped[id] or 0) + 1\n"
	"        local rec = recs[id]\n"
	"        if rec and (rec.isMasterServer == true) ~= (role == 'master') then\n"
	"            diff('%s %s is placed on %s, an instance of the other role',\n"
	"                role, actid, id)\n"
	"        end\n"
	"        on[role .. ' ' .. actid] = id\n"
	"    end\n"
	"end\n"
	"-- counts = accounts mapped, and no instance above its cap\n"
	"local ids = {}\n"
	"for id in pairs(counts) do ids[id] = true end\n"
	"for id in pairs(mapped) do ids[id] = true end\n"
	"for id in pairs(ids) do\n"
	"    local c, m = tonumber(counts[id]), mapped[id] or 0\n"
	"    if counts[id] == nil and recs[id] then\n"
	"        diff('instance %s: no count, %d accounts mapped', id, m)\n"
	"    elseif counts[id] ~= nil and c ~= m then\n"
	"        diff('instance %s: count %s, %d accounts mapped', id, counts[id], m)\n"
	"    end\n"
	"    if recs[id] == nil and m > 0 then\n"
	"        diff('instance %s is gone, %d accounts still mapped to it', id, m)\n"
	"    elseif recs[id] == nil and counts[id] ~= nil then\n"
	"        diff('instance %s is gone, its count field stays', id)\n"
	"    end\n"
	"    local rec = recs[id]\n"
	"    local role = rec and (rec.isMasterServer and 'master' or 'client')\n"
	"    if role and cap[role] > 0 and m > cap[role] then\n"
	"        diff('instance %s: %d accounts, above the cap of %d', id, m, cap[role])\n"
	"    end\n"
	"end\n"
	"-- clients: a master each; the sets, spreads and arrays agree\n"
	"local clients_of = {}\n"
	"for actid in pairs(mapping.client) do\n"
	"    local m = masters_of[actid]\n"
	"    if m == nil then diff('client %s has no master recorded', actid)\n"
	"    else\n"
	"        clients_of[m] = clients_of[m] or {}\n"
	"        clients_of[m][actid] = true\n"
	"    end\n"
	"end\n"
	"for actid, m in pairs(masters_of) do\n"
	"    if mapping.client[actid] == nil then\n"
	"        diff('client %s: master %s recorded, but not placed', actid, m)\n"
	"    end\n"
	"end\n"
	"local dirty = {}\n"
	"for _, m in ipairs(redis.call('SMEMBERS', KEYS[8])) do dirty[m] = true end\n"
	"local tracking = hash(KEYS[7])\n"
	"for m, set in pairs(clients_of) do\n"
	"    local members = redis.call('ZRANGE', list .. m, 0, -1)\n"
	"    local inlist = {}\n"
	"    for _, c in ipairs(members) do\n"
	"        inlist[c] = true\n"
	"        if not set[c] then diff('master %s: %s listed, not its client', m, c) end\n"
	"    end\n"
	"    local per = {}\n"
	"    for c in pairs(set) do\n"
	"        if not inlist[c] then diff('master %s: client %s not listed', m, c) end\n"
	"        local id = mapping.client[c]\n"
	"        per[id] = (per[id] or 0) + 1\n"
	"    end\n"
	"    local sp = hash(spread .. m)\n"
	"    for id, n in pairs(per) do\n"
	"        if tonumber(sp[id]) ~= n then\n"
	"            diff('master %s: spread on %s is %s, %d clients there', m, id,\n"
	"                tostring(sp[id]), n)\n"
	"        end\n"
	"    end\n"
	"    for id, n in pairs(sp) do\n"
	"        if per[id] == nil then\n"
	"            diff('master %s: spread on %s is %s, no client there', m, id, n)\n"
	"        end\n"
	"    end\n"
	"    if not dirty[m] then\n"
	"        local ok, arr = pcall(cjson.decode, tracking[m] or '[]')\n"
	"        local seen, n = {}, 0\n"
	"        if ok and type(arr) == 'table' then\n"
	"            for _, c in ipairs(arr) do\n"
	"                c = tostring(c)\n"
	"                if seen[c] then diff('master %s: %s twice in tracking', m, c) end\n"
	"                seen[c], n = true, n + 1\n"
	"                if not set[c] then\n"
	"                    diff('master %s: tracking holds %s, not its client', m, c)\n"
	"                end\n"
	"            end\n"
	"        end\n"
	"        for c in pairs(set) do\n"
	"            if not seen[c] then diff('master %s: %s missing from tracking', m, c) end\n"
	"        end\n"
	"    end\n"
	"end\n"
	"for m in pairs(tracking) do\n"
	"    if clients_of[m] == nil and not dirty[m] then\n"
	"        diff('master %s: a tracking array, but no clients', m)\n"
	"    end\n"
	"end\n"
	"-- keys of masters without clients must be gone\n"
	"for _, prefix in ipairs({ spread, list }) do\n"
	"    local cursor = '0'\n"
	"    repeat\n"
	"        local got = redis.call('SCAN', cursor, 'MATCH', prefix .. '*',\n"
	"            'COUNT', 1000)\n"
	"        cursor = got[1]\n"
	"        for _, key in ipairs(got[2]) do\n"
	"            if clients_of[string.sub(key, #prefix + 1)] == nil then\n"
	"                diff('%s: left behind, no clients', key)\n"
	"            end\n"
	"        end\n"
	"    until cursor == '0'\n"
	"end\n"
	"-- the global counters, and the live sets against the states\n"
	"local global = hash(KEYS[6])\n"
	"local nm, nc = size(mapping.master), size(mapping.client)\n"
	"if (tonumber(global.masterCount) or 0) ~= nm then\n"
	"    diff('masterCount %s, %d masters mapped', tostring(global.masterCount), nm)\n"
	"end\n"
	"if (tonumber(global.clientCount) or 0) ~= nc then\n"
	"    diff('clientCount %s, %d clients mapped', tostring(global.clientCount), nc)\n"
	"end\n"
	"for i, role in ipairs({ 'master', 'client' }) do\n"
	"    local live = {}\n"
	"    for _, id in ipairs(redis.call('ZRANGE', KEYS[8 + i], 0, -1)) do\n"
	"        live[id] = true\n"
	"        local rec = recs[id]\n"
	"        if rec == nil or rec.state ~= 'running' or\n"
	"            (rec.isMasterServer == true) ~= (role == 'master') then\n"
	"            diff('instance %s: live for %s accounts, but not a running %s',\n"
	"                id, role, role)\n"
	"        end\n"
	"    end\n"
	"    for id, rec in pairs(recs) do\n"
	"        if rec.state == 'running' and (rec.isMasterServer == true) ==\n"
	"            (role == 'master') and not live[id] then\n"
	"            diff('instance %s: running, but takes no %s accounts', id, role)\n"
	"        end\n"
	"    end\n"
	"end\n"
	"table.sort(out)\n"
	"table.insert(out, 1, ninst)\n"
	"table.insert(out, 1, nc)\n"
	"table.insert(out, 1, nm)\n"
	"return out\n";

/* Clients one tracking_flush call writes at most (unless one master has
 * more): a few milliseconds of Redis. */
#define SCRIPTS_TRACKING_BUDGET	"4096"

static const char scripts_tracking_flush_lua[] =
	"-- tracking_flush: rebuild the tracking arrays of up to max masters taken\n"
	"-- from the dirty set, each from its client_list set in placement order\n"
	"-- (no prelude: it needs none).  SPOP hands each master to one caller.  A\n"
	"-- master with n clients is rebuilt at most once per n * per_client ms\n"
	"-- (tracking_built holds when it last was); one rebuilt sooner goes back\n"
	"-- to the dirty set.  So a rebuild costs O(n) at most every O(n) ms.  One\n"
	"-- call writes about budget clients at most (a bigger master alone), so it\n"
	"-- never holds Redis for long; the rest waits for the next call.\n"
	"-- KEYS: 1 client_master_tracking, 2 tracking_dirty, 3 tracking_built\n"
	"-- ARGV: 1 the client_list: key prefix, 2 max, 3 per_client (ms), 4 budget\n"
	"-- Returns the number of masters rebuilt (or removed: no clients left).\n"
	"local tracking, dirty, built = KEYS[1], KEYS[2], KEYS[3]\n"
	"local list, max, per = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local budget = tonumber(ARGV[4])\n"
	"if list == nil or max == nil or max < 1 or per == nil or budget == nil or\n"
	"    built == nil then\n"
	"    return redis.error_reply('tracking_flush: bad arguments')\n"
	"end\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local masters = redis.call('SPOP', dirty, math.floor(max))\n"
	"local later, rebuilt, entries = {}, 0, 0\n"
	"for _, master in ipairs(masters) do\n"
	"    local n = redis.call('ZCARD', list .. master)\n"
	"    local last = tonumber(redis.call('HGET', built, master)) or 0\n"
	"    if entries > 0 and entries + n > budget then\n"
	"        later[#later + 1] = master  -- this call has done its share\n"
	"    elseif n == 0 then\n"
	"        redis.call('HDEL', tracking, master)\n"
	"        redis.call('HDEL', built, master)\n"
	"        rebuilt = rebuilt + 1\n"
	"    elseif now >= last and now - last < n * per then\n"
	"        later[#later + 1] = master\n"
	"    else\n"
	"        redis.call('HSET', tracking, master,\n"
	"            cjson.encode(redis.call('ZRANGE', list .. master, 0, -1)))\n"
	"        redis.call('HSET', built, master, now)\n"
	"        rebuilt, entries = rebuilt + 1, entries + n\n"
	"    end\n"
	"end\n"
	"for _, master in ipairs(later) do redis.call('SADD', dirty, master) end\n"
	"return rebuilt\n";

static const char scripts_instance_put_lua[] =
	SCRIPTS_PRELUDE
	"-- instance_put: create or replace an instance record.\n"
	"-- KEYS: 1 instance_details, 2 instance_user_counts, 3 live:master,\n"
	"--       4 live:client, 5 launch_seq\n"
	"-- ARGV: 1 id ('' = assign 'inst-<launch_seq>'), 2 record JSON (SPEC 8:\n"
	"--       isMasterServer, serverName, ip, port, state, provider, launchedAt;\n"
	"--       other members are kept), 3 routing channel\n"
	"-- Fenced (the scaler): KEYS 6 its lease, ARGV 4 its token.\n"
	"-- Returns {id, launchOrder}.  launchOrder comes from the record, else from\n"
	"-- the record it replaces, else from launch_seq; launchedAt likewise, else now.\n"
	"-- stateSince (ms) is kept while the state stays, else set to now.\n"
	"local details, counts, live_master, live_client, seq =\n"
	"    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
	"local id, channel = ARGV[1], ARGV[3]\n"
	"local refused = fence_refused(KEYS[6], ARGV[4])\n"
	"if refused then return refused end\n"
	"local ok, rec = pcall(cjson.decode, ARGV[2] or '')\n"
	"if not ok or type(rec) ~= 'table' or id == nil or #id > 63 or\n"
	"    channel == nil then\n"
	"    return redis.error_reply('instance_put: bad arguments')\n"
	"end\n"
	"local port = tonumber(rec.port)\n"
	"if type(rec.isMasterServer) ~= 'boolean' or type(rec.ip) ~= 'string' or\n"
	"    rec.ip == '' or #rec.ip > 63 or port == nil or port < 1 or\n"
	"    port > 65535 or port % 1 ~= 0 then\n"
	"    return redis.error_reply('instance_put: need isMasterServer, ip, port')\n"
	"end\n"
	"if not STATES[rec.state] then\n"
	"    return redis.error_reply('instance_put: bad state')\n"
	"end\n"
	"\n"
	"local order = tonumber(rec.launchOrder)\n"
	"if id == '' then\n"
	"    local n = redis.call('INCR', seq)\n"
	"    id, order = 'inst-' .. n, order or n\n"
	"end\n"
	"local old = record(details, id) or {}\n"
	"order = order or tonumber(old.launchOrder) or redis.call('INCR', seq)\n"
	"rec.id, rec.port, rec.launchOrder = id, port, order\n"
	"local now = now_ms()\n"
	"if tonumber(rec.launchedAt) == nil then\n"
	"    rec.launchedAt = tonumber(old.launchedAt) or now\n"
	"end\n"
	"if old.state == rec.state and tonumber(old.stateSince) then\n"
	"    rec.stateSince = tonumber(old.stateSince)\n"
	"else\n"
	"    rec.stateSince = now\n"
	"end\n"
	"if type(rec.serverName) ~= 'string' or rec.serverName == '' then\n"
	"    rec.serverName = id\n"
	"end\n"
	"\n"
	"redis.call('HSET', details, id, cjson.encode(rec))\n"
	"redis.call('HSETNX', counts, id, 0)\n"
	"live_update(live_master, live_client, id, rec)\n"
	"routing_publish(channel, { op = 'instance', id = id, state = rec.state })\n"
	"return { id, order }\n";

static const char scripts_instance_state_lua[] =
	SCRIPTS_PRELUDE
	"-- instance_state: change the state of an instance (health, scaler, olbctl).\n"
	"-- KEYS: 1 instance_details, 2 live:master, 3 live:client\n"
	"-- ARGV: 1 id, 2 state, 3 routing channel, 4 the state it must be in\n"
	"--       ('' = any)\n"
	"-- Fenced (the scaler): KEYS 4 its lease, ARGV 5 its token.\n"
	"-- Returns the previous state (the current one, unchanged, when it is not\n"
	"-- ARGV 4), or nil if there is no such instance.  A change of state sets\n"
	"-- stateSince (ms).\n"
	"local details, live_master, live_client = KEYS[1], KEYS[2], KEYS[3]\n"
	"local id, state, channel = ARGV[1], ARGV[2], ARGV[3]\n"
	"if id == nil or not STATES[state] or channel == nil then\n"
	"    return redis.error_reply('instance_state: bad arguments')\n"
	"end\n"
	"local refused = fence_refused(KEYS[4], ARGV[5])\n"
	"if refused then return refused end\n"
	"local raw = redis.call('HGET', details, id)\n"
	"if not raw then return false end\n"
	"local ok, rec = pcall(cjson.decode, raw)\n"
	"if not ok or type(rec) ~= 'table' then\n"
	"    return redis.error_reply('instance_state: record of ' .. id ..\n"
	"        ' is not a JSON object')\n"
	"end\n"
	"local previous = tostring(rec.state)\n"
	"if ARGV[4] and ARGV[4] ~= '' and ARGV[4] ~= previous then\n"
	"    return previous\n"
	"end\n"
	"if previous ~= state or tonumber(rec.stateSince) == nil then\n"
	"    rec.stateSince = now_ms()\n"
	"end\n"
	"rec.state = state\n"
	"redis.call('HSET', details, id, cjson.encode(rec))\n"
	"live_update(live_master, live_client, id, rec)\n"
	"routing_publish(channel, { op = 'instance', id = id, state = state })\n"
	"return previous\n";

static const char scripts_instance_remove_lua[] =
	SCRIPTS_PRELUDE
	"-- instance_remove: forget an instance.  Accounts still mapped to it are\n"
	"-- placed again on their next call, as it is not live; its count field stays\n"
	"-- until they have moved (so a count always equals the accounts mapped).\n"
	"-- KEYS: 1 instance_details, 2 instance_user_counts, 3 live:master,\n"
	"--       4 live:client\n"
	"-- ARGV: 1 id, 2 routing channel\n"
	"-- Fenced (the scaler): KEYS 5 its lease, ARGV 3 its token.\n"
	"-- Returns 1 if it existed, 0 if not.\n"
	"local details, counts, live_master, live_client =\n"
	"    KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
	"local id, channel = ARGV[1], ARGV[2]\n"
	"if id == nil or channel == nil then\n"
	"    return redis.error_reply('instance_remove: bad arguments')\n"
	"end\n"
	"local refused = fence_refused(KEYS[5], ARGV[3])\n"
	"if refused then return refused end\n"
	"live_update(live_master, live_client, id, nil)\n"
	"if redis.call('HDEL', details, id) == 0 then return 0 end\n"
	"if hash_int(counts, id) <= 0 then redis.call('HDEL', counts, id) end\n"
	"routing_publish(channel, { op = 'instance', id = id, state = 'removed' })\n"
	"return 1\n";

static const char scripts_lease_lua[] =
	SCRIPTS_PRELUDE
	"-- lease: the lease of a singleton duty (the scaler, SPEC 2).  The token is\n"
	"-- '<holder>#<fence>', the fence a counter that only grows, so a write made\n"
	"-- under an old lease can always be told apart (fence_refused).\n"
	"-- KEYS: 1 the lease, 2 its fence counter\n"
	"-- ARGV: 1 holder ('host:pid'), 2 ttl ms, 3 'take' or 'drop', 4 the token\n"
	"--       the caller holds (or a dead holder's it may replace), or ''\n"
	"-- take: renew the lease held with ARGV 4 by this holder; else acquire it\n"
	"-- when free or still held with ARGV 4 (a dead holder's).  drop: release it\n"
	"-- if held with ARGV 4.\n"
	"-- Returns {token or '', 'acquired'|'renewed'|'held'|'released',\n"
	"--          the current holder's token or ''}.\n"
	"local lease, fence = KEYS[1], KEYS[2]\n"
	"local holder, ttl, op, mine = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]\n"
	"if holder == nil or holder == '' or ttl == nil or ttl < 1 or\n"
	"    (op ~= 'take' and op ~= 'drop') or mine == nil then\n"
	"    return redis.error_reply('lease: bad arguments')\n"
	"end\n"
	"local cur = redis.call('GET', lease)\n"
	"if op == 'drop' then\n"
	"    if cur and mine ~= '' and cur == mine then\n"
	"        redis.call('DEL', lease)\n"
	"        return { '', 'released', '' }\n"
	"    end\n"
	"    return { '', 'held', cur or '' }\n"
	"end\n"
	"if cur and mine ~= '' and cur == mine and\n"
	"    string.sub(cur, 1, #holder + 1) == holder .. '#' then\n"
	"    redis.call('PEXPIRE', lease, math.floor(ttl))\n"
	"    return { cur, 'renewed', cur }\n"
	"end\n"
	"if cur and cur ~= mine then return { '', 'held', cur } end\n"
	"local token = holder .. '#' .. redis.call('INCR', fence)\n"
	"redis.call('SET', lease, token, 'PX', math.floor(ttl))\n"
	"return { token, 'acquired', token }\n";

static const char scripts_fleet_lua[] =
	SCRIPTS_PRELUDE
	"-- fleet: the scaler's writes to the desired fleet and to its launch\n"
	"-- reservations, each refused unless it still holds the scaler lease.\n"
	"-- KEYS: 1 the scaler lease, 2 fleet, 3 launches, 4 name counters\n"
	"-- ARGV: 1 lease token, 2 op, then:\n"
	"--   reserve: 3 launch token, 4 role, 5 record JSON -> the name given\n"
	"--            (Master_Listener-N / Client_Listener-N; the same name again\n"
	"--            for a token already reserved)\n"
	"--   forget:  3 launch token -> 1 | 0\n"
	"--   desire:  3.. field, value pairs set on fleet -> 1\n"
	"local lease, fleet, launches, names = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
	"local token, op = ARGV[1], ARGV[2]\n"
	"local refused = fence_refused(lease, token)\n"
	"if refused then return refused end\n"
	"if op == 'reserve' then\n"
	"    local launch, role = ARGV[3], ARGV[4]\n"
	"    local ok, rec = pcall(cjson.decode, ARGV[5] or '')\n"
	"    if launch == nil or launch == '' or\n"
	"        (role ~= 'master' and role ~= 'client') or not ok or\n"
	"        type(rec) ~= 'table' then\n"
	"        return redis.error_reply('fleet: bad reserve arguments')\n"
	"    end\n"
	"    local raw = redis.call('HGET', launches, launch)\n"
	"    if raw then\n"
	"        local okk, old = pcall(cjson.decode, raw)\n"
	"        if okk and type(old) == 'table' and type(old.name) == 'string' then\n"
	"            return old.name\n"
	"        end\n"
	"    end\n"
	"    local n = redis.call('HINCRBY', names, role, 1)\n"
	"    rec.name = (role == 'master' and 'Master_Listener-' or\n"
	"        'Client_Listener-') .. n\n"
	"    rec.role, rec.reservedAt = role, now_ms()\n"
	"    redis.call('HSET', launches, launch, cjson.encode(rec))\n"
	"    return rec.name\n"
	"elseif op == 'forget' then\n"
	"    if ARGV[3] == nil then\n"
	"        return redis.error_reply('fleet: bad forget arguments')\n"
	"    end\n"
	"    return redis.call('HDEL', launches, ARGV[3])\n"
	"elseif op == 'desire' then\n"
	"    if #ARGV < 4 or #ARGV % 2 ~= 0 then\n"
	"        return redis.error_reply('fleet: bad desire arguments')\n"
	"    end\n"
	"    for i = 3, #ARGV, 2 do\n"
	"        redis.call('HSET', fleet, ARGV[i], ARGV[i + 1])\n"
	"    end\n"
	"    return 1\n"
	"end\n"
	"return redis.error_reply('fleet: unknown op')\n";

static struct {
	const char	*name;
	const char	*source;
	char		 sha[41];
} scripts[SCRIPTS_COUNT] = {
	[SCRIPTS_PLACE_MASTER] = { "place_master", scripts_place_master_lua, "" },
	[SCRIPTS_PLACE_CLIENT] = { "place_client", scripts_place_client_lua, "" },
	[SCRIPTS_RELEASE] = { "release", scripts_release_lua, "" },
	[SCRIPTS_LOCATE] = { "locate", scripts_locate_lua, "" },
	[SCRIPTS_TRACKING_FLUSH] = { "tracking_flush", scripts_tracking_flush_lua,
	    "" },
	[SCRIPTS_INSTANCE_PUT] = { "instance_put", scripts_instance_put_lua, "" },
	[SCRIPTS_INSTANCE_STATE] = { "instance_state", scripts_instance_state_lua,
	    "" },
	[SCRIPTS_INSTANCE_REMOVE] = { "instance_remove",
	    scripts_instance_remove_lua, "" },
	[SCRIPTS_LEASE] = { "lease", scripts_lease_lua, "" },
	[SCRIPTS_FLEET] = { "fleet", scripts_fleet_lua, "" },
	[SCRIPTS_SWEEP] = { "sweep", scripts_sweep_lua, "" },
	[SCRIPTS_CHECK] = { "check", scripts_check_lua, "" },
};

static int	scripts_ready;

int
scripts_init(void)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	if (scripts_ready)
		return 0;
	for (int i = 0; i < SCRIPTS_COUNT; i++) {
		if (EVP_Digest(scripts[i].source, strlen(scripts[i].source), md,
		    &len, EVP_sha1(), NULL) != 1 || len != 20)
			return -1;
		for (unsigned int j = 0; j < len; j++)
			snprintf(scripts[i].sha + 2 * j, 3, "%02x", md[j]);
	}
	scripts_ready = 1;
	return 0;
}

const char *
scripts_name(enum scripts_id id)
{
	return (unsigned int)id < SCRIPTS_COUNT ? scripts[id].name : "?";
}

const char *
scripts_source(enum scripts_id id)
{
	return (unsigned int)id < SCRIPTS_COUNT ? scripts[id].source : "";
}

const char *
scripts_sha(enum scripts_id id)
{
	return (unsigned int)id < SCRIPTS_COUNT ? scripts[id].sha : "";
}

int
scripts_state_valid(const char *state)
{
	static const char *const states[] = { "pending", "running", "unhealthy",
	    "draining", "terminating", "terminated" };

	if (state == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(state, states[i]) == 0)
			return 1;
	return 0;
}

/* Start c as "EVALSHA <sha> <nkeys>".  0, or -1 before keys_init or if the
 * digests cannot be computed. */
static int
scripts_call_begin(struct scripts_call *c, enum scripts_id id, int nkeys)
{
	memset(c, 0, sizeof(*c));
	if (scripts_init() == -1 || keys_instance_details()[0] == '\0')
		return -1;
	c->id = id;
	snprintf(c->numkeys, sizeof(c->numkeys), "%d", nkeys);
	c->argv[0] = "EVALSHA";
	c->argv[1] = scripts[id].sha;
	c->argv[2] = c->numkeys;
	c->argc = 3;
	for (int i = 0; i < 3; i++)
		c->argvlen[i] = strlen(c->argv[i]);
	return 0;
}

/* Append one key or argument; NULL is refused.  0 or -1. */
static int
scripts_call_push(struct scripts_call *c, const char *s)
{
	if (s == NULL || c->argc == SCRIPTS_ARGV_MAX)
		return -1;
	c->argv[c->argc] = s;
	c->argvlen[c->argc] = strlen(s);
	c->argc++;
	return 0;
}

static int
scripts_nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int
scripts_call_place_masters(struct scripts_call *c, long long max_per_master,
    const char *const *actids, size_t n)
{
	if (n == 0 || n > SCRIPTS_BATCH_MAX ||
	    scripts_call_begin(c, SCRIPTS_PLACE_MASTER, 5) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", max_per_master);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_master_mapping());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, c->number);
	scripts_call_push(c, keys_routing_channel());
	for (size_t i = 0; i < n; i++)
		if (!scripts_nonempty(actids[i]) ||
		    scripts_call_push(c, actids[i]) == -1)
			return -1;
	return 0;
}

int
scripts_call_place_clients(struct scripts_call *c, long long max_per_client,
    const char *const *actids, const char *const *masters, size_t n)
{
	if (n == 0 || n > SCRIPTS_BATCH_MAX ||
	    scripts_call_begin(c, SCRIPTS_PLACE_CLIENT, 9) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", max_per_client);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_client_mapping());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, keys_client_master_tracking());
	scripts_call_push(c, keys_client_master());
	scripts_call_push(c, keys_tracking_dirty());
	scripts_call_push(c, keys_tracking_seq());
	scripts_call_push(c, c->number);
	scripts_call_push(c, keys_client_spread_prefix());
	scripts_call_push(c, keys_client_list_prefix());
	scripts_call_push(c, keys_routing_channel());
	for (size_t i = 0; i < n; i++)
		if (!scripts_nonempty(actids[i]) || !scripts_nonempty(masters[i]) ||
		    scripts_call_push(c, actids[i]) == -1 ||
		    scripts_call_push(c, masters[i]) == -1)
			return -1;
	return 0;
}

int
scripts_call_place_master(struct scripts_call *c, const char *actid,
    long long max_per_master)
{
	return scripts_call_place_masters(c, max_per_master, &actid, 1);
}

int
scripts_call_place_client(struct scripts_call *c, const char *actid,
    const char *master, long long max_per_client)
{
	return scripts_call_place_clients(c, max_per_client, &actid, &master, 1);
}

/* release, locate and sweep take the same KEYS and ARGV (sweep: cursor and
 * count in place of actid and master). */
static int
scripts_call_account(struct scripts_call *c, enum scripts_id id,
    const char *role, const char *actid, const char *master)
{
	int is_master;

	if (role == NULL || (strcmp(role, "master") != 0 &&
	    strcmp(role, "client") != 0) || !scripts_nonempty(actid) ||
	    scripts_call_begin(c, id, 8) == -1)
		return -1;
	is_master = strcmp(role, "master") == 0;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, is_master ? keys_master_mapping() :
	    keys_client_mapping());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, keys_client_master_tracking());
	scripts_call_push(c, keys_client_master());
	scripts_call_push(c, keys_tracking_dirty());
	scripts_call_push(c, keys_tracking_seq());
	scripts_call_push(c, role);
	scripts_call_push(c, actid);
	scripts_call_push(c, master != NULL ? master : "");
	scripts_call_push(c, keys_client_spread_prefix());
	scripts_call_push(c, keys_routing_channel());
	return scripts_call_push(c, keys_client_list_prefix());
}

int
scripts_call_release(struct scripts_call *c, const char *role,
    const char *actid, const char *master, const char *instance)
{
	if (scripts_call_account(c, SCRIPTS_RELEASE, role, actid, master) == -1)
		return -1;
	return scripts_call_push(c, instance != NULL ? instance : "");
}

int
scripts_call_sweep(struct scripts_call *c, const char *role,
    const char *cursor, int count)
{
	if (count < 1 ||
	    scripts_call_account(c, SCRIPTS_SWEEP, role, cursor, "") == -1)
		return -1;
	/* the count stands where a release has the master (ARGV 3) */
	snprintf(c->number2, sizeof(c->number2), "%d", count);
	c->argv[c->argc - 4] = c->number2;
	c->argvlen[c->argc - 4] = strlen(c->number2);
	return 0;
}

int
scripts_call_locate(struct scripts_call *c, const char *role,
    const char *actid, const char *master)
{
	return scripts_call_account(c, SCRIPTS_LOCATE, role, actid, master);
}

int
scripts_call_check(struct scripts_call *c, long long max_per_master,
    long long max_per_client)
{
	if (scripts_call_begin(c, SCRIPTS_CHECK, 10) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", max_per_master);
	snprintf(c->number2, sizeof(c->number2), "%lld", max_per_client);
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_master_mapping());
	scripts_call_push(c, keys_client_mapping());
	scripts_call_push(c, keys_client_master());
	scripts_call_push(c, keys_global_state());
	scripts_call_push(c, keys_client_master_tracking());
	scripts_call_push(c, keys_tracking_dirty());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_client_spread_prefix());
	scripts_call_push(c, keys_client_list_prefix());
	scripts_call_push(c, c->number);
	return scripts_call_push(c, c->number2);
}

int
scripts_call_tracking_flush(struct scripts_call *c, int max, int per_client_ms)
{
	if (max < 1 || per_client_ms < 0 ||
	    scripts_call_begin(c, SCRIPTS_TRACKING_FLUSH, 3) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%d", max);
	snprintf(c->number2, sizeof(c->number2), "%d", per_client_ms);
	scripts_call_push(c, keys_client_master_tracking());
	scripts_call_push(c, keys_tracking_dirty());
	scripts_call_push(c, keys_tracking_built());
	scripts_call_push(c, keys_client_list_prefix());
	scripts_call_push(c, c->number);
	scripts_call_push(c, c->number2);
	return scripts_call_push(c, SCRIPTS_TRACKING_BUDGET);
}

int
scripts_call_instance_put(struct scripts_call *c, const char *id,
    const char *json)
{
	if (id == NULL || !scripts_nonempty(json) ||
	    scripts_call_begin(c, SCRIPTS_INSTANCE_PUT, 5) == -1)
		return -1;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, keys_launch_seq());
	scripts_call_push(c, id);
	scripts_call_push(c, json);
	return scripts_call_push(c, keys_routing_channel());
}

int
scripts_call_instance_state(struct scripts_call *c, const char *id,
    const char *state)
{
	return scripts_call_instance_move(c, id, "", state);
}

int
scripts_call_instance_move(struct scripts_call *c, const char *id,
    const char *from, const char *state)
{
	if (!scripts_nonempty(id) || !scripts_state_valid(state) ||
	    from == NULL || (from[0] != '\0' && !scripts_state_valid(from)) ||
	    scripts_call_begin(c, SCRIPTS_INSTANCE_STATE, 3) == -1)
		return -1;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, id);
	scripts_call_push(c, state);
	scripts_call_push(c, keys_routing_channel());
	return scripts_call_push(c, from);
}

int
scripts_call_instance_remove(struct scripts_call *c, const char *id)
{
	if (!scripts_nonempty(id) ||
	    scripts_call_begin(c, SCRIPTS_INSTANCE_REMOVE, 4) == -1)
		return -1;
	scripts_call_push(c, keys_instance_details());
	scripts_call_push(c, keys_instance_user_counts());
	scripts_call_push(c, keys_live_master());
	scripts_call_push(c, keys_live_client());
	scripts_call_push(c, id);
	return scripts_call_push(c, keys_routing_channel());
}

int
scripts_call_fence(struct scripts_call *c, const char *lease_key,
    const char *token)
{
	int nkeys = atoi(c->numkeys), at = 3 + nkeys;

	if ((c->id != SCRIPTS_INSTANCE_PUT && c->id != SCRIPTS_INSTANCE_STATE &&
	    c->id != SCRIPTS_INSTANCE_REMOVE) || !scripts_nonempty(lease_key) ||
	    !scripts_nonempty(token) || c->argc + 2 > SCRIPTS_ARGV_MAX ||
	    nkeys < 1 || nkeys > 98 || at > c->argc)
		return -1;
	memmove(&c->argv[at + 1], &c->argv[at],
	    (size_t)(c->argc - at) * sizeof(c->argv[0]));
	memmove(&c->argvlen[at + 1], &c->argvlen[at],
	    (size_t)(c->argc - at) * sizeof(c->argvlen[0]));
	c->argv[at] = lease_key;
	c->argvlen[at] = strlen(lease_key);
	c->argc++;
	snprintf(c->numkeys, sizeof(c->numkeys), "%u",
	    (unsigned int)(nkeys + 1) % 100);	/* nkeys < 99, checked */
	c->argvlen[2] = strlen(c->numkeys);
	return scripts_call_push(c, token);
}

int
scripts_call_lease(struct scripts_call *c, const char *lease_key,
    const char *fence_key, const char *holder, long long ttl_ms,
    const char *op, const char *mine)
{
	if (!scripts_nonempty(lease_key) || !scripts_nonempty(fence_key) ||
	    !scripts_nonempty(holder) || ttl_ms < 1 || op == NULL ||
	    mine == NULL || scripts_call_begin(c, SCRIPTS_LEASE, 2) == -1)
		return -1;
	snprintf(c->number, sizeof(c->number), "%lld", ttl_ms);
	scripts_call_push(c, lease_key);
	scripts_call_push(c, fence_key);
	scripts_call_push(c, holder);
	scripts_call_push(c, c->number);
	scripts_call_push(c, op);
	return scripts_call_push(c, mine);
}

/* The KEYS and first ARGV of every fleet call. */
static int
scripts_call_fleet(struct scripts_call *c, const char *token, const char *op)
{
	if (!scripts_nonempty(token) ||
	    scripts_call_begin(c, SCRIPTS_FLEET, 4) == -1)
		return -1;
	scripts_call_push(c, keys_lease_scaler());
	scripts_call_push(c, keys_fleet());
	scripts_call_push(c, keys_launches());
	scripts_call_push(c, keys_name_seq());
	scripts_call_push(c, token);
	return scripts_call_push(c, op);
}

int
scripts_call_fleet_reserve(struct scripts_call *c, const char *token,
    const char *launch, const char *role, const char *json)
{
	if (!scripts_nonempty(launch) || !scripts_nonempty(role) ||
	    !scripts_nonempty(json) ||
	    scripts_call_fleet(c, token, "reserve") == -1)
		return -1;
	scripts_call_push(c, launch);
	scripts_call_push(c, role);
	return scripts_call_push(c, json);
}

int
scripts_call_fleet_forget(struct scripts_call *c, const char *token,
    const char *launch)
{
	if (!scripts_nonempty(launch) ||
	    scripts_call_fleet(c, token, "forget") == -1)
		return -1;
	return scripts_call_push(c, launch);
}

int
scripts_call_fleet_desire(struct scripts_call *c, const char *token,
    const char *const *pairs, size_t n)
{
	if (n == 0 || n % 2 != 0 ||
	    scripts_call_fleet(c, token, "desire") == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (pairs[i] == NULL || scripts_call_push(c, pairs[i]) == -1)
			return -1;
	return 0;
}

void
scripts_call_by_source(struct scripts_call *c)
{
	c->argv[0] = "EVAL";
	c->argvlen[0] = 4;
	c->argv[1] = scripts[c->id].source;
	c->argvlen[1] = strlen(scripts[c->id].source);
}

const char *
scripts_call_verb(const struct scripts_call *c)
{
	return c->argv[0] != NULL ? c->argv[0] : "EVALSHA";
}

int
scripts_reply_is_noscript(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0;
}
