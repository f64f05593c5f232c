/*
 * libFuzzer target: the container walker (src/container.c) on fuzzed input,
 * with the format and the container detected as the CLI does.  The runs:
 *
 *   check    keep_going, no output (edsmod check): every CLA is checked and
 *            each finding located; a location lies inside the input
 *   same     nothing changed, written in the input's format: binary and
 *            YAML come back byte for byte (edsmod(1), CONTAINERS); JSON and
 *            text, which are laid out again, must come back the same when
 *            run again on the output, with the same CLAs
 *   change   fixed rules on every other CLA (the first or the second by the
 *            input's length), written in the input's format
 *            (the splices), and again in a format picked by the input's
 *            length when that is another (the conversions); each output
 *            must read back as a container of the same kind with the same
 *            number of CLAs, each equal to what the rules made (compared as
 *            fz_roundtrip compares, without unknown fields unless binary
 *            stays binary)
 *
 * Failures allowed: decode and limit errors with a location inside the
 * input (in the change run only when it converts: that reads the whole
 * container as a message, what is not a CLA too); a rule failing at run
 * time; an output format the container or a CLA cannot be written in
 * (EDS_E_ENCODE, as edsmod(1) lists them).
 */
#include "check.h"
#include "container.h"
#include "fuzz_common.h"
#include "rules.h"

static struct eds_arena *prog_arena;
static struct eds_program *prog;

static const char *const rules[] = {
	"set cla.policy.overprovisioning_factor = 177",
	"set metadata[\"fz\"].c = cluster",
	"health == \"DRAINING\" { drop }",
};
#define NRULES (sizeof rules / sizeof rules[0])

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct eds_src srcs[NRULES];
	for (size_t i = 0; i < NRULES; i++)
		srcs[i] = (struct eds_src){ .name = "-e", .text = rules[i], .len = strlen(rules[i]) };
	prog_arena = eds_arena_new(1 << 16);
	struct eds_diags errs = { 0 };
	if (eds_rules_compile(srcs, NRULES, NULL, prog_arena, &prog, &errs))
		fz_fail("the fixed rules do not compile: %s", errs.n ? errs.v[0].msg : "(no message)");
	eds_diags_release(&errs);
	return 0;
}

enum mode { M_CHECK, M_SAME, M_CHANGE };

struct fctx {
	enum mode m;
	const struct eds_src *src;
	struct eds_arena *a;
	ProtobufCMessage **v; /* the CLA of each site, as the callback left it */
	size_t n, cap;
};

static void span_inside(const char *what, const struct eds_diag *d, const struct eds_src *src)
{
	if (!d->msg[0] || !memchr(d->msg, 0, sizeof d->msg))
		fz_fail("%s: a diagnostic (code %d) without a message", what, d->code);
	if (d->loc == EDS_LOC_NONE)
		return;
	if (d->src != src)
		fz_fail("%s: a located diagnostic (\"%s\") points into another text than the input", what, d->msg);
	if (d->loc == EDS_LOC_SPAN && (d->span.start > d->span.end || d->span.end > src->len))
		fz_fail("%s: span %u..%u outside the %zu-byte input (\"%s\")", what, d->span.start, d->span.end,
			src->len, d->msg);
	if (d->loc == EDS_LOC_OFFSET && d->span.start > src->len)
		fz_fail("%s: offset %u past the %zu-byte input (\"%s\")", what, d->span.start, src->len, d->msg);
}

static int on_site(void *ctx, struct eds_site *st, struct eds_diag *d)
{
	struct fctx *c = ctx;
	if (st->index != c->n)
		fz_fail("site index %zu where %zu was expected", st->index, c->n);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		if (!c->v)
			abort();
	}
	c->v[c->n++] = st->cla;
	char label[320];
	eds_site_label(st, label, sizeof label);
	if (!st->cla) {
		if (c->m != M_CHECK)
			fz_fail("site %zu without a CLA, and keep_going was not asked for", st->index);
		span_inside("an undecodable CLA's diagnostic", d, c->src);
		return EDS_OK;
	}
	if (c->m == M_CHECK) {
		struct eds_diags f = { 0 };
		struct eds_check_opts co = { 0 };
		eds_check_cla(st->cla, &co, &f);
		for (size_t i = 0; i < f.n && i < 8; i++) {
			eds_container_locate(st, &f.v[i]);
			if (f.v[i].src != c->src)
				fz_fail("eds_container_locate left the finding's source elsewhere");
			span_inside("a located finding", &f.v[i], c->src);
			eds_site_path(st, &f.v[i]);
		}
		eds_diags_release(&f);
	} else if (c->m == M_CHANGE && (st->index + c->src->len / 7) % 2 == 0) {
		struct eds_diags warns = { 0 };
		struct eds_run_opts ro = { .mode = EDS_RUN_TRANSFORM, .findings = &warns, .input = c->src };
		bool changed = false;
		int rc = eds_rules_run(prog, st->cla, c->a, &ro, &changed, d);
		eds_diags_release(&warns);
		if (rc && rc != EDS_E_RUNTIME)
			fz_fail_diag("eds_rules_run", rc, d);
		st->changed = changed;
		return rc;
	}
	return EDS_OK;
}

static int run(struct fctx *c, enum mode m, const struct eds_src *src, const struct eds_container_opts *o,
	       struct eds_arena *a, struct eds_buf *out, struct eds_container_info *info, struct eds_diag *d)
{
	*c = (struct fctx){ .m = m, .src = src, .a = a };
	*info = (struct eds_container_info){ 0 };
	eds_diag_clear(d);
	int rc = eds_container_run(src, o, a, on_site, c, out, info, d);
	if (rc == EDS_OK) {
		if (info->nsites != c->n)
			fz_fail("info says %zu CLAs, the callback saw %zu", info->nsites, c->n);
		if (m != M_CHANGE && info->nchanged)
			fz_fail("info says %zu CLAs changed, none was", info->nchanged);
	}
	return rc;
}

/* The kind to read an output back as: the list forms follow the format. */
static enum eds_container as_kind(enum eds_container k)
{
	return k == EDS_CONT_JSONL || k == EDS_CONT_DELIMITED ? EDS_CONT_LIST : k;
}

/* Read out back (format and kind given) and compare its CLAs with want. */
static void reread(const char *what, const struct eds_buf *out, const struct eds_container_info *info,
		   const struct fctx *want, int strip, struct eds_arena *a, struct eds_buf *again)
{
	struct eds_src s = { .name = what, .text = out->data ? out->data : "", .len = out->len };
	struct eds_container_opts o = { .from = info->to, .kind = as_kind(info->kind), .lim = eds_limits_default,
					.pretty = -1 };
	struct eds_container_info i2;
	struct eds_diag d = { 0 };
	struct fctx c;
	int rc = run(&c, M_SAME, &s, &o, a, again, &i2, &d);
	if (rc) {
		fz_dump(what, s.text, s.len);
		fz_fail_diag("reading the output back", rc, &d);
	}
	if (c.n != want->n) {
		fz_dump(what, s.text, s.len);
		fz_fail("%s: %zu CLAs read back, %zu written (%s as %s)", what, c.n, want->n,
			eds_container_name(o.kind), eds_format_name(o.from));
	}
	struct eds_buf x = { 0 }, y = { 0 };
	for (size_t k = 0; k < c.n; k++) {
		fz_canon(want->v[k], a, strip, &x);
		fz_canon(c.v[k], a, strip, &y);
		if (x.len != y.len || (x.len && memcmp(x.data, y.data, x.len))) {
			fprintf(stderr, "--- CLA %zu of %zu differs\n", k, c.n);
			fz_same(what, &x, &y, out);
		}
	}
	eds_buf_release(&x);
	eds_buf_release(&y);
	free(c.v);
}

static enum eds_format family(enum eds_format f)
{
	return f == EDS_FMT_YAML ? EDS_FMT_JSON : f;
}

/* The run with rules, to "to" (AUTO: the input's format), read back. */
static void change(const struct eds_src *src, enum eds_format from, enum eds_format to, size_t size,
		   struct eds_arena *a)
{
	struct eds_container_opts o = { .lim = eds_limits_default,
					.to = to,
					.enc = { .proto_names = (size / 5) & 1 },
					.pretty = (int)((size / 10) % 3) - 1 };
	struct eds_buf out = { 0 }, again = { 0 };
	struct eds_container_info info;
	struct eds_diag d = { 0 };
	struct fctx chg;
	bool convert = to && family(to) != family(from);
	int rc = run(&chg, M_CHANGE, src, &o, a, &out, &info, &d);
	if (rc == EDS_OK) {
		bool bin = info.from == EDS_FMT_BINARY && info.to == EDS_FMT_BINARY;
		reread(to ? "converted output" : "changed output", &out, &info, &chg, !bin, a, &again);
	} else if (convert && (rc == EDS_E_DECODE || rc == EDS_E_LIMIT)) {
		/* converting reads the whole container as its message type,
		 * what is not a CLA included (its strings, its depth) */
		span_inside("conversion", &d, src);
	} else if (rc != EDS_E_RUNTIME && rc != EDS_E_ENCODE) {
		fz_dump("input", src->text, src->len);
		fz_fail("the run with rules, to %s: code %d where the unchanged run passed: %s",
			eds_format_name(to), rc, d.msg);
	}
	free(chg.v);
	eds_buf_release(&out);
	eds_buf_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct eds_src src = { .name = "fuzz.in", .text = (const char *)data, .len = size };
	struct eds_diag d = { 0 };
	struct eds_container_info info;
	struct fctx chk, same;
	struct eds_buf out = { 0 }, again = { 0 };

	/* check: keep going past CLAs that do not decode */
	struct eds_container_opts o = { .lim = eds_limits_default, .keep_going = true };
	int rc = run(&chk, M_CHECK, &src, &o, a, NULL, &info, &d);
	if (rc) {
		if (rc != EDS_E_DECODE && rc != EDS_E_LIMIT)
			fz_fail_diag("check run", rc, &d);
		span_inside("check run", &d, &src);
	}
	bool all_decoded = rc == EDS_OK;
	for (size_t k = 0; k < chk.n; k++)
		all_decoded &= chk.v[k] != NULL;
	free(chk.v);

	/* same: nothing changed, the input's format */
	o = (struct eds_container_opts){ .lim = eds_limits_default, .pretty = -1 };
	rc = run(&same, M_SAME, &src, &o, a, &out, &info, &d);
	if (rc) {
		if (rc != EDS_E_DECODE && rc != EDS_E_LIMIT)
			fz_fail_diag("unchanged run", rc, &d);
		span_inside("unchanged run", &d, &src);
		if (all_decoded && rc == EDS_E_DECODE)
			fz_fail("the check run read every CLA, the unchanged run fails: %s", d.msg);
		goto done;
	}
	if (info.from == EDS_FMT_BINARY || info.from == EDS_FMT_YAML) {
		struct eds_buf in = { .data = (char *)data, .len = size };
		fz_same(info.from == EDS_FMT_BINARY ? "binary written back unchanged" : "YAML written back unchanged",
			&in, &out, NULL);
	} else {
		/* laid out again: once more changes nothing */
		reread("unchanged output", &out, &info, &same, 1, a, &again);
		fz_same("unchanged output written back unchanged", &out, &again, NULL);
	}
	free(same.v);
	same.v = NULL;

	/* change: the rules on every other CLA, written in the input's format
	 * (the splices), then in one picked by the size (the conversions) */
	static const enum eds_format tos[] = { EDS_FMT_AUTO, EDS_FMT_BINARY, EDS_FMT_JSON, EDS_FMT_TEXT, EDS_FMT_YAML };
	enum eds_format from = info.from;
	change(&src, from, EDS_FMT_AUTO, size, a);
	if (tos[size % 5] && tos[size % 5] != from)
		change(&src, from, tos[size % 5], size, a);
done:
	free(same.v);
	eds_buf_release(&out);
	eds_buf_release(&again);
	eds_arena_free(a);
	return 0;
}
