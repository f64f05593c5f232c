/*
 * libFuzzer target: the semantic diff (src/diff.c) of two fuzzed snapshots.
 *
 * The input is snapshot A, then FZ_DIFF_SEP and snapshot B; without the
 * separator B is A.  Each side is read as edsmod diff reads it (any format,
 * any container: eds_container_run), so the seeds are pairs of the golden
 * cases' inputs.  Properties:
 *   - diff(A, A) is equal and prints nothing but notes, in text and JSON;
 *   - diff(A, A') is equal, A' being A's CLAs read back from their JSON
 *     (what JSON cannot carry is nothing Envoy sees), when A is JSON-able;
 *   - diff(A, A'') is equal, A'' being A with its localities and endpoints
 *     in reverse order, unless two of them share a key (then order pairs
 *     them);
 *   - diff(A, B) and diff(B, A) fail or succeed alike (EDS_E_ENCODE only:
 *     a Struct with NaN), agree on equality, and their summaries mirror
 *     each other (added <-> removed); text and JSON agree too;
 *   - the JSON output is one valid JSON value.
 */
#include <stdbool.h>

#include "codec_json.h"
#include "codec_yaml.h"
#include "container.h"
#include "diff.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "fuzz_common.h"

#define FZ_DIFF_SEP "\n%%diff%%\n"

struct clas {
	ProtobufCMessage **v;
	size_t n, cap;
};

static void push(struct clas *c, ProtobufCMessage *m)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		if (!c->v)
			abort();
	}
	c->v[c->n++] = m;
}

static int collect(void *ctx, struct eds_site *st, struct eds_diag *d)
{
	(void)d;
	push(ctx, st->cla);
	return EDS_OK;
}

/* memmem, which is GNU */
static const char *find(const char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (h[i] == needle[0] && memcmp(h + i, needle, k) == 0)
			return h + i;
	return NULL;
}

static bool load(const char *name, const uint8_t *p, size_t n, struct eds_arena *a, struct clas *c)
{
	struct eds_src src = { .name = name, .text = (const char *)p, .len = n };
	struct eds_container_opts o = { .lim = eds_limits_default };
	struct eds_diag d = { 0 };
	int rc = eds_container_run(&src, &o, a, collect, c, NULL, NULL, &d);
	if (rc && rc != EDS_E_DECODE && rc != EDS_E_LIMIT)
		fz_fail_diag(name, rc, &d);
	return rc == EDS_OK;
}

struct result {
	int rc;
	bool equal;
	struct eds_buf text, json;
	size_t sum[6]; /* clusters changed, added, removed; endpoints changed, added, removed */
};

static void diff(const struct clas *x, const struct clas *y, const char *xn, const char *yn, struct eds_arena *a,
		 struct result *r)
{
	struct eds_diff_side sx = { .name = xn, .clas = x->v, .n = x->n };
	struct eds_diff_side sy = { .name = yn, .clas = y->v, .n = y->n };
	struct eds_diag d = { 0 };
	bool eq_json = false;
	memset(r, 0, sizeof *r);
	r->rc = eds_diff(&sx, &sy, EDS_DIFF_TEXT, a, &r->text, &r->equal, &d);
	if (r->rc && r->rc != EDS_E_ENCODE)
		fz_fail_diag("eds_diff (text)", r->rc, &d);
	int rc = eds_diff(&sx, &sy, EDS_DIFF_JSON, a, &r->json, &eq_json, &d);
	if (rc != r->rc)
		fz_fail("eds_diff: %d as text, %d as JSON (%s)", r->rc, rc, d.msg);
	if (rc)
		return;
	if (eq_json != r->equal)
		fz_fail("eds_diff: equal %d as text, %d as JSON", r->equal, eq_json);
	struct eds_src js = { .name = "diff json", .text = r->json.data, .len = r->json.len };
	size_t i = 0;
	if (eds_json_skip(&js, &i, 1000, &d) || eds_json_ws(js.text, js.len, i) != js.len) {
		fz_dump("json", js.text, js.len);
		fz_fail("the JSON diff is not one JSON value: %s", d.msg);
	}
	const char *eqs = r->equal ? "\"equal\": true" : "\"equal\": false";
	if (!find(r->json.data, r->json.len, eqs))
		fz_fail("the JSON diff does not say %s", eqs);
	/* the text's last line: the summary, unless equal */
	const char *t = r->text.data ? r->text.data : "";
	size_t n = r->text.len;
	if (r->equal) {
		for (size_t k = 0; k < n;) {
			const char *nl = memchr(t + k, '\n', n - k);
			if (strncmp(t + k, "note: ", 6) != 0 || !nl) {
				fz_dump("text", t, n);
				fz_fail("equal snapshots printed more than notes");
			}
			k = (size_t)(nl - t) + 1;
		}
		return;
	}
	if (n < 2 || t[n - 1] != '\n')
		fz_fail("the text diff does not end with a line");
	size_t ls = n - 1;
	while (ls > 0 && t[ls - 1] != '\n')
		ls--;
	char line[200];
	snprintf(line, sizeof line, "%.*s", (int)(n - ls), t + ls);
	if (sscanf(line, "clusters: %zu changed, %zu added, %zu removed; endpoints: %zu changed, %zu added, %zu removed",
		   &r->sum[0], &r->sum[1], &r->sum[2], &r->sum[3], &r->sum[4], &r->sum[5]) != 6) {
		fz_dump("text", t, n);
		fz_fail("no summary line at the end of the text diff");
	}
	if (!r->sum[0] && !r->sum[1] && !r->sum[2])
		fz_fail("unequal, and no cluster changed, added or removed");
}

static void release(struct result *r)
{
	eds_buf_release(&r->text);
	eds_buf_release(&r->json);
}

/* A's CLAs read back from their JSON; false when one has no JSON form. */
static bool via_json(const struct clas *x, struct eds_arena *a, struct clas *y)
{
	struct eds_buf b = { 0 };
	struct eds_encode_opts o = { 0 };
	bool ok = true;
	for (size_t k = 0; k < x->n && ok; k++) {
		struct eds_diag d = { 0 };
		b.len = 0;
		int rc = eds_json_encode(x->v[k], &o, &b, &d);
		if (rc == EDS_E_ENCODE) {
			ok = false;
			break;
		}
		if (rc)
			fz_fail_diag("json encode", rc, &d);
		push(y, fz_decode(eds_json_decode, "json decode of our own output", &b, a));
	}
	eds_buf_release(&b);
	return ok;
}

/* x's CLAs with their localities, and each locality's endpoints, in
 * reverse order (copies in a; x is left alone). */
static void reversed(const struct clas *x, struct eds_arena *a, struct clas *y)
{
	typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
	typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Group;
	for (size_t k = 0; k < x->n; k++) {
		Cla *c = eds_arena_alloc(a, sizeof *c);
		*c = *(Cla *)x->v[k];
		c->endpoints = eds_arena_alloc(a, (c->n_endpoints + 1) * sizeof *c->endpoints);
		for (size_t g = 0; g < c->n_endpoints; g++) {
			Group *src = ((Cla *)x->v[k])->endpoints[c->n_endpoints - 1 - g], *dst = eds_arena_alloc(a, sizeof *dst);
			*dst = *src;
			dst->lb_endpoints = eds_arena_alloc(a, (dst->n_lb_endpoints + 1) * sizeof *dst->lb_endpoints);
			for (size_t e = 0; e < dst->n_lb_endpoints; e++)
				dst->lb_endpoints[e] = src->lb_endpoints[src->n_lb_endpoints - 1 - e];
			c->endpoints[g] = dst;
		}
		push(y, &c->base);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = (const uint8_t *)find((const char *)data, size, FZ_DIFF_SEP);
	size_t na = sep ? (size_t)(sep - data) : size;
	const uint8_t *pb = sep ? sep + strlen(FZ_DIFF_SEP) : data;
	size_t nb = sep ? size - na - strlen(FZ_DIFF_SEP) : size;
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct clas ca = { 0 }, cb = { 0 }, cj = { 0 }, cr = { 0 };
	struct result ab, ba, aa;
	if (!load("a", data, na, a, &ca) || !load("b", pb, nb, a, &cb))
		goto out;

	diff(&ca, &ca, "a", "a", a, &aa);
	if (aa.rc == EDS_OK && !aa.equal) {
		fz_dump("diff(a, a)", aa.text.data, aa.text.len);
		fz_fail("a snapshot differs from itself");
	}
	release(&aa);

	diff(&ca, &cb, "a", "b", a, &ab);
	diff(&cb, &ca, "b", "a", a, &ba);
	if (ab.rc != ba.rc)
		fz_fail("diff(a, b) returns %d, diff(b, a) %d", ab.rc, ba.rc);
	if (ab.rc == EDS_OK) {
		if (ab.equal != ba.equal)
			fz_fail("diff(a, b) says equal %d, diff(b, a) %d", ab.equal, ba.equal);
		static const int mirror[6] = { 0, 2, 1, 3, 5, 4 };
		for (int k = 0; k < 6; k++) {
			if (ab.sum[k] != ba.sum[mirror[k]]) {
				fz_dump("diff(a, b)", ab.text.data, ab.text.len);
				fz_dump("diff(b, a)", ba.text.data, ba.text.len);
				fz_fail("the summaries of diff(a, b) and diff(b, a) do not mirror each other");
			}
		}
	}
	release(&ab);
	release(&ba);

	if (via_json(&ca, a, &cj)) {
		diff(&ca, &cj, "a", "a as json", a, &aa);
		if (aa.rc == EDS_OK && !aa.equal) {
			fz_dump("diff(a, a as json)", aa.text.data, aa.text.len);
			fz_fail("a snapshot differs from itself read back from JSON");
		}
		release(&aa);
	}

	/* the order of localities and endpoints is nothing to Envoy; with
	 * two of one key ("#2" in what diff(a, nothing) lists) it pairs them
	 * by order, so they are left out */
	struct clas none = { 0 };
	diff(&ca, &none, "a", "nothing", a, &aa);
	bool dup = aa.rc || find(aa.text.data, aa.text.len, " #");
	release(&aa);
	if (!dup) {
		reversed(&ca, a, &cr);
		diff(&ca, &cr, "a", "a reversed", a, &aa);
		if (aa.rc == EDS_OK && !aa.equal) {
			fz_dump("diff(a, a reversed)", aa.text.data, aa.text.len);
			fz_fail("a snapshot differs from itself with localities and endpoints in reverse order");
		}
		release(&aa);
	}
out:
	free(ca.v);
	free(cb.v);
	free(cr.v);
	free(cj.v);
	eds_arena_free(a);
	return 0;
}
