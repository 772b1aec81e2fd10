/*
 * ec2_xml: the answers of the EC2 Query API (version 2016-11-15) as the
 * scaler's ec2 provider needs them, parsed with libexpat: the instances of
 * RunInstances, DescribeInstances and TerminateInstances (id, state,
 * private address, launch time, the Name / olb:role / olb:cluster /
 * olb:launch tags),
 * DescribeInstances' nextToken, and an error answer's code and message.
 *
 * Everything read is outside bytes: a field longer than its buffer, more
 * than EC2_XML_INSTANCES_MAX instances, nesting deeper than
 * EC2_XML_DEPTH_MAX, a DOCTYPE (no entities, internal or external), or
 * anything that is not well-formed XML is refused, never truncated into
 * something that looks valid.  Pure: no I/O.
 */
#ifndef OLB_EC2_XML_H
#define OLB_EC2_XML_H

#include <stddef.h>

#define EC2_XML_INSTANCES_MAX	1000
#define EC2_XML_DEPTH_MAX	32

struct ec2_instance {
	char	id[32];			/* "i-0123456789abcdef0" */
	char	state[16];		/* pending, running, shutting-down, ... */
	char	private_ip[48];
	char	launch_time[32];	/* as sent, ISO 8601 */
	char	name[128];		/* tag Name */
	char	role[16];		/* tag olb:role */
	char	cluster[128];		/* tag olb:cluster */
	char	launch[64];		/* tag olb:launch: the launch token */
	char	deployment[64];		/* tag olb:deployment */
};

struct ec2_answer {
	int			 error;		/* 1: an <Errors> answer */
	char			 code[64];	/* its first error's Code */
	char			 message[256];	/* and Message */
	char			 next_token[1024];	/* "" = last page */
	struct ec2_instance	*instances;	/* owned; ec2_answer_free */
	size_t			 ninstances;
	char			 why[128];	/* when ec2_xml_parse fails */
};

/* Parse xml[0..len) into *a (zeroed first).  0 (a may be an error answer:
 * a->error), or -1 if the bytes are not an acceptable EC2 answer (a->why
 * says why; nothing else of a is meaningful).  Free a with ec2_answer_free
 * either way. */
int	ec2_xml_parse(const char *xml, size_t len, struct ec2_answer *a);
void	ec2_answer_free(struct ec2_answer *a);

#endif
