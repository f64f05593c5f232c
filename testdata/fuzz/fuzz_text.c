/*
 * libFuzzer target: the text decoder.  Whatever decodes as a
 * ClusterLoadAssignment must survive the round trip through all three
 * encodings (fz_roundtrip in fuzz_common.h); whatever does not must fail
 * with EDS_E_DECODE or EDS_E_LIMIT and a location inside the input.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fz_decoder_target(eds_text_decode, "fuzz.text", data, size);
}
