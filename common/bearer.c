/*
 * bearer: bearer tokens kept as digests, compared in constant time (see
 * bearer.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/bearer.h"

static int
bearer_digest(const struct bearer *b, const char *token, size_t len,
    unsigned char out[32])
{
	unsigned int n = 32;

	return EVP_Digest(token, len, out, &n, b->sha256, NULL) == 1 ? 0 : -1;
}

int
bearer_init(struct bearer *b, char *const *tokens, size_t n)
{
	memset(b, 0, sizeof(*b));
	if ((b->digests = calloc(n ? n : 1, 32)) == NULL ||
	    (b->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		goto fail;
	for (; b->n < n; b->n++)
		if (bearer_digest(b, tokens[b->n], strlen(tokens[b->n]),
		    b->digests[b->n]) == -1)
			goto fail;
	return 0;
fail:
	bearer_free(b);
	return -1;
}

void
bearer_free(struct bearer *b)
{
	if (b->digests != NULL)
		OPENSSL_cleanse(b->digests, b->n * 32);
	free(b->digests);
	EVP_MD_free(b->sha256);
	memset(b, 0, sizeof(*b));
}

int
bearer_check(const struct bearer *b, const struct http_header *h)
{
	unsigned char digest[32];
	int ok = 0;

	if (h == NULL || h->value_len < 7 || strncmp(h->value, "Bearer ", 7) != 0)
		return 401;
	if (bearer_digest(b, h->value + 7, h->value_len - 7, digest) == -1)
		return 403;
	for (size_t i = 0; i < b->n; i++)
		ok |= CRYPTO_memcmp(digest, b->digests[i], 32) == 0;
	return ok ? 0 : 403;
}
