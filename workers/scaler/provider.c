/*
 * provider: the factory of the instance providers (see provider.h).
 */
#include <stdlib.h>

#include "common/conf.h"
#include "common/log.h"
#include "workers/scaler/provider.h"

struct provider *
provider_new(const struct conf *conf, struct ev_loop *loop)
{
	struct provider *p;
	int rv = -1;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->conf = conf;
	p->loop = loop;
	switch (conf->provider.type) {
	case PROVIDER_PROCESS:
		rv = provider_process_init(p);
		break;
	case PROVIDER_STATIC:
		rv = provider_static_init(p);
		break;
	case PROVIDER_EC2:
		rv = provider_ec2_init(p);
		break;
	}
	if (rv == -1) {
		free(p);
		return NULL;
	}
	return p;
}

void
provider_free(struct provider *p)
{
	if (p == NULL)
		return;
	if (p->ops != NULL && p->ops->free != NULL)
		p->ops->free(p);
	free(p);
}
