/*
 * rules: compile (parse + bind every source, report every error) and run.
 *
 * A run executes units in program order; a unit is one rule, or a run of
 * consecutive rules whose patterns are all `NAME == "literal"` on the same
 * name and scope (see eds_expr_build_units).  Each unit goes over all its
 * targets (the CLA, every locality, or every endpoint) before the next one
 * starts, so every rule sees the effects of the rules before it.
 *
 * An indexed unit evaluates NAME once per target (once per locality when
 * NAME is a locality or CLA field and the unit's targets are endpoints),
 * looks the value up, and runs only the rules with that literal, in their
 * order.  This is the same as running the rules one after the other because
 * the binder admits a rule into such a unit only when it writes nothing
 * outside its own target and reads no sibling target (so targets are
 * independent and the loops over rules and targets can be swapped), and
 * because after a rule that changed its target NAME is evaluated again and
 * the walk continues with the first later rule matching the new value.  The
 * only difference is which of two failing rules is reported first.
 *
 * skip_errors: before a rule first modifies an endpoint, the endpoint is
 * saved (packed into the request arena); when a rule fails on it, it is put
 * back as it was before the run, later rules leave it alone, and a warning
 * is recorded.  Failures at locality or CLA scope still stop the run.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "codec.h"
#include "expr.h"
#include "rules.h"

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Locality;
typedef Envoy__Config__Endpoint__V3__LbEndpoint LbEndpoint;

/* ---- compile ---- */

int eds_rules_compile(const struct eds_src *srcs, size_t nsrcs, const struct eds_limits *lim,
		      struct eds_arena *arena, struct eds_program **out, struct eds_diags *errs)
{
	*out = NULL;
	size_t before = errs->n;
	static _Atomic uint64_t serials;
	struct eds_program *p = eds_arena_zalloc(arena, sizeof *p);
	p->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
	p->lim = lim ? *lim : eds_limits_default;
	p->srcs = eds_arena_zalloc(arena, (nsrcs ? nsrcs : 1) * sizeof *p->srcs);
	p->nsrcs = nsrcs;
	size_t cap = 0;
	for (size_t i = 0; i < nsrcs; i++) {
		p->srcs[i].name = eds_arena_strdup(arena, srcs[i].name ? srcs[i].name : "<rules>");
		if (srcs[i].len > p->lim.max_rules_size) {
			eds_expr_limit(errs, &srcs[i], 0, 0,
				       "rules source is %zu bytes, more than the limit of %zu (--max-rules-size)",
				       srcs[i].len, p->lim.max_rules_size);
			p->srcs[i].text = "";
			continue;
		}
		/* A terminated copy: the lexer relies on it, and the program must
		 * not depend on the caller's buffers after compiling. */
		p->srcs[i].text = eds_arena_strndup(arena, srcs[i].text, srcs[i].len);
		p->srcs[i].len = srcs[i].len;
		eds_expr_parse(&p->srcs[i], &srcs[i], (uint32_t)i, arena, &p->rules, &p->nrules, &cap,
			       p->lim.max_rules, errs);
	}
	eds_expr_bind(p, srcs, arena, errs);
	/* Parse errors and bind errors come from two passes: show them in
	 * source order.  Insertion sort: there are at most a few hundred. */
	for (size_t i = before + 1; i < errs->n; i++) {
		struct eds_diag t = errs->v[i];
		size_t j = i;
		while (j > before && (errs->v[j - 1].src > t.src ||
				      (errs->v[j - 1].src == t.src && errs->v[j - 1].span.start > t.span.start))) {
			errs->v[j] = errs->v[j - 1];
			j--;
		}
		errs->v[j] = t;
	}
	int rc = EDS_OK;
	for (size_t i = before; i < errs->n; i++)
		if (errs->v[i].severity == EDS_SEV_ERROR && rc != EDS_E_LIMIT)
			rc = errs->v[i].code == EDS_E_LIMIT ? EDS_E_LIMIT : EDS_E_RULES;
	if (rc) {
		eds_rules_release(p);
		return rc;
	}
	eds_expr_build_units(p, arena, true);
	*out = p;
	return EDS_OK;
}

static void release_node(struct eds_node *n)
{
	if (!n)
		return;
	if (n->kind == EDS_N_MATCH && n->re) {
		regfree(n->re);
		n->re = NULL;
		if (n->re_utf8)
			regfree(n->re_utf8);
		n->re_utf8 = NULL;
	}
	release_node(n->lhs);
	release_node(n->rhs);
	for (size_t i = 0; eds_node_nary(n) && i < n->nkids; i++)
		release_node(n->kids[i]);
}

void eds_rules_release(struct eds_program *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrules; i++) {
		struct eds_rule *r = &p->rules[i];
		release_node(r->pattern);
		for (size_t k = 0; k < r->nactions; k++)
			release_node(r->actions[k].expr);
	}
	p->nregex = 0;
}

size_t eds_rules_count(const struct eds_program *p)
{
	return p ? p->nrules : 0;
}

size_t eds_rules_indexed_units(const struct eds_program *p)
{
	return p ? p->nindexed : 0;
}

/* ---- saved endpoints (skip_errors) ---- */

struct saved {
	const void *key;
	uint8_t *data; /* NULL: skipped endpoint marker */
	size_t len;
};

struct savemap {
	struct saved *v;
	size_t mask, used;
};

static size_t hash_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static struct saved *save_slot(struct eds_arena *a, struct savemap *m, const void *key, bool insert)
{
	if (!m->v) {
		if (!insert)
			return NULL;
		m->mask = 63;
		m->v = eds_arena_zalloc(a, 64 * sizeof *m->v);
	}
	if (insert && (m->used + 1) * 2 > m->mask + 1) {
		size_t ncap = (m->mask + 1) * 2;
		struct saved *nv = eds_arena_zalloc(a, ncap * sizeof *nv);
		for (size_t i = 0; i <= m->mask; i++) {
			if (!m->v[i].key)
				continue;
			size_t j = hash_ptr(m->v[i].key) & (ncap - 1);
			while (nv[j].key)
				j = (j + 1) & (ncap - 1);
			nv[j] = m->v[i];
		}
		m->v = nv;
		m->mask = ncap - 1;
	}
	for (size_t i = hash_ptr(key) & m->mask;; i = (i + 1) & m->mask) {
		if (m->v[i].key == key)
			return &m->v[i];
		if (!m->v[i].key) {
			if (!insert)
				return NULL;
			m->v[i].key = key;
			m->used++;
			return &m->v[i];
		}
	}
}

/* ---- running ---- */

/* The pattern of a rule with pattern_per_locality, for the current locality. */
struct pattern_cache {
	const struct eds_rule *rule;
	const void *loc;
	bool matched, cap_valid;
	const char *cap_subj;
	regmatch_t cap[10];
};

struct driver {
	struct eds_run r;
	struct pattern_cache pc;
	struct savemap saved;   /* endpoint -> packed original */
	struct savemap skipped; /* endpoints put back after a failure */
	bool skip;
};

static void save_endpoint(struct driver *dv)
{
	struct eds_run *r = &dv->r;
	struct saved *s = save_slot(r->req, &dv->saved, r->ep, true);
	if (s->data)
		return;
	s->len = protobuf_c_message_get_packed_size(r->ep);
	s->data = eds_arena_alloc(r->req, s->len ? s->len : 1);
	protobuf_c_message_pack(r->ep, s->data);
}

static int exec_actions(struct driver *dv, const struct eds_rule *rule)
{
	struct eds_run *r = &dv->r;
	if (dv->skip && r->ep)
		save_endpoint(dv);
	for (size_t i = 0; i < rule->nactions; i++) {
		int rc = eds_exec_action(r, &rule->actions[i]);
		if (rc)
			return rc;
		if (r->dropped)
			break;
	}
	return EDS_OK;
}

static int exec_rule(struct driver *dv, const struct eds_rule *rule)
{
	struct eds_run *r = &dv->r;
	r->rule = rule;
	r->cap_valid = false;
	if (!rule->pattern)
		return exec_actions(dv, rule);
	struct pattern_cache *pc = &dv->pc;
	bool m;
	if (rule->pattern_per_locality && r->ep && pc->rule == rule && pc->loc == r->loc) {
		m = pc->matched;
		r->cap_valid = pc->cap_valid;
		r->cap_subj = pc->cap_subj;
		memcpy(r->cap, pc->cap, sizeof r->cap);
	} else {
		int rc = eds_eval_cond(r, rule->pattern, &m);
		if (rc)
			return rc;
		if (rule->pattern_per_locality && r->ep) {
			*pc = (struct pattern_cache){ .rule = rule, .loc = r->loc, .matched = m,
						      .cap_valid = r->cap_valid, .cap_subj = r->cap_subj };
			memcpy(pc->cap, r->cap, sizeof r->cap);
		}
	}
	return m ? exec_actions(dv, rule) : EDS_OK;
}

/* The index slot for the key's current value (NULL: no rule matches). */
static int key_slot(struct driver *dv, const struct eds_unit *u, const struct eds_ix_slot **out)
{
	struct eds_run *r = &dv->r;
	struct eds_val v;
	*out = NULL;
	r->rule = &r->p->rules[u->first];
	int rc = eds_eval(r, u->key, &v);
	if (rc)
		return rc;
	if (v.k == EDS_V_NULL)
		return EDS_OK;
	if (v.k != EDS_V_STR)
		return eds_run_fail(r, r->rule->pattern->span, "cannot compare %s with a string", eds_vk_an(v.k));
	*out = eds_index_find(u->index, v.s, v.len);
	return EDS_OK;
}

static int exec_indexed(struct driver *dv, const struct eds_unit *u, const struct eds_ix_slot *sl, bool fixed)
{
	struct eds_run *r = &dv->r;
	const struct eds_index *ix = u->index;
	int rc;
	if (!fixed && (rc = key_slot(dv, u, &sl)))
		return rc;
	size_t pos = 0;
	while (sl && pos < sl->count) {
		uint32_t k = ix->list[sl->start + pos];
		const struct eds_rule *rule = &r->p->rules[u->first + k];
		r->rule = rule;
		r->cap_valid = false;
		r->touched = false;
		if ((rc = exec_actions(dv, rule)))
			return rc;
		if (r->dropped)
			return EDS_OK;
		pos++;
		if (r->touched && u->key_level == u->scope) {
			/* The rule may have changed the name itself: go on with the
			 * first later rule that matches its value now. */
			const struct eds_ix_slot *now;
			if ((rc = key_slot(dv, u, &now)))
				return rc;
			if (now != sl) {
				sl = now;
				pos = 0;
				while (sl && pos < sl->count && ix->list[sl->start + pos] <= k)
					pos++;
			}
		}
	}
	return EDS_OK;
}

static int exec_target(struct driver *dv, const struct eds_unit *u, const struct eds_ix_slot *sl, bool fixed)
{
	if (u->indexed)
		return exec_indexed(dv, u, sl, fixed);
	return exec_rule(dv, &dv->r.p->rules[u->first]);
}

/* Put a failed endpoint back as it was; returns the restored pointer. */
static ProtobufCMessage *restore_endpoint(struct driver *dv)
{
	struct eds_run *r = &dv->r;
	struct saved *s = save_slot(r->req, &dv->saved, r->ep, false);
	ProtobufCMessage *ep = r->ep;
	if (s && s->data) {
		ProtobufCMessage *m = protobuf_c_message_unpack(r->ep->descriptor, eds_arena_pbc(r->req), s->len, s->data);
		if (m)
			ep = m;
	}
	save_slot(r->req, &dv->skipped, ep, true);
	return ep;
}

static void warn_skipped(struct driver *dv)
{
	struct eds_run *r = &dv->r;
	if (!r->opts || !r->opts->findings)
		return;
	struct eds_diag *w = eds_diags_add(r->opts->findings);
	*w = *r->d;
	w->severity = EDS_SEV_WARNING;
	size_t n = strlen(w->msg);
	snprintf(w->msg + n, sizeof w->msg - n, " (endpoint left unchanged)");
	r->opts->findings->nwarnings++;
	eds_diag_clear(r->d);
}

/*
 * The unit on endpoints [from, to) of locality li, seen as loc (the CLA's,
 * or a second thread's copy of it): kept endpoints move down from from, and
 * *end is where they end (all of them when the unit fails).
 */
static int exec_locality(struct driver *dv, const struct eds_unit *u, size_t li, Locality *loc, size_t from,
			 size_t to, size_t *end)
{
	struct eds_run *r = &dv->r;
	int rc;
	r->loc = &loc->base;
	r->li = li;
	r->ep = NULL;
	*end = to;
	if (u->scope == EDS_LV_LOC) {
		rc = exec_target(dv, u, NULL, false);
		*end = loc->n_lb_endpoints; /* (the rules may have removed or added some) */
		return rc;
	}
	const struct eds_ix_slot *sl = NULL;
	bool fixed = u->indexed && u->key_level < EDS_LV_EP;
	if (fixed && (rc = key_slot(dv, u, &sl)))
		return rc;
	if (fixed && !sl)
		return EDS_OK; /* no rule of the unit matches this locality */
	size_t w = from, n0 = loc->n_lb_endpoints;
	LbEndpoint **arr = loc->lb_endpoints;
	for (size_t ei = from; ei < to; ei++) {
		r->ep = &arr[ei]->base;
		r->ei = w;
		r->dropped = false;
		if (dv->skipped.used && save_slot(r->req, &dv->skipped, r->ep, false)) {
			arr[w++] = arr[ei];
			continue;
		}
		rc = exec_target(dv, u, sl, fixed);
		if (!rc && (loc->lb_endpoints != arr || loc->n_lb_endpoints != n0)) {
			/* The endpoints already seen were moved down in place: an
			 * edit of the list itself cannot be merged with that, nor
			 * skipped (--skip-errors) */
			*end = loc->n_lb_endpoints;
			return eds_run_fail(r, r->rule->span,
					    "an endpoint rule may not add or remove elements of the endpoint list "
					    "it runs over (locality.lb_endpoints); use drop, or a locality rule");
		}
		if (rc) {
			if (!(dv->skip && rc == EDS_E_RUNTIME)) {
				/* keep the array consistent for whoever looks at it */
				for (; ei < to; ei++)
					arr[w++] = arr[ei];
				*end = w;
				return rc;
			}
			arr[w++] = (LbEndpoint *)restore_endpoint(dv);
			eds_msg_touch(&loc->base);
			eds_msg_touch(r->cla);
			warn_skipped(dv);
			continue;
		}
		if (r->dropped) {
			r->changed = true;
			eds_msg_touch(&loc->base);
			eds_msg_touch(r->cla);
			continue;
		}
		arr[w++] = arr[ei];
	}
	*end = w;
	return EDS_OK;
}

/* The unit on localities [from, to) of the CLA. */
static int exec_localities(struct driver *dv, const struct eds_unit *u, size_t from, size_t to)
{
	Cla *cla = (Cla *)dv->r.cla;
	for (size_t li = from; li < to; li++) {
		Locality *loc = cla->endpoints[li];
		size_t end;
		int rc = exec_locality(dv, u, li, loc, 0, loc->n_lb_endpoints, &end);
		loc->n_lb_endpoints = end;
		if (rc)
			return rc;
	}
	return EDS_OK;
}

/*
 * A unit of endpoint rules that write only their own endpoint and read no
 * other (eds_unit.split) may run the second half of a large CLA's endpoints
 * on another thread, with a run state and an arena of its own: each
 * endpoint sees exactly what it would in order.  Transform only, and not
 * with skip_errors (whose saved endpoints and warnings are the run's); the
 * first error in endpoint order is the one reported, as in order.
 *
 * The middle usually falls inside a locality (often the only one).  Each
 * thread then runs its part of that locality's endpoints; the second sees
 * the locality through a copy, so that only this thread touches the CLA's,
 * and the parts are joined once both are done.  An error in the second part
 * names its endpoint's index after what the first part dropped: the second
 * thread waits for that, and only to word the error.
 */
size_t eds_rules_split_min = 20000;

struct half {
	pthread_t thread;
	struct driver dv;
	struct eds_diag d;
	const struct eds_unit *u;
	size_t li, ei;  /* from endpoint ei of locality li */
	Locality copy;  /* locality li, as this thread sees it (when ei > 0) */
	size_t end;     /* where this thread's endpoints of locality li end */
	int rc;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool first_done; /* the first part of locality li ran... */
	size_t first_end; /* ...and its endpoints end here */
};

static size_t half_ei(const struct eds_run *r, void *ctx)
{
	struct half *h = ctx;
	if (!h->ei || r->li != h->li)
		return r->ei;
	pthread_mutex_lock(&h->mu);
	while (!h->first_done)
		pthread_cond_wait(&h->cv, &h->mu);
	size_t first_end = h->first_end;
	pthread_mutex_unlock(&h->mu);
	return r->ei - h->ei + first_end;
}

static void *half_run(void *arg)
{
	struct half *h = arg;
	Cla *cla = (Cla *)h->dv.r.cla;
	h->rc = EDS_OK;
	if (h->ei)
		h->rc = exec_locality(&h->dv, h->u, h->li, &h->copy, h->ei, h->copy.n_lb_endpoints, &h->end);
	if (!h->rc)
		h->rc = exec_localities(&h->dv, h->u, h->li + (h->ei > 0), cla->n_endpoints);
	return NULL;
}

/* A locality's share of the work: 16 per endpoint, plus its size in the
 * input when it was decoded from binary (metadata and hostnames make more
 * to do).  Its endpoints are not looked at: on a large CLA that is a cache
 * miss each, milliseconds in all. */
static size_t weight(const Locality *l)
{
	return 16 * l->n_lb_endpoints + eds_msg_span_len(&l->base);
}

/* Where the second half of the work starts: endpoint *ei of locality *li
 * (within a locality, endpoints are taken to weigh the same); false when
 * the CLA is too small to split. */
static bool split_point(const Cla *cla, size_t *li, size_t *ei)
{
	size_t n = 0, total = 0, seen = 0;
	for (size_t i = 0; i < cla->n_endpoints; i++) {
		n += cla->endpoints[i]->n_lb_endpoints;
		total += weight(cla->endpoints[i]);
	}
	if (n < eds_rules_split_min)
		return false;
	for (size_t i = 0; i < cla->n_endpoints; i++) {
		const Locality *l = cla->endpoints[i];
		size_t w = weight(l);
		if (seen + w > total / 2 && l->n_lb_endpoints) {
			*li = i;
			size_t rest = total / 2 > seen ? total / 2 - seen : 0;
			*ei = (size_t)((double)rest / (double)w * (double)l->n_lb_endpoints);
			if (*ei >= l->n_lb_endpoints)
				*ei = l->n_lb_endpoints - 1;
			return i || *ei;
		}
		seen += w;
	}
	return false;
}

static int exec_split(struct driver *dv, const struct eds_unit *u, size_t li, size_t ei)
{
	struct eds_run *r = &dv->r;
	Cla *cla = (Cla *)r->cla;
	Locality *loc = cla->endpoints[li];
	struct half *h = calloc(1, sizeof *h);
	if (!h)
		return exec_localities(dv, u, 0, cla->n_endpoints);
	h->u = u;
	h->li = li;
	h->ei = ei;
	h->copy = *loc;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	/* (an arena large from the start: huge pages, see arena.c) */
	h->dv.r = (struct eds_run){ .p = r->p, .req = eds_arena_new((size_t)4 << 20), .opts = r->opts,
				    .d = &h->d, .cla = r->cla, .ei_of = half_ei, .ei_ctx = h, .shared = r->shared };
	if (r->p->nregex)
		h->dv.r.rcache = eds_arena_zalloc(h->dv.r.req, r->p->nregex * sizeof *h->dv.r.rcache);
	/* Both halves touch the CLA when they write: touched now, they only read it. */
	eds_msg_touch(r->cla);
	int rc;
	if (pthread_create(&h->thread, NULL, half_run, h) != 0) {
		rc = exec_localities(dv, u, 0, cla->n_endpoints);
		goto done;
	}
	rc = exec_localities(dv, u, 0, li);
	size_t first_end = ei;
	if (ei && !rc)
		rc = exec_locality(dv, u, li, loc, 0, ei, &first_end);
	pthread_mutex_lock(&h->mu);
	h->first_done = true;
	h->first_end = first_end;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	if (ei) {
		size_t n2 = h->end - ei;
		memmove(loc->lb_endpoints + first_end, loc->lb_endpoints + ei, n2 * sizeof *loc->lb_endpoints);
		loc->n_lb_endpoints = first_end + n2;
		if (h->copy.base.unknown_fields != loc->base.unknown_fields)
			eds_msg_touch(&loc->base); /* the other thread touched its copy */
	}
	eds_arena_adopt(r->req, h->dv.r.req);
	h->dv.r.req = NULL;
	r->changed |= h->dv.r.changed;
	if (!rc && h->rc) {
		*r->d = h->d;
		rc = h->rc;
	}
done:
	if (h->dv.r.req)
		eds_arena_free(h->dv.r.req);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h);
	return rc;
}

static int exec_unit(struct driver *dv, const struct eds_unit *u)
{
	struct eds_run *r = &dv->r;
	Cla *cla = (Cla *)r->cla;
	int rc;
	size_t li, ei;
	if (u->scope == EDS_LV_CLA) {
		r->loc = r->ep = NULL;
		return exec_target(dv, u, NULL, false);
	}
	if (u->split && !dv->skip && r->opts && r->opts->mode == EDS_RUN_TRANSFORM && split_point(cla, &li, &ei))
		rc = exec_split(dv, u, li, ei);
	else
		rc = exec_localities(dv, u, 0, cla->n_endpoints);
	r->loc = r->ep = NULL;
	return rc;
}

static int run(const struct eds_program *p, ProtobufCMessage *cla, struct eds_arena *req,
	       const struct eds_run_opts *opts, bool *changed, struct eds_diag *d, bool use_index)
{
	struct driver dv;
	memset(&dv, 0, sizeof dv);
	struct eds_run *r = &dv.r;
	r->p = p;
	r->req = req;
	r->opts = opts;
	r->d = d;
	r->cla = cla;
	dv.skip = opts && opts->skip_errors && opts->mode == EDS_RUN_TRANSFORM;
	if (changed)
		*changed = false;
	if (!p || !p->nrules)
		return EDS_OK;
	if (cla->descriptor != &envoy__config__endpoint__v3__cluster_load_assignment__descriptor) {
		eds_diag_setf(d, EDS_E_INTERNAL, "rules run on a %s, not a ClusterLoadAssignment",
			      cla->descriptor->name);
		return EDS_E_INTERNAL;
	}
	if (p->nregex)
		r->rcache = eds_arena_zalloc(req, p->nregex * sizeof *r->rcache);
	int rc = EDS_OK;
	r->shared = eds_shared_new(p, ((Cla *)cla)->n_endpoints);
	if (use_index) {
		for (size_t i = 0; i < p->nunits && !rc; i++)
			rc = exec_unit(&dv, &p->units[i]);
	} else {
		for (size_t i = 0; i < p->nrules && !rc; i++) {
			struct eds_unit u = { .scope = p->rules[i].scope, .first = i, .n = 1 };
			rc = exec_unit(&dv, &u);
		}
	}
	eds_shared_free(r->shared);
	r->shared = NULL;
	if (changed)
		*changed = r->changed;
	return rc;
}

int eds_rules_run(const struct eds_program *p, ProtobufCMessage *cla, struct eds_arena *req,
		  const struct eds_run_opts *opts, bool *changed, struct eds_diag *d)
{
	return run(p, cla, req, opts, changed, d, true);
}

int eds_rules_run_unindexed(const struct eds_program *p, ProtobufCMessage *cla, struct eds_arena *req,
			    const struct eds_run_opts *opts, bool *changed, struct eds_diag *d)
{
	return run(p, cla, req, opts, changed, d, false);
}
