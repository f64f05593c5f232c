/*
 * libFuzzer target: the YAML decoder.  Whatever decodes as a
 * ClusterLoadAssignment must survive the round trip through all four
 * encodings (fz_roundtrip in fuzz_common.h, whose YAML leg reads back
 * YAML printed from the message); whatever does not must fail with
 * EDS_E_DECODE or EDS_E_LIMIT and a location inside the input.
 *
 * Before that, the YAML-to-JSON conversion the container walker splices
 * with (eds_yaml_to_json) is held to its contract: ndocs JSON values, one
 * per line, and a node table in document order whose every node is one
 * JSON value (or key) inside the JSON text and a span inside the YAML.
 * eds_yaml_detect and eds_yaml_locate must not fail on any input, and a
 * located node lies inside it.
 */
#include "codec_json.h"
#include "codec_yaml.h"
#include "fuzz_common.h"

static void check_nodes(const struct eds_src *src)
{
	struct eds_yaml_json yj;
	struct eds_diag d = { 0 };
	int rc = eds_yaml_to_json(src, &eds_limits_default, &yj, &d);
	if (rc) {
		if (rc != EDS_E_DECODE && rc != EDS_E_LIMIT)
			fz_fail_diag("eds_yaml_to_json", rc, &d);
		if (d.loc == EDS_LOC_SPAN && (d.span.start > d.span.end || d.span.end > src->len))
			fz_fail("eds_yaml_to_json: diagnostic span %u..%u outside the %zu-byte input", d.span.start,
				d.span.end, src->len);
		eds_yaml_json_release(&yj);
		return;
	}
	const char *j = yj.json.data ? yj.json.data : "";
	size_t n = yj.json.len;
	if (j[n] != '\0')
		fz_fail("eds_yaml_to_json: the JSON text is not NUL-terminated");
	struct eds_src js = { .name = "yaml as json", .text = j, .len = n };
	size_t i = 0;
	for (size_t k = 0; k < yj.ndocs; k++) {
		if (eds_json_skip(&js, &i, 100000, &d) != EDS_OK) {
			fz_dump("json", j, n);
			fz_fail_diag("the JSON of a YAML document", d.code, &d);
		}
		if (i >= n || j[i] != '\n')
			fz_fail("eds_yaml_to_json: document %zu does not end with a line break (byte %zu)", k, i);
		i++;
	}
	if (i != n)
		fz_fail("eds_yaml_to_json: %zu bytes of JSON after the %zu documents", n - i, yj.ndocs);
	for (size_t k = 0; k < yj.nnodes; k++) {
		const struct eds_yaml_node *nd = &yj.nodes[k];
		if (nd->jstart > nd->jend || nd->jend > n || nd->ystart > nd->yend || nd->yend > src->len)
			fz_fail("node %zu: json %u..%u of %zu, yaml %u..%u of %zu", k, nd->jstart, nd->jend, n,
				nd->ystart, nd->yend, src->len);
		if (k && nd->jstart < yj.nodes[k - 1].jstart)
			fz_fail("node %zu starts at json %u, before node %zu (%u)", k, nd->jstart, k - 1,
				yj.nodes[k - 1].jstart);
		if (n > 1 << 16)
			continue; /* each node re-read below: quadratic in the nesting */
		size_t e = nd->jstart;
		if (eds_json_skip(&js, &e, 100000, &d) != EDS_OK || e != nd->jend) {
			fz_dump("json", j, n);
			fz_fail("node %zu (json %u..%u) is not one JSON value", k, nd->jstart, nd->jend);
		}
	}
	eds_yaml_json_release(&yj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eds_src src = { .name = "fuzz.yaml", .text = (const char *)data, .len = size };
	(void)eds_yaml_detect(src.text, src.len);
	check_nodes(&src);
	static const char *const paths[] = { "", "cluster_name", "endpoints[0].lb_endpoints[0].endpoint.address",
					     "endpoints[1].locality.zone", "policy.overprovisioning_factor" };
	size_t s = 0, e = 0;
	if (eds_yaml_locate(&src, paths[size % 5], &s, &e) >= 0 && (s > e || e > size))
		fz_fail("eds_yaml_locate(\"%s\"): %zu..%zu outside the %zu-byte input", paths[size % 5], s, e, size);
	return fz_decoder_target(eds_yaml_decode, "fuzz.yaml", data, size);
}
