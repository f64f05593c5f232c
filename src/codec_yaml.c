/*
 * YAML codec and JSON text tools (see codec_yaml.h for the contract).
 *
 * Reading: libyaml's event stream is turned into JSON text in one pass with
 * an explicit stack (no recursion, so nesting costs no C stack), and the
 * JSON codec decodes that.  Writing: the JSON encoder's compact output is
 * walked by a small validating pull parser and printed as block YAML.  The
 * same pull parser skips and re-prints JSON for the container walker.
 */
#include "codec_yaml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "codec_json.h"

#define YAML_TAG "tag:yaml.org,2002:"

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		abort();
	return q;
}

/* ---------------------------------------------------------------------- */
/* JSON text: a validating pull parser over tokens                        */

enum jt { JT_EOF, JT_LBRACE, JT_RBRACE, JT_LBRACK, JT_RBRACK, JT_COLON, JT_COMMA,
	  JT_STR, JT_NUM, JT_LIT, JT_BAD };

static const char *const jt_names[] = { "end of input", "'{'", "'}'", "'['", "']'", "':'",
					"','", "a string", "a number", "a literal", "?" };

struct jlex {
	const char *s;
	size_t n, i;
	size_t ts, te;   /* the last token */
	bool esc;        /* the last string token has escapes */
	char err[160];
	size_t es, ee;   /* error span */
	bool limit;      /* the error is a nesting limit */
};

static enum jt jl_fail(struct jlex *l, size_t s, size_t e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static enum jt jl_fail(struct jlex *l, size_t s, size_t e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->err, sizeof l->err, fmt, ap);
	va_end(ap);
	l->es = s;
	l->ee = e;
	return JT_BAD;
}

size_t eds_json_ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static enum jt jl_string(struct jlex *l)
{
	const char *s = l->s;
	size_t i = l->i + 1;
	l->esc = false;
	for (;;) {
		size_t run = i;
		while (i < l->n && s[i] != '"' && s[i] != '\\' && (unsigned char)s[i] >= 0x20)
			i++;
		if (eds_utf8_valid_prefix(s + run, i - run) != i - run)
			return jl_fail(l, run + eds_utf8_valid_prefix(s + run, i - run),
				       run + eds_utf8_valid_prefix(s + run, i - run) + 1,
				       "invalid JSON: invalid UTF-8 in string");
		if (i >= l->n)
			return jl_fail(l, l->i, l->n, "invalid JSON: unterminated string");
		if (s[i] == '"')
			break;
		if (s[i] != '\\')
			return jl_fail(l, i, i + 1, "invalid JSON: control character in string");
		l->esc = true;
		if (i + 1 >= l->n)
			return jl_fail(l, l->i, l->n, "invalid JSON: unterminated string");
		char c = s[i + 1];
		if (c == 'u') {
			if (i + 6 > l->n || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) || !is_hex(s[i + 4]) ||
			    !is_hex(s[i + 5]))
				return jl_fail(l, i, i + 2, "invalid JSON: invalid escape '\\u'");
			i += 6;
		} else if (strchr("\"\\/bfnrt", c) && c) {
			i += 2;
		} else {
			return jl_fail(l, i, i + 2, "invalid JSON: invalid escape '\\%c'", c);
		}
	}
	l->ts = l->i;
	l->te = l->i = i + 1;
	return JT_STR;
}

static enum jt jl_number(struct jlex *l)
{
	const char *s = l->s;
	size_t i = l->i, n = l->n;
	if (s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && is_digit(s[i]))
		while (i < n && is_digit(s[i]))
			i++;
	else
		goto bad;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			goto bad;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			goto bad;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '-' ||
		      s[i] == '+'))
		goto bad;
	l->ts = l->i;
	l->te = l->i = i;
	return JT_NUM;
bad:
	while (i < n && (is_digit(s[i]) || strchr(".eE+-", s[i])))
		i++;
	return jl_fail(l, l->i, i > l->i ? i : l->i + 1, "invalid JSON: invalid number '%.*s'",
		       (int)(i - l->i > 40 ? 40 : i - l->i), s + l->i);
}

static enum jt jl_next(struct jlex *l)
{
	l->i = eds_json_ws(l->s, l->n, l->i);
	if (l->i >= l->n) {
		l->ts = l->te = l->n;
		return JT_EOF;
	}
	char c = l->s[l->i];
	l->ts = l->i;
	switch (c) {
	case '{': l->te = ++l->i; return JT_LBRACE;
	case '}': l->te = ++l->i; return JT_RBRACE;
	case '[': l->te = ++l->i; return JT_LBRACK;
	case ']': l->te = ++l->i; return JT_RBRACK;
	case ':': l->te = ++l->i; return JT_COLON;
	case ',': l->te = ++l->i; return JT_COMMA;
	case '"': return jl_string(l);
	default: break;
	}
	if (c == '-' || is_digit(c))
		return jl_number(l);
	size_t e = l->i;
	while (e < l->n && ((l->s[e] >= 'a' && l->s[e] <= 'z') || (l->s[e] >= 'A' && l->s[e] <= 'Z') ||
			    is_digit(l->s[e]) || l->s[e] == '_'))
		e++;
	static const char *const lits[] = { "true", "false", "null" };
	for (size_t k = 0; k < 3; k++) {
		if (e - l->i == strlen(lits[k]) && memcmp(l->s + l->i, lits[k], e - l->i) == 0) {
			l->te = l->i = e;
			return JT_LIT;
		}
	}
	if (e == l->i)
		e = l->i + 1;
	return jl_fail(l, l->i, e, "invalid JSON: invalid token '%.*s'", (int)(e - l->i > 40 ? 40 : e - l->i),
		       l->s + l->i);
}

enum jev { JE_ERR = -1, JE_EOF = 0, JE_DONE, JE_OBJ, JE_OBJ_END, JE_ARR, JE_ARR_END, JE_KEY, JE_SCALAR };
enum jstate { S_VALUE, S_KEY_OR_END, S_KEY, S_VALUE_OR_END, S_AFTER };

struct jparse {
	struct jlex l;
	char *stk;        /* '{' or '[' per open container */
	size_t depth, cap, max;
	enum jstate state;
	enum jt tok;      /* kind of the last SCALAR */
	size_t ks, ke;    /* the last KEY token */
	bool empty;       /* the container just opened is empty */
};

static void jp_init(struct jparse *p, const char *s, size_t n, size_t start, size_t max_depth)
{
	memset(p, 0, sizeof *p);
	p->l.s = s;
	p->l.n = n;
	p->l.i = start;
	p->max = max_depth;
}

static void jp_release(struct jparse *p) { free(p->stk); }

static int jp_push(struct jparse *p, char c)
{
	if (p->depth >= p->max) {
		jl_fail(&p->l, p->l.ts, p->l.te, "JSON nested deeper than %zu levels", p->max);
		p->l.limit = true;
		return -1;
	}
	if (p->depth == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->stk = xrealloc(p->stk, p->cap);
	}
	p->stk[p->depth++] = c;
	size_t j = eds_json_ws(p->l.s, p->l.n, p->l.i);
	p->empty = j < p->l.n && p->l.s[j] == (c == '{' ? '}' : ']');
	return 0;
}

static int jp_next(struct jparse *p)
{
	struct jlex *l = &p->l;
	if (p->state == S_AFTER && p->depth == 0) {
		p->state = S_VALUE;
		return JE_DONE;
	}
	for (;;) {
		enum jt t = jl_next(l);
		if (t == JT_BAD)
			return JE_ERR;
		switch (p->state) {
		case S_KEY_OR_END:
			if (t == JT_RBRACE) {
				p->depth--;
				p->state = S_AFTER;
				return JE_OBJ_END;
			}
			/* fall through */
		case S_KEY:
			if (t != JT_STR) {
				jl_fail(l, l->ts, l->te > l->ts ? l->te : l->ts + 1,
					"invalid JSON: expected a string key, got %s", jt_names[t]);
				return JE_ERR;
			}
			p->ks = l->ts;
			p->ke = l->te;
			t = jl_next(l);
			if (t == JT_BAD)
				return JE_ERR;
			if (t != JT_COLON) {
				jl_fail(l, l->ts, l->te > l->ts ? l->te : l->ts + 1,
					"invalid JSON: expected ':' after an object key, got %s", jt_names[t]);
				return JE_ERR;
			}
			p->state = S_VALUE;
			return JE_KEY;
		case S_VALUE_OR_END:
			if (t == JT_RBRACK) {
				p->depth--;
				p->state = S_AFTER;
				return JE_ARR_END;
			}
			/* fall through */
		case S_VALUE:
			if (t == JT_EOF && p->depth == 0)
				return JE_EOF;
			if (t == JT_LBRACE || t == JT_LBRACK) {
				if (jp_push(p, t == JT_LBRACE ? '{' : '[') < 0)
					return JE_ERR;
				p->state = t == JT_LBRACE ? S_KEY_OR_END : S_VALUE_OR_END;
				return t == JT_LBRACE ? JE_OBJ : JE_ARR;
			}
			if (t == JT_STR || t == JT_NUM || t == JT_LIT) {
				p->tok = t;
				p->state = S_AFTER;
				return JE_SCALAR;
			}
			jl_fail(l, l->ts, l->te > l->ts ? l->te : l->ts + 1,
				"invalid JSON: expected a value, got %s", jt_names[t]);
			return JE_ERR;
		case S_AFTER: {
			char top = p->stk[p->depth - 1];
			if (t == JT_COMMA) {
				p->state = top == '{' ? S_KEY : S_VALUE;
				continue;
			}
			if (t == (top == '{' ? JT_RBRACE : JT_RBRACK)) {
				p->depth--;
				return top == '{' ? JE_OBJ_END : JE_ARR_END;
			}
			jl_fail(l, l->ts, l->te > l->ts ? l->te : l->ts + 1,
				"invalid JSON: expected ',' or '%c' after %s, got %s", top == '{' ? '}' : ']',
				top == '{' ? "an object member" : "an array element", jt_names[t]);
			return JE_ERR;
		}
		}
	}
}

static int jp_diag(const struct jparse *p, const struct eds_src *src, struct eds_diag *d)
{
	eds_diag_setf(d, p->l.limit ? EDS_E_LIMIT : EDS_E_DECODE, "%s", p->l.err);
	/* a token expected at the end of the input: a span past it otherwise */
	size_t s = p->l.es < src->len ? p->l.es : src->len, e = p->l.ee < src->len ? p->l.ee : src->len;
	return eds_diag_span(d, src, s, e);
}

int eds_json_skip(const struct eds_src *src, size_t *i, unsigned max_depth, struct eds_diag *d)
{
	struct jparse p;
	jp_init(&p, src->text, src->len, *i, max_depth);
	int ev, rc = EDS_OK;
	while ((ev = jp_next(&p)) > JE_DONE)
		;
	if (ev == JE_ERR)
		rc = jp_diag(&p, src, d);
	else if (ev == JE_EOF) {
		eds_diag_setf(d, EDS_E_DECODE, "invalid JSON: unexpected end of input");
		rc = eds_diag_span(d, src, src->len, src->len);
	} else
		*i = p.l.i;
	jp_release(&p);
	return rc;
}

bool eds_json_str_eq(const char *tok, size_t len, const char *want)
{
	size_t w = strlen(want);
	if (len < 2 || tok[0] != '"')
		return false;
	tok++;
	len -= 2;
	if (len == w && memcmp(tok, want, w) == 0)
		return true;
	if (!memchr(tok, '\\', len))
		return false;
	/* Escaped ASCII only: "\u0040type" is "@type". */
	size_t i = 0, k = 0;
	while (i < len && k < w) {
		char c = tok[i];
		if (c == '\\' && i + 1 < len) {
			char e = tok[i + 1];
			if (e == 'u' && i + 5 < len) {
				unsigned v = (unsigned)strtoul((char[5]){ tok[i + 2], tok[i + 3], tok[i + 4], tok[i + 5], 0 },
							       NULL, 16);
				if (v >= 0x80)
					return false;
				c = (char)v;
				i += 6;
			} else {
				c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
				i += 2;
			}
		} else {
			i++;
		}
		if (c != want[k++])
			return false;
	}
	return i == len && k == w;
}

/* ---------------------------------------------------------------------- */
/* JSON re-printing                                                        */

static void put_spaces(struct eds_buf *b, size_t n)
{
	static const char sp[] = "                                                                ";
	while (n) {
		size_t k = n < sizeof sp - 1 ? n : sizeof sp - 1;
		eds_buf_append(b, sp, k);
		n -= k;
	}
}

static int limit_check(const struct eds_buf *b, struct eds_diag *d)
{
	if (eds_buf_overflowed(b))
		return eds_diag_setf(d, EDS_E_LIMIT, "output larger than %zu bytes (--max-output)", b->max);
	return EDS_OK;
}

int eds_json_reformat(const char *json, size_t len, bool pretty, struct eds_buf *out,
		      struct eds_diag *d)
{
	struct jparse p;
	jp_init(&p, json, len, 0, (size_t)-1);
	bool first = true, after_key = false;
	int ev, rc = EDS_OK;
	while ((ev = jp_next(&p)) != JE_EOF) {
		if (ev == JE_ERR) {
			rc = eds_diag_setf(d, EDS_E_INTERNAL, "re-printing JSON: %s at byte %zu", p.l.err, p.l.es);
			break;
		}
		if (ev == JE_DONE) {
			eds_buf_putc(out, '\n');
			first = true;
			continue;
		}
		if (ev == JE_OBJ_END || ev == JE_ARR_END) {
			if (pretty && !first) {
				eds_buf_putc(out, '\n');
				put_spaces(out, p.depth * 2);
			}
			eds_buf_putc(out, ev == JE_OBJ_END ? '}' : ']');
			first = false;
			continue;
		}
		if (!after_key && p.depth - (ev == JE_OBJ || ev == JE_ARR) > 0) {
			if (!first)
				eds_buf_putc(out, ',');
			if (pretty) {
				eds_buf_putc(out, '\n');
				put_spaces(out, (p.depth - (ev == JE_OBJ || ev == JE_ARR)) * 2);
			}
		}
		after_key = false;
		switch (ev) {
		case JE_OBJ:
		case JE_ARR:
			eds_buf_putc(out, ev == JE_OBJ ? '{' : '[');
			first = true;
			break;
		case JE_KEY:
			eds_buf_append(out, json + p.ks, p.ke - p.ks);
			eds_buf_append(out, ": ", pretty ? 2 : 1);
			after_key = true;
			first = false;
			break;
		default:
			eds_buf_append(out, json + p.l.ts, p.l.te - p.l.ts);
			first = false;
			break;
		}
	}
	jp_release(&p);
	return rc ? rc : limit_check(out, d);
}

/* ---------------------------------------------------------------------- */
/* JSON to YAML                                                            */

/* Decode the JSON string token [s, e) (quotes included) into b as UTF-8;
 * -1 on a lone surrogate. */
static int json_unescape(const char *s, size_t e_, struct eds_buf *b)
{
	const char *e = s + e_ - 1;
	s++;
	b->len = 0;
	while (s < e) {
		const char *run = s;
		while (s < e && *s != '\\')
			s++;
		eds_buf_append(b, run, (size_t)(s - run));
		if (s >= e)
			break;
		char c = s[1];
		s += 2;
		if (c != 'u') {
			char out = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c;
			eds_buf_putc(b, out);
			continue;
		}
		unsigned cp = (unsigned)strtoul((char[5]){ s[0], s[1], s[2], s[3], 0 }, NULL, 16);
		s += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (e - s < 6 || s[0] != '\\' || s[1] != 'u')
				return -1;
			unsigned lo = (unsigned)strtoul((char[5]){ s[2], s[3], s[4], s[5], 0 }, NULL, 16);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return -1;
			cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			s += 6;
		} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
			return -1;
		}
		char u[4];
		size_t k;
		if (cp < 0x80) {
			u[0] = (char)cp;
			k = 1;
		} else if (cp < 0x800) {
			u[0] = (char)(0xC0 | cp >> 6);
			u[1] = (char)(0x80 | (cp & 0x3F));
			k = 2;
		} else if (cp < 0x10000) {
			u[0] = (char)(0xE0 | cp >> 12);
			u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
			u[2] = (char)(0x80 | (cp & 0x3F));
			k = 3;
		} else {
			u[0] = (char)(0xF0 | cp >> 18);
			u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
			u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
			u[3] = (char)(0x80 | (cp & 0x3F));
			k = 4;
		}
		eds_buf_append(b, u, k);
	}
	return 0;
}

static bool word_in(const char *s, size_t n, const char *const *words)
{
	if (n > 5) /* the longest word is "FALSE" */
		return false;
	for (; *words; words++)
		if (strlen(*words) == n && memcmp(*words, s, n) == 0)
			return true;
	return false;
}

/* Would a YAML 1.1 or 1.2 reader (libyaml/PyYAML, go-yaml, yaml-cpp) take
 * this plain scalar for something other than a string? */
static bool plain_is_special(const char *s, size_t n)
{
	static const char *const words[] = {
		"~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
		"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON",
		"off", "Off", "OFF", "<<", "=", NULL,
	};
	if (word_in(s, n, words))
		return true;
	size_t i = 0;
	if (s[0] == '+' || s[0] == '-')
		i++;
	if (i == n)
		return true;
	if (s[i] == '.' || ((s[i] == 'i' || s[i] == 'I' || s[i] == 'n' || s[i] == 'N') && i == 1))
		return true; /* .5 .inf, and +inf -NaN as Go's ParseFloat reads them */
	if (!is_digit(s[i]))
		return false;
	if (n >= 6 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-' &&
	    is_digit(s[5]))
		return true; /* a YAML 1.1 timestamp: 2024-05-01, 2024-05-01T10:00:00Z */
	/* Anything number-like: decimal, 0x, 0o, 0b, 1_000, 1e5, 1:30 (YAML
	 * 1.1 base 60).  Dotted quads and versions (two dots) stay plain. */
	size_t dots = 0;
	bool colon = false;
	for (size_t k = i; k < n; k++) {
		char c = s[k];
		if (c == '.')
			dots++;
		else if (c == ':')
			colon = true;
		else if (!is_hex(c) && !strchr("_xXoObB+-", c))
			return false;
	}
	return dots <= 1 || colon;
}

static bool plain_ok(const char *s, size_t n)
{
	if (n == 0 || n > 1000)
		return false;
	if (strchr("-?:,[]{}#&*!|>'\"%@`. ", s[0]))
		return false;
	if (s[n - 1] == ' ' || s[n - 1] == ':')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7F)
			return false;
		if (c == ':' && i + 1 < n && s[i + 1] == ' ')
			return false;
		if (c == '#' && s[i - 1] == ' ')
			return false;
	}
	return !plain_is_special(s, n);
}

/* The escape YAML needs in a double-quoted scalar for the character at
 * s[i] that is not ASCII or is DEL (its bytes in *len), or NULL: DEL, C1
 * controls and NEL, the line and paragraph separators, BOM, U+FFFE/U+FFFF. */
static const char *yaml_esc_high(const unsigned char *s, size_t i, size_t n, char tmp[8], size_t *len)
{
	static const char hex[] = "0123456789ABCDEF";
	*len = 1;
	if (s[i] == 0x7F)
		return "\\x7F";
	if (s[i] == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F) {
		snprintf(tmp, 8, "\\x%c%c", hex[s[i + 1] >> 4], hex[s[i + 1] & 15]); /* C1 controls, NEL */
		*len = 2;
		return tmp;
	}
	*len = 3;
	if (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
		return s[i + 2] == 0xA8 ? "\\L" : "\\P";
	if (s[i] == 0xEF && i + 2 < n && s[i + 1] == 0xBB && s[i + 2] == 0xBF)
		return "\\uFEFF";
	if (s[i] == 0xEF && i + 2 < n && s[i + 1] == 0xBF && (s[i + 2] == 0xBE || s[i + 2] == 0xBF))
		return s[i + 2] == 0xBE ? "\\uFFFE" : "\\uFFFF"; /* not printable in YAML */
	*len = 1;
	return NULL;
}

static void put_yaml_quoted(struct eds_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	eds_buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char tmp[8];
		size_t len = 1;
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\t')
			esc = "\\t";
		else if (c == '\r')
			esc = "\\r";
		else if (c < 0x20) {
			snprintf(tmp, sizeof tmp, "\\x%c%c", hex[c >> 4], hex[c & 15]);
			esc = tmp;
		} else {
			esc = yaml_esc_high((const unsigned char *)s, i, n, tmp, &len);
		}
		if (esc) {
			eds_buf_append(b, s + run, i - run);
			eds_buf_puts(b, esc);
			run = i + len;
		}
		i += len;
	}
	eds_buf_append(b, s + run, n - run);
	eds_buf_putc(b, '"');
}

static int put_yaml_string(struct eds_buf *b, const char *tok, size_t tlen, bool has_esc,
			   struct eds_buf *scratch)
{
	const char *s = tok + 1;
	size_t n = tlen - 2;
	if (has_esc) {
		if (json_unescape(tok, tlen, scratch) < 0)
			return -1;
		s = scratch->data ? scratch->data : "";
		n = scratch->len;
	}
	if (plain_ok(s, n))
		eds_buf_append(b, s, n);
	else
		put_yaml_quoted(b, s, n);
	return 0;
}

/* JSON numbers as every YAML reader takes them for floats: PyYAML (YAML
 * 1.1) wants a '.' and a signed exponent ("1e5" would be a string). */
static void put_yaml_number(struct eds_buf *b, const char *s, size_t n)
{
	if (n == 2 && s[0] == '-' && s[1] == '0') {
		eds_buf_append(b, "-0.0", 4); /* an int -0 is 0 to YAML readers */
		return;
	}
	const char *e = memchr(s, 'e', n);
	if (!e)
		e = memchr(s, 'E', n);
	if (!e) {
		eds_buf_append(b, s, n);
		return;
	}
	size_t k = (size_t)(e - s);
	eds_buf_append(b, s, k);
	if (!memchr(s, '.', k))
		eds_buf_append(b, ".0", 2);
	eds_buf_putc(b, 'e');
	if (k + 1 < n && s[k + 1] != '+' && s[k + 1] != '-')
		eds_buf_putc(b, '+');
	eds_buf_append(b, s + k + 1, n - k - 1);
}

/* Longer keys are written in the explicit form, "? key" (bytes; a character
 * is at least one, and libyaml and go-yaml take simple keys of up to 1024). */
#define YAML_SIMPLE_KEY_MAX 1000

/* Put "? " before the key written at b->data + at. */
static void explicit_key(struct eds_buf *b, size_t at)
{
	size_t klen = b->len - at;
	eds_buf_append(b, "  ", 2);
	if (!b->overflow) {
		memmove(b->data + at + 2, b->data + at, klen);
		memcpy(b->data + at, "? ", 2);
	}
}

int eds_json_to_yaml_flow(const char *json, size_t len, struct eds_buf *out, struct eds_diag *d)
{
	struct eds_buf c = { .max = out->max };
	int rc = eds_json_reformat(json, len, false, &c, d);
	const unsigned char *s = (const unsigned char *)(c.data ? c.data : "");
	size_t run = 0, i = 0, key_at = 0;
	bool in_str = false;
	while (!rc && i < c.len) {
		char tmp[8];
		size_t n = 1;
		const char *esc = NULL;
		if (s[i] == '"' && !in_str) {
			eds_buf_append(out, s + run, i - run);
			run = i;
			key_at = out->len;
			in_str = true;
		} else if (s[i] == '"') {
			in_str = false;
			eds_buf_append(out, s + run, i + 1 - run);
			run = i + 1;
			if (i + 1 < c.len && s[i + 1] == ':' && out->len - key_at > YAML_SIMPLE_KEY_MAX)
				explicit_key(out, key_at);
		} else if (in_str && s[i] == '\\')
			n = 2; /* JSON's escapes are YAML's */
		else if (in_str)
			esc = yaml_esc_high(s, i, c.len, tmp, &n);
		if (esc) {
			eds_buf_append(out, s + run, i - run);
			eds_buf_puts(out, esc);
			run = i + n;
		}
		i += n;
	}
	eds_buf_append(out, s + run, c.len - run);
	eds_buf_release(&c);
	return rc ? rc : limit_check(out, d);
}

enum yctx { YC_TOP, YC_KEY, YC_DASH };
struct yframe_out {
	bool map, inline_first, first;
	unsigned indent;
};

int eds_json_to_yaml(const char *json, size_t len, unsigned base, struct eds_buf *out,
		     struct eds_diag *d)
{
	struct jparse p;
	jp_init(&p, json, len, 0, (size_t)-1);
	struct yframe_out *fs = NULL;
	size_t nf = 0, capf = 0;
	struct eds_buf scratch = { 0 };
	enum yctx ctx = YC_TOP;
	size_t ndocs = 0;
	bool skip_end = false;
	int ev, rc = EDS_OK;
	while ((ev = jp_next(&p)) != JE_EOF) {
		if (ev == JE_ERR) {
			rc = eds_diag_setf(d, EDS_E_DECODE, "%s at byte %zu", p.l.err, p.l.es);
			break;
		}
		if (ev == JE_DONE) {
			ndocs++;
			ctx = YC_TOP;
			continue;
		}
		if (ev == JE_OBJ_END || ev == JE_ARR_END) {
			if (skip_end)
				skip_end = false;
			else
				nf--;
			continue;
		}
		struct yframe_out *f = nf ? &fs[nf - 1] : NULL;
		if (ev == JE_KEY) {
			if (!(f->first && f->inline_first))
				put_spaces(out, f->indent);
			f->first = false;
			size_t at = out->len;
			if (put_yaml_string(out, json + p.ks, p.ke - p.ks, memchr(json + p.ks, '\\', p.ke - p.ks) != NULL,
					    &scratch) < 0) {
				rc = eds_diag_setf(d, EDS_E_ENCODE, "a string with a lone UTF-16 surrogate cannot be written as YAML");
				break;
			}
			if (out->len - at > YAML_SIMPLE_KEY_MAX) {
				explicit_key(out, at); /* and ":" below it */
				eds_buf_putc(out, '\n');
				put_spaces(out, f->indent);
			}
			eds_buf_putc(out, ':');
			ctx = YC_KEY;
			continue;
		}
		if (!f && ctx == YC_TOP && ndocs > 0 && p.depth <= 1) {
			eds_buf_puts(out, "---\n");
			base = 0;
		}
		if (f && !f->map) {
			if (!(f->first && f->inline_first))
				put_spaces(out, f->indent);
			f->first = false;
			eds_buf_append(out, "- ", 2);
			ctx = YC_DASH;
		}
		if (ev == JE_SCALAR) {
			if (ctx == YC_KEY)
				eds_buf_putc(out, ' ');
			if (p.tok == JT_STR) {
				if (put_yaml_string(out, json + p.l.ts, p.l.te - p.l.ts, p.l.esc, &scratch) < 0) {
					rc = eds_diag_setf(d, EDS_E_ENCODE,
							   "a string with a lone UTF-16 surrogate cannot be written as YAML");
					break;
				}
			} else if (p.tok == JT_NUM) {
				put_yaml_number(out, json + p.l.ts, p.l.te - p.l.ts);
			} else {
				eds_buf_append(out, json + p.l.ts, p.l.te - p.l.ts);
			}
			eds_buf_putc(out, '\n');
			continue;
		}
		/* JE_OBJ or JE_ARR */
		if (p.empty) {
			eds_buf_puts(out, ctx == YC_KEY ? " " : "");
			eds_buf_puts(out, ev == JE_OBJ ? "{}\n" : "[]\n");
			skip_end = true;
			continue;
		}
		struct yframe_out nfr = { .map = ev == JE_OBJ, .first = true, .inline_first = ctx != YC_KEY };
		if (ctx == YC_TOP)
			nfr.indent = base;
		else if (ctx == YC_DASH || nfr.map)
			nfr.indent = f->indent + 2;
		else
			nfr.indent = f->indent; /* a sequence under a key: at the key's column */
		if (ctx == YC_KEY)
			eds_buf_putc(out, '\n');
		if (nf == capf) {
			capf = capf ? capf * 2 : 32;
			fs = xrealloc(fs, capf * sizeof *fs);
		}
		fs[nf++] = nfr;
	}
	free(fs);
	eds_buf_release(&scratch);
	jp_release(&p);
	return rc ? rc : limit_check(out, d);
}

/* ---------------------------------------------------------------------- */
/* YAML to JSON                                                            */

/* libyaml marks count characters (after a BOM); diagnostics want bytes. */
struct ycur {
	const unsigned char *s;
	size_t n, base, chars, bytes;
};

static size_t ycur_byte(struct ycur *c, size_t chars)
{
	while (c->chars < chars && c->bytes < c->n) {
		c->bytes++;
		while (c->bytes < c->n && (c->s[c->bytes] & 0xC0) == 0x80)
			c->bytes++;
		c->chars++;
	}
	while (c->chars > chars && c->bytes > c->base) {
		c->bytes--;
		while (c->bytes > c->base && (c->s[c->bytes] & 0xC0) == 0x80)
			c->bytes--;
		c->chars--;
	}
	return c->bytes;
}

struct yframe {
	bool map, flow, key_next;
	size_t count, node;
	size_t last_end; /* YAML end of the last child */
	char *anchor;
};

struct yanchor {
	char *name;
	size_t jstart, jend;
	bool scalar;
};

struct yconv {
	const struct eds_src *src;
	struct eds_yaml_json *out;
	struct eds_diag *d;
	struct ycur cur;
	struct yframe *st;
	size_t depth, cap;
	struct yanchor *anchors;
	size_t nanchors, acap;
	size_t max_json, max_depth;
};

static size_t mark_byte(struct yconv *c, yaml_mark_t m) { return ycur_byte(&c->cur, m.index); }

static int y_fail(struct yconv *c, enum eds_code code, yaml_mark_t s, yaml_mark_t e, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int y_fail(struct yconv *c, enum eds_code code, yaml_mark_t s, yaml_mark_t e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->d->msg, sizeof c->d->msg, fmt, ap);
	va_end(ap);
	c->d->code = code;
	size_t bs = mark_byte(c, s), be = mark_byte(c, e);
	while (be > bs && strchr(" \t\r\n", c->src->text[be - 1]))
		be--;
	return eds_diag_span(c->d, c->src, bs, be > bs ? be : bs + 1);
}

static size_t node_add(struct yconv *c, size_t jstart, size_t ys, size_t ye, uint8_t flags)
{
	struct eds_yaml_json *o = c->out;
	if (o->nnodes == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 1024;
		o->nodes = xrealloc(o->nodes, o->cap * sizeof *o->nodes);
	}
	o->nodes[o->nnodes] = (struct eds_yaml_node){ (uint32_t)jstart, (uint32_t)jstart, (uint32_t)ys,
						      (uint32_t)ye, flags };
	return o->nnodes++;
}

static void put_jstr(struct eds_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	eds_buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		eds_buf_append(b, s + run, i - run);
		run = i + 1;
		char esc[7] = { '\\', (char)ch, 0 };
		size_t len = 2;
		if (ch == '\n')
			esc[1] = 'n';
		else if (ch == '\t')
			esc[1] = 't';
		else if (ch == '\r')
			esc[1] = 'r';
		else if (ch < 0x20) {
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			len = 6;
		}
		eds_buf_append(b, esc, len);
	}
	eds_buf_append(b, s + run, n - run);
	eds_buf_putc(b, '"');
}

enum yres { R_STR, R_NULL, R_TRUE, R_FALSE, R_INT, R_OCT, R_HEX, R_FLOAT, R_INF, R_NINF, R_NAN };

static bool all_of(const char *s, size_t n, bool (*ok)(char))
{
	for (size_t i = 0; i < n; i++)
		if (!ok(s[i]))
			return false;
	return n > 0;
}
static bool is_oct(char c) { return c >= '0' && c <= '7'; }

/* The YAML 1.2 core schema's resolution of a plain scalar. */
static enum yres resolve_plain(const char *s, size_t n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL };
	static const char *const ninfs[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nans[] = { ".nan", ".NaN", ".NAN", NULL };
	if (word_in(s, n, nulls))
		return R_NULL;
	if (word_in(s, n, trues))
		return R_TRUE;
	if (word_in(s, n, falses))
		return R_FALSE;
	if (word_in(s, n, infs))
		return R_INF;
	if (word_in(s, n, ninfs))
		return R_NINF;
	if (word_in(s, n, nans))
		return R_NAN;
	if (n > 2 && s[0] == '0' && s[1] == 'o' && all_of(s + 2, n - 2, is_oct))
		return R_OCT;
	if (n > 2 && s[0] == '0' && s[1] == 'x' && all_of(s + 2, n - 2, is_hex))
		return R_HEX;
	size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
	if (all_of(s + i, n - i, is_digit))
		return R_INT;
	/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
	size_t k = i, intd = 0, fracd = 0;
	while (k < n && is_digit(s[k]))
		k++, intd++;
	if (k < n && s[k] == '.') {
		k++;
		while (k < n && is_digit(s[k]))
			k++, fracd++;
	}
	if (intd == 0 && fracd == 0)
		return R_STR;
	if (k < n && (s[k] == 'e' || s[k] == 'E')) {
		k++;
		if (k < n && (s[k] == '-' || s[k] == '+'))
			k++;
		size_t ed = 0;
		while (k < n && is_digit(s[k]))
			k++, ed++;
		if (!ed)
			return R_STR;
	}
	return k == n ? R_FLOAT : R_STR;
}

/* Append the JSON form of a resolved number; -1 if it does not fit. */
static int put_json_number(struct eds_buf *b, const char *s, size_t n, enum yres r)
{
	if (r == R_OCT || r == R_HEX) {
		uint64_t v = 0;
		unsigned radix = r == R_OCT ? 8 : 16;
		for (size_t i = 2; i < n; i++) {
			unsigned dgt = is_digit(s[i]) ? (unsigned)(s[i] - '0')
				       : (unsigned)((s[i] | 0x20) - 'a' + 10);
			if (v > (UINT64_MAX - dgt) / radix)
				return -1;
			v = v * radix + dgt;
		}
		char tmp[24];
		int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
		eds_buf_append(b, tmp, (size_t)k);
		return 0;
	}
	size_t i = 0;
	if (s[0] == '-' || s[0] == '+') {
		if (s[0] == '-')
			eds_buf_putc(b, '-');
		i = 1;
	}
	size_t ds = i;
	while (i < n && is_digit(s[i]))
		i++;
	size_t de = i;
	while (ds + 1 < de && s[ds] == '0')
		ds++;
	if (ds == de)
		eds_buf_putc(b, '0');
	else
		eds_buf_append(b, s + ds, de - ds);
	if (i < n && s[i] == '.') {
		size_t fs = ++i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i > fs) {
			eds_buf_putc(b, '.');
			eds_buf_append(b, s + fs, i - fs);
		}
	}
	if (i < n) /* exponent */
		eds_buf_append(b, s + i, n - i);
	return 0;
}

static int j_overflow(struct yconv *c, yaml_mark_t s, yaml_mark_t e)
{
	if (c->out->json.len <= c->max_json)
		return EDS_OK;
	return y_fail(c, EDS_E_LIMIT, s, e,
		      "YAML expands to more than %zu bytes of JSON (aliases nested too deep?)", c->max_json);
}

static void anchor_add(struct yconv *c, char *name, size_t js, size_t je, bool scalar)
{
	if (c->nanchors == c->acap) {
		c->acap = c->acap ? c->acap * 2 : 16;
		c->anchors = xrealloc(c->anchors, c->acap * sizeof *c->anchors);
	}
	c->anchors[c->nanchors++] = (struct yanchor){ name, js, je, scalar };
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

/* Before a value: the separator its parent needs. */
static void value_prefix(struct yconv *c)
{
	if (c->depth && !c->st[c->depth - 1].map && c->st[c->depth - 1].count)
		eds_buf_putc(&c->out->json, ',');
}

static void value_done(struct yconv *c, size_t yend)
{
	if (!c->depth)
		return;
	struct yframe *f = &c->st[c->depth - 1];
	f->last_end = yend;
	f->count++;
	f->key_next = f->map;
}

static size_t trim_end(const struct yconv *c, size_t s, size_t e)
{
	while (e > s && strchr(" \t\r\n", c->src->text[e - 1]))
		e--;
	return e;
}

static int put_key(struct yconv *c, const char *s, size_t n, bool as_json, size_t ys, size_t ye, bool flow)
{
	struct eds_buf *j = &c->out->json;
	struct yframe *f = &c->st[c->depth - 1];
	if (f->count)
		eds_buf_putc(j, ',');
	size_t js = j->len;
	if (as_json && n && s[0] == '"') {
		eds_buf_append(j, s, n);
	} else if (as_json) {
		eds_buf_putc(j, '"');
		eds_buf_append(j, s, n);
		eds_buf_putc(j, '"');
	} else {
		put_jstr(j, s, n);
	}
	size_t k = node_add(c, js, ys, ye, EDS_YN_KEY | (flow ? EDS_YN_FLOW : 0));
	c->out->nodes[k].jend = (uint32_t)j->len;
	eds_buf_putc(j, ':');
	f->key_next = false;
	return EDS_OK;
}

static int on_scalar(struct yconv *c, yaml_event_t *e)
{
	struct eds_buf *j = &c->out->json;
	const char *v = (const char *)e->data.scalar.value;
	size_t n = e->data.scalar.length;
	size_t ys = mark_byte(c, e->start_mark);
	size_t ye = trim_end(c, ys, mark_byte(c, e->end_mark));
	struct yframe *f = c->depth ? &c->st[c->depth - 1] : NULL;
	bool flow = f && f->flow;
	if (f && f->map && f->key_next)
		return put_key(c, v, n, false, ys, ye, flow);
	const char *tag = (const char *)e->data.scalar.tag;
	enum yres r;
	if (tag && strcmp(tag, "!") != 0) {
		if (strncmp(tag, YAML_TAG, strlen(YAML_TAG)) != 0)
			return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark, "unsupported YAML tag \"%.80s\"", tag);
		const char *t = tag + strlen(YAML_TAG);
		r = resolve_plain(v, n);
		if (strcmp(t, "str") == 0 || strcmp(t, "binary") == 0)
			r = R_STR;
		else if (strcmp(t, "null") == 0)
			r = R_NULL;
		else if ((strcmp(t, "bool") == 0 && r != R_TRUE && r != R_FALSE) ||
			 (strcmp(t, "int") == 0 && r != R_INT && r != R_OCT && r != R_HEX) ||
			 (strcmp(t, "float") == 0 && (r < R_INT || r > R_NAN)))
			return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark, "\"%.60s\" is not a valid !!%s",
				      v, t);
		else if (strcmp(t, "bool") != 0 && strcmp(t, "int") != 0 && strcmp(t, "float") != 0)
			return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark,
				      "unsupported YAML tag \"!!%.60s\" for a scalar", t);
		if (strcmp(t, "binary") == 0) {
			/* base64 as JSON has it: without the line breaks (what is
			 * not base64 is escaped, for the JSON decoder to refuse) */
			value_prefix(c);
			size_t js = j->len, nb = 0;
			char *b64 = malloc(n ? n : 1);
			if (!b64)
				abort();
			for (size_t i = 0; i < n; i++)
				if (!strchr(" \t\r\n", v[i]))
					b64[nb++] = v[i];
			put_jstr(j, b64, nb);
			free(b64);
			size_t k = node_add(c, js, ys, ye, flow ? EDS_YN_FLOW : 0);
			c->out->nodes[k].jend = (uint32_t)j->len;
			value_done(c, ye);
			return EDS_OK;
		}
	} else if (tag || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		r = R_STR;
	} else {
		r = resolve_plain(v, n);
	}
	value_prefix(c);
	size_t js = j->len;
	switch (r) {
	case R_STR: put_jstr(j, v, n); break;
	case R_NULL: eds_buf_puts(j, "null"); break;
	case R_TRUE: eds_buf_puts(j, "true"); break;
	case R_FALSE: eds_buf_puts(j, "false"); break;
	case R_INF: eds_buf_puts(j, "\"Infinity\""); break;
	case R_NINF: eds_buf_puts(j, "\"-Infinity\""); break;
	case R_NAN: eds_buf_puts(j, "\"NaN\""); break;
	default:
		if (put_json_number(j, v, n, r) < 0)
			return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark,
				      "%.60s is too large for an integer", v);
	}
	size_t k = node_add(c, js, ys, ye, (flow ? EDS_YN_FLOW : 0) | (e->data.scalar.anchor ? EDS_YN_ANCHOR : 0));
	c->out->nodes[k].jend = (uint32_t)j->len;
	if (e->data.scalar.anchor)
		anchor_add(c, xstrdup((const char *)e->data.scalar.anchor), js, j->len, true);
	value_done(c, ye);
	return EDS_OK;
}

static int on_start(struct yconv *c, yaml_event_t *e, bool map)
{
	struct yframe *f = c->depth ? &c->st[c->depth - 1] : NULL;
	if (f && f->map && f->key_next)
		return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark,
			      "a mapping key must be a scalar, not a %s", map ? "mapping" : "sequence");
	if (c->depth >= c->max_depth)
		return y_fail(c, EDS_E_LIMIT, e->start_mark, e->end_mark,
			      "YAML nested deeper than %zu levels (--max-depth)", c->max_depth);
	const char *tag = map ? (const char *)e->data.mapping_start.tag : (const char *)e->data.sequence_start.tag;
	if (tag && strcmp(tag, "!") != 0 && strcmp(tag, map ? YAML_TAG "map" : YAML_TAG "seq") != 0)
		return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark, "unsupported YAML tag \"%.80s\" for a %s",
			      tag, map ? "mapping" : "sequence");
	const char *anchor = map ? (const char *)e->data.mapping_start.anchor : (const char *)e->data.sequence_start.anchor;
	bool flow = (f && f->flow) || (map ? e->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE
					     : e->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE);
	value_prefix(c);
	struct eds_buf *j = &c->out->json;
	size_t js = j->len;
	eds_buf_putc(j, map ? '{' : '[');
	size_t ys = mark_byte(c, e->start_mark);
	size_t k = node_add(c, js, ys, ys, EDS_YN_COLLECTION | (flow ? EDS_YN_FLOW : 0) |
					      (anchor ? EDS_YN_ANCHOR : 0));
	if (c->depth == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 32;
		c->st = xrealloc(c->st, c->cap * sizeof *c->st);
	}
	c->st[c->depth++] = (struct yframe){ .map = map, .flow = flow, .key_next = map, .node = k,
					     .last_end = ys, .anchor = anchor ? xstrdup(anchor) : NULL };
	return EDS_OK;
}

static int on_end(struct yconv *c, yaml_event_t *e)
{
	struct yframe f = c->st[--c->depth];
	struct eds_buf *j = &c->out->json;
	eds_buf_putc(j, f.map ? '}' : ']');
	struct eds_yaml_node *nd = &c->out->nodes[f.node];
	nd->jend = (uint32_t)j->len;
	/* A block collection ends with its last child; libyaml's end mark is
	 * at the next token, past blank lines and comments. */
	size_t ye = f.flow || f.count == 0 ? mark_byte(c, e->end_mark) : f.last_end;
	nd->yend = (uint32_t)trim_end(c, nd->ystart, ye);
	if (f.anchor)
		anchor_add(c, f.anchor, nd->jstart, nd->jend, false);
	value_done(c, nd->yend);
	return j_overflow(c, e->start_mark, e->end_mark);
}

static int on_alias(struct yconv *c, yaml_event_t *e)
{
	const char *name = (const char *)e->data.alias.anchor;
	struct yanchor *a = NULL;
	for (size_t i = c->nanchors; i-- > 0;) {
		if (strcmp(c->anchors[i].name, name) == 0) {
			a = &c->anchors[i];
			break;
		}
	}
	if (!a)
		return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark, "unknown alias \"*%.60s\"", name);
	struct eds_buf *j = &c->out->json;
	size_t ys = mark_byte(c, e->start_mark), ye = trim_end(c, ys, mark_byte(c, e->end_mark));
	struct yframe *f = c->depth ? &c->st[c->depth - 1] : NULL;
	bool flow = f && f->flow;
	if (f && f->map && f->key_next) {
		if (!a->scalar)
			return y_fail(c, EDS_E_DECODE, e->start_mark, e->end_mark,
				      "a mapping key must be a scalar: \"*%.60s\" is a collection", name);
		size_t js = a->jstart, n = a->jend - a->jstart;
		char *tmp = malloc(n ? n : 1);
		if (!tmp)
			abort();
		memcpy(tmp, j->data + js, n);
		put_key(c, tmp, n, true, ys, ye, flow);
		free(tmp);
		return EDS_OK;
	}
	value_prefix(c);
	size_t js = j->len, n = a->jend - a->jstart;
	if (js + n > c->max_json)
		return y_fail(c, EDS_E_LIMIT, e->start_mark, e->end_mark,
			      "YAML expands to more than %zu bytes of JSON (aliases nested too deep?)", c->max_json);
	if (eds_buf_reserve(j, n) == 0) {
		memcpy(j->data + j->len, j->data + a->jstart, n);
		j->len += n;
	}
	size_t k = node_add(c, js, ys, ye, EDS_YN_ANCHOR | (flow ? EDS_YN_FLOW : 0) |
					      (a->scalar ? 0 : EDS_YN_COLLECTION));
	c->out->nodes[k].jend = (uint32_t)j->len;
	value_done(c, ye);
	return EDS_OK;
}

static int parse_error(struct yconv *c, yaml_parser_t *p)
{
	struct eds_diag *d = c->d;
	if (p->error == YAML_MEMORY_ERROR)
		abort();
	if (p->error == YAML_READER_ERROR) {
		eds_diag_setf(d, EDS_E_DECODE, "invalid YAML: %s", p->problem ? p->problem : "unreadable input");
		size_t off = p->problem_offset < c->src->len ? p->problem_offset : c->src->len;
		return eds_diag_span(d, c->src, off, off + 1 <= c->src->len ? off + 1 : off);
	}
	if (p->context)
		eds_diag_setf(d, EDS_E_DECODE, "invalid YAML: %s (%s that starts on line %zu)",
			      p->problem ? p->problem : "error", p->context, p->context_mark.line + 1);
	else
		eds_diag_setf(d, EDS_E_DECODE, "invalid YAML: %s", p->problem ? p->problem : "error");
	size_t b = mark_byte(c, p->problem_mark);
	size_t e = b;
	if (e < c->src->len) {
		e++;
		while (e < c->src->len && ((unsigned char)c->src->text[e] & 0xC0) == 0x80)
			e++;
	}
	return eds_diag_span(d, c->src, b, e);
}

int eds_yaml_to_json(const struct eds_src *src, const struct eds_limits *lim,
		     struct eds_yaml_json *out, struct eds_diag *d)
{
	memset(out, 0, sizeof *out);
	if (src->len >= 2 && ((unsigned char)src->text[0] == 0xFE || (unsigned char)src->text[0] == 0xFF) &&
	    ((unsigned char)src->text[1] == 0xFE || (unsigned char)src->text[1] == 0xFF)) {
		eds_diag_setf(d, EDS_E_DECODE, "invalid YAML: only UTF-8 is supported (this is UTF-16)");
		return eds_diag_span(d, src, 0, 2);
	}
	if (src->len > UINT32_MAX / 8) {
		eds_diag_setf(d, EDS_E_LIMIT, "YAML input larger than %u bytes", UINT32_MAX / 8);
		return eds_diag_offset(d, src, 0);
	}
	struct yconv c = { .src = src, .out = out, .d = d };
	c.cur.s = (const unsigned char *)src->text;
	c.cur.n = src->len;
	if (src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0)
		c.cur.base = c.cur.bytes = 3;
	c.max_json = src->len * 8 + 65536;
	c.max_depth = (size_t)lim->max_depth * 2 + 8;
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		abort();
	yaml_parser_set_input_string(&p, (const unsigned char *)src->text, src->len);
	int rc = EDS_OK;
	for (bool done = false; !done && !rc;) {
		yaml_event_t e;
		if (!yaml_parser_parse(&p, &e)) {
			rc = parse_error(&c, &p);
			break;
		}
		switch (e.type) {
		case YAML_DOCUMENT_START_EVENT:
			for (size_t i = 0; i < c.nanchors; i++)
				free(c.anchors[i].name);
			c.nanchors = 0;
			break;
		case YAML_DOCUMENT_END_EVENT:
			eds_buf_putc(&out->json, '\n');
			out->ndocs++;
			break;
		case YAML_SCALAR_EVENT: rc = on_scalar(&c, &e); break;
		case YAML_MAPPING_START_EVENT: rc = on_start(&c, &e, true); break;
		case YAML_SEQUENCE_START_EVENT: rc = on_start(&c, &e, false); break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT: rc = on_end(&c, &e); break;
		case YAML_ALIAS_EVENT: rc = on_alias(&c, &e); break;
		case YAML_STREAM_END_EVENT: done = true; break;
		default: break;
		}
		yaml_event_delete(&e);
	}
	yaml_parser_delete(&p);
	eds_buf_putc(&out->json, '\0'); /* a C string too, for the callers' convenience */
	out->json.len--;
	for (size_t i = 0; i < c.depth; i++)
		free(c.st[i].anchor);
	free(c.st);
	for (size_t i = 0; i < c.nanchors; i++)
		free(c.anchors[i].name);
	free(c.anchors);
	return rc;
}

void eds_yaml_json_release(struct eds_yaml_json *yj)
{
	eds_buf_release(&yj->json);
	free(yj->nodes);
	memset(yj, 0, sizeof *yj);
}

const struct eds_yaml_node *eds_yaml_json_node(const struct eds_yaml_json *yj, size_t off)
{
	size_t lo = 0, hi = yj->nnodes;
	while (lo < hi) { /* the first node starting after off */
		size_t mid = lo + (hi - lo) / 2;
		if (yj->nodes[mid].jstart <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i-- > 0;)
		if (yj->nodes[i].jend > off || (yj->nodes[i].jstart == off && yj->nodes[i].jend == off))
			return &yj->nodes[i];
	return NULL;
}

void eds_yaml_json_remap(const struct eds_yaml_json *yj, const struct eds_src *jsrc,
			 const struct eds_src *yaml, struct eds_diag *d)
{
	if (d->src != jsrc)
		return;
	d->src = yaml;
	if (d->loc == EDS_LOC_NONE)
		return;
	size_t off = d->span.start;
	if (off > 0 && off >= jsrc->len)
		off = jsrc->len - 1;
	const struct eds_yaml_node *nd = eds_yaml_json_node(yj, off);
	if (!nd) {
		d->loc = EDS_LOC_NONE;
		return;
	}
	eds_diag_span(d, yaml, nd->ystart, nd->yend > nd->ystart ? nd->yend : nd->ystart);
}

/* ---------------------------------------------------------------------- */
/* The codec                                                               */

static const char *json_kind(char c)
{
	switch (c) {
	case '{': return "a mapping";
	case '[': return "a sequence";
	case '"': return "a string";
	case 'n': return "null";
	case 't': case 'f': return "a bool";
	default: return "a number";
	}
}

int eds_yaml_decode(const ProtobufCMessageDescriptor *desc, const struct eds_src *src,
		    struct eds_arena *arena, const struct eds_limits *lim, ProtobufCMessage **out,
		    struct eds_diag *d)
{
	if (lim->max_input && src->len > lim->max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)",
			      src->len, lim->max_input);
		return eds_diag_offset(d, src, lim->max_input);
	}
	struct eds_yaml_json yj;
	int rc = eds_yaml_to_json(src, lim, &yj, d);
	if (rc) {
		eds_yaml_json_release(&yj);
		return rc;
	}
	if (yj.ndocs == 0) {
		d->src = src;
		rc = eds_diag_setf(d, EDS_E_DECODE, "empty input: no %s in it", desc->name);
	} else if (yj.ndocs > 1) {
		const char *nl = memchr(yj.json.data, '\n', yj.json.len);
		const struct eds_yaml_node *nd = eds_yaml_json_node(&yj, (size_t)(nl - yj.json.data) + 1);
		eds_diag_setf(d, EDS_E_DECODE,
			      "a YAML stream of %zu documents where one %s was expected (--container list reads them all)",
			      yj.ndocs, desc->name);
		d->src = src;
		rc = nd ? eds_diag_span(d, src, nd->ystart, nd->yend) : EDS_E_DECODE;
	} else if (yj.json.data[0] != '{') {
		eds_diag_setf(d, EDS_E_DECODE, "expected a YAML mapping (%s), got %s", desc->name,
			      json_kind(yj.json.data[0]));
		rc = eds_diag_span(d, src, yj.nodes[0].ystart, yj.nodes[0].yend);
	} else {
		struct eds_src jsrc = { .name = src->name, .text = yj.json.data, .len = yj.json.len - 1 };
		struct eds_limits l2 = *lim;
		l2.max_input = SIZE_MAX; /* the YAML was measured */
		rc = eds_json_decode(desc, &jsrc, arena, &l2, out, d);
		if (rc)
			eds_yaml_json_remap(&yj, &jsrc, src, d);
	}
	eds_yaml_json_release(&yj);
	return rc;
}

int eds_yaml_encode(const ProtobufCMessage *msg, const struct eds_encode_opts *opts,
		    struct eds_buf *out, struct eds_diag *d)
{
	struct eds_buf j = { .max = out->max };
	struct eds_encode_opts jo = { .pretty = false, .proto_names = opts->proto_names };
	int rc = eds_json_encode(msg, &jo, &j, d);
	if (!rc)
		rc = eds_json_to_yaml(j.data, j.len, 0, out, d);
	eds_buf_release(&j);
	return rc;
}

int eds_yaml_locate(const struct eds_src *src, const char *path, size_t *start, size_t *end)
{
	struct eds_yaml_json yj;
	struct eds_diag d = { 0 };
	struct eds_limits lim = eds_limits_default;
	lim.max_depth = 10000;
	int rc = -1;
	if (eds_yaml_to_json(src, &lim, &yj, &d) == EDS_OK && yj.ndocs) {
		struct eds_src jsrc = { .name = src->name, .text = yj.json.data, .len = yj.json.len };
		size_t js, je;
		rc = eds_json_locate(&jsrc, path, &js, &je);
		const struct eds_yaml_node *nd = rc >= 0 ? eds_yaml_json_node(&yj, js) : NULL;
		if (nd) {
			*start = nd->ystart;
			*end = nd->yend;
		} else {
			rc = -1;
		}
	}
	eds_yaml_json_release(&yj);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* YAML or protobuf text format?                                           */

int eds_yaml_detect(const char *s, size_t n)
{
	if (n > 65536)
		n = 65536;
	size_t i = 0;
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	for (unsigned lines = 0; i < n && lines < 400; lines++) {
		size_t ls = i;
		while (i < n && s[i] != '\n')
			i++;
		size_t le = i++;
		size_t k = ls;
		while (k < le && (s[k] == ' ' || s[k] == '\t'))
			k++;
		if (k == le || s[k] == '#' || s[k] == '\r')
			continue;
		const char *p = s + k;
		size_t len = le - k;
		if ((len >= 3 && (memcmp(p, "---", 3) == 0 || memcmp(p, "...", 3) == 0)) || p[0] == '%')
			return 1;
		if (p[0] == '-' && (len == 1 || p[1] == ' ' || p[1] == '\r'))
			return 1;
		if (p[0] == '}' || p[0] == '>' || p[0] == '[' || p[0] == '{')
			return -1;
		if (p[0] == '"' || p[0] == '\'')
			return 1; /* a quoted key: text format has none */
		size_t m = 0;
		bool upper = false;
		while (m < len && (p[m] == '_' || (p[m] >= 'a' && p[m] <= 'z') || (p[m] >= 'A' && p[m] <= 'Z') ||
				   (m && is_digit(p[m])))) {
			upper |= p[m] >= 'A' && p[m] <= 'Z';
			m++;
		}
		if (m == 0)
			return -1;
		while (m < len && (p[m] == ' ' || p[m] == '\t'))
			m++;
		if (m == len || p[m] == '{' || p[m] == '<' || p[m] == '[')
			return -1;
		if (p[m] != ':')
			return -1;
		if (upper)
			return 1; /* camelCase names are JSON's (and YAML's) */
		m++;
		while (m < len && (p[m] == ' ' || p[m] == '\t'))
			m++;
		if (m == len || p[m] == '#' || p[m] == '\r')
			return 1; /* "key:" and the value on the next lines */
		if (strchr("|>&*!", p[m]))
			return 1;
		if (p[m] == '<')
			return -1;
		/* "key: [...]" and "key: {...}" are text format and YAML alike:
		 * undecided (text is tried first, then YAML) */
	}
	return 0;
}
