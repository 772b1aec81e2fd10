/*
 * Tests of the EC2 answer parser (workers/scaler/ec2_xml.c): answers shaped as EC2
 * sends them (RunInstances, DescribeInstances with tags and a next page,
 * TerminateInstances, an error), then hostile and broken ones: an HTML error
 * page, truncated XML, entities, a field too long, too deep, too many
 * instances.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "workers/scaler/ec2_xml.h"

#define NS	" xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\""

static int
parse(const char *xml, struct ec2_answer *a)
{
	return ec2_xml_parse(xml, strlen(xml), a);
}

static void
test_describe(void **state)
{
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<DescribeInstancesResponse" NS "><requestId>r-1</requestId>"
	    "<reservationSet><item><reservationId>r-0a</reservationId>"
	    "<groupSet><item><groupId>sg-1</groupId></item></groupSet>"
	    "<instancesSet>"
	    "<item><instanceId>i-0abc</instanceId><imageId>ami-1</imageId>"
	    "<instanceState><code>16</code><name>running</name></instanceState>"
	    "<privateIpAddress>127.0.0.5</privateIpAddress>"
	    "<launchTime>2026-11-27T06:00:00.000Z</launchTime>"
	    "<networkInterfaceSet><item><privateIpAddress>10.9.9.9</privateIpAddress>"
	    "</item></networkInterfaceSet>"
	    "<tagSet><item><key>Name</key><value>Client_Listener-3</value></item>"
	    "<item><key>olb:role</key><value>client</value></item>"
	    "<item><key>Product</key><value>Fincopy</value></item>"
	    "<item><key>olb:cluster</key><value>prod &amp; co</value></item>"
	    "</tagSet></item>"
	    "<item><instanceId>i-0def</instanceId>"
	    "<instanceState><code>0</code><name>pending</name></instanceState>"
	    "</item></instancesSet></item></reservationSet>"
	    "<nextToken>tok/2==</nextToken></DescribeInstancesResponse>";
	struct ec2_answer a;

	(void)state;
	assert_int_equal(parse(xml, &a), 0);
	assert_false(a.error);
	assert_int_equal(a.ninstances, 2);
	assert_string_equal(a.instances[0].id, "i-0abc");
	assert_string_equal(a.instances[0].state, "running");
	/* The instance's own address, not a network interface's. */
	assert_string_equal(a.instances[0].private_ip, "127.0.0.5");
	assert_string_equal(a.instances[0].launch_time, "2026-11-27T06:00:00.000Z");
	assert_string_equal(a.instances[0].name, "Client_Listener-3");
	assert_string_equal(a.instances[0].role, "client");
	assert_string_equal(a.instances[0].cluster, "prod & co");
	assert_string_equal(a.instances[1].id, "i-0def");
	assert_string_equal(a.instances[1].state, "pending");
	assert_string_equal(a.instances[1].private_ip, "");
	assert_string_equal(a.next_token, "tok/2==");
	ec2_answer_free(&a);
}

static void
test_run_and_terminate(void **state)
{
	const char *run = "<RunInstancesResponse" NS "><reservationId>r-1"
	    "</reservationId><instancesSet><item><instanceId>i-1</instanceId>"
	    "<instanceState><code>0</code><name>pending</name></instanceState>"
	    "<privateIpAddress>127.0.0.9</privateIpAddress></item></instancesSet>"
	    "</RunInstancesResponse>";
	const char *term = "<TerminateInstancesResponse" NS "><instancesSet>"
	    "<item><instanceId>i-1</instanceId><currentState><code>32</code>"
	    "<name>shutting-down</name></currentState><previousState><code>16"
	    "</code><name>running</name></previousState></item></instancesSet>"
	    "</TerminateInstancesResponse>";
	struct ec2_answer a;

	(void)state;
	assert_int_equal(parse(run, &a), 0);
	assert_int_equal(a.ninstances, 1);
	assert_string_equal(a.instances[0].state, "pending");
	assert_string_equal(a.instances[0].private_ip, "127.0.0.9");
	ec2_answer_free(&a);
	assert_int_equal(parse(term, &a), 0);
	assert_int_equal(a.ninstances, 1);
	/* The current state, not the previous one. */
	assert_string_equal(a.instances[0].state, "shutting-down");
	ec2_answer_free(&a);
}

static void
test_error_answer(void **state)
{
	const char *xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>"
	    "<Message>The instance ID 'i-9' does not exist</Message></Error>"
	    "<Error><Code>Second</Code><Message>ignored</Message></Error>"
	    "</Errors><RequestID>ea96</RequestID></Response>";
	struct ec2_answer a;

	(void)state;
	assert_int_equal(parse(xml, &a), 0);
	assert_true(a.error);
	assert_string_equal(a.code, "InvalidInstanceID.NotFound");
	assert_string_equal(a.message, "The instance ID 'i-9' does not exist");
	assert_int_equal(a.ninstances, 0);
	ec2_answer_free(&a);
}

/* Each of these is refused with a reason, and nothing crashes. */
static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"<html><body><h1>502 Bad Gateway</h1><hr></body></html>",
		"<html><body>Service Unavailable<br></body></html>",
		"<RunInstancesResponse><instancesSet><item><instanceId>i-1",
		"<a></b>",
		"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x \"y\">]><r>&x;</r>",
		"<!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>",
		"<r>&undefined;</r>",
		"<RunInstancesResponse><instancesSet><item><instanceId>"
		    "i-0123456789abcdef0123456789abcdef</instanceId></item>"
		    "</instancesSet></RunInstancesResponse>",
		"<r>\x01</r>",
		"<r>\xff\xfe</r>",
	};
	struct ec2_answer a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &a), -1);
		assert_true(a.why[0] != '\0');
		ec2_answer_free(&a);
	}
	assert_int_equal(ec2_xml_parse(NULL, 0, &a), -1);
	ec2_answer_free(&a);
}

static void
test_limits(void **state)
{
	size_t cap = 64 * 1024 * 1024, len = 0;
	char *xml = malloc(cap);
	struct ec2_answer a;

	(void)state;
	assert_non_null(xml);
	/* Deeper than EC2_XML_DEPTH_MAX. */
	for (int i = 0; i < EC2_XML_DEPTH_MAX + 1; i++)
		len += (size_t)sprintf(xml + len, "<d>");
	for (int i = 0; i < EC2_XML_DEPTH_MAX + 1; i++)
		len += (size_t)sprintf(xml + len, "</d>");
	assert_int_equal(ec2_xml_parse(xml, len, &a), -1);
	assert_string_equal(a.why, "nested too deep");
	ec2_answer_free(&a);
	/* One instance more than EC2_XML_INSTANCES_MAX. */
	len = (size_t)sprintf(xml, "<RunInstancesResponse><instancesSet>");
	for (int i = 0; i <= EC2_XML_INSTANCES_MAX; i++)
		len += (size_t)sprintf(xml + len,
		    "<item><instanceId>i-%d</instanceId></item>", i);
	len += (size_t)sprintf(xml + len, "</instancesSet></RunInstancesResponse>");
	assert_int_equal(ec2_xml_parse(xml, len, &a), -1);
	assert_string_equal(a.why, "too many instances");
	ec2_answer_free(&a);
	/* A leaf text beyond the buffer: refused, not cut. */
	len = (size_t)sprintf(xml, "<DescribeInstancesResponse><nextToken>");
	memset(xml + len, 'x', 5000);
	len += 5000;
	len += (size_t)sprintf(xml + len, "</nextToken></DescribeInstancesResponse>");
	assert_int_equal(ec2_xml_parse(xml, len, &a), -1);
	assert_string_equal(a.why, "a field is too long");
	ec2_answer_free(&a);
	free(xml);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_run_and_terminate),
		cmocka_unit_test(test_error_answer),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
