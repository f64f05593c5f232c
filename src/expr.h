/*
 * expr: internals of the rules language (see rules.h for the contract and
 * edsmod(1), RULES, for the language).  The pipeline is
 *
 *   expr_lex.c    source text -> tokens (pulled one at a time by the parser)
 *   expr_parse.c  tokens -> rules: pattern and action trees with byte spans
 *   expr_bind.c   names -> protobuf-c field descriptors (struct eds_bpath),
 *                 static types, regexes compiled, CIDRs parsed, scopes,
 *                 and consecutive equality rules grouped into hash indexes
 *   expr_eval.c   values, reading and writing the decoded CLA in place
 *   rules.c       eds_rules_compile / eds_rules_run: the driver
 *
 * Ownership: everything compile builds (tokens' strings, nodes, bound
 * paths, regex_t, index tables, copies of the sources) lives in the program
 * arena and is read-only once compiled, so threads can share a program.
 * Everything a run creates lives in the request arena, including copies of
 * the program's constant strings it stores, so a modified message never
 * points into the program.  Strings are never modified in place by anyone:
 * a string read from the message may be stored elsewhere in it as is.
 */
#ifndef EDS_EXPR_H
#define EDS_EXPR_H

#include <locale.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "diag.h"
#include "rules.h"

#define EDS_RULES_MAX_NEST 256     /* parenthesis / literal nesting */
#define EDS_RULES_MAX_ERRORS 200   /* per compile; then "too many errors" */
#define EDS_INDEX_MIN_RUN 2        /* shortest run of equality rules indexed */

/* ---- tokens ---- */

enum eds_tok {
	EDS_T_EOF = 0,
	EDS_T_NL,
	EDS_T_IDENT,
	EDS_T_STRING,
	EDS_T_NUMBER,
	EDS_T_CAPTURE, /* $0 .. $9 */
	EDS_T_LBRACE,
	EDS_T_RBRACE,
	EDS_T_LPAREN,
	EDS_T_RPAREN,
	EDS_T_LBRACK,
	EDS_T_RBRACK,
	EDS_T_DOT,
	EDS_T_COMMA,
	EDS_T_SEMI,
	EDS_T_COLON,
	EDS_T_ASSIGN, /* = */
	EDS_T_EQ,
	EDS_T_NE,
	EDS_T_LT,
	EDS_T_LE,
	EDS_T_GT,
	EDS_T_GE,
	EDS_T_MATCH,  /* =~ */
	EDS_T_NMATCH, /* !~ */
	EDS_T_PLUS,
	EDS_T_MINUS,
	EDS_T_BANG,
	EDS_T_ANDAND,
	EDS_T_OROR,
	EDS_T_ERROR, /* already reported */
};

struct eds_token {
	enum eds_tok kind;
	uint32_t start, end;
	const char *s; /* IDENT: into the source; STRING: decoded, NUL-terminated */
	size_t len;
	double num;    /* NUMBER; CAPTURE: the digit */
};

struct eds_lexer {
	const struct eds_src *src;  /* the program's copy (text NUL-terminated) */
	const struct eds_src *diag_src; /* what compile diagnostics point at */
	size_t pos;
	struct eds_arena *arena;
	struct eds_diags *errs;
};

void eds_lex_init(struct eds_lexer *lx, const struct eds_src *src, const struct eds_src *diag_src,
		  struct eds_arena *arena, struct eds_diags *errs);
void eds_lex_next(struct eds_lexer *lx, struct eds_token *t);
/* "'{'", "end of line", "string \"abc\"", "\"name\"": for error messages. */
void eds_tok_describe(const struct eds_token *t, char *out, size_t size);

/* Appends a compile error (EDS_E_RULES) unless the cap is reached. */
void eds_expr_error(struct eds_diags *errs, const struct eds_src *src, size_t start, size_t end,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The same for a source, rule or regex past a limit (EDS_E_LIMIT). */
void eds_expr_limit(struct eds_diags *errs, const struct eds_src *src, size_t start, size_t end,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- values ---- */

enum eds_vk {
	EDS_V_NULL = 0,
	EDS_V_BOOL,
	EDS_V_NUM,
	EDS_V_STR,
	EDS_V_OBJ,  /* p: const Google__Protobuf__Struct * */
	EDS_V_LIST, /* p: const Google__Protobuf__ListValue * */
	EDS_V_MSG,  /* p: any other message */
	EDS_V_ANY,  /* static type only: known at run time */
};

struct eds_val {
	uint8_t k;
	bool b;
	bool slice;       /* STR: points into a longer string, not NUL-terminated */
	bool konst;       /* STR: a literal of the program (copied when stored) */
	size_t len;       /* STR */
	union {
		double n;
		const char *s;  /* STR: NUL-terminated (may contain NUL for bytes) */
		const void *p;
	};
};

struct Google__Protobuf__Value;
/* A JSON value (NULL: null) as a value of the rules; strings point into it. */
void eds_value_val(const struct Google__Protobuf__Value *v, struct eds_val *out);
const char *eds_vk_name(unsigned k); /* "string", "number", ... */
const char *eds_vk_an(unsigned k);   /* "a string", "an object", "null", ... */

/* ---- bound paths ---- */

enum eds_level { EDS_LV_CLA = 0, EDS_LV_LOC = 1, EDS_LV_EP = 2 };
enum eds_virt { EDS_VIRT_NONE = 0, EDS_VIRT_ADDRESS, EDS_VIRT_PORT };

/* What the final slot of a path holds, decided when binding. */
enum eds_fkind {
	EDS_FK_NONE = 0, /* a whole repeated field */
	EDS_FK_SCALAR,   /* string, bytes, number, bool or enum field */
	EDS_FK_WRAPPER,  /* google.protobuf.*Value wrapper: reads as its value */
	EDS_FK_DURATION, /* reads as seconds */
	EDS_FK_STRUCT,
	EDS_FK_LIST,
	EDS_FK_VALUE,    /* a google.protobuf.Value, inside a Struct or a field */
	EDS_FK_MSG,      /* any other message, or a root */
};

enum eds_step_kind {
	EDS_ST_FIELD, /* singular field f of the current message */
	EDS_ST_ELEM,  /* element idx of repeated field f */
	EDS_ST_MAP,   /* map field f, the entry whose key is key; goes to its value */
	EDS_ST_SKEY,  /* Struct (or Value holding one) field key -> Value */
	EDS_ST_LIDX,  /* ListValue (or Value holding one) element idx -> Value */
};

/* Envoy's own constraints on a field, checked when a rule sets it. */
struct eds_constraint {
	bool range;        /* numbers must lie in [min, max] */
	double min, max;
	bool nonempty;     /* string min_len 1 */
	bool defined_only; /* enum */
};

struct eds_step {
	const ProtobufCFieldDescriptor *f;  /* FIELD, ELEM, MAP */
	const char *key;   /* MAP, SKEY */
	union {
		size_t klen;   /* MAP, SKEY */
		size_t idx;    /* ELEM, LIDX */
	};
	uint8_t kind;
};
/* A map field's entry has the key at field 1 and the value at field 2. */
#define EDS_STEP_KF(s) (&((const ProtobufCMessageDescriptor *)(s)->f->descriptor)->fields[0])
#define EDS_STEP_VF(s) (&((const ProtobufCMessageDescriptor *)(s)->f->descriptor)->fields[1])

struct eds_bpath {
	uint8_t root;   /* enum eds_level: which message the steps start from */
	uint8_t virt;   /* enum eds_virt: address/port short names (no steps) */
	uint8_t stype;  /* enum eds_vk of the value read (EDS_V_ANY: dynamic) */
	uint8_t fkind;  /* enum eds_fkind */
	bool is_enum;   /* final field (or wrapped value) is an enum */
	bool whole_repeated; /* ends at a repeated field without an index */
	bool through_targets; /* from a broader root into endpoints / lb_endpoints */
	uint32_t nsteps;
	uint32_t depth; /* level of the final message, or of the one holding a final
			 * scalar: the CLA is 1, map entries count (eds_depth_levels) */
	struct eds_step *steps;
	const ProtobufCFieldDescriptor *last; /* field of the final slot, NULL if dynamic/whole */
	const struct eds_constraint *cons;
	struct eds_span span; /* source text, for messages */
};

/* ---- syntax tree ---- */

enum eds_nk {
	EDS_N_LIT,
	EDS_N_PATH,
	EDS_N_CAP,
	EDS_N_EXISTS,
	EDS_N_NOT,
	EDS_N_AND,
	EDS_N_OR,
	EDS_N_CMP,
	EDS_N_MATCH,
	EDS_N_IN_CIDR,
	EDS_N_IN_LIST,
	EDS_N_CONCAT,
};

enum eds_op { EDS_OP_EQ, EDS_OP_NE, EDS_OP_LT, EDS_OP_LE, EDS_OP_GT, EDS_OP_GE };

enum eds_seg_kind { EDS_SEG_NAME, EDS_SEG_KEY, EDS_SEG_INDEX };

struct eds_seg {
	uint8_t kind;
	struct eds_span span;
	const char *s; /* NAME: identifier (not terminated); KEY: decoded string */
	size_t len;
	int64_t index;
};

struct eds_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned bits;
	uint8_t addr[16];
};

struct eds_node {
	uint8_t kind;
	uint8_t op;       /* CMP */
	uint8_t stype;    /* static type (enum eds_vk), EDS_V_ANY if unknown */
	bool negate;      /* MATCH: !~ */
	bool raw_enum;    /* PATH: read enum fields as numbers */
	bool enum_cmp;    /* CMP: a raw_enum side against a value known at run time,
			   * which a name turns into its number */
	struct eds_span span;
	struct eds_node *lhs, *rhs; /* NULL where a kind has none */
	union {           /* by kind: programs of many rules are mostly nodes */
		struct eds_val val; /* LIT */
		struct {            /* PATH (EXISTS: its lhs is the PATH) */
			struct eds_seg *segs; /* as written */
			size_t nsegs;
			struct eds_bpath *path; /* after binding */
		};
		struct {            /* AND, OR, CONCAT */
			struct eds_node **kids;
			size_t nkids;
		};
		struct {            /* MATCH */
			regex_t *re;
			regex_t *re_utf8; /* for a subject that is not all ASCII; NULL: re */
			unsigned re_id, re_nsub;
		};
		struct eds_cidr *cidr; /* IN_CIDR */
		unsigned cap;          /* CAP: $n */
	};
};

/* Does node kind k hold kids? */
static inline bool eds_node_nary(const struct eds_node *n)
{
	return n->kind == EDS_N_AND || n->kind == EDS_N_OR || n->kind == EDS_N_CONCAT;
}

enum eds_ak { EDS_A_SET, EDS_A_DEL, EDS_A_DROP, EDS_A_ASSERT };

struct eds_action {
	uint8_t kind;
	struct eds_span span;
	struct eds_node *target; /* SET, DEL: a PATH node */
	struct eds_node *expr;   /* SET value, ASSERT condition */
	const char *msg;         /* ASSERT message or NULL */
	size_t msglen;
	bool per_locality; /* SET in an endpoint rule: the value depends only on the
			    * locality and the CLA, which the rule never writes, so
			    * it is computed once per locality */
	bool shares_meta;  /* per_locality or a literal, into the endpoint's
			    * metadata: endpoints without metadata may share the
			    * one it builds (the value is cached like a hoisted one) */
};

struct eds_rule {
	uint32_t src;   /* index into the program's sources */
	uint32_t index; /* position in the program */
	struct eds_span span;
	struct eds_node *pattern; /* NULL: every target */
	struct eds_action *actions;
	size_t nactions;
	uint8_t scope;  /* enum eds_level */
	unsigned nsub;  /* capture groups available to actions */
	bool has_regex;
	bool bind_failed;
	bool pattern_per_locality; /* an endpoint rule whose pattern reads only the
				    * locality and the CLA, which it never writes */
};

/* ---- equality index over a run of rules ---- */

struct eds_ix_slot {
	uint64_t hash;
	const char *s;
	size_t len;
	uint32_t start, count; /* into eds_index.list */
};

struct eds_index {
	size_t mask;            /* slots: mask + 1, a power of two */
	struct eds_ix_slot *slots;
	uint32_t *list;         /* rule offsets within the unit, ascending per slot */
};

/* What the driver runs: one rule, or a run of equality rules on one name. */
struct eds_unit {
	uint8_t scope;
	bool indexed;
	size_t first, n;          /* rules[first .. first + n) */
	struct eds_node *key;     /* indexed: the PATH node all patterns compare */
	uint8_t key_level;        /* indexed: level of the key's root */
	struct eds_index *index;
	bool split;               /* endpoint rules that write only their endpoint and
				   * read no other: localities may run on two threads */
};

struct eds_program {
	struct eds_src *srcs; /* copies, NUL-terminated */
	size_t nsrcs;
	struct eds_rule *rules;
	size_t nrules;
	struct eds_unit *units;
	size_t nunits;
	unsigned nregex;
	size_t nindexed; /* units that use an index */
	size_t nshares;  /* actions with shares_meta */
	struct eds_limits lim; /* rules limits when binding; max_string when running */
	uint64_t serial; /* this compile's number in the process (eval_match's cache) */
};

/* ---- stages ---- */

/* Parse one source, appending its rules to *rules (arena-grown vector).
 * Errors go to errs; rules that failed to parse are left out. */
void eds_expr_parse(const struct eds_src *src, const struct eds_src *diag_src, uint32_t src_index,
		    struct eds_arena *arena, struct eds_rule **rules, size_t *nrules, size_t *cap,
		    size_t max_rules, struct eds_diags *errs);

/* Bind every rule (all errors reported), then group rules into units. */
void eds_expr_bind(struct eds_program *p, const struct eds_src *diag_srcs, struct eds_arena *arena,
		   struct eds_diags *errs);
void eds_expr_build_units(struct eds_program *p, struct eds_arena *arena, bool use_index);
/* The C.UTF-8 locale regexes compile and match in for text that is not all
 * ASCII ((locale_t)0 when the C library has none). */
locale_t eds_expr_utf8_locale(void);
uint64_t eds_expr_hash(const char *s, size_t len);
const struct eds_ix_slot *eds_index_find(const struct eds_index *ix, const char *s, size_t len);

/* Levenshtein distance, capped: for "did you mean" suggestions. */
unsigned eds_expr_distance(const char *a, size_t alen, const char *b, size_t blen);

/* ---- evaluation (expr_eval.c) ---- */

struct eds_capmap;
struct eds_ptrset;

struct eds_rcache {
	const char *subj; /* last subject matched (pointer identity: never mutated) */
	size_t len;
	bool matched;
	regmatch_t m[10];
};

/* A per-locality value of an action (eds_action.per_locality). */
struct eds_hoist {
	const struct eds_action *a;
	const void *loc;
	struct eds_val v;
	int enum_num;
	const char *owned;
	ProtobufCMessage *meta; /* shares_meta: the Metadata it built, shared */
};

/* The Metadata a run shares between endpoints (expr_eval.c), for it and
 * its second thread.  NULL: nothing is shared. */
struct eds_shared *eds_shared_new(const struct eds_program *p, size_t nloc);
void eds_shared_free(struct eds_shared *s);

struct eds_run {
	const struct eds_program *p;
	struct eds_arena *req;
	const struct eds_run_opts *opts;
	struct eds_diag *d;
	ProtobufCMessage *cla;
	ProtobufCMessage *loc; /* current LocalityLbEndpoints or NULL */
	ProtobufCMessage *ep;  /* current LbEndpoint or NULL */
	size_t li, ei;
	const struct eds_rule *rule;
	bool changed;      /* anything, this run */
	bool touched;      /* something changed since the driver last cleared it */
	bool dropped;      /* the current endpoint was dropped */
	bool assert_failed_finding;
	/* regex captures of the current rule's pattern */
	const char *cap_subj;
	bool cap_valid;
	regmatch_t cap[10];
	struct eds_rcache *rcache;
	struct eds_capmap *capmap; /* grown arrays -> capacity */
	struct eds_capmap *konsts; /* program strings -> the run's copies */
	struct eds_hoist hoist[8];  /* direct-mapped by action */
	struct eds_shared *shared;
	/* The index an error gives the current endpoint, when not ei (a second
	 * thread's part of a locality, rules.c). */
	size_t (*ei_of)(const struct eds_run *r, void *ctx);
	void *ei_ctx;
};

/* Can v be stored where path p ends?  0, or -1 with a message in err
 * (shared by the binder, for literals, and by set at run time).  name is
 * what the user wrote for the path.  For enum targets a string must name a
 * value; *enum_num receives its number (may be NULL). */
int eds_check_store(const struct eds_bpath *p, const char *name, size_t namelen,
		    const struct eds_val *v, int *enum_num, char *err, size_t errsize);

/* Evaluate an expression; EDS_OK or EDS_E_RUNTIME (d filled). */
int eds_eval(struct eds_run *r, const struct eds_node *n, struct eds_val *out);
/* Evaluate as a condition: null is false, non-booleans are an error. */
int eds_eval_cond(struct eds_run *r, const struct eds_node *n, bool *out);
/* Run one action on the current target. */
int eds_exec_action(struct eds_run *r, const struct eds_action *a);
/* Fail the current rule: "rule at F:L:C failed on PATH (ADDR): ..." */
int eds_run_fail(struct eds_run *r, struct eds_span span, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Describe the current target for messages ("endpoints[0].lb_endpoints[2] (10.0.0.1:80)"). */
void eds_run_target(const struct eds_run *r, char *path, size_t psize, char *what, size_t wsize);
bool eds_val_equal(const struct eds_val *a, const struct eds_val *b);

/* ---- test hooks (testdata/unit/test_rules.c) ---- */

/* Units compiled with an equality index. */
size_t eds_rules_indexed_units(const struct eds_program *p);
/* eds_rules_run without using the indexes (for equivalence tests). */
int eds_rules_run_unindexed(const struct eds_program *p, ProtobufCMessage *cla,
			    struct eds_arena *req, const struct eds_run_opts *opts, bool *changed,
			    struct eds_diag *d);

#endif
