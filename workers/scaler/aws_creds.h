/*
 * aws_creds: the AWS shared credentials file (~/.aws/credentials), read the
 * way the AWS SDKs read it, for the scaler's ec2 provider: INI sections
 * named by profile, aws_access_key_id, aws_secret_access_key and the
 * optional aws_session_token.  Pure: the caller reads the file (bounded)
 * and passes its bytes.
 *
 * Lines: "[profile]", "key = value", blank, or comments starting with '#'
 * or ';'; a line may end in CRLF.  Names and values are trimmed of spaces and
 * tabs.  Anything else, a control character (a bare CR included: keys go
 * into HTTP headers), a line longer than AWS_CREDS_LINE_MAX, a NUL byte, or
 * a key given twice in the chosen profile is an error with a line number: a
 * file olb cannot read exactly is not guessed at.  Also the instance
 * metadata service's answer, below.
 */
#ifndef OLB_AWS_CREDS_H
#define OLB_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>

#define AWS_CREDS_LINE_MAX	4096

struct aws_creds {
	char	access_key[128];
	char	secret_key[128];
	char	session_token[2048];	/* "" = none */
};

/* Find profile's credentials in text[0..len) into *out (zeroed first).  0,
 * or -1 with why filled: malformed file, no such profile, or the profile
 * lacks a key. */
int	aws_creds_parse(const char *text, size_t len, const char *profile,
	    struct aws_creds *out, char *why, size_t why_size);

/* The answer of the instance metadata service for a role's credentials
 * (IMDSv2 .../iam/security-credentials/<role>): a JSON object with Code
 * "Success" (if present), AccessKeyId, SecretAccessKey, Token and
 * Expiration ("2026-11-27T14:30:00Z").  Strings with a control character or
 * longer than their buffer, trailing bytes, or an answer over
 * AWS_CREDS_IMDS_MAX are refused.  0 with *out and *expires (ms since the
 * epoch), or -1 with why. */
#define AWS_CREDS_IMDS_MAX	16384
int	aws_creds_parse_imds(const char *json, size_t len, struct aws_creds *out,
	    uint64_t *expires, char *why, size_t why_size);

#endif
