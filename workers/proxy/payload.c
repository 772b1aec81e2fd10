/*
 * payload: validation of the listener API's JSON body (see payload.h),
 * called by the proxy workers (workers/proxy/proxy_api.c) for every
 * create_user_listener and remove_user_listener request.
 *
 * Three steps over a body the worker has already bounded (proxy.max_body):
 * 1. payload_scan: one lexical pass that accepts only RFC 8259 tokens.
 *    json-c 0.16, even in strict mode, accepts NaN, Infinity, -Infinity,
 *    "1.", "-01", raw control characters inside strings and overlong or
 *    surrogate UTF-8, and it cuts an object key at a \u0000 escape (so
 *    {"actid\u0000x":...} would be read as "actid" by olb and not by the
 *    instance, which gets the body byte for byte).  All of these are a 400
 *    here, so olb and the instance never read different fields.
 * 2. json-c builds the tree: strict mode, nesting at most PAYLOAD_DEPTH_MAX,
 *    nothing but JSON white space after the value.
 * 3. payload_check: the fields, in the earlier service's order.
 *
 * Decisions (compatible with the earlier Node.js service):
 * - a duplicate key: the last value wins, at the first key's position (both
 *   json-c and JSON.parse do so);
 * - a UTF-8 byte order mark before the body is skipped (body-parser did);
 * - an id is kept as sent, not trimmed; "blank" means only what JavaScript's
 *   String.prototype.trim() removes, and a blank id normalises to "";
 * - an integer id is its decimal text; json-c saturates integers outside
 *   int64 (and reads 2^63..2^64-1 as unsigned), so INT64_MIN and INT64_MAX
 *   are refused as possibly saturated, with everything beyond them;
 * - the "first key" of a master_actid object is the first of Object.keys():
 *   the smallest array index ("0".."4294967294") if any key is one, else
 *   the first key in the body;
 * - control characters in an id are C0, DEL and C1 (U+0080..U+009F).
 *
 * json-c holds a copy of every value (access_token too) until the tree is
 * freed, before payload_parse() returns; the body holds the same bytes.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "workers/proxy/payload.h"

#define MSG_INVALID_JSON	"Invalid JSON payload"
#define MSG_NOT_OBJECT		"Request body must be a JSON object"
#define MSG_MASTER_REQUIRED	"master_actid is required when services.master is false"
#define MSG_SERVICES_TYPE	"services must be an object"
#define MSG_TOO_LARGE		"Request body too large"
#define MSG_NO_MEMORY		"Internal error"
#define MSG_MISSING		"Required fields missing: "
#define MSG_MISSING_ALL		MSG_MISSING "actid, broker, access_token, master_actid, services"

_Static_assert(sizeof(MSG_MISSING_ALL) <= PAYLOAD_MESSAGE_MAX &&
    sizeof(MSG_MASTER_REQUIRED) <= PAYLOAD_MESSAGE_MAX, "PAYLOAD_MESSAGE_MAX");

#define IS_DIGIT(c)	((c) >= '0' && (c) <= '9')
#define ARRAY_INDEX_MAX	4294967294u	/* the largest JavaScript array index */

/* The required fields, in the order the error message lists them. */
enum payload_field {
	FIELD_ACTID,
	FIELD_BROKER,
	FIELD_ACCESS_TOKEN,
	FIELD_MASTER_ACTID,
	FIELD_SERVICES,
	FIELD_COUNT,
};

static const char *const payload_field_names[FIELD_COUNT] = {
	"actid", "broker", "access_token", "master_actid", "services",
};

/* What normalising an id gave; indexes the messages below. */
enum payload_id_status {
	ID_OK,
	ID_BAD_TYPE,
	ID_TOO_LONG,
	ID_CONTROL,
};

static const char *const payload_actid_errors[] = {
	[ID_BAD_TYPE] = "actid must be a string or an integer",
	[ID_TOO_LONG] = "actid is too long",
	[ID_CONTROL] = "actid contains control characters",
};

static const char *const payload_master_errors[] = {
	[ID_BAD_TYPE] = "master_actid must be a string, an integer or an object",
	[ID_TOO_LONG] = "master_actid is too long",
	[ID_CONTROL] = "master_actid contains control characters",
};

static int
payload_fail(struct payload *p, int status, const char *message)
{
	snprintf(p->message, sizeof(p->message), "%s", message);
	return status;
}

/*
 * Length of the UTF-8 sequence at s[0..n), 0 when it is malformed (Unicode
 * Table 3-7: no overlong form, no surrogate, nothing above U+10FFFF).
 */
static size_t
payload_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* Length of the escape at s[0..n) (s[0] is '\'), 0 when malformed. */
static size_t
payload_scan_escape(const unsigned char *s, size_t n, int *nul_escape)
{
	size_t i;

	if (n >= 2 && s[1] != '\0' && memchr("\"\\/bfnrt", s[1], 8) != NULL)
		return 2;
	if (n < 6 || s[1] != 'u')
		return 0;
	for (i = 2; i < 6; i++)
		if (s[i] == '\0' || memchr("0123456789abcdefABCDEF", s[i], 22) == NULL)
			return 0;
	if (memcmp(s + 2, "0000", 4) == 0)
		*nul_escape = 1;
	return 6;
}

/* Length of the string at s[0..n) (s[0] is '"'), quotes included; 0 when malformed. */
static size_t
payload_scan_string(const unsigned char *s, size_t n, int *nul_escape)
{
	size_t i = 1, len;

	*nul_escape = 0;
	while (i < n) {
		if (s[i] == '"')
			return i + 1;
		if (s[i] < 0x20)
			return 0;
		if (s[i] == '\\')
			len = payload_scan_escape(s + i, n - i, nul_escape);
		else
			len = payload_utf8_len(s + i, n - i);
		if (len == 0)
			return 0;
		i += len;
	}
	return 0;
}

static size_t
payload_skip_digits(const unsigned char *s, size_t n, size_t i)
{
	while (i < n && IS_DIGIT(s[i]))
		i++;
	return i;
}

/* Length of the number at s[0..n) (RFC 8259 §6), 0 when malformed. */
static size_t
payload_scan_number(const unsigned char *s, size_t n)
{
	size_t i = 0, end;

	if (s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && IS_DIGIT(s[i]))
		i = payload_skip_digits(s, n, i);
	else
		return 0;
	if (i < n && s[i] == '.') {
		if ((end = payload_skip_digits(s, n, i + 1)) == i + 1)
			return 0;
		i = end;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if ((end = payload_skip_digits(s, n, i)) == i)
			return 0;
		i = end;
	}
	return i;
}

/* Length of the literal at s[0..n) (true, false, null), 0 when there is none. */
static size_t
payload_scan_literal(const unsigned char *s, size_t n)
{
	const char *word;
	size_t len;

	if (s[0] == 't')
		word = "true";
	else if (s[0] == 'f')
		word = "false";
	else if (s[0] == 'n')
		word = "null";
	else
		return 0;
	len = strlen(word);
	return n >= len && memcmp(s, word, len) == 0 ? len : 0;
}

/* Whether the string ending before s[i] is an object key (a ':' follows). */
static int
payload_is_key(const unsigned char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i < n && s[i] == ':';
}

/* Whether a number or literal may end before s[i]: "01" and "truex" may not. */
static int
payload_value_ends(const unsigned char *s, size_t n, size_t i)
{
	if (i == n)
		return 1;
	switch (s[i]) {
	case ' ': case '\t': case '\n': case '\r': case ',': case ']': case '}':
		return 1;
	default:
		return 0;
	}
}

/*
 * 0 when s[0..n) is a sequence of RFC 8259 tokens and white space, -1 when
 * not.  The structure (nesting, commas, colons) is left to json-c.
 */
static int
payload_scan(const unsigned char *s, size_t n)
{
	size_t i = 0, len;
	int nul_escape;

	while (i < n) {
		switch (s[i]) {
		case ' ': case '\t': case '\n': case '\r':
		case '{': case '}': case '[': case ']': case ',': case ':':
			len = 1;
			break;
		case '"':
			len = payload_scan_string(s + i, n - i, &nul_escape);
			if (len == 0 || (nul_escape && payload_is_key(s, n, i + len)))
				return -1;
			break;
		default:
			if (s[i] == '-' || IS_DIGIT(s[i]))
				len = payload_scan_number(s + i, n - i);
			else
				len = payload_scan_literal(s + i, n - i);
			if (len == 0 || !payload_value_ends(s, n, i + len))
				return -1;
			break;
		}
		i += len;
	}
	return 0;
}

/*
 * Byte length of the JavaScript white space or line terminator (what
 * String.prototype.trim() removes) at s[0..n) of valid UTF-8, else 0.
 */
static size_t
payload_space_len(const unsigned char *s, size_t n)
{
	if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r'))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0)		/* U+00A0 */
		return 2;
	if (n < 3)
		return 0;
	if ((s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) ||	/* U+1680 */
	    (s[0] == 0xe2 && s[1] == 0x80 &&			/* U+2000..200A */
	    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 ||	/* U+2028, 2029 */
	    s[2] == 0xaf)) ||					/* U+202F */
	    (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) ||	/* U+205F */
	    (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) ||	/* U+3000 */
	    (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf))	/* U+FEFF */
		return 3;
	return 0;
}

static int
payload_is_blank(const char *id, size_t n)
{
	const unsigned char *s = (const unsigned char *)id;
	size_t i = 0, len;

	while (i < n) {
		if ((len = payload_space_len(s + i, n - i)) == 0)
			return 0;
		i += len;
	}
	return 1;
}

/* Whether id[0..n) holds C0, DEL or C1 (U+0080..U+009F, "\xc2\x80".."\xc2\x9f"). */
static int
payload_has_control(const char *id, size_t n)
{
	const unsigned char *s = (const unsigned char *)id;
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f ||
		    (s[i] == 0xc2 && i + 1 < n && s[i + 1] < 0xa0))
			return 1;
	return 0;
}

/* Copy the id s[0..n) to id[] ("" when blank) after its checks. */
static enum payload_id_status
payload_id_copy(const char *s, size_t n, char *id)
{
	if (payload_is_blank(s, n))
		n = 0;
	if (n > PAYLOAD_ID_MAX)
		return ID_TOO_LONG;
	if (payload_has_control(s, n))
		return ID_CONTROL;
	memcpy(id, s, n);
	id[n] = '\0';
	return ID_OK;
}

/* The array index (JavaScript) that key is, or -1 when it is none. */
static int64_t
payload_array_index(const char *key)
{
	uint64_t v = 0;
	size_t i, n = strlen(key);

	if (n == 0 || n > 10 || (key[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (!IS_DIGIT(key[i]))
			return -1;
		v = v * 10 + (uint64_t)(key[i] - '0');
	}
	return v <= ARRAY_INDEX_MAX ? (int64_t)v : -1;
}

/* The first key of obj in Object.keys() order, NULL when it has none. */
static const char *
payload_first_key(struct json_object *obj)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	const char *first = NULL, *lowest = NULL, *key;
	int64_t index, lowest_index = 0;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		key = json_object_iter_peek_name(&it);
		if ((index = payload_array_index(key)) == -1) {
			if (first == NULL)
				first = key;
		} else if (lowest == NULL || index < lowest_index) {
			lowest = key;
			lowest_index = index;
		}
	}
	return lowest != NULL ? lowest : first;
}

/*
 * Normalise v (NULL for absent or null: "") into id[PAYLOAD_ID_MAX + 1]: a
 * string, an integer, or when object_ok an object's first key.
 */
static enum payload_id_status
payload_id_from_json(struct json_object *v, int object_ok, char *id)
{
	char num[24];
	const char *key;
	int64_t i;

	id[0] = '\0';
	switch (json_object_get_type(v)) {
	case json_type_null:
		return ID_OK;
	case json_type_string:
		return payload_id_copy(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), id);
	case json_type_int:
		i = json_object_get_int64(v);
		if (i == INT64_MIN || i == INT64_MAX)
			return ID_BAD_TYPE;
		snprintf(num, sizeof(num), "%" PRId64, i);
		return payload_id_copy(num, strlen(num), id);
	case json_type_object:
		if (!object_ok)
			return ID_BAD_TYPE;
		if ((key = payload_first_key(v)) == NULL)
			return ID_OK;
		return payload_id_copy(key, strlen(key), id);
	default:
		return ID_BAD_TYPE;
	}
}

/* JavaScript truthiness of v (NULL: absent or null). */
static int
payload_truthy(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return 0;
	case json_type_boolean:
		return json_object_get_boolean(v);
	case json_type_int:
		return json_object_get_int64(v) != 0;
	case json_type_double:
		/* Never NaN: payload_scan refuses the literal. */
		return json_object_get_double(v) < 0 || json_object_get_double(v) > 0;
	case json_type_string:
		return json_object_get_string_len(v) > 0;
	default:
		return 1;	/* object, array */
	}
}

/*
 * Parse body[0..len) into *root, a JSON object owned by the caller.  0, or
 * the HTTP status with p->message set (*root is then NULL or to be freed).
 */
static int
payload_decode(const char *body, size_t len, struct json_object **root,
    struct payload *p)
{
	/* One tokener for the process (its buffers too), reset for each body:
	 * a new one per request was a kilobyte of calloc and free. */
	static struct json_tokener *tok;
	int ok;

	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
		body += 3;
		len -= 3;
	}
	if (len == 0 || payload_scan((const unsigned char *)body, len) == -1)
		return payload_fail(p, 400, MSG_INVALID_JSON);
	if (tok == NULL && (tok = json_tokener_new_ex(PAYLOAD_DEPTH_MAX)) == NULL)
		return payload_fail(p, 500, MSG_NO_MEMORY);
	json_tokener_reset(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*root = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_continue) {
		*root = json_tokener_parse_ex(tok, "", 1);	/* the end ends a number */
		ok = json_tokener_get_error(tok) == json_tokener_success;
	} else {
		ok = json_tokener_get_error(tok) == json_tokener_success &&
		    json_tokener_get_parse_end(tok) == len;
	}
	if (!ok)	/* *root (when not NULL) is freed by the caller */
		return payload_fail(p, 400, MSG_INVALID_JSON);
	if (!json_object_is_type(*root, json_type_object))
		return payload_fail(p, 400, MSG_NOT_OBJECT);
	return 0;
}

/* Whether field f of value v (NULL: absent or null) counts as missing. */
static int
payload_missing(enum payload_field f, struct json_object *v)
{
	size_t len;

	if (v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return 0;
	len = (size_t)json_object_get_string_len(v);
	if (f == FIELD_ACTID)
		return payload_is_blank(json_object_get_string(v), len);
	return (f == FIELD_BROKER || f == FIELD_ACCESS_TOKEN) && len == 0;
}

/* 0 when no required field is missing, else 400 with the list in p->message. */
static int
payload_check_required(struct json_object *const *v, struct payload *p)
{
	size_t off = 0;
	int f;

	for (f = 0; f < FIELD_COUNT; f++) {
		if (!payload_missing((enum payload_field)f, v[f]))
			continue;
		/* Fits: MSG_MISSING_ALL is the longest (static assertion). */
		off += (size_t)snprintf(p->message + off, sizeof(p->message) - off,
		    "%s%s", off == 0 ? MSG_MISSING : ", ", payload_field_names[f]);
	}
	return off == 0 ? 0 : 400;
}

/*
 * The field rules of SPEC §3 and §4 on the object root, in the earlier
 * service's order.  0 with the ids in *p, or 400 with p->message set.
 */
static int
payload_check(struct json_object *root, struct payload *p)
{
	struct json_object *v[FIELD_COUNT] = { NULL }, *master = NULL;
	enum payload_id_status actid_status, master_status;
	int f, master_false;

	for (f = 0; f < FIELD_COUNT; f++)
		json_object_object_get_ex(root, payload_field_names[f], &v[f]);
	if (json_object_is_type(v[FIELD_SERVICES], json_type_object))
		json_object_object_get_ex(v[FIELD_SERVICES], "master", &master);
	master_false = json_object_is_type(master, json_type_boolean) &&
	    !json_object_get_boolean(master);
	master_status = payload_id_from_json(v[FIELD_MASTER_ACTID], 1, p->master_actid);
	if (master_false && master_status == ID_OK && p->master_actid[0] == '\0')
		return payload_fail(p, 400, MSG_MASTER_REQUIRED);
	if (payload_check_required(v, p) != 0)
		return 400;
	if (!json_object_is_type(v[FIELD_SERVICES], json_type_object))
		return payload_fail(p, 400, MSG_SERVICES_TYPE);
	actid_status = payload_id_from_json(v[FIELD_ACTID], 0, p->actid);
	if (actid_status != ID_OK)
		return payload_fail(p, 400, payload_actid_errors[actid_status]);
	if (master_status != ID_OK)
		return payload_fail(p, 400, payload_master_errors[master_status]);
	p->is_master = payload_truthy(master);
	if (!p->is_master && p->master_actid[0] == '\0')
		return payload_fail(p, 400, MSG_MASTER_REQUIRED);
	return 0;
}

int
payload_parse(const char *body, size_t len, struct payload *p)
{
	struct json_object *root = NULL;
	int status;

	p->actid[0] = p->master_actid[0] = p->message[0] = '\0';
	p->is_master = 0;
	if (len > PAYLOAD_BODY_MAX)
		return payload_fail(p, 413, MSG_TOO_LARGE);
	if ((status = payload_decode(body, len, &root, p)) == 0)
		status = payload_check(root, p);
	json_object_put(root);
	if (status != 0)
		p->actid[0] = p->master_actid[0] = '\0';
	return status;
}
