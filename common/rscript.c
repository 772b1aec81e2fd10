/*
 * rscript: a script call with its own copy of the arguments (see rscript.h).
 * argv[0] and argv[1] ("EVALSHA" and the digest, or "EVAL" and the source)
 * point at static strings of common/scripts.c; the rest are owned copies.
 */
#include <stdlib.h>
#include <string.h>

#include "common/rscript.h"

struct rscript {
	struct scripts_call	 call;		/* argv[2..] point into text */
	rconn_reply_cb		*cb;
	void			*arg;
	int			 by_source;
	char			 text[];
};

static void	rscript_on_reply(struct rconn *rc, redisReply *reply, void *arg);

/* A copy of c whose arguments live in the copy.  NULL if out of memory. */
static struct rscript *
rscript_copy(const struct scripts_call *c)
{
	struct rscript *s;
	size_t need = 0;
	char *p;

	for (int i = 2; i < c->argc; i++)
		need += c->argvlen[i] + 1;
	if ((s = calloc(1, sizeof(*s) + need)) == NULL)
		return NULL;
	s->call = *c;
	p = s->text;
	for (int i = 2; i < c->argc; i++) {
		memcpy(p, c->argv[i], c->argvlen[i]);
		p[c->argvlen[i]] = '\0';
		s->call.argv[i] = p;
		p += c->argvlen[i] + 1;
	}
	return s;
}

static int
rscript_send(struct rconn *rc, struct rscript *s)
{
	return rconn_commandargv(rc, rscript_on_reply, s, s->call.argc,
	    s->call.argv, s->call.argvlen);
}

static void
rscript_on_reply(struct rconn *rc, redisReply *reply, void *arg)
{
	struct rscript *s = arg;

	if (scripts_reply_is_noscript(reply) && !s->by_source) {
		s->by_source = 1;
		scripts_call_by_source(&s->call);
		if (rscript_send(rc, s) == 0)
			return;
		reply = NULL;
	}
	if (s->cb != NULL)
		s->cb(rc, reply, s->arg);
	free(s);
}

int
rscript_run(struct rconn *rc, const struct scripts_call *c, rconn_reply_cb *cb,
    void *arg)
{
	struct rscript *s;

	if ((s = rscript_copy(c)) == NULL)
		return -1;
	s->cb = cb;
	s->arg = arg;
	if (rscript_send(rc, s) == -1) {
		free(s);
		return -1;
	}
	return 0;
}

redisReply *
rscript_run_sync(redisContext *ctx, struct scripts_call *c)
{
	redisReply *r = redisCommandArgv(ctx, c->argc, c->argv, c->argvlen);

	if (scripts_reply_is_noscript(r)) {
		freeReplyObject(r);
		scripts_call_by_source(c);
		r = redisCommandArgv(ctx, c->argc, c->argv, c->argvlen);
	}
	return r;
}
