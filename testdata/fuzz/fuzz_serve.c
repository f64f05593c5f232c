/*
 * libFuzzer target: edsmod-serve's request handler, without the network.
 *
 * cmd/serve.c keeps its handler static (handle(): method index and request
 * bytes in, gRPC status and reply bytes out), so this file includes
 * serve.c itself, with its main renamed, and calls handle() exactly as
 * serve_grpc.c's workers do: one worker state reused across calls, rules
 * loaded by gen_load() from fz_rules as -e arguments.
 *
 * Input: the first byte picks the method (low 3 bits: PostEndpointsModify,
 * PostClusterModify, PostTranslateModify, Health/Check, else an
 * unregistered method; bit 7 set with nothing after it: no payload); the
 * rest is the request message.  Properties: never INTERNAL; the status
 * message is valid UTF-8; an OK reply is well-formed (PostEndpointsModify:
 * decodes as PostEndpointsModifyResponse; Cluster/Translate: valid wire
 * format at the top level of the response and of each cluster, and each
 * cluster's load_assignment decodes); the same answer four times: from the
 * worker that answered every input before (nothing a call leaves in a
 * worker, its arena and its reply buffers, changes a later reply), from a
 * new worker, then twice from the reply cache, which keeps an OK reply the
 * second time its request comes.  The regression inputs run in one
 * process, in name order, so a pair of them can set up a worker's history.
 */
#define main edsmod_serve_main
#include "serve.c"
#undef main

#include "fuzz_common.h"

static struct worker *W;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	struct rule_arg args[FZ_NRULES];
	for (size_t i = 0; i < FZ_NRULES; i++)
		args[i] = (struct rule_arg){ .file = false, .arg = fz_rules[i] };
	int code = 0;
	serve_limits = eds_limits_default; /* gen_load compiles within them */
	serve_limits.max_input = (size_t)64 << 20;
	struct gen *g = gen_load(args, FZ_NRULES, &code);
	if (!g)
		fz_fail("the fixed rules do not load (%d)", code);
	gen_install(g);
	log_level = SERVE_LOG_ERROR;
	W = worker_new(NULL, 0);
	return 0;
}

/* The CLAs of field 33 in a Cluster's top level, concatenated, decode. */
static void check_cluster(const uint8_t *p, size_t n, struct eds_arena *a)
{
	struct eds_wire_field f;
	size_t off = 0, len33 = 0;
	const char *why;
	int k;
	while ((k = eds_wire_next(p, n, &off, &f, UINT_MAX, &why)) > 0)
		if (f.num == 33 && f.wt == 2)
			len33 += f.vend - f.vstart;
	if (k < 0)
		fz_fail("reply: a cluster is not valid wire format: %s at byte %zu", why, off);
	if (!len33)
		return;
	struct eds_buf cat = { 0 };
	off = 0;
	while (eds_wire_next(p, n, &off, &f, UINT_MAX, &why) > 0)
		if (f.num == 33 && f.wt == 2)
			eds_buf_append(&cat, p + f.vstart, f.vend - f.vstart);
	fz_decode(eds_bin_decode, "a cluster's load_assignment in the reply", &cat, a);
	eds_buf_release(&cat);
}

static void check_reply(int method, const struct serve_reply *r)
{
	if (r->status == SERVE_INTERNAL)
		fz_fail("INTERNAL: %s", r->msg ? r->msg : "(no message)");
	if (r->msg && eds_utf8_valid_prefix(r->msg, strlen(r->msg)) != strlen(r->msg))
		fz_fail("status message is not valid UTF-8");
	if (r->status != SERVE_OK) {
		if (!r->msg || !r->msg[0])
			fz_fail("status %d without a message", r->status);
		return;
	}
	if (method < 0 || method > M_HEALTH)
		fz_fail("OK for an unregistered method");
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct eds_buf b = { .data = (char *)r->data, .len = r->len };
	if (method == M_ENDPOINTS) {
		struct eds_src src = { .name = "reply", .text = r->data, .len = r->len };
		struct eds_diag d = { 0 };
		ProtobufCMessage *m;
		int rc = eds_bin_decode(&envoygateway__extension__post_endpoints_modify_response__descriptor,
					&src, a, &eds_limits_default, &m, &d);
		if (rc) {
			fz_dump("reply", r->data, r->len);
			fz_fail_diag("decoding the PostEndpointsModifyResponse", rc, &d);
		}
	} else if (method == M_CLUSTER || method == M_TRANSLATE) {
		const uint8_t *p = (const uint8_t *)b.data;
		struct eds_wire_field f;
		size_t off = 0;
		const char *why;
		int k;
		while ((k = eds_wire_next(p, b.len, &off, &f, UINT_MAX, &why)) > 0) {
			if (f.wt != 2)
				fz_fail("reply: field %u is not length-delimited", f.num);
			if (f.num == 1)
				check_cluster(p + f.vstart, f.vend - f.vstart, a);
		}
		if (k < 0)
			fz_fail("reply is not valid wire format: %s at byte %zu", why, off);
	}
	eds_arena_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int method = data[0] & 7;
	if (method > M_HEALTH)
		method = -1;
	static const char unregistered[] = "/envoygateway.extension.EnvoyGatewayExtension/PostRouteModify";
	struct serve_call c = {
		.method = method,
		.path = method < 0 ? unregistered : methods[method],
		.req = (data[0] & 0x80) && size == 1 ? NULL : (const char *)data + 1,
		.len = size - 1,
	};
	struct serve_reply r;
	handle(W, &c, &r);
	check_reply(method, &r);

	/* A new worker, then W twice (from the cache when the reply is OK):
	 * same status, same bytes. */
	enum serve_status st = r.status;
	size_t len = r.len;
	char *first = malloc(len ? len : 1);
	if (len)
		memcpy(first, r.data, len);
	for (int k = 2; k <= 4; k++) {
		struct worker *w = k == 2 ? worker_new(NULL, 0) : W;
		handle(w, &c, &r);
		if (r.status != st || r.len != len || (len && memcmp(first, r.data, len) != 0))
			fz_fail("call %d (%s) gave another answer (status %d then %d, %zu then %zu bytes)", k,
				k == 2 ? "a new worker" : "the same worker", st, r.status, len, r.len);
		if (w != W)
			worker_free(w);
	}
	free(first);
	return 0;
}
