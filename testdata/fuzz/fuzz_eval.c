/*
 * libFuzzer target: rule evaluation on fuzzed CLAs.
 *
 * A fixed program (fz_rules: the AI Gateway stamp and one rule per
 * operation of testdata/rules: drop, del, set, regex captures, CIDR, lists,
 * concatenation) is compiled once.  Each input that decodes as a binary CLA
 * is run through it (transform or check mode, with or without
 * --skip-errors, chosen by the input's length), then eds_check_cla, then
 * eds_bin_encode; the result must decode again, and its text encoding must
 * decode too (rules must not make strings that are not valid UTF-8).  The
 * same input decoded with its spans, run through the same rules and encoded
 * with the spans of unchanged messages copied (codec.h) must be the same
 * message: a span a rule left stale would show here.  That second run also
 * splits every CLA of two endpoints or more between two threads
 * (eds_rules_split_min, 20,000 endpoints in edsmod) and shares the
 * Metadata a per-locality set builds between endpoints (eds_rules_share),
 * which the first run does not: same verdict, same first error, same result.
 */
#include "check.h"
#include "fuzz_common.h"
#include "rules.h"

static struct eds_arena *prog_arena;
static struct eds_program *prog;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct eds_src srcs[FZ_NRULES];
	static char names[FZ_NRULES][16];
	for (size_t i = 0; i < FZ_NRULES; i++) {
		snprintf(names[i], sizeof names[i], "-e #%zu", i + 1);
		srcs[i] = (struct eds_src){ .name = names[i], .text = fz_rules[i], .len = strlen(fz_rules[i]) };
	}
	prog_arena = eds_arena_new(1 << 16);
	struct eds_diags errs = { 0 };
	if (eds_rules_compile(srcs, FZ_NRULES, NULL, prog_arena, &prog, &errs))
		fz_fail("the fixed rules do not compile: %s", errs.n ? errs.v[0].msg : "(no message)");
	eds_diags_release(&errs);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct eds_src src = { .name = "fuzz.binpb", .text = (const char *)data, .len = size };
	struct eds_diag d = { 0 };
	ProtobufCMessage *cla;
	if (eds_bin_decode(eds_schema_cla, &src, a, &eds_limits_default, &cla, &d)) {
		eds_arena_free(a);
		return 0;
	}
	struct eds_diags findings = { 0 };
	struct eds_run_opts ro = { .mode = size & 1 ? EDS_RUN_CHECK : EDS_RUN_TRANSFORM,
				   .skip_errors = (size >> 1) & 1,
				   .findings = &findings,
				   .input = &src };
	bool changed = false;
	ProtobufCMessage *cla2;
	if (eds_bin_decode_spans(eds_schema_cla, &src, a, &eds_limits_default, &cla2, &d))
		fz_fail_diag("decode with spans of what decodes without", d.code, &d);
	struct eds_diags findings2 = { 0 };
	struct eds_run_opts ro2 = ro;
	ro2.findings = &findings2;
	struct eds_diag d2 = { 0 };
	eds_rules_split_min = 1; /* every CLA of two endpoints or more runs on two threads */
	int rc2 = eds_rules_run(prog, cla2, a, &ro2, NULL, &d2);
	eds_rules_split_min = SIZE_MAX;
	eds_rules_share = false;
	int rc = eds_rules_run(prog, cla, a, &ro, &changed, &d);
	eds_rules_share = true;
	if (rc != rc2)
		fz_fail("rules on the CLA decoded with spans (two threads) return %d, without %d", rc2, rc);
	if (rc && (strcmp(d.msg, d2.msg) || strcmp(d.path, d2.path)))
		fz_fail("rules fail with \"%s\" (%s), on two threads with \"%s\" (%s)", d.msg, d.path, d2.msg,
			d2.path);
	eds_diags_release(&findings2);
	if (rc && rc != EDS_E_RUNTIME)
		fz_fail_diag("eds_rules_run", rc, &d);
	if (rc == EDS_OK) {
		struct eds_check_opts co = { .grpc = (size >> 2) & 1 };
		size_t from = findings.n; /* (the rules' own findings come first) */
		size_t nerr = eds_check_cla(cla, &co, &findings);
		for (size_t i = 0; i < findings.n; i++)
			if (!findings.v[i].msg[0] || !memchr(findings.v[i].msg, 0, sizeof findings.v[i].msg))
				fz_fail("finding %zu has no message", i);
		/* errors_only: the same errors in the same order, nothing else */
		struct eds_diags errs = { 0 };
		co.errors_only = true;
		size_t k = 0, nerr2 = eds_check_cla(cla, &co, &errs);
		for (size_t i = from; i < findings.n; i++) {
			if (findings.v[i].severity != EDS_SEV_ERROR)
				continue;
			if (k >= errs.n || strcmp(errs.v[k].msg, findings.v[i].msg) ||
			    strcmp(errs.v[k].path, findings.v[i].path))
				fz_fail("errors_only: error \"%s\" at %s is not its error %zu", findings.v[i].msg,
					findings.v[i].path, k);
			k++;
		}
		if (k != errs.n || nerr2 != nerr)
			fz_fail("errors_only: %zu findings, %zu errors; the whole check has %zu errors", errs.n,
				nerr2, nerr);
		eds_diags_release(&errs);
		struct eds_buf out = { 0 }, txt = { 0 };
		struct eds_encode_opts eo = { 0 };
		fz_encode(eds_bin_encode, "binary encode of the result", cla, &eo, &out);
		fz_decode(eds_bin_decode, "binary decode of the result", &out, a);
		/* into a buffer that has a byte and some room (borrow_chunk): the
		 * same bytes after that byte */
		struct eds_buf room = { .cap = 1 + 4096 + size % 2048, .len = 1 }, tail;
		room.data = malloc(room.cap);
		if (!room.data)
			abort();
		room.data[0] = 'x';
		struct eds_diag rd = { 0 };
		int rrc = eds_bin_encode(cla, &eo, &room, &rd);
		if (rrc)
			fz_fail_diag("binary encode into room", rrc, &rd);
		if (room.data[0] != 'x')
			fz_fail("binary encode into room changed the byte before it");
		tail = (struct eds_buf){ .data = room.data + 1, .len = room.len - 1 };
		fz_same("binary encode into room", &out, &tail, &room);
		eds_buf_release(&room);
		struct eds_buf spans = { 0 }, again = { 0 };
		fz_encode(eds_bin_encode, "binary encode with spans", cla2, &(struct eds_encode_opts){ .reuse_spans = true },
			  &spans);
		fz_encode(eds_bin_encode, "binary encode of the spans' result",
			  fz_decode(eds_bin_decode, "binary decode of the spans' result", &spans, a), &eo, &again);
		fz_same("rules' result with spans copied", &out, &again, &spans);
		eds_buf_release(&spans);
		eds_buf_release(&again);
		fz_encode(eds_text_encode, "text encode of the result", cla, &eo, &txt);
		fz_decode(eds_text_decode, "text decode of the result", &txt, a);
		eds_buf_release(&out);
		eds_buf_release(&txt);
	}
	eds_diags_release(&findings);
	eds_arena_free(a);
	return 0;
}
