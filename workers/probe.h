/*
 * probe: HTTP health probes of instances (SPEC §7), shared by the scaler
 * (pending instances become running at their first 2xx) and the health
 * worker (every instance, every health.interval_ms).
 *
 * A probe is GET http://<ip>:<port><health.path> with health.timeout_ms for
 * the whole transfer; 2xx is a success, anything else (another status, no
 * answer, a timeout) a failure.  At most one probe per instance is in
 * flight, and a new one starts only when min_interval_ms have passed since
 * the last one started.
 *
 * Ownership: struct probes borrows the httpc (free the probes first) and
 * owns one entry per instance probed until probes_forget or probes_free;
 * both cancel the probe in flight, whose callback is then never called.
 */
#ifndef OLB_PROBE_H
#define OLB_PROBE_H

#include <stdint.h>

struct conf;
struct ev_loop;
struct httpc;
struct probes;

struct probe_result {
	int		 ok;		/* a 2xx answer */
	long		 status;	/* 0 if there was no answer */
	uint64_t	 ms;		/* from start to answer or failure */
	const char	*error;		/* NULL on an answer; else why there is
					   none ("timeout", "connection refused") */
};

/* One probe of instance id ended; r and id are valid during the call. */
typedef void probe_cb(const char *id, const struct probe_result *r,
		    void *arg);

/* Probes run on http with conf's health.path and health.timeout_ms.  NULL
 * if out of memory. */
struct probes	*probes_new(struct ev_loop *loop, struct httpc *http,
		    const struct conf *conf);
void		 probes_free(struct probes *p);
/* Probe instance id at ip:port unless one is in flight or the last started
 * less than min_interval_ms ago.  1 if started (cb then runs once), 0 if
 * not due, -1 on failure (bad address, out of memory). */
int		 probes_start(struct probes *p, const char *id, const char *ip,
		    unsigned int port, uint64_t min_interval_ms, probe_cb *cb,
		    void *arg);
/* Cancel id's probe in flight, if any, and forget when it last ran. */
void		 probes_forget(struct probes *p, const char *id);
/* Forget every instance for which keep(id, arg) answers 0. */
void		 probes_prune(struct probes *p, int (*keep)(const char *id,
		    void *arg), void *arg);
/* Probes in flight. */
unsigned int	 probes_active(const struct probes *p);

#endif
