/*
 * libFuzzer target: the binary decoder.  Whatever decodes as a
 * ClusterLoadAssignment must survive the round trip through all three
 * encodings (fz_roundtrip in fuzz_common.h); whatever does not must fail
 * with EDS_E_DECODE or EDS_E_LIMIT and a location inside the input.
 *
 * And neither the second thread (eds_bin_ahead_min, 1 MiB in edsmod, 1 byte
 * here) nor the table-driven path for common fields (eds_bin_fast) may
 * change anything: decoded with and without each, the same verdict, the
 * same diagnostic, the same bytes encoded (with spans and without).
 */
#include "fuzz_common.h"

static void ahead(int on) { eds_bin_ahead_min = on ? 1 : SIZE_MAX; }
static void slow(int on) { eds_bin_fast = !on; }

/* src decoded plainly and with change(1): the same in every way */
static void decode_both(const uint8_t *data, size_t size, const char *how, void (*change)(int))
{
	struct eds_src src = { .name = "fuzz.bin", .text = (const char *)data, .len = size };
	struct eds_arena *a[2] = { eds_arena_new(1 << 16), eds_arena_new(1 << 16) };
	struct eds_diag d[2];
	ProtobufCMessage *m[2];
	int rc[2];
	size_t keep_ahead = eds_bin_ahead_min;
	bool keep_fast = eds_bin_fast;
	for (int k = 0; k < 2; k++) {
		ahead(0);
		slow(0);
		change(k);
		m[k] = NULL;
		d[k] = (struct eds_diag){ 0 };
		rc[k] = eds_bin_decode_spans(eds_schema_cla, &src, a[k], &eds_limits_default, &m[k], &d[k]);
	}
	eds_bin_ahead_min = keep_ahead;
	eds_bin_fast = keep_fast;
	fz_same_verdict(how, rc, d);
	for (int spans = 0; rc[0] == EDS_OK && spans < 2; spans++) {
		struct eds_buf out[2] = { { 0 }, { 0 } };
		for (int k = 0; k < 2; k++)
			if (eds_bin_encode(m[k], &(struct eds_encode_opts){ .reuse_spans = spans }, &out[k], &d[k]))
				fz_fail_diag("fuzz.bin encode", d[k].code, &d[k]);
		char what[80];
		snprintf(what, sizeof what, "%s, encoded%s", how, spans ? " with spans" : "");
		fz_same(what, &out[0], &out[1], NULL);
		eds_buf_release(&out[0]);
		eds_buf_release(&out[1]);
	}
	eds_arena_free(a[0]);
	eds_arena_free(a[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_both(data, size, "second thread", ahead);
	decode_both(data, size, "without the table-driven path", slow);
	return fz_decoder_target(eds_bin_decode, "fuzz.bin", data, size);
}
