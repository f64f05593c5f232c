/*
 * Semantic diff of two EDS snapshots (see diff.h).
 *
 * Each side is flattened into sorted arrays (clusters by name, localities
 * and endpoints by their keys), the arrays are merged, and every difference
 * becomes a record; the records are rendered as text or JSON at the end.
 * Metadata, policy and the fields without a line of their own are compared
 * through their JSON form (proto names) down to the smallest subtree that
 * differs, so a new metadata namespace is one line, not one per leaf.
 */
#include "diff.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_yaml.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Group;
typedef Envoy__Config__Endpoint__V3__LbEndpoint LbEp;
typedef Envoy__Config__Endpoint__V3__Endpoint Ep;
typedef Envoy__Config__Core__V3__Address Addr;

struct ep {
	const char *key, *addr;
	size_t order;
	const char *loc, *lockey; /* locality label; label and priority */
	uint32_t priority, weight;
	const char *health, *hostname;
	const char *md, *rest; /* JSON ("" when unset) */
};

struct loc {
	const char *key, *label;
	size_t order;
	uint32_t priority;
	bool has_weight;
	uint32_t weight;
	const char *md, *rest;
	size_t neps;
};

struct side {
	struct ep *eps;
	size_t neps;
	struct loc *locs;
	size_t nlocs;
	const char *policy, *named;
};

enum rk { RK_LOC_ADD, RK_LOC_DEL, RK_LOC_CHG, RK_ALL, RK_EP_DEL, RK_EP_ADD, RK_EP_CHG, RK_FIELD };

struct rec {
	enum rk k;
	const char *subject;  /* locality label or endpoint address */
	const char *lockey;   /* endpoint changes: the locality (side B) */
	const char *field;
	const char *old, *nw; /* NULL: absent */
	bool json;            /* old/nw are JSON texts, not plain words */
	const char *text;     /* added/removed: "(zone=a, weight 1)" */
	const char *loc;      /* added/removed endpoint: its locality, for JSON */
	const char *jdetail;  /* the same as JSON members (after "locality") */
	size_t count;
	bool gone;            /* folded into an RK_ALL */
};

struct cl {
	const char *name;
	int status; /* 0 changed, 1 added, -1 removed */
	struct rec *recs;
	size_t nrecs;
};

struct dx {
	struct eds_arena *a;
	struct eds_diag *d;
	int rc;
	struct eds_buf scratch;
	struct rec *recs; /* the cluster being compared */
	size_t nrecs, cap;
	size_t eps_added, eps_removed, eps_changed;
};

static char *afmt(struct dx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *afmt(struct dx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = eds_arena_alloc(x->a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static const char *json_of(struct dx *x, const ProtobufCMessage *m)
{
	x->scratch.len = 0;
	struct eds_encode_opts o = { .proto_names = true };
	if (!m)
		return "";
	if (eds_json_encode(m, &o, &x->scratch, x->d)) {
		x->rc = x->d->code;
		return "";
	}
	size_t n = x->scratch.len;
	while (n && x->scratch.data[n - 1] == '\n')
		n--;
	return eds_arena_strndup(x->a, x->scratch.data, n);
}

/* A policy as Envoy reads it: no policy is an empty one, and an unset
 * overprovisioning_factor is its default, 140. */
static const char *policy_json(struct dx *x, const Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy *p)
{
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy q =
		ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__POLICY__INIT;
	Google__Protobuf__UInt32Value dflt = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	dflt.value = 140;
	if (p)
		q = *p;
	if (!q.overprovisioning_factor)
		q.overprovisioning_factor = &dflt;
	return json_of(x, &q.base);
}

/* ---------------------------------------------------------------------- */
/* Comparing through JSON                                                  */

/* Our encoder's compact JSON: no blanks, valid. */
static size_t str_end(const char *s, size_t i)
{
	for (i++; s[i] && s[i] != '"'; i++)
		if (s[i] == '\\' && s[i + 1])
			i++;
	return s[i] ? i + 1 : i;
}

static size_t value_end(const char *s, size_t i)
{
	unsigned depth = 0;
	do {
		char c = s[i];
		if (c == '"') {
			i = str_end(s, i);
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		else if (!depth)
			while (s[i + 1] && s[i + 1] != ',' && s[i + 1] != '}' && s[i + 1] != ']')
				i++;
		i++;
	} while (depth && s[i]);
	return i;
}

struct member {
	const char *k;
	size_t kn;
	const char *v;
	size_t vn;
};

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	size_t n = x->kn < y->kn ? x->kn : y->kn;
	int c = memcmp(x->k, y->k, n);
	return c ? c : (x->kn > y->kn) - (x->kn < y->kn);
}

/* Members (objects, keys sorted) or elements (arrays) of the value at v. */
static struct member *members(struct dx *x, const char *v, size_t *n)
{
	bool obj = v[0] == '{';
	size_t cnt = 0, i = 1;
	if (v[1] != (obj ? '}' : ']')) {
		for (size_t k = 1;; k++) {
			cnt++;
			if (obj)
				k = str_end(v, k) + 1;
			k = value_end(v, k);
			if (v[k] != ',')
				break;
		}
	}
	struct member *m = eds_arena_alloc(x->a, (cnt ? cnt : 1) * sizeof *m);
	for (size_t e = 0; e < cnt; e++) {
		if (obj) {
			size_t ke = str_end(v, i);
			m[e].k = v + i + 1;
			m[e].kn = ke - i - 2;
			i = ke + 1;
		} else {
			m[e].k = NULL;
			m[e].kn = e;
		}
		size_t ve = value_end(v, i);
		m[e].v = v + i;
		m[e].vn = ve - i;
		i = ve + 1;
	}
	if (obj)
		qsort(m, cnt, sizeof *m, member_cmp);
	*n = cnt;
	return m;
}

static bool plain_key(const char *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') ||
		      k[i] == '_'))
			return false;
	return n > 0;
}

static void change(struct dx *x, enum rk k, const char *subject, const char *lockey, const char *field,
		   const char *old, const char *nw, bool json);

/* Differences between two JSON values (NULL: absent), down to the
 * smallest subtree that differs; arrays of different lengths differ whole. */
static void jdiff(struct dx *x, enum rk k, const char *subject, const char *lockey, const char *path,
		  const char *a, size_t an, const char *b, size_t bn)
{
	if ((!a && !b) || (a && b && an == bn && memcmp(a, b, an) == 0))
		return;
	bool both = a && b && a[0] == b[0] && (a[0] == '{' || a[0] == '[');
	size_t na = 0, nb = 0;
	struct member *ma = both ? members(x, a, &na) : NULL, *mb = both ? members(x, b, &nb) : NULL;
	if (!both || (a[0] == '[' && na != nb) || (a[0] == '{' && (!na || !nb))) {
		change(x, k, subject, lockey, path[0] ? path : "other fields", a ? eds_arena_strndup(x->a, a, an) : NULL,
		       b ? eds_arena_strndup(x->a, b, bn) : NULL, true);
		return;
	}
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		int c = a[0] == '[' ? 0 : i == na ? 1 : j == nb ? -1 : member_cmp(&ma[i], &mb[j]);
		const struct member *m = c <= 0 ? &ma[i] : &mb[j];
		char *p;
		if (a[0] == '[')
			p = afmt(x, "%s[%zu]", path, m->kn);
		else if (plain_key(m->k, m->kn))
			p = afmt(x, "%s%s%.*s", path, path[0] ? "." : "", (int)m->kn, m->k);
		else
			p = afmt(x, "%s[\"%.*s\"]", path, (int)m->kn, m->k);
		jdiff(x, k, subject, lockey, p, c <= 0 ? ma[i].v : NULL, c <= 0 ? ma[i].vn : 0, c >= 0 ? mb[j].v : NULL,
		      c >= 0 ? mb[j].vn : 0);
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}
}

static void jdiff_msgs(struct dx *x, enum rk k, const char *subject, const char *lockey, const char *path,
		       const char *a, const char *b)
{
	jdiff(x, k, subject, lockey, path, a[0] ? a : NULL, strlen(a), b[0] ? b : NULL, strlen(b));
}

/* ---------------------------------------------------------------------- */
/* Collecting one side                                                     */

static const char *loc_label(struct dx *x, const Group *g)
{
	const Envoy__Config__Core__V3__Locality *l = g->locality;
	const char *r = l && l->region ? l->region : "", *z = l && l->zone ? l->zone : "",
		   *s = l && l->sub_zone ? l->sub_zone : "";
	if (!r[0] && !z[0] && !s[0])
		return "{}"; /* no region, zone or sub_zone */
	const char *parts[] = { r[0] ? afmt(x, "region=%s", r) : "", z[0] ? afmt(x, "zone=%s", z) : "",
				s[0] ? afmt(x, "sub_zone=%s", s) : "" };
	const char *sep1 = parts[0][0] && (parts[1][0] || parts[2][0]) ? " " : "";
	const char *sep2 = parts[1][0] && parts[2][0] ? " " : "";
	return afmt(x, "%s%s%s%s%s", parts[0], sep1, parts[1], sep2, parts[2]);
}

static const char *ep_addr(struct dx *x, const LbEp *e)
{
	if (e->host_identifier_case == ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT_NAME)
		return afmt(x, "endpoint_name:%s", e->endpoint_name);
	const Ep *ep = e->host_identifier_case == ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT
			       ? e->endpoint
			       : NULL;
	const Addr *a = ep ? ep->address : NULL;
	if (!a)
		return "(no address)";
	switch (a->address_case) {
	case ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS: {
		const Envoy__Config__Core__V3__SocketAddress *s = a->socket_address;
		bool v6 = strchr(s->address, ':') != NULL;
		if (s->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_NAMED_PORT)
			return afmt(x, "%s%s%s:%s", v6 ? "[" : "", s->address, v6 ? "]" : "", s->named_port);
		return afmt(x, "%s%s%s:%u", v6 ? "[" : "", s->address, v6 ? "]" : "",
			    s->port_specifier_case ? s->port_value : 0);
	}
	case ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE:
		return afmt(x, "unix:%s", a->pipe->path);
	case ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_ENVOY_INTERNAL_ADDRESS:
		return afmt(x, "internal:%s/%s",
			    a->envoy_internal_address->address_name_specifier_case ? a->envoy_internal_address->server_listener_name
										    : "",
			    a->envoy_internal_address->endpoint_id);
	default:
		return "(no address)";
	}
}

static const char *health_name(int v)
{
	const ProtobufCEnumValue *ev =
		protobuf_c_enum_descriptor_get_value(&envoy__config__core__v3__health_status__descriptor, v);
	return ev ? ev->name : NULL;
}

static int ep_cmp(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static int loc_cmp(const void *a, const void *b)
{
	const struct loc *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void collect(struct dx *x, const Cla *c, struct side *s)
{
	memset(s, 0, sizeof *s);
	s->named = s->policy = "";
	if (!c)
		return;
	size_t n = 0;
	for (size_t g = 0; g < c->n_endpoints; g++)
		n += c->endpoints[g]->n_lb_endpoints;
	s->eps = eds_arena_zalloc(x->a, (n ? n : 1) * sizeof *s->eps);
	s->locs = eds_arena_zalloc(x->a, (c->n_endpoints ? c->n_endpoints : 1) * sizeof *s->locs);
	for (size_t gi = 0; gi < c->n_endpoints; gi++) {
		const Group *g = c->endpoints[gi];
		struct loc *l = &s->locs[s->nlocs++];
		l->label = loc_label(x, g);
		l->priority = g->priority;
		l->key = g->priority ? afmt(x, "%s priority %u", l->label, g->priority) : l->label;
		l->order = gi;
		l->has_weight = g->load_balancing_weight != NULL;
		l->weight = g->load_balancing_weight ? g->load_balancing_weight->value : 0;
		l->md = json_of(x, (const ProtobufCMessage *)g->metadata);
		l->neps = g->n_lb_endpoints;
		Group rest = *g;
		rest.locality = NULL;
		rest.metadata = NULL;
		rest.n_lb_endpoints = 0;
		rest.lb_endpoints = NULL;
		rest.load_balancing_weight = NULL;
		rest.priority = 0;
		l->rest = json_of(x, &rest.base);
		for (size_t k = 0; k < g->n_lb_endpoints; k++) {
			const LbEp *e = g->lb_endpoints[k];
			struct ep *p = &s->eps[s->neps];
			p->order = s->neps++;
			p->addr = ep_addr(x, e);
			p->loc = l->label;
			p->lockey = l->key;
			p->priority = g->priority;
			p->weight = e->load_balancing_weight ? e->load_balancing_weight->value : 1;
			p->health = health_name(e->health_status);
			if (!p->health)
				p->health = afmt(x, "%d", (int)e->health_status);
			p->md = json_of(x, (const ProtobufCMessage *)e->metadata);
			LbEp rl = *e;
			Ep re;
			rl.metadata = NULL;
			rl.load_balancing_weight = NULL;
			rl.health_status = 0;
			p->hostname = "";
			if (e->host_identifier_case == ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT &&
			    e->endpoint) {
				re = *e->endpoint;
				p->hostname = re.hostname ? re.hostname : "";
				re.address = NULL;
				re.hostname = (char *)protobuf_c_empty_string;
				rl.endpoint = &re;
			} else if (e->host_identifier_case ==
				   ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT_NAME) {
				rl.host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER__NOT_SET;
			}
			p->rest = json_of(x, &rl.base);
		}
	}
	qsort(s->eps, s->neps, sizeof *s->eps, ep_cmp);
	for (size_t i = 1, run = 1; i < s->neps; i++) {
		run = strcmp(s->eps[i].addr, s->eps[i - 1].addr) == 0 ? run + 1 : 1;
		s->eps[i].key = run > 1 ? afmt(x, "%s #%zu", s->eps[i].addr, run) : s->eps[i].addr;
	}
	if (s->neps)
		s->eps[0].key = s->eps[0].addr;
	qsort(s->locs, s->nlocs, sizeof *s->locs, loc_cmp);
	for (size_t i = 1, run = 1; i < s->nlocs; i++) {
		run = strcmp(s->locs[i].key, s->locs[i - 1].key) == 0 ? run + 1 : 1;
		if (run > 1)
			s->locs[i].key = afmt(x, "%s #%zu", s->locs[i].key, run);
	}
	/* keys with "#n" sort after their base; re-sort for the merge */
	qsort(s->eps, s->neps, sizeof *s->eps, ep_cmp);
	s->policy = policy_json(x, c->policy);
	if (c->n_named_endpoints) {
		Cla named = ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__INIT;
		named.n_named_endpoints = c->n_named_endpoints;
		named.named_endpoints = c->named_endpoints;
		s->named = json_of(x, &named.base);
	} else {
		s->named = "";
	}
}

/* ---------------------------------------------------------------------- */
/* Comparing                                                               */

static struct rec *rec(struct dx *x, enum rk k, const char *subject)
{
	if (x->nrecs == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 32;
		x->recs = realloc(x->recs, x->cap * sizeof *x->recs);
		if (!x->recs)
			abort();
	}
	struct rec *r = &x->recs[x->nrecs++];
	memset(r, 0, sizeof *r);
	r->k = k;
	r->subject = subject;
	return r;
}

static void change(struct dx *x, enum rk k, const char *subject, const char *lockey, const char *field,
		   const char *old, const char *nw, bool json)
{
	struct rec *r = rec(x, k, subject);
	r->lockey = lockey;
	r->field = field;
	r->old = old;
	r->nw = nw;
	r->json = json;
}

static const char *num(struct dx *x, uint32_t v) { return afmt(x, "%u", v); }

static void ep_detail(struct dx *x, struct rec *r, const struct ep *e)
{
	r->text = afmt(x, "(%s%s%s%s, weight %u%s%s%s%s)", strcmp(e->loc, "{}") ? "" : "locality ", e->loc,
		       e->priority ? ", priority " : "",
		       e->priority ? num(x, e->priority) : "", e->weight, strcmp(e->health, "UNKNOWN") ? ", " : "",
		       strcmp(e->health, "UNKNOWN") ? e->health : "", e->hostname[0] ? ", hostname " : "", e->hostname);
	r->loc = e->loc;
	r->jdetail = afmt(x, "\"priority\":%u,\"weight\":%u,\"health\":\"%s\"", e->priority, e->weight, e->health);
	r->lockey = e->lockey;
}

static void ep_compare(struct dx *x, const struct ep *a, const struct ep *b)
{
	const char *s = b->key;
	if (strcmp(a->lockey, b->lockey) != 0 && strcmp(a->loc, b->loc) != 0)
		change(x, RK_EP_CHG, s, b->lockey, "locality", a->loc, b->loc, false);
	if (a->priority != b->priority)
		change(x, RK_EP_CHG, s, b->lockey, "priority", num(x, a->priority), num(x, b->priority), true);
	if (a->weight != b->weight)
		change(x, RK_EP_CHG, s, b->lockey, "weight", num(x, a->weight), num(x, b->weight), true);
	if (strcmp(a->health, b->health) != 0)
		change(x, RK_EP_CHG, s, b->lockey, "health", a->health, b->health, false);
	if (strcmp(a->hostname, b->hostname) != 0)
		change(x, RK_EP_CHG, s, b->lockey, "hostname", a->hostname[0] ? a->hostname : NULL,
		       b->hostname[0] ? b->hostname : NULL, false);
	jdiff_msgs(x, RK_EP_CHG, s, b->lockey, "metadata", a->md, b->md);
	jdiff_msgs(x, RK_EP_CHG, s, b->lockey, "", a->rest, b->rest);
}

static void loc_compare(struct dx *x, const struct loc *a, const struct loc *b)
{
	const char *s = b->key;
	if (a->has_weight != b->has_weight || a->weight != b->weight)
		change(x, RK_LOC_CHG, s, NULL, "weight", a->has_weight ? num(x, a->weight) : NULL,
		       b->has_weight ? num(x, b->weight) : NULL, true);
	jdiff_msgs(x, RK_LOC_CHG, s, NULL, "metadata", a->md, b->md);
	jdiff_msgs(x, RK_LOC_CHG, s, NULL, "", a->rest, b->rest);
}

static size_t count_in(const struct side *s, const char *lockey)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nlocs; i++)
		if (strcmp(s->locs[i].key, lockey) == 0)
			n += s->locs[i].neps;
	return n;
}

static bool same_str(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* One change made to every endpoint of a locality (a drained zone): report
 * it once. */
static void fold(struct dx *x, const struct side *A, const struct side *B, size_t first)
{
	size_t end = x->nrecs;
	for (size_t i = first; i < end; i++) {
		struct rec *r = &x->recs[i];
		if (r->k != RK_EP_CHG || r->gone || !r->lockey)
			continue;
		size_t n = 0;
		for (size_t j = i; j < end; j++) {
			struct rec *q = &x->recs[j];
			if (q->k == RK_EP_CHG && !q->gone && same_str(q->lockey, r->lockey) && same_str(q->field, r->field) &&
			    same_str(q->old, r->old) && same_str(q->nw, r->nw))
				n++;
		}
		size_t nb = count_in(B, r->lockey);
		if (n < 2 || n != nb || n != count_in(A, r->lockey))
			continue;
		struct rec all = *r;
		for (size_t j = i; j < end; j++) {
			struct rec *q = &x->recs[j];
			if (q->k == RK_EP_CHG && !q->gone && same_str(q->lockey, all.lockey) && same_str(q->field, all.field) &&
			    same_str(q->old, all.old) && same_str(q->nw, all.nw))
				q->gone = true;
		}
		struct rec *f = rec(x, RK_ALL, all.lockey);
		*f = all;
		f->k = RK_ALL;
		f->subject = all.lockey;
		f->count = n;
		f->gone = false;
	}
}

static int rec_order(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	int kx = x->k <= RK_ALL ? 0 : x->k == RK_FIELD ? 2 : 1, ky = y->k <= RK_ALL ? 0 : y->k == RK_FIELD ? 2 : 1;
	if (kx != ky)
		return kx - ky;
	int c = strcmp(x->subject ? x->subject : "", y->subject ? y->subject : "");
	if (c)
		return c;
	if (x->k != y->k)
		return (int)x->k - (int)y->k;
	return strcmp(x->field ? x->field : "", y->field ? y->field : "");
}

static void cluster_compare(struct dx *x, const Cla *ca, const Cla *cb)
{
	struct side A, B;
	collect(x, ca, &A);
	collect(x, cb, &B);
	size_t i = 0, j = 0;
	while (i < A.nlocs || j < B.nlocs) {
		int c = i == A.nlocs ? 1 : j == B.nlocs ? -1 : strcmp(A.locs[i].key, B.locs[j].key);
		if (c < 0 || c > 0) {
			const struct loc *l = c < 0 ? &A.locs[i++] : &B.locs[j++];
			struct rec *r = rec(x, c < 0 ? RK_LOC_DEL : RK_LOC_ADD, l->key);
			r->text = afmt(x, "(%s%s%s%zu endpoint%s)", l->has_weight ? "weight " : "",
				       l->has_weight ? num(x, l->weight) : "", l->has_weight ? ", " : "", l->neps,
				       l->neps == 1 ? "" : "s");
			r->jdetail = l->has_weight ? afmt(x, "\"weight\":%u,\"endpoints\":%zu", l->weight, l->neps)
						   : afmt(x, "\"endpoints\":%zu", l->neps);
		} else {
			loc_compare(x, &A.locs[i++], &B.locs[j++]);
		}
	}
	size_t first_ep = x->nrecs;
	i = j = 0;
	while (i < A.neps || j < B.neps) {
		int c = i == A.neps ? 1 : j == B.neps ? -1 : strcmp(A.eps[i].key, B.eps[j].key);
		if (c < 0) {
			ep_detail(x, rec(x, RK_EP_DEL, A.eps[i].key), &A.eps[i]);
			x->eps_removed++;
			i++;
		} else if (c > 0) {
			ep_detail(x, rec(x, RK_EP_ADD, B.eps[j].key), &B.eps[j]);
			x->eps_added++;
			j++;
		} else {
			size_t before = x->nrecs;
			ep_compare(x, &A.eps[i++], &B.eps[j++]);
			if (x->nrecs > before)
				x->eps_changed++;
		}
	}
	fold(x, &A, &B, first_ep);
	if (ca && cb) /* (an added or removed cluster's policy goes with it) */
		jdiff_msgs(x, RK_FIELD, NULL, NULL, "policy", A.policy, B.policy);
	if (strcmp(A.named, B.named) != 0)
		change(x, RK_FIELD, NULL, NULL, "named_endpoints", A.named[0] ? A.named : NULL, B.named[0] ? B.named : NULL,
		       true);
}

/* ---------------------------------------------------------------------- */
/* Rendering                                                               */

static void put_val(struct eds_buf *o, const char *v, bool json, bool as_json)
{
	if (!v) {
		eds_buf_puts(o, as_json ? "null" : "(none)");
		return;
	}
	if (json || !as_json) {
		eds_buf_puts(o, v);
		return;
	}
	eds_buf_putc(o, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			eds_buf_putc(o, '\\');
		if ((unsigned char)*p < 0x20)
			eds_buf_printf(o, "\\u%04x", *p);
		else
			eds_buf_putc(o, *p);
	}
	eds_buf_putc(o, '"');
}

static void text_rec(struct eds_buf *o, const struct rec *r)
{
	switch (r->k) {
	case RK_LOC_ADD:
	case RK_LOC_DEL:
		eds_buf_printf(o, "  %c locality %s %s\n", r->k == RK_LOC_ADD ? '+' : '-', r->subject, r->text);
		return;
	case RK_EP_ADD:
	case RK_EP_DEL:
		eds_buf_printf(o, "  %c %s %s\n", r->k == RK_EP_ADD ? '+' : '-', r->subject, r->text);
		return;
	case RK_LOC_CHG:
	case RK_ALL:
		eds_buf_printf(o, "  ~ locality %s: ", r->subject);
		break;
	case RK_EP_CHG:
		eds_buf_printf(o, "  ~ %s: ", r->subject);
		break;
	case RK_FIELD:
		eds_buf_puts(o, "  ~ ");
		break;
	}
	eds_buf_printf(o, "%s ", r->field);
	put_val(o, r->old, r->json, false);
	eds_buf_puts(o, " \xE2\x86\x92 ");
	put_val(o, r->nw, r->json, false);
	if (r->k == RK_ALL && r->count == 2)
		eds_buf_puts(o, " on both endpoints");
	else if (r->k == RK_ALL)
		eds_buf_printf(o, " on all %zu endpoints", r->count);
	eds_buf_putc(o, '\n');
}

static void json_str(struct eds_buf *o, const char *s) { put_val(o, s, false, true); }

static void json_rec(struct eds_buf *o, const struct rec *r)
{
	static const char *const what[] = { "added", "removed", "changed", "changed", "removed", "added", "changed", "changed" };
	eds_buf_printf(o, "{\"change\":\"%s\"", what[r->k]);
	if (r->k == RK_LOC_ADD || r->k == RK_LOC_DEL || r->k == RK_LOC_CHG || r->k == RK_ALL) {
		eds_buf_puts(o, ",\"locality\":");
		json_str(o, r->subject);
	} else if (r->k != RK_FIELD) {
		eds_buf_puts(o, ",\"endpoint\":");
		json_str(o, r->subject);
	}
	if (r->k == RK_ALL)
		eds_buf_printf(o, ",\"endpoints\":%zu", r->count);
	if (r->loc) {
		eds_buf_puts(o, ",\"locality\":");
		json_str(o, r->loc);
	}
	if (r->jdetail)
		eds_buf_printf(o, ",%s", r->jdetail);
	if (r->field) {
		eds_buf_puts(o, ",\"field\":");
		json_str(o, r->field);
		eds_buf_puts(o, ",\"old\":");
		put_val(o, r->old, r->json, true);
		eds_buf_puts(o, ",\"new\":");
		put_val(o, r->nw, r->json, true);
	}
	eds_buf_putc(o, '}');
}

static int cla_cmp(const void *a, const void *b)
{
	const Cla *x = *(Cla *const *)a, *y = *(Cla *const *)b;
	return strcmp(x->cluster_name ? x->cluster_name : "", y->cluster_name ? y->cluster_name : "");
}

struct ranked {
	Cla *c;
	size_t i;
};

static int ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int c = cla_cmp(&x->c, &y->c);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Sorted by name; of several with one name the last counts. */
static Cla **by_name(struct dx *x, const struct eds_diff_side *s, size_t *n, struct eds_buf *notes)
{
	struct ranked *rk = eds_arena_alloc(x->a, (s->n ? s->n : 1) * sizeof *rk);
	for (size_t i = 0; i < s->n; i++)
		rk[i] = (struct ranked){ (Cla *)s->clas[i], i };
	qsort(rk, s->n, sizeof *rk, ranked_cmp);
	Cla **v = eds_arena_alloc(x->a, (s->n ? s->n : 1) * sizeof *v);
	for (size_t i = 0; i < s->n; i++)
		v[i] = rk[i].c;
	size_t k = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (i + 1 < s->n && cla_cmp(&v[i], &v[i + 1]) == 0) {
			eds_buf_printf(notes, "note: cluster \"%s\" appears more than once in %s; the last one is compared\n",
				       v[i]->cluster_name, s->name);
			continue;
		}
		v[k++] = v[i];
	}
	*n = k;
	return v;
}

int eds_diff(const struct eds_diff_side *a, const struct eds_diff_side *b, enum eds_diff_format fmt,
	     struct eds_arena *arena, struct eds_buf *out, bool *equal, struct eds_diag *d)
{
	struct dx x = { .a = arena, .d = d };
	struct eds_buf notes = { 0 }, body = { 0 };
	size_t na, nb, changed = 0, added = 0, removed = 0;
	Cla **va = by_name(&x, a, &na, &notes), **vb = by_name(&x, b, &nb, &notes);
	struct cl *cls = eds_arena_zalloc(arena, (na + nb + 1) * sizeof *cls);
	size_t ncl = 0, i = 0, j = 0;
	while ((i < na || j < nb) && !x.rc) {
		int c = i == na ? 1 : j == nb ? -1 : cla_cmp(&va[i], &vb[j]);
		const Cla *ca = c <= 0 ? va[i] : NULL, *cb = c >= 0 ? vb[j] : NULL;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		x.nrecs = 0;
		cluster_compare(&x, ca, cb);
		size_t live = 0;
		for (size_t k = 0; k < x.nrecs; k++)
			live += !x.recs[k].gone;
		if (!live && ca && cb)
			continue;
		struct cl *cl = &cls[ncl++];
		cl->name = (ca ? ca : cb)->cluster_name;
		cl->status = !ca ? 1 : !cb ? -1 : 0;
		cl->recs = eds_arena_alloc(arena, (live ? live : 1) * sizeof *cl->recs);
		for (size_t k = 0; k < x.nrecs; k++)
			if (!x.recs[k].gone)
				cl->recs[cl->nrecs++] = x.recs[k];
		qsort(cl->recs, cl->nrecs, sizeof *cl->recs, rec_order);
		changed += cl->status == 0;
		added += cl->status == 1;
		removed += cl->status == -1;
	}
	free(x.recs);
	eds_buf_release(&x.scratch);
	if (x.rc) {
		eds_buf_release(&notes);
		return x.rc;
	}
	*equal = ncl == 0;
	if (fmt == EDS_DIFF_TEXT) {
		eds_buf_append(out, notes.data, notes.len);
		if (ncl)
			eds_buf_printf(out, "--- %s\n+++ %s\n", a->name, b->name);
		for (size_t k = 0; k < ncl; k++) {
			const struct cl *cl = &cls[k];
			eds_buf_printf(out, "%scluster \"%s\"%s\n", cl->status > 0 ? "+ " : cl->status < 0 ? "- " : "", cl->name,
				       cl->status > 0 ? " (added)" : cl->status < 0 ? " (removed)" : "");
			for (size_t r = 0; r < cl->nrecs; r++)
				text_rec(out, &cl->recs[r]);
		}
		if (ncl)
			eds_buf_printf(out,
				       "\nclusters: %zu changed, %zu added, %zu removed; endpoints: %zu changed, %zu added, "
				       "%zu removed\n",
				       changed, added, removed, x.eps_changed, x.eps_added, x.eps_removed);
	} else {
		eds_buf_puts(&body, "{\"a\":");
		json_str(&body, a->name);
		eds_buf_puts(&body, ",\"b\":");
		json_str(&body, b->name);
		eds_buf_printf(&body, ",\"equal\":%s,\"clusters\":[", ncl ? "false" : "true");
		for (size_t k = 0; k < ncl; k++) {
			const struct cl *cl = &cls[k];
			eds_buf_puts(&body, k ? ",{\"cluster\":" : "{\"cluster\":");
			json_str(&body, cl->name);
			eds_buf_printf(&body, ",\"change\":\"%s\",\"changes\":[",
				       cl->status > 0 ? "added" : cl->status < 0 ? "removed" : "changed");
			for (size_t r = 0; r < cl->nrecs; r++) {
				if (r)
					eds_buf_putc(&body, ',');
				json_rec(&body, &cl->recs[r]);
			}
			eds_buf_puts(&body, "]}");
		}
		eds_buf_printf(&body,
			       "],\"summary\":{\"clusters_changed\":%zu,\"clusters_added\":%zu,\"clusters_removed\":%zu,"
			       "\"endpoints_changed\":%zu,\"endpoints_added\":%zu,\"endpoints_removed\":%zu}}",
			       changed, added, removed, x.eps_changed, x.eps_added, x.eps_removed);
		int rc = eds_json_reformat(body.data, body.len, true, out, d);
		eds_buf_release(&body);
		if (rc) {
			eds_buf_release(&notes);
			return rc;
		}
	}
	eds_buf_release(&notes);
	if (eds_buf_overflowed(out))
		return eds_diag_setf(d, EDS_E_LIMIT, "output larger than %zu bytes (--max-output)", out->max);
	return EDS_OK;
}
