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
 * 2. payload_fast walks a plain body (no escape, shallow, the usual shape)
 *    without building anything and takes its fields if they pass every
 *    rule; anything else goes on to steps 3 and 4, which are the
 *    reference (payload_parse_reference) and write every error.
 * 3. json-c builds the tree: strict mode, nesting at most PAYLOAD_DEPTH_MAX,
 *    nothing but JSON white space after the value.
 * 4. payload_check: the fields, in the earlier service's order.
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
 * The fast path copies nothing but the ids.
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
 * Parse body[0..len) (lexically valid: payload_scan) into *root, a JSON
 * object owned by the caller.  0, or the HTTP status with p->message set
 * (*root is then NULL or to be freed).
 */
static int
payload_decode(const char *body, size_t len, struct json_object **root,
    struct payload *p)
{
	/* One tokener for the process (its buffers too), reset for each body:
	 * a new one per request was a kilobyte of calloc and free. */
	static struct json_tokener *tok;
	int ok;

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

/*
 * The fast path.  Most bodies are plain: no escape anywhere, no exponent,
 * shallow.  Their fields are found in one walk over the bytes, without a
 * tree (json-c's costs an allocation per key, value and object).  The walk
 * decides only successes: whatever it is not sure to read as json-c does
 * (an escape, a number with an exponent or more than FAST_NUMBER_MAX
 * characters, a negative id, an array index as a key of master_actid,
 * nesting past FAST_DEPTH_MAX, anything after the object) and every error
 * go to json-c's tree, which writes the messages.  tests/fuzz/fuzz_payload.c
 * holds the two paths to the same answers.
 */
#define FAST_DEPTH_MAX	8
#define FAST_NUMBER_MAX	15	/* digits a double or an int64 holds exactly */

/* A member's value in the body: at[0..len), at NULL when absent. */
struct fast_span {
	const char	*at;
	size_t		 len;
};

/* What the walk keeps: the last value of each field, and for the last
 * services and master_actid, master's value and the first key. */
struct fast_body {
	struct fast_span	field[FIELD_COUNT];
	struct fast_span	services_master;
	struct fast_span	first_key;
};

/* The object a value is, if it is one: whose members the walk keeps. */
enum fast_object {
	FAST_SKIP,
	FAST_ROOT,
	FAST_SERVICES,
	FAST_MASTER_ACTID,
};

static size_t	fast_value(const char *, size_t, size_t, int, struct fast_body *,
		    enum fast_object);

static size_t
fast_space(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* The end of the string at s[i] (it has no escape), 0 when none is there. */
static size_t
fast_string(const char *s, size_t n, size_t i)
{
	const char *quote;

	if (i >= n || s[i] != '"')
		return 0;
	quote = memchr(s + i + 1, '"', n - i - 1);
	return quote == NULL ? 0 : (size_t)(quote - s) + 1;
}

/* The end of the literal or short plain number at s[i] (payload_scan
 * checked its spelling), 0 for anything else. */
static size_t
fast_scalar(const char *s, size_t n, size_t i)
{
	size_t end = i;

	switch (s[i]) {
	case 't': case 'n':
		return i + 4 <= n ? i + 4 : 0;
	case 'f':
		return i + 5 <= n ? i + 5 : 0;
	default:
		while (end < n && (IS_DIGIT(s[end]) || s[end] == '-' || s[end] == '.'))
			end++;
		if (end == i || end - i > FAST_NUMBER_MAX ||
		    (end < n && (s[end] == 'e' || s[end] == 'E')))
			return 0;
		return end;
	}
}

/* Which of the five fields key[0..len) names, FIELD_COUNT for none. */
static int
fast_field(const char *key, size_t len)
{
	int f;

	for (f = 0; f < FIELD_COUNT; f++)
		if (strlen(payload_field_names[f]) == len &&
		    memcmp(payload_field_names[f], key, len) == 0)
			return f;
	return FIELD_COUNT;
}

/*
 * Before the value of member key[0..len) of an object of kind what: what
 * that value is (if an object), with what the walk keeps of an earlier one
 * forgotten (the last member of a name wins).  -1: leave it to json-c.
 */
static int
fast_member(struct fast_body *b, enum fast_object what, const char *key,
    size_t len)
{
	switch (what) {
	case FAST_ROOT:
		switch (fast_field(key, len)) {
		case FIELD_SERVICES:
			b->services_master.at = NULL;
			return FAST_SERVICES;
		case FIELD_MASTER_ACTID:
			b->first_key.at = NULL;
			return FAST_MASTER_ACTID;
		default:
			return FAST_SKIP;
		}
	case FAST_MASTER_ACTID:
		if (len > 0 && IS_DIGIT(key[0]))
			return -1;	/* Object.keys() puts array indexes first */
		if (b->first_key.at == NULL)
			b->first_key = (struct fast_span){ key, len };
		return FAST_SKIP;
	default:
		return FAST_SKIP;
	}
}

/* After the value value[0..len) of member key[0..klen) of an object of kind what. */
static void
fast_keep(struct fast_body *b, enum fast_object what, const char *key,
    size_t klen, struct fast_span value)
{
	int f;

	if (what == FAST_ROOT && (f = fast_field(key, klen)) < FIELD_COUNT)
		b->field[f] = value;
	else if (what == FAST_SERVICES && klen == 6 && memcmp(key, "master", 6) == 0)
		b->services_master = value;
}

/*
 * After a member or an element that ends before s[i]: the start of the
 * next one past a ',' (*more = 1), or the end of the object or array past
 * close (*more = 0); 0 when neither follows.
 */
static size_t
fast_next(const char *s, size_t n, size_t i, char close, int *more)
{
	if ((i = fast_space(s, n, i)) < n && s[i] == close) {
		*more = 0;
		return i + 1;
	}
	if (i >= n || s[i] != ',')
		return 0;
	*more = 1;
	return fast_space(s, n, i + 1);
}

/* The end of the object at s[i] ('{'), or 0. */
static size_t
fast_object(const char *s, size_t n, size_t i, int depth, struct fast_body *b,
    enum fast_object what)
{
	size_t key, key_end, value;
	int sub, more;

	if ((i = fast_space(s, n, i + 1)) < n && s[i] == '}')
		return i + 1;
	for (;;) {
		key = i;
		if ((key_end = i = fast_string(s, n, i)) == 0)
			return 0;
		if ((i = fast_space(s, n, i)) >= n || s[i] != ':')
			return 0;
		value = i = fast_space(s, n, i + 1);
		sub = fast_member(b, what, s + key + 1, key_end - key - 2);
		if (sub == -1 ||
		    (i = fast_value(s, n, i, depth, b, (enum fast_object)sub)) == 0)
			return 0;
		fast_keep(b, what, s + key + 1, key_end - key - 2,
		    (struct fast_span){ s + value, i - value });
		if ((i = fast_next(s, n, i, '}', &more)) == 0 || !more)
			return i;
	}
}

/* The end of the array at s[i] ('['), or 0. */
static size_t
fast_array(const char *s, size_t n, size_t i, int depth, struct fast_body *b)
{
	int more;

	if ((i = fast_space(s, n, i + 1)) < n && s[i] == ']')
		return i + 1;
	for (;;) {
		if ((i = fast_value(s, n, i, depth, b, FAST_SKIP)) == 0 ||
		    (i = fast_next(s, n, i, ']', &more)) == 0 || !more)
			return i;
	}
}

/* The end of the value at s[i], or 0. */
static size_t
fast_value(const char *s, size_t n, size_t i, int depth, struct fast_body *b,
    enum fast_object what)
{
	if (i >= n)
		return 0;
	switch (s[i]) {
	case '{':
		return depth < FAST_DEPTH_MAX ?
		    fast_object(s, n, i, depth + 1, b, what) : 0;
	case '[':
		return depth < FAST_DEPTH_MAX ? fast_array(s, n, i, depth + 1, b) : 0;
	case '"':
		return fast_string(s, n, i);
	default:
		return fast_scalar(s, n, i);
	}
}

/*
 * The id v (a plain string, a short non-negative integer, or when first
 * is not NULL an object with that first key) into id[].  0, or -1 when v
 * is missing, of another type, or refused.
 */
static int
fast_id(struct fast_span v, const struct fast_span *first, int blank_ok,
    char *id)
{
	const char *s = v.at;
	size_t n = v.len;

	if (s[0] == '"') {
		s++;
		n -= 2;
	} else if (s[0] == '{' && first != NULL) {
		s = first->at != NULL ? first->at : "";
		n = first->at != NULL ? first->len : 0;
	} else if (!IS_DIGIT(s[0]) || memchr(s, '.', n) != NULL) {
		return -1;	/* a double, negative, or not an id */
	}
	if (!blank_ok && payload_is_blank(s, n))
		return -1;
	return payload_id_copy(s, n, id) == ID_OK ? 0 : -1;
}

/* JavaScript truthiness of services.master v, -1 for a number. */
static int
fast_truthy(struct fast_span v)
{
	if (v.at == NULL)
		return 0;
	switch (v.at[0]) {
	case 'f': case 'n':
		return 0;
	case '"':
		return v.len > 2;
	case 't': case '{': case '[':
		return 1;
	default:
		return -1;
	}
}

/* payload_check's rules on the walk's fields: 0 with the ids in *p, or -1. */
static int
fast_check(const struct fast_body *b, struct payload *p)
{
	const struct fast_span *v = b->field;
	int f, is_master;

	for (f = 0; f < FIELD_COUNT; f++)
		if (v[f].at == NULL || v[f].at[0] == 'n' ||
		    (f != FIELD_MASTER_ACTID && v[f].len == 2 && v[f].at[0] == '"'))
			return -1;	/* missing, or an empty string */
	if (v[FIELD_SERVICES].at[0] != '{' ||
	    (is_master = fast_truthy(b->services_master)) == -1)
		return -1;
	if (fast_id(v[FIELD_ACTID], NULL, 0, p->actid) == -1 ||
	    fast_id(v[FIELD_MASTER_ACTID], &b->first_key, 1, p->master_actid) == -1)
		return -1;
	if (!is_master && p->master_actid[0] == '\0')
		return -1;
	p->is_master = is_master;
	return 0;
}

/* The fields of body (lexically valid) by the fast path: 0, or -1 to
 * leave the body to json-c (*p may then hold part of the ids). */
static int
payload_fast(const char *body, size_t len, struct payload *p)
{
	struct fast_body b;

	memset(&b, 0, sizeof(b));
	if (body[0] != '{' || memchr(body, '\\', len) != NULL ||
	    fast_object(body, len, 0, 1, &b, FAST_ROOT) != len)
		return -1;
	return fast_check(&b, p);
}

/* The fields of body (lexically valid) through json-c's tree. */
static int
payload_parse_tree(const char *body, size_t len, struct payload *p)
{
	struct json_object *root = NULL;
	int status;

	if ((status = payload_decode(body, len, &root, p)) == 0)
		status = payload_check(root, p);
	json_object_put(root);
	return status;
}

/* The body after its byte order mark, if it has one, and its checks. */
static int
payload_run(const char *body, size_t len, struct payload *p, int fast)
{
	int status;

	p->actid[0] = p->master_actid[0] = p->message[0] = '\0';
	p->is_master = 0;
	if (len > PAYLOAD_BODY_MAX)
		return payload_fail(p, 413, MSG_TOO_LARGE);
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0) {
		body += 3;
		len -= 3;
	}
	if (len == 0 || payload_scan((const unsigned char *)body, len) == -1)
		status = payload_fail(p, 400, MSG_INVALID_JSON);
	else if (fast && payload_fast(body, len, p) == 0)
		return 0;
	else
		status = payload_parse_tree(body, len, p);
	if (status != 0)
		p->actid[0] = p->master_actid[0] = '\0';
	return status;
}

int
payload_parse(const char *body, size_t len, struct payload *p)
{
	return payload_run(body, len, p, 1);
}

int
payload_parse_reference(const char *body, size_t len, struct payload *p)
{
	return payload_run(body, len, p, 0);
}
