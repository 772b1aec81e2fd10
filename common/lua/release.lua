-- release: an account's listener was removed; free its place.
-- KEYS: 1 instance_details, 2 instance_user_counts, 3 master_mapping or
--       client_mapping (by role), 4 global_state, 5 client_master,
--       6 tracking_due
-- ARGV: 1 'master'|'client', 2 actid, 3 master actid of a client ('' if
--       unknown: the recorded one is used first), 4 client_spread (as in
--       place_client), 5 routing channel, 6 the instance_accounts: key
--       prefix, 7 the tracking_pending: key prefix (prefixes not Cluster
--       safe, as in place_client), 8 the instance whose listener was
--       removed ('' = wherever it is)
-- Returns {1 if the account was placed (on that instance) else 0, the
-- routing sequence after it (the release message's number when 1)}.
local k, role, actid, master, spread, channel = release_args()
if k == nil then return redis.error_reply('release: bad arguments') end
local found = release_account(k, role, actid, master, spread, channel,
    ARGV[8])
return { found, routing_seq(channel) }
