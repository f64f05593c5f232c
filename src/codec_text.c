/*
 * Protobuf text format, read and written the way protoc 3.21 (C++ TextFormat)
 * does, driven by protobuf-c descriptors.
 *
 * Reading: a tokenizer with C++'s lexical rules feeds a recursive-descent
 * parser that builds protobuf-c structs straight in the request arena; depth
 * is bounded by lim->max_depth before every nested message.  Extensions over
 * protoc: a bare field number names an unknown field ("7: 123", "7 { ... }",
 * "7: 0x0000000a" for fixed32), or a known field when its value is written
 * as that field's wire type is (number_fits), so binary -> text -> binary
 * keeps unknown fields (a block is a group where protoc prints nothing
 * else so: struct usink).  Stricter than protoc: a singular field given twice
 * is an error even when the first value was zero, and string fields must be
 * valid UTF-8 without NUL (protobuf-c strings are C strings).  Writing:
 * byte-identical to protoc --decode, except that an Any of a known type is
 * printed expanded ("[type.googleapis.com/X] { ... }"), as DebugString and
 * python's text_format do.
 */
#include "codec_text.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "schema.h"

#define MAX_FIELD_NUMBER 536870911u
/* protoc prints a length-delimited unknown field as a nested message at most
 * this many levels deep (text_format.cc kUnknownFieldRecursionLimit). */
#define UNKNOWN_BUDGET 10
/* The parser recurses once per nested message (a few hundred bytes of
 * stack each): whatever --max-depth says, stay far from the stack's end. */
#define MAX_NESTING 3000
/* wire types protobuf-c does not name (it does not support groups) */
#define WT_START_GROUP 3
#define WT_END_GROUP 4

static const char *const any_prefixes[] = { "type.googleapis.com/", "type.googleprod.com/" };

/* ---------------------------------------------------------------- tokens */

enum tk { TK_END, TK_IDENT, TK_INT, TK_FLOAT, TK_STRING, TK_SYM, TK_ERR };

struct tok {
	enum tk kind;
	char sym;
	size_t start, end;
};

struct lex {
	const char *s;
	size_t len, pos;
	struct tok t;
	const char *err; /* set when lex_next fails */
	size_t err_start, err_end;
};

/* character classes of the C locale, for the tokenizer's hot loops */
enum { C_BLANK = 1, C_IDENT = 2, C_DIGIT = 4, C_HEX = 8, C_LETTER = 16 };
static const unsigned char ctype[256] = {
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  1,  1,  1,  1,  1,  0,  0,
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	 1,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
	14, 14, 14, 14, 14, 14, 14, 14, 14, 14,  0,  0,  0,  0,  0,  0,
	 0, 26, 26, 26, 26, 26, 26, 18, 18, 18, 18, 18, 18, 18, 18, 18,
	18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,  0,  0,  0,  0, 18,
	 0, 26, 26, 26, 26, 26, 26, 18, 18, 18, 18, 18, 18, 18, 18, 18,
	18, 18, 18, 18, 18, 18, 18, 18, 18, 18, 18,  0,  0,  0,  0,  0,
};

static bool is_letter(int c) { return ctype[c & 0xFF] & C_LETTER; }
static bool is_ident(int c) { return ctype[c & 0xFF] & C_IDENT; }
static bool is_digit(int c) { return ctype[c & 0xFF] & C_DIGIT; }
static bool is_oct(int c) { return c >= '0' && c <= '7'; }
static bool is_hex(int c) { return ctype[c & 0xFF] & C_HEX; }
static bool is_blank(int c) { return ctype[c & 0xFF] & C_BLANK; }
static unsigned hex_val(int c)
{
	return is_digit(c) ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

static size_t skip_blank(const char *s, size_t n, size_t i)
{
	for (;;) {
		/* indentation: eight spaces at a time */
		while (n - i >= 8 && memcmp(s + i, "        ", 8) == 0)
			i += 8;
		while (i < n && is_blank((unsigned char)s[i]))
			i++;
		if (i < n && s[i] == '#') {
			while (i < n && s[i] != '\n')
				i++;
			continue;
		}
		return i;
	}
}

static int lex_error(struct lex *lx, const char *msg, size_t start, size_t end)
{
	lx->err = msg;
	lx->err_start = start;
	lx->err_end = end;
	return -1;
}

static int lex_number(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t n = lx->len, start = i;
	bool is_float = false;
	if (s[i] == '0' && i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
		i += 2;
		if (i >= n || !is_hex((unsigned char)s[i]))
			return lex_error(lx, "\"0x\" must be followed by hex digits", start, i);
		while (i < n && is_hex((unsigned char)s[i]))
			i++;
	} else if (s[i] == '0' && i + 1 < n && is_digit((unsigned char)s[i + 1])) {
		while (i < n && is_oct((unsigned char)s[i]))
			i++;
		if (i < n && is_digit((unsigned char)s[i]))
			return lex_error(lx, "a number with a leading zero must be octal", start, i + 1);
	} else {
		if (s[i] == '.') {
			is_float = true;
			i++;
		}
		while (i < n && is_digit((unsigned char)s[i]))
			i++;
		if (!is_float && i < n && s[i] == '.') {
			is_float = true;
			i++;
			while (i < n && is_digit((unsigned char)s[i]))
				i++;
		}
		if (i < n && (s[i] == 'e' || s[i] == 'E')) {
			is_float = true;
			i++;
			if (i < n && (s[i] == '+' || s[i] == '-'))
				i++;
			if (i >= n || !is_digit((unsigned char)s[i]))
				return lex_error(lx, "\"e\" must be followed by an exponent", start, i);
			while (i < n && is_digit((unsigned char)s[i]))
				i++;
		}
		if (i < n && (s[i] == 'f' || s[i] == 'F')) {
			is_float = true;
			i++;
		}
	}
	if (i < n && is_ident((unsigned char)s[i]))
		return lex_error(lx, "need space between number and identifier", start, i + 1);
	if (i < n && s[i] == '.')
		return lex_error(lx, "unexpected '.' after number", start, i + 1);
	lx->t.kind = is_float ? TK_FLOAT : TK_INT;
	lx->t.end = lx->pos = i;
	return 0;
}

static int lex_string(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t n = lx->len, start = i;
	char q = s[i++];
	for (;;) {
		if (i >= n)
			return lex_error(lx, "unterminated string", start, n);
		char c = s[i];
		if (c == q) {
			i++;
			break;
		}
		if (c == '\n')
			return lex_error(lx, "string literals cannot span lines", start, i);
		if (c != '\\') {
			i++;
			continue;
		}
		size_t esc = i++;
		if (i >= n)
			return lex_error(lx, "unterminated string", start, n);
		c = s[i++];
		if (c && strchr("abfnrtv\\?'\"", c)) {
			continue;
		} else if (is_oct((unsigned char)c)) {
			for (int k = 0; k < 2 && i < n && is_oct((unsigned char)s[i]); k++)
				i++;
		} else if (c == 'x') {
			if (i >= n || !is_hex((unsigned char)s[i]))
				return lex_error(lx, "expected hex digits after \\x", esc, i);
			i++;
			if (i < n && is_hex((unsigned char)s[i]))
				i++;
		} else if (c == 'u' || c == 'U') {
			unsigned want = c == 'u' ? 4 : 8, k;
			uint32_t cp = 0;
			for (k = 0; k < want && i < n && is_hex((unsigned char)s[i]); k++)
				cp = cp * 16 + hex_val((unsigned char)s[i++]);
			if (k < want)
				return lex_error(lx, c == 'u' ? "expected 4 hex digits after \\u"
							      : "expected 8 hex digits after \\U",
						 esc, i);
			if (cp > 0x10FFFF)
				return lex_error(lx, "\\U escape beyond U+10FFFF", esc, i);
		} else {
			return lex_error(lx, "invalid escape sequence in string", esc, i);
		}
	}
	lx->t.kind = TK_STRING;
	lx->t.end = lx->pos = i;
	return 0;
}

/* Advances to the next token; -1 with lx->err set on a lexical error. */
static int lex_next(struct lex *lx)
{
	const char *s = lx->s;
	size_t n = lx->len, i = skip_blank(s, n, lx->pos);
	lx->t.start = lx->t.end = lx->pos = i;
	lx->t.sym = 0;
	if (i >= n) {
		lx->t.kind = TK_END;
		return 0;
	}
	unsigned char c = (unsigned char)s[i];
	if (is_letter(c)) {
		while (i < n && is_ident((unsigned char)s[i]))
			i++;
		lx->t.kind = TK_IDENT;
		lx->t.end = lx->pos = i;
		return 0;
	}
	if (is_digit(c) || (c == '.' && i + 1 < n && is_digit((unsigned char)s[i + 1])))
		return lex_number(lx, i);
	if (c == '"' || c == '\'')
		return lex_string(lx, i);
	if (c < 0x20 || c == 0x7F)
		return lex_error(lx, "invalid control character", i, i + 1);
	if (c >= 0x80) {
		size_t e = i + 1;
		while (e < n && ((unsigned char)s[e] & 0xC0) == 0x80)
			e++;
		return lex_error(lx, "unexpected non-ASCII character outside a string", i, e);
	}
	lx->t.kind = TK_SYM;
	lx->t.sym = (char)c;
	lx->t.end = lx->pos = i + 1;
	return 0;
}

static bool is_sym(const struct tok *t, char c)
{
	return t->kind == TK_SYM && t->sym == c;
}

/* Writes code point cp as UTF-8 (surrogates too: the string check rejects them). */
static size_t utf8_put(uint32_t cp, unsigned char *o)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

static uint32_t hex_run(const char *s, size_t k)
{
	uint32_t v = 0;
	for (size_t j = 0; j < k; j++)
		v = v * 16 + hex_val((unsigned char)s[j]);
	return v;
}

/*
 * Decodes one character or escape of a string literal the lexer accepted,
 * at s[*i] (n is where the literal's body ends); writes 1..4 bytes to o,
 * never more than it consumed, and returns how many.
 */
static size_t unescape_one(const char *s, size_t n, size_t *i, unsigned char *o)
{
	char c = s[(*i)++];
	if (c != '\\') {
		o[0] = (unsigned char)c;
		return 1;
	}
	c = s[(*i)++];
	switch (c) {
	case 'a': o[0] = '\a'; return 1;
	case 'b': o[0] = '\b'; return 1;
	case 'f': o[0] = '\f'; return 1;
	case 'n': o[0] = '\n'; return 1;
	case 'r': o[0] = '\r'; return 1;
	case 't': o[0] = '\t'; return 1;
	case 'v': o[0] = '\v'; return 1;
	case 'x': {
		unsigned v = hex_val((unsigned char)s[(*i)++]);
		if (*i < n && is_hex((unsigned char)s[*i]))
			v = v * 16 + hex_val((unsigned char)s[(*i)++]);
		o[0] = (unsigned char)v;
		return 1;
	}
	case 'u':
	case 'U': {
		size_t k = c == 'u' ? 4 : 8;
		uint32_t cp = hex_run(s + *i, k);
		*i += k;
		/* A \u surrogate pair is one code point, as in C++ and JSON. */
		if (cp >= 0xD800 && cp <= 0xDBFF && *i + 6 <= n && s[*i] == '\\' && s[*i + 1] == 'u') {
			bool ok = true;
			for (size_t j = 2; j < 6; j++)
				ok = ok && is_hex((unsigned char)s[*i + j]);
			uint32_t lo = ok ? hex_run(s + *i + 2, 4) : 0;
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				*i += 6;
			}
		}
		return utf8_put(cp, o);
	}
	default:
		if (is_oct((unsigned char)c)) {
			unsigned v = (unsigned)(c - '0');
			for (int k = 0; k < 2 && *i < n && is_oct((unsigned char)s[*i]); k++)
				v = v * 8 + (unsigned)(s[(*i)++] - '0');
			o[0] = (unsigned char)v;
			return 1;
		}
		o[0] = (unsigned char)c; /* \\ \' \" \? */
		return 1;
	}
}

/* Parses an integer token's text (decimal, 0octal, 0xhex); -1 on overflow. */
static int parse_uint_text(const char *s, size_t n, uint64_t *out)
{
	unsigned base = 10;
	size_t i = 0;
	if (n > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (n > 1 && s[0] == '0') {
		base = 8;
		i = 1;
	}
	uint64_t v = 0;
	for (; i < n; i++) {
		unsigned d = hex_val((unsigned char)s[i]);
		if (v > (UINT64_MAX - d) / base)
			return -1;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

/* ------------------------------------------------------ descriptor helpers */

static enum eds_wkt wkt_of(const ProtobufCMessageDescriptor *desc)
{
	/* cheap pre-filter: this runs for every message */
	if (desc->package_name[0] != 'g')
		return EDS_WKT_NONE;
	return eds_schema_wkt(desc);
}

/* strcmp(name, s[0..n)) without a NUL in s */
static int name_cmp(const char *name, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char a = (unsigned char)name[i], b = (unsigned char)s[i];
		if (a != b)
			return a < b ? -1 : 1;
	}
	return name[n] ? 1 : 0;
}

static const ProtobufCFieldDescriptor *field_by_name(const ProtobufCMessageDescriptor *desc,
						     const char *name, size_t n)
{
	unsigned lo = 0, hi = desc->n_fields;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const ProtobufCFieldDescriptor *f = &desc->fields[desc->fields_sorted_by_name[mid]];
		int c = name_cmp(f->name, name, n);
		if (c == 0)
			return f;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const ProtobufCEnumValue *enum_by_name(const ProtobufCEnumDescriptor *ed, const char *name,
					      size_t n)
{
	unsigned lo = 0, hi = ed->n_value_names;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const char *vn = ed->values_by_name[mid].name;
		int c = name_cmp(vn, name, n);
		if (c == 0)
			return &ed->values[ed->values_by_name[mid].index];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* protoc names a map field's entry type <FieldInCamelCase>Entry, nested in the parent. */
static bool is_map_field(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	const ProtobufCMessageDescriptor *e = f->descriptor;
	if (e->n_fields != 2 || e->fields[0].id != 1 || e->fields[1].id != 2 ||
	    strcmp(e->fields[0].name, "key") != 0 || strcmp(e->fields[1].name, "value") != 0)
		return false;
	size_t pl = strlen(parent->name);
	if (strncmp(e->name, parent->name, pl) != 0 || e->name[pl] != '.')
		return false;
	const char *sn = e->name + pl + 1;
	bool up = true;
	for (const char *q = f->name; *q; q++) {
		if (*q == '_') {
			up = true;
			continue;
		}
		char c = (up && *q >= 'a' && *q <= 'z') ? (char)(*q - 'a' + 'A') : *q;
		if (*sn++ != c)
			return false;
		up = false;
	}
	return strcmp(sn, "Entry") == 0;
}

static size_t elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

static const char *type_name(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: return "int32";
	case PROTOBUF_C_TYPE_SINT32: return "sint32";
	case PROTOBUF_C_TYPE_SFIXED32: return "sfixed32";
	case PROTOBUF_C_TYPE_INT64: return "int64";
	case PROTOBUF_C_TYPE_SINT64: return "sint64";
	case PROTOBUF_C_TYPE_SFIXED64: return "sfixed64";
	case PROTOBUF_C_TYPE_UINT32: return "uint32";
	case PROTOBUF_C_TYPE_FIXED32: return "fixed32";
	case PROTOBUF_C_TYPE_UINT64: return "uint64";
	case PROTOBUF_C_TYPE_FIXED64: return "fixed64";
	case PROTOBUF_C_TYPE_FLOAT: return "float";
	case PROTOBUF_C_TYPE_DOUBLE: return "double";
	case PROTOBUF_C_TYPE_BOOL: return "bool";
	case PROTOBUF_C_TYPE_ENUM: return "enum";
	case PROTOBUF_C_TYPE_STRING: return "string";
	case PROTOBUF_C_TYPE_BYTES: return "bytes";
	case PROTOBUF_C_TYPE_MESSAGE: return "message";
	}
	return "?";
}

static size_t put_varint(uint8_t *o, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		o[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	o[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint of at most 10 bytes; returns its length, 0 if malformed. */
static size_t get_varint(const uint8_t *d, size_t len, size_t pos, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < 10 && pos + i < len; i++) {
		r |= (uint64_t)(d[pos + i] & 0x7F) << (7 * i);
		if (!(d[pos + i] & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- parser */

struct ahead;

struct tp {
	struct lex lx;
	const struct eds_src *src;
	struct eds_arena *arena;
	struct eds_diag *d;
	unsigned max_depth; /* levels, the top message being 1 (eds_depth_levels) */
	size_t max_string;
	struct eds_path path;
	struct ahead *ahead; /* parsing ahead on another thread (below) */
	size_t ahead_at;     /* where its next run starts; SIZE_MAX: none */
};

/* Wire-format bytes built in the arena (unknown fields given by number). */
struct abuf {
	uint8_t *d;
	size_t len, cap;
};

/* Where parsed unknown fields go: a message's unknown_fields, or wire bytes.
 * A block goes as a group where protoc prints nothing else so: under a
 * length-delimited field's number (group), or empty (protoc prints an empty
 * length-delimited field as ""). */
struct usink {
	ProtobufCMessage *msg;
	struct abuf *buf;
	bool group;
};

__attribute__((format(printf, 5, 6)))
static int fail_code(struct tp *p, enum eds_code code, size_t start, size_t end, const char *fmt, ...)
{
	char msg[sizeof p->d->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* whatever was expected here, the real problem is the malformed token */
	if (p->lx.t.kind == TK_ERR && start == p->lx.t.start && code == EDS_E_DECODE) {
		snprintf(msg, sizeof msg, "%s", p->lx.err);
		start = p->lx.err_start;
		end = p->lx.err_end;
	}
	eds_diag_setf(p->d, code, "%s", msg);
	eds_diag_path(p->d, &p->path);
	return eds_diag_span(p->d, p->src, start, end);
}

#define fail(p, start, end, ...) fail_code((p), EDS_E_DECODE, (start), (end), __VA_ARGS__)

/*
 * Advances to the next token.  A malformed token becomes TK_ERR and is
 * reported by whoever looks at it, so that the error's path is that of the
 * field it belongs to, not of the value before it.
 */
static int next(struct tp *p)
{
	if (p->lx.t.kind == TK_ERR || lex_next(&p->lx) == 0)
		return 0;
	p->lx.t.kind = TK_ERR;
	p->lx.t.end = p->lx.err_end;
	return 0;
}

/* A token for "got ..." in messages: 'x', "text", string '...', end of input. */
static const char *tok_desc(const struct tp *p, const struct tok *t, char *buf, size_t size)
{
	switch (t->kind) {
	case TK_END:
		return "end of input";
	case TK_SYM:
		snprintf(buf, size, "'%c'", t->sym);
		return buf;
	default: {
		const char *s = p->lx.s + t->start;
		size_t n = t->end - t->start;
		bool cut = false;
		if (n > 40) {
			n = 37;
			while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
				n--;
			cut = true;
		}
		if (t->kind == TK_STRING)
			snprintf(buf, size, "string %.*s%s", (int)n, s, cut ? "..." : "");
		else
			snprintf(buf, size, "\"%.*s%s\"", (int)n, s, cut ? "..." : "");
		return buf;
	}
	}
}

#define GOT(p) tok_desc((p), &(p)->lx.t, (char[64]){ 0 }, 64)

static ProtobufCMessage *new_msg(struct tp *p, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = eds_arena_alloc(p->arena, desc->sizeof_message);
	protobuf_c_message_init(desc, m);
	return m;
}

/* Appends an element to an arena array of n elements; capacity is implied
 * by n (4, 8, 16, ...), so growth doubles and nothing else is stored. */
static void *grow_append(struct tp *p, void **arr, size_t *np, size_t esz)
{
	size_t n = *np;
	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
		size_t cap = n ? 2 * n : 4;
		void *na = eds_arena_alloc(p->arena, cap * esz);
		if (n)
			memcpy(na, *arr, n * esz);
		*arr = na;
	}
	*np = n + 1;
	return (char *)*arr + n * esz;
}

/* The storage for the next value of f in msg, marking it present. */
static void *field_slot(struct tp *p, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	char *base = (char *)msg;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return grow_append(p, (void **)(base + f->offset), (size_t *)(base + f->quantifier_offset),
				   elt_size(f->type));
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		*(uint32_t *)(base + f->quantifier_offset) = f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
		 f->type != PROTOBUF_C_TYPE_STRING)
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	return base + f->offset;
}

static size_t rep_count(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	return *(const size_t *)((const char *)msg + f->quantifier_offset);
}

static void abuf_put(struct tp *p, struct abuf *b, const void *src, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		while (cap - b->len < n)
			cap *= 2;
		uint8_t *nd = eds_arena_alloc(p->arena, cap);
		if (b->len)
			memcpy(nd, b->d, b->len);
		b->d = nd;
		b->cap = cap;
	}
	memcpy(b->d + b->len, src, n);
	b->len += n;
}

static void usink_emit(struct tp *p, struct usink *k, uint32_t num, ProtobufCWireType wt,
		       const uint8_t *data, size_t len)
{
	if (k->msg) {
		size_t n = k->msg->n_unknown_fields;
		ProtobufCMessageUnknownField *uf =
			grow_append(p, (void **)&k->msg->unknown_fields, &n, sizeof *uf);
		k->msg->n_unknown_fields = (unsigned)n;
		uf->tag = num;
		uf->wire_type = wt;
		uf->len = len;
		uf->data = (uint8_t *)data;
		return;
	}
	uint8_t tag[10];
	abuf_put(p, k->buf, tag, put_varint(tag, (uint64_t)num << 3 | wt));
	abuf_put(p, k->buf, data, len);
}

/* Sets the top path frame's index (list elements, map entries). */
static void path_index(struct tp *p, size_t index)
{
	if (p->path.n && p->path.n <= EDS_PATH_MAX) {
		struct eds_path_frame *f = &p->path.f[p->path.n - 1];
		if (f->index >= 0 || f->key) {
			f->index = (int64_t)index;
			f->key = NULL;
		}
	}
}

/*
 * Consumes adjacent string literals (concatenated, as in C) and returns the
 * unescaped bytes NUL-terminated in the arena, with the literals' span.
 */
static int parse_strings(struct tp *p, char **out, size_t *outlen, size_t *ss, size_t *se)
{
	const char *s = p->lx.s;
	size_t first = p->lx.t.start, last = p->lx.t.end;
	while (p->lx.t.kind == TK_STRING) {
		last = p->lx.t.end;
		int rc = next(p);
		if (rc)
			return rc;
	}
	unsigned char *buf = eds_arena_alloc(p->arena, last - first + 1);
	size_t o = 0, i = first;
	while (i < last) {
		i = skip_blank(s, last, i);
		char q = s[i++];
		size_t e = i; /* the lexer validated the literal: find its closing quote */
		while (s[e] != q)
			e += s[e] == '\\' ? 2 : 1;
		while (i < e) {
			const char *bs = memchr(s + i, '\\', e - i);
			size_t run = bs ? (size_t)(bs - s) - i : e - i;
			memcpy(buf + o, s + i, run);
			o += run;
			i += run;
			if (i < e)
				o += unescape_one(s, e, &i, buf + o);
		}
		i = e + 1;
	}
	buf[o] = '\0';
	*out = (char *)buf;
	*outlen = o;
	*ss = first;
	*se = last;
	return 0;
}

union val {
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	float f;
	double d;
	protobuf_c_boolean b;
	int e;
	char *s;
	ProtobufCBinaryData bin;
	ProtobufCMessage *m;
};

/* An integer for field f: optional '-' then an integer token within range. */
static int parse_int(struct tp *p, const ProtobufCFieldDescriptor *f, bool is_signed, uint64_t max,
		     bool *neg, uint64_t *mag)
{
	size_t start = p->lx.t.start;
	const char *tn = type_name(f->type);
	int rc;
	*neg = false;
	if (is_sym(&p->lx.t, '-')) {
		*neg = true;
		if ((rc = next(p)))
			return rc;
	}
	const struct tok *t = &p->lx.t;
	if (t->kind != TK_INT)
		return fail(p, t->start, t->end, "expected integer for %s field \"%s\", got %s", tn,
			    f->name, GOT(p));
	const char *s = p->lx.s + t->start;
	size_t n = t->end - t->start;
	uint64_t u;
	bool bad = parse_uint_text(s, n, &u) < 0;
	if (!bad)
		bad = *neg ? (!is_signed || u > max + 1) : u > max;
	if (bad)
		return fail(p, start, t->end, "integer %s%.*s out of range for %s field \"%s\"",
			    *neg ? "-" : "", (int)(n > 60 ? 60 : n), s, tn, f->name);
	*mag = u;
	return next(p);
}

static int64_t apply_sign(bool neg, uint64_t mag)
{
	if (!neg)
		return (int64_t)mag;
	return mag == 0 ? 0 : -(int64_t)(mag - 1) - 1;
}

static int parse_double(struct tp *p, const ProtobufCFieldDescriptor *f, double *out)
{
	int rc;
	bool neg = false;
	if (is_sym(&p->lx.t, '-')) {
		neg = true;
		if ((rc = next(p)))
			return rc;
	}
	const struct tok *t = &p->lx.t;
	const char *s = p->lx.s + t->start;
	size_t n = t->end - t->start;
	double v;
	if (t->kind == TK_INT) {
		if (n > 1 && s[0] == '0')
			return fail(p, t->start, t->end,
				    "expected a decimal number for %s field \"%s\", got %s",
				    type_name(f->type), f->name, GOT(p));
		uint64_t u;
		if (parse_uint_text(s, n, &u) == 0) {
			v = (double)u;
		} else {
			char *tmp = eds_arena_strndup(p->arena, s, n);
			v = strtod(tmp, NULL);
		}
	} else if (t->kind == TK_FLOAT) {
		if (s[n - 1] == 'f' || s[n - 1] == 'F')
			n--;
		char local[64];
		char *tmp = local;
		if (n < sizeof local) {
			memcpy(local, s, n);
			local[n] = '\0';
		} else {
			tmp = eds_arena_strndup(p->arena, s, n);
		}
		v = strtod(tmp, NULL);
	} else if (t->kind == TK_IDENT && ((n == 3 && strncasecmp(s, "inf", 3) == 0) ||
					   (n == 8 && strncasecmp(s, "infinity", 8) == 0))) {
		v = INFINITY;
	} else if (t->kind == TK_IDENT && n == 3 && strncasecmp(s, "nan", 3) == 0) {
		v = NAN;
	} else {
		return fail(p, t->start, t->end, "expected a number for %s field \"%s\", got %s",
			    type_name(f->type), f->name, GOT(p));
	}
	*out = neg ? -v : v;
	return next(p);
}

/* One scalar value of field f (not a message) into v. */
static int parse_scalar(struct tp *p, const ProtobufCFieldDescriptor *f, union val *v)
{
	const struct tok *t = &p->lx.t;
	bool neg;
	uint64_t u;
	int rc;
	memset(v, 0, sizeof *v);
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		if ((rc = parse_int(p, f, true, INT32_MAX, &neg, &u)))
			return rc;
		v->i32 = (int32_t)apply_sign(neg, u);
		return 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		if ((rc = parse_int(p, f, true, INT64_MAX, &neg, &u)))
			return rc;
		v->i64 = apply_sign(neg, u);
		return 0;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		if ((rc = parse_int(p, f, false, UINT32_MAX, &neg, &u)))
			return rc;
		v->u32 = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		if ((rc = parse_int(p, f, false, UINT64_MAX, &neg, &u)))
			return rc;
		v->u64 = u;
		return 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return parse_double(p, f, &v->d);
	case PROTOBUF_C_TYPE_FLOAT: {
		double d;
		if ((rc = parse_double(p, f, &d)))
			return rc;
		v->f = (float)d;
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL: {
		const char *s = p->lx.s + t->start;
		size_t n = t->end - t->start;
		if (t->kind == TK_INT) {
			if ((rc = parse_int(p, f, false, 1, &neg, &u)))
				return rc;
			v->b = u == 1;
			return 0;
		}
		if (t->kind != TK_IDENT)
			return fail(p, t->start, t->end, "expected true or false for bool field \"%s\", got %s",
				    f->name, GOT(p));
		if ((n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "True", 4) == 0)) ||
		    (n == 1 && s[0] == 't'))
			v->b = 1;
		else if ((n == 5 && (memcmp(s, "false", 5) == 0 || memcmp(s, "False", 5) == 0)) ||
			 (n == 1 && s[0] == 'f'))
			v->b = 0;
		else
			return fail(p, t->start, t->end, "invalid value %s for bool field \"%s\"", GOT(p),
				    f->name);
		return next(p);
	}
	case PROTOBUF_C_TYPE_ENUM: {
		if (t->kind == TK_IDENT) {
			const ProtobufCEnumValue *ev =
				enum_by_name(f->descriptor, p->lx.s + t->start, t->end - t->start);
			if (!ev)
				return fail(p, t->start, t->end, "unknown value %s for enum field \"%s\" (%s)",
					    GOT(p), f->name,
					    ((const ProtobufCEnumDescriptor *)f->descriptor)->name);
			v->e = ev->value;
			return next(p);
		}
		if (t->kind != TK_INT && !is_sym(t, '-'))
			return fail(p, t->start, t->end,
				    "expected a name or integer for enum field \"%s\", got %s", f->name,
				    GOT(p));
		if ((rc = parse_int(p, f, true, INT32_MAX, &neg, &u)))
			return rc;
		v->e = (int)apply_sign(neg, u);
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES: {
		if (t->kind != TK_STRING)
			return fail(p, t->start, t->end, "expected a string for %s field \"%s\", got %s",
				    type_name(f->type), f->name, GOT(p));
		char *s;
		size_t n, ss, se;
		if ((rc = parse_strings(p, &s, &n, &ss, &se)))
			return rc;
		/* Any's value is a message, checked when it is decoded */
		if (n > p->max_string && f != &google__protobuf__any__descriptor.fields[1])
			return fail_code(p, EDS_E_LIMIT, ss, se,
					 "%s is %zu bytes, more than the limit of %zu (--max-string)",
					 f->type == PROTOBUF_C_TYPE_STRING ? "string" : "bytes value", n, p->max_string);
		if (f->type == PROTOBUF_C_TYPE_BYTES) {
			v->bin.data = (uint8_t *)s;
			v->bin.len = n;
			return 0;
		}
		if (eds_utf8_valid_prefix(s, n) != n)
			return fail(p, ss, se, "invalid UTF-8 in string field \"%s\" (use a bytes field "
				    "for binary data)", f->name);
		if (memchr(s, 0, n))
			return fail(p, ss, se, "string field \"%s\" contains a NUL character (not supported)",
				    f->name);
		v->s = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	}
	return fail(p, t->start, t->end, "internal error: field \"%s\" is not a scalar", f->name);
}

static int parse_body(struct tp *p, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
		      char close, size_t open_at, unsigned depth, bool entry);

static int check_depth(struct tp *p, const ProtobufCMessageDescriptor *desc, unsigned depth)
{
	if (depth <= p->max_depth)
		return 0;
	const struct tok *t = &p->lx.t;
	return fail_code(p, EDS_E_LIMIT, t->start, t->end,
			 "messages nested deeper than %u levels (--max-depth) in %s", p->max_depth - 1,
			 desc->name);
}

/* '{' or '<' opening a message value; returns the closing character or 0. */
static char opener(const struct tok *t)
{
	if (is_sym(t, '{'))
		return '}';
	if (is_sym(t, '<'))
		return '>';
	return 0;
}

/* A message value of field f ("{ ... }" or "< ... >") appended/set in msg. */
static int parse_submsg(struct tp *p, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
			const ProtobufCFieldDescriptor *f, unsigned depth)
{
	const struct tok t = p->lx.t;
	char close = opener(&t);
	if (!close)
		return fail(p, t.start, t.end, "expected '{' or '<' for message field \"%s\", got %s",
			    f->name, GOT(p));
	const ProtobufCMessageDescriptor *sd = f->descriptor;
	int rc = check_depth(p, sd, depth + 1);
	if (rc)
		return rc;
	ProtobufCMessage *sub = new_msg(p, sd);
	*(ProtobufCMessage **)field_slot(p, msg, f) = sub;
	if ((rc = next(p)))
		return rc;
	return parse_body(p, sd, sub, close, t.start, depth + 1, is_map_field(desc, f));
}

static int parse_unknown(struct tp *p, struct usink *k, uint32_t num, unsigned depth);

/* "{ 1: 2 3 { ... } }" for an unknown field: the bytes of a nested message. */
static int unknown_msg(struct tp *p, struct usink *k, uint32_t num, unsigned depth)
{
	const struct tok open = p->lx.t;
	char close = opener(&open);
	char name[16];
	int rc;
	if (depth + 1 > p->max_depth)
		return fail_code(p, EDS_E_LIMIT, open.start, open.end,
				 "messages nested deeper than %u levels (--max-depth) in field %u",
				 p->max_depth - 1, num);
	if ((rc = next(p)))
		return rc;
	struct abuf b = { 0 };
	struct usink sub = { NULL, &b };
	for (;;) {
		const struct tok *t = &p->lx.t;
		if (is_sym(t, close))
			break;
		if (t->kind != TK_INT) {
			if (t->kind == TK_END || is_sym(t, '}') || is_sym(t, '>')) {
				unsigned line, col;
				eds_src_linecol(p->src, open.start, &line, &col);
				return fail(p, t->start, t->end, "expected '%c' to match '%c' at %u:%u, got %s",
					    close, open.sym, line, col, GOT(p));
			}
			return fail(p, t->start, t->end,
				    "expected a field number inside unknown field %u, got %s", num, GOT(p));
		}
		uint64_t sn;
		if (parse_uint_text(p->lx.s + t->start, t->end - t->start, &sn) < 0 || sn < 1 ||
		    sn > MAX_FIELD_NUMBER)
			return fail(p, t->start, t->end, "invalid field number %s", GOT(p));
		snprintf(name, sizeof name, "%u", (unsigned)sn);
		eds_path_push(&p->path, eds_arena_strdup(p->arena, name), -1);
		if ((rc = next(p)) || (rc = parse_unknown(p, &sub, (uint32_t)sn, depth + 1)))
			return rc;
		eds_path_pop(&p->path);
		if ((is_sym(t, ';') || is_sym(t, ',')) && (rc = next(p)))
			return rc;
	}
	if ((rc = next(p)))
		return rc;
	uint8_t *data = eds_arena_alloc(p->arena, b.len + 10);
	if (k->group || !b.len) { /* its fields, then its end tag (as codec_bin.c keeps a group) */
		if (b.len)
			memcpy(data, b.d, b.len);
		size_t tl = put_varint(data + b.len, (uint64_t)num << 3 | WT_END_GROUP);
		usink_emit(p, k, num, (ProtobufCWireType)WT_START_GROUP, data, b.len + tl);
		return 0;
	}
	size_t hl = put_varint(data, b.len);
	if (b.len)
		memcpy(data + hl, b.d, b.len);
	usink_emit(p, k, num, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, data, hl + b.len);
	return 0;
}

/* One value of an unknown field: integer, string(s) or message. */
static int unknown_elem(struct tp *p, struct usink *k, uint32_t num, unsigned depth)
{
	const struct tok *t = &p->lx.t;
	int rc;
	if (opener(t))
		return unknown_msg(p, k, num, depth);
	if (t->kind == TK_STRING) {
		char *s;
		size_t n, ss, se;
		if ((rc = parse_strings(p, &s, &n, &ss, &se)))
			return rc;
		uint8_t *data = eds_arena_alloc(p->arena, n + 10);
		size_t hl = put_varint(data, n);
		memcpy(data + hl, s, n);
		usink_emit(p, k, num, PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED, data, hl + n);
		return 0;
	}
	size_t start = t->start;
	bool neg = false;
	if (is_sym(t, '-')) {
		neg = true;
		if ((rc = next(p)))
			return rc;
	}
	if (t->kind != TK_INT)
		return fail(p, t->start, t->end,
			    "expected an integer, string or message for unknown field %u, got %s", num,
			    GOT(p));
	const char *s = p->lx.s + t->start;
	size_t n = t->end - t->start;
	uint64_t u;
	if (parse_uint_text(s, n, &u) < 0 || (neg && u > (uint64_t)INT64_MAX + 1))
		return fail(p, start, t->end, "integer %s%.*s out of range for unknown field %u",
			    neg ? "-" : "", (int)(n > 60 ? 60 : n), s, num);
	/* protoc prints fixed32/fixed64 as 0x and exactly 8/16 hex digits */
	uint8_t *data = eds_arena_alloc(p->arena, 10);
	if (!neg && (n == 10 || n == 18) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		size_t w = n == 10 ? 4 : 8;
		for (size_t i = 0; i < w; i++)
			data[i] = (uint8_t)(u >> (8 * i));
		usink_emit(p, k, num, w == 4 ? PROTOBUF_C_WIRE_TYPE_32BIT : PROTOBUF_C_WIRE_TYPE_64BIT,
			   data, w);
	} else {
		uint64_t v = neg ? 0 - u : u;
		usink_emit(p, k, num, PROTOBUF_C_WIRE_TYPE_VARINT, data, put_varint(data, v));
	}
	return next(p);
}

/* After an unknown field's number: [':'] value, or ':' '[' values ']'. */
static int parse_unknown(struct tp *p, struct usink *k, uint32_t num, unsigned depth)
{
	const struct tok *t = &p->lx.t;
	bool colon = false;
	int rc;
	if (is_sym(t, ':')) {
		colon = true;
		if ((rc = next(p)))
			return rc;
	}
	if (opener(t))
		return unknown_msg(p, k, num, depth);
	if (!colon)
		return fail(p, t->start, t->end, "expected ':' after field number %u", num);
	if (!is_sym(t, '['))
		return unknown_elem(p, k, num, depth);
	if ((rc = next(p)))
		return rc;
	if (is_sym(t, ']'))
		return next(p);
	for (;;) {
		if ((rc = unknown_elem(p, k, num, depth)))
			return rc;
		if (is_sym(t, ']'))
			return next(p);
		if (!is_sym(t, ','))
			return fail(p, t->start, t->end, "expected ',' or ']' in list of field %u, got %s",
				    num, GOT(p));
		if ((rc = next(p)))
			return rc;
	}
}

static bool seen_test_set(uint64_t *seen, size_t i)
{
	bool was = (seen[i / 64] >> (i % 64)) & 1;
	seen[i / 64] |= (uint64_t)1 << (i % 64);
	return was;
}

/* "[type.googleapis.com/full.Name] { ... }" inside an Any. */
static int parse_any_expanded(struct tp *p, const ProtobufCMessageDescriptor *desc,
			      ProtobufCMessage *msg, uint64_t *seen, unsigned depth)
{
	const struct tok *t = &p->lx.t;
	const char *s = p->lx.s;
	size_t lb = t->start;
	int rc;
	if ((rc = next(p)))
		return rc;
	size_t us = t->start, ue = us;
	while (t->kind == TK_IDENT || t->kind == TK_INT || is_sym(t, '.') || is_sym(t, '/')) {
		ue = t->end;
		if ((rc = next(p)))
			return rc;
	}
	if (ue == us)
		return fail(p, t->start, t->end, "expected a type URL after '[', got %s", GOT(p));
	if (!is_sym(t, ']'))
		return fail(p, t->start, t->end, "expected ']' after type URL, got %s", GOT(p));
	size_t rb_end = t->end;
	/* the URL is its tokens' text without the blanks or comments between them */
	char *url = eds_arena_alloc(p->arena, ue - us + 1);
	size_t ul = 0;
	for (size_t i = skip_blank(s, ue, us); i < ue; i = skip_blank(s, ue, i)) {
		while (i < ue && !is_blank((unsigned char)s[i]) && s[i] != '#')
			url[ul++] = s[i++];
	}
	url[ul] = '\0';
	const ProtobufCMessageDescriptor *vd = NULL;
	for (size_t i = 0; i < sizeof any_prefixes / sizeof any_prefixes[0]; i++) {
		size_t pl = strlen(any_prefixes[i]);
		if (ul > pl && memcmp(url, any_prefixes[i], pl) == 0 && !memchr(url + pl, '/', ul - pl))
			vd = eds_schema_find_url(url, ul);
	}
	if (!vd)
		return fail(p, us, ue, "could not find type \"%.200s\"", url);
	const ProtobufCFieldDescriptor *ft = protobuf_c_message_descriptor_get_field(desc, 1);
	const ProtobufCFieldDescriptor *fv = protobuf_c_message_descriptor_get_field(desc, 2);
	if (!ft || !fv)
		return fail(p, lb, rb_end, "internal error: %s has no type_url or value", desc->name);
	size_t it = (size_t)(ft - desc->fields), iv = (size_t)(fv - desc->fields);
	bool dup = seen_test_set(seen, it);
	if (seen_test_set(seen, iv) || dup)
		return fail(p, lb, rb_end, "non-repeated Any specified multiple times");
	if ((rc = next(p)))
		return rc;
	if (is_sym(t, ':') && (rc = next(p)))
		return rc;
	const struct tok open = *t;
	char close = opener(&open);
	if (!close)
		return fail(p, t->start, t->end, "expected '{' or '<' after \"[%.200s]\", got %s", url,
			    GOT(p));
	if ((rc = check_depth(p, vd, depth + 1)))
		return rc;
	ProtobufCMessage *sub = new_msg(p, vd);
	if ((rc = next(p)) || (rc = parse_body(p, vd, sub, close, open.start, depth + 1, false)))
		return rc;
	size_t n;
	uint8_t *buf = eds_bin_pack(sub, p->arena, &n);
	*(char **)field_slot(p, msg, ft) = url;
	ProtobufCBinaryData *bin = field_slot(p, msg, fv);
	bin->data = n ? buf : NULL;
	bin->len = n;
	return 0;
}

/*
 * Whether the value after field number f (the current token) has f's wire
 * type, the one unknown_elem would give it: protoc prints a field sent with
 * another wire type, which every protobuf parser keeps as an unknown field,
 * by number (a string's "1: 5", an enum's "2: \"x\""), and so it reads back
 * as one.  A block given by number ("3 { 1: 1 }") is always an unknown
 * field: protoc prints groups so, and known messages only by name.
 * Otherwise it is the field, as a binary parser would have it.
 */
static bool number_fits(const struct tp *p, const ProtobufCFieldDescriptor *f)
{
	struct lex lx = p->lx;
	lex_next(&lx);
	if (is_sym(&lx.t, ':'))
		lex_next(&lx);
	if (is_sym(&lx.t, '['))
		lex_next(&lx);
	unsigned wt = PROTOBUF_C_WIRE_TYPE_VARINT;
	if (opener(&lx.t)) /* unknown: what protoc prints so is a group, or a message it is not */
		return false;
	if (lx.t.kind == TK_STRING) {
		wt = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	} else if (lx.t.kind == TK_INT) {
		const char *v = lx.s + lx.t.start;
		size_t n = lx.t.end - lx.t.start;
		if ((n == 10 || n == 18) && v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
			wt = n == 10 ? PROTOBUF_C_WIRE_TYPE_32BIT : PROTOBUF_C_WIRE_TYPE_64BIT;
	} else if (!is_sym(&lx.t, '-')) {
		return true; /* what an unknown field cannot hold: the field's to report */
	}
	/* (packed: a repeated scalar's values in one length-delimited field) */
	return wt == eds_wire_type(f->type) ||
	       (wt == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED && f->label == PROTOBUF_C_LABEL_REPEATED);
}

/* Why a name is unknown, with a hint when it is a JSON (lowerCamelCase) name. */
static int unknown_field(struct tp *p, const ProtobufCMessageDescriptor *desc, const struct tok *t)
{
	const char *s = p->lx.s + t->start;
	size_t n = t->end - t->start;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const char *fn = desc->fields[i].name;
		size_t j = 0;
		bool up = false, same = true;
		for (const char *q = fn; *q && same; q++) {
			if (*q == '_') {
				up = true;
				continue;
			}
			char c = (up && *q >= 'a' && *q <= 'z') ? (char)(*q - 'a' + 'A') : *q;
			up = false;
			same = j < n && s[j++] == c;
		}
		if (same && j == n && strchr(fn, '_'))
			return fail(p, t->start, t->end,
				    "unknown field \"%.*s\" in %s (text format uses the proto name \"%s\")",
				    (int)n, s, desc->name, fn);
	}
	return fail(p, t->start, t->end, "unknown field \"%.*s\" in %s", (int)(n > 80 ? 80 : n), s,
		    desc->name);
}

/* The path frame for a value of f inside desc (JSON-like for Struct/ListValue). */
static void push_field(struct tp *p, enum eds_wkt wk, const ProtobufCFieldDescriptor *f,
		       ProtobufCMessage *msg, bool entry)
{
	const char *name = f->name;
	int64_t index = -1;
	if (entry)
		name = NULL; /* "key"/"value" of a map entry: the entry frame says it */
	else if (wk == EDS_WKT_VALUE && f->type == PROTOBUF_C_TYPE_MESSAGE)
		name = NULL; /* struct_value / list_value */
	else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		index = (int64_t)rep_count(msg, f);
		if (wk == EDS_WKT_STRUCT || wk == EDS_WKT_LIST_VALUE)
			name = NULL;
	}
	eds_path_push(&p->path, name, index);
}

/* One field of desc: name, separator, value(s). */
static int parse_field(struct tp *p, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
		       uint64_t *seen, enum eds_wkt wk, unsigned depth, bool entry, unsigned keyframe,
		       unsigned *hint)
{
	const struct tok nt = p->lx.t;
	const struct tok *t = &p->lx.t;
	const ProtobufCFieldDescriptor *f = NULL;
	int rc;
	if (is_sym(&nt, '[')) {
		if (wk == EDS_WKT_ANY)
			return parse_any_expanded(p, desc, msg, seen, depth);
		return fail(p, nt.start, nt.end, "extensions are not supported (in %s)", desc->name);
	}
	if (nt.kind == TK_IDENT) {
		/* text usually lists fields in number order, as protoc prints them:
		 * try the ones after the previous field before searching */
		const char *name = p->lx.s + nt.start;
		size_t nlen = nt.end - nt.start;
		for (unsigned i = *hint; i < desc->n_fields && i < *hint + 3; i++) {
			if (desc->fields[i].name[0] == name[0] && !name_cmp(desc->fields[i].name, name, nlen)) {
				f = &desc->fields[i];
				break;
			}
		}
		if (!f)
			f = field_by_name(desc, name, nlen);
		if (!f)
			return unknown_field(p, desc, &nt);
		*hint = (unsigned)(f - desc->fields);
	} else if (nt.kind == TK_INT) {
		uint64_t num;
		if (parse_uint_text(p->lx.s + nt.start, nt.end - nt.start, &num) < 0 || num < 1 ||
		    num > MAX_FIELD_NUMBER)
			return fail(p, nt.start, nt.end, "invalid field number %s", GOT(p));
		f = protobuf_c_message_descriptor_get_field(desc, (unsigned)num);
		if (!f || !number_fits(p, f)) {
			char name[16];
			snprintf(name, sizeof name, "%u", (unsigned)num);
			eds_path_push(&p->path, eds_arena_strdup(p->arena, name), -1);
			/* Under a length-delimited field's number only a group
			 * prints as a block (binary would make anything else that
			 * field): it reads back as one. */
			struct usink k = { msg, NULL,
					   f && (eds_wire_type(f->type) == PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED ||
						 f->label == PROTOBUF_C_LABEL_REPEATED) };
			if ((rc = next(p)) || (rc = parse_unknown(p, &k, (uint32_t)num, depth)))
				return rc;
			eds_path_pop(&p->path);
			return 0;
		}
	} else {
		return fail(p, nt.start, nt.end, "expected field name, got %s", GOT(p));
	}
	size_t idx = (size_t)(f - desc->fields);
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		if (seen_test_set(seen, idx))
			return fail(p, nt.start, nt.end,
				    "non-repeated field \"%s\" is specified multiple times", f->name);
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t c = *(const uint32_t *)((const char *)msg + f->quantifier_offset);
			if (c && c != f->id) {
				const ProtobufCFieldDescriptor *o =
					protobuf_c_message_descriptor_get_field(desc, c);
				return fail(p, nt.start, nt.end,
					    "field \"%s\" is specified along with field \"%s\", another "
					    "member of the same oneof",
					    f->name, o ? o->name : "?");
			}
		}
	}
	push_field(p, wk, f, msg, entry);
	if ((rc = next(p)))
		return rc;
	bool is_msg = f->type == PROTOBUF_C_TYPE_MESSAGE;
	if (is_msg) {
		if (is_sym(t, ':') && (rc = next(p)))
			return rc;
	} else {
		if (!is_sym(t, ':'))
			return fail(p, t->start, t->end, "expected ':' after field name \"%s\"", f->name);
		if ((rc = next(p)))
			return rc;
	}
	union val v;
	if (f->label == PROTOBUF_C_LABEL_REPEATED && is_sym(t, '[')) {
		if ((rc = next(p)))
			return rc;
		if (!is_sym(t, ']')) {
			for (;;) {
				path_index(p, rep_count(msg, f));
				if (is_msg) {
					rc = parse_submsg(p, desc, msg, f, depth);
				} else if (!(rc = parse_scalar(p, f, &v))) {
					memcpy(field_slot(p, msg, f), &v, elt_size(f->type));
				}
				if (rc)
					return rc;
				if (is_sym(t, ']'))
					break;
				if (!is_sym(t, ','))
					return fail(p, t->start, t->end,
						    "expected ',' or ']' in list of field \"%s\", got %s",
						    f->name, GOT(p));
				if ((rc = next(p)))
					return rc;
			}
		}
		if ((rc = next(p)))
			return rc;
	} else if (is_msg) {
		if ((rc = parse_submsg(p, desc, msg, f, depth)))
			return rc;
	} else {
		if ((rc = parse_scalar(p, f, &v)))
			return rc;
		memcpy(field_slot(p, msg, f), &v, elt_size(f->type));
		/* name the map entry by its key once the key is known */
		if (entry && f->id == 1 && f->type == PROTOBUF_C_TYPE_STRING && keyframe < EDS_PATH_MAX) {
			p->path.f[keyframe].key = v.s;
			p->path.f[keyframe].key_len = strlen(v.s);
			p->path.f[keyframe].index = -1;
		}
	}
	eds_path_pop(&p->path);
	return 0;
}

/*
 * Parsing ahead.  A text CLA of eds_text_ahead_min bytes or more is parsed
 * on two threads: the other one starts at the first line at or past the
 * middle that begins with "lb_endpoints" (a line's first token is never
 * inside a string or a comment) and parses, as the fields of a
 * LocalityLbEndpoints, run A: the lb_endpoints fields from there to the
 * first other token; then the rest of that locality (thrown away) and run
 * B: the "endpoints" fields (whole localities) after it, as the fields of
 * the CLA.  The main
 * parser takes run A when, inside a LocalityLbEndpoints at depth 2, its
 * next field starts where run A does, and run B likewise at the top level:
 * it appends the run's messages and goes on after the run, exactly where
 * parsing the same fields itself would have left it.  A run the other
 * thread could not parse is not taken: the main parser parses that text
 * itself and reports its first error in order.
 */
size_t eds_text_ahead_min = (size_t)1 << 20;

struct run {
	size_t start, stop; /* the run's first token, and the token after it */
	ProtobufCMessage *msg; /* holds the run's messages in its field */
	const ProtobufCFieldDescriptor *f;
	unsigned depth;
	bool ok;
};

struct ahead {
	struct tp p; /* the other thread's parser: its own arena and diag */
	struct eds_diag d;
	struct run a, b;
	pthread_t thread;
	bool joined;
};

/* The fields of r->f from the current token on; ok when at least one parsed. */
static void ahead_run_fields(struct tp *p, struct run *r)
{
	const ProtobufCMessageDescriptor *desc = r->msg->descriptor;
	const struct tok *t = &p->lx.t;
	uint64_t seen[2] = { 0, 0 };
	unsigned hint = (unsigned)(r->f - desc->fields);
	while (t->kind == TK_IDENT && !name_cmp(r->f->name, p->lx.s + t->start, t->end - t->start)) {
		if (parse_field(p, desc, r->msg, seen, EDS_WKT_NONE, r->depth, false, EDS_PATH_MAX, &hint) ||
		    ((is_sym(t, ';') || is_sym(t, ',')) && next(p)))
			return;
	}
	r->stop = t->start;
	r->ok = rep_count(r->msg, r->f) > 0;
}

static void *ahead_main(void *arg)
{
	struct ahead *a = arg;
	struct tp *p = &a->p;
	const ProtobufCMessageDescriptor *ld = a->a.msg->descriptor;
	if (next(p))
		return NULL;
	ahead_run_fields(p, &a->a);
	if (!a->a.ok)
		return NULL;
	/* the rest of that locality, then the localities after it */
	ProtobufCMessage *rest = new_msg(p, ld);
	if (parse_body(p, ld, rest, '}', p->lx.t.start, 2, false) ||
	    ((is_sym(&p->lx.t, ';') || is_sym(&p->lx.t, ',')) && next(p)))
		return NULL;
	a->b.start = p->lx.t.start;
	ahead_run_fields(p, &a->b);
	return NULL;
}

/* The first line at or past from that begins with "lb_endpoints": where
 * that word is, or 0. */
static size_t ahead_find(const char *s, size_t n, size_t from)
{
	static const char key[] = "lb_endpoints";
	const size_t k = sizeof key - 1;
	const char *nl;
	while (from < n && (nl = memchr(s + from, '\n', n - from))) {
		size_t i = (size_t)(nl - s) + 1;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (n - i > k && memcmp(s + i, key, k) == 0 && !is_ident((unsigned char)s[i + k]))
			return i;
		from = i;
	}
	return 0;
}

static void ahead_start(struct tp *p, const ProtobufCMessageDescriptor *desc)
{
	const ProtobufCMessageDescriptor *ld = &envoy__config__endpoint__v3__locality_lb_endpoints__descriptor;
	if (desc != &envoy__config__endpoint__v3__cluster_load_assignment__descriptor ||
	    p->lx.len < eds_text_ahead_min)
		return;
	size_t at = ahead_find(p->lx.s, p->lx.len, p->lx.len / 2);
	struct ahead *a = at ? calloc(1, sizeof *a) : NULL;
	if (!a)
		return;
	a->p = (struct tp){ .lx = { .s = p->lx.s, .len = p->lx.len, .pos = at },
			    .src = p->src,
			    .arena = eds_arena_new((size_t)4 << 20),
			    .d = &a->d,
			    .max_depth = p->max_depth,
			    .max_string = p->max_string,
			    .ahead_at = SIZE_MAX };
	a->a = (struct run){ .msg = new_msg(&a->p, ld), .f = protobuf_c_message_descriptor_get_field(ld, 2),
			     .depth = 2 };
	a->b = (struct run){ .msg = new_msg(&a->p, desc), .f = protobuf_c_message_descriptor_get_field(desc, 2),
			     .depth = 1 };
	a->a.start = at; /* (the first token is there: the scan found it) */
	if (pthread_create(&a->thread, NULL, ahead_main, a) != 0) {
		eds_arena_free(a->p.arena);
		free(a);
		return;
	}
	p->ahead = a;
	p->ahead_at = at;
}

static void ahead_join(struct ahead *a)
{
	if (!a->joined)
		pthread_join(a->thread, NULL);
	a->joined = true;
}

/* Joins the other thread and gives its memory to the main arena. */
static void ahead_end(struct tp *p)
{
	struct ahead *a = p->ahead;
	if (!a)
		return;
	ahead_join(a);
	eds_arena_adopt(p->arena, a->p.arena);
	free(a);
	p->ahead = NULL;
}

/*
 * The next field of msg (desc, at depth) starts where the other thread's
 * next run does: whether it is that run; if so, its messages are appended
 * to msg and the parser has moved to the token after the run.
 */
static bool ahead_take(struct tp *p, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
		       unsigned depth)
{
	struct ahead *a = p->ahead;
	struct run *r = p->ahead_at == a->a.start ? &a->a : &a->b;
	if (depth != r->depth || desc != r->msg->descriptor)
		return false;
	ahead_join(a);
	/* run B's start is known once joined, which taking run A does */
	p->ahead_at = r == &a->a && a->a.ok && a->b.ok ? a->b.start : SIZE_MAX;
	if (!r->ok)
		return false;
	size_t n = rep_count(msg, r->f), m = rep_count(r->msg, r->f), cap = 4;
	while (cap < n + m)
		cap *= 2; /* as grow_append would have it */
	ProtobufCMessage **v = eds_arena_alloc(p->arena, cap * sizeof *v);
	ProtobufCMessage ***at = (ProtobufCMessage ***)((char *)msg + r->f->offset);
	if (n)
		memcpy(v, *at, n * sizeof *v);
	memcpy(v + n, *(ProtobufCMessage ***)((char *)r->msg + r->f->offset), m * sizeof *v);
	*at = v;
	*(size_t *)((char *)msg + r->f->quantifier_offset) = n + m;
	p->lx.pos = r->stop;
	next(p);
	return true;
}

/*
 * The fields of one message up to close ('}' or '>', 0 for the end of
 * input).  entry: msg is a map entry, whose frame is the top of the path.
 */
static int parse_body(struct tp *p, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *msg,
		      char close, size_t open_at, unsigned depth, bool entry)
{
	uint64_t seen_local[2] = { 0, 0 };
	uint64_t *seen = seen_local;
	if (desc->n_fields > 128)
		seen = eds_arena_zalloc(p->arena, (desc->n_fields + 63) / 64 * sizeof *seen);
	enum eds_wkt wk = wkt_of(desc);
	unsigned keyframe = entry ? p->path.n - 1 : EDS_PATH_MAX, hint = 0;
	const struct tok *t = &p->lx.t;
	int rc;
	for (;;) {
		if (t->kind == TK_END || is_sym(t, '}') || is_sym(t, '>')) {
			if (close && is_sym(t, close))
				break;
			if (!close && t->kind == TK_END)
				break;
			if (!close)
				return fail(p, t->start, t->end, "unexpected '%c' with no matching opening "
					    "bracket", t->sym);
			unsigned line, col;
			eds_src_linecol(p->src, open_at, &line, &col);
			return fail(p, t->start, t->end, "expected '%c' to match '%c' at %u:%u, got %s",
				    close, close == '}' ? '{' : '<', line, col, GOT(p));
		}
		if (t->start == p->ahead_at && ahead_take(p, desc, msg, depth))
			continue; /* (ahead_take moved past the fields the other thread parsed) */
		if ((rc = parse_field(p, desc, msg, seen, wk, depth, entry, keyframe, &hint)))
			return rc;
		if ((is_sym(t, ';') || is_sym(t, ',')) && (rc = next(p)))
			return rc;
	}
	if (close && (rc = next(p)))
		return rc;
	if (entry) {
		/* a missing map value is the default value, which for a message is
		 * an empty one (protoc writes it out too) */
		const ProtobufCFieldDescriptor *vf = &desc->fields[1];
		ProtobufCMessage **vm = (ProtobufCMessage **)((char *)msg + vf->offset);
		if (vf->type == PROTOBUF_C_TYPE_MESSAGE && !*vm)
			*vm = new_msg(p, vf->descriptor);
	}
	return 0;
}

int eds_text_decode(const ProtobufCMessageDescriptor *desc, const struct eds_src *src,
		    struct eds_arena *arena, const struct eds_limits *lim, ProtobufCMessage **out,
		    struct eds_diag *d)
{
	if (!lim)
		lim = &eds_limits_default;
	if (lim->max_input && src->len > lim->max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)",
			      src->len, lim->max_input);
		return eds_diag_offset(d, src, lim->max_input);
	}
	struct tp tp = { 0 }, *p = &tp;
	p->lx.s = src->text;
	p->lx.len = src->len;
	p->src = src;
	p->arena = arena;
	p->d = d;
	p->max_depth = eds_depth_levels(lim->max_depth ? lim->max_depth : eds_limits_default.max_depth);
	p->max_string = lim->max_string;
	p->ahead_at = SIZE_MAX;
	if (p->max_depth > MAX_NESTING)
		p->max_depth = MAX_NESTING;
	ProtobufCMessage *msg = new_msg(p, desc);
	ahead_start(p, desc);
	int rc = next(p);
	if (!rc)
		rc = parse_body(p, desc, msg, 0, 0, 1, false);
	ahead_end(p);
	if (rc)
		return rc;
	*out = msg;
	return EDS_OK;
}

/* --------------------------------------------------------------- printer */

struct pr {
	struct eds_buf *out;
	struct eds_arena *any_arena; /* Any values being printed; reset when done */
	struct eds_arena *map_arena; /* sort order of large maps */
	unsigned any_depth;
	unsigned depth;
	unsigned max_depth;
	bool bad_utf8; /* a string inside an expanded Any is not UTF-8 */
};

static void put_indent(struct pr *p, unsigned ind)
{
	static const char spaces[] = "                                                                ";
	size_t n = 2 * (size_t)ind;
	while (n) {
		size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
		eds_buf_append(p->out, spaces, k);
		n -= k;
	}
}

static void put_u64(struct eds_buf *b, uint64_t v)
{
	char tmp[24], *e = tmp + sizeof tmp, *q = e;
	do {
		*--q = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	eds_buf_append(b, q, (size_t)(e - q));
}

static void put_i64(struct eds_buf *b, int64_t v)
{
	if (v < 0) {
		eds_buf_putc(b, '-');
		put_u64(b, 0 - (uint64_t)v);
	} else {
		put_u64(b, (uint64_t)v);
	}
}

static void put_hex(struct eds_buf *b, uint64_t v, int digits)
{
	char tmp[20];
	tmp[0] = '0';
	tmp[1] = 'x';
	for (int i = 0; i < digits; i++)
		tmp[2 + i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 15];
	eds_buf_append(b, tmp, (size_t)digits + 2);
}

/* C++ SimpleDtoa: %.15g unless that does not read back, then %.17g. */
static void put_double(struct eds_buf *b, double v)
{
	char tmp[40];
	if (isnan(v)) {
		eds_buf_puts(b, "nan");
		return;
	}
	if (isinf(v)) {
		eds_buf_puts(b, v > 0 ? "inf" : "-inf");
		return;
	}
	snprintf(tmp, sizeof tmp, "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof tmp, "%.17g", v);
	eds_buf_puts(b, tmp);
}

/* C++ SimpleFtoa: %.6g unless that does not read back, then %.9g. */
static void put_float(struct eds_buf *b, float v)
{
	char tmp[40];
	if (isnan(v)) {
		eds_buf_puts(b, "nan");
		return;
	}
	if (isinf(v)) {
		eds_buf_puts(b, v > 0 ? "inf" : "-inf");
		return;
	}
	snprintf(tmp, sizeof tmp, "%.6g", (double)v);
	if (strtof(tmp, NULL) != v)
		snprintf(tmp, sizeof tmp, "%.9g", (double)v);
	eds_buf_puts(b, tmp);
}

/* bytes each input byte takes in put_quoted */
static const unsigned char esc_width[256] = {
	4, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 4, 4, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	1, 1, 2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

/* C++ CEscape between double quotes: octal for bytes outside ' '..'~'. */
static void put_quoted(struct eds_buf *b, const uint8_t *s, size_t n)
{
	eds_buf_putc(b, '"');
	while (n) {
		size_t chunk = n < 1024 ? n : 1024, need = 0;
		for (size_t i = 0; i < chunk; i++)
			need += esc_width[s[i]];
		if (eds_buf_reserve(b, need) < 0)
			return;
		char *o = b->data + b->len;
		for (size_t i = 0; i < chunk; i++) {
			uint8_t c = s[i];
			switch (c) {
			case '\n': *o++ = '\\'; *o++ = 'n'; break;
			case '\r': *o++ = '\\'; *o++ = 'r'; break;
			case '\t': *o++ = '\\'; *o++ = 't'; break;
			case '"': *o++ = '\\'; *o++ = '"'; break;
			case '\'': *o++ = '\\'; *o++ = '\''; break;
			case '\\': *o++ = '\\'; *o++ = '\\'; break;
			default:
				if (c < 0x20 || c >= 0x7F) {
					*o++ = '\\';
					*o++ = (char)('0' + (c >> 6));
					*o++ = (char)('0' + ((c >> 3) & 7));
					*o++ = (char)('0' + (c & 7));
				} else {
					*o++ = (char)c;
				}
			}
		}
		b->len = (size_t)(o - b->data);
		s += chunk;
		n -= chunk;
	}
	eds_buf_putc(b, '"');
}

static const char *const empty_string = "";

static void print_msg(struct pr *p, const ProtobufCMessage *m, unsigned ind);

/* ------------------------------------------ unknown fields, as protoc does */

/*
 * Whether d[*pos..len) parses as fields the way C++ UnknownFieldSet does
 * (group: inside a group with that number, which must end it; groups nest at
 * most `groups` deep).  *end_tag is where the closing end-group tag starts.
 */
static bool wire_ok(const uint8_t *d, size_t len, size_t *pos, uint32_t group, int groups,
		    size_t *end_tag)
{
	while (*pos < len) {
		size_t at = *pos;
		uint64_t tag, v;
		size_t k = get_varint(d, len, at, &tag);
		if (!k || (uint32_t)tag == 0)
			return false;
		*pos += k;
		uint32_t num = (uint32_t)tag >> 3;
		unsigned wt = (uint32_t)tag & 7;
		if (wt == WT_END_GROUP) {
			if (!group || num != group)
				return false;
			if (end_tag)
				*end_tag = at;
			return true;
		}
		if (num == 0)
			return false;
		switch (wt) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (!(k = get_varint(d, len, *pos, &v)))
				return false;
			*pos += k;
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
			if (len - *pos < 8)
				return false;
			*pos += 8;
			break;
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			if (len - *pos < 4)
				return false;
			*pos += 4;
			break;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
			if (!(k = get_varint(d, len, *pos, &v)))
				return false;
			*pos += k;
			if ((uint32_t)v > len - *pos || (uint32_t)v > INT32_MAX)
				return false;
			*pos += (uint32_t)v;
			break;
		case WT_START_GROUP:
			if (groups < 1 || !wire_ok(d, len, pos, num, groups - 1, NULL))
				return false;
			break;
		default:
			return false;
		}
	}
	return group == 0;
}

static void print_wire(struct pr *p, const uint8_t *d, size_t len, unsigned ind, int budget);

static void print_num_label(struct pr *p, uint32_t num, unsigned ind)
{
	put_indent(p, ind);
	put_u64(p->out, num);
}

/* A length-delimited unknown field: nested fields if they parse, else bytes. */
static void print_ld(struct pr *p, uint32_t num, const uint8_t *d, size_t n, unsigned ind, int budget)
{
	size_t pos = 0;
	print_num_label(p, num, ind);
	if (n > 0 && budget > 0 && wire_ok(d, n, &pos, 0, budget, NULL)) {
		eds_buf_append(p->out, " {\n", 3);
		print_wire(p, d, n, ind + 1, budget - 1);
		put_indent(p, ind);
		eds_buf_append(p->out, "}\n", 2);
	} else {
		eds_buf_append(p->out, ": ", 2);
		put_quoted(p->out, d, n);
		eds_buf_putc(p->out, '\n');
	}
}

/* Group num's fields and end tag, at d (checked by wire_ok): "num { ... }".
 * Returns the bytes it took. */
static size_t print_group(struct pr *p, uint32_t num, const uint8_t *d, size_t len, unsigned ind,
			  int budget)
{
	size_t pos = 0, end_tag = 0;
	wire_ok(d, len, &pos, num, INT32_MAX, &end_tag);
	print_num_label(p, num, ind);
	eds_buf_append(p->out, " {\n", 3);
	print_wire(p, d, end_tag, ind + 1, budget);
	put_indent(p, ind);
	eds_buf_append(p->out, "}\n", 2);
	return pos;
}

/* Fields already checked by wire_ok. */
static void print_wire(struct pr *p, const uint8_t *d, size_t len, unsigned ind, int budget)
{
	size_t pos = 0;
	while (pos < len) {
		uint64_t tag = 0, v = 0;
		pos += get_varint(d, len, pos, &tag);
		uint32_t num = (uint32_t)tag >> 3;
		switch ((uint32_t)tag & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			pos += get_varint(d, len, pos, &v);
			print_num_label(p, num, ind);
			eds_buf_append(p->out, ": ", 2);
			put_u64(p->out, v);
			eds_buf_putc(p->out, '\n');
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
		case PROTOBUF_C_WIRE_TYPE_32BIT: {
			int w = ((uint32_t)tag & 7) == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
			for (int i = 0; i < w; i++)
				v |= (uint64_t)d[pos + (size_t)i] << (8 * i);
			pos += (size_t)w;
			print_num_label(p, num, ind);
			eds_buf_append(p->out, ": ", 2);
			put_hex(p->out, v, 2 * w);
			eds_buf_putc(p->out, '\n');
			break;
		}
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED:
			pos += get_varint(d, len, pos, &v);
			print_ld(p, num, d + pos, (size_t)v, ind, budget);
			pos += (size_t)v;
			break;
		case WT_START_GROUP:
			pos += print_group(p, num, d + pos, len - pos, ind, budget);
			break;
		default:
			return;
		}
	}
}

static void print_unknown(struct pr *p, const ProtobufCMessage *m, unsigned ind)
{
	for (size_t i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *uf = &m->unknown_fields[i];
		uint64_t v = 0;
		switch ((unsigned)uf->wire_type) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			get_varint(uf->data, uf->len, 0, &v);
			print_num_label(p, uf->tag, ind);
			eds_buf_append(p->out, ": ", 2);
			put_u64(p->out, v);
			eds_buf_putc(p->out, '\n');
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
		case PROTOBUF_C_WIRE_TYPE_32BIT: {
			size_t w = uf->wire_type == PROTOBUF_C_WIRE_TYPE_64BIT ? 8 : 4;
			for (size_t j = 0; j < w && j < uf->len; j++)
				v |= (uint64_t)uf->data[j] << (8 * j);
			print_num_label(p, uf->tag, ind);
			eds_buf_append(p->out, ": ", 2);
			put_hex(p->out, v, (int)(2 * w));
			eds_buf_putc(p->out, '\n');
			break;
		}
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
			/* protobuf-c keeps the length prefix in data */
			size_t k = get_varint(uf->data, uf->len, 0, &v);
			if (k && v <= uf->len - k)
				print_ld(p, uf->tag, uf->data + k, (size_t)v, ind, UNKNOWN_BUDGET);
			break;
		}
		case WT_START_GROUP: /* the decoder checked it; data ends with the end tag */
			print_group(p, uf->tag, uf->data, uf->len, ind, UNKNOWN_BUDGET);
			break;
		default:
			break;
		}
	}
}

/* ------------------------------------------------------- known fields */

static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *mem = base + f->offset;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return f->type != PROTOBUF_C_TYPE_MESSAGE || *(void *const *)mem;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
		if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
			const void *ptr = *(const void *const *)mem;
			return ptr && ptr != f->default_value;
		}
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)mem != NULL;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)mem;
		return s && *s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)mem)->len > 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)mem != 0;
	default:
		/* raw bits, like C++: -0.0 counts as set */
		if (elt_size(f->type) == 8)
			return *(const uint64_t *)mem != 0;
		return *(const uint32_t *)mem != 0;
	}
}

static void print_scalar(struct pr *p, const ProtobufCFieldDescriptor *f, const void *mem)
{
	struct eds_buf *b = p->out;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		put_i64(b, *(const int32_t *)mem);
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		put_i64(b, *(const int64_t *)mem);
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		put_u64(b, *(const uint32_t *)mem);
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		put_u64(b, *(const uint64_t *)mem);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_float(b, *(const float *)mem);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double(b, *(const double *)mem);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		eds_buf_puts(b, *(const protobuf_c_boolean *)mem ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)mem;
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		if (ev)
			eds_buf_puts(b, ev->name);
		else
			put_i64(b, v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)mem;
		size_t n = s ? strlen(s) : 0;
		if (p->any_depth && eds_utf8_valid_prefix(s, n) != n)
			p->bad_utf8 = true;
		put_quoted(b, (const uint8_t *)s, n);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bin = mem;
		put_quoted(b, bin->data, bin->len);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	}
}

/* One value of f ("name: value" or "name { ... }"), mem points at it. */
static void print_value(struct pr *p, const ProtobufCFieldDescriptor *f, const void *mem, unsigned ind)
{
	put_indent(p, ind);
	eds_buf_puts(p->out, f->name);
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)mem;
		eds_buf_append(p->out, " {\n", 3);
		if (sub)
			print_msg(p, sub, ind + 1);
		put_indent(p, ind);
		eds_buf_append(p->out, "}\n", 2);
		return;
	}
	eds_buf_append(p->out, ": ", 2);
	print_scalar(p, f, mem);
	eds_buf_putc(p->out, '\n');
}

static int key_cmp(const ProtobufCFieldDescriptor *kf, const ProtobufCMessage *a,
		   const ProtobufCMessage *b)
{
	const void *x = (const char *)a + kf->offset, *y = (const char *)b + kf->offset;
	switch (kf->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)x, *t = *(const char *const *)y;
		return strcmp(s ? s : "", t ? t : ""); /* strcmp compares as unsigned char */
	}
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t s = *(const int64_t *)x, t = *(const int64_t *)y;
		return (s > t) - (s < t);
	}
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t s = *(const uint64_t *)x, t = *(const uint64_t *)y;
		return (s > t) - (s < t);
	}
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t s = *(const uint32_t *)x, t = *(const uint32_t *)y;
		return (s > t) - (s < t);
	}
	default: {
		int32_t s = *(const int32_t *)x, t = *(const int32_t *)y;
		return (s > t) - (s < t);
	}
	}
}

/* Stable merge sort of entries by key (protoc prints map entries sorted). */
static void sort_entries(const ProtobufCFieldDescriptor *kf, const ProtobufCMessage **v,
			 const ProtobufCMessage **tmp, size_t n)
{
	if (n < 2)
		return;
	if (n <= 8) {
		for (size_t i = 1; i < n; i++) {
			const ProtobufCMessage *x = v[i];
			size_t j = i;
			while (j > 0 && key_cmp(kf, v[j - 1], x) > 0) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = x;
		}
		return;
	}
	size_t h = n / 2;
	sort_entries(kf, v, tmp, h);
	sort_entries(kf, v + h, tmp, n - h);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = key_cmp(kf, v[j], v[i]) < 0 ? v[j++] : v[i++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof *v);
}

/* A map entry: key and value always, like protoc. */
static void print_entry(struct pr *p, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *e,
			unsigned ind)
{
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	put_indent(p, ind);
	eds_buf_puts(p->out, f->name);
	eds_buf_append(p->out, " {\n", 3);
	if (e) {
		for (unsigned i = 0; i < 2; i++) {
			const ProtobufCFieldDescriptor *ef = &ed->fields[i];
			const char *mem = (const char *)e + ef->offset;
			if (ef->type == PROTOBUF_C_TYPE_STRING && !*(const char *const *)mem)
				mem = (const char *)&empty_string;
			print_value(p, ef, mem, ind + 1);
		}
		print_unknown(p, e, ind + 1);
	}
	put_indent(p, ind);
	eds_buf_append(p->out, "}\n", 2);
}

static void print_map(struct pr *p, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *const *v,
		      size_t n, unsigned ind)
{
	const ProtobufCMessage *small[16], *small_tmp[16];
	const ProtobufCMessage **s = small, **tmp = small_tmp;
	if (n > 16) {
		if (!p->map_arena)
			p->map_arena = eds_arena_new(4096);
		s = eds_arena_alloc(p->map_arena, n * sizeof *s);
		tmp = eds_arena_alloc(p->map_arena, n * sizeof *s);
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i])
			s[k++] = v[i];
	}
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	sort_entries(&ed->fields[0], s, tmp, k);
	for (size_t i = 0; i < k; i++)
		print_entry(p, f, s[i], ind);
}

/* Walks wire data of type desc, failing when messages nest deeper than
 * budget (protobuf-c unpacks recursively, with no limit of its own). */
static bool depth_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *d, size_t len, unsigned budget)
{
	size_t pos = 0;
	while (pos < len) {
		uint64_t tag, v;
		size_t k = get_varint(d, len, pos, &tag);
		if (!k)
			return false;
		pos += k;
		switch (tag & 7) {
		case PROTOBUF_C_WIRE_TYPE_VARINT:
			if (!(k = get_varint(d, len, pos, &v)))
				return false;
			pos += k;
			break;
		case PROTOBUF_C_WIRE_TYPE_64BIT:
			pos += 8;
			break;
		case PROTOBUF_C_WIRE_TYPE_32BIT:
			pos += 4;
			break;
		case PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED: {
			if (!(k = get_varint(d, len, pos, &v)) || v > len - pos - k)
				return false;
			pos += k;
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    (budget == 0 || !depth_ok(f->descriptor, d + pos, (size_t)v, budget - 1)))
				return false;
			pos += (size_t)v;
			break;
		}
		default:
			return false;
		}
		if (pos > len)
			return false;
	}
	return true;
}

/* Prints an Any as "[type URL] { ... }" when its type is known; false: print it raw. */
static bool print_any(struct pr *p, const ProtobufCMessage *m, unsigned ind)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	const ProtobufCFieldDescriptor *ft = protobuf_c_message_descriptor_get_field(desc, 1);
	const ProtobufCFieldDescriptor *fv = protobuf_c_message_descriptor_get_field(desc, 2);
	if (!ft || !fv || ft->type != PROTOBUF_C_TYPE_STRING || fv->type != PROTOBUF_C_TYPE_BYTES ||
	    m->n_unknown_fields)
		return false;
	const char *url = *(const char *const *)((const char *)m + ft->offset);
	const ProtobufCBinaryData *val = (const void *)((const char *)m + fv->offset);
	if (!url)
		return false;
	size_t ul = strlen(url);
	const ProtobufCMessageDescriptor *vd = NULL;
	for (size_t i = 0; i < sizeof any_prefixes / sizeof any_prefixes[0]; i++) {
		size_t pl = strlen(any_prefixes[i]);
		if (ul > pl && memcmp(url, any_prefixes[i], pl) == 0 && !strchr(url + pl, '/'))
			vd = eds_schema_find_url(url, ul);
	}
	if (!vd || p->depth >= p->max_depth || !depth_ok(vd, val->data, val->len, p->max_depth - p->depth - 1))
		return false;
	if (!p->any_arena)
		p->any_arena = eds_arena_new(4096);
	ProtobufCMessage *sub =
		protobuf_c_message_unpack(vd, eds_arena_pbc(p->any_arena), val->len, val->data);
	if (!sub)
		return false;
	size_t mark = p->out->len;
	bool saved = p->bad_utf8;
	p->bad_utf8 = false;
	p->any_depth++;
	put_indent(p, ind);
	eds_buf_putc(p->out, '[');
	eds_buf_append(p->out, url, ul);
	eds_buf_append(p->out, "] {\n", 4);
	print_msg(p, sub, ind + 1);
	put_indent(p, ind);
	eds_buf_append(p->out, "}\n", 2);
	p->any_depth--;
	bool bad = p->bad_utf8;
	p->bad_utf8 = saved;
	if (!p->any_depth)
		eds_arena_reset(p->any_arena);
	if (bad) {
		/* it would not read back: protoc too prints such an Any raw */
		p->out->len = mark;
		return false;
	}
	return true;
}

/*
 * m's fields from element e0 of field index f0 up to, not including,
 * element e1 of field index f1; f1 == n_fields: to the end, unknown fields
 * included.  A cut falls in a repeated field that is not a map.
 */
static void print_fields(struct pr *p, const ProtobufCMessage *m, unsigned f0, size_t e0, unsigned f1,
			 size_t e1, unsigned ind)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	const char *base = (const char *)m;
	for (unsigned i = f0; i < desc->n_fields && i <= f1; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = rep_count(m, f), lo = i == f0 ? e0 : 0, hi = i == f1 && e1 < n ? e1 : n;
			if (lo >= hi)
				continue;
			const char *arr = *(const char *const *)(base + f->offset);
			if (is_map_field(desc, f)) {
				print_map(p, f, (const ProtobufCMessage *const *)arr, n, ind);
				continue;
			}
			size_t esz = elt_size(f->type);
			for (size_t j = lo; j < hi; j++)
				print_value(p, f, arr + j * esz, ind);
			continue;
		}
		if (i == f1 || !field_present(m, f))
			continue;
		const void *mem = base + f->offset;
		if (f->type == PROTOBUF_C_TYPE_STRING && !*(const char *const *)mem)
			mem = &empty_string; /* a oneof string set to NULL */
		print_value(p, f, mem, ind);
	}
	if (f1 >= desc->n_fields)
		print_unknown(p, m, ind);
}

static void print_msg(struct pr *p, const ProtobufCMessage *m, unsigned ind)
{
	p->depth++;
	if (wkt_of(m->descriptor) != EDS_WKT_ANY || !print_any(p, m, ind))
		print_fields(p, m, 0, 0, m->descriptor->n_fields, 0, ind);
	p->depth--;
}

/*
 * A large CLA on two threads.  Its endpoints, counted across localities,
 * fall into chunks of eds_text_split_chunk; this thread prints chunks from
 * the front straight into the output, a helper prints chunks from the back
 * into its own buffer, each taking the next chunk until none is left, so
 * the two meet wherever their speeds put them.  Then this thread appends the
 * helper's chunks in order.  A chunk prints the text between two endpoint
 * positions (see pos()), so chunks join without a seam.
 */
size_t eds_text_split_min = 4096, eds_text_split_chunk = 512;

struct split {
	const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla;
	const ProtobufCFieldDescriptor *fe; /* CLA.endpoints */
	unsigned fl;                        /* the index of LocalityLbEndpoints.lb_endpoints */
	size_t *first;                      /* [l]: global index of locality l's first endpoint */
	size_t total, chunk, nchunks, front, back; /* chunks [front, back) not yet taken, under lock */
	pthread_mutex_t lock;
	struct pr hp;                 /* the helper's printer, into hbuf */
	struct eds_buf hbuf;
	size_t *hend;                 /* [c]: where the helper's chunk c ends in hbuf */
};

/* Endpoint g as (locality, index): the last locality whose first endpoint
 * is at or before g, so empty localities go with the chunk before. */
static void pos(const struct split *s, size_t g, size_t *l, size_t *k)
{
	size_t lo = 0, hi = s->cla->n_endpoints - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;
		if (s->first[mid] <= g)
			lo = mid;
		else
			hi = mid - 1;
	}
	*l = lo;
	*k = g - s->first[lo];
}

static void loc_open(struct pr *p, const struct split *s, size_t l)
{
	eds_buf_puts(p->out, s->fe->name);
	eds_buf_append(p->out, " {\n", 3);
	p->depth = 2;
	print_fields(p, &s->cla->endpoints[l]->base, 0, 0, s->fl, 0, 1);
	p->depth = 1;
}

static void loc_close(struct pr *p, const struct split *s, size_t l)
{
	const ProtobufCMessage *loc = &s->cla->endpoints[l]->base;
	p->depth = 2;
	print_fields(p, loc, s->fl, s->cla->endpoints[l]->n_lb_endpoints, loc->descriptor->n_fields, 0, 1);
	p->depth = 1;
	eds_buf_append(p->out, "}\n", 2);
}

/* The text from before endpoint a to before endpoint b. */
static void print_chunk(struct pr *p, const struct split *s, size_t a, size_t b)
{
	size_t l0, k0, l1, k1;
	pos(s, a, &l0, &k0);
	pos(s, b, &l1, &k1);
	if (b == s->total) { /* the end, not the start of a locality after it */
		l1 = s->cla->n_endpoints - 1;
		k1 = s->cla->endpoints[l1]->n_lb_endpoints;
	}
	const ProtobufCMessage *loc = &s->cla->endpoints[l0]->base;
	p->depth = 2;
	print_fields(p, loc, s->fl, k0, s->fl, l0 == l1 ? k1 : SIZE_MAX, 1);
	p->depth = 1;
	if (l0 == l1)
		return;
	loc_close(p, s, l0);
	for (size_t l = l0 + 1; l < l1; l++)
		print_value(p, s->fe, &s->cla->endpoints[l], 0);
	loc_open(p, s, l1);
	loc = &s->cla->endpoints[l1]->base;
	p->depth = 2;
	print_fields(p, loc, s->fl, 0, s->fl, k1, 1);
	p->depth = 1;
}

/* The next chunk from the front (or the back); false when none is left. */
static bool take(struct split *s, bool back, size_t *c)
{
	pthread_mutex_lock(&s->lock);
	bool ok = s->front < s->back;
	if (ok)
		*c = back ? --s->back : s->front++;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void *helper_run(void *arg)
{
	struct split *s = arg;
	size_t c;
	while (take(s, true, &c)) {
		size_t b = (c + 1) * s->chunk;
		print_chunk(&s->hp, s, c * s->chunk, b < s->total ? b : s->total);
		s->hend[c] = s->hbuf.len;
	}
	return NULL;
}

/* Where the helper's chunk c ends in its buffer; it starts where chunk
 * c + 1 ends (the helper went from the back). */
static size_t chunk_end(const struct split *s, size_t c)
{
	return c < s->nchunks ? s->hend[c] : 0;
}

/* Chunks [c0, c1) of the helper's buffer, in order, to to. */
struct copy {
	const struct split *s;
	size_t c0, c1;
	char *to;
};

static void *copy_run(void *arg)
{
	struct copy *cp = arg;
	for (size_t c = cp->c0; c < cp->c1; c++) {
		size_t from = chunk_end(cp->s, c + 1), n = chunk_end(cp->s, c) - from;
		memcpy(cp->to, cp->s->hbuf.data + from, n);
		cp->to += n;
	}
	return NULL;
}

static bool print_split(struct pr *p, const ProtobufCMessage *msg)
{
	const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla = (const void *)msg;
	const ProtobufCMessageDescriptor *ld = &envoy__config__endpoint__v3__locality_lb_endpoints__descriptor;
	if (msg->descriptor != &envoy__config__endpoint__v3__cluster_load_assignment__descriptor)
		return false;
	size_t total = 0;
	for (size_t l = 0; l < cla->n_endpoints; l++) {
		if (!cla->endpoints[l])
			return false;
		total += cla->endpoints[l]->n_lb_endpoints;
	}
	if (!total || total < eds_text_split_min)
		return false;
	size_t chunk = eds_text_split_chunk ? eds_text_split_chunk : 1;
	struct split s = {
		.cla = cla,
		.fe = protobuf_c_message_descriptor_get_field(msg->descriptor, 2),
		.fl = (unsigned)(protobuf_c_message_descriptor_get_field(ld, 2) - ld->fields),
		.first = malloc(cla->n_endpoints * sizeof *s.first),
		.total = total,
		.chunk = chunk,
		.nchunks = (total + chunk - 1) / chunk,
		.hbuf.max = p->out->max,
	};
	s.back = s.nchunks;
	s.hend = malloc(s.nchunks * sizeof *s.hend);
	s.hp = (struct pr){ .out = &s.hbuf, .max_depth = p->max_depth, .depth = 1 };
	pthread_t helper;
	pthread_mutex_init(&s.lock, NULL);
	for (size_t l = 0, g = 0; s.first && l < cla->n_endpoints; g += cla->endpoints[l++]->n_lb_endpoints)
		s.first[l] = g;
	if (!s.first || !s.hend || pthread_create(&helper, NULL, helper_run, &s) != 0) {
		pthread_mutex_destroy(&s.lock);
		free(s.first);
		free(s.hend);
		return false;
	}

	size_t l0, k0, c;
	p->depth = 1;
	print_fields(p, msg, 0, 0, (unsigned)(s.fe - msg->descriptor->fields), 0, 0);
	pos(&s, 0, &l0, &k0);
	for (size_t l = 0; l < l0; l++)
		print_value(p, s.fe, &cla->endpoints[l], 0);
	loc_open(p, &s, l0);
	while (take(&s, false, &c)) {
		size_t b = (c + 1) * chunk;
		print_chunk(p, &s, c * chunk, b < total ? b : total);
	}
	pthread_join(helper, NULL);
	p->out->overflow |= s.hbuf.overflow;
	/* The helper's chunks, which it wrote last to first, in order; a
	 * second thread copies half of them (the copy's cost is mostly page
	 * faults in the output, which two cores take twice as fast). */
	struct copy cp[2] = { { .s = &s, .c0 = s.front, .c1 = s.front + (s.nchunks - s.front) / 2 },
			      { .s = &s, .c1 = s.nchunks } };
	cp[1].c0 = cp[0].c1;
	if (!eds_buf_reserve(p->out, s.hbuf.len)) {
		cp[0].to = cp[1].to = p->out->data + p->out->len;
		cp[1].to += chunk_end(&s, s.front) - chunk_end(&s, cp[1].c0);
		pthread_t copier;
		bool two = s.hbuf.len >= ((size_t)1 << 20) && pthread_create(&copier, NULL, copy_run, &cp[1]) == 0;
		copy_run(&cp[0]);
		if (two)
			pthread_join(copier, NULL);
		else
			copy_run(&cp[1]);
		p->out->len += s.hbuf.len;
	}
	loc_close(p, &s, cla->n_endpoints - 1);
	print_fields(p, msg, (unsigned)(s.fe - msg->descriptor->fields) + 1, 0, msg->descriptor->n_fields, 0, 0);
	p->depth = 0;
	pthread_mutex_destroy(&s.lock);
	eds_arena_free(s.hp.any_arena);
	eds_arena_free(s.hp.map_arena);
	eds_buf_release(&s.hbuf);
	free(s.first);
	free(s.hend);
	return true;
}

int eds_text_encode(const ProtobufCMessage *msg, const struct eds_encode_opts *opts,
		    struct eds_buf *out, struct eds_diag *d)
{
	(void)opts; /* text is always indented, as protoc prints it */
	struct pr p = { .out = out, .max_depth = eds_limits_default.max_depth };
	if (!print_split(&p, msg))
		print_msg(&p, msg, 0);
	eds_arena_free(p.any_arena);
	eds_arena_free(p.map_arena);
	if (eds_buf_overflowed(out))
		return eds_diag_setf(d, EDS_E_LIMIT, "output is more than the limit of %zu bytes "
				     "(--max-output)", out->max);
	return EDS_OK;
}

/* ---------------------------------------------------------------- locate */

struct span {
	size_t start, end;
};

/* Skips one value at the current token ({...}, <...>, -N, strings, token). */
static int skim_value(struct lex *lx, struct span *v)
{
	v->start = lx->t.start;
	if (opener(&lx->t)) {
		unsigned depth = 0;
		do {
			if (lx->t.kind == TK_END)
				return -1;
			if (is_sym(&lx->t, '{') || is_sym(&lx->t, '<') || is_sym(&lx->t, '['))
				depth++;
			else if (is_sym(&lx->t, '}') || is_sym(&lx->t, '>') || is_sym(&lx->t, ']'))
				depth--;
			v->end = lx->t.end;
			if (lex_next(lx) < 0)
				return -1;
		} while (depth);
		return 0;
	}
	if (lx->t.kind == TK_END || lx->t.kind == TK_SYM) {
		if (!is_sym(&lx->t, '-'))
			return -1;
		if (lex_next(lx) < 0 || lx->t.kind == TK_END || lx->t.kind == TK_SYM)
			return -1;
	}
	if (lx->t.kind == TK_STRING) {
		while (lx->t.kind == TK_STRING) {
			v->end = lx->t.end;
			if (lex_next(lx) < 0)
				return -1;
		}
		return 0;
	}
	v->end = lx->t.end;
	return lex_next(lx);
}

static bool tok_is(const struct lex *lx, const struct tok *t, const char *s, size_t n)
{
	return t->end - t->start == n && memcmp(lx->s + t->start, s, n) == 0;
}

/* Whether the string literal(s) in span v equal the unescaped key. */
static bool literal_eq(const char *s, const struct span *v, const char *key, size_t klen)
{
	size_t i = v->start, o = 0;
	unsigned char tmp[4];
	if (s[i] != '"' && s[i] != '\'')
		return v->end - v->start == klen && memcmp(s + v->start, key, klen) == 0;
	while (i < v->end) {
		i = skip_blank(s, v->end, i);
		char q = s[i++];
		size_t e = i;
		while (s[e] != q)
			e += s[e] == '\\' ? 2 : 1;
		while (i < e) {
			size_t k = unescape_one(s, e, &i, tmp);
			if (o + k > klen || memcmp(key + o, tmp, k) != 0)
				return false;
			o += k;
		}
		i = e + 1;
	}
	return o == klen;
}

/*
 * In the message body starting at byte bs, the value of the index-th
 * occurrence of field name (list elements counted), or with key set the map
 * entry whose key is key; url: the "[type URL]" block of an Any instead.
 */
static bool find_in_body(const struct eds_src *src, size_t bs, const char *name, size_t nlen,
			 size_t index, const char *key, size_t klen, bool url, struct span *out,
			 struct span *url_out)
{
	struct lex lx = { .s = src->text, .len = src->len, .pos = bs };
	size_t count = 0;
	if (lex_next(&lx) < 0)
		return false;
	for (;;) {
		struct tok nt = lx.t;
		struct span us = { 0, 0 };
		if (nt.kind == TK_END || nt.kind == TK_STRING || nt.kind == TK_FLOAT)
			return false;
		if (nt.kind == TK_SYM) {
			if (nt.sym != '[')
				return false;
			if (lex_next(&lx) < 0)
				return false;
			us.start = lx.t.start;
			while (lx.t.kind != TK_END && !is_sym(&lx.t, ']')) {
				us.end = lx.t.end;
				if (lex_next(&lx) < 0)
					return false;
			}
		}
		bool match = url ? nt.kind == TK_SYM : nt.kind != TK_SYM && tok_is(&lx, &nt, name, nlen);
		if (lex_next(&lx) < 0)
			return false;
		if (is_sym(&lx.t, ':') && lex_next(&lx) < 0)
			return false;
		bool list = is_sym(&lx.t, '[');
		if (list && lex_next(&lx) < 0)
			return false;
		while (!list || !is_sym(&lx.t, ']')) {
			struct span v;
			if (skim_value(&lx, &v) < 0)
				return false;
			if (match && key) {
				struct span kv;
				if ((src->text[v.start] == '{' || src->text[v.start] == '<') &&
				    find_in_body(src, v.start + 1, "key", 3, 0, NULL, 0, false, &kv, NULL) &&
				    literal_eq(src->text, &kv, key, klen)) {
					*out = v;
					return true;
				}
			} else if (match && count++ == index) {
				*out = v;
				if (url_out)
					*url_out = us;
				return true;
			}
			if (!list)
				break;
			if (is_sym(&lx.t, ',') && lex_next(&lx) < 0)
				return false;
			if (lx.t.kind == TK_END)
				return false;
		}
		if (list && lex_next(&lx) < 0)
			return false;
		if ((is_sym(&lx.t, ';') || is_sym(&lx.t, ',')) && lex_next(&lx) < 0)
			return false;
	}
}

/* One path segment: name (may be empty), then [N] or ["key"] or nothing. */
struct seg {
	const char *name;
	size_t nlen;
	bool has_index;
	size_t index;
	char key[400];
	size_t klen;
	bool has_key;
};

static const char *parse_seg(const char *s, struct seg *g)
{
	memset(g, 0, sizeof *g);
	if (*s == '.')
		s++;
	g->name = s;
	while (is_ident((unsigned char)*s))
		s++;
	g->nlen = (size_t)(s - g->name);
	if (*s != '[')
		return g->nlen ? s : NULL;
	s++;
	if (*s == '"') {
		s++;
		while (*s && *s != '"') {
			if (*s == '\\' && s[1])
				s++;
			if (g->klen < sizeof g->key)
				g->key[g->klen++] = *s;
			s++;
		}
		if (s[0] != '"' || s[1] != ']')
			return NULL;
		g->has_key = true;
		return s + 2;
	}
	if (!is_digit((unsigned char)*s))
		return NULL;
	while (is_digit((unsigned char)*s))
		g->index = g->index * 10 + (size_t)(*s++ - '0');
	if (*s != ']')
		return NULL;
	g->has_index = true;
	return s + 1;
}

struct cursor {
	const ProtobufCMessageDescriptor *desc; /* NULL: at a scalar */
	size_t bs;                              /* where the message body starts */
	struct span span;
};

/* Moves from a message value v of type desc into its body. */
static void enter(struct cursor *c, const ProtobufCMessageDescriptor *desc, const struct span *v,
		  const char *text)
{
	c->span = *v;
	if (desc && (text[v->start] == '{' || text[v->start] == '<')) {
		c->desc = desc;
		c->bs = v->start + 1;
	} else {
		c->desc = NULL;
	}
}

static bool into_any(const struct eds_src *src, struct cursor *c)
{
	struct span v, us;
	if (!c->desc || wkt_of(c->desc) != EDS_WKT_ANY)
		return false;
	if (!find_in_body(src, c->bs, NULL, 0, 0, NULL, 0, true, &v, &us))
		return false;
	char url[512];
	size_t ul = 0;
	for (size_t i = us.start; i < us.end && ul < sizeof url; i++) {
		if (!is_blank((unsigned char)src->text[i]))
			url[ul++] = src->text[i];
	}
	const ProtobufCMessageDescriptor *vd = eds_schema_find_url(url, ul);
	if (!vd)
		return false;
	enter(c, vd, &v, src->text);
	return c->desc != NULL;
}

/* Field f (by name) of the cursor's message, index-th or with key. */
static bool step_field(const struct eds_src *src, struct cursor *c, const ProtobufCFieldDescriptor *f,
		       const struct seg *g)
{
	struct span v;
	/* A map without ["key"] is its entries, like a repeated field: the first one. */
	bool map = g->has_key && is_map_field(c->desc, f);
	if (!find_in_body(src, c->bs, f->name, strlen(f->name), g->has_index ? g->index : 0,
			  map ? g->key : NULL, g->klen, false, &v, NULL))
		return false;
	if (!map) {
		enter(c, f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL, &v, src->text);
		return true;
	}
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	const ProtobufCFieldDescriptor *vf = &ed->fields[1];
	struct span vv;
	if (!(src->text[v.start] == '{' || src->text[v.start] == '<') ||
	    !find_in_body(src, v.start + 1, "value", 5, 0, NULL, 0, false, &vv, NULL)) {
		c->span = v; /* the entry exists, its value is the default */
		c->desc = NULL;
		return false;
	}
	enter(c, vf->type == PROTOBUF_C_TYPE_MESSAGE ? vf->descriptor : NULL, &vv, src->text);
	return true;
}

/* A bare [N] or ["key"]: through Value, Struct, ListValue (and Any). */
static bool step_bare(const struct eds_src *src, struct cursor *c, const struct seg *g)
{
	if (!c->desc)
		return false;
	enum eds_wkt w = wkt_of(c->desc);
	while (w == EDS_WKT_ANY) {
		if (!into_any(src, c))
			return false;
		w = wkt_of(c->desc);
	}
	if (w == EDS_WKT_VALUE) {
		const ProtobufCFieldDescriptor *f =
			field_by_name(c->desc, g->has_key ? "struct_value" : "list_value",
				      g->has_key ? 12 : 10);
		struct seg plain = { 0 };
		if (!f || !step_field(src, c, f, &plain) || !c->desc)
			return false;
		w = wkt_of(c->desc);
	}
	if ((w == EDS_WKT_STRUCT && g->has_key) || (w == EDS_WKT_LIST_VALUE && g->has_index)) {
		const ProtobufCFieldDescriptor *f = &c->desc->fields[0];
		return step_field(src, c, f, g);
	}
	return false;
}

int eds_text_locate(const struct eds_src *src, const ProtobufCMessageDescriptor *desc,
		    const char *path, size_t *start, size_t *end)
{
	struct cursor c = { desc, 0, { 0, src->len } };
	bool any_found = false;
	const char *s = path;
	struct seg g;
	while (*s) {
		if (strcmp(s, "...") == 0)
			break;
		const char *nx = parse_seg(s, &g);
		bool ok = false;
		if (nx && c.desc) {
			if (g.nlen) {
				const ProtobufCFieldDescriptor *f = field_by_name(c.desc, g.name, g.nlen);
				while (!f && into_any(src, &c))
					f = field_by_name(c.desc, g.name, g.nlen);
				ok = f && step_field(src, &c, f, &g);
			} else {
				ok = step_bare(src, &c, &g);
			}
		}
		if (!ok) {
			/* a failed step may still have moved into an Any or a map entry */
			if (!any_found && c.span.start == 0 && c.span.end == src->len && c.desc == desc)
				return -1;
			*start = c.span.start;
			*end = c.span.end;
			return 1;
		}
		any_found = true;
		s = nx;
	}
	*start = c.span.start;
	*end = c.span.end;
	return *s ? 1 : 0;
}
