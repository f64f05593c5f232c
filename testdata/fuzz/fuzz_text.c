/*
 * libFuzzer target: the text decoder.  Whatever decodes as a
 * ClusterLoadAssignment must survive the round trip through all three
 * encodings (fz_roundtrip in fuzz_common.h); whatever does not must fail
 * with EDS_E_DECODE or EDS_E_LIMIT and a location inside the input.
 *
 * And the second threads must change nothing.  Parsing ahead
 * (eds_text_ahead_min, 1 MiB in edsmod, 1 byte here): decoded with and
 * without it, the same verdict, the same diagnostic, the same bytes
 * encoded.  Printing on two threads (eds_text_split_min and
 * eds_text_split_chunk, 4,096 and 512 endpoints in edsmod, 1 and 1 here):
 * the same text as one thread prints.
 */
#include "fuzz_common.h"

static void print(const ProtobufCMessage *m, size_t split_min, struct eds_buf *out)
{
	struct eds_diag d = { 0 };
	size_t keep_min = eds_text_split_min, keep_chunk = eds_text_split_chunk;
	eds_text_split_min = split_min;
	eds_text_split_chunk = 1;
	if (eds_text_encode(m, NULL, out, &d))
		fz_fail_diag("fuzz.text print", d.code, &d);
	eds_text_split_min = keep_min;
	eds_text_split_chunk = keep_chunk;
}

static void threads_change_nothing(const uint8_t *data, size_t size)
{
	struct eds_src src = { .name = "fuzz.text", .text = (const char *)data, .len = size };
	struct eds_arena *a[2] = { eds_arena_new(1 << 16), eds_arena_new(1 << 16) };
	struct eds_diag d[2];
	ProtobufCMessage *m[2];
	int rc[2];
	fz_decode_twice(eds_text_decode, &eds_text_ahead_min, &src, a, m, rc, d);
	fz_same_verdict("parsed ahead", rc, d);
	if (rc[0] == EDS_OK) {
		struct eds_buf out[2] = { { 0 }, { 0 } };
		for (int k = 0; k < 2; k++)
			if (eds_bin_encode(m[k], NULL, &out[k], &d[k]))
				fz_fail_diag("fuzz.text encode", d[k].code, &d[k]);
		fz_same("parsed ahead, encoded", &out[0], &out[1], NULL);
		eds_buf_release(&out[0]);
		eds_buf_release(&out[1]);
		print(m[0], SIZE_MAX, &out[0]);
		print(m[0], 1, &out[1]);
		fz_same("printed on two threads", &out[0], &out[1], NULL);
		eds_buf_release(&out[0]);
		eds_buf_release(&out[1]);
	}
	eds_arena_free(a[0]);
	eds_arena_free(a[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	threads_change_nothing(data, size);
	return fz_decoder_target(eds_text_decode, "fuzz.text", data, size);
}
