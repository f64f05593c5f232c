/*
 * Container walking (see container.h).
 *
 * Three walkers find the CLAs, one per family of formats, each keeping what
 * it needs to write the container back without touching the rest:
 *   binary   the wire fields, with the byte range of every CLA; writing
 *            back copies every field whose subtree holds no changed CLA
 *   JSON     the JSON text (YAML converted to it), with the span of every
 *            CLA value; writing back splices the CLAs into the text
 *   text     the decoded container message, with the Any of every CLA;
 *            writing back repacks the Anys and prints the message
 * A lone CLA in binary, text or JSON takes the codecs' own path.
 */
#include "container.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_json.h"
#include "codec_text.h"
#include "codec_yaml.h"
#include "envoy/admin/v3/config_dump.pb-c.h"
#include "envoy/admin/v3/config_dump_shared.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "schema.h"

typedef Google__Protobuf__Any Any;
typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;

#define D_DR (&envoy__service__discovery__v3__discovery_response__descriptor)
#define D_DELTA (&envoy__service__discovery__v3__delta_discovery_response__descriptor)
#define D_RESOURCE (&envoy__service__discovery__v3__resource__descriptor)
#define D_DUMP (&envoy__admin__v3__config_dump__descriptor)
#define D_ECD (&envoy__admin__v3__endpoints_config_dump__descriptor)
#define D_STATIC (&envoy__admin__v3__endpoints_config_dump__static_endpoint_config__descriptor)
#define D_DYNAMIC (&envoy__admin__v3__endpoints_config_dump__dynamic_endpoint_config__descriptor)
#define D_ANY (&google__protobuf__any__descriptor)

static const struct {
	const char *name;
	enum eds_container c;
} kinds[] = {
	{ "auto", EDS_CONT_AUTO },	     { "cla", EDS_CONT_CLA },
	{ "list", EDS_CONT_LIST },	     { "jsonl", EDS_CONT_JSONL },
	{ "delimited", EDS_CONT_DELIMITED }, { "discovery", EDS_CONT_DISCOVERY },
	{ "config-dump", EDS_CONT_CONFIG_DUMP },
};

int eds_container_parse(const char *name, enum eds_container *out)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		if (strcmp(name, kinds[i].name) == 0) {
			*out = kinds[i].c;
			return 0;
		}
	}
	return -1;
}

const char *eds_container_name(enum eds_container c)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (kinds[i].c == c)
			return kinds[i].name;
	return "auto";
}

/* An Any in a decoded text-format container whose message holds CLAs. */
struct slot {
	Any *any;
	ProtobufCMessage *msg;
	int parent;
	bool dirty;
};

struct run {
	const struct eds_src *src;
	const struct eds_container_opts *o;
	struct eds_limits lim;  /* o->lim without the input limit, for parts */
	struct eds_arena *arena;
	eds_site_fn *fn;
	void *ctx;
	struct eds_diag *d;
	enum eds_format from;
	enum eds_container kind;
	bool stream;            /* list: JSON Lines, YAML documents, delimited */
	bool spans;             /* the lone CLA was decoded with its spans (codec.h) */
	const ProtobufCMessageDescriptor *cdesc;
	struct eds_yaml_json yj;
	struct eds_src jsrc;    /* YAML as JSON */
	const struct eds_src *w; /* the JSON text walked: src or &jsrc */
	struct eds_site **sites;
	size_t nsites, cap, nchanged;
	ProtobufCMessage *cmsg; /* text: the container message */
	struct slot *slots;
	size_t nslots, scap;
	unsigned jdepth;        /* JSON nesting allowed when skipping */
	const char *wire_why;   /* binary: what the last malformed field was */
	bool root_any;          /* the top-level object has "@type" */
	bool validated;         /* the JSON text passed jvalidate */
	struct tmem *tm;        /* reorder's scratch stack */
	size_t ntm, tmcap;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);
	if (!q)
		abort();
	return q;
}

static int fail(struct run *r, enum eds_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct run *r, enum eds_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->d->msg, sizeof r->d->msg, fmt, ap);
	va_end(ap);
	r->d->code = code;
	if (!r->d->src)
		r->d->src = r->src;
	return code;
}

static bool url_is(const char *url, size_t len, const ProtobufCMessageDescriptor *desc)
{
	size_t k = len;
	while (k > 0 && url[k - 1] != '/')
		k--;
	size_t n = strlen(desc->name);
	return k > 0 && len - k == n && memcmp(url + k, desc->name, n) == 0;
}

static void join(char *out, size_t size, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void join(char *out, size_t size, const char *prefix, const char *fmt, ...)
{
	int k = snprintf(out, size, "%s%s", prefix, prefix[0] ? "." : "");
	if (k < 0 || (size_t)k >= size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out + k, size - (size_t)k, fmt, ap);
	va_end(ap);
}

/* Prefix a CLA-relative diagnostic path with the site's place. */
static void path_prefix(struct eds_diag *d, const char *place)
{
	if (!place[0])
		return;
	char tmp[sizeof d->path];
	size_t pl = strlen(place), n = strlen(d->path);
	const char *dot = n && d->path[0] != '[' ? "." : "";
	if (pl + strlen(dot) + n >= sizeof tmp)
		return; /* keep the CLA's own path whole */
	memcpy(tmp, place, pl);
	memcpy(tmp + pl, dot, strlen(dot));
	memcpy(tmp + pl + strlen(dot), d->path, n + 1);
	memcpy(d->path, tmp, sizeof d->path);
}

static int site_add(struct run *r, const char *place, ProtobufCMessage *cla, size_t s, size_t e,
		    bool any, int slot, Any *anyp, int decode_rc)
{
	struct eds_site *st = eds_arena_zalloc(r->arena, sizeof *st);
	st->index = r->nsites;
	snprintf(st->place, sizeof st->place, "%s", place);
	st->cla = cla;
	st->fmt = r->from;
	st->start = s;
	st->end = e;
	st->any = any;
	st->slot = slot;
	st->anyp = anyp;
	st->run = r;
	if (r->nsites == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->sites = xrealloc(r->sites, r->cap * sizeof *r->sites);
	}
	r->sites[r->nsites++] = st;
	if (decode_rc) {
		path_prefix(r->d, place);
		if (r->from == EDS_FMT_YAML && r->d->src == &r->jsrc)
			eds_yaml_json_remap(&r->yj, &r->jsrc, r->src, r->d);
		if (!r->o->keep_going || decode_rc == EDS_E_LIMIT)
			return decode_rc;
		int rc = r->fn ? r->fn(r->ctx, st, r->d) : EDS_OK;
		eds_diag_clear(r->d);
		return rc;
	}
	int rc = r->fn ? r->fn(r->ctx, st, r->d) : EDS_OK;
	if (st->changed)
		r->nchanged++;
	return rc;
}

static int bin_cla(struct run *r, const uint8_t *p, size_t n, ProtobufCMessage **out)
{
	struct eds_src s = { .name = r->src->name, .text = (const char *)p, .len = n };
	int rc = eds_bin_decode(eds_schema_cla, &s, r->arena, &r->lim, out, r->d);
	if (rc && r->d->src == &s) {
		/* Offsets into an Any's value: relative to the value. */
		const char *base = r->src->text;
		if ((const char *)p >= base && (const char *)p + n <= base + r->src->len) {
			r->d->span.start += (uint32_t)((const char *)p - base);
			r->d->span.end += (uint32_t)((const char *)p - base);
			r->d->src = r->src;
		} else {
			r->d->src = r->src;
			r->d->loc = EDS_LOC_NONE;
		}
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* JSON (and YAML through JSON)                                            */

static int jfail(struct run *r, size_t s, size_t e, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int jfail(struct run *r, size_t s, size_t e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->d->msg, sizeof r->d->msg, fmt, ap);
	va_end(ap);
	r->d->code = EDS_E_DECODE;
	return eds_diag_span(r->d, r->w, s, e > s ? e : s + 1);
}

static const char *jkind(char c)
{
	switch (c) {
	case '{': return "an object";
	case '[': return "an array";
	case '"': return "a string";
	case 'n': return "null";
	case 't': case 'f': return "a bool";
	default: return "a number";
	}
}

static size_t jstart(const struct eds_src *w)
{
	size_t i = w->len >= 3 && memcmp(w->text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	return eds_json_ws(w->text, w->len, i);
}

/* Does the JSON key token spell the proto name or its lowerCamelCase? */
static bool key_is(const char *tok, size_t len, const char *name)
{
	if (eds_json_str_eq(tok, len, name))
		return true;
	char camel[96];
	size_t j = 0;
	bool up = false;
	for (const char *p = name; *p && j + 1 < sizeof camel; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		camel[j++] = (char)(up && *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		up = false;
	}
	camel[j] = '\0';
	return strcmp(camel, name) != 0 && eds_json_str_eq(tok, len, camel);
}

/* Trusted JSON (validated already, blanks allowed): the end of the value
 * at i.  Byte classes: 1 quote, 2 open, 3 close, 4 ends a scalar. */
static const unsigned char tclass[256] = {
	['"'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 3, [']'] = 3,
	[','] = 4, [' '] = 4, ['\t'] = 4, ['\r'] = 4, ['\n'] = 4, [':'] = 4,
};

static size_t tstring_end(const char *s, size_t n, size_t i)
{
	for (i++; i < n;) {
		const char *q = memchr(s + i, '"', n - i);
		if (!q)
			return n;
		size_t k = (size_t)(q - s), bs = 0;
		while (k - bs > i && s[k - bs - 1] == '\\')
			bs++;
		i = k + 1;
		if (!(bs & 1))
			return i;
	}
	return n;
}

static size_t tskip(const char *s, size_t n, size_t i)
{
	if (i >= n)
		return n;
	unsigned char c = tclass[(unsigned char)s[i]];
	if (c == 1)
		return tstring_end(s, n, i);
	if (c != 2) {
		while (i < n && tclass[(unsigned char)s[i]] < 3)
			i++;
		return i;
	}
	size_t depth = 0;
	while (i < n) {
		c = tclass[(unsigned char)s[i]];
		if (c == 1) {
			i = tstring_end(s, n, i);
			continue;
		}
		i++;
		if (c == 2)
			depth++;
		else if (c == 3 && --depth == 0)
			return i;
	}
	return n;
}

struct jm {
	const char *name;
	size_t vs, ve;
	bool found;
};

/* One pass over the members of the object at at: the value spans of the
 * names asked for (proto or JSON spelling; the first occurrence).  The text
 * was validated whole before the walk (jvalidate). */
static int jmembers(struct run *r, size_t at, struct jm *m, size_t nm)
{
	const char *s = r->w->text;
	size_t n = r->w->len, i = eds_json_ws(s, n, at + 1);
	for (size_t k = 0; k < nm; k++)
		m[k].found = false;
	while (i < n && s[i] != '}') {
		size_t ks = i, ke = tskip(s, n, i);
		i = eds_json_ws(s, n, eds_json_ws(s, n, ke) + 1);
		size_t vs = i, ve = tskip(s, n, i);
		for (size_t k = 0; k < nm; k++) {
			if (!m[k].found && key_is(s + ks, ke - ks, m[k].name)) {
				m[k].found = true;
				m[k].vs = vs;
				m[k].ve = ve;
			}
		}
		i = eds_json_ws(s, n, ve);
		if (i < n && s[i] == ',')
			i = eds_json_ws(s, n, i + 1);
	}
	return EDS_OK;
}

/* Elements of the array whose '[' is before *i, one per call; *more false
 * at the end. */
static int jnext_elem(struct run *r, size_t *i, size_t count, size_t *vs, size_t *ve, bool *more)
{
	const char *s = r->w->text;
	size_t n = r->w->len, k = eds_json_ws(s, n, *i);
	(void)count;
	if (k < n && s[k] == ',')
		k = eds_json_ws(s, n, k + 1);
	if (k >= n || s[k] == ']') {
		*more = false;
		*i = k + 1;
		return EDS_OK;
	}
	*vs = k;
	*ve = *i = tskip(s, n, k);
	*more = true;
	return EDS_OK;
}

/* Validate the whole JSON text once (syntax, nesting), so the walk can
 * skip values without checking them again. */
static int jvalidate(struct run *r)
{
	size_t i = jstart(r->w);
	if (r->from == EDS_FMT_YAML)
		return EDS_OK; /* our own JSON */
	while ((i = eds_json_ws(r->w->text, r->w->len, i)) < r->w->len) {
		int rc = eds_json_skip(r->w, &i, r->jdepth, r->d);
		if (rc)
			return rc;
	}
	return EDS_OK;
}

static bool jtype_is(struct run *r, const struct jm *t, const ProtobufCMessageDescriptor *desc)
{
	const char *s = r->w->text;
	return t->found && s[t->vs] == '"' && url_is(s + t->vs + 1, t->ve - t->vs - 2, desc);
}

/* A CLA at [vs, ve): a bare object, or an Any ("@type" the CLA's). */
static int jw_cla(struct run *r, size_t vs, size_t ve, const char *place, bool bare_ok)
{
	const char *s = r->w->text;
	if (s[vs] != '{')
		return jfail(r, vs, ve, "expected a ClusterLoadAssignment object%s%s, got %s", place[0] ? " at " : "",
			     place, jkind(s[vs]));
	struct jm t = { "@type" };
	int rc = jmembers(r, vs, &t, 1);
	if (rc)
		return rc;
	if (t.found && !jtype_is(r, &t, eds_schema_cla))
		return jfail(r, t.vs, t.ve, "%s%sis %.*s, not a ClusterLoadAssignment", place, place[0] ? " " : "",
			     (int)(t.ve - t.vs > 120 ? 120 : t.ve - t.vs), s + t.vs);
	if (!t.found && !bare_ok)
		return jfail(r, vs, vs + 1, "missing \"@type\" in the google.protobuf.Any at %s", place);
	struct eds_src sub = { .name = r->w->name, .text = s + vs, .len = ve - vs };
	ProtobufCMessage *m = NULL, *cla = NULL;
	size_t cut = 0; /* bytes of "@type": "...", removed after the '{' */
	size_t first = eds_json_ws(s, ve, vs + 1);
	if (t.found && key_is(s + first, tskip(s, ve, first) - first, "@type")) {
		/* Decode the CLA straight from the text without its "@type"
		 * (what an Any is in JSON) instead of packing and unpacking. */
		size_t next = eds_json_ws(s, ve, t.ve);
		next = s[next] == ',' ? eds_json_ws(s, ve, next + 1) : next;
		cut = next - (vs + 1);
		char *txt = eds_arena_alloc(r->arena, ve - vs - cut);
		txt[0] = '{';
		memcpy(txt + 1, s + next, ve - next);
		sub.text = txt;
		sub.len = ve - vs - cut;
		rc = eds_json_decode(eds_schema_cla, &sub, r->arena, &r->lim, &cla, r->d);
	} else if (t.found) {
		rc = eds_json_decode(D_ANY, &sub, r->arena, &r->lim, &m, r->d);
		if (!rc) {
			Any *a = (Any *)m;
			rc = bin_cla(r, a->value.data, a->value.len, &cla);
		}
	} else {
		rc = eds_json_decode(eds_schema_cla, &sub, r->arena, &r->lim, &cla, r->d);
	}
	if (rc && r->d->src == &sub) {
		r->d->src = r->w;
		r->d->span.start += (uint32_t)(vs + (r->d->span.start > 0 ? cut : 0));
		r->d->span.end += (uint32_t)(vs + (r->d->span.end > 0 ? cut : 0));
	}
	return site_add(r, place, rc ? NULL : cla, vs, ve, t.found, -1, NULL, rc);
}

static int jw_list(struct run *r)
{
	const char *s = r->w->text;
	size_t n = r->w->len, i = jstart(r->w), vs, ve;
	char place[64];
	int rc;
	if (r->stream) {
		for (size_t k = 0; (i = eds_json_ws(s, n, i)) < n;) {
			vs = i;
			ve = i = tskip(s, n, i);
			if (s[vs] == 'n')
				continue; /* an empty YAML document (a null line in
					   * the JSON Lines a YAML stream becomes): no element */
			snprintf(place, sizeof place, "[%zu]", k++);
			if ((rc = jw_cla(r, vs, ve, place, true)))
				return rc;
		}
		return EDS_OK;
	}
	if (i >= n || s[i] != '[')
		return jfail(r, i, i + 1, "expected a list of ClusterLoadAssignments, got %s",
			     i < n ? jkind(s[i]) : "nothing");
	i++;
	bool more;
	for (size_t k = 0;; k++) {
		if ((rc = jnext_elem(r, &i, k, &vs, &ve, &more)) || !more)
			return rc;
		snprintf(place, sizeof place, "[%zu]", k);
		if ((rc = jw_cla(r, vs, ve, place, true)))
			return rc;
	}
}

/* A member that must be an array: iterate it calling each(). */
typedef int jeach_fn(struct run *r, size_t vs, size_t ve, const char *place);

static int jarray(struct run *r, const struct jm *m, const char *prefix, jeach_fn *each)
{
	const char *s = r->w->text;
	if (!m->found || s[m->vs] == 'n') /* (null: absent, in proto3 JSON) */
		return EDS_OK;
	if (s[m->vs] != '[')
		return jfail(r, m->vs, m->ve, "expected an array for \"%s\", got %s", m->name, jkind(s[m->vs]));
	size_t i = m->vs + 1, vs, ve;
	bool more;
	char place[200];
	for (size_t k = 0;; k++) {
		int rc = jnext_elem(r, &i, k, &vs, &ve, &more);
		if (rc || !more)
			return rc;
		join(place, sizeof place, prefix, "%s[%zu]", m->name, k);
		if ((rc = each(r, vs, ve, place)))
			return rc;
	}
}

static int jw_resource(struct run *r, size_t vs, size_t ve, const char *place)
{
	(void)ve;
	const char *s = r->w->text;
	if (s[vs] != '{')
		return jfail(r, vs, ve, "expected an envoy.service.discovery.v3.Resource object at %s, got %s", place,
			     jkind(s[vs]));
	struct jm m = { "resource" };
	int rc = jmembers(r, vs, &m, 1);
	if (rc || !m.found || s[m.vs] == 'n')
		return rc; /* no resource (or null): a heartbeat */
	char p[200];
	join(p, sizeof p, place, "resource");
	return jw_cla(r, m.vs, m.ve, p, false);
}

static int jw_dr_resource(struct run *r, size_t vs, size_t ve, const char *place)
{
	const char *s = r->w->text;
	if (s[vs] != '{')
		return jfail(r, vs, ve, "expected a google.protobuf.Any object at %s, got %s", place, jkind(s[vs]));
	struct jm t = { "@type" };
	int rc = jmembers(r, vs, &t, 1);
	if (rc)
		return rc;
	if (jtype_is(r, &t, D_RESOURCE))
		return jw_resource(r, vs, ve, place);
	return jw_cla(r, vs, ve, place, false);
}

static int jw_endpoint_config(struct run *r, size_t vs, size_t ve, const char *place)
{
	const char *s = r->w->text;
	if (s[vs] != '{')
		return jfail(r, vs, ve, "expected an object at %s, got %s", place, jkind(s[vs]));
	struct jm m = { "endpoint_config" };
	int rc = jmembers(r, vs, &m, 1);
	if (rc || !m.found || s[m.vs] == 'n')
		return rc;
	char p[200];
	join(p, sizeof p, place, "endpoint_config");
	return jw_cla(r, m.vs, m.ve, p, false);
}

static int jw_ecd(struct run *r, size_t vs, const char *prefix)
{
	struct jm m[] = { { "static_endpoint_configs" }, { "dynamic_endpoint_configs" } };
	int rc = jmembers(r, vs, m, 2);
	if (!rc)
		rc = jarray(r, &m[0], prefix, jw_endpoint_config);
	if (!rc)
		rc = jarray(r, &m[1], prefix, jw_endpoint_config);
	return rc;
}

static int jw_dump_config(struct run *r, size_t vs, size_t ve, const char *place)
{
	const char *s = r->w->text;
	if (s[vs] != '{')
		return jfail(r, vs, ve, "expected a google.protobuf.Any object at %s, got %s", place, jkind(s[vs]));
	struct jm t = { "@type" };
	int rc = jmembers(r, vs, &t, 1);
	if (rc)
		return rc;
	if (jtype_is(r, &t, D_ECD))
		return jw_ecd(r, vs, place);
	if (jtype_is(r, &t, D_STATIC) || jtype_is(r, &t, D_DYNAMIC))
		return jw_endpoint_config(r, vs, ve, place);
	return EDS_OK; /* another component's dump */
}

static int jw_discovery(struct run *r, size_t at)
{
	struct jm m[] = { { "@type" }, { "resources" }, { "type_url" }, { "system_version_info" },
			  { "removed_resources" }, { "removed_resource_names" } };
	int rc = jmembers(r, at, m, 6);
	if (rc)
		return rc;
	const char *s = r->w->text;
	bool delta = jtype_is(r, &m[0], D_DELTA) || m[3].found || m[4].found || m[5].found;
	if (m[0].found && !delta && !jtype_is(r, &m[0], D_DR))
		return jfail(r, m[0].vs, m[0].ve, "\"@type\" %.*s is not a discovery response",
			     (int)(m[0].ve - m[0].vs > 120 ? 120 : m[0].ve - m[0].vs), s + m[0].vs);
	if (!m[0].found && !delta && m[1].found && s[m[1].vs] == '[') {
		/* Delta's resources are Resource objects, SotW's are Anys. */
		size_t i = m[1].vs + 1, vs, ve;
		bool more;
		if ((rc = jnext_elem(r, &i, 0, &vs, &ve, &more)))
			return rc;
		if (more && s[vs] == '{') {
			struct jm e[] = { { "@type" }, { "resource" } };
			if ((rc = jmembers(r, vs, e, 2)))
				return rc;
			delta = !e[0].found; /* (a heartbeat Resource has no resource either) */
		}
	}
	r->cdesc = delta ? D_DELTA : D_DR;
	if (m[2].found && !(s[m[2].vs] == '"' && url_is(s + m[2].vs + 1, m[2].ve - m[2].vs - 2, eds_schema_cla)))
		return jfail(r, m[2].vs, m[2].ve, "type_url is %.*s: not an EDS response (ClusterLoadAssignment)",
			     (int)(m[2].ve - m[2].vs > 120 ? 120 : m[2].ve - m[2].vs), s + m[2].vs);
	return jarray(r, &m[1], "", delta ? jw_resource : jw_dr_resource);
}

static int jw_config_dump(struct run *r, size_t at)
{
	struct jm m[] = { { "@type" }, { "configs" } };
	int rc = jmembers(r, at, m, 2);
	if (rc)
		return rc;
	if (m[1].found || jtype_is(r, &m[0], D_DUMP)) {
		r->cdesc = D_DUMP;
		return jarray(r, &m[1], "", jw_dump_config);
	}
	r->cdesc = D_ECD;
	return jw_ecd(r, at, "");
}

/* The kind of a JSON document from its outer shape. */
static int jdetect(struct run *r, enum eds_container *kind)
{
	const char *s = r->w->text;
	size_t n = r->w->len, i = jstart(r->w);
	if (i >= n) {
		r->d->src = r->src;
		return fail(r, EDS_E_DECODE, "empty input: no ClusterLoadAssignment in it");
	}
	if (r->from == EDS_FMT_YAML && r->yj.ndocs > 1) {
		*kind = EDS_CONT_LIST;
		r->stream = true;
		return EDS_OK;
	}
	int rc = jvalidate(r);
	if (rc)
		return rc;
	r->validated = true;
	size_t k = tskip(s, n, i);
	if (eds_json_ws(s, n, k) < n) {
		*kind = EDS_CONT_LIST;
		r->stream = true;
		return EDS_OK;
	}
	if (s[i] == '[') {
		*kind = EDS_CONT_LIST;
		return EDS_OK;
	}
	if (s[i] != '{')
		return jfail(r, i, k, "expected %s, got %s",
			     r->from == EDS_FMT_YAML ? "a YAML mapping or sequence" : "a JSON object or array",
			     jkind(s[i]));
	struct jm m[] = { { "@type" }, { "resources" }, { "configs" }, { "static_endpoint_configs" },
			  { "dynamic_endpoint_configs" } };
	if ((rc = jmembers(r, i, m, 5)))
		return rc;
	r->root_any = m[0].found;
	if (m[0].found) {
		if (jtype_is(r, &m[0], eds_schema_cla))
			*kind = EDS_CONT_CLA;
		else if (jtype_is(r, &m[0], D_DR) || jtype_is(r, &m[0], D_DELTA))
			*kind = EDS_CONT_DISCOVERY;
		else if (jtype_is(r, &m[0], D_DUMP) || jtype_is(r, &m[0], D_ECD))
			*kind = EDS_CONT_CONFIG_DUMP;
		else
			return jfail(r, m[0].vs, m[0].ve,
				     "\"@type\" %.*s is none of what edsmod reads (ClusterLoadAssignment, "
				     "DiscoveryResponse, DeltaDiscoveryResponse, ConfigDump, EndpointsConfigDump)",
				     (int)(m[0].ve - m[0].vs > 100 ? 100 : m[0].ve - m[0].vs), s + m[0].vs);
	} else if (m[1].found) {
		*kind = EDS_CONT_DISCOVERY;
	} else if (m[2].found || m[3].found || m[4].found) {
		*kind = EDS_CONT_CONFIG_DUMP;
	} else {
		*kind = EDS_CONT_CLA;
	}
	return EDS_OK;
}

static int jwalk(struct run *r)
{
	const char *s = r->w->text;
	size_t i = jstart(r->w);
	int vrc = r->validated ? EDS_OK : jvalidate(r);
	if (vrc)
		return vrc;
	switch (r->kind) {
	case EDS_CONT_LIST:
		return jw_list(r);
	case EDS_CONT_CLA: {
		size_t k = tskip(s, r->w->len, i);
		size_t more = eds_json_ws(s, r->w->len, k);
		if (more < r->w->len)
			return jfail(r, more, more + 1, "more than one %s where one ClusterLoadAssignment was expected "
				     "(--container list reads them all)", r->from == EDS_FMT_YAML ? "document" : "value");
		return jw_cla(r, i, k, "", true);
	}
	default:
		break;
	}
	if (i >= r->w->len || s[i] != '{')
		return jfail(r, i, i + 1, "expected %s %s, got %s", r->from == EDS_FMT_YAML ? "a YAML mapping for a" : "a JSON object for a",
			     r->kind == EDS_CONT_DISCOVERY ? "discovery response" : "config dump",
			     i < r->w->len ? jkind(s[i]) : "nothing");
	return r->kind == EDS_CONT_DISCOVERY ? jw_discovery(r, i) : jw_config_dump(r, i);
}

/* Does the JSON text s spell field names as in the .proto (as Envoy's admin
 * output and its documentation's files do)?  The first of these keys tells,
 * in either spelling. */
static bool proto_names_in(const char *s, size_t n)
{
	static const char *const keys[][2] = {
		{ "\"cluster_name\"", "\"clusterName\"" },
		{ "\"lb_endpoints\"", "\"lbEndpoints\"" },
		{ "\"socket_address\"", "\"socketAddress\"" },
		{ "\"port_value\"", "\"portValue\"" },
		{ "\"load_balancing_weight\"", "\"loadBalancingWeight\"" },
		{ "\"health_status\"", "\"healthStatus\"" },
	};
	if (n > 4096)
		n = 4096;
	for (const char *p = s; (p = memchr(p, '"', n - (size_t)(p - s))); p++)
		for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
			for (size_t sp = 0; sp < 2; sp++) { /* [0]: the proto name */
				size_t kl = strlen(keys[k][sp]);
				if ((size_t)(p - s) + kl <= n && memcmp(p, keys[k][sp], kl) == 0)
					return sp == 0;
			}
	return false;
}

/* A CLA written back in its own format (or in a config dump, whose JSON
 * is Envoy's) keeps the spelling of its field names. */
static bool snake_case(const struct run *r, const struct eds_site *st, bool same_format)
{
	return (same_format || r->kind == EDS_CONT_CONFIG_DUMP) &&
	       proto_names_in(r->w->text + st->start, st->end - st->start);
}

struct tmem {
	size_t ks, ke, vs, ve; /* key token (with quotes) and value */
	bool used;
};

/* Push the members or elements of the object or array at s[0] onto the
 * scratch stack; returns how many. */
static size_t tmembers(struct run *r, const char *s, size_t len)
{
	bool obj = s[0] == '{';
	size_t n = 0, i = eds_json_ws(s, len, 1);
	while (i < len && s[i] != (obj ? '}' : ']')) {
		if (r->ntm == r->tmcap) {
			r->tmcap = r->tmcap ? r->tmcap * 2 : 256;
			r->tm = xrealloc(r->tm, r->tmcap * sizeof *r->tm);
		}
		struct tmem *e = &r->tm[r->ntm++];
		n++;
		e->used = false;
		e->ks = e->ke = i;
		if (obj) {
			e->ke = tskip(s, len, i);
			i = eds_json_ws(s, len, e->ke);
			i = eds_json_ws(s, len, i + 1); /* past ':' */
		}
		e->vs = i;
		e->ve = tskip(s, len, i);
		i = eds_json_ws(s, len, e->ve);
		if (i < len && s[i] == ',')
			i = eds_json_ws(s, len, i + 1);
	}
	return n;
}

/* Field names match in either spelling: compare without '_' and case. */
static bool key_same(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < an && a[i] == '_')
			i++;
		while (j < bn && b[j] == '_')
			j++;
		if (i == an || j == bn)
			return i == an && j == bn;
		char x = a[i], y = b[j];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
		i++;
		j++;
	}
}

static int tkey_cmp(const char *s1, const struct tmem *a, const char *s2, const struct tmem *b)
{
	size_t an = a->ke - a->ks, bn = b->ke - b->ks, n = an < bn ? an : bn;
	int c = memcmp(s1 + a->ks, s2 + b->ks, n);
	return c ? c : (an > bn) - (an < bn);
}

/* Has the new member b a key among the old members? */
static bool has_match(const struct run *r, const char *ov, size_t ia, size_t na, const char *nv,
		      const struct tmem *b)
{
	for (size_t i = 0; i < na; i++) {
		const struct tmem *a = &r->tm[ia + i];
		if (key_same(ov + a->ks + 1, a->ke - a->ks - 2, nv + b->ks + 1, b->ke - b->ks - 2))
			return true;
	}
	return false;
}

/* Write nv (the encoder's compact JSON) with every object's keys in the
 * order the same object has in ov (the CLA as it was written) as far as
 * they are there: a rewritten CLA in a key-sorted file stays sorted. */
static void reorder(struct run *r, const char *ov, size_t on, const char *nv, size_t nn, struct eds_buf *out,
		    unsigned depth)
{
	if (!ov || !on || !nn || ov[0] != nv[0] || (nv[0] != '{' && nv[0] != '[') || depth > 200) {
		eds_buf_append(out, nv, nn);
		return;
	}
	size_t base = r->ntm;
	size_t na = tmembers(r, ov, on), nb = tmembers(r, nv, nn);
	size_t ia = base, ib = base + na; /* indices: the stack may move */
	bool obj = nv[0] == '{';
	size_t k = 0;
	eds_buf_putc(out, nv[0]);
	/* Keys written in sorted order (Envoy Gateway's files): a new key goes
	 * where sorting puts it, not at the end. */
	bool sorted = obj && na >= 2;
	for (size_t i = 1; sorted && i < na; i++)
		sorted = tkey_cmp(ov, &r->tm[ia + i - 1], ov, &r->tm[ia + i]) < 0;
	if (obj) {
		for (size_t i = 0; i <= na; i++) {
			for (size_t j = 0; sorted && j < nb; j++) {
				struct tmem *b = &r->tm[ib + j];
				if (b->used || has_match(r, ov, ia, na, nv, b) ||
				    (i < na && tkey_cmp(nv, b, ov, &r->tm[ia + i]) > 0))
					continue;
				b->used = true; /* a new key before the i-th old one */
				if (k++)
					eds_buf_putc(out, ',');
				eds_buf_append(out, nv + b->ks, b->ve - b->ks);
			}
			if (i == na)
				break;
			for (size_t j = 0; j < nb; j++) {
				struct tmem *a = &r->tm[ia + i], *b = &r->tm[ib + j];
				if (b->used || !key_same(ov + a->ks + 1, a->ke - a->ks - 2, nv + b->ks + 1, b->ke - b->ks - 2))
					continue;
				b->used = true;
				if (k++)
					eds_buf_putc(out, ',');
				eds_buf_append(out, nv + b->ks, b->ke - b->ks);
				eds_buf_putc(out, ':');
				size_t avs = a->vs, ave = a->ve, bvs = b->vs, bve = b->ve;
				reorder(r, ov + avs, ave - avs, nv + bvs, bve - bvs, out, depth + 1);
				break;
			}
		}
	}
	for (size_t j = 0; j < nb; j++) {
		struct tmem b = r->tm[ib + j];
		if (b.used)
			continue;
		if (k++)
			eds_buf_putc(out, ',');
		if (obj) {
			eds_buf_append(out, nv + b.ks, b.ke - b.ks);
			eds_buf_putc(out, ':');
			eds_buf_append(out, nv + b.vs, b.ve - b.vs);
		} else if (j < na) {
			struct tmem a = r->tm[ia + j];
			reorder(r, ov + a.vs, a.ve - a.vs, nv + b.vs, b.ve - b.vs, out, depth + 1);
		} else {
			eds_buf_append(out, nv + b.vs, b.ve - b.vs);
		}
	}
	eds_buf_putc(out, obj ? '}' : ']');
	r->ntm = base;
}

/* The CLA of a site as compact JSON, in the form it was found in (bare or
 * an Any); with keep_order, in the key order it was written in. */
static int jencode_site(struct run *r, const struct eds_site *st, const struct eds_encode_opts *eo,
			bool keep_order, struct eds_buf *b)
{
	struct eds_encode_opts o = *eo;
	o.pretty = false;
	o.proto_names = o.proto_names || snake_case(r, st, keep_order);
	struct eds_buf nj = { 0 };
	int rc;
	if (!st->any) {
		rc = eds_json_encode(st->cla, &o, &nj, r->d);
	} else {
		Any a = GOOGLE__PROTOBUF__ANY__INIT;
		char url[160];
		snprintf(url, sizeof url, "type.googleapis.com/%s", eds_schema_cla->name);
		a.type_url = url;
		a.value.data = eds_bin_pack(st->cla, r->arena, &a.value.len);
		rc = eds_json_encode(&a.base, &o, &nj, r->d);
	}
	if (!rc) {
		size_t n = nj.len;
		while (n && nj.data[n - 1] == '\n')
			n--;
		if (keep_order)
			reorder(r, r->w->text + st->start, st->end - st->start, nj.data, n, b, 0);
		else
			eds_buf_append(b, nj.data, n);
	}
	eds_buf_release(&nj);
	return rc;
}

/* The walked JSON text with every site (or only the changed ones) replaced. */
static int jsplice(struct run *r, const struct eds_encode_opts *eo, bool all, bool keep_order, struct eds_buf *b)
{
	const char *s = r->w->text;
	size_t at = r->w->len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* a BOM is no JSON */
	for (size_t k = 0; k < r->nsites; k++) {
		const struct eds_site *st = r->sites[k];
		if (!st->cla || (!all && !st->changed))
			continue;
		eds_buf_append(b, s + at, st->start - at);
		int rc = jencode_site(r, st, eo, keep_order, b);
		if (rc) {
			path_prefix(r->d, st->place);
			return rc;
		}
		at = st->end;
	}
	eds_buf_append(b, s + at, r->w->len - at);
	return EDS_OK;
}

/* Does text end its first line with CRLF?  Then what is rewritten in it does too. */
static bool crlf_text(const char *s, size_t n)
{
	const char *nl = memchr(s, '\n', n);
	return nl && nl > s && nl[-1] == '\r';
}

/* Append the first n bytes of YAML printed into from, its line breaks
 * written as CRLF when crlf; a from that overflowed overflows b. */
static void append_lines(struct eds_buf *b, const struct eds_buf *from, size_t n, bool crlf)
{
	const char *s = from->data, *nl;
	b->overflow |= from->overflow;
	while (crlf && n && (nl = memchr(s, '\n', n))) {
		eds_buf_append(b, s, (size_t)(nl - s));
		eds_buf_append(b, "\r\n", 2);
		n -= (size_t)(nl - s) + 1;
		s = nl + 1;
	}
	eds_buf_append(b, s, n);
}

/* YAML written back as YAML: only the changed CLAs are replaced. */
static int ysplice(struct run *r, const struct eds_encode_opts *eo, struct eds_buf *out, bool *fallback)
{
	const char *y = r->src->text;
	size_t at = 0;
	bool crlf = crlf_text(y, r->src->len);
	struct eds_buf j = { 0 }, yb = { .max = out->max };
	int rc = EDS_OK;
	size_t before = out->len;
	for (size_t k = 0; k < r->nsites && !rc; k++) {
		const struct eds_site *st = r->sites[k];
		if (!st->cla || !st->changed)
			continue;
		const struct eds_yaml_node *nd = eds_yaml_json_node(&r->yj, st->start);
		if (!nd || nd->jstart != st->start || nd->jend != st->end || nd->ystart < at) {
			*fallback = true;
			break;
		}
		/* An anchor in the text replaced could be aliased elsewhere. */
		for (const struct eds_yaml_node *q = nd; q < r->yj.nodes + r->yj.nnodes && q->jstart < st->end; q++)
			if (q->flags & EDS_YN_ANCHOR)
				*fallback = true;
		if (*fallback)
			break;
		j.len = 0;
		if ((rc = jencode_site(r, st, eo, true, &j))) {
			path_prefix(r->d, st->place);
			break;
		}
		/* A block mapping's text starts where its first key does: a tag
		 * on a line of its own ("--- !!map", "key: !!map") stays there. */
		size_t ys = nd->ystart;
		const struct eds_yaml_node *k1 = nd + 1;
		if (!(nd->flags & EDS_YN_FLOW) && k1 < r->yj.nodes + r->yj.nnodes && k1->jstart < nd->jend &&
		    (memchr(y + ys, '\n', k1->ystart - ys) || memchr(y + ys, '\r', k1->ystart - ys)))
			ys = k1->ystart;
		eds_buf_append(out, y + at, ys - at);
		if (nd->flags & EDS_YN_FLOW) {
			yb.len = 0;
			rc = eds_json_to_yaml_flow(j.data, j.len, &yb, r->d);
			if (!rc)
				append_lines(out, &yb, yb.len - 1, crlf);
		} else {
			/* its column: characters ("- " and the like), after a BOM;
			 * YAML breaks lines at "\r" too */
			size_t ls = ys, col = 0;
			while (ls > 0 && y[ls - 1] != '\n' && y[ls - 1] != '\r')
				ls--;
			if (ls == 0 && r->src->len >= 3 && memcmp(y, "\xEF\xBB\xBF", 3) == 0)
				ls = 3;
			for (size_t k = ls; k < ys; k++)
				col += ((unsigned char)y[k] & 0xC0) != 0x80;
			yb.len = 0;
			rc = eds_json_to_yaml(j.data, j.len, (unsigned)col, &yb, r->d);
			if (!rc)
				append_lines(out, &yb, yb.len - 1, crlf);
		}
		at = nd->yend;
	}
	if (!rc && !*fallback)
		eds_buf_append(out, y + at, r->src->len - at);
	if (*fallback)
		out->len = before;
	eds_buf_release(&j);
	eds_buf_release(&yb);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Binary                                                                  */

static size_t varint(const uint8_t *p, size_t i, size_t end, uint64_t *v)
{
	uint64_t r = 0;
	for (unsigned k = 0; k < 10 && i + k < end; k++) {
		r |= (uint64_t)(p[i + k] & 0x7F) << (7 * k);
		if (!(p[i + k] & 0x80)) {
			*v = r;
			return i + k + 1;
		}
	}
	return 0;
}

/* The next field of p[*i, end) (eds_wire_next); false at the end, or when
 * it is malformed with *ok false and *i at the fault. */
static bool wnext(struct run *r, size_t *i, size_t end, struct eds_wire_field *f, bool *ok)
{
	int k = eds_wire_next((const uint8_t *)r->src->text, end, i, f, r->lim.max_depth, &r->wire_why);
	*ok = k >= 0;
	return k > 0;
}

static int wbad(struct run *r, size_t off, const char *what, const char *why)
{
	if (why)
		eds_diag_setf(r->d, EDS_E_DECODE, "malformed protobuf: %s: %s", what, why);
	else
		eds_diag_setf(r->d, EDS_E_DECODE, "malformed protobuf: %s", what);
	return eds_diag_offset(r->d, r->src, off);
}

/* The walk and the rebuild share one shape: in collect mode (out NULL) it
 * finds the sites; in emit mode it writes the message's new content. */
enum wkind { W_DR, W_DELTA, W_RESOURCE, W_DUMP, W_ECD, W_STATIC, W_DYNAMIC, W_ANY_CLA, W_ANY_DR };

struct wsub {
	uint32_t num;
	enum wkind kind;
	const char *name;
};

static const struct wsub wsubs[] = {
	{ 2, W_ANY_DR, "resources" },  /* W_DR */
	{ 2, W_RESOURCE, "resources" }, /* W_DELTA */
	{ 2, W_ANY_CLA, "resource" },   /* W_RESOURCE */
	{ 1, W_ANY_DR, "configs" },     /* W_DUMP: an Any of a dump, see wany */
	{ 2, W_STATIC, "static_endpoint_configs" },
	{ 1, W_ANY_CLA, "endpoint_config" }, /* W_STATIC */
	{ 2, W_ANY_CLA, "endpoint_config" }, /* W_DYNAMIC */
	{ 3, W_DYNAMIC, "dynamic_endpoint_configs" },
};

static int wmsg(struct run *r, enum wkind k, size_t s, size_t e, const char *place, struct eds_buf *out);

/* Is any changed site inside [s, e)? */
static bool wdirty(const struct run *r, size_t s, size_t e)
{
	size_t lo = 0, hi = r->nsites;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->sites[mid]->start < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < r->nsites && r->sites[i]->start <= e; i++)
		if (r->sites[i]->changed && r->sites[i]->end <= e)
			return true;
	return false;
}

static const struct eds_site *wsite_at(const struct run *r, size_t s)
{
	for (size_t lo = 0, hi = r->nsites; lo < hi;) {
		size_t mid = (lo + hi) / 2;
		if (r->sites[mid]->start == s)
			return r->sites[mid];
		if (r->sites[mid]->start < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void put_varint(struct eds_buf *b, uint64_t v)
{
	char t[10];
	size_t n = 0;
	do {
		t[n++] = (char)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
		v >>= 7;
	} while (v);
	eds_buf_append(b, t, n);
}

/* An Any [s, e): a CLA, or (W_ANY_DR) a Resource or a dump to go into. */
static int wany(struct run *r, enum wkind k, enum wkind parent, size_t s, size_t e, const char *place,
		struct eds_buf *out)
{
	const uint8_t *p = (const uint8_t *)r->src->text;
	size_t i = s, url_s = 0, url_e = 0, val_s = e, val_e = e;
	bool has_url = false, has_val = false, ok;
	struct eds_wire_field f;
	while (wnext(r, &i, e, &f, &ok)) {
		if (f.num == 1 && f.wt == 2) {
			url_s = f.vstart;
			url_e = f.vend;
			has_url = true;
		} else if (f.num == 2 && f.wt == 2) {
			val_s = f.vstart;
			val_e = f.vend;
			has_val = true;
		}
	}
	if (!ok)
		return wbad(r, i, "bad field in a google.protobuf.Any", r->wire_why);
	const char *url = (const char *)p + url_s;
	size_t ulen = url_e - url_s;
	enum wkind inner = W_ANY_CLA;
	if (k == W_ANY_DR && parent == W_DUMP) {
		if (url_is(url, ulen, D_ECD))
			inner = W_ECD;
		else if (url_is(url, ulen, D_STATIC))
			inner = W_STATIC;
		else if (url_is(url, ulen, D_DYNAMIC))
			inner = W_DYNAMIC;
		else if (out)
			eds_buf_append(out, (const char *)p + s, e - s);
		if (inner == W_ANY_CLA)
			return EDS_OK; /* another component's dump */
	} else if (k == W_ANY_DR && url_is(url, ulen, D_RESOURCE)) {
		inner = W_RESOURCE;
	} else if (!url_is(url, ulen, eds_schema_cla)) {
		if (!has_url && !has_val)
			return EDS_OK; /* an empty Any */
		eds_diag_setf(r->d, EDS_E_DECODE, "%s is \"%.*s\", not a ClusterLoadAssignment", place,
			      (int)(ulen > 120 ? 120 : ulen), url);
		return eds_diag_offset(r->d, r->src, has_url ? url_s : s);
	}
	if (!out) {
		if (inner != W_ANY_CLA)
			return wmsg(r, inner, val_s, val_e, place, NULL);
		ProtobufCMessage *cla = NULL;
		int rc = bin_cla(r, p + val_s, val_e - val_s, &cla);
		return site_add(r, place, rc ? NULL : cla, val_s, val_e, true, -1, NULL, rc);
	}
	/* emit: the Any's fields, the value replaced */
	struct eds_buf val = { 0 };
	int rc = EDS_OK;
	if (inner != W_ANY_CLA) {
		rc = wmsg(r, inner, val_s, val_e, place, &val);
	} else {
		const struct eds_site *st = wsite_at(r, val_s);
		if (st && st->changed) {
			size_t n;
			uint8_t *b = eds_bin_pack(st->cla, r->arena, &n);
			eds_buf_append(&val, b, n);
		} else {
			eds_buf_append(&val, p + val_s, val_e - val_s);
		}
	}
	i = s;
	bool wrote = false;
	while (!rc && wnext(r, &i, e, &f, &ok)) {
		if (f.num == 2 && f.wt == 2) {
			put_varint(out, 0x12);
			put_varint(out, val.len);
			eds_buf_append(out, val.data, val.len);
			wrote = true;
		} else {
			eds_buf_append(out, p + f.start, f.end - f.start);
		}
	}
	if (!rc && !wrote && val.len) {
		put_varint(out, 0x12);
		put_varint(out, val.len);
		eds_buf_append(out, val.data, val.len);
	}
	eds_buf_release(&val);
	return rc;
}

static int wmsg(struct run *r, enum wkind k, size_t s, size_t e, const char *place, struct eds_buf *out)
{
	const uint8_t *p = (const uint8_t *)r->src->text;
	size_t i = s, counts[4] = { 0 }, url = 0;
	struct eds_wire_field f, u = { 0 };
	bool ok;
	int rc = EDS_OK;
	/* A response's type_url (field 4; the last one counts) must be EDS's,
	 * as in the other formats. */
	while (!out && (k == W_DR || k == W_DELTA) && wnext(r, &i, e, &f, &ok))
		if (f.num == 4 && f.wt == 2 && ++url)
			u = f;
	if (url && u.vend > u.vstart && !url_is((const char *)p + u.vstart, u.vend - u.vstart, eds_schema_cla)) {
		eds_diag_setf(r->d, EDS_E_DECODE, "type_url is \"%.*s\": not an EDS response (ClusterLoadAssignment)",
			      (int)(u.vend - u.vstart > 120 ? 120 : u.vend - u.vstart), (const char *)p + u.vstart);
		return eds_diag_offset(r->d, r->src, u.vstart);
	}
	i = s;
	while (!rc && wnext(r, &i, e, &f, &ok)) {
		const struct wsub *sub = NULL;
		size_t si = 0;
		for (size_t j = 0; j < sizeof wsubs / sizeof wsubs[0]; j++) {
			bool mine = (k == W_DR && j == 0) || (k == W_DELTA && j == 1) || (k == W_RESOURCE && j == 2) ||
				    (k == W_DUMP && j == 3) || (k == W_ECD && (j == 4 || j == 7)) ||
				    (k == W_STATIC && j == 5) || (k == W_DYNAMIC && j == 6);
			if (mine && wsubs[j].num == f.num) {
				sub = &wsubs[j];
				si = j == 7 ? 1 : 0;
			}
		}
		if (!sub || f.wt != 2) {
			if (out)
				eds_buf_append(out, p + f.start, f.end - f.start);
			continue;
		}
		char pl[200];
		if (sub->kind != W_ANY_CLA)
			join(pl, sizeof pl, place, "%s[%zu]", sub->name, counts[si]++);
		else
			join(pl, sizeof pl, place, "%s", sub->name);
		if (out && !wdirty(r, f.vstart, f.vend)) {
			eds_buf_append(out, p + f.start, f.end - f.start);
			continue;
		}
		struct eds_buf tmp = { 0 };
		struct eds_buf *o = out ? &tmp : NULL;
		if (sub->kind == W_ANY_CLA || sub->kind == W_ANY_DR)
			rc = wany(r, sub->kind, k, f.vstart, f.vend, pl, o);
		else
			rc = wmsg(r, sub->kind, f.vstart, f.vend, pl, o);
		if (out && !rc) {
			put_varint(out, (uint64_t)f.num << 3 | 2);
			put_varint(out, tmp.len);
			eds_buf_append(out, tmp.data, tmp.len);
		}
		eds_buf_release(&tmp);
	}
	if (!rc && !ok)
		return wbad(r, i, "bad field in a container message", r->wire_why);
	return rc;
}

/* Delimited binary: varint lengths that exactly tile the input. */
static bool delimited_tiles(const uint8_t *p, size_t n)
{
	size_t i = 0;
	uint64_t v;
	while (i < n) {
		size_t k = varint(p, i, n, &v);
		if (!k || v > n - k)
			return false;
		i = k + v;
	}
	return n > 0;
}

/* Does [s, e) start with an Any's type URL field? */
static bool looks_any(const uint8_t *p, size_t s, size_t e)
{
	static const char pre[] = "type.googleapis.com/";
	uint64_t v;
	size_t k;
	if (s >= e || p[s] != 0x0A || !(k = varint(p, s + 1, e, &v)) || v > e - k)
		return false;
	return v >= sizeof pre - 1 && memcmp(p + k, pre, sizeof pre - 1) == 0;
}

/* Does the first field num in [s, e) look like an Any?  (The Any of a
 * Resource or an endpoint config occurs once; the first lb_endpoints of a
 * locality settles it without a walk over all the others.) */
static bool has_any_field(struct run *r, size_t s, size_t e, uint32_t num)
{
	struct eds_wire_field g;
	bool ok;
	while (wnext(r, &s, e, &g, &ok))
		if (g.num == num)
			return g.wt == 2 && looks_any((const uint8_t *)r->src->text, g.vstart, g.vend);
	return false;
}

/* Could [s, s+n) be a type URL (any prefix up to a '/', as url_is reads
 * it)?  A CLA's policy, also field 4, cannot: each of its fields writes a
 * byte below '!'. */
static bool type_url_like(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '!' || s[i] > '~')
			return false;
	return n && memchr(s, '/', n);
}

/* The container of a binary input, from its top-level fields.  A CLA has
 * messages (Locality, LbEndpoint) where these have an Any, whose first
 * bytes are a type URL: a Locality cannot start with 't'.  Those signs
 * hold even when a later field is malformed: the walk then says where. */
static enum eds_container bdetect(struct run *r)
{
	const uint8_t *p = (const uint8_t *)r->src->text;
	size_t n = r->src->len, i = 0;
	struct eds_wire_field f;
	bool ok, url4 = false, any1 = false, any2 = false, res2 = false, static2 = false, dyn3 = false,
	     f2 = false;
	while (wnext(r, &i, n, &f, &ok)) {
		if (f.wt != 2)
			continue;
		if (f.num == 4 && type_url_like(p + f.vstart, f.vend - f.vstart))
			url4 = true;
		if (f.num == 1 && looks_any(p, f.vstart, f.vend))
			any1 = true;
		f2 |= f.num == 2;
		if (f.num == 2 && looks_any(p, f.vstart, f.vend))
			any2 = true;
		if (f.num == 2 && has_any_field(r, f.vstart, f.vend, 2))
			res2 = true;
		if (f.num == 2 && has_any_field(r, f.vstart, f.vend, 1))
			static2 = true;
		if (f.num == 3 && has_any_field(r, f.vstart, f.vend, 2))
			dyn3 = true;
	}
	if (any1) {
		r->cdesc = D_DUMP;
		return EDS_CONT_CONFIG_DUMP;
	}
	if (url4 || any2 || res2) {
		/* Resources that are no Any are a delta response's Resources
		 * (with an Any inside, or heartbeats without) */
		r->cdesc = f2 && !any2 ? D_DELTA : D_DR;
		return EDS_CONT_DISCOVERY;
	}
	if (static2 || dyn3) {
		r->cdesc = D_ECD;
		return EDS_CONT_CONFIG_DUMP;
	}
	if (n && p[0] != 0x0A && p[0] != 0x12 && p[0] != 0x22 && p[0] != 0x2A && delimited_tiles(p, n))
		return EDS_CONT_LIST;
	return EDS_CONT_CLA;
}

static int bwalk_list(struct run *r, struct eds_buf *out)
{
	const uint8_t *p = (const uint8_t *)r->src->text;
	size_t n = r->src->len, i = 0;
	char place[64];
	for (size_t k = 0; i < n; k++) {
		uint64_t v;
		size_t c = varint(p, i, n, &v);
		if (!c || v > n - c)
			return wbad(r, i, "bad length prefix in a length-delimited list", NULL);
		if (out) {
			const struct eds_site *st = wsite_at(r, c);
			if (st && st->changed) {
				size_t len;
				uint8_t *b = eds_bin_pack(st->cla, r->arena, &len);
				put_varint(out, len);
				eds_buf_append(out, b, len);
			} else {
				eds_buf_append(out, p + i, c + v - i);
			}
		} else {
			ProtobufCMessage *cla = NULL;
			snprintf(place, sizeof place, "[%zu]", k);
			int rc = bin_cla(r, p + c, v, &cla);
			if ((rc = site_add(r, place, rc ? NULL : cla, c, c + v, false, -1, NULL, rc)))
				return rc;
		}
		i = c + v;
	}
	return EDS_OK;
}

static enum wkind bkind(const ProtobufCMessageDescriptor *d)
{
	return d == D_DR ? W_DR : d == D_DELTA ? W_DELTA : d == D_DUMP ? W_DUMP : W_ECD;
}

/* ---------------------------------------------------------------------- */
/* Text format: through the decoded message                                */

static int slot_add(struct run *r, Any *any, ProtobufCMessage *msg, int parent)
{
	if (r->nslots == r->scap) {
		r->scap = r->scap ? r->scap * 2 : 16;
		r->slots = xrealloc(r->slots, r->scap * sizeof *r->slots);
	}
	r->slots[r->nslots] = (struct slot){ any, msg, parent, false };
	return (int)r->nslots++;
}

static int munpack(struct run *r, const ProtobufCMessageDescriptor *desc, const Any *a, ProtobufCMessage **out)
{
	struct eds_src s = { .name = r->src->name, .text = (const char *)a->value.data, .len = a->value.len };
	int rc = eds_bin_decode(desc, &s, r->arena, &r->lim, out, r->d);
	if (rc) {
		r->d->src = r->src;
		r->d->loc = EDS_LOC_NONE;
	}
	return rc;
}

static int m_any_cla(struct run *r, Any *a, int parent, const char *place, bool resource_ok)
{
	if (!a)
		return EDS_OK;
	size_t ul = a->type_url ? strlen(a->type_url) : 0;
	ProtobufCMessage *m = NULL;
	int rc;
	if (resource_ok && url_is(a->type_url, ul, D_RESOURCE)) {
		if ((rc = munpack(r, D_RESOURCE, a, &m)))
			return rc;
		int s = slot_add(r, a, m, parent);
		char p[200];
		join(p, sizeof p, place, "resource");
		return m_any_cla(r, ((Envoy__Service__Discovery__V3__Resource *)m)->resource, s, p, false);
	}
	if (!url_is(a->type_url, ul, eds_schema_cla))
		return fail(r, EDS_E_DECODE, "%s is \"%.120s\", not a ClusterLoadAssignment", place,
			    a->type_url ? a->type_url : "");
	rc = munpack(r, eds_schema_cla, a, &m);
	return site_add(r, place, rc ? NULL : m, 0, 0, true, parent, a, rc);
}

static int m_ecd(struct run *r, Envoy__Admin__V3__EndpointsConfigDump *e, int parent, const char *prefix)
{
	char p[200];
	int rc = EDS_OK;
	for (size_t i = 0; !rc && i < e->n_static_endpoint_configs; i++) {
		join(p, sizeof p, prefix, "static_endpoint_configs[%zu].endpoint_config", i);
		rc = m_any_cla(r, e->static_endpoint_configs[i]->endpoint_config, parent, p, false);
	}
	for (size_t i = 0; !rc && i < e->n_dynamic_endpoint_configs; i++) {
		join(p, sizeof p, prefix, "dynamic_endpoint_configs[%zu].endpoint_config", i);
		rc = m_any_cla(r, e->dynamic_endpoint_configs[i]->endpoint_config, parent, p, false);
	}
	return rc;
}

static int mwalk(struct run *r)
{
	char p[200];
	int rc = EDS_OK;
	ProtobufCMessage *m = r->cmsg;
	if (r->cdesc == D_DR) {
		Envoy__Service__Discovery__V3__DiscoveryResponse *dr = (void *)m;
		if (dr->type_url && dr->type_url[0] && !url_is(dr->type_url, strlen(dr->type_url), eds_schema_cla))
			return fail(r, EDS_E_DECODE, "type_url is \"%.120s\": not an EDS response (ClusterLoadAssignment)",
				    dr->type_url);
		for (size_t i = 0; !rc && i < dr->n_resources; i++) {
			snprintf(p, sizeof p, "resources[%zu]", i);
			rc = m_any_cla(r, dr->resources[i], -1, p, true);
		}
	} else if (r->cdesc == D_DELTA) {
		Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *dr = (void *)m;
		if (dr->type_url && dr->type_url[0] && !url_is(dr->type_url, strlen(dr->type_url), eds_schema_cla))
			return fail(r, EDS_E_DECODE, "type_url is \"%.120s\": not an EDS response (ClusterLoadAssignment)",
				    dr->type_url);
		for (size_t i = 0; !rc && i < dr->n_resources; i++) {
			snprintf(p, sizeof p, "resources[%zu].resource", i);
			rc = m_any_cla(r, dr->resources[i]->resource, -1, p, false);
		}
	} else if (r->cdesc == D_DUMP) {
		Envoy__Admin__V3__ConfigDump *cd = (void *)m;
		for (size_t i = 0; !rc && i < cd->n_configs; i++) {
			Any *a = cd->configs[i];
			size_t ul = a->type_url ? strlen(a->type_url) : 0;
			ProtobufCMessage *in = NULL;
			snprintf(p, sizeof p, "configs[%zu]", i);
			if (url_is(a->type_url, ul, D_ECD)) {
				if (!(rc = munpack(r, D_ECD, a, &in)))
					rc = m_ecd(r, (void *)in, slot_add(r, a, in, -1), p);
			} else if (url_is(a->type_url, ul, D_STATIC) || url_is(a->type_url, ul, D_DYNAMIC)) {
				bool st = url_is(a->type_url, ul, D_STATIC);
				if (!(rc = munpack(r, st ? D_STATIC : D_DYNAMIC, a, &in))) {
					Any *ec = st ? ((Envoy__Admin__V3__EndpointsConfigDump__StaticEndpointConfig *)in)->endpoint_config
						     : ((Envoy__Admin__V3__EndpointsConfigDump__DynamicEndpointConfig *)in)->endpoint_config;
					char p2[200];
					join(p2, sizeof p2, p, "endpoint_config");
					rc = m_any_cla(r, ec, slot_add(r, a, in, -1), p2, false);
				}
			}
		}
	} else {
		rc = m_ecd(r, (void *)m, -1, "");
	}
	return rc;
}

/* The binary walk reads only the fields on the way to the CLAs; text and
 * JSON print every Any on that way expanded, and the text walk unpacks
 * them: each must decode, and hold what the walk wants (a conversion
 * writes nothing the walk of its output would refuse). */
static int mcheck(struct run *r, ProtobufCMessage *m)
{
	struct run probe = *r;
	probe.fn = NULL;
	probe.cmsg = m;
	probe.sites = NULL;
	probe.nsites = probe.cap = 0;
	probe.slots = NULL;
	probe.nslots = probe.scap = 0;
	int rc = mwalk(&probe);
	free(probe.sites);
	free(probe.slots);
	return rc;
}

static void mrepack(struct run *r)
{
	for (size_t k = 0; k < r->nsites; k++) {
		struct eds_site *st = r->sites[k];
		if (!st->changed || !st->anyp)
			continue;
		Any *a = st->anyp;
		a->value.data = eds_bin_pack(st->cla, r->arena, &a->value.len);
		if (st->slot >= 0)
			r->slots[st->slot].dirty = true;
	}
	for (size_t k = r->nslots; k-- > 0;) {
		struct slot *s = &r->slots[k];
		if (!s->dirty)
			continue;
		s->any->value.data = eds_bin_pack(s->msg, r->arena, &s->any->value.len);
		if (s->parent >= 0)
			r->slots[s->parent].dirty = true;
	}
}

/* Top-level field names of a text-format message, to tell containers. */
static enum eds_container tdetect(struct run *r)
{
	const char *s = r->src->text;
	size_t n = r->src->len, i = 0;
	int depth = 0;
	bool delta = false, dr = false, dump = false, ecd = false;
	while (i < n) {
		char c = s[i];
		if (c == '#') {
			while (i < n && s[i] != '\n')
				i++;
		} else if (c == '"' || c == '\'') {
			for (i++; i < n && s[i] != c && s[i] != '\n'; i++)
				if (s[i] == '\\')
					i++;
			i++;
		} else if (c == '{' || c == '<' || c == '[') {
			depth++;
			i++;
		} else if (c == '}' || c == '>' || c == ']') {
			depth--;
			i++;
		} else if (depth == 0 && (c == '_' || (c >= 'a' && c <= 'z'))) {
			size_t k = i;
			while (i < n && (s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
				i++;
			size_t len = i - k;
#define IS(w) (len == strlen(w) && memcmp(s + k, w, len) == 0)
			if (IS("system_version_info") || IS("removed_resources") || IS("removed_resource_names"))
				delta = true;
			else if (IS("resources") || IS("type_url") || IS("nonce") || IS("version_info"))
				dr = true;
			else if (IS("configs"))
				dump = true;
			else if (IS("static_endpoint_configs") || IS("dynamic_endpoint_configs"))
				ecd = true;
#undef IS
			/* skip a value on the same line, so "name: resources" is not a field */
			while (i < n && (s[i] == ' ' || s[i] == '\t'))
				i++;
			if (i < n && s[i] == ':') {
				i++;
				while (i < n && (s[i] == ' ' || s[i] == '\t'))
					i++;
				if (i < n && s[i] != '{' && s[i] != '<' && s[i] != '[' && s[i] != '"' && s[i] != '\'')
					while (i < n && !strchr(" \t\r\n;,#", s[i]))
						i++;
			}
		} else {
			i++;
		}
	}
	if (dump) {
		r->cdesc = D_DUMP;
		return EDS_CONT_CONFIG_DUMP;
	}
	if (ecd) {
		r->cdesc = D_ECD;
		return EDS_CONT_CONFIG_DUMP;
	}
	if (delta || dr) {
		r->cdesc = delta ? D_DELTA : D_DR;
		return EDS_CONT_DISCOVERY;
	}
	return EDS_CONT_CLA;
}

/* ---------------------------------------------------------------------- */
/* The run                                                                 */

static bool has_newline_inside(const char *s, size_t n)
{
	while (n && strchr(" \t\r\n", s[n - 1]))
		n--;
	return memchr(s, '\n', n) != NULL;
}

static enum eds_format family(enum eds_format f)
{
	return f == EDS_FMT_YAML ? EDS_FMT_JSON : f;
}

static struct eds_encode_opts enc_opts(const struct run *r, enum eds_format to)
{
	struct eds_encode_opts eo = r->o->enc;
	if (r->o->pretty >= 0)
		eo.pretty = r->o->pretty;
	else
		eo.pretty = r->from != EDS_FMT_JSON || has_newline_inside(r->src->text, r->src->len);
	if (to == EDS_FMT_JSON && r->kind == EDS_CONT_LIST && r->stream)
		eo.pretty = false; /* JSON Lines */
	return eo;
}

static int encode_tail(struct run *r, enum eds_format to, const ProtobufCMessage *m,
		       const struct eds_encode_opts *eo, struct eds_buf *out)
{
	size_t before = out->len;
	int rc = eds_codec_encode(to, m, eo, out, r->d);
	if (!rc && to == EDS_FMT_JSON && (out->len == before || out->data[out->len - 1] != '\n'))
		eds_buf_putc(out, '\n');
	return rc;
}

/* A lone CLA the codecs read whole: binary, text, JSON without "@type". */
static int run_plain(struct run *r, ProtobufCMessage *cla, struct eds_buf *out, enum eds_format to)
{
	int rc = site_add(r, "", cla, 0, r->src->len, false, -1, NULL, EDS_OK);
	if (rc || !out)
		return rc;
	struct eds_site *st = r->sites[0];
	if (to == EDS_FMT_BINARY && r->from == EDS_FMT_BINARY && !st->changed) {
		eds_buf_append(out, r->src->text, r->src->len); /* byte for byte */
		if (eds_buf_overflowed(out))
			return fail(r, EDS_E_LIMIT, "output larger than %zu bytes (--max-output)", out->max);
		return EDS_OK;
	}
	struct eds_encode_opts eo = enc_opts(r, to);
	eo.reuse_spans = r->spans;
	if (to == EDS_FMT_JSON && r->from == EDS_FMT_JSON)
		eo.proto_names = eo.proto_names || proto_names_in(r->src->text, r->src->len);
	return encode_tail(r, to, cla, &eo, out);
}

/* Decode a lone CLA in the input's format; for an undecided format, the
 * other readings are tried before the first error is reported. */
static int decode_plain(struct run *r, bool auto_from, ProtobufCMessage **cla)
{
	struct eds_diag d2 = { 0 };
	int rc;
	if (r->from == EDS_FMT_BINARY) {
		rc = eds_bin_decode_spans(eds_schema_cla, r->src, r->arena, &r->o->lim, cla, r->d);
		r->spans = rc == EDS_OK;
		return rc;
	}
	rc = eds_codec_decode(r->from, eds_schema_cla, r->src, r->arena, &r->o->lim, cla, r->d);
	if (rc == EDS_E_DECODE && auto_from && r->from == EDS_FMT_TEXT) {
		/* Printable bytes can still be a binary message (a lone short
		 * cluster_name), and "key: value" lines can be YAML. */
		if (eds_codec_decode(EDS_FMT_BINARY, eds_schema_cla, r->src, r->arena, &r->o->lim, cla, &d2) == EDS_OK) {
			r->from = EDS_FMT_BINARY;
			eds_diag_clear(r->d);
			return EDS_OK;
		}
	}
	return rc;
}

static int list_out(struct run *r, enum eds_format to, struct eds_buf *out)
{
	struct eds_encode_opts eo = enc_opts(r, to);
	int rc = EDS_OK;
	if (to == EDS_FMT_TEXT)
		return fail(r, EDS_E_ENCODE, "a list of ClusterLoadAssignments cannot be written as text format "
					     "(write json, yaml or binary)");
	struct eds_buf j = { .max = out->max };
	if (family(to) == EDS_FMT_JSON && !r->stream)
		eds_buf_putc(&j, '[');
	for (size_t k = 0; k < r->nsites && !rc; k++) {
		const struct eds_site *st = r->sites[k];
		if (to == EDS_FMT_BINARY) {
			size_t len;
			uint8_t *b = eds_bin_pack(st->cla, r->arena, &len);
			put_varint(out, len);
			eds_buf_append(out, b, len);
			continue;
		}
		if (k && !r->stream)
			eds_buf_putc(&j, ',');
		rc = eds_json_encode(st->cla, &(struct eds_encode_opts){ .proto_names = eo.proto_names }, &j, r->d);
		if (rc)
			path_prefix(r->d, st->place);
		if (r->stream)
			eds_buf_putc(&j, '\n');
	}
	if (!rc && family(to) == EDS_FMT_JSON) {
		if (!r->stream)
			eds_buf_putc(&j, ']');
		rc = to == EDS_FMT_YAML ? eds_json_to_yaml(j.data, j.len, 0, out, r->d)
					: eds_json_reformat(j.data, j.len, eo.pretty, out, r->d);
	}
	eds_buf_release(&j);
	return rc;
}

/* Write the container in a format of another family: through its message. */
static int convert_out(struct run *r, enum eds_format to, struct eds_buf *out)
{
	if (r->kind == EDS_CONT_CLA) {
		struct eds_encode_opts eo = enc_opts(r, to);
		return encode_tail(r, to, r->sites[0]->cla, &eo, out);
	}
	if (r->kind == EDS_CONT_LIST)
		return list_out(r, to, out);
	if (r->kind == EDS_CONT_CONFIG_DUMP && (family(to) == EDS_FMT_JSON) != (family(r->from) == EDS_FMT_JSON))
		return fail(r, EDS_E_ENCODE, "a config dump converts between json and yaml, or binary and text, only "
					     "(the other dumps in it have no schema here)");
	ProtobufCMessage *m = r->cmsg;
	struct eds_buf b = { 0 };
	int rc = EDS_OK;
	if (r->from == EDS_FMT_TEXT)
		mrepack(r);
	if (r->from == EDS_FMT_BINARY) {
		rc = wmsg(r, bkind(r->cdesc), 0, r->src->len, "", &b);
		struct eds_src s = { .name = r->src->name, .text = b.data ? b.data : "", .len = b.len };
		if (!rc && (rc = eds_bin_decode(r->cdesc, &s, r->arena, &r->lim, &m, r->d))) {
			r->d->src = r->src; /* the same bytes unless a CLA changed */
			if (r->nchanged)
				r->d->loc = EDS_LOC_NONE;
		}
		if (!rc)
			rc = mcheck(r, m);
	} else if (family(r->from) == EDS_FMT_JSON) {
		rc = jsplice(r, &r->o->enc, false, false, &b);
		struct eds_src s = { .name = r->src->name, .text = b.data ? b.data : "", .len = b.len };
		if (!rc && (rc = eds_json_decode(r->cdesc, &s, r->arena, &r->lim, &m, r->d))) {
			if (r->d->src == &s) {
				r->d->src = r->w;
				if (r->nchanged)
					r->d->loc = EDS_LOC_NONE;
			}
		}
	}
	if (!rc) {
		struct eds_encode_opts eo = enc_opts(r, to);
		rc = encode_tail(r, to, m, &eo, out);
	}
	eds_buf_release(&b);
	return rc;
}

static int run_out(struct run *r, enum eds_format to, struct eds_buf *out)
{
	struct eds_encode_opts eo = enc_opts(r, to);
	int rc;
	if (family(to) != family(r->from))
		return convert_out(r, to, out);
	if (r->from == EDS_FMT_BINARY) {
		if (r->kind == EDS_CONT_LIST)
			return bwalk_list(r, out);
		return wmsg(r, bkind(r->cdesc), 0, r->src->len, "", out);
	}
	if (r->from == EDS_FMT_TEXT) {
		mrepack(r);
		return encode_tail(r, to, r->cmsg, &eo, out);
	}
	if (r->from == EDS_FMT_YAML && to == EDS_FMT_YAML) {
		bool fallback = false;
		if ((rc = ysplice(r, &eo, out, &fallback)) || !fallback)
			return rc;
	}
	/* Editing in place keeps the CLAs the rules left alone as they were
	 * written; converting writes every CLA the way the encoder does. */
	bool same = to == r->from;
	struct eds_buf j = { .max = out->max ? out->max * 2 : 0 };
	rc = jsplice(r, &eo, !same || eo.proto_names, same, &j);
	if (!rc && eds_buf_overflowed(&j)) /* (twice the limit as JSON: more than it as either) */
		rc = fail(r, EDS_E_LIMIT, "output larger than %zu bytes (--max-output)", out->max);
	if (!rc && to == EDS_FMT_YAML) {
		/* (YAML printed again whole keeps a CRLF file's line ends) */
		bool crlf = same && crlf_text(r->src->text, r->src->len);
		struct eds_buf y = { .max = out->max };
		if (!(rc = eds_json_to_yaml(j.data, j.len, 0, crlf ? &y : out, r->d)) && crlf)
			append_lines(out, &y, y.len, true);
		eds_buf_release(&y);
	} else if (!rc) {
		rc = eds_json_reformat(j.data, j.len, eo.pretty, out, r->d);
	}
	eds_buf_release(&j);
	return rc;
}

static int check_kind(struct run *r)
{
	enum eds_container k = r->kind;
	if (k == EDS_CONT_JSONL || k == EDS_CONT_DELIMITED) {
		enum eds_format want = k == EDS_CONT_JSONL ? EDS_FMT_JSON : EDS_FMT_BINARY;
		if (r->from != want)
			return fail(r, EDS_E_DECODE, "--container %s needs %s input, not %s", eds_container_name(k),
				    eds_format_name(want), eds_format_name(r->from));
		r->kind = EDS_CONT_LIST;
		r->stream = true;
	}
	if (r->kind == EDS_CONT_LIST && r->from == EDS_FMT_TEXT)
		return fail(r, EDS_E_DECODE, "text format has no list form (use json, yaml or binary)");
	if (r->kind == EDS_CONT_LIST && r->from == EDS_FMT_BINARY)
		r->stream = true;
	if (r->kind == EDS_CONT_LIST && r->from == EDS_FMT_YAML && r->yj.ndocs > 1)
		r->stream = true;
	if (r->kind == EDS_CONT_LIST && family(r->from) == EDS_FMT_JSON && !r->stream) {
		/* one JSON line, one YAML document: a list of one */
		size_t i = jstart(r->w);
		r->stream = i < r->w->len && r->w->text[i] != '[';
	}
	return EDS_OK;
}

/* Which message type a binary or text container of a known kind is. */
static void guess_cdesc(struct run *r)
{
	if (r->cdesc)
		return;
	struct run probe = *r;
	enum eds_container k = r->from == EDS_FMT_BINARY ? bdetect(&probe) : tdetect(&probe);
	if (k == r->kind && probe.cdesc)
		r->cdesc = probe.cdesc;
	else
		r->cdesc = r->kind == EDS_CONT_DISCOVERY ? D_DR : D_DUMP;
}

int eds_container_run(const struct eds_src *src, const struct eds_container_opts *o,
		      struct eds_arena *arena, eds_site_fn *fn, void *ctx, struct eds_buf *out,
		      struct eds_container_info *info, struct eds_diag *d)
{
	struct run r = { .src = src, .o = o, .lim = o->lim, .arena = arena, .fn = fn, .ctx = ctx, .d = d,
			 .from = o->from, .kind = o->kind, .w = src };
	r.lim.max_input = SIZE_MAX; /* the whole input was measured */
	r.jdepth = o->lim.max_depth * 2 + 8;
	bool auto_from = o->from == EDS_FMT_AUTO;
	int rc = EDS_OK, looks_yaml = 0;
	ProtobufCMessage *cla = NULL;
	bool plain_done = false;

	if (src->len > o->lim.max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)", src->len,
			      o->lim.max_input);
		return eds_diag_offset(d, src, o->lim.max_input);
	}
	if (auto_from) {
		r.from = eds_format_detect(src->text, src->len);
		if (r.from == EDS_FMT_TEXT && (looks_yaml = eds_yaml_detect(src->text, src->len)) > 0)
			r.from = EDS_FMT_YAML;
	}
	if (r.from == EDS_FMT_TEXT && auto_from && (r.kind == EDS_CONT_AUTO || r.kind == EDS_CONT_CLA)) {
		/* Undecided "key: value" text: text format, else binary, else YAML. */
		rc = decode_plain(&r, true, &cla);
		if (rc == EDS_E_DECODE && r.kind == EDS_CONT_AUTO && tdetect(&r) != EDS_CONT_CLA) {
			r.kind = tdetect(&r);
			eds_diag_clear(d);
			rc = EDS_OK;
		} else if (rc == EDS_E_DECODE && looks_yaml == 0) {
			/* Only "key: value" lines, and not text format: YAML? */
			struct eds_diag dy = { 0 };
			ProtobufCMessage *m;
			if (eds_yaml_decode(eds_schema_cla, src, arena, &o->lim, &m, &dy) == EDS_OK) {
				r.from = EDS_FMT_YAML;
				eds_diag_clear(d);
				rc = EDS_OK;
			} else {
				goto done;
			}
		} else if (rc) {
			goto done;
		} else {
			plain_done = true;
			r.kind = EDS_CONT_CLA;
		}
	}
	if (r.from == EDS_FMT_YAML) {
		if ((rc = eds_yaml_to_json(src, &o->lim, &r.yj, d)))
			goto done;
		if (r.yj.ndocs == 0) {
			d->src = src;
			rc = eds_diag_setf(d, EDS_E_DECODE, "empty input: no ClusterLoadAssignment in it");
			goto done;
		}
		r.jsrc = (struct eds_src){ .name = src->name, .text = r.yj.json.data, .len = r.yj.json.len };
		r.w = &r.jsrc;
	}
	if (r.kind == EDS_CONT_AUTO) {
		if (r.from == EDS_FMT_BINARY) {
			r.kind = bdetect(&r);
		} else if (r.from == EDS_FMT_TEXT) {
			r.kind = tdetect(&r);
		} else if (r.from == EDS_FMT_JSON) {
			size_t i = jstart(src);
			if (i < src->len && src->text[i] == '{') {
				/* Most inputs are one CLA: decode it straight away. */
				rc = eds_json_decode(eds_schema_cla, src, arena, &r.lim, &cla, d);
				if (!rc) {
					plain_done = true;
					r.kind = EDS_CONT_CLA;
				} else {
					struct eds_diag first = *d;
					eds_diag_clear(d);
					enum eds_container k;
					int drc = jdetect(&r, &k);
					if (drc && !r.validated) {
						/* A syntax error: the decoder's names its path,
						 * unless it only met the second of several values
						 * (JSON Lines) and the error is in a later one. */
						if (d->loc == EDS_LOC_SPAN && first.loc == EDS_LOC_SPAN &&
						    d->span.start > first.span.start)
							rc = drc;
						else
							*d = first;
						goto done;
					}
					if (drc) {
						rc = drc; /* an "@type" of nothing we read */
						goto done;
					}
					if (k == EDS_CONT_CLA && !r.root_any) {
						*d = first;
						goto done;
					}
					r.kind = k;
					rc = EDS_OK;
				}
			}
			if (r.kind == EDS_CONT_AUTO && (rc = jdetect(&r, &r.kind)))
				goto done;
		} else if ((rc = jdetect(&r, &r.kind))) {
			goto done;
		}
	}
	if ((rc = check_kind(&r)))
		goto done;
	if (r.kind == EDS_CONT_DISCOVERY || r.kind == EDS_CONT_CONFIG_DUMP) {
		if (r.from == EDS_FMT_BINARY || r.from == EDS_FMT_TEXT)
			guess_cdesc(&r);
	}
	enum eds_format to = o->to ? o->to : r.from;

	if (r.kind == EDS_CONT_CLA && (r.from == EDS_FMT_BINARY || r.from == EDS_FMT_TEXT ||
				       (r.from == EDS_FMT_JSON && plain_done))) {
		if (!plain_done && (rc = decode_plain(&r, auto_from, &cla)))
			goto done;
		rc = run_plain(&r, cla, out, to);
		goto done;
	}
	switch (r.from) {
	case EDS_FMT_BINARY:
		rc = r.kind == EDS_CONT_LIST ? bwalk_list(&r, NULL) : wmsg(&r, bkind(r.cdesc), 0, src->len, "", NULL);
		break;
	case EDS_FMT_TEXT:
		if ((rc = eds_text_decode(r.cdesc, src, arena, &r.lim, &r.cmsg, d)) == EDS_E_DECODE &&
		    r.cdesc == D_DR && (o->kind == EDS_CONT_AUTO || o->kind == EDS_CONT_DISCOVERY)) {
			struct eds_diag first = *d;
			eds_diag_clear(d);
			if (eds_text_decode(D_DELTA, src, arena, &r.lim, &r.cmsg, d) == EDS_OK) {
				r.cdesc = D_DELTA;
				rc = EDS_OK;
			} else {
				*d = first;
			}
		}
		if (!rc)
			rc = mwalk(&r);
		break;
	default:
		if (r.from == EDS_FMT_JSON && r.kind == EDS_CONT_CLA && !plain_done) {
			/* JSON CLA without @type and an explicit --container cla */
			size_t i = jstart(src);
			struct jm t = { "@type" };
			if (i < src->len && src->text[i] == '{' && (rc = jmembers(&r, i, &t, 1)) == EDS_OK && !t.found) {
				if (!(rc = decode_plain(&r, false, &cla)))
					rc = run_plain(&r, cla, out, to);
				goto done;
			}
			eds_diag_clear(d);
		}
		rc = jwalk(&r);
		break;
	}
	if (!rc && out)
		rc = run_out(&r, to, out);
	if (!rc && out && eds_buf_overflowed(out))
		rc = fail(&r, EDS_E_LIMIT, "output larger than %zu bytes (--max-output)", out->max);
done:
	if (rc && r.from == EDS_FMT_YAML && d->src == &r.jsrc)
		eds_yaml_json_remap(&r.yj, &r.jsrc, src, d);
	else if (rc && d->src == &r.jsrc)
		d->src = src;
	if (info) {
		*info = (struct eds_container_info){ .from = r.from, .to = o->to ? o->to : r.from, .kind = r.kind,
						     .desc = r.cdesc, .nsites = r.nsites, .nchanged = r.nchanged };
		if (r.kind == EDS_CONT_LIST && r.stream && r.from == EDS_FMT_JSON)
			info->kind = EDS_CONT_JSONL;
		else if (r.kind == EDS_CONT_LIST && r.from == EDS_FMT_BINARY)
			info->kind = EDS_CONT_DELIMITED;
	}
	eds_yaml_json_release(&r.yj);
	free(r.sites);
	free(r.slots);
	free(r.tm);
	return rc;
}

void eds_container_locate(const struct eds_site *st, struct eds_diag *d)
{
	const struct run *r = st->run;
	d->src = r->src;
	if (!d->path[0] && !st->place[0])
		return;
	size_t s, e;
	int rc = -1;
	if (st->fmt == EDS_FMT_TEXT) {
		char full[sizeof d->path + sizeof st->place + 2];
		snprintf(full, sizeof full, "%s%s%s", st->place, st->place[0] && d->path[0] && d->path[0] != '[' ? "." : "",
			 d->path);
		if (!r->cdesc)
			rc = eds_text_locate(r->src, eds_schema_cla, d->path, &s, &e);
		else
			rc = eds_text_locate(r->src, r->cdesc, full, &s, &e);
		if (rc >= 0)
			eds_diag_span(d, r->src, s, e);
		return;
	}
	if (st->fmt != EDS_FMT_JSON && st->fmt != EDS_FMT_YAML)
		return;
	struct eds_src sub = { .name = r->w->name, .text = r->w->text + st->start, .len = st->end - st->start };
	if (eds_json_locate(&sub, d->path, &s, &e) < 0)
		return;
	s += st->start;
	e += st->start;
	if (st->fmt == EDS_FMT_JSON) {
		eds_diag_span(d, r->src, s, e);
		return;
	}
	const struct eds_yaml_node *nd = eds_yaml_json_node(&r->yj, s);
	if (nd)
		eds_diag_span(d, r->src, nd->ystart, nd->yend);
}

void eds_site_label(const struct eds_site *st, char *buf, size_t size)
{
	if (!st->place[0]) {
		if (size)
			buf[0] = '\0';
		return;
	}
	const Cla *c = (const Cla *)st->cla;
	if (c && c->cluster_name)
		snprintf(buf, size, "%s (cluster \"%s\")", st->place, c->cluster_name);
	else
		snprintf(buf, size, "%s", st->place);
}

void eds_site_path(const struct eds_site *site, struct eds_diag *d)
{
	path_prefix(d, site->place);
}
