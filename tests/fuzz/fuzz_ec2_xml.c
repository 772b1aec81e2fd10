/*
 * libFuzzer target for the EC2 answer parser (workers/scaler/ec2_xml.c).
 *
 * Invariants: a success holds at most EC2_XML_INSTANCES_MAX instances and
 * every field is NUL-terminated within its buffer; an error answer has a
 * code; a failure says why.  Parsing the same bytes twice gives the same
 * result (the parser keeps no state between calls).
 *
 * Build and run: make -f tests/fuzz/Makefile fuzz-run TARGET=ec2_xml
 */
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "workers/scaler/ec2_xml.h"

#define TERMINATED(s)	CHECK(memchr((s), '\0', sizeof(s)) != NULL)

static void
check_instance(const struct ec2_instance *in)
{
	TERMINATED(in->id);
	TERMINATED(in->state);
	TERMINATED(in->private_ip);
	TERMINATED(in->launch_time);
	TERMINATED(in->name);
	TERMINATED(in->role);
	TERMINATED(in->cluster);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ec2_answer a, b;
	int rc = ec2_xml_parse((const char *)data, size, &a);
	int rc2 = ec2_xml_parse((const char *)data, size, &b);

	CHECK(rc == rc2);
	if (rc == 0) {
		CHECK(a.ninstances <= EC2_XML_INSTANCES_MAX);
		CHECK(a.ninstances == b.ninstances);
		TERMINATED(a.code);
		TERMINATED(a.message);
		TERMINATED(a.next_token);
		CHECK(!a.error || a.code[0] != '\0');
		for (size_t i = 0; i < a.ninstances; i++) {
			check_instance(&a.instances[i]);
			CHECK(memcmp(&a.instances[i], &b.instances[i],
			    sizeof(a.instances[i])) == 0);
		}
	} else {
		CHECK(a.why[0] != '\0');
		TERMINATED(a.why);
	}
	ec2_answer_free(&a);
	ec2_answer_free(&b);
	return 0;
}
