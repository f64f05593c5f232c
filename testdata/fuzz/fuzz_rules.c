/*
 * libFuzzer target: the rules compiler (lexer, parser, binder).
 *
 * The input is split at each "\0\0" into up to 8 sources (as -e/-f give
 * several), each copied to a buffer of its exact size with no terminator,
 * so reading past a source's end is an ASan error.  eds_rules_compile must
 * either succeed or return EDS_E_RULES/EDS_E_LIMIT with at least one error,
 * each with a message and, when it has a span, one inside the source it
 * names.  A program that compiles is then run on a fixed Envoy
 * Gateway-shaped CLA (the mode and --skip-errors picked by the input's
 * length), checked, and its binary result must decode again.
 */
#include "check.h"
#include "fuzz_common.h"
#include "rules.h"

#define MAX_SRCS 8

static const char cla_text[] =
	"cluster_name: \"httproute/default/chat/rule/0\"\n"
	"endpoints {\n"
	"  locality { region: \"httproute/default/chat/rule/0/backend/0\" zone: \"us-east-1a\" }\n"
	"  lb_endpoints { endpoint { address { socket_address { address: \"10.0.1.11\" port_value: 8080 } } }\n"
	"    health_status: UNKNOWN load_balancing_weight { value: 1 } }\n"
	"  lb_endpoints { endpoint { address { socket_address { address: \"10.1.2.12\" port_value: 8080 } } }\n"
	"    health_status: DRAINING load_balancing_weight { value: 1 }\n"
	"    metadata { filter_metadata { key: \"envoy.lb\" value { fields { key: \"canary\" value { bool_value: true } } } } } }\n"
	"  load_balancing_weight { value: 80 }\n"
	"  metadata { filter_metadata { key: \"envoy-gateway\" value { fields { key: \"resources\" value { list_value {\n"
	"    values { struct_value { fields { key: \"kind\" value { string_value: \"Backend\" } }\n"
	"      fields { key: \"name\" value { string_value: \"openai\" } }\n"
	"      fields { key: \"namespace\" value { string_value: \"default\" } } } } } } } } } }\n"
	"}\n"
	"endpoints {\n"
	"  locality { region: \"httproute/default/chat/rule/0/backend/1\" zone: \"us-east-1b\" }\n"
	"  lb_endpoints { endpoint { address { socket_address { address: \"2001:db8::21\" port_value: 443 } }\n"
	"      hostname: \"api.anthropic.example\" }\n"
	"    health_status: UNKNOWN load_balancing_weight { value: 1 }\n"
	"    metadata { filter_metadata { key: \"envoy.transport_socket_match\"\n"
	"      value { fields { key: \"name\" value { string_value: \"httproute/default/chat/rule/0/tls/1\" } } } } } }\n"
	"  lb_endpoints { endpoint { address { pipe { path: \"/run/backend.sock\" } } } }\n"
	"  priority: 1\n"
	"}\n"
	"endpoints { locality { region: \"httproute/default/chat/rule/0/backend/3\" } }\n"
	"policy { overprovisioning_factor { value: 140 } }\n";

static void check_errors(const struct eds_diags *errs, const struct eds_src *srcs, size_t n)
{
	for (size_t i = 0; i < errs->n; i++) {
		const struct eds_diag *d = &errs->v[i];
		if (d->code != EDS_E_RULES && d->code != EDS_E_LIMIT)
			fz_fail("compile error %zu has code %d: %s", i, d->code, d->msg);
		if (!memchr(d->msg, 0, sizeof d->msg) || !d->msg[0])
			fz_fail("compile error %zu has no message", i);
		if (d->loc == EDS_LOC_NONE)
			continue;
		size_t k = 0;
		while (k < n && d->src != &srcs[k])
			k++;
		if (k == n)
			fz_fail("compile error %zu (%s) points at a source that is not one of ours", i, d->msg);
		if (d->span.start > d->span.end || d->span.end > srcs[k].len)
			fz_fail("compile error %zu (%s): span %u..%u outside source %zu of %zu bytes", i, d->msg,
				d->span.start, d->span.end, k, srcs[k].len);
	}
}

static void run_program(const struct eds_program *prog, unsigned bits)
{
	struct eds_arena *req = eds_arena_new(1 << 16);
	struct eds_src in = { .name = "cla.txtpb", .text = cla_text, .len = sizeof cla_text - 1 };
	struct eds_diag d = { 0 };
	ProtobufCMessage *cla;
	int rc = eds_text_decode(eds_schema_cla, &in, req, &eds_limits_default, &cla, &d);
	if (rc)
		fz_fail_diag("decoding the fixed CLA", rc, &d);
	struct eds_diags findings = { 0 };
	struct eds_run_opts ro = { .mode = bits & 1 ? EDS_RUN_CHECK : EDS_RUN_TRANSFORM,
				   .skip_errors = (bits >> 1) & 1,
				   .findings = &findings,
				   .input = &in };
	bool changed = false;
	rc = eds_rules_run(prog, cla, req, &ro, &changed, &d);
	if (rc && rc != EDS_E_RUNTIME)
		fz_fail_diag("eds_rules_run", rc, &d);
	if (rc == EDS_OK) {
		struct eds_check_opts co = { .grpc = (bits >> 2) & 1 };
		eds_check_cla(cla, &co, &findings);
		struct eds_buf out = { 0 };
		struct eds_encode_opts eo = { 0 };
		rc = eds_bin_encode(cla, &eo, &out, &d);
		if (rc)
			fz_fail_diag("binary encode of the result", rc, &d);
		fz_decode(eds_bin_decode, "binary decode of the result", &out, req);
		eds_buf_release(&out);
	}
	eds_diags_release(&findings);
	eds_arena_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eds_src srcs[MAX_SRCS];
	char *bufs[MAX_SRCS];
	static const char *const names[MAX_SRCS] = { "-e #1", "-e #2", "-e #3", "-e #4",
						      "-e #5", "-e #6", "-e #7", "rules.edsmod" };
	size_t n = 0, at = 0;
	while (n < MAX_SRCS) {
		size_t end = at;
		if (n < MAX_SRCS - 1) {
			while (end + 1 < size && !(data[end] == 0 && data[end + 1] == 0))
				end++;
			if (end + 1 >= size)
				end = size;
		} else {
			end = size;
		}
		size_t len = end - at;
		bufs[n] = malloc(len ? len : 1);
		memcpy(bufs[n], data + at, len);
		srcs[n] = (struct eds_src){ .name = names[n], .text = bufs[n], .len = len };
		n++;
		if (end >= size)
			break;
		at = end + 2;
	}

	struct eds_arena *a = eds_arena_new(1 << 16);
	struct eds_program *prog = NULL;
	struct eds_diags errs = { 0 };
	int rc = eds_rules_compile(srcs, n, NULL, a, &prog, &errs);
	if (rc == EDS_OK) {
		for (size_t i = 0; i < errs.n; i++)
			if (errs.v[i].severity == EDS_SEV_ERROR)
				fz_fail("compile succeeded with an error: %s", errs.v[i].msg);
		if (!prog)
			fz_fail("compile succeeded without a program");
		run_program(prog, (unsigned)size);
	} else {
		if (rc != EDS_E_RULES && rc != EDS_E_LIMIT)
			fz_fail("eds_rules_compile returned %d", rc);
		if (!errs.n)
			fz_fail("eds_rules_compile failed (%d) without an error", rc);
	}
	check_errors(&errs, srcs, n);
	eds_rules_release(prog);
	eds_diags_release(&errs);
	eds_arena_free(a);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
	return 0;
}
