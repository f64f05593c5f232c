/*
 * Parser of the rules language: recursive descent over a pulled token
 * stream, one token of lookahead plus one peek (for "not in").
 *
 *   program := { sep } [ rule { sep rule } ] { sep }        sep := NL | ';'
 *   rule    := action | block | expr block                  ('}' may end a rule)
 *   block   := '{' { sep } [ action { sep action } ] { sep } '}'
 *   action  := 'set' path '=' expr | 'del' path | 'drop' | 'assert' expr [',' STRING]
 *   expr    := and { ('or' | '||') and }
 *   and     := not { ('and' | '&&') not }
 *   not     := ('not' | '!') not | cmp
 *   cmp     := add [ CMPOP add | ['not'] 'in' (STRING | array) | ('=~' | '!~') STRING ]
 *   add     := unary { '+' unary }
 *   unary   := '-' NUMBER | primary
 *   primary := STRING | NUMBER | 'true' | 'false' | 'null' | '$'DIGIT | path
 *            | 'exists' '(' path ')' | '(' expr ')' | object | array
 *   path    := IDENT { '.' IDENT | '[' (STRING | ['-'] NUMBER) ']' }
 *
 * Newlines end rules and actions, except inside ( ) [ ] and literals, after
 * a binary operator, '=', ',' or '{', and between a pattern and its '{'.
 * After an error the parser skips to the end of the rule and goes on, so
 * every error of a file is reported at once.  Object and array literals are
 * constants, built here as google.protobuf.Struct / ListValue.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "google/protobuf/struct.pb-c.h"

struct parser {
	struct eds_lexer lx;
	struct eds_token tok;
	struct eds_token peek;
	bool has_peek;
	struct eds_arena *a;
	struct eds_diags *errs;
	const struct eds_src *dsrc;
	const char *text;
	unsigned nl_depth;  /* open ( [ and literal braces: newlines are blanks */
	int brace_depth;    /* braces consumed in the current rule */
	unsigned nest;      /* recursion depth */
	bool failed;        /* the current rule had an error */
	uint32_t last_end;  /* end of the last consumed token */
	char *scr;          /* scratch stack for vectors being built (malloc'd) */
	size_t scr_top, scr_cap;
};

static void lex(struct parser *p, struct eds_token *t)
{
	eds_lex_next(&p->lx, t);
}

static void advance(struct parser *p)
{
	if (p->tok.kind == EDS_T_LBRACE)
		p->brace_depth++;
	else if (p->tok.kind == EDS_T_RBRACE)
		p->brace_depth--;
	if (p->tok.kind != EDS_T_EOF)
		p->last_end = p->tok.end;
	do {
		if (p->has_peek) {
			p->tok = p->peek;
			p->has_peek = false;
		} else {
			lex(p, &p->tok);
		}
	} while (p->tok.kind == EDS_T_NL && p->nl_depth > 0);
}

static const struct eds_token *peek(struct parser *p)
{
	if (!p->has_peek) {
		do
			lex(p, &p->peek);
		while (p->peek.kind == EDS_T_NL && p->nl_depth > 0);
		p->has_peek = true;
	}
	return &p->peek;
}

static void skip_nl(struct parser *p)
{
	while (p->tok.kind == EDS_T_NL)
		advance(p);
}

static bool is_kw(const struct eds_token *t, const char *kw)
{
	size_t n = strlen(kw);
	return t->kind == EDS_T_IDENT && t->len == n && memcmp(t->s, kw, n) == 0;
}

static bool is_keyword(const struct eds_token *t)
{
	static const char *const kws[] = { "and",  "or",   "not",  "in",    "set",  "del",
					   "drop", "assert", "true", "false", "null", "exists" };
	for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
		if (is_kw(t, kws[i]))
			return true;
	return false;
}

static bool is_action_kw(const struct eds_token *t)
{
	return is_kw(t, "set") || is_kw(t, "del") || is_kw(t, "drop") || is_kw(t, "assert");
}

/* Report at the current token unless it is already a reported lexer error. */
static void *fail_at(struct parser *p, size_t start, size_t end, const char *fmt, const char *arg)
{
	if (!p->failed && p->tok.kind != EDS_T_ERROR)
		eds_expr_error(p->errs, p->dsrc, start, end, fmt, arg);
	p->failed = true;
	return NULL;
}

static void *fail_tok(struct parser *p, const char *fmt)
{
	char what[64];
	eds_tok_describe(&p->tok, what, sizeof what);
	size_t end = p->tok.end > p->tok.start ? p->tok.end : p->tok.start;
	return fail_at(p, p->tok.start, end, fmt, what);
}

static struct eds_node *node(struct parser *p, enum eds_nk kind, size_t start, size_t end)
{
	struct eds_node *n = eds_arena_zalloc(p->a, sizeof *n);
	n->kind = (uint8_t)kind;
	n->stype = EDS_V_ANY;
	n->span.start = (uint32_t)start;
	n->span.end = (uint32_t)end;
	return n;
}

/* Vectors being built (a path's segments, an operator's operands, a block's
 * actions, a literal's entries) grow on a malloc'd scratch stack and are
 * copied to the arena at their exact size when complete; vectors nest, and
 * an inner one is always complete before the outer one grows again.  The
 * stack is reset at each rule, which also forgets a failed rule's vectors. */
static size_t vbegin(struct parser *p)
{
	return p->scr_top;
}

static void vpush(struct parser *p, const void *elem, size_t size)
{
	if (p->scr_cap - p->scr_top < size) {
		size_t nc = p->scr_cap ? p->scr_cap * 2 : 4096;
		while (nc - p->scr_top < size)
			nc *= 2;
		char *ns = realloc(p->scr, nc);
		if (!ns)
			abort();
		p->scr = ns;
		p->scr_cap = nc;
	}
	memcpy(p->scr + p->scr_top, elem, size);
	p->scr_top += size;
}

static void vget(const struct parser *p, size_t mark, size_t i, void *elem, size_t size)
{
	memcpy(elem, p->scr + mark + i * size, size);
}

static void *vend(struct parser *p, size_t mark, size_t *n, size_t size)
{
	*n = (p->scr_top - mark) / size;
	void *v = NULL;
	if (*n) {
		v = eds_arena_alloc(p->a, *n * size);
		memcpy(v, p->scr + mark, *n * size);
	}
	p->scr_top = mark;
	return v;
}

/* Growable vectors in the arena: a run of doubling copies costs < 2x. */
static void *vec_push(struct parser *p, void *v, size_t *n, size_t *cap, size_t elem)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		void *nv = eds_arena_alloc(p->a, nc * elem);
		if (*n)
			memcpy(nv, v, *n * elem);
		v = nv;
		*cap = nc;
	}
	(*n)++;
	return v;
}

static bool enter(struct parser *p)
{
	if (++p->nest > EDS_RULES_MAX_NEST) {
		fail_at(p, p->tok.start, p->tok.end, "%s", "expression nested too deeply");
		p->nest--;
		return false;
	}
	return true;
}

static struct eds_node *parse_expr(struct parser *p);

/* ---- constant literals ---- */

static Google__Protobuf__Value *parse_const(struct parser *p);

static Google__Protobuf__Value *new_value(struct parser *p)
{
	Google__Protobuf__Value *v = eds_arena_alloc(p->a, sizeof *v);
	google__protobuf__value__init(v);
	return v;
}

static Google__Protobuf__Struct *parse_object(struct parser *p)
{
	size_t open = p->tok.start;
	p->nl_depth++;
	advance(p); /* { */
	Google__Protobuf__Struct *st = eds_arena_alloc(p->a, sizeof *st);
	google__protobuf__struct__init(st);
	size_t mark = vbegin(p), nf = 0;
	while (p->tok.kind != EDS_T_RBRACE) {
		const char *key;
		size_t klen;
		size_t kstart = p->tok.start;
		if (p->tok.kind == EDS_T_STRING) {
			key = p->tok.s;
			klen = p->tok.len;
		} else if (p->tok.kind == EDS_T_IDENT) {
			key = eds_arena_strndup(p->a, p->tok.s, p->tok.len);
			klen = p->tok.len;
		} else {
			p->nl_depth--;
			return fail_tok(p, "expected a key or '}' in object, got %s");
		}
		/* Quadratic, so only for literals of a sane size. */
		for (size_t i = 0; i < nf && nf < 1024; i++) {
			Google__Protobuf__Struct__FieldsEntry *prev;
			vget(p, mark, i, &prev, sizeof prev);
			if (strlen(prev->key) == klen && memcmp(prev->key, key, klen) == 0) {
				char q[80];
				snprintf(q, sizeof q, "\"%.*s\"", (int)(klen > 60 ? 60 : klen), key);
				p->nl_depth--;
				return fail_at(p, kstart, p->tok.end, "duplicate key %s in object", q);
			}
		}
		advance(p);
		if (p->tok.kind != EDS_T_COLON) {
			p->nl_depth--;
			return fail_tok(p, "expected ':' after key in object, got %s");
		}
		advance(p);
		Google__Protobuf__Value *v = parse_const(p);
		if (!v) {
			p->nl_depth--;
			return NULL;
		}
		Google__Protobuf__Struct__FieldsEntry *e = eds_arena_alloc(p->a, sizeof *e);
		google__protobuf__struct__fields_entry__init(e);
		e->key = (char *)key;
		e->value = v;
		vpush(p, &e, sizeof e);
		nf++;
		if (p->tok.kind == EDS_T_COMMA) {
			advance(p);
			continue;
		}
		if (p->tok.kind != EDS_T_RBRACE) {
			p->nl_depth--;
			return fail_tok(p, "expected ',' or '}' in object, got %s");
		}
	}
	p->nl_depth--;
	if (p->tok.kind != EDS_T_RBRACE)
		return fail_at(p, open, open + 1, "%s", "unterminated object");
	advance(p);
	st->fields = vend(p, mark, &st->n_fields, sizeof *st->fields);
	return st;
}

static Google__Protobuf__ListValue *parse_array(struct parser *p)
{
	p->nl_depth++;
	advance(p); /* [ */
	Google__Protobuf__ListValue *l = eds_arena_alloc(p->a, sizeof *l);
	google__protobuf__list_value__init(l);
	size_t mark = vbegin(p);
	while (p->tok.kind != EDS_T_RBRACK) {
		Google__Protobuf__Value *v = parse_const(p);
		if (!v) {
			p->nl_depth--;
			return NULL;
		}
		vpush(p, &v, sizeof v);
		if (p->tok.kind == EDS_T_COMMA) {
			advance(p);
			continue;
		}
		if (p->tok.kind != EDS_T_RBRACK) {
			p->nl_depth--;
			return fail_tok(p, "expected ',' or ']' in array, got %s");
		}
	}
	p->nl_depth--;
	advance(p);
	l->values = vend(p, mark, &l->n_values, sizeof *l->values);
	return l;
}

static Google__Protobuf__Value *parse_const(struct parser *p)
{
	if (!enter(p))
		return NULL;
	Google__Protobuf__Value *v = new_value(p);
	const struct eds_token *t = &p->tok;
	if (t->kind == EDS_T_STRING) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
		v->string_value = (char *)t->s;
		advance(p);
	} else if (t->kind == EDS_T_NUMBER || (t->kind == EDS_T_MINUS && peek(p)->kind == EDS_T_NUMBER)) {
		double sign = 1;
		if (t->kind == EDS_T_MINUS) {
			sign = -1;
			advance(p);
		}
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		v->number_value = sign * p->tok.num;
		advance(p);
	} else if (is_kw(t, "true") || is_kw(t, "false")) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
		v->bool_value = is_kw(t, "true");
		advance(p);
	} else if (is_kw(t, "null")) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
		advance(p);
	} else if (t->kind == EDS_T_LBRACE) {
		Google__Protobuf__Struct *s = parse_object(p);
		if (!s)
			v = NULL;
		else {
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
			v->struct_value = s;
		}
	} else if (t->kind == EDS_T_LBRACK) {
		Google__Protobuf__ListValue *l = parse_array(p);
		if (!l)
			v = NULL;
		else {
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
			v->list_value = l;
		}
	} else {
		v = fail_tok(p, "object and array literals hold only constants, got %s");
	}
	p->nest--;
	return v;
}

/* ---- paths ---- */

static struct eds_node *parse_path(struct parser *p)
{
	if (p->tok.kind != EDS_T_IDENT || is_keyword(&p->tok))
		return fail_tok(p, "expected a field name, got %s");
	struct eds_node *n = node(p, EDS_N_PATH, p->tok.start, p->tok.end);
	size_t mark = vbegin(p);
	struct eds_seg first = { .kind = EDS_SEG_NAME,
				 .span = { p->tok.start, p->tok.end },
				 .s = p->tok.s,
				 .len = p->tok.len };
	vpush(p, &first, sizeof first);
	advance(p);
	for (;;) {
		struct eds_seg seg = { 0 };
		if (p->tok.kind == EDS_T_DOT) {
			advance(p);
			if (p->tok.kind != EDS_T_IDENT)
				return fail_tok(p, "expected a field name after '.', got %s");
			seg.kind = EDS_SEG_NAME;
			seg.span = (struct eds_span){ p->tok.start, p->tok.end };
			seg.s = p->tok.s;
			seg.len = p->tok.len;
			advance(p);
		} else if (p->tok.kind == EDS_T_LBRACK) {
			size_t open = p->tok.start;
			p->nl_depth++;
			advance(p);
			if (p->tok.kind == EDS_T_STRING) {
				seg.kind = EDS_SEG_KEY;
				seg.s = p->tok.s;
				seg.len = p->tok.len;
				advance(p);
			} else if (p->tok.kind == EDS_T_NUMBER ||
				   (p->tok.kind == EDS_T_MINUS && peek(p)->kind == EDS_T_NUMBER)) {
				size_t at = p->tok.start;
				bool neg = p->tok.kind == EDS_T_MINUS;
				if (neg)
					advance(p);
				double v = p->tok.num;
				if (neg || v != floor(v) || v > 1e15) {
					p->nl_depth--;
					return fail_at(p, at, p->tok.end, "%s",
						       "an index must be a whole number from 0");
				}
				seg.kind = EDS_SEG_INDEX;
				seg.index = (int64_t)v;
				advance(p);
			} else {
				p->nl_depth--;
				return fail_tok(p, "expected a string key or an index in '[ ]', got %s");
			}
			p->nl_depth--;
			if (p->tok.kind != EDS_T_RBRACK)
				return fail_tok(p, "expected ']', got %s");
			seg.span = (struct eds_span){ (uint32_t)open, p->tok.end };
			advance(p);
		} else {
			break;
		}
		vpush(p, &seg, sizeof seg);
	}
	n->segs = vend(p, mark, &n->nsegs, sizeof *n->segs);
	n->span.end = p->last_end;
	return n;
}

/* ---- expressions ---- */

static struct eds_node *parse_primary(struct parser *p)
{
	struct eds_token t = p->tok;
	struct eds_node *n;
	switch (t.kind) {
	case EDS_T_STRING:
		n = node(p, EDS_N_LIT, t.start, t.end);
		n->val.k = EDS_V_STR;
		n->val.s = t.s;
		n->val.len = t.len;
		n->val.konst = true;
		n->stype = EDS_V_STR;
		advance(p);
		return n;
	case EDS_T_NUMBER:
		n = node(p, EDS_N_LIT, t.start, t.end);
		n->val.k = EDS_V_NUM;
		n->val.n = t.num;
		n->stype = EDS_V_NUM;
		advance(p);
		return n;
	case EDS_T_CAPTURE:
		n = node(p, EDS_N_CAP, t.start, t.end);
		n->cap = (unsigned)t.num;
		advance(p);
		return n;
	case EDS_T_LPAREN: {
		if (!enter(p))
			return NULL;
		p->nl_depth++;
		advance(p);
		n = parse_expr(p);
		p->nl_depth--;
		p->nest--;
		if (!n)
			return NULL;
		if (p->tok.kind != EDS_T_RPAREN)
			return fail_tok(p, "expected ')', got %s");
		advance(p);
		return n;
	}
	case EDS_T_LBRACE:
	case EDS_T_LBRACK: {
		Google__Protobuf__Value *v = parse_const(p);
		if (!v)
			return NULL;
		n = node(p, EDS_N_LIT, t.start, p->last_end);
		if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE) {
			n->val.k = EDS_V_OBJ;
			n->val.p = v->struct_value;
		} else {
			n->val.k = EDS_V_LIST;
			n->val.p = v->list_value;
		}
		n->stype = n->val.k;
		return n;
	}
	case EDS_T_MINUS:
		if (peek(p)->kind == EDS_T_NUMBER) {
			advance(p);
			n = node(p, EDS_N_LIT, t.start, p->tok.end);
			n->val.k = EDS_V_NUM;
			n->val.n = -p->tok.num;
			n->stype = EDS_V_NUM;
			advance(p);
			return n;
		}
		return fail_tok(p, "expected a value, got %s");
	case EDS_T_IDENT:
		if (is_kw(&t, "true") || is_kw(&t, "false") || is_kw(&t, "null")) {
			n = node(p, EDS_N_LIT, t.start, t.end);
			if (is_kw(&t, "null")) {
				n->val.k = EDS_V_NULL;
				n->stype = EDS_V_NULL;
			} else {
				n->val.k = EDS_V_BOOL;
				n->val.b = is_kw(&t, "true");
				n->stype = EDS_V_BOOL;
			}
			advance(p);
			return n;
		}
		if (is_kw(&t, "exists")) {
			advance(p);
			if (p->tok.kind != EDS_T_LPAREN)
				return fail_tok(p, "expected '(' after exists, got %s");
			p->nl_depth++;
			advance(p);
			struct eds_node *path = parse_path(p);
			p->nl_depth--;
			if (!path)
				return NULL;
			if (p->tok.kind != EDS_T_RPAREN)
				return fail_tok(p, "expected ')' after the path in exists(), got %s");
			n = node(p, EDS_N_EXISTS, t.start, p->tok.end);
			n->lhs = path;
			n->stype = EDS_V_BOOL;
			advance(p);
			return n;
		}
		if (is_keyword(&t))
			return fail_tok(p, "expected a value, got %s");
		return parse_path(p);
	case EDS_T_ASSIGN:
		return fail_tok(p, "expected a value, got %s");
	default:
		return fail_tok(p, "expected a value, got %s");
	}
}

static struct eds_node *parse_add(struct parser *p)
{
	struct eds_node *first = parse_primary(p);
	if (!first)
		return NULL;
	if (p->tok.kind == EDS_T_MINUS)
		return fail_tok(p, "there is no arithmetic: %s ('+' only joins strings)");
	if (p->tok.kind != EDS_T_PLUS)
		return first;
	struct eds_node *n = node(p, EDS_N_CONCAT, first->span.start, first->span.end);
	size_t mark = vbegin(p);
	vpush(p, &first, sizeof first);
	while (p->tok.kind == EDS_T_PLUS) {
		advance(p);
		skip_nl(p);
		struct eds_node *k = parse_primary(p);
		if (!k)
			return NULL;
		vpush(p, &k, sizeof k);
		if (p->tok.kind == EDS_T_MINUS)
			return fail_tok(p, "there is no arithmetic: %s ('+' only joins strings)");
	}
	n->kids = vend(p, mark, &n->nkids, sizeof *n->kids);
	n->span.end = p->last_end;
	return n;
}

static bool cmp_op(enum eds_tok k, uint8_t *op)
{
	switch (k) {
	case EDS_T_EQ: *op = EDS_OP_EQ; return true;
	case EDS_T_NE: *op = EDS_OP_NE; return true;
	case EDS_T_LT: *op = EDS_OP_LT; return true;
	case EDS_T_LE: *op = EDS_OP_LE; return true;
	case EDS_T_GT: *op = EDS_OP_GT; return true;
	case EDS_T_GE: *op = EDS_OP_GE; return true;
	default: return false;
	}
}

static bool at_cmp(struct parser *p)
{
	uint8_t op;
	return cmp_op(p->tok.kind, &op) || p->tok.kind == EDS_T_MATCH || p->tok.kind == EDS_T_NMATCH ||
	       is_kw(&p->tok, "in") || (is_kw(&p->tok, "not") && is_kw(peek(p), "in"));
}

static struct eds_node *parse_cmp(struct parser *p)
{
	struct eds_node *lhs = parse_add(p);
	if (!lhs)
		return NULL;
	if (p->tok.kind == EDS_T_ASSIGN)
		return fail_at(p, p->tok.start, p->tok.end, "%s",
			       "'=' is not a comparison (did you mean '=='?)");
	if (!at_cmp(p))
		return lhs;
	struct eds_token optok = p->tok;
	struct eds_node *n;
	uint8_t op;
	if (cmp_op(optok.kind, &op)) {
		advance(p);
		skip_nl(p);
		struct eds_node *rhs = parse_add(p);
		if (!rhs)
			return NULL;
		n = node(p, EDS_N_CMP, lhs->span.start, rhs->span.end);
		n->op = op;
		n->lhs = lhs;
		n->rhs = rhs;
	} else if (optok.kind == EDS_T_MATCH || optok.kind == EDS_T_NMATCH) {
		advance(p);
		skip_nl(p);
		if (p->tok.kind != EDS_T_STRING)
			return fail_tok(p, "a regular expression must be a string literal, got %s");
		struct eds_node *rhs = parse_primary(p);
		n = node(p, EDS_N_MATCH, lhs->span.start, rhs->span.end);
		n->negate = optok.kind == EDS_T_NMATCH;
		n->lhs = lhs;
		n->rhs = rhs;
	} else {
		bool neg = is_kw(&optok, "not");
		if (neg)
			advance(p);
		advance(p); /* in */
		skip_nl(p);
		struct eds_node *rhs;
		if (p->tok.kind == EDS_T_STRING) {
			rhs = parse_primary(p);
			n = node(p, EDS_N_IN_CIDR, lhs->span.start, rhs->span.end);
		} else if (p->tok.kind == EDS_T_LBRACK) {
			rhs = parse_primary(p);
			if (!rhs)
				return NULL;
			n = node(p, EDS_N_IN_LIST, lhs->span.start, rhs->span.end);
		} else {
			return fail_tok(p, "'in' takes a CIDR string or an array literal, got %s");
		}
		n->lhs = lhs;
		n->rhs = rhs;
		if (neg) {
			struct eds_node *nn = node(p, EDS_N_NOT, n->span.start, n->span.end);
			nn->lhs = n;
			nn->stype = EDS_V_BOOL;
			n->stype = EDS_V_BOOL;
			n = nn;
		}
	}
	n->stype = EDS_V_BOOL;
	if (at_cmp(p))
		return fail_tok(p, "comparisons cannot be chained: %s (use 'and')");
	if (p->tok.kind == EDS_T_ASSIGN)
		return fail_at(p, p->tok.start, p->tok.end, "%s",
			       "'=' is not a comparison (did you mean '=='?)");
	return n;
}

static struct eds_node *parse_not(struct parser *p)
{
	if ((is_kw(&p->tok, "not") && !is_kw(peek(p), "in")) || p->tok.kind == EDS_T_BANG) {
		size_t start = p->tok.start;
		if (!enter(p))
			return NULL;
		advance(p);
		struct eds_node *e = parse_not(p);
		p->nest--;
		if (!e)
			return NULL;
		struct eds_node *n = node(p, EDS_N_NOT, start, e->span.end);
		n->lhs = e;
		n->stype = EDS_V_BOOL;
		return n;
	}
	return parse_cmp(p);
}

static struct eds_node *parse_nary(struct parser *p, enum eds_nk kind, const char *kw, enum eds_tok alt,
				   struct eds_node *(*sub)(struct parser *))
{
	struct eds_node *first = sub(p);
	if (!first)
		return NULL;
	if (!is_kw(&p->tok, kw) && p->tok.kind != alt)
		return first;
	struct eds_node *n = node(p, kind, first->span.start, first->span.end);
	n->stype = EDS_V_BOOL;
	size_t mark = vbegin(p);
	vpush(p, &first, sizeof first);
	while (is_kw(&p->tok, kw) || p->tok.kind == alt) {
		advance(p);
		skip_nl(p);
		struct eds_node *k = sub(p);
		if (!k)
			return NULL;
		vpush(p, &k, sizeof k);
	}
	n->kids = vend(p, mark, &n->nkids, sizeof *n->kids);
	n->span.end = p->last_end;
	return n;
}

static struct eds_node *parse_and(struct parser *p)
{
	return parse_nary(p, EDS_N_AND, "and", EDS_T_ANDAND, parse_not);
}

static struct eds_node *parse_expr(struct parser *p)
{
	return parse_nary(p, EDS_N_OR, "or", EDS_T_OROR, parse_and);
}

/* ---- actions and rules ---- */

static bool parse_action(struct parser *p, struct eds_action *a)
{
	memset(a, 0, sizeof *a);
	struct eds_token t = p->tok;
	a->span.start = t.start;
	if (is_kw(&t, "set")) {
		a->kind = EDS_A_SET;
		advance(p);
		a->target = parse_path(p);
		if (!a->target)
			return false;
		if (p->tok.kind == EDS_T_EQ) {
			fail_at(p, p->tok.start, p->tok.end, "%s", "expected '=' after the path in set, not '=='");
			return false;
		}
		if (p->tok.kind != EDS_T_ASSIGN) {
			fail_tok(p, "expected '=' after the path in set, got %s");
			return false;
		}
		advance(p);
		skip_nl(p);
		a->expr = parse_expr(p);
		if (!a->expr)
			return false;
	} else if (is_kw(&t, "del")) {
		a->kind = EDS_A_DEL;
		advance(p);
		a->target = parse_path(p);
		if (!a->target)
			return false;
	} else if (is_kw(&t, "drop")) {
		a->kind = EDS_A_DROP;
		advance(p);
	} else if (is_kw(&t, "assert")) {
		a->kind = EDS_A_ASSERT;
		advance(p);
		a->expr = parse_expr(p);
		if (!a->expr)
			return false;
		if (p->tok.kind == EDS_T_COMMA) {
			advance(p);
			skip_nl(p);
			if (p->tok.kind != EDS_T_STRING) {
				fail_tok(p, "expected the assertion's message (a string) after ',', got %s");
				return false;
			}
			a->msg = p->tok.s;
			a->msglen = p->tok.len;
			advance(p);
		}
	} else {
		fail_tok(p, "expected an action (set, del, drop or assert), got %s");
		return false;
	}
	a->span.end = p->last_end;
	return true;
}

static bool at_sep(struct parser *p)
{
	return p->tok.kind == EDS_T_NL || p->tok.kind == EDS_T_SEMI || p->tok.kind == EDS_T_EOF;
}

static bool parse_block(struct parser *p, struct eds_rule *r)
{
	size_t open = p->tok.start;
	advance(p); /* { */
	size_t mark = vbegin(p);
	for (;;) {
		while (p->tok.kind == EDS_T_NL || p->tok.kind == EDS_T_SEMI)
			advance(p);
		if (p->tok.kind == EDS_T_RBRACE)
			break;
		if (p->tok.kind == EDS_T_EOF) {
			fail_at(p, open, open + 1, "%s", "'{' is never closed");
			return false;
		}
		struct eds_action a;
		if (!parse_action(p, &a))
			return false;
		vpush(p, &a, sizeof a);
		if (p->tok.kind == EDS_T_RBRACE)
			break;
		if (p->tok.kind == EDS_T_EOF) {
			fail_at(p, open, open + 1, "%s", "'{' is never closed");
			return false;
		}
		if (!at_sep(p)) {
			fail_tok(p, "expected ';', a newline or '}' after an action, got %s");
			return false;
		}
	}
	advance(p); /* } */
	r->actions = vend(p, mark, &r->nactions, sizeof *r->actions);
	return true;
}

static bool parse_rule(struct parser *p, struct eds_rule *r)
{
	r->span.start = p->tok.start;
	if (is_action_kw(&p->tok)) {
		struct eds_action a;
		if (!parse_action(p, &a))
			return false;
		r->actions = eds_arena_alloc(p->a, sizeof a);
		r->actions[0] = a;
		r->nactions = 1;
		if (!at_sep(p)) {
			fail_tok(p, "expected ';' or a newline after an action, got %s");
			return false;
		}
	} else if (p->tok.kind == EDS_T_LBRACE) {
		if (!parse_block(p, r))
			return false;
	} else {
		r->pattern = parse_expr(p);
		if (!r->pattern)
			return false;
		uint32_t pat_end = p->last_end;
		bool nl = p->tok.kind == EDS_T_NL;
		skip_nl(p);
		if (p->tok.kind != EDS_T_LBRACE) {
			/* A pattern alone is not a rule: point just after it. */
			if (nl || p->tok.kind == EDS_T_SEMI || p->tok.kind == EDS_T_EOF)
				fail_at(p, pat_end, pat_end, "%s", "expected '{' after pattern");
			else
				fail_tok(p, "expected '{' after pattern, got %s");
			return false;
		}
		if (!parse_block(p, r))
			return false;
	}
	r->span.end = p->last_end;
	return true;
}

/* Skip the rest of a rule that failed: to the end of its line, or past the
 * '}' that closes the braces it opened. */
static void sync(struct parser *p)
{
	p->nl_depth = 0;
	while (p->tok.kind != EDS_T_EOF) {
		if (p->brace_depth <= 0 && (p->tok.kind == EDS_T_NL || p->tok.kind == EDS_T_SEMI))
			return;
		if (p->tok.kind == EDS_T_RBRACE && p->brace_depth <= 1) {
			advance(p);
			return;
		}
		advance(p);
	}
}

void eds_expr_parse(const struct eds_src *src, const struct eds_src *diag_src, uint32_t src_index,
		    struct eds_arena *arena, struct eds_rule **rules, size_t *nrules, size_t *cap,
		    size_t max_rules, struct eds_diags *errs)
{
	struct parser p = { .a = arena, .errs = errs, .dsrc = diag_src, .text = src->text };
	eds_lex_init(&p.lx, src, diag_src, arena, errs);
	lex(&p, &p.tok);
	for (;;) {
		while (p.tok.kind == EDS_T_NL || p.tok.kind == EDS_T_SEMI)
			advance(&p);
		if (p.tok.kind == EDS_T_EOF)
			break;
		if (p.tok.kind == EDS_T_RBRACE) {
			fail_tok(&p, "unexpected %s: no rule is open");
			p.failed = false;
			advance(&p);
			continue;
		}
		p.failed = false;
		p.brace_depth = 0;
		p.nest = 0;
		p.nl_depth = 0;
		p.scr_top = 0;
		struct eds_rule r = { 0 };
		r.src = src_index;
		if (parse_rule(&p, &r) && !p.failed) {
			if (*nrules >= max_rules) {
				eds_expr_limit(errs, diag_src, r.span.start, r.span.end,
					       "more than the limit of %zu rules (--max-rules)", max_rules);
				break;
			}
			struct eds_rule *v = *rules;
			v = vec_push(&p, v, nrules, cap, sizeof *v);
			r.index = (uint32_t)(*nrules - 1);
			v[*nrules - 1] = r;
			*rules = v;
		} else {
			p.failed = true;
			sync(&p);
		}
	}
	free(p.scr);
}
