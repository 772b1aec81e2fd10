/*
 * provider: where instances come from (SPEC §6).  One interface, one file
 * per implementation, chosen by provider.type:
 *
 *   provider_process.c	local processes running provider.process.command
 *   provider_static.c	a fixed list of ip:port per role; launches nothing
 *   provider_ec2.c	AWS EC2 (the Query API over libcurl)
 *
 * Only the scaler holds a provider.  Every operation is asynchronous: it
 * returns 0 when started (its callback then comes exactly once, from the
 * loop, never from inside the call, unless provider_free comes first) or -1
 * when it could not start (no callback).
 *
 * A provider finds its own instances again after any restart of the scaler:
 * each carries the cluster (provider.cluster), the deployment (an identity
 * made once per deployment, kept in Redis: a second deployment that uses
 * the same cluster name by mistake has another), its role, its name and
 * the launch token it was made with (EC2 tags; environment of the
 * process).  A
 * launch is idempotent by its token: launching again with a token already
 * used answers the instance made the first time.
 */
#ifndef OLB_PROVIDER_H
#define OLB_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct ev_loop;
struct provider;

#define PROVIDER_ID_MAX		64	/* with the NUL */
#define PROVIDER_TOKEN_MAX	64

/* One instance as its provider sees it. */
struct provider_instance {
	char		 id[PROVIDER_ID_MAX];	/* "p-<token>", "i-0abc..", "static-..." */
	char		 ip[64];		/* "" until known */
	uint16_t	 port;
	int		 is_master;
	char		 name[128];		/* Master_Listener-N, Client_Listener-N */
	char		 launch[PROVIDER_TOKEN_MAX];	/* "" if unknown */
	char		 deployment[PROVIDER_TOKEN_MAX];	/* "" if none */
	char		 state[16];	/* "pending", "running", "stopping", "gone" */
	long long	 pid;		/* process provider, else 0 */
};

struct provider_launch {
	const char	*token;		/* [0-9a-z-], at most 63 characters */
	const char	*deployment;	/* the same */
	int		 is_master;
	const char	*name;
};

/* How an operation ended.  A launch that FAILED may have happened all the
 * same (a request whose answer was lost): it is tried again with the same
 * token, which settles it; a REFUSED launch did not happen.  A REFUSED
 * terminate is an answer that trying again does not change (no
 * permission, termination protection): the scaler stops trying and tells
 * the operator. */
enum provider_status {
	PROVIDER_OK,
	PROVIDER_FAILED,	/* for now: throttled, 5xx, timeout, no answer */
	PROVIDER_REFUSED,	/* for good, until someone changes something */
};

/* inst is valid only during the call (NULL unless PROVIDER_OK); error
 * says why otherwise. */
typedef void provider_launch_cb(enum provider_status st,
    const struct provider_instance *inst, const char *error, void *arg);
/* Every instance of this cluster the provider knows, terminated ones
 * excepted.  v valid only during the call. */
typedef void provider_list_cb(int ok, const struct provider_instance *v,
    size_t n, const char *error, void *arg);
/* Once per id of a terminate call: PROVIDER_OK when the instance is gone
 * (also when it was gone already). */
typedef void provider_terminate_cb(const char *id, enum provider_status st,
    const char *error, void *arg);

struct provider_ops {
	const char	*name;		/* the "provider" member of records */
	int		 can_launch;	/* 0: static */
	uint64_t	 list_ms;	/* how often the scaler lists */
	int		(*launch)(struct provider *p,
			    const struct provider_launch *l,
			    provider_launch_cb *cb, void *arg);
	int		(*list)(struct provider *p, provider_list_cb *cb,
			    void *arg);
	int		(*terminate)(struct provider *p, const char *const *ids,
			    size_t n, provider_terminate_cb *cb, void *arg);
	void		(*free)(struct provider *p);
};

struct provider {
	const struct provider_ops	*ops;
	const struct conf		*conf;	/* borrowed: the worker's */
	struct ev_loop			*loop;
	void				*impl;
};

/* The provider of conf->provider.type on loop.  NULL if it cannot start
 * (logged). */
struct provider	*provider_new(const struct conf *conf, struct ev_loop *loop);
/* Stop everything in flight (no callbacks) and free. */
void		 provider_free(struct provider *p);

/* Implementations: fill p->ops and p->impl.  0 or -1 (logged). */
int		 provider_process_init(struct provider *p);
int		 provider_static_init(struct provider *p);
int		 provider_ec2_init(struct provider *p);

#endif
