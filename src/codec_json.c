/*
 * proto3 JSON, as protobuf.dev/programming-guides/json describes it.
 *
 * Decoding is one pass of a recursive-descent parser driven by the protobuf-c
 * descriptors: it reads the text and builds the message in the request arena
 * as it goes, with no intermediate tree (jansson needs ~0.6 s and 170 MB
 * just to parse the 30 MB benchmark CLA; this needs ~0.13 s).  Every error
 * carries the exact byte span and the field path being read.  Elements of
 * arrays and maps, whose counts are unknown until the closing bracket, wait
 * on a scratch stack that nested arrays share; it is the decoder's only
 * allocation outside the arena.
 *
 * Encoding prints straight into the eds_buf, fields in number order, which
 * is the order of protobuf-c's fields array.
 *
 * Well-known types with special JSON forms (wrappers, Duration, Timestamp,
 * Struct, Value, ListValue, Any) are the only message types handled by name.
 */
#include "codec_json.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "schema.h"

#define DURATION_MAX_SECONDS INT64_C(315576000000)
/* Timestamps: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z */
#define TIMESTAMP_MIN_SECONDS INT64_C(-62135596800)
#define TIMESTAMP_MAX_SECONDS INT64_C(253402300799)

/* ---------------------------------------------------------------------- */
/* Shared helpers                                                          */

/* protoc's default json_name: drop each '_' and upper-case the next char. */
static bool camel_eq(const char *name, const char *key, size_t klen)
{
	size_t j = 0;
	bool up = false;
	for (const char *p = name; *p; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		char ch = *p;
		if (up && ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		up = false;
		if (j >= klen || key[j] != ch)
			return false;
		j++;
	}
	return j == klen;
}

static bool name_eq(const char *name, const char *key, size_t klen)
{
	return strncmp(name, key, klen) == 0 && name[klen] == '\0';
}

static bool is_map(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
	       eds_schema_map_entry(f->descriptor);
}

static bool is_null_value_enum(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_ENUM &&
	       f->descriptor == (const void *)&google__protobuf__null_value__descriptor;
}

static bool is_value_msg(const ProtobufCFieldDescriptor *f)
{
	return f->type == PROTOBUF_C_TYPE_MESSAGE &&
	       f->descriptor == (const void *)&google__protobuf__value__descriptor;
}

/* eds_schema_wkt, without its string compare for the common case. */
static enum eds_wkt wkt_of(const ProtobufCMessageDescriptor *desc)
{
	if (desc->package_name[0] != 'g')
		return EDS_WKT_NONE;
	return eds_schema_wkt(desc);
}

/* WKTs that sit under "value" when inside an Any. */
static bool wkt_special(enum eds_wkt w)
{
	return w == EDS_WKT_STRUCT || w == EDS_WKT_VALUE || w == EDS_WKT_LIST_VALUE ||
	       w == EDS_WKT_DURATION || w == EDS_WKT_TIMESTAMP || w == EDS_WKT_WRAPPER || w == EDS_WKT_ANY ||
	       w == EDS_WKT_FIELD_MASK;
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
	case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
	default: return 4;
	}
}

/* Shortest %.Ng that reads back as the same value; the C locale is assumed
 * (edsmod never calls setlocale). */
static int fmt_double(char *buf, size_t size, double v)
{
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return n;
}

static int fmt_float(char *buf, size_t size, float v)
{
	int n = 0;
	for (int prec = 6; prec <= 9; prec++) {
		n = snprintf(buf, size, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	return n;
}

/*
 * JSON number syntax, except that leading zeros are allowed (strings such
 * as "007" are integers to every protobuf runtime).  *plain: no fraction or
 * exponent.
 */
static bool number_syntax(const char *s, size_t n, bool *plain)
{
	size_t i = 0;
	*plain = true;
	if (i < n && s[i] == '-')
		i++;
	size_t d = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == d)
		return false;
	if (i < n && s[i] == '.') {
		*plain = false;
		d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		*plain = false;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

/* ---------------------------------------------------------------------- */
/* eds_json_locate: a skipping scanner over the source text                */

struct lscan {
	const char *s;
	size_t n;
};

static size_t l_ws(const struct lscan *l, size_t i)
{
	while (i < l->n && (l->s[i] == ' ' || l->s[i] == '\t' || l->s[i] == '\n' || l->s[i] == '\r'))
		i++;
	return i;
}

/* Index after the closing quote of the string opening at i, 0 if none. */
static size_t l_str_end(const struct lscan *l, size_t i)
{
	for (i++; i < l->n; i++) {
		if (l->s[i] == '\\')
			i++;
		else if (l->s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Index after the value starting at i, 0 if malformed.  Iterative, so any
 * nesting depth is fine. */
static size_t l_value_end(const struct lscan *l, size_t i)
{
	size_t depth = 0;
	while (i < l->n) {
		char ch = l->s[i];
		if (ch == '"') {
			i = l_str_end(l, i);
			if (!i || depth == 0)
				return i;
		} else if (ch == '{' || ch == '[') {
			depth++;
			i++;
		} else if (ch == '}' || ch == ']') {
			if (depth == 0)
				return 0;
			i++;
			if (--depth == 0)
				return i;
		} else if (depth == 0) {
			size_t j = i;
			while (j < l->n && !memchr(" \t\r\n,:]}[{\"", l->s[j], 11))
				j++;
			return j > i ? j : 0;
		} else {
			i++;
		}
	}
	return 0;
}

/* Decodes the content of a JSON string (escapes included) byte by byte. */
struct jiter {
	const char *p, *end;
	unsigned char pend[4];
	int npend, ipend;
};

static int hex4(const char *p, const char *end, unsigned *out)
{
	if (end - p < 4)
		return -1;
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static int jiter_next(struct jiter *it)
{
	if (it->ipend < it->npend)
		return it->pend[it->ipend++];
	if (it->p >= it->end)
		return -1;
	unsigned char c = (unsigned char)*it->p++;
	if (c != '\\')
		return c;
	if (it->p >= it->end)
		return -2;
	c = (unsigned char)*it->p++;
	switch (c) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u': break;
	default: return c; /* \" \\ \/ */
	}
	unsigned cp;
	if (hex4(it->p, it->end, &cp) < 0)
		return -2;
	it->p += 4;
	if (cp >= 0xD800 && cp <= 0xDBFF && it->end - it->p >= 6 && it->p[0] == '\\' &&
	    it->p[1] == 'u') {
		unsigned lo;
		if (hex4(it->p + 2, it->end, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			it->p += 6;
		}
	}
	it->npend = it->ipend = 0;
	if (cp < 0x80) {
		return (int)cp;
	} else if (cp < 0x800) {
		it->pend[it->npend++] = (unsigned char)(0xC0 | (cp >> 6));
	} else if (cp < 0x10000) {
		it->pend[it->npend++] = (unsigned char)(0xE0 | (cp >> 12));
		it->pend[it->npend++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	} else {
		it->pend[it->npend++] = (unsigned char)(0xF0 | (cp >> 18));
		it->pend[it->npend++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		it->pend[it->npend++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	}
	it->pend[it->npend++] = (unsigned char)(0x80 | (cp & 0x3F));
	return it->pend[it->ipend++];
}

enum seg_kind { SEG_NAME, SEG_INDEX, SEG_KEY };
struct seg {
	enum seg_kind kind;
	const char *s; /* name, or key with \" and \\ escapes */
	size_t len;
	size_t index;
};

/* Does the JSON key (raw content between quotes) match the segment? */
static bool l_key_match(const char *k, size_t klen, const struct seg *g, bool camel)
{
	struct jiter it = { .p = k, .end = k + klen };
	size_t j = 0;
	bool up = false;
	for (;;) {
		int want = -1;
		while (j < g->len) {
			char ch = g->s[j++];
			if (g->kind == SEG_KEY && ch == '\\' && j < g->len) {
				want = (unsigned char)g->s[j++];
				break;
			}
			if (g->kind == SEG_NAME && camel && ch == '_') {
				up = true;
				continue;
			}
			if (up && ch >= 'a' && ch <= 'z')
				ch = (char)(ch - 'a' + 'A');
			up = false;
			want = (unsigned char)ch;
			break;
		}
		int got = jiter_next(&it);
		if (got != want)
			return false;
		if (got < 0)
			return true;
	}
}

/* Parses the next segment of path at *p; false at the end or if malformed. */
static bool next_seg(const char **pp, struct seg *g, bool *bad)
{
	const char *p = *pp;
	*bad = false;
	if (*p == '\0')
		return false;
	if (*p == '.')
		p++;
	if (*p == '[' && p[1] == '"') {
		const char *s = p + 2, *q = s;
		while (*q && *q != '"') {
			if (*q == '\\' && q[1])
				q++;
			q++;
		}
		if (*q != '"' || q[1] != ']')
			goto malformed;
		g->kind = SEG_KEY;
		g->s = s;
		g->len = (size_t)(q - s);
		*pp = q + 2;
		return true;
	}
	if (*p == '[') {
		size_t v = 0;
		const char *q = p + 1;
		if (*q < '0' || *q > '9')
			goto malformed;
		while (*q >= '0' && *q <= '9') {
			if (v > SIZE_MAX / 10 - 1)
				goto malformed;
			v = v * 10 + (size_t)(*q - '0');
			q++;
		}
		if (*q != ']')
			goto malformed;
		g->kind = SEG_INDEX;
		g->index = v;
		*pp = q + 1;
		return true;
	}
	const char *q = p;
	while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
	       *q == '_')
		q++;
	if (q == p)
		goto malformed;
	g->kind = SEG_NAME;
	g->s = p;
	g->len = (size_t)(q - p);
	*pp = q;
	return true;
malformed:
	*bad = true;
	return false;
}

/* Element N of the array whose value starts at i. */
static bool l_index(const struct lscan *l, size_t i, size_t n, size_t *vs, size_t *ve)
{
	if (l->s[i] != '[')
		return false;
	i = l_ws(l, i + 1);
	for (size_t idx = 0; i < l->n && l->s[i] != ']'; idx++) {
		size_t e = l_value_end(l, i);
		if (!e)
			return false;
		if (idx == n) {
			*vs = i;
			*ve = e;
			return true;
		}
		i = l_ws(l, e);
		if (i >= l->n || l->s[i] != ',')
			return false;
		i = l_ws(l, i + 1);
	}
	return false;
}

/* The first member matching g of the object whose value starts at i. */
static bool l_member(const struct lscan *l, size_t i, const struct seg *g, size_t *vs, size_t *ve,
		     size_t *ks, size_t *ke)
{
	if (l->s[i] != '{')
		return false;
	i = l_ws(l, i + 1);
	while (i < l->n && l->s[i] == '"') {
		size_t k0 = i, k1 = l_str_end(l, i);
		if (!k1)
			return false;
		i = l_ws(l, k1);
		if (i >= l->n || l->s[i] != ':')
			return false;
		i = l_ws(l, i + 1);
		size_t e = l_value_end(l, i);
		if (!e)
			return false;
		const char *k = l->s + k0 + 1;
		size_t klen = k1 - k0 - 2;
		if (l_key_match(k, klen, g, false) ||
		    (g->kind == SEG_NAME && l_key_match(k, klen, g, true))) {
			*vs = i;
			*ve = e;
			*ks = k0;
			*ke = k1;
			return true;
		}
		i = l_ws(l, e);
		if (i >= l->n || l->s[i] != ',')
			return false;
		i = l_ws(l, i + 1);
	}
	return false;
}

/*
 * The locator proper.  kstart..kend gets the span of the key (quotes
 * included) of the last member matched, or the value's span when the last
 * step was an index or there were no steps.
 */
static int locate(const struct eds_src *src, const char *path, size_t *vstart, size_t *vend,
		  size_t *kstart, size_t *kend)
{
	struct lscan l = { src->text, src->len };
	size_t vs = l_ws(&l, 0), ve = l_value_end(&l, vs);
	if (!ve)
		return -1;
	size_t ks = vs, ke = ve;
	const char *p = path ? path : "";
	struct seg g;
	bool bad;
	int rc = 0;
	while (next_seg(&p, &g, &bad)) {
		bool found;
		if (g.kind == SEG_INDEX) {
			found = l_index(&l, vs, g.index, &vs, &ve);
			if (found) {
				ks = vs;
				ke = ve;
			}
		} else {
			found = l_member(&l, vs, &g, &vs, &ve, &ks, &ke);
		}
		if (!found) {
			rc = 1;
			break;
		}
	}
	if (bad)
		rc = 1;
	*vstart = vs;
	*vend = ve;
	if (kstart) {
		*kstart = ks;
		*kend = ke;
	}
	return rc;
}

int eds_json_locate(const struct eds_src *src, const char *path, size_t *start, size_t *end)
{
	return locate(src, path, start, end, NULL, NULL);
}

/* ---------------------------------------------------------------------- */
/* Decoder                                                                 */

/* JSON containers nested deeper than this are refused before recursing. */
#define JSON_MAX_NEST 2048

struct dec {
	const struct eds_src *src;
	const char *s;
	size_t n, i; /* text, length, cursor */
	struct eds_arena *arena;
	const struct eds_limits *lim;
	struct eds_diag *d;
	unsigned nest;
	/* elements of the arrays and maps being read, nested ones on top */
	char *stk;
	size_t stk_len, stk_cap;
	struct eds_path path;
};

enum jkind { J_OBJ, J_ARR, J_STR, J_NUM, J_TRUE, J_FALSE, J_NULL };

static const char *const kind_names[] = { "an object", "an array", "a string", "a number",
					  "true", "false", "null" };

/* A JSON key: points into the source unless it had escapes. */
struct key {
	const char *s;
	size_t len;
	size_t start, end; /* span of the key, quotes included */
};

/* A number token, with its integer value when it has no fraction/exponent. */
struct num {
	size_t start, end;
	bool plain, neg, overflow;
	uint64_t mag;
};

/* The byte at the cursor, 0 at the end (for messages only). */
static unsigned char at(const struct dec *c)
{
	return c->i < c->n ? (unsigned char)c->s[c->i] : 0;
}

static void skip_ws(struct dec *c)
{
	const char *s = c->s;
	size_t i = c->i, n = c->n;
	while (i < n && (unsigned char)s[i] <= ' ') {
		if (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
			i++;
		else
			break;
		/* pretty-printed input: runs of indentation */
		while (n - i >= 8 && memcmp(s + i, "        ", 8) == 0)
			i += 8;
	}
	c->i = i;
}

__attribute__((format(printf, 5, 0)))
static int failv(struct dec *c, enum eds_code code, size_t start, size_t end, const char *fmt,
		 va_list ap)
{
	vsnprintf(c->d->msg, sizeof c->d->msg, fmt, ap);
	c->d->code = code;
	eds_diag_path(c->d, &c->path);
	return eds_diag_span(c->d, c->src, start, end);
}

__attribute__((format(printf, 5, 6)))
static int fail_at(struct dec *c, enum eds_code code, size_t start, size_t end, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	failv(c, code, start, end, fmt, ap);
	va_end(ap);
	return code;
}

/* End of the value starting at i, for error spans. */
static size_t value_end(const struct dec *c, size_t i)
{
	struct lscan l = { c->s, c->n };
	size_t e = l_value_end(&l, i);
	return e > i ? e : (i < c->n ? i + 1 : i);
}

/* A semantic error about the value at the cursor. */
__attribute__((format(printf, 3, 4)))
static int fail_val(struct dec *c, enum eds_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	failv(c, code, c->i, value_end(c, c->i), fmt, ap);
	va_end(ap);
	return code;
}

/* A syntax error at the cursor. */
__attribute__((format(printf, 2, 3)))
static int syntax(struct dec *c, const char *fmt, ...)
{
	char what[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (c->i >= c->n)
		return fail_at(c, EDS_E_DECODE, c->n, c->n, "invalid JSON: unexpected end of input");
	return fail_at(c, EDS_E_DECODE, c->i, c->i + 1, "invalid JSON: %s", what);
}

/* 'x' for printable ASCII, else byte 0xNN. */
static const char *show_byte(char *buf, size_t size, unsigned char ch)
{
	if (ch > 0x20 && ch < 0x7f)
		snprintf(buf, size, "'%c'", ch);
	else
		snprintf(buf, size, "byte 0x%02x", ch);
	return buf;
}

/* The value's source text for messages: 4294967296, 1.5, "abc". */
static const char *repr(const struct dec *c, size_t start, char *buf, size_t size)
{
	size_t end = value_end(c, start);
	size_t len = end - start;
	if (len > 60)
		snprintf(buf, size, "%.60s...", c->s + start);
	else
		snprintf(buf, size, "%.*s", (int)len, c->s + start);
	return buf;
}

static int scan_number(struct dec *c, struct num *nm)
{
	const char *s = c->s;
	size_t i = c->i, n = c->n;
	nm->start = i;
	nm->plain = true;
	nm->overflow = false;
	nm->neg = false;
	nm->mag = 0;
	if (i < n && s[i] == '-') {
		nm->neg = true;
		i++;
	}
	if (i >= n || s[i] < '0' || s[i] > '9')
		goto bad;
	if (s[i] == '0') {
		i++;
	} else {
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			unsigned dg = (unsigned)(s[i] - '0');
			if (nm->mag > (UINT64_MAX - dg) / 10)
				nm->overflow = true;
			else
				nm->mag = nm->mag * 10 + dg;
			i++;
		}
	}
	if (i < n && s[i] == '.') {
		nm->plain = false;
		size_t d0 = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d0)
			goto bad;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		nm->plain = false;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t d0 = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d0)
			goto bad;
	}
	if (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'))
		goto bad;
	nm->end = i;
	c->i = i;
	return EDS_OK;
bad:
	while (i < n && !memchr(" \t\r\n,:]}[{\"", s[i], 11))
		i++;
	return fail_at(c, EDS_E_DECODE, c->i, i, "invalid JSON: invalid number '%.*s'",
		       (int)(i - c->i > 40 ? 40 : i - c->i), s + c->i);
}

/* strtod wants a NUL-terminated string; the source is not. */
static double token_double(const struct dec *c, size_t start, size_t end)
{
	char buf[128];
	size_t len = end - start;
	if (len < sizeof buf) {
		memcpy(buf, c->s + start, len);
		buf[len] = '\0';
		return strtod(buf, NULL);
	}
	char *p = malloc(len + 1);
	if (!p)
		abort();
	memcpy(p, c->s + start, len);
	p[len] = '\0';
	double v = strtod(p, NULL);
	free(p);
	return v;
}

/* Classifies the value at the cursor (not consumed); a bad token is a syntax error. */
static int peek(struct dec *c, enum jkind *k)
{
	char b[16];
	if (c->i >= c->n)
		return syntax(c, "unexpected end of input");
	const char *p = c->s + c->i;
	size_t left = c->n - c->i;
	switch (*p) {
	case '{': *k = J_OBJ; return EDS_OK;
	case '[': *k = J_ARR; return EDS_OK;
	case '"': *k = J_STR; return EDS_OK;
	case 't':
		if (left >= 4 && memcmp(p, "true", 4) == 0) {
			*k = J_TRUE;
			break;
		}
		goto token;
	case 'f':
		if (left >= 5 && memcmp(p, "false", 5) == 0) {
			*k = J_FALSE;
			break;
		}
		goto token;
	case 'n':
		if (left >= 4 && memcmp(p, "null", 4) == 0) {
			*k = J_NULL;
			break;
		}
		goto token;
	case '-': case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
	case '8': case '9': {
		struct num nm;
		size_t save = c->i;
		int rc = scan_number(c, &nm);
		c->i = save;
		*k = J_NUM;
		return rc;
	}
	default:
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			goto token;
		return syntax(c, "expected a value, got %s", show_byte(b, sizeof b, (unsigned char)*p));
	}
	size_t len = *k == J_FALSE ? 5 : 4;
	if (left > len && ((p[len] >= 'a' && p[len] <= 'z') || (p[len] >= 'A' && p[len] <= 'Z') ||
			   (p[len] >= '0' && p[len] <= '9') || p[len] == '_'))
		goto token;
	return EDS_OK;
token: {
	size_t e = c->i;
	while (e < c->n && ((c->s[e] >= 'a' && c->s[e] <= 'z') || (c->s[e] >= 'A' && c->s[e] <= 'Z') ||
			    (c->s[e] >= '0' && c->s[e] <= '9') || c->s[e] == '_'))
		e++;
	return fail_at(c, EDS_E_DECODE, c->i, e, "invalid JSON: invalid token '%.*s'",
		       (int)(e - c->i > 40 ? 40 : e - c->i), p);
}
}

static void eat_literal(struct dec *c, enum jkind k)
{
	c->i += k == J_FALSE ? 5 : 4;
}

/* Bytes that need no attention inside a string: printable ASCII but '"' and '\\'. */
static const unsigned char plain_char[256] = {
	[0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * Scans the string at the cursor ('"'): checks escapes, control characters
 * and UTF-8, and finds its end.  *esc: it has escapes (the decoded form
 * differs from the source).
 */
static int scan_string(struct dec *c, size_t *content_end, bool *esc)
{
	const unsigned char *s = (const unsigned char *)c->s;
	size_t i = c->i + 1, n = c->n;
	*esc = false;
	while (i < n) {
		while (i < n && plain_char[s[i]])
			i++;
		if (i >= n)
			break;
		unsigned char ch = s[i];
		if (ch == '"') {
			*content_end = i;
			return EDS_OK;
		}
		if (ch == '\\') {
			*esc = true;
			if (i + 1 >= n)
				break;
			unsigned char e = s[i + 1];
			if (e == 'u') {
				unsigned cp, lo;
				if (hex4(c->s + i + 2, c->s + n, &cp) < 0)
					return fail_at(c, EDS_E_DECODE, i, i + 2,
						       "invalid JSON: \\u must be followed by 4 hex digits");
				if (cp == 0)
					return fail_at(c, EDS_E_DECODE, i, i + 6,
						       "invalid JSON: \\u0000 (NUL) is not allowed in strings");
				if (cp >= 0xDC00 && cp <= 0xDFFF)
					return fail_at(c, EDS_E_DECODE, i, i + 6,
						       "invalid JSON: unpaired surrogate \\u%04x", cp);
				if (cp >= 0xD800 && cp <= 0xDBFF) {
					if (i + 12 > n || s[i + 6] != '\\' || s[i + 7] != 'u' ||
					    hex4(c->s + i + 8, c->s + n, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
						return fail_at(c, EDS_E_DECODE, i, i + 6,
							       "invalid JSON: unpaired surrogate \\u%04x", cp);
					i += 6;
				}
				i += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == '\0')
				return fail_at(c, EDS_E_DECODE, i, i + 2, "invalid JSON: invalid escape '\\%c'",
					       e >= 0x20 && e < 0x7f ? e : '?');
			i += 2;
			continue;
		}
		if (ch < 0x20)
			return fail_at(c, EDS_E_DECODE, i, i + 1,
				       "invalid JSON: control character 0x%02x in string (escape it)", ch);
		if (ch < 0x80) {
			i++;
			continue;
		}
		size_t ok = eds_utf8_valid_prefix(c->s + i, n - i < 4 ? n - i : 4);
		size_t need = ch >= 0xF0 ? 4 : ch >= 0xE0 ? 3 : 2;
		if (ok < need)
			return fail_at(c, EDS_E_DECODE, i, i + 1, "invalid JSON: invalid UTF-8 in string");
		i += need;
	}
	return fail_at(c, EDS_E_DECODE, c->i, n, "invalid JSON: unterminated string");
}

/* Decodes the escapes of s[i, end) into out (room for end - i bytes); returns the length. */
static size_t unescape(const char *s, size_t i, size_t end, char *out)
{
	struct jiter it = { .p = s + i, .end = s + end };
	size_t o = 0;
	int ch;
	while ((ch = jiter_next(&it)) >= 0)
		out[o++] = (char)ch;
	return o;
}

/* A string value, bytes value or map key of len bytes (decoded) at [start, end). */
static int check_len(struct dec *c, const char *what, size_t len, size_t start, size_t end)
{
	if (len <= c->lim->max_string)
		return EDS_OK;
	return fail_at(c, EDS_E_LIMIT, start, end,
		       "%s is %zu bytes, more than the limit of %zu (--max-string)", what, len,
		       c->lim->max_string);
}

/* Reads a string into the arena (NUL-terminated). */
static int read_string(struct dec *c, char **out, size_t *len)
{
	size_t end;
	bool esc;
	int rc = scan_string(c, &end, &esc);
	if (rc)
		return rc;
	size_t raw = end - (c->i + 1);
	char *p = eds_arena_alloc(c->arena, raw + 1);
	if (esc)
		raw = unescape(c->s, c->i + 1, end, p);
	else
		memcpy(p, c->s + c->i + 1, raw);
	if ((rc = check_len(c, "string", raw, c->i, end + 1)))
		return rc;
	p[raw] = '\0';
	*out = p;
	if (len)
		*len = raw;
	c->i = end + 1;
	return EDS_OK;
}

/* Reads a string without copying it unless it has escapes. */
static int read_key(struct dec *c, struct key *k)
{
	size_t end;
	bool esc;
	int rc = scan_string(c, &end, &esc);
	if (rc)
		return rc;
	k->start = c->i;
	k->end = end + 1;
	if (esc) {
		char *p = eds_arena_alloc(c->arena, end - c->i);
		k->len = unescape(c->s, c->i + 1, end, p);
		p[k->len] = '\0';
		k->s = p;
	} else {
		k->s = c->s + c->i + 1;
		k->len = end - (c->i + 1);
	}
	c->i = end + 1;
	return EDS_OK;
}

static int open_container(struct dec *c)
{
	if (++c->nest > JSON_MAX_NEST)
		return fail_at(c, EDS_E_LIMIT, c->i, c->i + 1, "JSON nested deeper than %d levels",
			       JSON_MAX_NEST);
	c->i++;
	return EDS_OK;
}

/*
 * The separator before the next member of an object or array: returns with
 * *more false after the closing byte, or *more true with the cursor past
 * the ',' (if any) and the blanks.  what names a member in messages.
 */
static int next_member(struct dec *c, size_t *count, char close, const char *what, bool *more)
{
	char b[16];
	skip_ws(c);
	if (at(c) == close) {
		c->i++;
		c->nest--;
		*more = false;
		return EDS_OK;
	}
	if (*count > 0) {
		if (at(c) != ',')
			return syntax(c, "expected ',' or '%c' after %s, got %s", close, what,
				      show_byte(b, sizeof b, at(c)));
		c->i++;
		skip_ws(c);
	}
	(*count)++;
	*more = true;
	return EDS_OK;
}

/*
 * Object members: call with *count 0 after open_container; each call reads
 * the separator and the next key and ':' (*more true, cursor on the value),
 * or the closing '}' (*more false).
 */
static int next_key(struct dec *c, size_t *count, struct key *k, bool *more)
{
	char b[16];
	int rc = next_member(c, count, '}', "an object member", more);
	if (rc || !*more)
		return rc;
	if (at(c) != '"')
		return syntax(c, "expected a string key, got %s", show_byte(b, sizeof b, at(c)));
	rc = read_key(c, k);
	if (rc)
		return rc;
	skip_ws(c);
	if (at(c) != ':')
		return syntax(c, "expected ':' after an object key, got %s", show_byte(b, sizeof b, at(c)));
	c->i++;
	skip_ws(c);
	return EDS_OK;
}

/* Array elements, like next_key: the cursor ends on the element. */
static int next_elem(struct dec *c, size_t *count, bool *more)
{
	int rc = next_member(c, count, ']', "an array element", more);
	if (!rc && *more && *count > 1 && at(c) == ']')
		return syntax(c, "expected a value after ',', got ']'");
	return rc;
}

/* Checks and skips the value at the cursor. */
static int skip_value(struct dec *c)
{
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	size_t count = 0;
	bool more;
	struct key key;
	struct num nm;
	switch (k) {
	case J_OBJ:
		if ((rc = open_container(c)))
			return rc;
		while (!(rc = next_key(c, &count, &key, &more)) && more)
			if ((rc = skip_value(c)))
				return rc;
		return rc;
	case J_ARR:
		if ((rc = open_container(c)))
			return rc;
		while (!(rc = next_elem(c, &count, &more)) && more)
			if ((rc = skip_value(c)))
				return rc;
		return rc;
	case J_STR:
		return read_key(c, &key);
	case J_NUM:
		return scan_number(c, &nm);
	default:
		eat_literal(c, k);
		return EDS_OK;
	}
}

/*
 * Scratch stack for array and map elements (LIFO, so nesting shares it):
 * an array's elements start 16-aligned at *base; popping restores the
 * length saved in *mark.
 */
static void stk_mark(struct dec *c, size_t *mark, size_t *base)
{
	*mark = c->stk_len;
	c->stk_len = (c->stk_len + 15) & ~(size_t)15;
	*base = c->stk_len;
}

static void stk_push(struct dec *c, const void *p, size_t n)
{
	if (c->stk_cap - c->stk_len < n) {
		size_t cap = c->stk_cap ? c->stk_cap * 2 : 4096;
		while (cap - c->stk_len < n)
			cap *= 2;
		char *s = realloc(c->stk, cap);
		if (!s)
			abort();
		c->stk = s;
		c->stk_cap = cap;
	}
	memcpy(c->stk + c->stk_len, p, n);
	c->stk_len += n;
}

static int dec_message(struct dec *c, const ProtobufCMessageDescriptor *desc,
		       ProtobufCMessage **out, unsigned depth);
static int dec_value(struct dec *c, const ProtobufCFieldDescriptor *f, void *member,
		     unsigned depth);

static int check_depth(struct dec *c, const ProtobufCMessageDescriptor *desc, unsigned depth)
{
	if (c->lim->max_depth && depth > eds_depth_levels(c->lim->max_depth))
		return fail_val(c, EDS_E_LIMIT, "messages nested deeper than %u levels (--max-depth) in %s",
				c->lim->max_depth, desc->name);
	return EDS_OK;
}

/* Text of a string value holding a number, for integer and double fields. */
static int string_number(struct dec *c, const char *tname, char **s, size_t *len, bool *plain)
{
	char rb[80];
	size_t start = c->i;
	int rc = read_string(c, s, len);
	if (rc)
		return rc;
	if (!number_syntax(*s, *len, plain))
		return fail_at(c, EDS_E_DECODE, start, c->i, "invalid %s %s", tname,
			       repr(c, start, rb, sizeof rb));
	return EDS_OK;
}

/*
 * An integral value within [-neg_max, pos_max] as sign and magnitude:
 * numbers, integral reals (1.0, 1e2) and strings holding either.
 */
static int dec_integer(struct dec *c, const char *tname, uint64_t pos_max, uint64_t neg_max,
		       bool *neg, uint64_t *mag)
{
	char rb[80];
	size_t start = c->i;
	double dv;
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k == J_NUM) {
		struct num nm;
		if ((rc = scan_number(c, &nm)))
			return rc;
		if (nm.plain) {
			if (nm.overflow)
				goto range_err;
			*neg = nm.neg;
			*mag = nm.mag;
			goto range;
		}
		dv = token_double(c, nm.start, nm.end);
	} else if (k == J_STR) {
		char *s;
		size_t n;
		bool plain;
		if ((rc = string_number(c, tname, &s, &n, &plain)))
			return rc;
		if (plain) {
			*neg = s[0] == '-';
			uint64_t m = 0;
			for (size_t i = *neg ? 1 : 0; i < n; i++) {
				unsigned dg = (unsigned)(s[i] - '0');
				if (m > (UINT64_MAX - dg) / 10)
					goto range_err;
				m = m * 10 + dg;
			}
			*mag = m;
			goto range;
		}
		dv = strtod(s, NULL);
	} else {
		return fail_val(c, EDS_E_DECODE, "expected an integer (%s), got %s", tname, kind_names[k]);
	}
	if (!isfinite(dv) || dv != floor(dv))
		return fail_at(c, EDS_E_DECODE, start, c->i, "%s is not an integer (%s)",
			       repr(c, start, rb, sizeof rb), tname);
	*neg = dv < 0;
	if (fabs(dv) >= 18446744073709551616.0)
		goto range_err;
	*mag = (uint64_t)fabs(dv);
range:
	if (*mag == 0)
		*neg = false;
	if (*neg ? *mag <= neg_max : *mag <= pos_max)
		return EDS_OK;
range_err:
	return fail_at(c, EDS_E_DECODE, start, c->i, "%s is out of range for %s",
		       repr(c, start, rb, sizeof rb), tname);
}

static int64_t to_signed(bool neg, uint64_t mag)
{
	if (!neg)
		return (int64_t)mag;
	return mag == (uint64_t)1 << 63 ? INT64_MIN : -(int64_t)mag;
}

static int dec_double(struct dec *c, bool is_float, double *out)
{
	char rb[80];
	const char *tname = is_float ? "float" : "double";
	size_t start = c->i;
	double dv;
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k == J_NUM) {
		struct num nm;
		if ((rc = scan_number(c, &nm)))
			return rc;
		if (nm.plain && !nm.overflow && nm.mag <= (uint64_t)1 << 53)
			dv = nm.neg ? -(double)nm.mag : (double)nm.mag;
		else
			dv = token_double(c, nm.start, nm.end);
	} else if (k == J_STR) {
		char *s;
		size_t n;
		bool plain;
		if ((rc = read_string(c, &s, &n)))
			return rc;
		if (strcmp(s, "NaN") == 0) {
			*out = NAN;
			return EDS_OK;
		} else if (strcmp(s, "Infinity") == 0) {
			*out = INFINITY;
			return EDS_OK;
		} else if (strcmp(s, "-Infinity") == 0) {
			*out = -INFINITY;
			return EDS_OK;
		}
		if (!number_syntax(s, n, &plain))
			return fail_at(c, EDS_E_DECODE, start, c->i, "invalid %s %s", tname,
				       repr(c, start, rb, sizeof rb));
		dv = strtod(s, NULL);
	} else {
		return fail_val(c, EDS_E_DECODE, "expected a number (%s), got %s", tname, kind_names[k]);
	}
	if (!isfinite(dv) || (is_float && isinf((float)dv))) /* (rounds to FLT_MAX: in range) */
		return fail_at(c, EDS_E_DECODE, start, c->i, "%s is out of range for %s",
			       repr(c, start, rb, sizeof rb), tname);
	*out = dv;
	return EDS_OK;
}

static int b64_val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Standard or URL-safe alphabet, padding optional; out needs n*3/4+3 bytes. */
static bool b64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
	size_t pad = 0;
	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (pad && (n + pad) % 4 != 0)
		return false;
	if (n % 4 == 1)
		return false;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val((unsigned char)s[i]);
		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = o;
	return true;
}

static const ProtobufCEnumValue *enum_by_name(const ProtobufCEnumDescriptor *ed, const char *s,
					      size_t n)
{
	for (unsigned i = 0; i < ed->n_values; i++)
		if (name_eq(ed->values[i].name, s, n))
			return &ed->values[i];
	return NULL;
}

static int dec_enum(struct dec *c, const ProtobufCFieldDescriptor *f, int32_t *out)
{
	const ProtobufCEnumDescriptor *ed = f->descriptor;
	bool neg;
	uint64_t mag;
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k == J_NULL && is_null_value_enum(f)) {
		eat_literal(c, k);
		*out = 0;
		return EDS_OK;
	}
	if (k == J_STR) {
		size_t start = c->i;
		struct key name;
		if ((rc = read_key(c, &name)))
			return rc;
		const ProtobufCEnumValue *ev = enum_by_name(ed, name.s, name.len);
		if (ev) {
			*out = ev->value;
			return EDS_OK;
		}
		bool plain;
		if (!number_syntax(name.s, name.len, &plain))
			return fail_at(c, EDS_E_DECODE, start, c->i, "unknown enum value \"%.*s\" for %s",
				       (int)(name.len > 60 ? 60 : name.len), name.s, ed->name);
		c->i = start;
	} else if (k != J_NUM) {
		return fail_val(c, EDS_E_DECODE, "expected an enum name or number (%s), got %s", ed->name,
				kind_names[k]);
	}
	rc = dec_integer(c, "enum", INT32_MAX, (uint64_t)1 << 31, &neg, &mag);
	if (rc)
		return rc;
	*out = (int32_t)to_signed(neg, mag);
	return EDS_OK;
}

/* Decodes one value (not an array) of field f's type into member. */
static int dec_value(struct dec *c, const ProtobufCFieldDescriptor *f, void *member,
		     unsigned depth)
{
	bool neg;
	uint64_t mag;
	enum jkind k;
	int rc;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		return dec_message(c, f->descriptor, member, depth + 1);
	case PROTOBUF_C_TYPE_ENUM:
		return dec_enum(c, f, member);
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		rc = dec_integer(c, "int32", INT32_MAX, (uint64_t)1 << 31, &neg, &mag);
		if (!rc)
			*(int32_t *)member = (int32_t)to_signed(neg, mag);
		return rc;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		rc = dec_integer(c, "uint32", UINT32_MAX, 0, &neg, &mag);
		if (!rc)
			*(uint32_t *)member = (uint32_t)mag;
		return rc;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		rc = dec_integer(c, "int64", INT64_MAX, (uint64_t)1 << 63, &neg, &mag);
		if (!rc)
			*(int64_t *)member = to_signed(neg, mag);
		return rc;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		rc = dec_integer(c, "uint64", UINT64_MAX, 0, &neg, &mag);
		if (!rc)
			*(uint64_t *)member = mag;
		return rc;
	case PROTOBUF_C_TYPE_DOUBLE:
		return dec_double(c, false, member);
	case PROTOBUF_C_TYPE_FLOAT: {
		double dv;
		rc = dec_double(c, true, &dv);
		if (!rc)
			*(float *)member = (float)dv;
		return rc;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if ((rc = peek(c, &k)))
			return rc;
		if (k != J_TRUE && k != J_FALSE)
			return fail_val(c, EDS_E_DECODE, "expected true or false, got %s", kind_names[k]);
		eat_literal(c, k);
		*(protobuf_c_boolean *)member = k == J_TRUE;
		return EDS_OK;
	case PROTOBUF_C_TYPE_STRING:
		if ((rc = peek(c, &k)))
			return rc;
		if (k != J_STR)
			return fail_val(c, EDS_E_DECODE, "expected a string, got %s", kind_names[k]);
		return read_string(c, member, NULL);
	case PROTOBUF_C_TYPE_BYTES: {
		if ((rc = peek(c, &k)))
			return rc;
		if (k != J_STR)
			return fail_val(c, EDS_E_DECODE, "expected a base64 string, got %s", kind_names[k]);
		size_t start = c->i;
		struct key txt;
		if ((rc = read_key(c, &txt)))
			return rc;
		ProtobufCBinaryData *bd = member;
		uint8_t *buf = eds_arena_alloc(c->arena, txt.len / 4 * 3 + 3);
		if (!b64_decode(txt.s, txt.len, buf, &bd->len))
			return fail_at(c, EDS_E_DECODE, start, c->i, "invalid base64 in bytes field");
		if ((rc = check_len(c, "bytes value", bd->len, start, c->i)))
			return rc;
		bd->data = bd->len ? buf : NULL;
		return EDS_OK;
	}
	}
	return fail_val(c, EDS_E_INTERNAL, "field \"%s\" has an unsupported type", f->name);
}

/* A map key of a non-string type, from the text of the JSON key. */
static int dec_map_key(struct dec *c, const ProtobufCFieldDescriptor *kf, const struct key *k,
		       void *member)
{
	if (kf->type == PROTOBUF_C_TYPE_BOOL) {
		if (k->len == 4 && memcmp(k->s, "true", 4) == 0)
			*(protobuf_c_boolean *)member = 1;
		else if (k->len == 5 && memcmp(k->s, "false", 5) == 0)
			*(protobuf_c_boolean *)member = 0;
		else
			return fail_at(c, EDS_E_DECODE, k->start, k->end, "invalid bool map key \"%.*s\"",
				       (int)(k->len > 60 ? 60 : k->len), k->s);
		return EDS_OK;
	}
	/* integer keys: parse the key as if it were a string value */
	size_t save = c->i;
	c->i = k->start;
	int rc = dec_value(c, kf, member, 0);
	c->i = save;
	return rc;
}

static void set_count(void *msg, const ProtobufCFieldDescriptor *f, size_t n, void *arr)
{
	*(size_t *)((char *)msg + f->quantifier_offset) = n;
	*(void **)((char *)msg + f->offset) = arr;
}

struct map_rec {
	const char *key;
	size_t len;
	size_t start, end;
};

static int map_rec_cmp(const void *a, const void *b)
{
	const struct map_rec *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->key, y->key, n);
	if (r)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

static const char *map_what(char *buf, size_t size, const ProtobufCFieldDescriptor *f, const char *wkt)
{
	if (wkt)
		return wkt;
	snprintf(buf, size, "map field \"%s\"", f->name);
	return buf;
}

/* A map field from a JSON object; with wkt (Struct), keys get no field name. */
static int dec_map(struct dec *c, const ProtobufCFieldDescriptor *f, void *msg, unsigned depth,
		   const char *wkt)
{
	bool bare = wkt != NULL;
	const char *fname = bare ? NULL : f->name;
	char what[160];
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k != J_OBJ) {
		if (!bare)
			eds_path_push(&c->path, fname, -1);
		return fail_val(c, EDS_E_DECODE, "expected an object for %s, got %s",
				map_what(what, sizeof what, f, wkt), kind_names[k]);
	}
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	if ((rc = open_container(c)))
		return rc;
	size_t mark, base, count = 0;
	stk_mark(c, &mark, &base);
	bool more;
	struct key key;
	while (!(rc = next_key(c, &count, &key, &more)) && more) {
		eds_path_push_key(&c->path, fname, key.s, key.len);
		if ((rc = check_depth(c, ed, depth + 1)))
			return rc;
		ProtobufCMessage *entry = eds_arena_alloc(c->arena, ed->sizeof_message);
		protobuf_c_message_init(ed, entry);
		char *kmem = (char *)entry + kf->offset;
		if (kf->type == PROTOBUF_C_TYPE_STRING) {
			if ((rc = check_len(c, "map key", key.len, key.start, key.end)))
				return rc;
			*(char **)kmem = eds_arena_strndup(c->arena, key.s, key.len);
		} else if ((rc = dec_map_key(c, kf, &key, kmem))) {
			return rc;
		}
		if ((rc = peek(c, &k)))
			return rc;
		if (k == J_NULL && !is_value_msg(vf) && !is_null_value_enum(vf))
			return fail_val(c, EDS_E_DECODE, "null is not allowed as a map value");
		if ((rc = dec_value(c, vf, (char *)entry + vf->offset, depth + 1)))
			return rc;
		eds_path_pop(&c->path);
		struct map_rec r = { key.s, key.len, key.start, key.end };
		stk_push(c, &entry, sizeof entry);
		stk_push(c, &r, sizeof r);
	}
	if (rc)
		return rc;
	size_t per = sizeof(void *) + sizeof(struct map_rec);
	void **arr = count ? eds_arena_alloc(c->arena, count * sizeof *arr) : NULL;
	struct map_rec *recs = count > 1 ? eds_arena_alloc(c->arena, count * sizeof *recs) : NULL;
	for (size_t i = 0; i < count; i++) {
		memcpy(&arr[i], c->stk + base + i * per, sizeof(void *));
		if (recs)
			memcpy(&recs[i], c->stk + base + i * per + sizeof(void *), sizeof *recs);
	}
	c->stk_len = mark;
	const struct map_rec *dup = NULL;
	if (count > 1 && count <= 8) {
		for (size_t i = 1; i < count && !dup; i++)
			for (size_t j = 0; j < i && !dup; j++)
				if (map_rec_cmp(&recs[i], &recs[j]) == 0)
					dup = &recs[i];
	} else if (count > 8) {
		qsort(recs, count, sizeof *recs, map_rec_cmp);
		for (size_t i = 1; i < count && !dup; i++)
			if (map_rec_cmp(&recs[i - 1], &recs[i]) == 0)
				dup = recs[i].start > recs[i - 1].start ? &recs[i] : &recs[i - 1];
	}
	if (dup) {
		if (!bare)
			eds_path_push(&c->path, fname, -1);
		return fail_at(c, EDS_E_DECODE, dup->start, dup->end, "duplicate key \"%.*s\" in %s",
			       (int)(dup->len > 60 ? 60 : dup->len), dup->key,
			       map_what(what, sizeof what, f, wkt));
	}
	set_count(msg, f, count, arr);
	return EDS_OK;
}

/* A repeated field from a JSON array; with wkt (ListValue), elements get no name. */
static int dec_repeated(struct dec *c, const ProtobufCFieldDescriptor *f, void *msg,
			unsigned depth, const char *wkt)
{
	bool bare = wkt != NULL;
	const char *fname = bare ? NULL : f->name;
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k != J_ARR) {
		if (bare)
			return fail_val(c, EDS_E_DECODE, "expected an array for %s, got %s", wkt,
					kind_names[k]);
		eds_path_push(&c->path, fname, -1);
		return fail_val(c, EDS_E_DECODE, "expected an array for repeated field \"%s\", got %s",
				f->name, kind_names[k]);
	}
	if ((rc = open_container(c)))
		return rc;
	size_t esz = elem_size(f->type), mark, base, count = 0;
	stk_mark(c, &mark, &base);
	bool more;
	while (!(rc = next_elem(c, &count, &more)) && more) {
		union {
			uint64_t u;
			double dv;
			void *p;
			ProtobufCBinaryData bd;
		} tmp;
		eds_path_push(&c->path, fname, (int64_t)(count - 1));
		if ((rc = peek(c, &k)))
			return rc;
		if (k == J_NULL && !is_value_msg(f) && !is_null_value_enum(f))
			return fail_val(c, EDS_E_DECODE, "null is not allowed as an element of \"%s\"",
					f->name);
		if ((rc = dec_value(c, f, &tmp, depth)))
			return rc;
		eds_path_pop(&c->path);
		stk_push(c, &tmp, esz);
	}
	if (rc)
		return rc;
	char *arr = NULL;
	if (count) {
		arr = eds_arena_alloc(c->arena, count * esz);
		memcpy(arr, c->stk + base, count * esz);
	}
	c->stk_len = mark;
	set_count(msg, f, count, arr);
	return EDS_OK;
}

/* Printers write fields in number order, so the search starts after the last match. */
static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
						  const char *key, size_t klen, unsigned *hint)
{
	unsigned nf = desc->n_fields;
	for (unsigned j = 0; j < nf; j++) {
		unsigned i = *hint + j < nf ? *hint + j : *hint + j - nf;
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		/* both spellings start alike unless the name starts with '_' */
		if (klen && f->name[0] != key[0] && f->name[0] != '_')
			continue;
		if (camel_eq(f->name, key, klen) || name_eq(f->name, key, klen)) {
			*hint = i + 1 < nf ? i + 1 : 0;
			return f;
		}
	}
	return NULL;
}

/* The members of a JSON object as fields of msg; in an Any, "@type" is skipped. */
static int dec_fields(struct dec *c, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
		      unsigned depth, bool in_any)
{
	uint64_t seen_small[2] = { 0, 0 };
	uint64_t *seen = seen_small;
	if (desc->n_fields > 128)
		seen = eds_arena_zalloc(c->arena, (desc->n_fields + 63) / 64 * sizeof *seen);
	int rc = open_container(c);
	if (rc)
		return rc;
	size_t count = 0;
	unsigned hint = 0;
	bool more, type_seen = false;
	struct key key;
	while (!(rc = next_key(c, &count, &key, &more)) && more) {
		if (in_any && key.len == 5 && memcmp(key.s, "@type", 5) == 0) {
			if (type_seen)
				return fail_at(c, EDS_E_DECODE, key.start, key.end,
					       "\"@type\" is given twice in google.protobuf.Any");
			type_seen = true;
			if ((rc = skip_value(c)))
				return rc;
			continue;
		}
		const ProtobufCFieldDescriptor *f = find_field(desc, key.s, key.len, &hint);
		if (!f)
			return fail_at(c, EDS_E_DECODE, key.start, key.end, "unknown field \"%.*s\" in %s",
				       (int)(key.len > 60 ? 60 : key.len), key.s, desc->name);
		unsigned idx = (unsigned)(f - desc->fields);
		if (seen[idx / 64] & ((uint64_t)1 << (idx % 64)))
			return fail_at(c, EDS_E_DECODE, key.start, key.end, "field \"%s\" is given twice in %s",
				       f->name, desc->name);
		seen[idx / 64] |= (uint64_t)1 << (idx % 64);
		enum jkind k;
		eds_path_push(&c->path, f->name, -1);
		if ((rc = peek(c, &k)))
			return rc;
		eds_path_pop(&c->path);
		if (k == J_NULL && (f->label == PROTOBUF_C_LABEL_REPEATED ||
				    (!is_value_msg(f) && !is_null_value_enum(f)))) {
			eat_literal(c, k);
			continue;
		}
		uint32_t *oneof_case = NULL;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			oneof_case = (uint32_t *)((char *)msg + f->quantifier_offset);
			if (*oneof_case != 0 && *oneof_case != f->id) {
				const ProtobufCFieldDescriptor *o =
					protobuf_c_message_descriptor_get_field(desc, *oneof_case);
				return fail_at(c, EDS_E_DECODE, key.start, key.end,
					       "field \"%s\" is specified along with field \"%s\", "
					       "another member of the same oneof",
					       f->name, o ? o->name : "?");
			}
		}
		if (is_map(f)) {
			rc = dec_map(c, f, msg, depth, NULL);
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			rc = dec_repeated(c, f, msg, depth, NULL);
		} else {
			eds_path_push(&c->path, f->name, -1);
			rc = dec_value(c, f, (char *)msg + f->offset, depth);
			eds_path_pop(&c->path);
			if (!rc && !oneof_case && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
			    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
				*(protobuf_c_boolean *)((char *)msg + f->quantifier_offset) = 1;
		}
		if (rc)
			return rc;
		if (oneof_case)
			*oneof_case = f->id;
	}
	return rc;
}

/* The string a Duration or Timestamp is written as, from *start; what says
 * what was expected. */
static int read_wkt_string(struct dec *c, const char *what, char **s, size_t *len, size_t *start)
{
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k != J_STR)
		return fail_val(c, EDS_E_DECODE, "expected %s, got %s", what, kind_names[k]);
	*start = c->i;
	return read_string(c, s, len);
}

/* The digits after a '.' at *p as nanoseconds (the first nine); their count. */
static int frac_nanos(const char **p, int32_t *nanos)
{
	int nd = 0;
	int32_t ns = 0;
	for (; **p >= '0' && **p <= '9'; (*p)++, nd++)
		if (nd < 9)
			ns = ns * 10 + (**p - '0');
	for (int k = nd; k < 9; k++)
		ns *= 10;
	*nanos = ns;
	return nd;
}

/* Duration and Timestamp are leaves: kept out of line so that dec_message,
 * which recurses once per nested message, keeps a small frame (inlined, they
 * overflowed ASan's stack on a 1000-deep Struct with no --max-depth). */
__attribute__((noinline)) static int dec_duration(struct dec *c, Google__Protobuf__Duration *dur)
{
	size_t start, len;
	char *s;
	int rc = read_wkt_string(c, "a duration string such as \"1.5s\" (google.protobuf.Duration)", &s, &len,
				 &start);
	if (rc)
		return rc;
	const char *p = s;
	bool neg = *p == '-';
	if (neg)
		p++;
	uint64_t sec = 0;
	int32_t nanos = 0;
	const char *d0 = p;
	while (*p >= '0' && *p <= '9') {
		if (sec <= (uint64_t)DURATION_MAX_SECONDS)
			sec = sec * 10 + (uint64_t)(*p - '0');
		p++;
	}
	bool ok = p > d0;
	if (ok && *p == '.') {
		p++;
		if (frac_nanos(&p, &nanos) > 9)
			ok = false;
	}
	if (!ok || p[0] != 's' || (size_t)(p + 1 - s) != len)
		return fail_at(c, EDS_E_DECODE, start, c->i,
			       "invalid duration \"%.60s\" (expected seconds with an \"s\" suffix, e.g. \"1.5s\")",
			       s);
	if (sec > (uint64_t)DURATION_MAX_SECONDS)
		return fail_at(c, EDS_E_DECODE, start, c->i,
			       "duration \"%.60s\" is out of range (at most %lld seconds)", s,
			       (long long)DURATION_MAX_SECONDS);
	dur->seconds = neg ? -(int64_t)sec : (int64_t)sec;
	dur->nanos = neg ? -nanos : nanos;
	return EDS_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* n digits at *p, at most max; false (and *p unchanged) otherwise. */
static bool digits(const char **p, int n, unsigned max, unsigned *v)
{
	unsigned x = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		x = x * 10 + (unsigned)((*p)[i] - '0');
	}
	if (x > max)
		return false;
	*p += n;
	*v = x;
	return true;
}

/* RFC 3339 as protobuf's JSON has it: "1972-01-01T10:00:20.021Z", 0 to 9
 * fractional digits, "Z" or an offset "+hh:mm" / "-hh:mm".  s[len] is NUL. */
static bool parse_timestamp(const char *s, size_t len, int64_t *sec, int32_t *nanos)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s, *end = s + len;
	unsigned y, mo, d, h, mi, se, oh, om;
	if (!digits(&p, 4, 9999, &y) || y == 0 || *p++ != '-' || !digits(&p, 2, 12, &mo) || mo == 0 ||
	    *p++ != '-' || !digits(&p, 2, 31, &d) || d == 0 || *p++ != 'T' || !digits(&p, 2, 23, &h) ||
	    *p++ != ':' || !digits(&p, 2, 59, &mi) || *p++ != ':' || !digits(&p, 2, 59, &se))
		return false;
	bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
	if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
		return false;
	int32_t ns = 0;
	if (*p == '.') {
		p++;
		int nd = frac_nanos(&p, &ns);
		if (nd == 0 || nd > 9)
			return false;
	}
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		char sign = *p++;
		if (!digits(&p, 2, 23, &oh) || *p++ != ':' || !digits(&p, 2, 59, &om))
			return false;
		int64_t off = (int64_t)oh * 3600 + om * 60;
		t += sign == '+' ? -off : off;
	} else {
		return false;
	}
	if (p != end || t < TIMESTAMP_MIN_SECONDS || t > TIMESTAMP_MAX_SECONDS)
		return false;
	*sec = t;
	*nanos = ns;
	return true;
}

/* FieldMask: its paths in lowerCamelCase, joined by commas ("a.fooBar,b"),
 * each made snake_case again ("a.foo_bar"); a '_' cannot be in one. */
__attribute__((noinline)) static int dec_field_mask(struct dec *c, Google__Protobuf__FieldMask *fm)
{
	size_t start, len;
	char *s;
	int rc = read_wkt_string(c, "a string of comma-separated paths (google.protobuf.FieldMask)", &s, &len,
				 &start);
	if (rc || !len)
		return rc;
	size_t n = 1;
	for (size_t i = 0; i < len; i++)
		n += s[i] == ',';
	fm->paths = eds_arena_alloc(c->arena, n * sizeof *fm->paths);
	for (const char *p = s, *end = s + len;; p++) {
		const char *q = memchr(p, ',', (size_t)(end - p));
		if (!q)
			q = end;
		if (memchr(p, '_', (size_t)(q - p)))
			return fail_at(c, EDS_E_DECODE, start, c->i,
				       "google.protobuf.FieldMask path \"%.*s\" has a '_' (JSON writes paths in "
				       "lowerCamelCase)", (int)(q - p > 60 ? 60 : q - p), p);
		char *out = eds_arena_alloc(c->arena, 2 * (size_t)(q - p) + 1), *o = out;
		for (; p < q; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*o++ = '_', *o++ = (char)(*p - 'A' + 'a');
			else
				*o++ = *p;
		}
		*o = '\0';
		fm->paths[fm->n_paths++] = out;
		if (q == end)
			return EDS_OK;
	}
}

__attribute__((noinline)) static int dec_timestamp(struct dec *c, Google__Protobuf__Timestamp *ts)
{
	size_t start, len;
	char *s;
	int rc = read_wkt_string(c, "a timestamp string such as \"1972-01-01T10:00:20.021Z\" "
				    "(google.protobuf.Timestamp)", &s, &len, &start);
	if (rc)
		return rc;
	if (!parse_timestamp(s, len, &ts->seconds, &ts->nanos))
		return fail_at(c, EDS_E_DECODE, start, c->i,
			       "invalid timestamp \"%.60s\" (expected RFC 3339 from 0001-01-01T00:00:00Z to "
			       "9999-12-31T23:59:59.999999999Z, e.g. \"1972-01-01T10:00:20.021Z\")",
			       s);
	return EDS_OK;
}

static int dec_struct_value(struct dec *c, Google__Protobuf__Value *val, unsigned depth)
{
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	switch (k) {
	case J_NULL:
		eat_literal(c, k);
		val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
		val->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
		return EDS_OK;
	case J_TRUE: case J_FALSE:
		eat_literal(c, k);
		val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
		val->bool_value = k == J_TRUE;
		return EDS_OK;
	case J_NUM: {
		struct num nm;
		if ((rc = scan_number(c, &nm)))
			return rc;
		double dv;
		if (nm.plain && !nm.overflow && nm.mag <= (uint64_t)1 << 53)
			dv = nm.neg ? -(double)nm.mag : (double)nm.mag;
		else
			dv = token_double(c, nm.start, nm.end);
		if (!isfinite(dv))
			return fail_at(c, EDS_E_DECODE, nm.start, nm.end, "%.*s is out of range for double",
				       (int)(nm.end - nm.start > 60 ? 60 : nm.end - nm.start),
				       c->s + nm.start);
		val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		val->number_value = dv;
		return EDS_OK;
	}
	case J_STR:
		val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
		return read_string(c, &val->string_value, NULL);
	case J_OBJ:
		val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
		return dec_message(c, &google__protobuf__struct__descriptor,
				   (ProtobufCMessage **)&val->struct_value, depth + 1);
	case J_ARR:
		val->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
		return dec_message(c, &google__protobuf__list_value__descriptor,
				   (ProtobufCMessage **)&val->list_value, depth + 1);
	}
	return EDS_OK;
}

/*
 * An Any: "@type" may come after the fields it types, so the object is
 * checked and searched for it first, then read as that type.
 */
static int dec_any(struct dec *c, Google__Protobuf__Any *any, unsigned depth)
{
	enum jkind k;
	int rc = peek(c, &k);
	if (rc)
		return rc;
	if (k != J_OBJ)
		return fail_val(c, EDS_E_DECODE, "expected an object for google.protobuf.Any, got %s",
				kind_names[k]);
	size_t start = c->i;
	if ((rc = skip_value(c)))
		return rc;
	size_t end = c->i;
	struct lscan l = { c->s, c->n };
	struct seg g = { SEG_KEY, "@type", 5, 0 };
	size_t vs, ve, ks, ke;
	if (!l_member(&l, start, &g, &vs, &ve, &ks, &ke)) {
		c->i = start + 1;
		skip_ws(c);
		if (c->s[c->i] == '}') {
			c->i = end;
			return EDS_OK; /* {} is the empty Any */
		}
		return fail_at(c, EDS_E_DECODE, start, end, "missing \"@type\" in google.protobuf.Any");
	}
	if (c->s[vs] != '"')
		return fail_at(c, EDS_E_DECODE, vs, ve, "\"@type\" must be a string");
	c->i = vs;
	char *url;
	size_t ulen;
	if ((rc = read_string(c, &url, &ulen)))
		return rc;
	const ProtobufCMessageDescriptor *inner = eds_schema_find_url(url, ulen);
	if (!inner)
		return fail_at(c, EDS_E_DECODE, vs, ve, "unknown type \"%.200s\" in google.protobuf.Any", url);
	c->i = start;
	ProtobufCMessage *m = NULL;
	if (wkt_special(wkt_of(inner))) {
		if ((rc = open_container(c)))
			return rc;
		size_t count = 0;
		bool more, type_seen = false;
		struct key key;
		while (!(rc = next_key(c, &count, &key, &more)) && more) {
			bool is_type = key.len == 5 && memcmp(key.s, "@type", 5) == 0;
			bool is_value = key.len == 5 && memcmp(key.s, "value", 5) == 0;
			if ((is_type && type_seen) || (is_value && m))
				return fail_at(c, EDS_E_DECODE, key.start, key.end,
					       "\"%s\" is given twice in google.protobuf.Any",
					       is_type ? "@type" : "value");
			if (is_type) {
				type_seen = true;
				if ((rc = skip_value(c)))
					return rc;
				continue;
			}
			if (!is_value)
				return fail_at(c, EDS_E_DECODE, key.start, key.end,
					       "unknown field \"%.*s\" in google.protobuf.Any of type %s "
					       "(expected only \"@type\" and \"value\")",
					       (int)(key.len > 60 ? 60 : key.len), key.s, inner->name);
			eds_path_push(&c->path, "value", -1);
			rc = dec_message(c, inner, &m, depth + 1);
			eds_path_pop(&c->path);
			if (rc)
				return rc;
		}
		if (rc)
			return rc;
		if (!m)
			return fail_at(c, EDS_E_DECODE, start, end,
				       "missing \"value\" in google.protobuf.Any of type %s", inner->name);
	} else {
		if ((rc = check_depth(c, inner, depth + 1)))
			return rc;
		m = eds_arena_alloc(c->arena, inner->sizeof_message);
		protobuf_c_message_init(inner, m);
		if ((rc = dec_fields(c, inner, m, depth + 1, true)))
			return rc;
	}
	size_t n;
	uint8_t *buf = eds_bin_pack(m, c->arena, &n);
	any->type_url = url;
	any->value.len = n;
	any->value.data = n ? buf : NULL;
	return EDS_OK;
}

/* Allocates a message of type desc in the arena and fills it from the value at the cursor. */
static int dec_message(struct dec *c, const ProtobufCMessageDescriptor *desc,
		       ProtobufCMessage **out, unsigned depth)
{
	int rc = check_depth(c, desc, depth);
	if (rc)
		return rc;
	ProtobufCMessage *msg = eds_arena_alloc(c->arena, desc->sizeof_message);
	protobuf_c_message_init(desc, msg);
	*out = msg;
	enum jkind k;
	switch (wkt_of(desc)) {
	case EDS_WKT_WRAPPER:
		if ((rc = peek(c, &k)))
			return rc;
		if (k == J_OBJ || k == J_ARR || k == J_NULL)
			return fail_val(c, EDS_E_DECODE, "%s is written as a bare value in JSON, got %s",
					desc->name, kind_names[k]);
		return dec_value(c, &desc->fields[0], (char *)msg + desc->fields[0].offset, depth);
	case EDS_WKT_DURATION:
		return dec_duration(c, (Google__Protobuf__Duration *)msg);
	case EDS_WKT_TIMESTAMP:
		return dec_timestamp(c, (Google__Protobuf__Timestamp *)msg);
	case EDS_WKT_FIELD_MASK:
		return dec_field_mask(c, (Google__Protobuf__FieldMask *)msg);
	case EDS_WKT_STRUCT:
		return dec_map(c, &desc->fields[0], msg, depth, "google.protobuf.Struct");
	case EDS_WKT_LIST_VALUE:
		return dec_repeated(c, &desc->fields[0], msg, depth, "google.protobuf.ListValue");
	case EDS_WKT_VALUE:
		return dec_struct_value(c, (Google__Protobuf__Value *)msg, depth);
	case EDS_WKT_ANY:
		return dec_any(c, (Google__Protobuf__Any *)msg, depth);
	default:
		if ((rc = peek(c, &k)))
			return rc;
		if (k != J_OBJ)
			return fail_val(c, EDS_E_DECODE, "expected an object for %s, got %s", desc->name,
					kind_names[k]);
		return dec_fields(c, desc, msg, depth, false);
	}
}

int eds_json_decode(const ProtobufCMessageDescriptor *desc, const struct eds_src *src,
		    struct eds_arena *arena, const struct eds_limits *lim, ProtobufCMessage **out,
		    struct eds_diag *d)
{
	if (lim->max_input && src->len > lim->max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)",
			      src->len, lim->max_input);
		return eds_diag_offset(d, src, lim->max_input);
	}
	struct dec c = { .src = src, .s = src->text, .n = src->len, .arena = arena, .lim = lim, .d = d };
	if (c.n >= 3 && memcmp(c.s, "\xEF\xBB\xBF", 3) == 0)
		c.i = 3;
	skip_ws(&c);
	int rc;
	enum jkind k;
	if (c.i == c.n)
		rc = fail_at(&c, EDS_E_DECODE, c.n, c.n, "empty input: expected a JSON object");
	else if ((rc = peek(&c, &k)) != 0)
		;
	else if (k != J_OBJ)
		rc = fail_val(&c, EDS_E_DECODE, "expected a JSON object (%s), got %s", desc->name,
			      kind_names[k]);
	else if ((rc = dec_message(&c, desc, out, 1)) == 0) {
		skip_ws(&c);
		if (c.i < c.n)
			rc = syntax(&c, "unexpected text after the top-level object");
	}
	free(c.stk);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Encoder                                                                 */

struct enc {
	struct eds_buf *b;
	bool pretty, proto_names;
	unsigned indent;
	struct eds_diag *d;
	struct eds_arena *scratch; /* unpacked Any payloads; freed at the end */
	struct eds_path path;
};

__attribute__((format(printf, 2, 3)))
static int enc_fail(struct enc *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->d->msg, sizeof e->d->msg, fmt, ap);
	va_end(ap);
	e->d->code = EDS_E_ENCODE;
	eds_diag_path(e->d, &e->path);
	return EDS_E_ENCODE;
}

static struct eds_arena *scratch(struct enc *e)
{
	if (!e->scratch)
		e->scratch = eds_arena_new(64 << 10);
	return e->scratch;
}

static void newline(struct enc *e)
{
	static const char spaces[] = "                                                                ";
	eds_buf_putc(e->b, '\n');
	size_t n = (size_t)e->indent * 2;
	while (n > 0) {
		size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
		eds_buf_append(e->b, spaces, k);
		n -= k;
	}
}

static void open_c(struct enc *e, char ch)
{
	eds_buf_putc(e->b, ch);
	e->indent++;
}

static void close_c(struct enc *e, char ch, bool empty)
{
	e->indent--;
	if (e->pretty && !empty)
		newline(e);
	eds_buf_putc(e->b, ch);
}

static void sep(struct enc *e, bool *first)
{
	if (!*first)
		eds_buf_putc(e->b, ',');
	*first = false;
	if (e->pretty)
		newline(e);
}

/* "name": with the field name printed as camelCase unless proto_names. */
static void put_field_key(struct enc *e, bool *first, const char *name)
{
	sep(e, first);
	size_t n = strlen(name);
	if (eds_buf_reserve(e->b, n + 4) < 0)
		return;
	char *p = e->b->data + e->b->len;
	*p++ = '"';
	if (e->proto_names) {
		memcpy(p, name, n);
		p += n;
	} else {
		bool up = false;
		for (const char *s = name; *s; s++) {
			if (*s == '_') {
				up = true;
				continue;
			}
			*p++ = (char)(up && *s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s);
			up = false;
		}
	}
	*p++ = '"';
	*p++ = ':';
	e->b->len = (size_t)(p - e->b->data);
	if (e->pretty)
		eds_buf_putc(e->b, ' ');
}

static int put_string(struct enc *e, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (eds_utf8_valid_prefix(s, n) != n)
		return enc_fail(e, "string is not valid UTF-8");
	struct eds_buf *b = e->b;
	eds_buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		eds_buf_append(b, s + run, i - run);
		run = i + 1;
		char esc[7] = { '\\', 0 };
		size_t len = 2;
		switch (ch) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\t': esc[1] = 't'; break;
		case '\r': esc[1] = 'r'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			len = 6;
		}
		eds_buf_append(b, esc, len);
	}
	eds_buf_append(b, s + run, n - run);
	eds_buf_putc(b, '"');
	return EDS_OK;
}

static void put_u64(struct eds_buf *b, uint64_t v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	eds_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

static void put_i64(struct eds_buf *b, int64_t v)
{
	if (v < 0) {
		eds_buf_putc(b, '-');
		put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(b, (uint64_t)v);
	}
}

static void put_double(struct eds_buf *b, double v, bool is_float)
{
	char buf[40];
	if (isnan(v)) {
		eds_buf_puts(b, "\"NaN\"");
	} else if (isinf(v)) {
		eds_buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	} else {
		int n = is_float ? fmt_float(buf, sizeof buf, (float)v) : fmt_double(buf, sizeof buf, v);
		eds_buf_append(b, buf, (size_t)n);
	}
}

static void put_base64(struct eds_buf *b, const uint8_t *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	eds_buf_putc(b, '"');
	size_t i = 0;
	char q[4];
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = tab[(v >> 6) & 63];
		q[3] = tab[v & 63];
		eds_buf_append(b, q, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = q[3] = '=';
		eds_buf_append(b, q, 4);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = tab[(v >> 6) & 63];
		q[3] = '=';
		eds_buf_append(b, q, 4);
	}
	eds_buf_putc(b, '"');
}

static int enc_message(struct enc *e, const ProtobufCMessageDescriptor *desc,
		       const ProtobufCMessage *msg, unsigned depth);

/* One value of field f's type stored at member. */
static int enc_value(struct enc *e, const ProtobufCFieldDescriptor *f, const void *member,
		     unsigned depth)
{
	struct eds_buf *b = e->b;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		return enc_message(e, f->descriptor, *(ProtobufCMessage *const *)member, depth + 1);
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t v = *(const int32_t *)member;
		if (is_null_value_enum(f)) {
			eds_buf_puts(b, "null");
			break;
		}
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		if (ev) {
			eds_buf_putc(b, '"');
			eds_buf_puts(b, ev->name);
			eds_buf_putc(b, '"');
		} else {
			put_i64(b, v);
		}
		break;
	}
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		put_i64(b, *(const int32_t *)member);
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		put_u64(b, *(const uint32_t *)member);
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		eds_buf_putc(b, '"');
		put_i64(b, *(const int64_t *)member);
		eds_buf_putc(b, '"');
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		eds_buf_putc(b, '"');
		put_u64(b, *(const uint64_t *)member);
		eds_buf_putc(b, '"');
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(b, *(const double *)member, false);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double(b, *(const float *)member, true);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		eds_buf_puts(b, *(const protobuf_c_boolean *)member ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)member;
		return put_string(e, s ? s : "", s ? strlen(s) : 0);
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = member;
		put_base64(b, bd->data, bd->len);
		break;
	}
	}
	return EDS_OK;
}

/* Is the field set, by the proto3 presence rules (as the binary encoder tests them)? */
static bool present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
	const char *m = (const char *)msg + f->offset;
	const char *q = (const char *)msg + f->quantifier_offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)q > 0;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	bool ptr_type = f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)q == f->id && (!ptr_type || *(void *const *)m != NULL);
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return ptr_type ? *(void *const *)m != NULL : *(const protobuf_c_boolean *)q;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *)m != NULL;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)m;
		return s && *s;
	}
	case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)m)->len > 0;
	default: /* (raw bits for float and double: -0.0 counts as set) */
		return elem_size(f->type) == 8 ? *(const uint64_t *)m != 0 : *(const uint32_t *)m != 0;
	}
}

/* A map key as a JSON string. */
static int enc_map_key(struct enc *e, const ProtobufCFieldDescriptor *kf, const void *member)
{
	if (kf->type == PROTOBUF_C_TYPE_STRING) {
		const char *s = *(char *const *)member;
		return put_string(e, s ? s : "", s ? strlen(s) : 0);
	}
	eds_buf_putc(e->b, '"');
	int rc = enc_value(e, kf, member, 0);
	eds_buf_putc(e->b, '"');
	return rc;
}

static int map_key_cmp(const ProtobufCFieldDescriptor *kf, const ProtobufCMessage *a,
		       const ProtobufCMessage *b)
{
	const char *ka = (const char *)a + kf->offset, *kb = (const char *)b + kf->offset;
	if (kf->type == PROTOBUF_C_TYPE_STRING) {
		const char *sa = *(char *const *)ka, *sb = *(char *const *)kb;
		return strcmp(sa ? sa : "", sb ? sb : "");
	}
	return memcmp(ka, kb, elem_size(kf->type));
}

struct map_ix {
	const ProtobufCFieldDescriptor *kf;
	const ProtobufCMessage *entry;
	size_t i;
};

static int map_ix_cmp(const void *a, const void *b)
{
	const struct map_ix *x = a, *y = b;
	int r = map_key_cmp(x->kf, x->entry, y->entry);
	if (r)
		return r;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * A map given the same key twice (possible in binary input) means the last
 * entry: flags the entries a later one overrides, or returns NULL if none.
 */
static bool *map_overridden(struct enc *e, const ProtobufCFieldDescriptor *kf,
			    ProtobufCMessage *const *arr, size_t n)
{
	bool *skip = NULL;
	if (n <= 16) {
		for (size_t i = 0; i + 1 < n; i++) {
			for (size_t j = i + 1; j < n && arr[i]; j++) {
				if (arr[j] && map_key_cmp(kf, arr[i], arr[j]) == 0) {
					if (!skip)
						skip = eds_arena_zalloc(scratch(e), n * sizeof *skip);
					skip[i] = true;
					break;
				}
			}
		}
		return skip;
	}
	struct map_ix *ix = eds_arena_alloc(scratch(e), n * sizeof *ix);
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (arr[i])
			ix[m++] = (struct map_ix){ kf, arr[i], i };
	qsort(ix, m, sizeof *ix, map_ix_cmp);
	for (size_t k = 0; k + 1 < m; k++) {
		if (map_key_cmp(kf, ix[k].entry, ix[k + 1].entry) == 0) {
			if (!skip)
				skip = eds_arena_zalloc(scratch(e), n * sizeof *skip);
			skip[ix[k].i] = true;
		}
	}
	return skip;
}

/* A map field as a JSON object; bare (Struct) keys get no field name. */
static int enc_map(struct enc *e, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg,
		   unsigned depth, bool bare)
{
	size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
	ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)((const char *)msg + f->offset);
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
	bool *skip = n > 1 ? map_overridden(e, kf, arr, n) : NULL;
	bool first = true;
	open_c(e, '{');
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessage *entry = arr[i];
		if (!entry || (skip && skip[i]))
			continue;
		if (kf->type == PROTOBUF_C_TYPE_STRING) {
			const char *key = *(char *const *)((const char *)entry + kf->offset);
			eds_path_push_key(&e->path, bare ? NULL : f->name, key ? key : "", key ? strlen(key) : 0);
		} else {
			eds_path_push(&e->path, bare ? NULL : f->name, (int64_t)i);
		}
		sep(e, &first);
		int rc = enc_map_key(e, kf, (const char *)entry + kf->offset);
		if (rc)
			return rc;
		eds_buf_putc(e->b, ':');
		if (e->pretty)
			eds_buf_putc(e->b, ' ');
		rc = enc_value(e, vf, (const char *)entry + vf->offset, depth + 1);
		if (rc)
			return rc;
		eds_path_pop(&e->path);
	}
	close_c(e, '}', first);
	return EDS_OK;
}

static int enc_repeated(struct enc *e, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg,
			unsigned depth, bool bare)
{
	size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
	const char *arr = *(const char *const *)((const char *)msg + f->offset);
	size_t esz = elem_size(f->type);
	bool first = true;
	open_c(e, '[');
	for (size_t i = 0; i < n; i++) {
		eds_path_push(&e->path, bare ? NULL : f->name, (int64_t)i);
		sep(e, &first);
		int rc = enc_value(e, f, arr + i * esz, depth);
		if (rc)
			return rc;
		eds_path_pop(&e->path);
	}
	close_c(e, ']', first);
	return EDS_OK;
}

/* The fields of msg as members of the object already open. */
static int enc_fields(struct enc *e, const ProtobufCMessageDescriptor *desc,
		      const ProtobufCMessage *msg, unsigned depth, bool *first)
{
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		if (!present(f, msg))
			continue;
		put_field_key(e, first, f->name);
		int rc;
		if (is_map(f)) {
			rc = enc_map(e, f, msg, depth, false);
		} else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			rc = enc_repeated(e, f, msg, depth, false);
		} else {
			eds_path_push(&e->path, f->name, -1);
			rc = enc_value(e, f, (const char *)msg + f->offset, depth);
			eds_path_pop(&e->path);
		}
		if (rc)
			return rc;
	}
	return EDS_OK;
}

/* Nanoseconds as protobuf prints them: nothing, or 3, 6 or 9 digits after a '.'. */
static int put_frac(char *buf, size_t size, uint32_t ns)
{
	if (ns == 0)
		return 0;
	if (ns % 1000000 == 0)
		return snprintf(buf, size, ".%03u", ns / 1000000);
	if (ns % 1000 == 0)
		return snprintf(buf, size, ".%06u", ns / 1000);
	return snprintf(buf, size, ".%09u", ns);
}

static int enc_duration(struct enc *e, const Google__Protobuf__Duration *dur)
{
	int64_t s = dur->seconds;
	int32_t ns = dur->nanos;
	if (s < -DURATION_MAX_SECONDS || s > DURATION_MAX_SECONDS || ns < -999999999 ||
	    ns > 999999999 || (s > 0 && ns < 0) || (s < 0 && ns > 0))
		return enc_fail(e, "google.protobuf.Duration {seconds: %lld, nanos: %d} is out of range",
				(long long)s, ns);
	char buf[40];
	uint64_t as = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
	uint32_t an = ns < 0 ? (uint32_t)(-ns) : (uint32_t)ns;
	int n = snprintf(buf, sizeof buf, "\"%s%llu", s < 0 || ns < 0 ? "-" : "", (unsigned long long)as);
	n += put_frac(buf + n, sizeof buf - (size_t)n, an);
	n += snprintf(buf + n, sizeof buf - (size_t)n, "s\"");
	eds_buf_append(e->b, buf, (size_t)n);
	return EDS_OK;
}

/* FieldMask as one string, its paths in lowerCamelCase joined by commas;
 * a path that would not read back the same is refused, as protobuf does. */
static int enc_field_mask(struct enc *e, const Google__Protobuf__FieldMask *fm)
{
	struct eds_buf b = { 0 };
	const char *why = NULL, *path = "";
	for (size_t i = 0; i < fm->n_paths && !why; i++) {
		path = fm->paths[i] ? fm->paths[i] : "";
		if (i)
			eds_buf_putc(&b, ',');
		bool under = false;
		for (const char *p = path; *p && !why; p++) {
			if (*p >= 'A' && *p <= 'Z')
				why = "has an uppercase letter";
			else if (under && (*p < 'a' || *p > 'z'))
				why = "has a '_' not followed by a lowercase letter";
			else if (under)
				eds_buf_putc(&b, (char)(*p - 'a' + 'A'));
			else if (*p != '_')
				eds_buf_putc(&b, *p);
			under = !under && *p == '_';
		}
		if (under && !why)
			why = "ends in '_'";
	}
	int rc = why ? enc_fail(e, "google.protobuf.FieldMask path \"%.60s\" %s: JSON cannot carry it", path, why)
		     : put_string(e, b.len ? b.data : "", b.len);
	eds_buf_release(&b);
	return rc;
}

/* Always "Z", with 0, 3, 6 or 9 fractional digits, as protobuf prints it. */
static int enc_timestamp(struct enc *e, const Google__Protobuf__Timestamp *ts)
{
	int64_t s = ts->seconds;
	int32_t ns = ts->nanos;
	if (s < TIMESTAMP_MIN_SECONDS || s > TIMESTAMP_MAX_SECONDS || ns < 0 || ns > 999999999)
		return enc_fail(e, "google.protobuf.Timestamp {seconds: %lld, nanos: %d} is out of range",
				(long long)s, ns);
	int64_t days = (s >= 0 ? s : s - 86399) / 86400, y;
	unsigned sod = (unsigned)(s - days * 86400), m, d;
	civil_from_days(days, &y, &m, &d);
	char buf[48];
	int n = snprintf(buf, sizeof buf, "\"%04d-%02u-%02uT%02u:%02u:%02u", (int)y, m, d, sod / 3600,
			 sod / 60 % 60, sod % 60);
	n += put_frac(buf + n, sizeof buf - (size_t)n, (uint32_t)ns);
	n += snprintf(buf + n, sizeof buf - (size_t)n, "Z\"");
	eds_buf_append(e->b, buf, (size_t)n);
	return EDS_OK;
}

static int enc_struct_value(struct enc *e, const Google__Protobuf__Value *v, unsigned depth)
{
	switch (v->kind_case) {
	case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
		if (!isfinite(v->number_value))
			return enc_fail(e, "cannot print %s in a google.protobuf.Value as JSON",
					isnan(v->number_value) ? "NaN" : "Infinity");
		put_double(e->b, v->number_value, false);
		return EDS_OK;
	case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
		return put_string(e, v->string_value ? v->string_value : "",
				  v->string_value ? strlen(v->string_value) : 0);
	case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
		eds_buf_puts(e->b, v->bool_value ? "true" : "false");
		return EDS_OK;
	case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
		return enc_message(e, &google__protobuf__struct__descriptor,
				   (const ProtobufCMessage *)v->struct_value, depth + 1);
	case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
		return enc_message(e, &google__protobuf__list_value__descriptor,
				   (const ProtobufCMessage *)v->list_value, depth + 1);
	default:
		eds_buf_puts(e->b, "null");
		return EDS_OK;
	}
}

static bool varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t r = 0;
	for (int i = 0; i < 10 && p < end; i++, p++) {
		r |= (uint64_t)(*p & 0x7F) << (7 * i);
		if (!(*p & 0x80)) {
			*pp = p + 1;
			*v = r;
			return true;
		}
	}
	return false;
}

/*
 * protobuf-c unpacks recursively without a limit, and the binary decoder
 * does not look inside Any.value: measure the payload's nesting first.
 * Malformed data passes here; protobuf-c rejects it.
 */
static bool nesting_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
		       const uint8_t *end, unsigned depth, unsigned max)
{
	if (depth > max)
		return false;
	while (p < end) {
		uint64_t tag, v;
		if (!varint(&p, end, &tag))
			return true;
		switch (tag & 7) {
		case 0:
			if (!varint(&p, end, &v))
				return true;
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2: {
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				return true;
			const ProtobufCFieldDescriptor *f =
				tag >> 3 <= UINT32_MAX
					? protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3))
					: NULL;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !nesting_ok(f->descriptor, p, p + v, depth + 1, max))
				return false;
			p += v;
			break;
		}
		default:
			return true;
		}
	}
	return true;
}

static int enc_any(struct enc *e, const Google__Protobuf__Any *any, unsigned depth)
{
	const char *url = any->type_url ? any->type_url : "";
	if (!*url && any->value.len == 0) {
		eds_buf_puts(e->b, "{}");
		return EDS_OK;
	}
	const ProtobufCMessageDescriptor *inner = eds_schema_find_url(url, strlen(url));
	if (!inner)
		return enc_fail(e, "cannot print google.protobuf.Any of unknown type \"%s\" as JSON", url);
	const uint8_t *data = any->value.data ? any->value.data : (const uint8_t *)"";
	if (!nesting_ok(inner, data, data + any->value.len, depth + 1, eds_depth_levels(eds_limits_default.max_depth)))
		return enc_fail(e, "google.protobuf.Any of type \"%s\" nests messages deeper than %u levels",
				url, eds_limits_default.max_depth);
	ProtobufCMessage *m = protobuf_c_message_unpack(inner, eds_arena_pbc(scratch(e)),
							any->value.len, data);
	if (!m)
		return enc_fail(e, "the value of google.protobuf.Any of type \"%s\" does not decode", url);
	bool first = true;
	open_c(e, '{');
	sep(e, &first);
	eds_buf_puts(e->b, e->pretty ? "\"@type\": " : "\"@type\":");
	int rc = put_string(e, url, strlen(url));
	if (rc)
		return rc;
	if (wkt_special(wkt_of(inner))) {
		sep(e, &first);
		eds_buf_puts(e->b, e->pretty ? "\"value\": " : "\"value\":");
		eds_path_push(&e->path, "value", -1);
		rc = enc_message(e, inner, m, depth + 1);
		eds_path_pop(&e->path);
	} else {
		rc = enc_fields(e, inner, m, depth + 1, &first);
	}
	if (rc)
		return rc;
	close_c(e, '}', false);
	return EDS_OK;
}

static int enc_message(struct enc *e, const ProtobufCMessageDescriptor *desc,
		       const ProtobufCMessage *msg, unsigned depth)
{
	if (!msg) {
		/* a set oneof or map value with no message: print the default */
		ProtobufCMessage *m = eds_arena_alloc(scratch(e), desc->sizeof_message);
		protobuf_c_message_init(desc, m);
		msg = m;
	}
	bool first = true;
	int rc;
	switch (wkt_of(desc)) {
	case EDS_WKT_WRAPPER:
		return enc_value(e, &desc->fields[0], (const char *)msg + desc->fields[0].offset, depth);
	case EDS_WKT_DURATION:
		return enc_duration(e, (const Google__Protobuf__Duration *)msg);
	case EDS_WKT_TIMESTAMP:
		return enc_timestamp(e, (const Google__Protobuf__Timestamp *)msg);
	case EDS_WKT_FIELD_MASK:
		return enc_field_mask(e, (const Google__Protobuf__FieldMask *)msg);
	case EDS_WKT_STRUCT:
		return enc_map(e, &desc->fields[0], msg, depth, true);
	case EDS_WKT_LIST_VALUE:
		return enc_repeated(e, &desc->fields[0], msg, depth, true);
	case EDS_WKT_VALUE:
		return enc_struct_value(e, (const Google__Protobuf__Value *)msg, depth);
	case EDS_WKT_ANY:
		return enc_any(e, (const Google__Protobuf__Any *)msg, depth);
	default:
		open_c(e, '{');
		rc = enc_fields(e, desc, msg, depth, &first);
		if (rc)
			return rc;
		close_c(e, '}', first);
		return EDS_OK;
	}
}

int eds_json_encode(const ProtobufCMessage *msg, const struct eds_encode_opts *opts,
		    struct eds_buf *out, struct eds_diag *d)
{
	struct enc e = { .b = out, .pretty = opts && opts->pretty,
			 .proto_names = opts && opts->proto_names, .d = d };
	int rc = enc_message(&e, msg->descriptor, msg, 1);
	eds_arena_free(e.scratch);
	if (rc)
		return rc;
	eds_buf_putc(out, '\n');
	/* eds_buf checks max only when it grows its storage */
	if (eds_buf_overflowed(out) || (out->max && out->len > out->max))
		return eds_diag_setf(d, EDS_E_LIMIT, "output larger than %zu bytes (--max-output)", out->max);
	return EDS_OK;
}
