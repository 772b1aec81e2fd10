/*
 * registry: the instance records (SPEC §8 instance_details) and account
 * placements as olbctl sees them, over a blocking hiredis context.  Every
 * change runs the same Lua scripts as the proxies (common/scripts.c: EVALSHA,
 * then EVAL after NOSCRIPT), so the live sets, counts and routing messages
 * follow one implementation of the rules.
 *
 * Functions return 0 or -1; after -1, registry_error() says what failed, as
 * "EVALSHA instance_put(127.0.0.1:6379): ..." or "no such instance: inst-9".
 */
#ifndef OLB_REGISTRY_H
#define OLB_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define REGISTRY_ID_MAX		64	/* with the NUL */
#define REGISTRY_IP_MAX		64
#define REGISTRY_NAME_MAX	128
#define REGISTRY_STATE_MAX	16
#define REGISTRY_ACTID_MAX	256

/* One instance record with its account count.  A record that cannot be
 * decoded keeps its id and has state "?". */
struct registry_instance {
	char		 id[REGISTRY_ID_MAX];
	int		 is_master;
	char		 name[REGISTRY_NAME_MAX];
	char		 ip[REGISTRY_IP_MAX];
	uint16_t	 port;
	char		 state[REGISTRY_STATE_MAX];
	char		 provider[32];
	char		 cluster[128];		/* the scaler's, else "" */
	long long	 launched_at;		/* ms since the epoch */
	long long	 state_since;		/* ms: the state was entered */
	long long	 launch_order;
	long long	 count;			/* accounts placed there */
};

/* Where one account is placed: as a master, as a client (of master_actid),
 * or both.  An instance that is gone keeps its id and has state "removed". */
struct registry_account {
	int				 as_master;
	struct registry_instance	 master;
	int				 as_client;
	struct registry_instance	 client;
	char				 master_actid[REGISTRY_ACTID_MAX];
};

typedef void registry_list_cb(const struct registry_instance *inst, void *arg);

/* Fill inst from id and its JSON record in instance_details (NULL or
 * unreadable: state "?"); count is left 0.  Also for the scaler, which reads
 * the records asynchronously. */
void		 registry_decode(const char *id, const char *json,
		    struct registry_instance *inst);

/* What the last failed call of this module was about (static buffer). */
const char	*registry_error(void);

/* Register an instance: role "master" or "client", state one of SPEC §8
 * (NULL: "running"), name NULL: the id, provider NULL: "manual".  id is in and
 * out: "" asks for "inst-<launch_seq>"; it then holds the id.  0 or -1. */
int		 registry_add(redisContext *ctx, const char *role, const char *ip,
		    uint16_t port, const char *name, const char *state,
		    const char *provider, char *id, size_t id_size);
/* Forget an instance (accounts there are placed again on their next call).
 * 0, or -1 (also if there is no such instance). */
int		 registry_remove(redisContext *ctx, const char *id);
/* Change an instance's state; the previous one goes to previous if not NULL.
 * 0, or -1 (also if there is no such instance or state is not valid). */
int		 registry_set_state(redisContext *ctx, const char *id,
		    const char *state, char previous[REGISTRY_STATE_MAX]);
/* Call cb for every instance, by launch order.  The number of instances, or
 * -1. */
int		 registry_list(redisContext *ctx, registry_list_cb *cb, void *arg);
/* One instance by id.  0, or -1 (also if there is no such instance). */
int		 registry_get(redisContext *ctx, const char *id,
		    struct registry_instance *inst);
/* Where actid is placed.  0 (also when it is not placed: both flags 0), or
 * -1. */
int		 registry_placement(redisContext *ctx, const char *actid,
		    struct registry_account *acct);

/* What registry_check read. */
struct registry_totals {
	long long	 masters, clients, instances;
};
typedef void registry_line_cb(const char *line, void *arg);
/* Check the placement invariants in one snapshot (scripts_call_check; caps
 * 0: not checked): cb gets each difference, in sorted order.  The number of
 * differences (0: all agree), or -1. */
int		 registry_check(redisContext *ctx, long long max_per_master,
		    long long max_per_client, struct registry_totals *totals,
		    registry_line_cb *cb, void *arg);

#endif
