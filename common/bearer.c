/*
 * bearer: bearer tokens kept as digests, compared in constant time (see
 * bearer.h).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/bearer.h"

/* The digest of token into out, in b's context (EVP_Digest would allocate
 * a context per call).  0 or -1. */
static int
bearer_digest(const struct bearer *b, const char *token, size_t len,
    unsigned char out[32])
{
	unsigned int n = 32;

	if (EVP_DigestInit_ex2(b->ctx, b->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(b->ctx, token, len) != 1 ||
	    EVP_DigestFinal_ex(b->ctx, out, &n) != 1 || n != 32)
		return -1;
	return 0;
}

int
bearer_init(struct bearer *b, char *const *tokens, size_t n)
{
	memset(b, 0, sizeof(*b));
	if ((b->digests = calloc(n ? n : 1, 32)) == NULL ||
	    (b->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (b->ctx = EVP_MD_CTX_new()) == NULL)
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
	EVP_MD_CTX_free(b->ctx);
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
