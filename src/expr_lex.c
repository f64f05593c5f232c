/*
 * Lexer of the rules language.  Newlines are tokens (they end rules and
 * actions); the parser skips them where a rule cannot end.  Strings take
 * JSON's escapes plus \' and may be written '...' too; they are decoded
 * into the program arena, NUL-terminated, and must be valid UTF-8 without
 * NUL (protobuf strings from our decoders never hold one).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "expr.h"

__attribute__((format(printf, 6, 0)))
static void verror(struct eds_diags *errs, enum eds_code code, const struct eds_src *src, size_t start,
		   size_t end, const char *fmt, va_list ap)
{
	if (errs->n > EDS_RULES_MAX_ERRORS)
		return;
	struct eds_diag *d = eds_diags_add(errs);
	if (errs->n > EDS_RULES_MAX_ERRORS) {
		eds_diag_setf(d, EDS_E_RULES, "too many errors, giving up");
		eds_diag_span(d, src, start, end);
		return;
	}
	vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	d->code = code;
	d->severity = EDS_SEV_ERROR;
	eds_diag_span(d, src, start, end);
}

void eds_expr_error(struct eds_diags *errs, const struct eds_src *src, size_t start, size_t end,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(errs, EDS_E_RULES, src, start, end, fmt, ap);
	va_end(ap);
}

void eds_expr_limit(struct eds_diags *errs, const struct eds_src *src, size_t start, size_t end,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(errs, EDS_E_LIMIT, src, start, end, fmt, ap);
	va_end(ap);
}

void eds_lex_init(struct eds_lexer *lx, const struct eds_src *src, const struct eds_src *diag_src,
		  struct eds_arena *arena, struct eds_diags *errs)
{
	lx->src = src;
	lx->diag_src = diag_src;
	lx->pos = 0;
	lx->arena = arena;
	lx->errs = errs;
	/* A UTF-8 byte order mark is not part of the program. */
	if (src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0)
		lx->pos = 3;
}

static int is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int read_u4(const char *s, size_t avail, unsigned *cp)
{
	if (avail < 4)
		return -1;
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval((unsigned char)s[i]);
		if (h < 0)
			return -1;
		v = v * 16 + (unsigned)h;
	}
	*cp = v;
	return 0;
}

static void lex_string(struct eds_lexer *lx, struct eds_token *t)
{
	const char *s = lx->src->text;
	size_t n = lx->src->len, i = lx->pos;
	char q = s[i++];
	size_t start = lx->pos;
	/* Decoded text is never longer than the source text. */
	size_t j = i;
	while (j < n && s[j] != q && s[j] != '\n') {
		if (s[j] == '\\' && j + 1 < n && s[j + 1] != '\n')
			j++;
		j++;
	}
	char *o = eds_arena_alloc(lx->arena, j - i + 1);
	size_t olen = 0;
	bool bad = false;
	while (i < n && s[i] != q) {
		if (s[i] == '\n')
			break;
		if (s[i] == '\0' && !bad) {
			eds_expr_error(lx->errs, lx->diag_src, i, i + 1, "NUL character in string (not supported)");
			bad = true;
		}
		if (s[i] != '\\') {
			o[olen++] = s[i++];
			continue;
		}
		size_t esc = i++;
		if (i >= n || s[i] == '\n')
			break;
		char c = s[i++];
		switch (c) {
		case '"': o[olen++] = '"'; break;
		case '\'': o[olen++] = '\''; break;
		case '\\': o[olen++] = '\\'; break;
		case '/': o[olen++] = '/'; break;
		case 'b': o[olen++] = '\b'; break;
		case 'f': o[olen++] = '\f'; break;
		case 'n': o[olen++] = '\n'; break;
		case 'r': o[olen++] = '\r'; break;
		case 't': o[olen++] = '\t'; break;
		case 'u': {
			unsigned cp;
			if (read_u4(s + i, n - i, &cp)) {
				eds_expr_error(lx->errs, lx->diag_src, esc, i, "'\\u' needs 4 hex digits");
				bad = true;
				break;
			}
			i += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;
				if (i + 1 < n && s[i] == '\\' && s[i + 1] == 'u' &&
				    !read_u4(s + i + 2, n - i - 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
					i += 6;
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				} else {
					eds_expr_error(lx->errs, lx->diag_src, esc, i,
						       "unpaired surrogate '\\u%04X' in string", cp);
					bad = true;
					break;
				}
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				eds_expr_error(lx->errs, lx->diag_src, esc, i,
					       "unpaired surrogate '\\u%04X' in string", cp);
				bad = true;
				break;
			}
			if (cp == 0) {
				eds_expr_error(lx->errs, lx->diag_src, esc, i,
					       "NUL character in string (not supported)");
				bad = true;
				break;
			}
			olen += put_utf8(o + olen, cp);
			break;
		}
		default:
			eds_expr_error(lx->errs, lx->diag_src, esc, i, "unknown escape '\\%c' in string",
				       (unsigned char)c >= 0x20 && (unsigned char)c < 0x7F ? c : '?');
			bad = true;
			break;
		}
	}
	if (i >= n || s[i] != q) {
		eds_expr_error(lx->errs, lx->diag_src, start, start + 1, "unterminated string");
		lx->pos = i;
		t->kind = EDS_T_ERROR;
		t->end = (uint32_t)i;
		return;
	}
	i++;
	lx->pos = i;
	t->end = (uint32_t)i;
	o[olen] = '\0';
	size_t ok = eds_utf8_valid_prefix(o, olen);
	if (!bad && ok < olen) {
		eds_expr_error(lx->errs, lx->diag_src, start, i, "invalid UTF-8 in string");
		bad = true;
	}
	t->kind = bad ? EDS_T_ERROR : EDS_T_STRING;
	t->s = o;
	t->len = olen;
}

static void lex_number(struct eds_lexer *lx, struct eds_token *t)
{
	const char *s = lx->src->text;
	size_t n = lx->src->len, i = lx->pos;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i < n && s[i] == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t k = i + 1;
		if (k < n && (s[k] == '+' || s[k] == '-'))
			k++;
		if (k < n && s[k] >= '0' && s[k] <= '9') {
			while (k < n && s[k] >= '0' && s[k] <= '9')
				k++;
			i = k;
		}
	}
	t->end = (uint32_t)i;
	if (i < n && is_ident(s[i])) {
		size_t e = i;
		while (e < n && is_ident(s[e]))
			e++;
		eds_expr_error(lx->errs, lx->diag_src, lx->pos, e, "invalid number \"%.*s\"",
			       (int)(e - lx->pos), s + lx->pos);
		lx->pos = e;
		t->kind = EDS_T_ERROR;
		t->end = (uint32_t)e;
		return;
	}
	/* The source copy is NUL-terminated and the number ends at a
	 * non-number byte, so strtod stops exactly at i.  The program never
	 * calls setlocale: strtod uses the "C" locale's '.'. */
	char *end;
	double v = strtod(s + lx->pos, &end);
	if (!isfinite(v)) {
		eds_expr_error(lx->errs, lx->diag_src, lx->pos, i, "number \"%.*s\" is too large",
			       (int)(i - lx->pos), s + lx->pos);
		t->kind = EDS_T_ERROR;
	} else {
		t->kind = EDS_T_NUMBER;
		t->num = v;
	}
	lx->pos = i;
}

void eds_lex_next(struct eds_lexer *lx, struct eds_token *t)
{
	const char *s = lx->src->text;
	size_t n = lx->src->len;
	memset(t, 0, sizeof *t);
again:
	while (lx->pos < n && (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\r' ||
			       s[lx->pos] == '\f' || s[lx->pos] == '\v'))
		lx->pos++;
	/* A backslash before a newline continues the line, as in sh and awk. */
	if (lx->pos + 1 < n && s[lx->pos] == '\\' &&
	    (s[lx->pos + 1] == '\n' || (s[lx->pos + 1] == '\r' && lx->pos + 2 < n && s[lx->pos + 2] == '\n'))) {
		lx->pos += s[lx->pos + 1] == '\n' ? 2 : 3;
		goto again;
	}
	if (lx->pos < n && s[lx->pos] == '#') {
		while (lx->pos < n && s[lx->pos] != '\n')
			lx->pos++;
	}
	t->start = t->end = (uint32_t)lx->pos;
	/* Past the error cap nothing more is reported: stop reading (a 64M
	 * file of garbage would otherwise take seconds to skip). */
	if (lx->pos >= n || lx->errs->n > EDS_RULES_MAX_ERRORS) {
		t->kind = EDS_T_EOF;
		return;
	}
	size_t i = lx->pos;
	unsigned char c = (unsigned char)s[i];
	char c1 = i + 1 < n ? s[i + 1] : '\0';
	if (is_ident_start(c)) {
		size_t e = i + 1;
		while (e < n && is_ident(s[e]))
			e++;
		t->kind = EDS_T_IDENT;
		t->s = s + i;
		t->len = e - i;
		t->end = (uint32_t)e;
		lx->pos = e;
		return;
	}
	if (c >= '0' && c <= '9') {
		lex_number(lx, t);
		return;
	}
	if (c == '"' || c == '\'') {
		lex_string(lx, t);
		return;
	}
	enum eds_tok k;
	size_t len = 1;
	switch (c) {
	case '\n': k = EDS_T_NL; break;
	case '{': k = EDS_T_LBRACE; break;
	case '}': k = EDS_T_RBRACE; break;
	case '(': k = EDS_T_LPAREN; break;
	case ')': k = EDS_T_RPAREN; break;
	case '[': k = EDS_T_LBRACK; break;
	case ']': k = EDS_T_RBRACK; break;
	case '.': k = EDS_T_DOT; break;
	case ',': k = EDS_T_COMMA; break;
	case ';': k = EDS_T_SEMI; break;
	case ':': k = EDS_T_COLON; break;
	case '+': k = EDS_T_PLUS; break;
	case '-': k = EDS_T_MINUS; break;
	case '=':
		if (c1 == '=') {
			k = EDS_T_EQ;
			len = 2;
		} else if (c1 == '~') {
			k = EDS_T_MATCH;
			len = 2;
		} else {
			k = EDS_T_ASSIGN;
		}
		break;
	case '!':
		if (c1 == '=') {
			k = EDS_T_NE;
			len = 2;
		} else if (c1 == '~') {
			k = EDS_T_NMATCH;
			len = 2;
		} else {
			k = EDS_T_BANG;
		}
		break;
	case '<':
		k = c1 == '=' ? EDS_T_LE : EDS_T_LT;
		len = c1 == '=' ? 2 : 1;
		break;
	case '>':
		k = c1 == '=' ? EDS_T_GE : EDS_T_GT;
		len = c1 == '=' ? 2 : 1;
		break;
	case '&':
		if (c1 == '&') {
			k = EDS_T_ANDAND;
			len = 2;
			break;
		}
		goto bad;
	case '|':
		if (c1 == '|') {
			k = EDS_T_OROR;
			len = 2;
			break;
		}
		goto bad;
	case '$':
		if (c1 >= '0' && c1 <= '9' && !(i + 2 < n && s[i + 2] >= '0' && s[i + 2] <= '9')) {
			t->kind = EDS_T_CAPTURE;
			t->num = c1 - '0';
			t->end = (uint32_t)(i + 2);
			lx->pos = i + 2;
			return;
		}
		{
			size_t e = i + 1;
			while (e < n && is_ident(s[e]))
				e++;
			eds_expr_error(lx->errs, lx->diag_src, i, e,
				       "'$' must be followed by one digit ($0 to $9)");
			t->kind = EDS_T_ERROR;
			t->end = (uint32_t)e;
			lx->pos = e;
			return;
		}
	default:
	bad : {
		/* Report a whole UTF-8 character, not a byte of it. */
		size_t e = i + 1;
		while (e < n && ((unsigned char)s[e] & 0xC0) == 0x80)
			e++;
		if (c >= 0x20 && c < 0x7F)
			eds_expr_error(lx->errs, lx->diag_src, i, e, "unexpected character '%c'", c);
		else if (c >= 0x80 && eds_utf8_valid_prefix(s + i, e - i) == e - i)
			eds_expr_error(lx->errs, lx->diag_src, i, e, "unexpected character '%.*s'",
				       (int)(e - i), s + i);
		else
			eds_expr_error(lx->errs, lx->diag_src, i, e, "unexpected byte 0x%02X", c);
		t->kind = EDS_T_ERROR;
		t->end = (uint32_t)e;
		lx->pos = e;
		return;
	}
	}
	t->kind = k;
	t->end = (uint32_t)(i + len);
	lx->pos = i + len;
}

void eds_tok_describe(const struct eds_token *t, char *out, size_t size)
{
	static const char *const punct[] = {
		[EDS_T_LBRACE] = "{", [EDS_T_RBRACE] = "}", [EDS_T_LPAREN] = "(",
		[EDS_T_RPAREN] = ")", [EDS_T_LBRACK] = "[", [EDS_T_RBRACK] = "]",
		[EDS_T_DOT] = ".",    [EDS_T_COMMA] = ",",  [EDS_T_SEMI] = ";",
		[EDS_T_COLON] = ":",  [EDS_T_ASSIGN] = "=", [EDS_T_EQ] = "==",
		[EDS_T_NE] = "!=",    [EDS_T_LT] = "<",     [EDS_T_LE] = "<=",
		[EDS_T_GT] = ">",     [EDS_T_GE] = ">=",    [EDS_T_MATCH] = "=~",
		[EDS_T_NMATCH] = "!~", [EDS_T_PLUS] = "+",  [EDS_T_MINUS] = "-",
		[EDS_T_BANG] = "!",   [EDS_T_ANDAND] = "&&", [EDS_T_OROR] = "||",
	};
	switch (t->kind) {
	case EDS_T_EOF: snprintf(out, size, "end of input"); break;
	case EDS_T_NL: snprintf(out, size, "end of line"); break;
	case EDS_T_IDENT: snprintf(out, size, "\"%.*s\"", (int)(t->len > 40 ? 40 : t->len), t->s); break;
	case EDS_T_STRING: snprintf(out, size, "a string"); break;
	case EDS_T_NUMBER: snprintf(out, size, "a number"); break;
	case EDS_T_CAPTURE: snprintf(out, size, "'$%d'", (int)t->num); break;
	case EDS_T_ERROR: snprintf(out, size, "an invalid token"); break;
	default: snprintf(out, size, "'%s'", punct[t->kind]); break;
	}
}
