/*
 * Binder: resolves every name to protobuf-c field descriptors once, so that
 * evaluation follows offsets and never looks at a name; checks types where
 * both sides are known before any input is read; compiles regexes
 * (REG_EXTENDED; REG_NOSUB when the rule uses no $N) and parses CIDRs;
 * computes each rule's scope; and groups runs of equality rules on one name
 * into hash indexes (eds_expr_build_units).
 *
 * Regexes come from the user's rules and run on every target.  glibc's
 * regexec is a DFA-based matcher without exponential backtracking for
 * REG_EXTENDED without back-references, which are refused; its state set
 * grows with the pattern, and regcomp builds every copy a repetition makes,
 * so patterns are capped at lim.max_regex bytes (--max-regex), also with
 * their repetitions written out; each compiled one takes 10 KB or more, so a
 * program holds at most lim.max_regexes (--max-regexes).
 *
 * In the C locale glibc matches bytes: "." would take the first byte of
 * "\u00e9" and $1 would hold half a character, a string Envoy rejects.  So a
 * pattern in which a character can count as more than one byte (one with
 * '.', a bracket, a backslash or a non-ASCII character; see same_on_bytes)
 * is compiled a second time in C.UTF-8, which takes as much memory again or
 * up to twice as much, and eval_match uses that one for a subject that is
 * not all ASCII; on ASCII text both give the same answer, and the C one is
 * several times faster.
 */
#include <arpa/inet.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "expr.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "schema.h"

struct binder {
	struct eds_program *p;
	struct eds_arena *a;
	struct eds_diags *errs;
	const struct eds_src *dsrc;   /* diagnostics point here */
	const char *text;             /* the program's copy of the source */
	struct eds_rule *rule;
	bool in_pattern;
	bool uses_captures;
	unsigned maxlevel;
	bool failed;
};

static void berr(struct binder *b, struct eds_span sp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void berr(struct binder *b, struct eds_span sp, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	eds_expr_error(b->errs, b->dsrc, sp.start, sp.end, "%s", msg);
	b->failed = true;
}

/* ---- suggestions ---- */

unsigned eds_expr_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen > 64 || blen > 64)
		return 99;
	unsigned row[65];
	for (size_t j = 0; j <= blen; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= alen; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= blen; j++) {
			unsigned up = row[j];
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned best = diag + cost;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			if (up + 1 < best)
				best = up + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[blen];
}

struct suggest {
	const char *best;
	unsigned dist;
};

static void suggest_try(struct suggest *sg, const char *s, size_t len, const char *cand)
{
	unsigned d = eds_expr_distance(s, len, cand, strlen(cand));
	unsigned limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
	if (d <= limit && d < sg->dist) {
		sg->best = cand;
		sg->dist = d;
	}
}

static void suggest_fmt(const struct suggest *sg, char *out, size_t size)
{
	if (sg->best)
		snprintf(out, size, " (did you mean \"%s\"?)", sg->best);
	else if (size)
		out[0] = '\0';
}

/* ---- descriptors ---- */

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
						  const char *s, size_t len)
{
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		if (strlen(f->name) == len && memcmp(f->name, s, len) == 0)
			return f;
	}
	/* JSON name: drop each '_' and upper-case the next character. */
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const char *n = f->name;
		size_t k = 0;
		bool up = false, ok = true;
		for (; *n && ok; n++) {
			if (*n == '_') {
				up = true;
				continue;
			}
			char c = *n;
			if (up && c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			up = false;
			ok = k < len && s[k] == c;
			k++;
		}
		if (ok && k == len && strchr(f->name, '_'))
			return f;
	}
	return NULL;
}

static const struct {
	const char *msg, *field;
	struct eds_constraint c;
} constraint_table[] = {
	{ "envoy.config.core.v3.SocketAddress", "port_value", { .range = true, .min = 0, .max = 65535 } },
	{ "envoy.config.endpoint.v3.Endpoint.HealthCheckConfig", "port_value",
	  { .range = true, .min = 0, .max = 65535 } },
	{ "envoy.config.core.v3.Pipe", "mode", { .range = true, .min = 0, .max = 511 } },
	{ "envoy.config.endpoint.v3.LocalityLbEndpoints", "priority", { .range = true, .min = 0, .max = 128 } },
	{ "envoy.config.endpoint.v3.LbEndpoint", "load_balancing_weight",
	  { .range = true, .min = 1, .max = 4294967295.0 } },
	{ "envoy.config.endpoint.v3.LocalityLbEndpoints", "load_balancing_weight",
	  { .range = true, .min = 1, .max = 4294967295.0 } },
	{ "envoy.config.endpoint.v3.ClusterLoadAssignment.Policy", "overprovisioning_factor",
	  { .range = true, .min = 1, .max = 4294967295.0 } },
	{ "envoy.config.endpoint.v3.ClusterLoadAssignment", "cluster_name", { .nonempty = true } },
	{ "envoy.config.core.v3.SocketAddress", "address", { .nonempty = true } },
	{ "envoy.config.core.v3.Pipe", "path", { .nonempty = true } },
	{ "envoy.config.endpoint.v3.ClusterLoadAssignment.Policy.DropOverload", "category",
	  { .nonempty = true } },
	{ "envoy.config.core.v3.SocketAddress", "protocol", { .defined_only = true } },
	{ "envoy.type.v3.FractionalPercent", "denominator", { .defined_only = true } },
};

static const struct eds_constraint port_constraint = { .range = true, .min = 0, .max = 65535 };
static const struct eds_constraint addr_constraint = { .nonempty = true };

static const struct eds_constraint *find_constraint(const ProtobufCMessageDescriptor *owner,
						    const ProtobufCFieldDescriptor *f)
{
	for (size_t i = 0; i < sizeof constraint_table / sizeof constraint_table[0]; i++)
		if (strcmp(owner->name, constraint_table[i].msg) == 0 &&
		    strcmp(f->name, constraint_table[i].field) == 0)
			return &constraint_table[i].c;
	return NULL;
}

static uint8_t field_stype(const ProtobufCFieldDescriptor *f, bool *is_enum)
{
	*is_enum = false;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
		return EDS_V_STR;
	case PROTOBUF_C_TYPE_BOOL:
		return EDS_V_BOOL;
	case PROTOBUF_C_TYPE_ENUM:
		*is_enum = true;
		return EDS_V_STR;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessageDescriptor *d = f->descriptor;
		switch (eds_schema_wkt(d)) {
		case EDS_WKT_STRUCT: return EDS_V_OBJ;
		case EDS_WKT_LIST_VALUE: return EDS_V_LIST;
		case EDS_WKT_VALUE: return EDS_V_ANY;
		case EDS_WKT_DURATION: return EDS_V_NUM;
		case EDS_WKT_WRAPPER: return field_stype(&d->fields[0], is_enum);
		default: return EDS_V_MSG;
		}
	}
	default:
		return EDS_V_NUM;
	}
}

static uint8_t final_fkind(const ProtobufCFieldDescriptor *f)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE)
		return EDS_FK_SCALAR;
	switch (eds_schema_wkt(f->descriptor)) {
	case EDS_WKT_STRUCT: return EDS_FK_STRUCT;
	case EDS_WKT_LIST_VALUE: return EDS_FK_LIST;
	case EDS_WKT_VALUE: return EDS_FK_VALUE;
	case EDS_WKT_DURATION: return EDS_FK_DURATION;
	case EDS_WKT_WRAPPER: return EDS_FK_WRAPPER;
	default: return EDS_FK_MSG;
	}
}

/* ---- paths ---- */

enum { SHORT_NONE, SHORT_FIELDS, SHORT_VIRT };

static const char *const short_names[] = { "cluster", "region", "zone", "sub_zone", "priority",
					   "address", "port", "hostname", "health", "weight",
					   "metadata", "locality", "lb_endpoint", "cla" };

static bool seg_is(const struct eds_seg *s, const char *name)
{
	return s->kind == EDS_SEG_NAME && s->len == strlen(name) && memcmp(s->s, name, s->len) == 0;
}

struct pathb {
	struct binder *b;
	struct eds_bpath *bp;
	struct eds_step *steps;
	size_t n, cap;
	const ProtobufCMessageDescriptor *desc; /* current message; NULL when dynamic */
	bool dyn;
	bool scalar;                           /* at a non-message field: no more steps */
	const ProtobufCFieldDescriptor *pending; /* a repeated field waiting for [ ] */
	const ProtobufCMessageDescriptor *owner; /* message holding the final field */
	const ProtobufCFieldDescriptor *final;
};

/* Steps are built in malloc'd scratch and copied to the arena at their
 * exact size: a program of many rules is mostly paths. */
static struct eds_step *push_step(struct pathb *pb, uint8_t kind)
{
	if (pb->n == pb->cap) {
		size_t nc = pb->cap ? pb->cap * 2 : 8;
		struct eds_step *v = realloc(pb->steps, nc * sizeof *v);
		if (!v)
			abort();
		pb->steps = v;
		pb->cap = nc;
	}
	struct eds_step *s = &pb->steps[pb->n++];
	memset(s, 0, sizeof *s);
	s->kind = kind;
	return s;
}

/* Enter field f of the current message (not repeated). */
static void enter_field(struct pathb *pb, const ProtobufCFieldDescriptor *f)
{
	struct eds_step *s = push_step(pb, EDS_ST_FIELD);
	s->f = f;
	pb->owner = pb->desc;
	pb->final = f;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		pb->desc = f->descriptor;
		pb->scalar = false;
	} else {
		pb->desc = NULL;
		pb->scalar = true;
	}
}

static bool name_field(struct pathb *pb, const char *name)
{
	const ProtobufCFieldDescriptor *f = find_field(pb->desc, name, strlen(name));
	if (!f)
		return false;
	enter_field(pb, f);
	return true;
}

static const char *type_word(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: return "a string";
	case PROTOBUF_C_TYPE_BYTES: return "bytes";
	case PROTOBUF_C_TYPE_BOOL: return "a bool";
	case PROTOBUF_C_TYPE_ENUM: return "an enum";
	default: return "a number";
	}
}

/* Apply one written segment; false after reporting an error. */
static bool apply_seg(struct pathb *pb, const struct eds_seg *seg)
{
	struct binder *b = pb->b;
	char sug[96];
	if (pb->pending) {
		const ProtobufCFieldDescriptor *f = pb->pending;
		pb->pending = NULL;
		bool map = f->type == PROTOBUF_C_TYPE_MESSAGE && eds_schema_map_entry(f->descriptor);
		if (map && seg->kind == EDS_SEG_KEY) {
			const ProtobufCMessageDescriptor *ed = f->descriptor;
			if (ed->fields[0].type != PROTOBUF_C_TYPE_STRING) {
				berr(b, seg->span, "map field \"%s\" has non-string keys (not supported)", f->name);
				return false;
			}
			struct eds_step *s = push_step(pb, EDS_ST_MAP);
			s->f = f;
			s->key = seg->s;
			s->klen = seg->len;
			pb->owner = ed;
			pb->final = EDS_STEP_VF(s);
			if (pb->final->type == PROTOBUF_C_TYPE_MESSAGE) {
				pb->desc = pb->final->descriptor;
			} else {
				pb->desc = NULL;
				pb->scalar = true;
			}
			return true;
		}
		if (!map && seg->kind == EDS_SEG_INDEX) {
			struct eds_step *s = push_step(pb, EDS_ST_ELEM);
			s->f = f;
			s->idx = (size_t)seg->index;
			pb->owner = pb->desc;
			pb->final = f;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				pb->desc = f->descriptor;
			} else {
				pb->desc = NULL;
				pb->scalar = true;
			}
			return true;
		}
		if (map)
			berr(b, seg->span, "map field \"%s\" is indexed by a string key, e.g. %s[\"key\"]",
			     f->name, f->name);
		else
			berr(b, seg->span, "repeated field \"%s\" is indexed by a number, e.g. %s[0]", f->name,
			     f->name);
		return false;
	}
	if (pb->scalar) {
		berr(b, seg->span, "\"%s\" is %s and has nothing inside", pb->final->name, type_word(pb->final));
		return false;
	}
	if (pb->dyn || (pb->desc && (eds_schema_wkt(pb->desc) == EDS_WKT_STRUCT ||
				     eds_schema_wkt(pb->desc) == EDS_WKT_VALUE ||
				     eds_schema_wkt(pb->desc) == EDS_WKT_LIST_VALUE))) {
		bool list = !pb->dyn && eds_schema_wkt(pb->desc) == EDS_WKT_LIST_VALUE;
		bool strct = !pb->dyn && eds_schema_wkt(pb->desc) == EDS_WKT_STRUCT;
		if (seg->kind == EDS_SEG_INDEX) {
			if (strct) {
				berr(b, seg->span, "a Struct is indexed by key, not by number");
				return false;
			}
			struct eds_step *s = push_step(pb, EDS_ST_LIDX);
			s->idx = (size_t)seg->index;
		} else {
			if (list) {
				berr(b, seg->span, "a list is indexed by number, not by key");
				return false;
			}
			struct eds_step *s = push_step(pb, EDS_ST_SKEY);
			s->key = seg->kind == EDS_SEG_KEY ? seg->s : eds_arena_strndup(b->a, seg->s, seg->len);
			s->klen = seg->len;
		}
		pb->dyn = true;
		pb->desc = NULL;
		pb->final = NULL;
		return true;
	}
	const ProtobufCMessageDescriptor *d = pb->desc;
	if (seg->kind == EDS_SEG_KEY) {
		if (d == &envoy__config__core__v3__metadata__descriptor) {
			/* metadata["ns"] is metadata.filter_metadata["ns"] */
			pb->pending = find_field(d, "filter_metadata", 15);
			return apply_seg(pb, seg);
		}
		berr(b, seg->span, "[\"...\"] needs a map, metadata or a Struct, and %s is none", d->name);
		return false;
	}
	if (seg->kind == EDS_SEG_INDEX) {
		berr(b, seg->span, "[%lld] needs a repeated field or a list, and %s is neither",
		     (long long)seg->index, d->name);
		return false;
	}
	if (eds_schema_wkt(d) == EDS_WKT_WRAPPER && seg_is(seg, "value"))
		return true; /* the wrapper already reads as its value */
	const ProtobufCFieldDescriptor *f = find_field(d, seg->s, seg->len);
	if (!f) {
		struct suggest sg = { NULL, 99 };
		for (unsigned i = 0; i < d->n_fields; i++)
			suggest_try(&sg, seg->s, seg->len, d->fields[i].name);
		suggest_fmt(&sg, sug, sizeof sug);
		berr(b, seg->span, "unknown field \"%.*s\" in %s%s", (int)seg->len, seg->s, d->name, sug);
		return false;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		pb->pending = f;
		pb->owner = d;
		pb->final = f;
		return true;
	}
	enter_field(pb, f);
	return true;
}

static const ProtobufCMessageDescriptor *root_desc(unsigned lv)
{
	switch (lv) {
	case EDS_LV_CLA: return &envoy__config__endpoint__v3__cluster_load_assignment__descriptor;
	case EDS_LV_LOC: return &envoy__config__endpoint__v3__locality_lb_endpoints__descriptor;
	default: return &envoy__config__endpoint__v3__lb_endpoint__descriptor;
	}
}

static const char *root_name(unsigned lv)
{
	return lv == EDS_LV_CLA ? "cla" : lv == EDS_LV_LOC ? "locality" : "lb_endpoint";
}

/* Resolve a PATH node's segments into bp (steps left in pb). */
static struct eds_bpath *resolve_path(struct binder *b, struct eds_node *n, struct eds_bpath *bp, struct pathb *pb)
{
	const struct eds_seg *s0 = &n->segs[0];
	size_t i = 1;
	bp->span = n->span;
	if (seg_is(s0, "lb_endpoint") || seg_is(s0, "lbEndpoint"))
		bp->root = EDS_LV_EP;
	else if (seg_is(s0, "locality"))
		bp->root = EDS_LV_LOC;
	else if (seg_is(s0, "cla"))
		bp->root = EDS_LV_CLA;
	else if (seg_is(s0, "cluster"))
		bp->root = EDS_LV_CLA, i = 0;
	else if (seg_is(s0, "region") || seg_is(s0, "zone") || seg_is(s0, "sub_zone") ||
		 seg_is(s0, "subZone") || seg_is(s0, "priority"))
		bp->root = EDS_LV_LOC, i = 0;
	else if (seg_is(s0, "hostname") || seg_is(s0, "health") || seg_is(s0, "weight") ||
		 seg_is(s0, "metadata") || seg_is(s0, "address") || seg_is(s0, "port"))
		bp->root = EDS_LV_EP, i = 0;
	else {
		struct suggest sg = { NULL, 99 };
		char sug[128];
		for (size_t k = 0; k < sizeof short_names / sizeof short_names[0]; k++)
			suggest_try(&sg, s0->s, s0->len, short_names[k]);
		suggest_fmt(&sg, sug, sizeof sug);
		if (!sg.best) {
			/* A field name used bare: point at the full path. */
			for (unsigned lv = EDS_LV_EP + 1; lv-- > 0;) {
				const ProtobufCFieldDescriptor *f = find_field(root_desc(lv), s0->s, s0->len);
				if (f) {
					snprintf(sug, sizeof sug, " (did you mean \"%s.%s\"?)", root_name(lv),
						 f->name);
					break;
				}
			}
		}
		berr(b, s0->span, "unknown name \"%.*s\"%s", (int)s0->len, s0->s, sug);
		return NULL;
	}
	pb->desc = root_desc(bp->root);
	if (i == 0) {
		/* short names */
		bool ok = true;
		if (seg_is(s0, "cluster"))
			ok = name_field(pb, "cluster_name");
		else if (seg_is(s0, "region") || seg_is(s0, "zone") || seg_is(s0, "sub_zone") ||
			 seg_is(s0, "subZone")) {
			ok = name_field(pb, "locality");
			ok = ok && name_field(pb, seg_is(s0, "region") ? "region"
						      : seg_is(s0, "zone") ? "zone"
									    : "sub_zone");
		} else if (seg_is(s0, "priority"))
			ok = name_field(pb, "priority");
		else if (seg_is(s0, "hostname")) {
			ok = name_field(pb, "endpoint") && name_field(pb, "hostname");
		} else if (seg_is(s0, "health"))
			ok = name_field(pb, "health_status");
		else if (seg_is(s0, "weight"))
			ok = name_field(pb, "load_balancing_weight");
		else if (seg_is(s0, "metadata"))
			ok = name_field(pb, "metadata");
		else if (seg_is(s0, "address") || seg_is(s0, "port")) {
			bp->virt = seg_is(s0, "address") ? EDS_VIRT_ADDRESS : EDS_VIRT_PORT;
			if (n->nsegs > 1) {
				berr(b, n->segs[1].span, "\"%.*s\" has nothing inside", (int)s0->len, s0->s);
				return NULL;
			}
			bp->stype = bp->virt == EDS_VIRT_ADDRESS ? EDS_V_STR : EDS_V_NUM;
			bp->cons = bp->virt == EDS_VIRT_ADDRESS ? &addr_constraint : &port_constraint;
			return bp;
		}
		if (!ok) {
			berr(b, s0->span, "internal error: short name \"%.*s\" does not resolve", (int)s0->len,
			     s0->s);
			return NULL;
		}
		i = 1;
	} else if (bp->root == EDS_LV_LOC && n->nsegs > 1) {
		/* locality.weight and locality.region/zone/sub_zone are aliases */
		const struct eds_seg *s1 = &n->segs[1];
		bool ok = true, alias = true;
		if (seg_is(s1, "weight"))
			ok = name_field(pb, "load_balancing_weight");
		else if (seg_is(s1, "region") || seg_is(s1, "zone") || seg_is(s1, "sub_zone") ||
			 seg_is(s1, "subZone"))
			ok = name_field(pb, "locality") &&
			     name_field(pb, seg_is(s1, "region") ? "region"
						 : seg_is(s1, "zone") ? "zone"
								       : "sub_zone");
		else
			alias = false;
		if (!ok)
			return NULL;
		if (alias)
			i = 2;
	}
	for (; i < n->nsegs; i++) {
		if (!apply_seg(pb, &n->segs[i]))
			return NULL;
	}
	bp->steps = pb->steps;
	bp->nsteps = (uint32_t)pb->n;
	if (pb->pending) {
		struct eds_step *s = push_step(pb, EDS_ST_FIELD);
		s->f = pb->pending;
		bp->steps = pb->steps;
		bp->nsteps = (uint32_t)pb->n;
		bp->whole_repeated = true;
		bp->last = pb->pending;
		bp->stype = EDS_V_MSG;
		bp->fkind = EDS_FK_NONE;
		return bp;
	}
	if (pb->dyn) {
		bp->stype = EDS_V_ANY;
		bp->fkind = EDS_FK_VALUE;
	} else if (pb->n == 0) {
		bp->stype = EDS_V_MSG;
		bp->fkind = EDS_FK_MSG;
	} else {
		bool is_enum;
		bp->last = pb->final;
		bp->stype = field_stype(pb->final, &is_enum);
		bp->fkind = final_fkind(pb->final);
		bp->is_enum = is_enum;
		if (pb->owner)
			bp->cons = find_constraint(pb->owner, pb->final);
	}
	if (bp->nsteps > 0 && bp->steps[0].f) {
		const ProtobufCFieldDescriptor *f0 = bp->steps[0].f;
		if ((bp->root == EDS_LV_CLA && strcmp(f0->name, "endpoints") == 0) ||
		    (bp->root == EDS_LV_LOC &&
		     (strcmp(f0->name, "lb_endpoints") == 0 || strcmp(f0->name, "load_balancer_endpoints") == 0)))
			bp->through_targets = true;
	}
	return bp;
}

/* How deep the steps nest: each message counts, a map entry too (the
 * decoders' --max-depth); a key of a Value that holds a Struct goes through
 * the Struct, its entry and the Value under it. */
static uint32_t path_depth(const struct eds_bpath *bp)
{
	uint32_t d = 1 + (bp->virt ? EDS_LV_EP : bp->root);
	enum eds_wkt cur = EDS_WKT_NONE;
	for (uint32_t i = 0; i < bp->nsteps; i++) {
		const struct eds_step *s = &bp->steps[i];
		const ProtobufCFieldDescriptor *f = s->f;
		switch (s->kind) {
		case EDS_ST_MAP:
			d++; /* the entry */
			f = EDS_STEP_VF(s);
			/* fall through */
		case EDS_ST_FIELD:
		case EDS_ST_ELEM:
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				d++;
				cur = eds_schema_wkt(f->descriptor);
			}
			break;
		case EDS_ST_SKEY:
			d += cur == EDS_WKT_VALUE ? 3 : 2;
			cur = EDS_WKT_VALUE;
			break;
		case EDS_ST_LIDX:
			d += cur == EDS_WKT_VALUE ? 2 : 1;
			cur = EDS_WKT_VALUE;
			break;
		}
	}
	return d;
}

/* A POSIX bracket expression at re[i] ('['): the index just past it, or i + 1
 * when it does not close (regcomp then reports it). */
static size_t bracket_end(const char *re, size_t n, size_t i)
{
	size_t k = i + 1;
	if (k < n && re[k] == '^')
		k++;
	if (k < n && re[k] == ']')
		k++;
	while (k < n && re[k] != ']') {
		if (re[k] == '[' && k + 1 < n && (re[k + 1] == ':' || re[k + 1] == '=' || re[k + 1] == '.')) {
			char c = re[k + 1];
			size_t e = k + 2;
			while (e + 1 < n && !(re[e] == c && re[e + 1] == ']'))
				e++;
			k = e + 2;
		} else {
			k++;
		}
	}
	return k < n ? k + 1 : i + 1;
}

/* A bound "{m}", "{m,}" or "{m,n}" at re[i]: the copies glibc makes of what
 * it repeats, and *end past it; 0 when it is not a bound. */
static size_t bound_copies(const char *re, size_t n, size_t i, size_t *end, size_t *min)
{
	size_t k = i + 1, m = 0, mx = 0;
	bool comma = false, digits = false, digits2 = false;
	for (; k < n && re[k] >= '0' && re[k] <= '9'; k++, digits = true)
		m = m < 100000 ? m * 10 + (size_t)(re[k] - '0') : m;
	if (k < n && re[k] == ',') {
		comma = true;
		for (k++; k < n && re[k] >= '0' && re[k] <= '9'; k++, digits2 = true)
			mx = mx < 100000 ? mx * 10 + (size_t)(re[k] - '0') : mx;
	}
	if (k >= n || re[k] != '}' || (!digits && !digits2))
		return 0;
	*end = k + 1;
	*min = m;
	size_t c = !comma ? m : digits2 ? mx : m + 1;
	return c ? c : 1;
}

/*
 * The size of a POSIX extended regular expression with its repetitions
 * written out, as glibc's regcomp builds it: "x{m,n}" makes n copies of x,
 * "x+" two, nested repetitions multiply.  regcomp's time and memory grow
 * with that, faster than linearly: a{1,10000} takes 800 MB and half a
 * second, (.*) followed by fifteen '+' more memory than there is.  Sets
 * *backref on a back-reference (\1 to \9) outside brackets, and *nullrep
 * when '+' or a bound of more than one copy repeats something that can
 * match the empty string: with an anchor before it glibc's regcomp takes
 * exponential time in the copies ("^(.*)++++" 0.04 s, "^(.*)+++++" a
 * minute, "^((.*)*(.*)*(.*)*(.*)*){0,5}" 17 s), whatever the size.
 */
static size_t regex_expanded(const char *re, size_t n, bool *backref, bool *nullrep)
{
	const size_t cap = SIZE_MAX / 4;
	size_t groups = 0, last = 0, depth = 0, min;
	for (size_t i = 0; i < n; i++)
		groups += re[i] == '(';
	size_t *size = calloc(groups + 1, sizeof *size); /* per open group */
	/* Per open group: its current alternative can match the empty string so
	 * far (alt), an earlier one can (any), and alt of the enclosing group
	 * when it opened (before).  The last atom: can it (last_null), and alt
	 * before it came (last_before). */
	bool *alt = calloc(groups + 1, 3 * sizeof *alt), *any = alt + groups + 1, *before = any + groups + 1;
	bool atom = false, last_null = false, last_before = true;
	if (!size || !alt)
		abort();
	alt[0] = true;
	for (size_t i = 0; i < n;) {
		char c = re[i];
		size_t end = i + 1, copies = 0;
		if (c == '(') {
			size[++depth] = 1;
			last = 0;
			before[depth] = alt[depth - 1];
			alt[depth] = true;
			any[depth] = atom = false;
		} else if (c == ')' && depth) {
			last = size[depth] + 1;
			last_null = alt[depth] || any[depth];
			last_before = before[depth];
			depth--;
			size[depth] = size[depth] + last < cap ? size[depth] + last : cap;
			alt[depth] = last_before && last_null;
			atom = true;
		} else if (c == '*' || c == '?' || c == '|' || c == '^' || c == '$') {
			size[depth] += 1;
			if (c == '|') {
				last = 0;
				any[depth] |= alt[depth];
				alt[depth] = true;
				atom = false;
			} else if (c == '^' || c == '$') { /* an atom that matches the empty string */
				last_before = alt[depth];
				atom = last_null = true;
			} else if (atom) { /* the last atom may now match nothing */
				last_null = true;
				alt[depth] = last_before;
			}
		} else if (c == '+') {
			copies = 2;
			min = 1;
		} else if (c == '{' && (copies = bound_copies(re, n, i, &end, &min))) {
			/* counted below */
		} else {
			bool zero_width = false;
			if (c == '[')
				end = bracket_end(re, n, i);
			else if (c == '\\' && i + 1 < n) {
				end = i + 2;
				*backref |= re[i + 1] >= '1' && re[i + 1] <= '9';
				zero_width = strchr("bB<>`'", re[i + 1]) != NULL;
			}
			last = end - i;
			size[depth] = size[depth] + last < cap ? size[depth] + last : cap;
			last_before = alt[depth];
			last_null = zero_width;
			alt[depth] = last_before && last_null;
			atom = true;
		}
		if (copies && atom) {
			*nullrep |= last_null && copies > 1;
			if (!min) {
				last_null = true;
				alt[depth] = last_before;
			}
		}
		if (copies) {
			/* the last atom or group again, copies - 1 more times */
			size_t more = last && copies - 1 < cap / last ? last * (copies - 1) : (last ? cap : 0);
			size[depth] = size[depth] + more < cap ? size[depth] + more : cap;
			last = last && copies < cap / last ? last * copies : (last ? cap : 0);
			size[depth] += end - i;
		}
		i = end;
	}
	for (; depth; depth--)
		size[depth - 1] = size[depth - 1] + size[depth] < cap ? size[depth - 1] + size[depth] : cap;
	size_t total = size[0];
	free(size);
	free(alt);
	return total;
}

/* Resolve a PATH node's segments. */
static struct eds_bpath *bind_path(struct binder *b, struct eds_node *n)
{
	struct eds_bpath *bp = eds_arena_zalloc(b->a, sizeof *bp);
	struct pathb pb = { .b = b, .bp = bp };
	struct eds_bpath *out = resolve_path(b, n, bp, &pb);
	if (out && out->nsteps) {
		out->steps = eds_arena_alloc(b->a, out->nsteps * sizeof *out->steps);
		memcpy(out->steps, pb.steps, out->nsteps * sizeof *out->steps);
	}
	if (out)
		out->depth = path_depth(out);
	free(pb.steps);
	/* A map key or Struct key in the path is a string the rules may write. */
	for (size_t i = 0; out && i < out->nsteps; i++) {
		const struct eds_step *s = &out->steps[i];
		if ((s->kind == EDS_ST_MAP || s->kind == EDS_ST_SKEY) && s->klen > b->p->lim.max_string) {
			eds_expr_limit(b->errs, b->dsrc, n->span.start, n->span.end,
				       "key of %zu bytes in a path, more than the limit of %zu (--max-string)",
				       s->klen, b->p->lim.max_string);
			b->failed = true;
			break;
		}
	}
	return out;
}

static unsigned path_level(const struct eds_bpath *bp)
{
	return bp->virt ? EDS_LV_EP : bp->root;
}

static void note_path(struct binder *b, const struct eds_bpath *bp)
{
	unsigned lv = path_level(bp);
	if (lv > b->maxlevel)
		b->maxlevel = lv;
}

/* ---- expressions ---- */

const char *eds_vk_an(unsigned k)
{
	switch (k) {
	case EDS_V_NULL: return "null";
	case EDS_V_BOOL: return "a boolean";
	case EDS_V_NUM: return "a number";
	case EDS_V_STR: return "a string";
	case EDS_V_OBJ: return "an object";
	case EDS_V_LIST: return "a list";
	case EDS_V_MSG: return "a message";
	default: return "a value";
	}
}

const char *eds_vk_name(unsigned k)
{
	switch (k) {
	case EDS_V_NULL: return "null";
	case EDS_V_BOOL: return "boolean";
	case EDS_V_NUM: return "number";
	case EDS_V_STR: return "string";
	case EDS_V_OBJ: return "object";
	case EDS_V_LIST: return "list";
	case EDS_V_MSG: return "message";
	default: return "value";
	}
}

static bool known(uint8_t t)
{
	return t != EDS_V_ANY && t != EDS_V_NULL;
}

static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

locale_t eds_expr_utf8_locale(void)
{
	pthread_once(&utf8_once, utf8_locale_init);
	return utf8_locale;
}

/* Whether pattern s means the same on bytes as on UTF-8 characters: no
 * '.', bracket, backslash (glibc's \\W and \\S match any one byte that is
 * not a word or space character) or character outside ASCII. */
static bool same_on_bytes(const char *s)
{
	for (; *s; s++)
		if (*s == '.' || *s == '[' || *s == '\\' || (unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* n's pattern s compiled in locale loc ((locale_t)0: the C locale), in
 * the arena; NULL after reporting why not (for_what ends the message). */
static regex_t *compile_re(struct binder *b, const struct eds_node *n, const char *s, bool nosub,
			   locale_t loc, const char *for_what)
{
	regex_t *re = eds_arena_zalloc(b->a, sizeof *re);
	locale_t old = loc ? uselocale(loc) : (locale_t)0;
	int rc = regcomp(re, s, REG_EXTENDED | (nosub ? REG_NOSUB : 0));
	if (loc)
		uselocale(old);
	if (!rc)
		return re;
	char msg[160];
	regerror(rc, re, msg, sizeof msg);
	/* glibc's messages start with a capital: match our style */
	if (msg[0] >= 'A' && msg[0] <= 'Z' && !(msg[1] >= 'A' && msg[1] <= 'Z'))
		msg[0] = (char)(msg[0] - 'A' + 'a');
	berr(b, n->rhs->span, "invalid regular expression%s: %s", for_what, msg);
	return NULL;
}

static void bind_node(struct binder *b, struct eds_node *n);

static void want_bool(struct binder *b, struct eds_node *n, const char *what)
{
	if (known(n->stype) && n->stype != EDS_V_BOOL)
		berr(b, n->span, "%s needs a boolean, got %s", what, eds_vk_an(n->stype));
}

static bool enum_literal(struct binder *b, const struct eds_bpath *bp, struct eds_node *lit)
{
	const ProtobufCEnumDescriptor *ed = bp->last->descriptor;
	if (lit->val.k == EDS_V_NUM) {
		if (lit->val.n != floor(lit->val.n) || lit->val.n < INT32_MIN || lit->val.n > INT32_MAX) {
			berr(b, lit->span, "%g is not an enum number", lit->val.n);
			return false;
		}
		return true;
	}
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, lit->val.s);
	if (!ev) {
		struct suggest sg = { NULL, 99 };
		char sug[96];
		for (unsigned i = 0; i < ed->n_values; i++)
			suggest_try(&sg, lit->val.s, lit->val.len, ed->values[i].name);
		suggest_fmt(&sg, sug, sizeof sug);
		berr(b, lit->span, "unknown value \"%s\" for %s%s", lit->val.s, ed->name, sug);
		return false;
	}
	lit->val.k = EDS_V_NUM;
	lit->val.n = ev->value;
	lit->stype = EDS_V_NUM;
	return true;
}

static bool parse_cidr(const char *s, struct eds_cidr *c)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof buf)
		return false;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		c->bits = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		c->bits = 128;
	} else {
		return false;
	}
	if (slash) {
		const char *d = slash + 1;
		if (!*d || strlen(d) > 3)
			return false;
		unsigned v = 0;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				return false;
			v = v * 10 + (unsigned)(*d - '0');
		}
		if (v > c->bits)
			return false;
		c->bits = v;
	}
	size_t nbytes = c->family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < nbytes; i++) {
		unsigned keep = c->bits > i * 8 ? (c->bits - i * 8 >= 8 ? 8 : c->bits - i * 8) : 0;
		c->addr[i] &= (uint8_t)(0xFF00u >> keep);
	}
	return true;
}

/* The longest string in a JSON value, object keys included. */
static size_t value_longest(const Google__Protobuf__Value *v)
{
	size_t m = 0;
	if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE && v->string_value) {
		m = strlen(v->string_value);
	} else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE && v->struct_value) {
		for (size_t i = 0; i < v->struct_value->n_fields; i++) {
			const Google__Protobuf__Struct__FieldsEntry *e = v->struct_value->fields[i];
			size_t k = e->key ? strlen(e->key) : 0, x = e->value ? value_longest(e->value) : 0;
			m = k > m ? k : m;
			m = x > m ? x : m;
		}
	} else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE && v->list_value) {
		for (size_t i = 0; i < v->list_value->n_values; i++) {
			size_t x = value_longest(v->list_value->values[i]);
			m = x > m ? x : m;
		}
	}
	return m;
}

/* A literal string (alone, or in a JSON object or list) longer than
 * --max-string: the rules could store what no input may hold. */
static void bind_literal(struct binder *b, const struct eds_node *n)
{
	size_t m = 0;
	if (n->val.k == EDS_V_STR) {
		m = n->val.len;
	} else if (n->val.k == EDS_V_OBJ || n->val.k == EDS_V_LIST) {
		Google__Protobuf__Value v = GOOGLE__PROTOBUF__VALUE__INIT;
		v.kind_case = n->val.k == EDS_V_OBJ ? GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE
						    : GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
		if (n->val.k == EDS_V_OBJ)
			v.struct_value = (Google__Protobuf__Struct *)n->val.p;
		else
			v.list_value = (Google__Protobuf__ListValue *)n->val.p;
		m = value_longest(&v);
	}
	if (m > b->p->lim.max_string) {
		eds_expr_limit(b->errs, b->dsrc, n->span.start, n->span.end,
			       "string of %zu bytes in a literal, more than the limit of %zu (--max-string)", m,
			       b->p->lim.max_string);
		b->failed = true;
	}
}

static void bind_node(struct binder *b, struct eds_node *n)
{
	switch (n->kind) {
	case EDS_N_LIT:
		bind_literal(b, n);
		return;
	case EDS_N_PATH: {
		n->path = bind_path(b, n);
		if (!n->path)
			return;
		note_path(b, n->path);
		if (n->path->whole_repeated) {
			berr(b, n->span,
			     "\"%s\" is a repeated field: index it (e.g. %s[0]) or test it with exists()",
			     n->path->last->name, n->path->last->name);
			return;
		}
		n->stype = n->path->stype;
		return;
	}
	case EDS_N_CAP:
		n->stype = EDS_V_STR;
		if (b->in_pattern) {
			berr(b, n->span, "$%u can only be used in the rule's actions", n->cap);
		} else if (!b->rule->has_regex) {
			berr(b, n->span, "$%u used but the pattern has no regular expression match (=~)", n->cap);
		} else if (n->cap > b->rule->nsub) {
			berr(b, n->span, "$%u used but the pattern has only %u capture group%s", n->cap,
			     b->rule->nsub, b->rule->nsub == 1 ? "" : "s");
		}
		return;
	case EDS_N_EXISTS:
		n->lhs->path = bind_path(b, n->lhs);
		if (n->lhs->path) {
			note_path(b, n->lhs->path);
		}
		n->stype = EDS_V_BOOL;
		return;
	case EDS_N_NOT:
		bind_node(b, n->lhs);
		want_bool(b, n->lhs, "'not'");
		return;
	case EDS_N_AND:
	case EDS_N_OR:
		for (size_t i = 0; i < n->nkids; i++) {
			bind_node(b, n->kids[i]);
			want_bool(b, n->kids[i], n->kind == EDS_N_AND ? "'and'" : "'or'");
		}
		return;
	case EDS_N_CMP: {
		bind_node(b, n->lhs);
		bind_node(b, n->rhs);
		struct eds_node *l = n->lhs, *r = n->rhs;
		/* An enum field against a literal compares numbers: the literal's
		 * name is checked here, once. */
		for (int side = 0; side < 2; side++) {
			struct eds_node *pth = side ? r : l, *lit = side ? l : r;
			if (pth->kind == EDS_N_PATH && pth->path && pth->path->is_enum && lit->kind == EDS_N_LIT &&
			    (lit->val.k == EDS_V_STR || lit->val.k == EDS_V_NUM)) {
				if (!enum_literal(b, pth->path, lit))
					return;
				pth->raw_enum = true;
				pth->stype = EDS_V_NUM;
			}
		}
		/* Against a value known only at run time (metadata, say) too: the
		 * field is read as its number, the value's name looked up then. */
		for (int side = 0; side < 2; side++) {
			struct eds_node *pth = side ? r : l, *other = side ? l : r;
			if (pth->kind == EDS_N_PATH && pth->path && pth->path->is_enum && !pth->raw_enum &&
			    !known(other->stype)) {
				pth->raw_enum = true;
				pth->stype = EDS_V_NUM;
				n->enum_cmp = true;
			}
		}
		if (known(l->stype) && known(r->stype) && l->stype != r->stype) {
			berr(b, n->span, "cannot compare %s with %s", eds_vk_an(l->stype), eds_vk_an(r->stype));
			return;
		}
		if (n->op != EDS_OP_EQ && n->op != EDS_OP_NE) {
			for (int side = 0; side < 2; side++) {
				struct eds_node *k = side ? r : l;
				if (k->stype == EDS_V_NULL) {
					berr(b, k->span, "only == and != compare with null");
					return;
				}
				if (known(k->stype) && k->stype != EDS_V_NUM && k->stype != EDS_V_STR) {
					berr(b, k->span, "only numbers and strings can be ordered, not %s",
					     eds_vk_an(k->stype));
					return;
				}
			}
		}
		return;
	}
	case EDS_N_MATCH: {
		bind_node(b, n->lhs);
		if (known(n->lhs->stype) && n->lhs->stype != EDS_V_STR) {
			berr(b, n->lhs->span, "'%s' needs a string on its left, got %s", n->negate ? "!~" : "=~",
			     eds_vk_an(n->lhs->stype));
			return;
		}
		const struct eds_val *rv = &n->rhs->val;
		const struct eds_limits *lim = &b->p->lim;
		if (rv->len > lim->max_regex || b->p->nregex >= lim->max_regexes) {
			if (rv->len > lim->max_regex)
				eds_expr_limit(b->errs, b->dsrc, n->rhs->span.start, n->rhs->span.end,
					       "regular expression is %zu bytes, more than the limit of %zu "
					       "(--max-regex)", rv->len, lim->max_regex);
			else
				eds_expr_limit(b->errs, b->dsrc, n->rhs->span.start, n->rhs->span.end,
					       "more than the limit of %zu regular expressions (--max-regexes)",
					       lim->max_regexes);
			b->failed = true;
			return;
		}
		bool backref = false, nullrep = false;
		size_t expanded = regex_expanded(rv->s, rv->len, &backref, &nullrep);
		if (backref) {
			berr(b, n->rhs->span, "back-references (\\1 to \\9) are not supported: glibc matches "
			     "them in exponential time");
			return;
		}
		if (nullrep) {
			berr(b, n->rhs->span, "'+' or a bound {m,n} repeats something that can match the empty "
			     "string (use '*', or repeat something that cannot): glibc compiles such patterns in "
			     "exponential time");
			return;
		}
		if (expanded > lim->max_regex) {
			char size[32] = "over 2^62"; /* (counting stops there) */
			if (expanded < SIZE_MAX / 4)
				snprintf(size, sizeof size, "%zu", expanded);
			eds_expr_limit(b->errs, b->dsrc, n->rhs->span.start, n->rhs->span.end,
				       "regular expression is %s bytes with its repetitions written out (as "
				       "regcomp builds it), more than the limit of %zu (--max-regex)",
				       size, lim->max_regex);
			b->failed = true;
			return;
		}
		bool nosub = n->negate || !b->uses_captures;
		if (!(n->re = compile_re(b, n, rv->s, nosub, (locale_t)0, "")))
			return;
		if (!same_on_bytes(rv->s)) {
			locale_t u8 = eds_expr_utf8_locale();
			if (!u8)
				berr(b, n->rhs->span, "regular expressions need the C library's C.UTF-8 locale, "
				     "which is missing");
			else
				n->re_utf8 = compile_re(b, n, rv->s, nosub, u8, " for UTF-8 text");
			if (!n->re_utf8) {
				regfree(n->re);
				n->re = NULL;
				return;
			}
		}
		n->re_id = b->p->nregex++;
		n->re_nsub = (unsigned)n->re->re_nsub;
		if (!n->negate) {
			b->rule->has_regex = true;
			if (n->re_nsub > b->rule->nsub)
				b->rule->nsub = n->re_nsub;
		}
		return;
	}
	case EDS_N_IN_CIDR: {
		bind_node(b, n->lhs);
		if (known(n->lhs->stype) && n->lhs->stype != EDS_V_STR) {
			berr(b, n->lhs->span, "'in' with a CIDR needs an address string, got %s",
			     eds_vk_an(n->lhs->stype));
			return;
		}
		n->cidr = eds_arena_zalloc(b->a, sizeof *n->cidr);
		if (!parse_cidr(n->rhs->val.s, n->cidr))
			berr(b, n->rhs->span, "invalid CIDR \"%s\" (expected e.g. \"10.0.0.0/8\" or \"fd00::/8\")",
			     n->rhs->val.s);
		return;
	}
	case EDS_N_IN_LIST: {
		bind_node(b, n->lhs);
		bind_literal(b, n->rhs);
		struct eds_node *l = n->lhs;
		if (l->kind == EDS_N_PATH && l->path && l->path->is_enum) {
			const Google__Protobuf__ListValue *lv = n->rhs->val.p;
			const ProtobufCEnumDescriptor *ed = l->path->last->descriptor;
			for (size_t i = 0; i < lv->n_values; i++) {
				const Google__Protobuf__Value *v = lv->values[i];
				if (v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE ||
				    !protobuf_c_enum_descriptor_get_value_by_name(ed, v->string_value)) {
					berr(b, n->rhs->span, "every element must name a value of %s", ed->name);
					return;
				}
			}
			return;
		}
		/* As ==: an element of another type than a known left side is an error. */
		const Google__Protobuf__ListValue *lv = n->rhs->val.p;
		for (size_t i = 0; known(l->stype) && lv && i < lv->n_values; i++) {
			struct eds_val e;
			eds_value_val(lv->values[i], &e);
			if (e.k != EDS_V_NULL && e.k != l->stype) {
				berr(b, n->rhs->span, "cannot compare %s with %s (element %zu of the list)",
				     eds_vk_an(l->stype), eds_vk_an(e.k), i);
				return;
			}
		}
		return;
	}
	case EDS_N_CONCAT: {
		for (size_t i = 0; i < n->nkids; i++)
			bind_node(b, n->kids[i]);
		for (size_t i = 0; i < n->nkids; i++) {
			struct eds_node *k = n->kids[i];
			if (k->stype != EDS_V_ANY && k->stype != EDS_V_STR) {
				struct eds_node *o = n->kids[i ? i - 1 : 1];
				struct eds_span sp = i ? (struct eds_span){ o->span.start, k->span.end }
						       : (struct eds_span){ k->span.start, o->span.end };
				uint8_t lt = i ? o->stype : k->stype, rt = i ? k->stype : o->stype;
				berr(b, sp, "'+' joins strings, got %s and %s", eds_vk_an(lt), eds_vk_an(rt));
				return;
			}
		}
		n->stype = EDS_V_STR;
		return;
	}
	}
}

/* Does any node below use $N? (decides REG_NOSUB for the pattern) */
static bool uses_cap(const struct eds_node *n)
{
	if (!n)
		return false;
	if (n->kind == EDS_N_CAP)
		return true;
	if (uses_cap(n->lhs) || uses_cap(n->rhs))
		return true;
	for (size_t i = 0; eds_node_nary(n) && i < n->nkids; i++)
		if (uses_cap(n->kids[i]))
			return true;
	return false;
}

static void path_text(const struct binder *b, const struct eds_node *n, const char **s, size_t *len)
{
	*s = b->text + n->span.start;
	*len = n->span.end - n->span.start;
}

static bool bind_target(struct binder *b, struct eds_action *a)
{
	struct eds_node *t = a->target;
	t->path = bind_path(b, t);
	if (!t->path)
		return false;
	struct eds_bpath *bp = t->path;
	unsigned lv = path_level(bp);
	if (lv > b->maxlevel)
		b->maxlevel = lv;
	if (bp->nsteps == 0 && !bp->virt) {
		berr(b, t->span, "cannot %s the whole %s; name a field in it", a->kind == EDS_A_SET ? "set" : "delete",
		     root_desc(bp->root)->name);
		return false;
	}
	if (a->kind == EDS_A_SET && bp->whole_repeated) {
		berr(b, t->span, "cannot set repeated field \"%s\" as a whole; set one element, e.g. %s[0]",
		     bp->last->name, bp->last->name);
		return false;
	}
	if (a->kind == EDS_A_SET && bp->depth > eds_depth_levels(b->p->lim.max_depth)) {
		/* what the decoders would not read back */
		eds_expr_limit(b->errs, b->dsrc, t->span.start, t->span.end,
			       "this path nests messages %u levels below the CLA, more than the limit of %u "
			       "(--max-depth)", (unsigned)bp->depth - 1, (unsigned)b->p->lim.max_depth);
		b->failed = true;
		return false;
	}
	t->stype = bp->stype;
	return true;
}

static void bind_rule(struct binder *b, struct eds_rule *r)
{
	b->rule = r;
	b->maxlevel = EDS_LV_CLA;
	bool before = b->failed;
	b->failed = false;
	b->uses_captures = false;
	for (size_t i = 0; i < r->nactions; i++)
		if (uses_cap(r->actions[i].expr))
			b->uses_captures = true;
	if (r->pattern) {
		b->in_pattern = true;
		bind_node(b, r->pattern);
		want_bool(b, r->pattern, "a pattern");
		b->in_pattern = false;
	}
	for (size_t i = 0; i < r->nactions; i++) {
		struct eds_action *a = &r->actions[i];
		switch (a->kind) {
		case EDS_A_SET: {
			bool target_ok = bind_target(b, a);
			bind_node(b, a->expr);
			struct eds_node *t = a->target, *e = a->expr;
			if (!target_ok)
				break;
			const char *name;
			size_t nlen;
			path_text(b, t, &name, &nlen);
			if (e->stype == EDS_V_NULL && t->path->stype != EDS_V_ANY) {
				berr(b, e->span, "only a value inside a Struct can be set to null; use del \"%.*s\"",
				     (int)nlen, name);
				break;
			}
			char err[256];
			if (e->kind == EDS_N_LIT) {
				int num;
				if (eds_check_store(t->path, name, nlen, &e->val, &num, err, sizeof err)) {
					berr(b, e->span, "%s", err);
					break;
				}
				if (t->path->is_enum && e->val.k == EDS_V_STR) {
					e->val.k = EDS_V_NUM;
					e->val.n = num;
					e->stype = EDS_V_NUM;
				}
			} else if (known(e->stype)) {
				/* Only the type is known: check a representative value
				 * of it.  A string for an enum or a Duration is checked
				 * when its text is known. */
				struct eds_val probe = { .k = e->stype };
				if (e->stype == EDS_V_STR) {
					if (t->path->is_enum || t->path->fkind == EDS_FK_DURATION)
						break;
					probe.s = "x";
					probe.len = 1;
				}
				if (e->stype == EDS_V_NUM)
					probe.n = t->path->cons && t->path->cons->range ? t->path->cons->min : 1;
				if (eds_check_store(t->path, name, nlen, &probe, NULL, err, sizeof err)) {
					berr(b, e->span, "%s", err);
					break;
				}
			}
			break;
		}
		case EDS_A_DEL:
			bind_target(b, a);
			break;
		case EDS_A_DROP:
			b->maxlevel = EDS_LV_EP;
			break;
		case EDS_A_ASSERT:
			bind_node(b, a->expr);
			want_bool(b, a->expr, "assert");
			break;
		}
	}
	r->scope = (uint8_t)b->maxlevel;
	r->bind_failed = b->failed;
	b->failed = before || b->failed;
}

/* Rules reading other targets through a broader root cannot be indexed
 * (running them target by target would change what they see). */
static bool rule_reads_siblings(const struct eds_node *n, unsigned scope)
{
	if (!n)
		return false;
	if ((n->kind == EDS_N_PATH || n->kind == EDS_N_EXISTS)) {
		const struct eds_bpath *bp = n->kind == EDS_N_PATH ? n->path : n->lhs->path;
		if (bp && bp->through_targets && path_level(bp) < scope)
			return true;
	}
	if (rule_reads_siblings(n->lhs, scope) || rule_reads_siblings(n->rhs, scope))
		return true;
	for (size_t i = 0; eds_node_nary(n) && i < n->nkids; i++)
		if (rule_reads_siblings(n->kids[i], scope))
			return true;
	return false;
}

/* The broadest level an expression reads: captures count as the pattern's. */
static unsigned node_level(const struct eds_node *n, unsigned cap_level)
{
	if (!n)
		return EDS_LV_CLA;
	if (n->kind == EDS_N_CAP)
		return cap_level;
	if (n->kind == EDS_N_PATH || n->kind == EDS_N_EXISTS) {
		const struct eds_bpath *bp = n->kind == EDS_N_PATH ? n->path : n->lhs->path;
		return !bp || bp->through_targets ? EDS_LV_EP : path_level(bp);
	}
	unsigned lv = EDS_LV_CLA, k;
	if ((k = node_level(n->lhs, cap_level)) > lv)
		lv = k;
	if ((k = node_level(n->rhs, cap_level)) > lv)
		lv = k;
	for (size_t i = 0; eds_node_nary(n) && i < n->nkids; i++)
		if ((k = node_level(n->kids[i], cap_level)) > lv)
			lv = k;
	return lv;
}

/* Mark the pattern and the SET values of an endpoint rule that need
 * computing only once per locality: the rule must write nothing but its
 * endpoint, and they must read only the locality and the CLA (the AI
 * Gateway's region match and backend name). */
static void mark_per_locality(struct eds_rule *r)
{
	if (r->scope != EDS_LV_EP || r->bind_failed)
		return;
	for (size_t i = 0; i < r->nactions; i++) {
		const struct eds_action *a = &r->actions[i];
		if ((a->kind == EDS_A_SET || a->kind == EDS_A_DEL) &&
		    (a->target->path->root != EDS_LV_EP || a->target->path->through_targets))
			return;
	}
	unsigned cap_level = node_level(r->pattern, EDS_LV_EP);
	r->pattern_per_locality = r->pattern && cap_level <= EDS_LV_LOC;
	for (size_t i = 0; i < r->nactions; i++) {
		struct eds_action *a = &r->actions[i];
		const struct eds_bpath *bp = a->kind == EDS_A_SET ? a->target->path : NULL;
		a->per_locality = a->kind == EDS_A_SET && a->expr->kind != EDS_N_LIT &&
				  node_level(a->expr, cap_level) <= EDS_LV_LOC;
		a->shares_meta = (a->per_locality || (bp && a->expr->kind == EDS_N_LIT)) && !bp->virt &&
				 bp->nsteps >= 2 &&
				 bp->steps[0].kind == EDS_ST_FIELD &&
				 bp->steps[0].f->descriptor == &envoy__config__core__v3__metadata__descriptor;
	}
}

void eds_expr_bind(struct eds_program *p, const struct eds_src *diag_srcs, struct eds_arena *arena,
		   struct eds_diags *errs)
{
	struct binder b = { .p = p, .a = arena, .errs = errs };
	for (size_t i = 0; i < p->nrules; i++) {
		struct eds_rule *r = &p->rules[i];
		b.dsrc = &diag_srcs[r->src];
		b.text = p->srcs[r->src].text;
		bind_rule(&b, r);
		mark_per_locality(r);
		for (size_t k = 0; k < r->nactions; k++)
			p->nshares += r->actions[k].shares_meta;
	}
}

/* ---- equality indexes ---- */

uint64_t eds_expr_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

const struct eds_ix_slot *eds_index_find(const struct eds_index *ix, const char *s, size_t len)
{
	uint64_t h = eds_expr_hash(s, len);
	for (size_t i = h & ix->mask;; i = (i + 1) & ix->mask) {
		const struct eds_ix_slot *sl = &ix->slots[i];
		if (!sl->s)
			return NULL;
		if (sl->hash == h && sl->len == len && memcmp(sl->s, s, len) == 0)
			return sl;
	}
}

/* The key PATH node and literal of an indexable pattern, or NULL. */
static const struct eds_node *eq_key(const struct eds_rule *r, const struct eds_node **lit)
{
	const struct eds_node *n = r->pattern;
	if (!n || n->kind != EDS_N_CMP || n->op != EDS_OP_EQ)
		return NULL;
	const struct eds_node *pth = n->lhs, *l = n->rhs;
	if (pth->kind != EDS_N_PATH) {
		pth = n->rhs;
		l = n->lhs;
	}
	if (pth->kind != EDS_N_PATH || !pth->path || pth->raw_enum || l->kind != EDS_N_LIT ||
	    l->val.k != EDS_V_STR)
		return NULL;
	*lit = l;
	return pth;
}

static bool indexable(const struct eds_rule *r)
{
	const struct eds_node *lit;
	if (!eq_key(r, &lit))
		return false;
	for (size_t i = 0; i < r->nactions; i++) {
		const struct eds_action *a = &r->actions[i];
		if ((a->kind == EDS_A_SET || a->kind == EDS_A_DEL) && path_level(a->target->path) != r->scope)
			return false; /* writes something other targets may see */
		if (rule_reads_siblings(a->expr, r->scope) || rule_reads_siblings(a->target, r->scope))
			return false;
	}
	return !rule_reads_siblings(r->pattern, r->scope);
}

/* An endpoint rule that writes only its endpoint and reads no other one. */
static bool endpoint_local(const struct eds_rule *r)
{
	if (r->scope != EDS_LV_EP || r->bind_failed)
		return false;
	for (size_t i = 0; i < r->nactions; i++) {
		const struct eds_action *a = &r->actions[i];
		if ((a->kind == EDS_A_SET || a->kind == EDS_A_DEL) &&
		    (path_level(a->target->path) != EDS_LV_EP || a->target->path->through_targets))
			return false;
		if (rule_reads_siblings(a->expr, EDS_LV_EP) || rule_reads_siblings(a->target, EDS_LV_EP))
			return false;
	}
	return !rule_reads_siblings(r->pattern, EDS_LV_EP);
}

static bool same_path(const struct eds_bpath *a, const struct eds_bpath *b)
{
	if (a->root != b->root || a->virt != b->virt || a->nsteps != b->nsteps)
		return false;
	for (uint32_t i = 0; i < a->nsteps; i++) {
		const struct eds_step *x = &a->steps[i], *y = &b->steps[i];
		if (x->kind != y->kind || x->f != y->f || x->idx != y->idx || x->klen != y->klen ||
		    (x->klen && memcmp(x->key, y->key, x->klen) != 0))
			return false;
	}
	return true;
}

static struct eds_index *build_index(struct eds_program *p, size_t first, size_t n, struct eds_arena *a)
{
	struct eds_index *ix = eds_arena_zalloc(a, sizeof *ix);
	size_t size = 16;
	while (size < n * 2)
		size *= 2;
	ix->mask = size - 1;
	ix->slots = eds_arena_zalloc(a, size * sizeof *ix->slots);
	ix->list = eds_arena_alloc(a, n * sizeof *ix->list);
	uint32_t *slot_of = eds_arena_alloc(a, n * sizeof *slot_of);
	for (size_t k = 0; k < n; k++) {
		const struct eds_node *lit;
		eq_key(&p->rules[first + k], &lit);
		uint64_t h = eds_expr_hash(lit->val.s, lit->val.len);
		size_t i = h & ix->mask;
		for (;; i = (i + 1) & ix->mask) {
			struct eds_ix_slot *sl = &ix->slots[i];
			if (!sl->s) {
				sl->s = lit->val.s;
				sl->len = lit->val.len;
				sl->hash = h;
				break;
			}
			if (sl->hash == h && sl->len == lit->val.len && memcmp(sl->s, lit->val.s, sl->len) == 0)
				break;
		}
		ix->slots[i].count++;
		slot_of[k] = (uint32_t)i;
	}
	uint32_t at = 0;
	for (size_t i = 0; i < size; i++) {
		ix->slots[i].start = at;
		at += ix->slots[i].count;
		ix->slots[i].count = 0;
	}
	for (size_t k = 0; k < n; k++) {
		struct eds_ix_slot *sl = &ix->slots[slot_of[k]];
		ix->list[sl->start + sl->count++] = (uint32_t)k;
	}
	return ix;
}

void eds_expr_build_units(struct eds_program *p, struct eds_arena *a, bool use_index)
{
	p->units = eds_arena_alloc(a, (p->nrules ? p->nrules : 1) * sizeof *p->units);
	p->nunits = 0;
	p->nindexed = 0;
	size_t i = 0;
	while (i < p->nrules) {
		struct eds_unit *u = &p->units[p->nunits++];
		memset(u, 0, sizeof *u);
		u->first = i;
		u->n = 1;
		u->scope = p->rules[i].scope;
		const struct eds_node *lit, *key = use_index && indexable(&p->rules[i]) ? eq_key(&p->rules[i], &lit)
											: NULL;
		size_t j = i + 1;
		if (key) {
			while (j < p->nrules && p->rules[j].scope == u->scope && indexable(&p->rules[j])) {
				const struct eds_node *k2 = eq_key(&p->rules[j], &lit);
				if (!same_path(k2->path, key->path))
					break;
				j++;
			}
		}
		if (key && j - i >= EDS_INDEX_MIN_RUN) {
			u->n = j - i;
			u->indexed = true;
			u->key = (struct eds_node *)key;
			u->key_level = (uint8_t)path_level(key->path);
			u->index = build_index(p, i, u->n, a);
			p->nindexed++;
			i = j;
		} else {
			i++;
		}
		u->split = true;
		for (size_t k = u->first; k < u->first + u->n && u->split; k++)
			u->split = endpoint_local(&p->rules[k]);
	}
}
