/*
 * rscript: a script call with its own copy of the arguments (see rscript.h).
 * argv[0] and argv[1] ("EVALSHA" and the digest, or "EVAL" and the source)
 * point at static strings of common/scripts.c; the rest are owned copies,
 * in the same allocation.
 */
#include <stdlib.h>
#include <string.h>

#include "common/rscript.h"

struct rscript {
	rconn_reply_cb		*cb;
	void			*arg;
	enum scripts_id		 id;
	int			 by_source;
	int			 argc;
	const char		**argv;		/* argc of them, after this */
	size_t			*argvlen;	/* argc, after argv */
	/* then argv[2..]'s text */
};

static void	rscript_on_reply(struct rconn *rc, redisReply *reply, void *arg);

/*
 * A copy of c whose arguments live in the copy, sized to its argc: not a
 * copy of the whole struct scripts_call, whose SCRIPTS_ARGV_MAX slots (2
 * KiB) a batch of a few accounts hardly uses.  NULL if out of memory.
 */
static struct rscript *
rscript_copy(const struct scripts_call *c)
{
	struct rscript *s;
	size_t need = (size_t)c->argc * (sizeof(*s->argv) + sizeof(*s->argvlen));
	char *p;

	for (int i = 2; i < c->argc; i++)
		need += c->argvlen[i] + 1;
	if ((s = malloc(sizeof(*s) + need)) == NULL)
		return NULL;
	s->cb = NULL;
	s->arg = NULL;
	s->id = c->id;
	s->by_source = 0;
	s->argc = c->argc;
	s->argv = (const char **)(s + 1);
	s->argvlen = (size_t *)(s->argv + c->argc);
	p = (char *)(s->argvlen + c->argc);
	for (int i = 0; i < c->argc; i++) {
		s->argvlen[i] = c->argvlen[i];
		if (i < 2) {	/* static strings of common/scripts.c */
			s->argv[i] = c->argv[i];
			continue;
		}
		memcpy(p, c->argv[i], c->argvlen[i]);
		p[c->argvlen[i]] = '\0';
		s->argv[i] = p;
		p += c->argvlen[i] + 1;
	}
	return s;
}

static int
rscript_send(struct rconn *rc, struct rscript *s)
{
	return rconn_commandargv(rc, rscript_on_reply, s, s->argc, s->argv,
	    s->argvlen);
}

/* s's call becomes the EVAL of its script's source. */
static void
rscript_by_source(struct rscript *s)
{
	struct scripts_call src;

	src.id = s->id;
	scripts_call_by_source(&src);
	for (int i = 0; i < 2; i++) {
		s->argv[i] = src.argv[i];
		s->argvlen[i] = src.argvlen[i];
	}
	s->by_source = 1;
}

static void
rscript_on_reply(struct rconn *rc, redisReply *reply, void *arg)
{
	struct rscript *s = arg;

	if (scripts_reply_is_noscript(reply) && !s->by_source) {
		rscript_by_source(s);
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
