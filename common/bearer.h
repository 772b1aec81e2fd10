/*
 * bearer: the bearer tokens of the API (proxy.auth_tokens) and of the
 * admin listener (admin.auth_token).  Only their SHA-256 digests are kept;
 * a request's token is digested and compared with every one in constant
 * time, so neither its length nor where it differs shows in the timing.
 */
#ifndef OLB_BEARER_H
#define OLB_BEARER_H

#include <stddef.h>

#include <openssl/evp.h>

#include "common/http.h"

struct bearer {
	unsigned char	 (*digests)[32];	/* owned */
	size_t		 n;
	EVP_MD		*sha256;	/* fetched once: no lookup per request */
	EVP_MD_CTX	*ctx;		/* reused: no allocation per request */
};

/* Keep the digests of tokens[0..n) (n may be 0: then every request is
 * refused).  0, or -1 (out of memory, OpenSSL failed). */
int	bearer_init(struct bearer *b, char *const *tokens, size_t n);
void	bearer_free(struct bearer *b);
/* The verdict on a request's Authorization header (NULL when absent): 0 if
 * it carries one of the tokens, 401 without "Bearer <token>", 403 with
 * another token (SPEC §3's statuses). */
int	bearer_check(const struct bearer *b, const struct http_header *authorization);

#endif
