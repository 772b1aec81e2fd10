/*
 * provider_ec2: AWS EC2 instances (SPEC §6), over the Query API client of
 * workers/scaler/ec2_client.c.
 *
 * launch	RunInstances with every setting of provider.ec2 and the tags
 *		Name, olb:cluster, olb:deployment, olb:role, olb:launch
 *		(+ provider.ec2.tags),
 *		ClientToken = the launch token (EC2 answers a repeated token
 *		with the instance it made the first time); then
 *		DescribeInstances by id until it is running with a private
 *		address, or provider.ec2.launch_timeout_ms passed (the instance
 *		is then terminated and the launch failed).  A new id may be
 *		unknown to DescribeInstances for a while: that is waited out.
 * list		DescribeInstances filtered by tag:olb:cluster and the states
 *		that are not gone, page by page.
 * terminate	per batch of EC2_BATCH ids: DescribeInstances (filter
 *		instance-id, so unknown ids are simply absent) and
 *		TerminateInstances of those that still exist.  If EC2 still
 *		refuses an id (gone meanwhile, malformed), the batch is split in
 *		halves until the bad id stands alone: one bad id never blocks the
 *		others, and an id EC2 does not know is gone.  After
 *		IncorrectInstanceState the batch is described again: shutting
 *		down is gone, any other state is tried again later.  Other EC2
 *		errors are refusals (PROVIDER_REFUSED); no answer is a failure
 *		for now (PROVIDER_FAILED).
 *
 * Ownership: operations in flight are on the provider's list; their calls
 * are cancelled by provider_free, without callbacks.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/ev.h"
#include "common/httpc.h"
#include "common/log.h"
#include "workers/scaler/ec2_client.h"
#include "workers/scaler/provider.h"

#define EC2_BATCH		100	/* ids per Describe/Terminate */
#define EC2_POLL_MS		1000	/* while waiting for running */
#define EC2_LIST_MS		30000	/* the scaler lists this often */
#define EC2_CALL_MS		60000	/* deadline of list and terminate calls */
#define EC2_PAGE		"500"

enum pe_kind { PE_LAUNCH, PE_LIST, PE_TERMINATE };

/* The call of a terminate's part: which ids still exist, the terminate,
 * or after IncorrectInstanceState which state they are in. */
enum pe_step { PE_TERM_CALL, PE_TERM_DESCRIBE, PE_TERM_SETTLE };

struct pe;

/* One batch (or half batch) of a terminate. */
struct pe_part {
	LIST_ENTRY(pe_part)	 entry;
	struct pe_op		*op;
	size_t			*idx;		/* into op->ids */
	size_t			 n;
	enum pe_step		 step;
	struct ec2_call		*call;
};

struct pe_op {
	LIST_ENTRY(pe_op)	 entry;
	struct pe		*pe;
	enum pe_kind		 kind;
	void			*cb;
	void			*arg;
	struct ec2_call		*call;
	struct ev_timer		 timer;
	uint64_t		 deadline;
	/* PE_LAUNCH */
	struct provider_instance inst;
	/* PE_LIST */
	struct provider_instance *v;
	size_t			 n, cap;
	/* PE_TERMINATE */
	char			(*ids)[PROVIDER_ID_MAX];
	unsigned char		*answered;
	size_t			 nids, left;
	LIST_HEAD(, pe_part)	 parts;
};

struct pe {
	struct provider		*p;
	struct httpc		*http;
	struct ec2_client	*client;
	LIST_HEAD(, pe_op)	 ops;
};

static void	pe_list_page(struct pe_op *op, const char *next_token);
static void	pe_part_send(struct pe_part *part);

/* Operations */

static struct pe_op *
pe_op_new(struct pe *pe, enum pe_kind kind, void *cb, void *arg)
{
	struct pe_op *op;

	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->pe = pe;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	LIST_INIT(&op->parts);
	LIST_INSERT_HEAD(&pe->ops, op, entry);
	return op;
}

static void
pe_part_free(struct pe_part *part)
{
	LIST_REMOVE(part, entry);
	ec2_call_cancel(part->call);
	free(part->idx);
	free(part);
}

static void
pe_op_free(struct pe_op *op)
{
	LIST_REMOVE(op, entry);
	while (!LIST_EMPTY(&op->parts))
		pe_part_free(LIST_FIRST(&op->parts));
	ec2_call_cancel(op->call);
	ev_timer_stop(op->pe->p->loop, &op->timer);
	free(op->v);
	free(op->ids);
	free(op->answered);
	free(op);
}

/* An ec2_instance as the scaler sees it. */
static void
pe_instance(const struct pe *pe, const struct ec2_instance *e,
    struct provider_instance *in)
{
	memset(in, 0, sizeof(*in));
	snprintf(in->id, sizeof(in->id), "%s", e->id);
	snprintf(in->ip, sizeof(in->ip), "%s", e->private_ip);
	in->port = (uint16_t)pe->p->conf->proxy.instance_port;
	in->is_master = strcmp(e->role, "master") == 0;
	snprintf(in->name, sizeof(in->name), "%s", e->name);
	snprintf(in->launch, sizeof(in->launch), "%s", e->launch);
	snprintf(in->deployment, sizeof(in->deployment), "%s", e->deployment);
	snprintf(in->state, sizeof(in->state), "%s",
	    strcmp(e->state, "pending") == 0 || strcmp(e->state, "running") == 0 ?
	    e->state : "stopping");
}

/* Launch */

static void
pe_launch_finish(struct pe_op *op, enum provider_status st, const char *error)
{
	provider_launch_cb *cb = (provider_launch_cb *)op->cb;
	void *arg = op->arg;
	struct provider_instance inst = op->inst;

	op->call = NULL;
	pe_op_free(op);
	cb(st, st == PROVIDER_OK ? &inst : NULL, error, arg);
}

static void
pe_on_abandoned(const struct ec2_answer *a, const char *code, const char *error,
    void *arg)
{
	(void)a;
	(void)code;
	if (error != NULL)
		log_error("provider ec2: terminating %s after a failed launch: %s",
		    (const char *)arg, error);
	free(arg);
}

/* The launch missed its deadline, or EC2 refused to describe what it
 * made: terminate that, and fail for good. */
static void
pe_launch_give_up(struct pe_op *op, const char *why)
{
	struct ec2_form f = { NULL, 0, 0, 0 };
	char *id;

	if (op->inst.id[0] != '\0' && (id = strdup(op->inst.id)) != NULL) {
		ec2_form_add(&f, id, "InstanceId.1");
		if (ec2_call(op->pe->client, "TerminateInstances", &f,
		    ev_now(op->pe->p->loop) + EC2_CALL_MS, pe_on_abandoned,
		    id) == NULL)
			free(id);
		ec2_form_free(&f);
	}
	pe_launch_finish(op, PROVIDER_REFUSED, why);
}

static void	pe_launch_poll(struct ev_loop *loop, struct ev_timer *t, void *arg);

/* An answer of RunInstances or DescribeInstances for the launch. */
static void
pe_on_launch_answer(const struct ec2_answer *a, const char *code,
    const char *error, void *arg)
{
	struct pe_op *op = arg;
	const struct ec2_instance *e = NULL;
	char why[512];

	op->call = NULL;
	if (a != NULL)
		for (size_t i = 0; i < a->ninstances && e == NULL; i++)
			if (op->inst.id[0] == '\0' ||
			    strcmp(a->instances[i].id, op->inst.id) == 0)
				e = &a->instances[i];
	if (a == NULL && (code == NULL ||
	    strcmp(code, "InvalidInstanceID.NotFound") != 0 ||
	    op->inst.id[0] == '\0')) {
		/* No EC2 answer (retries or the deadline ran out): the outcome
		 * is unknown, and a launch again with the same ClientToken
		 * settles it.  An EC2 error is an answer. */
		snprintf(why, sizeof(why), "%s", error);
		if (code == NULL)
			pe_launch_finish(op, PROVIDER_FAILED, why);
		else if (op->inst.id[0] == '\0')
			pe_launch_finish(op, PROVIDER_REFUSED, why);
		else
			pe_launch_give_up(op, why);
		return;
	}
	if (e == NULL && op->inst.id[0] == '\0') {
		pe_launch_finish(op, PROVIDER_REFUSED,
		    "RunInstances answered no instance");
		return;
	}
	if (e != NULL) {
		if (op->inst.id[0] == '\0')
			log_info("provider ec2: launched %s as %s", op->inst.name,
			    e->id);
		snprintf(op->inst.id, sizeof(op->inst.id), "%s", e->id);
		if (strcmp(e->state, "running") == 0 && e->private_ip[0] != '\0') {
			snprintf(op->inst.ip, sizeof(op->inst.ip), "%s",
			    e->private_ip);
			snprintf(op->inst.state, sizeof(op->inst.state), "running");
			pe_launch_finish(op, PROVIDER_OK, NULL);
			return;
		}
		if (strcmp(e->state, "pending") != 0 &&
		    strcmp(e->state, "running") != 0) {
			snprintf(why, sizeof(why), "%s went %s while launching",
			    e->id, e->state);
			pe_launch_finish(op, PROVIDER_REFUSED, why);
			return;
		}
	}
	if (ev_now(op->pe->p->loop) + EC2_POLL_MS >= op->deadline) {
		snprintf(why, sizeof(why), "%s not running after %lld ms",
		    op->inst.id, (long long)op->pe->p->conf->provider.ec2.launch_timeout_ms);
		pe_launch_give_up(op, why);
		return;
	}
	ev_timer_start(op->pe->p->loop, &op->timer, EC2_POLL_MS, pe_launch_poll, op);
}

static void
pe_launch_poll(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct pe_op *op = arg;
	struct ec2_form f = { NULL, 0, 0, 0 };

	(void)loop;
	(void)t;
	ec2_form_add(&f, op->inst.id, "InstanceId.1");
	op->call = ec2_call(op->pe->client, "DescribeInstances", &f, op->deadline,
	    pe_on_launch_answer, op);
	ec2_form_free(&f);
	if (op->call == NULL)
		pe_launch_give_up(op, "cannot call DescribeInstances");
}

/* The RunInstances parameters of SPEC §6 for l. */
static void
pe_run_form(const struct pe *pe, const struct provider_launch *l,
    struct ec2_form *f)
{
	const struct conf *conf = pe->p->conf;
	const char *profile = conf->provider.ec2.iam_instance_profile;
	const char *ni = "NetworkInterface.1";
	const char *tag = "TagSpecification.1.Tag";
	int t = 1;

	ec2_form_add(f, conf->provider.ec2.ami_id, "ImageId");
	ec2_form_add(f, conf->provider.ec2.instance_type, "InstanceType");
	ec2_form_add(f, "1", "MinCount");
	ec2_form_add(f, "1", "MaxCount");
	ec2_form_add(f, l->token, "ClientToken");
	if (conf->provider.ec2.key_name[0] != '\0')
		ec2_form_add(f, conf->provider.ec2.key_name, "KeyName");
	if (profile[0] != '\0')
		ec2_form_add(f, profile, strncmp(profile, "arn:", 4) == 0 ?
		    "IamInstanceProfile.Arn" : "IamInstanceProfile.Name");
	if (conf->provider.ec2.subnet_id[0] != '\0') {
		ec2_form_add(f, "0", "%s.DeviceIndex", ni);
		ec2_form_add(f, conf->provider.ec2.subnet_id, "%s.SubnetId", ni);
		if (conf->provider.ec2.security_group[0] != '\0')
			ec2_form_add(f, conf->provider.ec2.security_group,
			    "%s.SecurityGroupId.1", ni);
		ec2_form_add(f, conf->provider.ec2.associate_public_ip ? "true" :
		    "false", "%s.AssociatePublicIpAddress", ni);
	} else if (conf->provider.ec2.security_group[0] != '\0') {
		ec2_form_add(f, conf->provider.ec2.security_group,
		    "SecurityGroupId.1");
	}
	ec2_form_add(f, "instance", "TagSpecification.1.ResourceType");
	ec2_form_add(f, "Name", "%s.%d.Key", tag, t);
	ec2_form_add(f, l->name, "%s.%d.Value", tag, t++);
	ec2_form_add(f, "olb:cluster", "%s.%d.Key", tag, t);
	ec2_form_add(f, conf->provider.cluster, "%s.%d.Value", tag, t++);
	ec2_form_add(f, "olb:role", "%s.%d.Key", tag, t);
	ec2_form_add(f, l->is_master ? "master" : "client", "%s.%d.Value", tag, t++);
	ec2_form_add(f, "olb:launch", "%s.%d.Key", tag, t);
	ec2_form_add(f, l->token, "%s.%d.Value", tag, t++);
	ec2_form_add(f, "olb:deployment", "%s.%d.Key", tag, t);
	ec2_form_add(f, l->deployment, "%s.%d.Value", tag, t++);
	for (size_t i = 0; i < conf->provider.ec2.ntags; i++) {
		ec2_form_add(f, conf->provider.ec2.tags[i].key, "%s.%d.Key", tag, t);
		ec2_form_add(f, conf->provider.ec2.tags[i].value, "%s.%d.Value",
		    tag, t++);
	}
}

static int
pe_launch(struct provider *p, const struct provider_launch *l,
    provider_launch_cb *cb, void *arg)
{
	struct pe *pe = p->impl;
	struct ec2_form f = { NULL, 0, 0, 0 };
	struct pe_op *op;

	if ((op = pe_op_new(pe, PE_LAUNCH, (void *)cb, arg)) == NULL)
		return -1;
	snprintf(op->inst.name, sizeof(op->inst.name), "%s", l->name);
	snprintf(op->inst.launch, sizeof(op->inst.launch), "%s", l->token);
	snprintf(op->inst.deployment, sizeof(op->inst.deployment), "%s",
	    l->deployment);
	snprintf(op->inst.state, sizeof(op->inst.state), "pending");
	op->inst.is_master = l->is_master;
	op->inst.port = (uint16_t)p->conf->proxy.instance_port;
	op->deadline = ev_now(p->loop) +
	    (uint64_t)p->conf->provider.ec2.launch_timeout_ms;
	pe_run_form(pe, l, &f);
	op->call = ec2_call(pe->client, "RunInstances", &f, op->deadline,
	    pe_on_launch_answer, op);
	ec2_form_free(&f);
	if (op->call == NULL) {
		pe_op_free(op);
		return -1;
	}
	return 0;
}

/* List */

static void
pe_on_list_page(const struct ec2_answer *a, const char *code,
    const char *error, void *arg)
{
	struct pe_op *op = arg;
	provider_list_cb *cb = (provider_list_cb *)op->cb;

	(void)code;
	op->call = NULL;
	if (a == NULL) {
		cb(0, NULL, 0, error, op->arg);
		pe_op_free(op);
		return;
	}
	for (size_t i = 0; i < a->ninstances; i++) {
		if (op->n == op->cap) {
			size_t cap = op->cap ? 2 * op->cap : 64;
			struct provider_instance *nv;

			if ((nv = realloc(op->v, cap * sizeof(*nv))) == NULL) {
				cb(0, NULL, 0, "out of memory", op->arg);
				pe_op_free(op);
				return;
			}
			op->v = nv;
			op->cap = cap;
		}
		pe_instance(op->pe, &a->instances[i], &op->v[op->n++]);
	}
	if (a->next_token[0] != '\0') {
		pe_list_page(op, a->next_token);
		return;
	}
	cb(1, op->v, op->n, NULL, op->arg);
	pe_op_free(op);
}

static void
pe_list_page(struct pe_op *op, const char *next_token)
{
	const struct conf *conf = op->pe->p->conf;
	static const char *const states[] = { "pending", "running", "stopping",
	    "stopped" };
	struct ec2_form f = { NULL, 0, 0, 0 };
	provider_list_cb *cb = (provider_list_cb *)op->cb;

	ec2_form_add(&f, "tag:olb:cluster", "Filter.1.Name");
	ec2_form_add(&f, conf->provider.cluster, "Filter.1.Value.1");
	ec2_form_add(&f, "instance-state-name", "Filter.2.Name");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		ec2_form_add(&f, states[i], "Filter.2.Value.%zu", i + 1);
	ec2_form_add(&f, EC2_PAGE, "MaxResults");
	if (next_token != NULL)
		ec2_form_add(&f, next_token, "NextToken");
	op->call = ec2_call(op->pe->client, "DescribeInstances", &f, op->deadline,
	    pe_on_list_page, op);
	ec2_form_free(&f);
	if (op->call == NULL) {
		cb(0, NULL, 0, "cannot call DescribeInstances", op->arg);
		pe_op_free(op);
	}
}

static int
pe_list(struct provider *p, provider_list_cb *cb, void *arg)
{
	struct pe_op *op;

	if ((op = pe_op_new(p->impl, PE_LIST, (void *)cb, arg)) == NULL)
		return -1;
	op->deadline = ev_now(p->loop) + EC2_CALL_MS;
	pe_list_page(op, NULL);
	return 0;
}

/* Terminate */

/* Answer one id of op (once); the op goes when every id is answered. */
static void
pe_term_answer(struct pe_op *op, size_t i, enum provider_status st,
    const char *error)
{
	provider_terminate_cb *cb = (provider_terminate_cb *)op->cb;

	if (op->answered[i])
		return;
	op->answered[i] = 1;
	op->left--;
	cb(op->ids[i], st, error, op->arg);
}

static struct pe_part *
pe_part_new(struct pe_op *op, const size_t *idx, size_t n,
    enum pe_step step)
{
	struct pe_part *part;

	if ((part = calloc(1, sizeof(*part))) == NULL ||
	    (part->idx = calloc(n, sizeof(*part->idx))) == NULL) {
		free(part);
		return NULL;
	}
	memcpy(part->idx, idx, n * sizeof(*idx));
	part->n = n;
	part->op = op;
	part->step = step;
	LIST_INSERT_HEAD(&op->parts, part, entry);
	return part;
}

/* Every id of part fails with error. */
static void
pe_part_fail(struct pe_part *part, enum provider_status st, const char *error)
{
	for (size_t i = 0; i < part->n; i++)
		pe_term_answer(part->op, part->idx[i], st, error);
}

/* The ids of part EC2 refused: in two halves, or alone: described, as
 * EC2 also says NotFound of an instance it has only just launched (its
 * eventual consistency), and such an instance taken as gone would run on
 * until the next list. */
static void
pe_part_split(struct pe_part *part, const char *why)
{
	struct pe_op *op = part->op;
	struct pe_part *a, *b;
	size_t half = part->n / 2;

	if (part->n == 1) {
		log_info("provider ec2: %s: %s: described", op->ids[part->idx[0]],
		    why);
		if ((a = pe_part_new(op, part->idx, 1, PE_TERM_SETTLE)) == NULL)
			pe_part_fail(part, PROVIDER_FAILED, "out of memory");
		else
			pe_part_send(a);
		return;
	}
	if ((a = pe_part_new(op, part->idx, half, PE_TERM_CALL)) == NULL ||
	    (b = pe_part_new(op, part->idx + half, part->n - half,
	    PE_TERM_CALL)) == NULL) {
		pe_part_fail(part, PROVIDER_FAILED, "out of memory");
		return;
	}
	pe_part_send(a);
	pe_part_send(b);
}

/* The state EC2 answered for the id at part->idx[k], or NULL if a lists
 * no such instance. */
static const char *
pe_part_state(const struct pe_part *part, const struct ec2_answer *a, size_t k)
{
	const char *id = part->op->ids[part->idx[k]];

	for (size_t i = 0; i < a->ninstances; i++)
		if (strcmp(a->instances[i].id, id) == 0)
			return a->instances[i].state;
	return NULL;
}

/* A describe before the terminate: ids EC2 does not list, or lists as
 * terminated, are gone; the others are terminated. */
static void
pe_part_described(struct pe_part *part, const struct ec2_answer *a)
{
	struct pe_op *op = part->op;
	size_t alive[EC2_BATCH], nalive = 0;
	struct pe_part *t;
	const char *state;

	for (size_t k = 0; k < part->n; k++) {
		if ((state = pe_part_state(part, a, k)) == NULL ||
		    strcmp(state, "terminated") == 0)
			pe_term_answer(op, part->idx[k], PROVIDER_OK, NULL);
		else
			alive[nalive++] = part->idx[k];
	}
	if (nalive == 0)
		return;
	if ((t = pe_part_new(op, alive, nalive, PE_TERM_CALL)) == NULL)
		for (size_t j = 0; j < nalive; j++)
			pe_term_answer(op, alive[j], PROVIDER_FAILED,
			    "out of memory");
	else
		pe_part_send(t);
}

/* A describe after IncorrectInstanceState, or after NotFound for a lone
 * id: an instance not listed or on its way out is gone as far as olb is
 * concerned; one in another state (running, stopping, pending) is tried
 * again later. */
static void
pe_part_settled(struct pe_part *part, const struct ec2_answer *a)
{
	const char *state;
	char why[96];

	for (size_t k = 0; k < part->n; k++) {
		if ((state = pe_part_state(part, a, k)) == NULL ||
		    strcmp(state, "terminated") == 0 ||
		    strcmp(state, "shutting-down") == 0) {
			pe_term_answer(part->op, part->idx[k], PROVIDER_OK, NULL);
			continue;
		}
		snprintf(why, sizeof(why), "terminate refused: the instance is "
		    "%s", state);
		pe_term_answer(part->op, part->idx[k], PROVIDER_FAILED, why);
	}
}

static void
pe_on_part(const struct ec2_answer *a, const char *code, const char *error,
    void *arg)
{
	struct pe_part *part = arg, *settle;
	struct pe_op *op = part->op;

	part->call = NULL;
	if (a == NULL && code != NULL && part->step == PE_TERM_CALL &&
	    (strcmp(code, "InvalidInstanceID.NotFound") == 0 ||
	    strcmp(code, "InvalidInstanceID.Malformed") == 0))
		pe_part_split(part, error);
	else if (a == NULL && code != NULL && part->step == PE_TERM_CALL &&
	    strcmp(code, "IncorrectInstanceState") == 0) {
		if ((settle = pe_part_new(op, part->idx, part->n,
		    PE_TERM_SETTLE)) == NULL)
			pe_part_fail(part, PROVIDER_FAILED, "out of memory");
		else
			pe_part_send(settle);
	} else if (a == NULL)
		/* EC2's own error is its answer (UnauthorizedOperation,
		 * OperationNotPermitted: asking again changes nothing); no
		 * answer at all is worth another try later. */
		pe_part_fail(part, code != NULL ? PROVIDER_REFUSED :
		    PROVIDER_FAILED, error);
	else if (part->step == PE_TERM_DESCRIBE)
		pe_part_described(part, a);
	else if (part->step == PE_TERM_SETTLE)
		pe_part_settled(part, a);
	else
		for (size_t i = 0; i < part->n; i++)
			pe_term_answer(op, part->idx[i], PROVIDER_OK, NULL);
	pe_part_free(part);
	if (op->left == 0)
		pe_op_free(op);
}

static void
pe_part_send(struct pe_part *part)
{
	struct pe_op *op = part->op;
	struct ec2_form f = { NULL, 0, 0, 0 };
	int describe = part->step != PE_TERM_CALL;

	if (describe) {
		ec2_form_add(&f, "instance-id", "Filter.1.Name");
		for (size_t i = 0; i < part->n; i++)
			ec2_form_add(&f, op->ids[part->idx[i]], "Filter.1.Value.%zu",
			    i + 1);
	} else {
		for (size_t i = 0; i < part->n; i++)
			ec2_form_add(&f, op->ids[part->idx[i]], "InstanceId.%zu",
			    i + 1);
	}
	part->call = ec2_call(op->pe->client, describe ? "DescribeInstances" :
	    "TerminateInstances", &f, op->deadline, pe_on_part, part);
	ec2_form_free(&f);
	if (part->call == NULL)
		pe_part_fail(part, PROVIDER_FAILED, "cannot call EC2");
}

static void
pe_terminate_start(struct ev_loop *loop, struct ev_timer *t, void *arg)
{
	struct pe_op *op = arg;
	size_t idx[EC2_BATCH];

	(void)loop;
	(void)t;
	for (size_t at = 0; at < op->nids; at += EC2_BATCH) {
		size_t n = op->nids - at < EC2_BATCH ? op->nids - at : EC2_BATCH;
		struct pe_part *part;

		for (size_t i = 0; i < n; i++)
			idx[i] = at + i;
		if ((part = pe_part_new(op, idx, n, PE_TERM_DESCRIBE)) == NULL) {
			for (size_t i = 0; i < n; i++)
				pe_term_answer(op, at + i, PROVIDER_FAILED,
				    "out of memory");
			continue;
		}
		pe_part_send(part);
	}
	if (op->left == 0)
		pe_op_free(op);
}

static int
pe_terminate(struct provider *p, const char *const *ids, size_t n,
    provider_terminate_cb *cb, void *arg)
{
	struct pe_op *op;

	if (n == 0 || (op = pe_op_new(p->impl, PE_TERMINATE, (void *)cb,
	    arg)) == NULL)
		return -1;
	if ((op->ids = calloc(n, sizeof(*op->ids))) == NULL ||
	    (op->answered = calloc(n, 1)) == NULL) {
		pe_op_free(op);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(op->ids[i], sizeof(op->ids[i]), "%s", ids[i]);
	op->nids = op->left = n;
	op->deadline = ev_now(p->loop) + EC2_CALL_MS;
	ev_timer_start(p->loop, &op->timer, 0, pe_terminate_start, op);
	return 0;
}

static void
pe_free(struct provider *p)
{
	struct pe *pe = p->impl;

	while (!LIST_EMPTY(&pe->ops))
		pe_op_free(LIST_FIRST(&pe->ops));
	ec2_client_free(pe->client);
	httpc_free(pe->http);
	free(pe);
	p->impl = NULL;
}

static const struct provider_ops pe_ops = {
	.name = "ec2",
	.can_launch = 1,
	.list_ms = EC2_LIST_MS,
	.launch = pe_launch,
	.list = pe_list,
	.terminate = pe_terminate,
	.free = pe_free,
};

int
provider_ec2_init(struct provider *p)
{
	const struct conf *conf = p->conf;
	struct pe *pe;

	if (conf->provider.ec2.ami_id[0] == '\0' ||
	    conf->provider.ec2.instance_type[0] == '\0') {
		log_error("provider ec2: provider.ec2.ami_id and instance_type "
		    "are required");
		return -1;
	}
	if ((pe = calloc(1, sizeof(*pe))) == NULL)
		return -1;
	pe->p = p;
	if ((pe->http = httpc_new(p->loop)) == NULL ||
	    (pe->client = ec2_client_new(p->loop, pe->http, conf)) == NULL) {
		httpc_free(pe->http);
		free(pe);
		return -1;
	}
	p->impl = pe;
	p->ops = &pe_ops;
	return 0;
}
