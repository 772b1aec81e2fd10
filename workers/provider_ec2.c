/*
 * provider_ec2: AWS EC2 instances (SPEC §6).  The Query API client lands in
 * the following steps; until then the ec2 provider refuses to start, so a
 * configuration that asks for it fails loudly instead of launching nothing.
 */
#include "common/log.h"
#include "workers/provider.h"

int
provider_ec2_init(struct provider *p)
{
	(void)p;
	log_error("provider ec2: not available in this build yet");
	return -1;
}
