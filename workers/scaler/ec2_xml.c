/*
 * ec2_xml: EC2 Query API answers (see ec2_xml.h).
 *
 * One expat parser per answer, no namespace processing (EC2's elements are
 * in one default namespace, so the names are the local names).  The path of
 * open elements is kept as a stack of names; text is collected for the
 * current leaf into a bounded buffer and stored when the element closes, by
 * where it stands:
 *   .../instancesSet/item/instanceId            an instance's fields
 *   .../instancesSet/item/instanceState/name    (currentState in Terminate)
 *   .../instancesSet/item/tagSet/item/key|value its tags
 *   /DescribeInstancesResponse/nextToken
 *   /Response/Errors/Error/Code|Message         the first error
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "workers/scaler/ec2_xml.h"

#define EC2_XML_NAME_MAX	48	/* longest element name kept */
#define EC2_XML_TEXT_MAX	1024	/* longest text of a leaf */

struct ec2_parse {
	XML_Parser		 p;
	struct ec2_answer	*a;
	char			 path[EC2_XML_DEPTH_MAX][EC2_XML_NAME_MAX];
	int			 depth;
	char			 text[EC2_XML_TEXT_MAX + 1];
	size_t			 text_len;
	int			 text_over;	/* the leaf's text did not fit */
	int			 in_item;	/* depth of the current instance item, 0: none */
	char			 tag_key[128];
	char			 tag_value[128];
	int			 failed;
	size_t			 cap;		/* of a->instances */
};

static void
ec2_fail(struct ec2_parse *ps, const char *why)
{
	if (!ps->failed)
		snprintf(ps->a->why, sizeof(ps->a->why), "%s", why);
	ps->failed = 1;
	XML_StopParser(ps->p, XML_FALSE);
}

/* 1 if element i of the path is name. */
static int
at(const struct ec2_parse *ps, int i, const char *name)
{
	return i >= 0 && i < ps->depth && strcmp(ps->path[i], name) == 0;
}

/* Copy the collected text into dst[size]; a text that does not fit fails. */
static void
store(struct ec2_parse *ps, char *dst, size_t size)
{
	if (ps->text_over || ps->text_len >= size) {
		ec2_fail(ps, "a field is too long");
		return;
	}
	memcpy(dst, ps->text, ps->text_len + 1);
}

/* Room for more instances (doubling, up to EC2_XML_INSTANCES_MAX).  0 or
 * -1 (failed). */
static int
ec2_grow(struct ec2_parse *ps)
{
	size_t cap = ps->cap ? ps->cap * 2 : 8;
	struct ec2_instance *v;

	if (cap > EC2_XML_INSTANCES_MAX)
		cap = EC2_XML_INSTANCES_MAX;
	if ((v = realloc(ps->a->instances, cap * sizeof(*v))) == NULL) {
		ec2_fail(ps, "out of memory");
		return -1;
	}
	ps->a->instances = v;
	ps->cap = cap;
	return 0;
}

static void XMLCALL
on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct ec2_parse *ps = arg;
	struct ec2_answer *a = ps->a;

	(void)attrs;
	if (ps->depth == EC2_XML_DEPTH_MAX) {
		ec2_fail(ps, "nested too deep");
		return;
	}
	if (strlen(name) >= EC2_XML_NAME_MAX) {
		ec2_fail(ps, "an element name is too long");
		return;
	}
	memcpy(ps->path[ps->depth], name, strlen(name) + 1);
	ps->depth++;
	ps->text_len = 0;
	ps->text_over = 0;
	ps->text[0] = '\0';
	/* An instance: an item directly in an instancesSet, not inside another. */
	if (ps->in_item == 0 && strcmp(name, "item") == 0 &&
	    at(ps, ps->depth - 2, "instancesSet")) {
		if (a->ninstances == EC2_XML_INSTANCES_MAX) {
			ec2_fail(ps, "too many instances");
			return;
		}
		if (a->ninstances == ps->cap && ec2_grow(ps) == -1)
			return;
		memset(&a->instances[a->ninstances], 0, sizeof(a->instances[0]));
		a->ninstances++;
		ps->in_item = ps->depth;
	}
	if (ps->in_item && strcmp(name, "item") == 0 &&
	    at(ps, ps->depth - 2, "tagSet")) {
		ps->tag_key[0] = '\0';
		ps->tag_value[0] = '\0';
	}
}

static void XMLCALL
on_text(void *arg, const XML_Char *s, int len)
{
	struct ec2_parse *ps = arg;

	if (len < 0 || ps->text_over)
		return;
	if (ps->text_len + (size_t)len > EC2_XML_TEXT_MAX) {
		ps->text_over = 1;
		return;
	}
	memcpy(ps->text + ps->text_len, s, (size_t)len);
	ps->text_len += (size_t)len;
	ps->text[ps->text_len] = '\0';
}

/* A tag of the current instance closed: keep the ones olb reads. */
static void
on_tag(struct ec2_parse *ps, struct ec2_instance *in)
{
	const struct {
		const char	*key;
		size_t		 off, size;
	} keep[] = {
		{ "Name", offsetof(struct ec2_instance, name), sizeof(in->name) },
		{ "olb:role", offsetof(struct ec2_instance, role), sizeof(in->role) },
		{ "olb:cluster", offsetof(struct ec2_instance, cluster),
		    sizeof(in->cluster) },
		{ "olb:launch", offsetof(struct ec2_instance, launch),
		    sizeof(in->launch) },
		{ "olb:deployment", offsetof(struct ec2_instance, deployment),
		    sizeof(in->deployment) },
	};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		if (strcmp(ps->tag_key, keep[i].key) != 0)
			continue;
		if (strlen(ps->tag_value) >= keep[i].size) {
			ec2_fail(ps, "a tag value is too long");
			return;
		}
		memcpy((char *)in + keep[i].off, ps->tag_value,
		    strlen(ps->tag_value) + 1);
	}
}

/* A leaf inside the current instance item closed. */
static void
on_instance_field(struct ec2_parse *ps, const char *name)
{
	struct ec2_instance *in = &ps->a->instances[ps->a->ninstances - 1];
	int rel = ps->depth - 1 - ps->in_item;	/* 0: a child of the item */

	if (rel == 0 && strcmp(name, "instanceId") == 0)
		store(ps, in->id, sizeof(in->id));
	else if (rel == 0 && strcmp(name, "privateIpAddress") == 0)
		store(ps, in->private_ip, sizeof(in->private_ip));
	else if (rel == 0 && strcmp(name, "launchTime") == 0)
		store(ps, in->launch_time, sizeof(in->launch_time));
	else if (rel == 1 && strcmp(name, "name") == 0 &&
	    (at(ps, ps->depth - 2, "instanceState") ||
	    at(ps, ps->depth - 2, "currentState")))
		store(ps, in->state, sizeof(in->state));
	else if (rel == 2 && at(ps, ps->depth - 3, "tagSet")) {
		if (strcmp(name, "key") == 0)
			store(ps, ps->tag_key, sizeof(ps->tag_key));
		else if (strcmp(name, "value") == 0)
			store(ps, ps->tag_value, sizeof(ps->tag_value));
	} else if (rel == 1 && strcmp(name, "item") == 0 &&
	    at(ps, ps->depth - 2, "tagSet"))
		on_tag(ps, in);
}

static void XMLCALL
on_end(void *arg, const XML_Char *name)
{
	struct ec2_parse *ps = arg;
	struct ec2_answer *a = ps->a;

	if (ps->failed || ps->depth == 0)
		return;
	if (ps->in_item && ps->depth > ps->in_item)
		on_instance_field(ps, name);
	else if (ps->depth == ps->in_item)
		ps->in_item = 0;
	else if (ps->depth == 2 && strcmp(name, "nextToken") == 0)
		store(ps, a->next_token, sizeof(a->next_token));
	else if (ps->depth == 4 && at(ps, 0, "Response") && at(ps, 1, "Errors") &&
	    at(ps, 2, "Error") && !a->error) {
		if (strcmp(name, "Code") == 0)
			store(ps, a->code, sizeof(a->code));
		else if (strcmp(name, "Message") == 0)
			store(ps, a->message, sizeof(a->message));
	} else if (ps->depth == 3 && at(ps, 0, "Response") &&
	    strcmp(name, "Error") == 0 && a->code[0] != '\0')
		a->error = 1;	/* the first error is the one kept */
	ps->depth--;
	ps->text_len = 0;
	ps->text_over = 0;
	ps->text[0] = '\0';
}

/* No DOCTYPE at all: EC2 never sends one, and it is where entities live. */
static void XMLCALL
on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	ec2_fail(arg, "a DOCTYPE is not accepted");
}

int
ec2_xml_parse(const char *xml, size_t len, struct ec2_answer *a)
{
	struct ec2_parse *ps;
	int rv = -1;

	memset(a, 0, sizeof(*a));
	if (xml == NULL || len > (size_t)1 << 30) {
		snprintf(a->why, sizeof(a->why), "no answer");
		return -1;
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL ||
	    (ps->p = XML_ParserCreate("UTF-8")) == NULL) {
		snprintf(a->why, sizeof(a->why), "out of memory");
		free(ps);
		return -1;
	}
	ps->a = a;
	XML_SetUserData(ps->p, ps);
	XML_SetElementHandler(ps->p, on_start, on_end);
	XML_SetCharacterDataHandler(ps->p, on_text);
	XML_SetStartDoctypeDeclHandler(ps->p, on_doctype);
	if (XML_Parse(ps->p, xml, (int)len, XML_TRUE) == XML_STATUS_OK &&
	    !ps->failed)
		rv = 0;
	else if (!ps->failed)
		snprintf(a->why, sizeof(a->why), "not XML: %s at line %lu",
		    XML_ErrorString(XML_GetErrorCode(ps->p)),
		    (unsigned long)XML_GetCurrentLineNumber(ps->p));
	XML_ParserFree(ps->p);
	free(ps);
	return rv;
}

void
ec2_answer_free(struct ec2_answer *a)
{
	free(a->instances);
	a->instances = NULL;
	a->ninstances = 0;
}
