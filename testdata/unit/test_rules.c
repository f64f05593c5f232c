/*
 * Unit tests of the rules language (src/expr_*.c, src/rules.c): compile
 * errors with exact messages and spans, every operator, action and scope,
 * merging into existing metadata, drop, runtime errors, skip_errors, check
 * mode asserts, the five real jobs of issue 3 on an Envoy Gateway-shaped
 * CLA, and the equality index (used, and equal to rule-by-rule evaluation).
 * Results are read back from the protobuf-c structs directly, or compared
 * with a hand-written expected message (both sides decoded from text and
 * re-encoded, so formatting does not matter).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "expr.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "rules.h"
#include "schema.h"
#include "unit.h"

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Lle;
typedef Envoy__Config__Endpoint__V3__LbEndpoint Lbe;
typedef Google__Protobuf__Value Val;
typedef Google__Protobuf__Struct St;

static struct eds_arena *A; /* request arena, reset per test */

#define CHECK_STR(got, want)                                                                             \
	do {                                                                                             \
		const char *g_ = (got), *w_ = (want);                                                    \
		check(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_, __func__, "line %d: got \"%s\", want \"%s\"", \
		      __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)");                                 \
	} while (0)

/* An Envoy Gateway-shaped CLA: two backendRefs of an HTTPRoute rule, one
 * with TLS metadata and a hostname, a pipe endpoint, an empty locality. */
static const char *const EG = "cluster_name: \"httproute/default/chat/rule/0\"\n"
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
	"  load_balancing_weight { value: 20 }\n"
	"  priority: 1\n"
	"  metadata { filter_metadata { key: \"envoy-gateway\" value { fields { key: \"resources\" value { list_value {\n"
	"    values { struct_value { fields { key: \"kind\" value { string_value: \"Backend\" } }\n"
	"      fields { key: \"name\" value { string_value: \"anthropic\" } }\n"
	"      fields { key: \"namespace\" value { string_value: \"default\" } } } } } } } } } }\n"
	"}\n"
	"endpoints { locality { region: \"httproute/default/chat/rule/0/backend/3\" } load_balancing_weight { value: 5 } priority: 1 }\n"
	"policy { overprovisioning_factor { value: 140 } }\n";

static Cla *cla_from(const char *txt)
{
	struct eds_src src = { "fixture", txt, strlen(txt) };
	ProtobufCMessage *m = NULL;
	struct eds_diag d = { 0 };
	if (eds_text_decode(eds_schema_cla, &src, A, &eds_limits_default, &m, &d)) {
		fprintf(stderr, "fixture does not decode: %s\n", d.msg);
		exit(2);
	}
	return (Cla *)m;
}

static char *enc(const Cla *c)
{
	struct eds_buf b = { 0 };
	struct eds_diag d = { 0 };
	struct eds_encode_opts o = { .pretty = true };
	if (eds_text_encode(&c->base, &o, &b, &d)) {
		fprintf(stderr, "encode failed: %s\n", d.msg);
		exit(2);
	}
	char *s = eds_arena_strndup(A, b.data ? b.data : "", b.len);
	eds_buf_release(&b);
	return s;
}

/* The result equals the message written in want (text format). */
#define CHECK_CLA(c, want)                                                                          \
	do {                                                                                        \
		char *g_ = enc(c), *w_ = enc(cla_from(want));                                       \
		check(strcmp(g_, w_) == 0, __func__, "line %d: message differs:\n--- got\n%s--- want\n%s", \
		      __LINE__, g_, w_);                                                            \
	} while (0)

static struct eds_program *compile_n(const char *const *texts, size_t n, struct eds_arena *pa,
				     struct eds_diags *errs)
{
	static struct eds_src srcs[8]; /* diagnostics point at them */
	static const char *const names[] = { "t.edsmod", "-e #2", "-e #3", "-e #4" };
	for (size_t i = 0; i < n; i++)
		srcs[i] = (struct eds_src){ names[i], texts[i], strlen(texts[i]) };
	struct eds_program *p = NULL;
	eds_rules_compile(srcs, n, NULL, pa, &p, errs);
	return p;
}

static struct eds_arena *PA; /* program arena, reset per test */
static struct eds_program *LAST;

static struct eds_program *compile_ok(const char *rules)
{
	struct eds_diags errs = { 0 };
	eds_rules_release(LAST);
	LAST = NULL;
	eds_arena_reset(PA);
	struct eds_program *p = compile_n(&rules, 1, PA, &errs);
	if (!p) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "  compile error: %s (at %u)\n", errs.v[i].msg, errs.v[i].span.start);
		fprintf(stderr, "  rules: %s\n", rules);
	}
	eds_diags_release(&errs);
	LAST = p;
	return p;
}

/* Compile rules and run them on c; returns the run's code. */
static int run_ex(const char *rules, Cla *c, bool *changed, struct eds_diag *d, struct eds_run_opts *o)
{
	struct eds_program *p = compile_ok(rules);
	if (!p) {
		failed++;
		fprintf(stderr, "FAIL: rules do not compile\n");
		return -1;
	}
	struct eds_run_opts dflt = { 0 };
	bool ch = false;
	eds_diag_clear(d);
	int rc = eds_rules_run(p, &c->base, A, o ? o : &dflt, &ch, d);
	if (changed)
		*changed = ch;
	return rc;
}

static bool run_ok(const char *rules, Cla *c)
{
	struct eds_diag d;
	bool ch;
	int rc = run_ex(rules, c, &ch, &d, NULL);
	if (rc) {
		fprintf(stderr, "  run failed: %s\n  rules: %s\n", d.msg, rules);
		failed++;
	}
	return ch;
}

/* First compile error of rules (one source named t.edsmod), with its span. */
static void compile_err(const char *func, int line, const char *rules, const char *want, unsigned start,
			unsigned len)
{
	struct eds_diags errs = { 0 };
	eds_arena_reset(PA);
	struct eds_program *p = compile_n(&rules, 1, PA, &errs);
	char where[96];
	snprintf(where, sizeof where, "%s line %d", func, line);
	check(p == NULL, where, "compiled, expected \"%s\"", want);
	eds_rules_release(p);
	if (errs.n == 0) {
		check(0, where, "no error reported");
		return;
	}
	const struct eds_diag *e = &errs.v[0];
	check(strcmp(e->msg, want) == 0, where, "message \"%s\", want \"%s\"", e->msg, want);
	enum eds_code code = strstr(want, "(--max-") ? EDS_E_LIMIT : EDS_E_RULES;
	check(e->code == code && e->loc == EDS_LOC_SPAN, where, "code %d loc %d", e->code, e->loc);
	check(e->span.start == start && e->span.end - e->span.start == len, where, "span %u+%u, want %u+%u",
	      e->span.start, e->span.end - e->span.start, start, len);
	check(e->src && strcmp(e->src->name, "t.edsmod") == 0, where, "src not the rules source");
	eds_diags_release(&errs);
}
#define COMPILE_ERR(rules, want, start, len) compile_err(__func__, __LINE__, rules, want, start, len)

static Lbe *ep_at(Cla *c, size_t li, size_t ei)
{
	if (li >= c->n_endpoints || ei >= c->endpoints[li]->n_lb_endpoints)
		return NULL;
	return c->endpoints[li]->lb_endpoints[ei];
}

static const St *ns_of(const Envoy__Config__Core__V3__Metadata *md, const char *ns)
{
	if (!md)
		return NULL;
	for (size_t i = 0; i < md->n_filter_metadata; i++)
		if (strcmp(md->filter_metadata[i]->key, ns) == 0)
			return md->filter_metadata[i]->value;
	return NULL;
}

static const Val *key_of(const St *s, const char *key)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_fields; i++)
		if (strcmp(s->fields[i]->key, key) == 0)
			return s->fields[i]->value;
	return NULL;
}

static const char *md_str(Lbe *e, const char *ns, const char *key)
{
	const Val *v = e ? key_of(ns_of(e->metadata, ns), key) : NULL;
	return v && v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE ? v->string_value : NULL;
}

static size_t n_ns(Lbe *e)
{
	return e && e->metadata ? e->metadata->n_filter_metadata : 0;
}

static const char *host_of(Lbe *e)
{
	return e && e->endpoint ? e->endpoint->hostname : NULL;
}

static const char *addr_of(Lbe *e)
{
	if (!e || !e->endpoint || !e->endpoint->address)
		return NULL;
	if (e->endpoint->address->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE)
		return e->endpoint->address->pipe->path;
	return e->endpoint->address->socket_address->address;
}

/* ================= compile errors ================= */

static void test_compile_errors(void)
{
	COMPILE_ERR("zome == \"a\" { drop }", "unknown name \"zome\" (did you mean \"zone\"?)", 0, 4);
	COMPILE_ERR("lb_endpoint.lb_endpointz == 1 { drop }",
		    "unknown field \"lb_endpointz\" in envoy.config.endpoint.v3.LbEndpoint", 12, 12);
	COMPILE_ERR("lb_endpoint.endpoint.hostnme == \"x\" { drop }",
		    "unknown field \"hostnme\" in envoy.config.endpoint.v3.Endpoint (did you mean \"hostname\"?)", 21, 7);
	COMPILE_ERR("health_status == \"DRAINING\" { drop }",
		    "unknown name \"health_status\" (did you mean \"lb_endpoint.health_status\"?)", 0, 13);
	COMPILE_ERR("region =~ \"^(a)(b)(c)$\" { set hostname = $4 }",
		    "$4 used but the pattern has only 3 capture groups", 41, 2);
	COMPILE_ERR("region =~ \"^(a)$\" { set hostname = $2 }", "$2 used but the pattern has only 1 capture group",
		    35, 2);
	COMPILE_ERR("zone == \"a\" { set hostname = $1 }",
		    "$1 used but the pattern has no regular expression match (=~)", 29, 2);
	COMPILE_ERR("$1 == \"a\" { drop }", "$1 can only be used in the rule's actions", 0, 2);
	COMPILE_ERR("region =~ \"(\" { drop }", "invalid regular expression: unmatched ( or \\(", 10, 3);
	COMPILE_ERR("address in \"10.0.0/8\" { drop }",
		    "invalid CIDR \"10.0.0/8\" (expected e.g. \"10.0.0.0/8\" or \"fd00::/8\")", 11, 10);
	COMPILE_ERR("address in \"10.0.0.0/33\" { drop }",
		    "invalid CIDR \"10.0.0.0/33\" (expected e.g. \"10.0.0.0/8\" or \"fd00::/8\")", 11, 13);
	COMPILE_ERR("zone == \"a\"", "expected '{' after pattern", 11, 0);
	COMPILE_ERR("zone == \"a\"\n\nzone == \"b\" { drop }", "expected '{' after pattern", 11, 0);
	COMPILE_ERR("zone == \"a\" set health = \"DRAINING\"", "expected '{' after pattern, got \"set\"", 12, 3);
	COMPILE_ERR("zone = \"a\" { drop }", "'=' is not a comparison (did you mean '=='?)", 5, 1);
	COMPILE_ERR("zone == \"a\" == \"b\" { drop }", "comparisons cannot be chained: '==' (use 'and')", 12, 2);
	COMPILE_ERR("health == \"DRAINNG\" { drop }",
		    "unknown value \"DRAINNG\" for envoy.config.core.v3.HealthStatus (did you mean \"DRAINING\"?)", 10, 9);
	COMPILE_ERR("set health = \"SICK\"", "unknown value \"SICK\" for envoy.config.core.v3.HealthStatus", 13, 6);
	COMPILE_ERR("set port = \"80\"", "\"port\" takes a number, not a string", 11, 4);
	COMPILE_ERR("set port = 70000", "value 70000 is out of range for \"port\" (0 to 65535)", 11, 5);
	COMPILE_ERR("set weight = 0", "value 0 is out of range for \"weight\" (1 to 4294967295)", 13, 1);
	COMPILE_ERR("set priority = 129", "value 129 is out of range for \"priority\" (0 to 128)", 15, 3);
	COMPILE_ERR("set hostname = 5", "\"hostname\" takes a string, not a number", 15, 1);
	COMPILE_ERR("set cla.policy.overprovisioning_factor = 1.5",
		    "\"cla.policy.overprovisioning_factor\" takes a whole number, not 1.5", 41, 3);
	COMPILE_ERR("set cluster = \"\"", "\"cluster\" must not be empty", 14, 2);
	COMPILE_ERR("set hostname = port", "\"hostname\" takes a string, not a number", 15, 4);
	COMPILE_ERR("set hostname = metadata[\"a\"]", "\"hostname\" takes a string, not an object", 15, 13);
	COMPILE_ERR("set metadata[\"a\"] = hostname", "\"metadata[\"a\"]\" takes an object, not a string", 20, 8);
	CHECK(compile_ok("set cla.policy.endpoint_stale_after = cluster + \"s\"") != NULL, "string to duration at run time");
	COMPILE_ERR("\"a\" + 1 == \"b\" { drop }", "'+' joins strings, got a string and a number", 0, 7);
	COMPILE_ERR("port == \"80\" { drop }", "cannot compare a number with a string", 0, 12);
	COMPILE_ERR("zone < true { drop }", "cannot compare a string with a boolean", 0, 11);
	COMPILE_ERR("hostname { drop }", "a pattern needs a boolean, got a string", 0, 8);
	COMPILE_ERR("port < null { drop }", "only == and != compare with null", 7, 4);
	COMPILE_ERR("zone in [\"a\", 3] { drop }", "cannot compare a string with a number (element 1 of the list)", 8,
		    8);
	COMPILE_ERR("port in [\"80\"] { drop }", "cannot compare a number with a string (element 0 of the list)", 8, 6);
	COMPILE_ERR("set lb_endpoint.endpoint.additional_addresses = 1",
		    "cannot set repeated field \"additional_addresses\" as a whole; set one element, e.g. "
		    "additional_addresses[0]",
		    4, 41);
	COMPILE_ERR("lb_endpoint.endpoint.additional_addresses == null { drop }",
		    "\"additional_addresses\" is a repeated field: index it (e.g. additional_addresses[0]) or test "
		    "it with exists()",
		    0, 41);
	COMPILE_ERR("set metadata[\"x\"] = \"str\"", "\"metadata[\"x\"]\" takes an object, not a string", 20, 5);
	COMPILE_ERR("set lb_endpoint = 1", "cannot set the whole envoy.config.endpoint.v3.LbEndpoint; name a field in it",
		    4, 11);
	COMPILE_ERR("set hostname = null", "only a value inside a Struct can be set to null; use del \"hostname\"", 15, 4);
	COMPILE_ERR("hostname.x == 1 { drop }", "\"hostname\" is a string and has nothing inside", 9, 1);
	COMPILE_ERR("port.x == 1 { drop }", "\"port\" has nothing inside", 5, 1);
	COMPILE_ERR("zone == \"a\" {\n  set hostname = \"x\"\n  drop\n", "'{' is never closed", 12, 1);
	COMPILE_ERR("zone == \"a { drop }", "unterminated string", 8, 1);
	COMPILE_ERR("zone == \"\\q\" { drop }", "unknown escape '\\q' in string", 9, 2);
	COMPILE_ERR("zone == 'a' @ { drop }", "unexpected character '@'", 12, 1);
	COMPILE_ERR("set hostname = \"a\" set port = 1",
		    "expected ';' or a newline after an action, got \"set\"", 19, 3);
	COMPILE_ERR("zone == \"a\" { set hostname = \"a\" drop }",
		    "expected ';', a newline or '}' after an action, got \"drop\"", 33, 4);
	COMPILE_ERR("zone == \"a\" { frob }", "expected an action (set, del, drop or assert), got \"frob\"", 14, 4);
	COMPILE_ERR("set hostname == \"a\"", "expected '=' after the path in set, not '=='", 13, 2);
	COMPILE_ERR("port - 1 == 2 { drop }", "there is no arithmetic: '-' ('+' only joins strings)", 5, 1);
	COMPILE_ERR("metadata[\"a\"] == {\"a\": port} { drop }",
		    "object and array literals hold only constants, got \"port\"", 23, 4);
	COMPILE_ERR("metadata[\"a\"] == {\"a\": 1, \"a\": 2} { drop }", "duplicate key \"a\" in object", 26, 3);
	COMPILE_ERR("lb_endpoint.metadata[0] == 1 { drop }",
		    "[0] needs a repeated field or a list, and envoy.config.core.v3.Metadata is neither", 20, 3);
	COMPILE_ERR("cla.endpoints.locality == 1 { drop }",
		    "repeated field \"endpoints\" is indexed by a number, e.g. endpoints[0]", 14, 8);
	COMPILE_ERR("cla.named_endpoints[0] == 1 { drop }",
		    "map field \"named_endpoints\" is indexed by a string key, e.g. named_endpoints[\"key\"]", 19, 3);
	COMPILE_ERR("exists(port) + \"a\" == \"x\" { drop }", "'+' joins strings, got a boolean and a string", 0, 18);
	COMPILE_ERR("} drop", "unexpected '}': no rule is open", 0, 1);

	/* A regex longer than the cap (eds_limits_default.max_regex). */
	char big[4096 + 64];
	int k = snprintf(big, sizeof big, "region =~ \"");
	memset(big + k, 'a', 4096 + 1);
	snprintf(big + k + 4096 + 1, sizeof big - (size_t)k - 4096 - 1, "\" { drop }");
	COMPILE_ERR(big, "regular expression is 4097 bytes, more than the limit of 4096 (--max-regex)", 10,
		    4096 + 3);
}

static void test_all_errors_reported(void)
{
	/* Every error of every source, in source order, each pointing at its
	 * own source; nothing compiled. */
	const char *texts[] = { "zome == \"a\" { drop }\nzone == \"b\" { set port = \"x\" }\nzone == \"c\" { drop }\n",
				"region =~ \"(\" { drop }; set hostnme = \"a\"" };
	struct eds_diags errs = { 0 };
	eds_arena_reset(PA);
	struct eds_program *p = compile_n(texts, 2, PA, &errs);
	CHECK(p == NULL, "compiled");
	CHECK(errs.n == 4, "%zu errors, want 4", errs.n);
	if (errs.n == 4) {
		CHECK_STR(errs.v[0].msg, "unknown name \"zome\" (did you mean \"zone\"?)");
		CHECK_STR(errs.v[1].msg, "\"port\" takes a number, not a string");
		CHECK_STR(errs.v[2].msg, "invalid regular expression: unmatched ( or \\(");
		CHECK_STR(errs.v[3].msg, "unknown name \"hostnme\" (did you mean \"hostname\"?)");
		CHECK(errs.v[0].src->name == errs.v[1].src->name && strcmp(errs.v[0].src->name, "t.edsmod") == 0,
		      "first two errors in t.edsmod");
		CHECK(strcmp(errs.v[2].src->name, "-e #2") == 0 && strcmp(errs.v[3].src->name, "-e #2") == 0,
		      "last two errors in -e #2");
		unsigned line, col;
		eds_src_linecol(errs.v[1].src, errs.v[1].span.start, &line, &col);
		CHECK(line == 2 && col == 26, "second error at %u:%u, want 2:26", line, col);
	}
	eds_diags_release(&errs);

	/* Syntax errors do not hide the binding errors of other rules. */
	const char *t2 = "zone == \"a\" { set = 1 }\nzone == \"b\" { set port = \"x\" }\nzone = 1 { drop }\n";
	p = compile_n(&t2, 1, PA, &errs);
	CHECK(p == NULL && errs.n == 3, "%zu errors, want 3", errs.n);
	eds_diags_release(&errs);

	/* An empty program and one of comments only compile to nothing. */
	CHECK(compile_ok("") && eds_rules_count(LAST) == 0, "empty program");
	CHECK(compile_ok("# only a comment\n\n;;\n") && eds_rules_count(LAST) == 0, "comments only");
	CHECK(compile_ok("set hostname = \"a\"; set port = 1\n{ drop }") && eds_rules_count(LAST) == 3,
	      "three rules");
}

/* ================= operators ================= */

/* How many endpoints of EG a pattern selects (each selected one is dropped). */
static size_t selected(const char *pattern)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	size_t before = 0, after = 0;
	for (size_t i = 0; i < c->n_endpoints; i++)
		before += c->endpoints[i]->n_lb_endpoints;
	char rules[512];
	snprintf(rules, sizeof rules, "%s { drop }", pattern);
	struct eds_diag d;
	if (run_ex(rules, c, NULL, &d, NULL)) {
		fprintf(stderr, "  %s: %s\n", pattern, d.msg);
		return 999;
	}
	for (size_t i = 0; i < c->n_endpoints; i++)
		after += c->endpoints[i]->n_lb_endpoints;
	return before - after;
}

#define SEL(pattern, n)                                                                                     \
	do {                                                                                                \
		size_t got_ = selected(pattern);                                                            \
		check(got_ == (n), __func__, "line %d: %s selects %zu endpoints, want %d", __LINE__, pattern, got_, \
		      (int)(n));                                                                            \
	} while (0)

static void test_operators(void)
{
	SEL("zone == \"us-east-1a\"", 2);
	SEL("zone != \"us-east-1a\"", 2);
	SEL("\"us-east-1a\" == zone", 2);
	SEL("port == 8080", 2);
	SEL("port != 8080", 2); /* the pipe has no port: null != 8080 */
	SEL("port < 8080", 1);
	SEL("port <= 8080", 3);
	SEL("port > 443", 2);
	SEL("port >= 443", 3);
	SEL("port < 0", 0);
	SEL("address < \"10.1\"", 2); /* bytewise: "/run/..." and "10.0.1.11" */
	SEL("address >= \"2\"", 1);
	SEL("address =~ \"^10\\\\.\"", 2);
	SEL("address !~ \"^10\\\\.\"", 2);
	SEL("hostname !~ \"x\"", 3); /* "" for endpoints without one */
	SEL("address in \"10.0.0.0/8\"", 2);
	SEL("address in \"10.1.0.0/16\"", 1);
	SEL("address in \"10.1.2.12\"", 1);
	SEL("address in \"2001:db8::/32\"", 1);
	SEL("address in \"::/0\"", 1);
	SEL("address in \"0.0.0.0/0\"", 2);
	SEL("address not in \"10.1.0.0/16\"", 3);
	SEL("zone in [\"us-east-1b\", \"eu\"]", 2);
	SEL("health in [\"DRAINING\"]", 1);
	SEL("port not in [443, 8080]", 1);
	SEL("health == \"DRAINING\"", 1);
	SEL("health == 3", 1);
	SEL("health != \"DRAINING\"", 3);
	SEL("health < \"DRAINING\"", 3);        /* enums compare by number */
	SEL("exists(hostname)", 1);
	SEL("not exists(hostname)", 3);
	SEL("exists(metadata)", 2);
	SEL("exists(metadata[\"envoy.lb\"].canary)", 1);
	SEL("exists(weight)", 3);
	SEL("exists(lb_endpoint.endpoint.address.pipe)", 1);
	SEL("exists(locality.metadata[\"envoy-gateway\"].resources[0].name)", 4);
	SEL("exists(locality.metadata[\"envoy-gateway\"].resources[1])", 0);
	/* exists() walks paths of fields itself (path_present): each kind of end */
	SEL("exists(lb_endpoint.endpoint.hostname)", 1);            /* string */
	SEL("exists(lb_endpoint.endpoint.address.socket_address.resolver_name)", 0);
	SEL("exists(lb_endpoint.health_status)", 1);                /* enum: not its default */
	SEL("exists(lb_endpoint.endpoint.address.socket_address.port_value)", 3); /* oneof member */
	SEL("exists(lb_endpoint.endpoint.address.socket_address)", 3); /* the pipe's: another member */
	SEL("exists(lb_endpoint.endpoint.address.pipe.path)", 1);   /* through a oneof member */
	SEL("exists(lb_endpoint.endpoint.additional_addresses)", 0); /* repeated, empty */
	SEL("exists(lb_endpoint.endpoint.health_check_config)", 0);  /* message, absent */
	SEL("exists(lb_endpoint.endpoint.health_check_config.port_value)", 0);
	SEL("exists(lb_endpoint.load_balancing_weight)", 3);
	SEL("exists(locality.priority)", 2);                        /* another root */
	SEL("exists(locality.locality.zone)", 4);
	SEL("not exists(lb_endpoint.endpoint.address.socket_address.address) and exists(weight)", 0);
	SEL("metadata[\"x\"].y == null", 4);
	SEL("metadata[\"envoy.lb\"].canary == true", 1);
	SEL("metadata[\"envoy.lb\"].canary != true", 3);
	SEL("metadata[\"envoy.lb\"] == {\"canary\": true}", 1);
	SEL("metadata[\"envoy.lb\"] == {\"canary\": false}", 0);
	SEL("locality.metadata[\"envoy-gateway\"].resources[0] == "
	    "{\"namespace\": \"default\", \"kind\": \"Backend\", \"name\": \"openai\"}", 2);
	SEL("locality.metadata[\"envoy-gateway\"][\"resources\"][0].name == \"anthropic\"", 2);
	SEL("locality.metadata[\"envoy-gateway\"].resources == [{\"kind\": \"Backend\"}]", 0);
	SEL("zone == \"us-east-1a\" and port == 8080", 2);
	SEL("zone == \"us-east-1a\" && health == \"DRAINING\"", 1);
	SEL("zone == \"nope\" or health == \"DRAINING\" or exists(hostname)", 2);
	SEL("zone == \"nope\" || port == 443", 1);
	SEL("not (zone == \"us-east-1a\")", 2);
	SEL("!(zone == \"us-east-1a\")", 2);
	SEL("not zone == \"us-east-1a\"", 2); /* 'not' binds looser than == */
	SEL("(zone == \"us-east-1b\"\n  and\n  exists(hostname))", 1);
	SEL("zone + \"/\" + address == \"us-east-1a/10.0.1.11\"", 1);
	SEL("region =~ \"backend/1$\"", 2);
	SEL("cluster == \"httproute/default/chat/rule/0\"", 4);
	SEL("priority == 1", 2);
	SEL("locality.weight > 50", 2);
	SEL("locality.load_balancing_weight == 20", 2);
	SEL("locality.locality.region == locality.region", 4);
	SEL("locality.loadBalancingWeight == 80", 2); /* JSON name */
	SEL("lb_endpoint.healthStatus == \"DRAINING\"", 1);
	SEL("cla.policy.overprovisioning_factor == 140", 4);
	SEL("cla.policy.overprovisioning_factor.value == 140", 4);
	SEL("lb_endpoint.load_balancing_weight == 1", 3);
	SEL("weight == null", 1);
	SEL("lb_endpoint.endpoint.address.socket_address.port_value == 443", 1);
	SEL("lb_endpoint.endpoint.address.socket_address.address == null", 1); /* the pipe */
	SEL("cla.endpoints[1].priority == 1", 4);
	SEL("true", 4);
	SEL("false", 0);
	SEL("null == null", 4);
	SEL("-1 < 0", 4);
	SEL("1e3 == 1000", 4);
	SEL("'single' == \"single\"", 4);
	SEL("\"a\\u00e9\" == \"a\\u00E9\"", 4);
	SEL("\"\\ud83d\\ude00\" == \"\xf0\x9f\x98\x80\"", 4);
}

static void test_operator_runtime_errors(void)
{
	struct eds_diag d;
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	/* a Struct value is dynamic: a string against a number fails at run time */
	int rc = run_ex("metadata[\"envoy.lb\"].canary == \"yes\" { drop }", c, NULL, &d, NULL);
	CHECK(rc == EDS_E_RUNTIME, "rc %d", rc);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[1] (10.1.2.12:8080): "
			 "cannot compare a boolean with a string");
	CHECK_STR(d.path, "");
	CHECK(d.loc == EDS_LOC_SPAN && d.span.start == 0 && d.span.end == 36, "span %u-%u", d.span.start,
	      d.span.end);
	CHECK(d.src && strcmp(d.src->name, "t.edsmod") == 0, "src");

	rc = run_ex("zone == \"us-east-1b\" {\n  set hostname = \"h-\" + locality.metadata[\"envoy-gateway\"].resources }", c,
		    NULL, &d, NULL);
	CHECK(rc == EDS_E_RUNTIME, "rc %d", rc);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[1].lb_endpoints[0] ([2001:db8::21]:443): "
			 "'+' joins strings, got a string and a list");
	rc = run_ex("metadata[\"envoy.lb\"].canary < 1 { drop }", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[1] (10.1.2.12:8080): "
			 "cannot compare a boolean with a number");
	rc = run_ex("metadata[\"envoy.lb\"].canary =~ \"x\" { drop }", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[1] (10.1.2.12:8080): "
			 "'=~' needs a string, got a boolean");
	rc = run_ex("metadata[\"envoy.lb\"].canary in \"10.0.0.0/8\" { drop }", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[1] (10.1.2.12:8080): "
			 "'in' with a CIDR needs an address string, got a boolean");
	rc = run_ex("locality.metadata[\"envoy-gateway\"].resources { set locality.weight = 1 }", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0] (region \"httproute/default/chat/rule/0/backend/0\"): "
			 "expected true or false, got a list");
	rc = run_ex("\n\n  set lb_endpoint.endpoint.hostname = metadata[\"envoy.lb\"].canary", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:3:3 failed on endpoints[0].lb_endpoints[0] (10.0.1.11:8080): "
			 "the value for \"lb_endpoint.endpoint.hostname\" is null (use del to clear it)");
	rc = run_ex("exists(metadata[\"envoy.lb\"]) {\n  set lb_endpoint.endpoint.hostname = metadata[\"envoy.lb\"].canary }",
		    c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[1] (10.1.2.12:8080): "
			 "\"lb_endpoint.endpoint.hostname\" takes a string, not a boolean");
}

/* ================= actions ================= */

static void test_set(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	CHECK(run_ok("zone == \"us-east-1a\" { set hostname = \"h-\" + address }", c), "changed");
	CHECK_STR(host_of(ep_at(c, 0, 0)), "h-10.0.1.11");
	CHECK_STR(host_of(ep_at(c, 0, 1)), "h-10.1.2.12");
	CHECK_STR(host_of(ep_at(c, 1, 0)), "api.anthropic.example");

	run_ok("set health = \"DEGRADED\"", c);
	CHECK(ep_at(c, 1, 1)->health_status == 5, "health %d", ep_at(c, 1, 1)->health_status);
	run_ok("port == 443 { set health = 2 }", c);
	CHECK(ep_at(c, 1, 0)->health_status == 2 && ep_at(c, 0, 0)->health_status == 5, "health by number");

	eds_arena_reset(A);
	c = cla_from(EG);
	run_ok("address == \"/run/backend.sock\" { set weight = 7 }", c);
	CHECK(ep_at(c, 1, 1)->load_balancing_weight && ep_at(c, 1, 1)->load_balancing_weight->value == 7,
	      "weight wrapper created");
	run_ok("port == 8080 { set port = 9090; set address = \"192.0.2.1\" }", c);
	CHECK(ep_at(c, 0, 0)->endpoint->address->socket_address->port_value == 9090, "port");
	CHECK_STR(addr_of(ep_at(c, 0, 1)), "192.0.2.1");
	run_ok("exists(lb_endpoint.endpoint.address.pipe) { set address = \"/run/other.sock\" }", c);
	CHECK_STR(addr_of(ep_at(c, 1, 1)), "/run/other.sock");
	CHECK(ep_at(c, 1, 1)->endpoint->address->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE,
	      "address of a pipe stays a pipe");

	/* Locality, CLA and deep paths, by proto and JSON names; wrappers and
	 * durations are created. */
	run_ok("region =~ \"backend/3$\" { set locality.weight = 9; set priority = 2 }\n"
	       "set cla.policy.endpointStaleAfter = \"1.5s\"\n"
	       "set cla.policy.weighted_priority_health = true\n"
	       "set cluster = \"renamed\"\n"
	       "set lb_endpoint.endpoint.health_check_config.port_value = 8081\n",
	       c);
	CHECK(c->endpoints[2]->load_balancing_weight->value == 9 && c->endpoints[2]->priority == 2, "locality");
	CHECK(c->policy->endpoint_stale_after && c->policy->endpoint_stale_after->seconds == 1 &&
		      c->policy->endpoint_stale_after->nanos == 500000000,
	      "duration");
	CHECK(c->policy->weighted_priority_health, "bool");
	CHECK_STR(c->cluster_name, "renamed");
	CHECK(ep_at(c, 1, 0)->endpoint->health_check_config->port_value == 8081, "health check port");
	/* Oneof members: setting one replaces the other. */
	run_ok("port == 9090 { set lb_endpoint.endpoint.address.socket_address.named_port = \"\" }", c);
	{
		Envoy__Config__Core__V3__SocketAddress *sa = ep_at(c, 0, 0)->endpoint->address->socket_address;
		CHECK(sa->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_NAMED_PORT &&
			      sa->named_port && sa->named_port[0] == '\0',
		      "named_port set to \"\"");
	}
	CHECK(run_ok("exists(lb_endpoint.endpoint.address.socket_address.named_port) { set port = 0 }", c), "changed");
	{
		Envoy__Config__Core__V3__SocketAddress *sa = ep_at(c, 0, 0)->endpoint->address->socket_address;
		CHECK(sa->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE &&
			      sa->port_value == 0,
		      "port_value 0 replaces named_port");
	}
	run_ok("set cla.policy.endpoint_stale_after = 30", c);
	CHECK(c->policy->endpoint_stale_after->seconds == 30 && c->policy->endpoint_stale_after->nanos == 0,
	      "duration from seconds");

	/* Setting what is already there changes nothing. */
	eds_arena_reset(A);
	c = cla_from(EG);
	char *before = enc(c);
	CHECK(!run_ok("set cluster = \"httproute/default/chat/rule/0\"\n"
		      "port == 8080 { set port = 8080; set weight = 1; set address = address }\n"
		      "set health = health\n"
		      "zone == \"us-east-1a\" { set locality.weight = 80 }\n"
		      "port == 443 { set metadata[\"envoy.transport_socket_match\"].name = \"httproute/default/chat/rule/0/tls/1\" }\n"
		      "exists(metadata[\"envoy.lb\"]) { set metadata[\"envoy.lb\"] = {\"canary\": true} }\n"
		      "set cla.policy.overprovisioning_factor = 140\n",
		      c),
	      "setting existing values is not a change");
	CHECK_STR(enc(c), before);
}

static void test_set_metadata_merge(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	/* New namespace, new levels, next to existing ones. */
	run_ok("port == 443 { set metadata[\"aigateway.envoy.io\"].a.b = \"deep\" }", c);
	Lbe *e = ep_at(c, 1, 0);
	CHECK(n_ns(e) == 2, "namespaces %zu", n_ns(e));
	CHECK_STR(md_str(e, "envoy.transport_socket_match", "name"), "httproute/default/chat/rule/0/tls/1");
	const Val *a = key_of(ns_of(e->metadata, "aigateway.envoy.io"), "a");
	CHECK(a && a->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE &&
		      key_of(a->struct_value, "b") &&
		      strcmp(key_of(a->struct_value, "b")->string_value, "deep") == 0,
	      "a.b created");
	/* Into an existing namespace: other keys stay. */
	run_ok("port == 443 { set metadata[\"envoy.transport_socket_match\"].extra = 1; "
	       "set metadata[\"aigateway.envoy.io\"].a.c = [1, \"two\", null] }",
	       c);
	CHECK_STR(md_str(e, "envoy.transport_socket_match", "name"), "httproute/default/chat/rule/0/tls/1");
	CHECK(key_of(ns_of(e->metadata, "envoy.transport_socket_match"), "extra")->number_value == 1, "extra");
	/* The whole endpoint, exactly. */
	{
		Cla *only = cla_from("cluster_name: \"c\" endpoints { lb_endpoints {} }");
		only->endpoints[0]->lb_endpoints[0] = e;
		CHECK_CLA(only,
			  "cluster_name: \"c\" endpoints { lb_endpoints {\n"
			  "  endpoint { address { socket_address { address: \"2001:db8::21\" port_value: 443 } }\n"
			  "    hostname: \"api.anthropic.example\" }\n"
			  "  health_status: UNKNOWN load_balancing_weight { value: 1 }\n"
			  "  metadata {\n"
			  "    filter_metadata { key: \"envoy.transport_socket_match\" value {\n"
			  "      fields { key: \"name\" value { string_value: \"httproute/default/chat/rule/0/tls/1\" } }\n"
			  "      fields { key: \"extra\" value { number_value: 1 } } } }\n"
			  "    filter_metadata { key: \"aigateway.envoy.io\" value {\n"
			  "      fields { key: \"a\" value { struct_value {\n"
			  "        fields { key: \"b\" value { string_value: \"deep\" } }\n"
			  "        fields { key: \"c\" value { list_value { values { number_value: 1 }\n"
			  "          values { string_value: \"two\" } values { null_value: NULL_VALUE } } } } } } } } } } } }");
	}
	/* A key inside a non-object is an error, not an overwrite. */
	struct eds_diag d;
	int rc = run_ex("port == 443 { set metadata[\"envoy.transport_socket_match\"].name.x = 1 }", c, NULL, &d, NULL);
	CHECK(rc == EDS_E_RUNTIME, "rc %d", rc);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[1].lb_endpoints[0] ([2001:db8::21]:443): "
			 "cannot set key \"x\" inside a string");
	/* Locality metadata, list elements inside Structs. */
	run_ok("zone == \"us-east-1b\" { set locality.metadata[\"envoy-gateway\"].resources[0].name = \"claude\" }", c);
	const Val *res = key_of(ns_of(c->endpoints[1]->metadata, "envoy-gateway"), "resources");
	CHECK(res && res->list_value->n_values == 1 &&
		      strcmp(key_of(res->list_value->values[0]->struct_value, "name")->string_value, "claude") == 0 &&
		      strcmp(key_of(res->list_value->values[0]->struct_value, "kind")->string_value, "Backend") == 0,
	      "list element in locality metadata");
	rc = run_ex("set locality.metadata[\"envoy-gateway\"].resources[3].name = \"x\"", c, NULL, &d, NULL);
	CHECK(rc == EDS_E_RUNTIME && strstr(d.msg, "index 3 is out of range"), "%s", d.msg);
	/* An object literal replaces the namespace it is set to. */
	run_ok("port == 443 { set metadata[\"aigateway.envoy.io\"] = {\"k\": \"v\"} }", c);
	CHECK(ns_of(e->metadata, "aigateway.envoy.io")->n_fields == 1 && md_str(e, "aigateway.envoy.io", "k"),
	      "replaced");
	/* null inside a Struct */
	run_ok("port == 443 { set metadata[\"aigateway.envoy.io\"].k = null }", c);
	CHECK(key_of(ns_of(e->metadata, "aigateway.envoy.io"), "k")->kind_case ==
		      GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE,
	      "null value");
	/* Many keys into one Struct (the array grows by doubling). */
	char rules[8192];
	size_t at = 0;
	for (int i = 0; i < 200; i++)
		at += (size_t)snprintf(rules + at, sizeof rules - at, "set metadata[\"many\"].k%d = %d\n", i, i);
	run_ok(rules, c);
	const St *many = ns_of(ep_at(c, 0, 0)->metadata, "many");
	CHECK(many && many->n_fields == 200, "200 keys");
	for (int i = 0; many && i < 200; i++) {
		char k[16];
		snprintf(k, sizeof k, "k%d", i);
		const Val *v = key_of(many, k);
		if (!v || v->number_value != i) {
			CHECK(0, "key %s", k);
			break;
		}
	}
}

static void test_del(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	CHECK(run_ok("port == 443 { del metadata[\"envoy.transport_socket_match\"].name }", c), "changed");
	CHECK(ns_of(ep_at(c, 1, 0)->metadata, "envoy.transport_socket_match")->n_fields == 0, "key deleted");
	CHECK(run_ok("port == 443 { del metadata[\"envoy.transport_socket_match\"] }", c), "changed");
	CHECK(n_ns(ep_at(c, 1, 0)) == 0, "namespace deleted");
	CHECK(run_ok("del weight", c), "changed");
	CHECK(!ep_at(c, 0, 0)->load_balancing_weight && !ep_at(c, 1, 0)->load_balancing_weight, "weights deleted");
	CHECK(run_ok("del hostname", c), "changed");
	CHECK_STR(host_of(ep_at(c, 1, 0)), "");
	CHECK(run_ok("del cla.policy", c) && !c->policy, "policy deleted");
	CHECK(run_ok("del locality.metadata[\"envoy-gateway\"].resources[0]", c), "changed");
	CHECK(key_of(ns_of(c->endpoints[0]->metadata, "envoy-gateway"), "resources")->list_value->n_values == 0,
	      "list element deleted");
	CHECK(run_ok("del port", c), "changed");
	CHECK(ep_at(c, 0, 0)->endpoint->address->socket_address->port_specifier_case == 0, "port deleted");
	/* Deleting what is not there is not a change. */
	CHECK(!run_ok("del metadata[\"nope\"]; del metadata[\"envoy.lb\"].nope; del weight; del hostname\n"
		      "del cla.policy.overprovisioning_factor; del lb_endpoint.endpoint.additional_addresses[2]\n"
		      "del port; del locality.metadata[\"x\"].y[3]",
		      c),
	      "no change");
	CHECK(run_ok("del lb_endpoint.endpoint", c), "changed");
	CHECK(!ep_at(c, 0, 0)->endpoint && ep_at(c, 0, 0)->host_identifier_case == 0, "oneof member cleared");
}

static void test_drop(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	CHECK(run_ok("port == 8080 and health != \"DRAINING\" { drop }", c), "changed");
	CHECK(c->endpoints[0]->n_lb_endpoints == 1 && strcmp(addr_of(ep_at(c, 0, 0)), "10.1.2.12") == 0,
	      "dropped one, kept the other");
	/* Order kept, actions after drop not run, later rules do not see it. */
	eds_arena_reset(A);
	c = cla_from("cluster_name: \"c\" endpoints {\n"
		     " lb_endpoints { endpoint { hostname: \"a\" } } lb_endpoints { endpoint { hostname: \"b\" } }\n"
		     " lb_endpoints { endpoint { hostname: \"c\" } } lb_endpoints { endpoint { hostname: \"d\" } }\n"
		     " lb_endpoints { endpoint { hostname: \"e\" } } }");
	run_ok("hostname == \"b\" or hostname == \"d\" { drop; set hostname = \"x\" }\n"
	       "set metadata[\"seen\"].h = hostname",
	       c);
	Lle *l = c->endpoints[0];
	CHECK(l->n_lb_endpoints == 3, "%zu left", l->n_lb_endpoints);
	CHECK_STR(host_of(l->lb_endpoints[0]), "a");
	CHECK_STR(host_of(l->lb_endpoints[1]), "c");
	CHECK_STR(host_of(l->lb_endpoints[2]), "e");
	CHECK_STR(md_str(l->lb_endpoints[1], "seen", "h"), "c");
	/* drop makes a rule endpoint-scoped even when it names only the CLA */
	run_ok("cluster == \"c\" { drop }", c);
	CHECK(c->n_endpoints == 1 && c->endpoints[0]->n_lb_endpoints == 0, "locality kept, endpoints dropped");
}

static void test_assert(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	struct eds_diag d;
	int rc = run_ex("assert exists(metadata[\"aigateway.envoy.io\"].per_route_rule_backend_name), "
			"\"endpoint has no backend name\"",
			c, NULL, &d, NULL);
	CHECK(rc == EDS_E_RUNTIME, "rc %d", rc);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[0] (10.0.1.11:8080): "
			 "assertion failed: endpoint has no backend name");
	CHECK(d.span.start == 0, "span at the assert");
	rc = run_ex("zone == \"us-east-1b\" { assert port > 1000 }", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[1].lb_endpoints[0] ([2001:db8::21]:443): "
			 "assertion failed: port > 1000");
	rc = run_ex("assert cluster =~ \"^httproute/\"; assert priority <= 1", c, NULL, &d, NULL);
	CHECK(rc == 0, "passing asserts: %s", d.msg);

	/* check mode: each failure is a finding, the run goes on. */
	struct eds_diags f = { 0 };
	struct eds_run_opts o = { .mode = EDS_RUN_CHECK, .findings = &f };
	rc = run_ex("assert exists(hostname), \"no hostname\"\nassert locality.weight >= 10", c, NULL, &d, &o);
	CHECK(rc == 0, "check mode run: %s", d.msg);
	CHECK(f.n == 4, "%zu findings, want 4", f.n);
	if (f.n == 4) {
		CHECK_STR(f.v[0].msg, "no hostname");
		CHECK_STR(f.v[0].path, "endpoints[0].lb_endpoints[0]");
		CHECK_STR(f.v[0].id, "assert");
		CHECK(f.v[0].severity == EDS_SEV_ERROR, "severity");
		CHECK_STR(f.v[2].path, "endpoints[1].lb_endpoints[1]");
		CHECK_STR(f.v[3].msg, "assertion failed: locality.weight >= 10");
		CHECK_STR(f.v[3].path, "endpoints[2]");
	}
	eds_diags_release(&f);
}

static void test_runtime_set_errors(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	struct eds_diag d;
	run_ok("port == 8080 { set metadata[\"x\"].p = 70000; set metadata[\"x\"].s = \"80\" }", c);
	int rc = run_ex("zone == \"us-east-1a\" {\n  set port = metadata[\"x\"].p\n}", c, NULL, &d, NULL);
	CHECK(rc == EDS_E_RUNTIME, "rc %d", rc);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[0] (10.0.1.11:8080): "
			 "value 70000 is out of range for \"port\" (0 to 65535)");
	CHECK_STR(d.path, "");
	CHECK(d.span.start == 36 && d.span.end == 51, "span %u-%u (the value)", d.span.start, d.span.end);
	rc = run_ex("zone == \"us-east-1a\" { set lb_endpoint.endpoint.address.socket_address.port_value = "
		    "metadata[\"x\"].s }",
		    c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[0] (10.0.1.11:8080): "
			 "\"lb_endpoint.endpoint.address.socket_address.port_value\" takes a number, not a string");
	rc = run_ex("zone == \"us-east-1a\" { set health = metadata[\"x\"].s }", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[0] (10.0.1.11:8080): "
			 "unknown value \"80\" for envoy.config.core.v3.HealthStatus");
	rc = run_ex("exists(lb_endpoint.endpoint.address.pipe) { set port = 80 }", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[1].lb_endpoints[1] (/run/backend.sock): "
			 "the endpoint's address is a pipe, which has no port");
	rc = run_ex("set hostname = metadata[\"x\"].nope", c, NULL, &d, NULL);
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[0] (10.0.1.11:8080): "
			 "the value for \"hostname\" is null (use del to clear it)");
	rc = run_ex("set cluster = locality.region", c, NULL, &d, NULL);
	CHECK(rc == 0, "%s", d.msg);
	rc = run_ex("set cluster = cla.named_endpoints[\"x\"].hostname + \"\"", c, NULL, &d, NULL);
	CHECK(rc == EDS_E_RUNTIME, "null in '+'");
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed: '+' joins strings, got null and a string");
}

static void test_skip_errors(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	char *orig_ep01 = NULL;
	{
		Cla *only = cla_from("cluster_name: \"c\" endpoints { lb_endpoints {} }");
		only->endpoints[0]->lb_endpoints[0] = ep_at(c, 0, 1);
		orig_ep01 = enc(only);
	}
	struct eds_diags w = { 0 };
	struct eds_run_opts o = { .skip_errors = true, .findings = &w };
	struct eds_diag d;
	bool changed;
	/* The canary's metadata makes the third action fail on it: its first two
	 * changes are undone, later rules leave it alone, the others change. */
	int rc = run_ex("set hostname = \"stamped\"\n"
			"set weight = 3\n"
			"exists(metadata[\"envoy.lb\"]) { set port = metadata[\"envoy.lb\"].canary }\n"
			"set health = \"HEALTHY\"\n",
			c, &changed, &d, &o);
	CHECK(rc == 0, "run with skip_errors: %s", d.msg);
	CHECK(changed, "changed");
	CHECK(w.n == 1, "%zu warnings", w.n);
	if (w.n == 1) {
		CHECK(w.v[0].severity == EDS_SEV_WARNING, "a warning");
		CHECK_STR(w.v[0].msg, "rule at t.edsmod:3:1 failed on endpoints[0].lb_endpoints[1] (10.1.2.12:8080): "
				      "\"port\" takes a number, not a boolean (endpoint left unchanged)");
	}
	Cla *only = cla_from("cluster_name: \"c\" endpoints { lb_endpoints {} }");
	only->endpoints[0]->lb_endpoints[0] = ep_at(c, 0, 1);
	CHECK_STR(enc(only), orig_ep01);
	CHECK_STR(host_of(ep_at(c, 0, 0)), "stamped");
	CHECK(ep_at(c, 1, 0)->health_status == 1 && ep_at(c, 1, 0)->load_balancing_weight->value == 3, "others");
	eds_diags_release(&w);
}

/* ================= scopes ================= */

static void test_scopes(void)
{
	CHECK(compile_ok("zone == \"a\" { set locality.weight = 2 }") && LAST->rules[0].scope == EDS_LV_LOC,
	      "locality scope");
	CHECK(compile_ok("zone == \"a\" { set weight = 2 }") && LAST->rules[0].scope == EDS_LV_EP, "endpoint scope");
	CHECK(compile_ok("cluster == \"a\" { set cla.policy.overprovisioning_factor = 2 }") &&
		      LAST->rules[0].scope == EDS_LV_CLA,
	      "cla scope");
	CHECK(compile_ok("assert cluster != \"\"") && LAST->rules[0].scope == EDS_LV_CLA, "bare assert");
	CHECK(compile_ok("drop") && LAST->rules[0].scope == EDS_LV_EP, "drop");

	/* A CLA-scope rule changes a CLA without endpoints. */
	eds_arena_reset(A);
	Cla *c = cla_from("cluster_name: \"lonely\"");
	CHECK(run_ok("cluster == \"lonely\" { set cluster = \"found\" }", c), "changed");
	CHECK_STR(c->cluster_name, "found");
	/* A locality-scope rule runs for a locality without endpoints... */
	c = cla_from(EG);
	CHECK(run_ok("region =~ \"backend/3$\" { set locality.weight = 50 }", c), "changed");
	CHECK(c->endpoints[2]->load_balancing_weight->value == 50, "empty locality changed");
	/* ...and once per locality: appending to a list shows how often. */
	c = cla_from(EG);
	struct eds_diag d;
	run_ex("zone != \"\" { set locality.metadata[\"count\"].n = locality.metadata[\"count\"].n + \"x\" }", c, NULL,
	       &d, NULL);
	/* the first visit sees null: '+' fails, proving the rule ran for the locality */
	CHECK(strstr(d.msg, "failed on endpoints[0] (region") != NULL, "locality target: %s", d.msg);
	/* Each rule finishes over all targets before the next starts. */
	c = cla_from(EG);
	run_ok("set hostname = \"one\"\n"
	       "zone == \"us-east-1a\" { set locality.metadata[\"seen\"].h = cla.endpoints[1].lb_endpoints[0].endpoint.hostname }",
	       c);
	const Val *h = key_of(ns_of(c->endpoints[0]->metadata, "seen"), "h");
	CHECK(h && strcmp(h->string_value, "one") == 0, "second rule sees the first rule's effect on every endpoint");
}

/* ================= the real jobs of issue 3 ================= */

static const char *const AIGATEWAY =
	"region =~ \"^httproute/([^/]+)/([^/]+)/rule/([0-9]+)/backend/([0-9]+)$\" {\n"
	"    set metadata[\"aigateway.envoy.io\"].per_route_rule_backend_name =\n"
	"        $1 + \"/\" + locality.metadata[\"envoy-gateway\"].resources[0].name +\n"
	"        \"/route/\" + $2 + \"/rule/\" + $3 + \"/ref/\" + $4\n"
	"}\n"
	"exists(hostname) { set metadata[\"aigateway.envoy.io\"].upstream_host = hostname }\n";

static void test_job1_2_aigateway(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	CHECK(run_ok(AIGATEWAY, c), "changed");
	CHECK_STR(md_str(ep_at(c, 0, 0), "aigateway.envoy.io", "per_route_rule_backend_name"),
		  "default/openai/route/chat/rule/0/ref/0");
	CHECK_STR(md_str(ep_at(c, 0, 1), "aigateway.envoy.io", "per_route_rule_backend_name"),
		  "default/openai/route/chat/rule/0/ref/0");
	CHECK_STR(md_str(ep_at(c, 1, 0), "aigateway.envoy.io", "per_route_rule_backend_name"),
		  "default/anthropic/route/chat/rule/0/ref/1");
	CHECK_STR(md_str(ep_at(c, 1, 0), "aigateway.envoy.io", "upstream_host"), "api.anthropic.example");
	CHECK(md_str(ep_at(c, 0, 0), "aigateway.envoy.io", "upstream_host") == NULL, "no hostname, no upstream_host");
	/* existing metadata untouched */
	CHECK_STR(md_str(ep_at(c, 1, 0), "envoy.transport_socket_match", "name"), "httproute/default/chat/rule/0/tls/1");
	CHECK(key_of(ns_of(ep_at(c, 0, 1)->metadata, "envoy.lb"), "canary")->bool_value, "envoy.lb kept");
	CHECK(n_ns(ep_at(c, 1, 0)) == 2 && n_ns(ep_at(c, 0, 1)) == 2 && n_ns(ep_at(c, 0, 0)) == 1, "namespaces");

	/* The whole result, exactly: nothing else moved. */
	Cla *want = cla_from(EG);
	const char *stamp[4] = { "default/openai/route/chat/rule/0/ref/0", "default/openai/route/chat/rule/0/ref/0",
				 "default/anthropic/route/chat/rule/0/ref/1", "default/anthropic/route/chat/rule/0/ref/1" };
	for (int i = 0; i < 4; i++) {
		Lbe *e = ep_at(want, (size_t)i / 2, (size_t)i % 2);
		char txt[512];
		snprintf(txt, sizeof txt,
			 "cluster_name: \"x\" endpoints { lb_endpoints { metadata { filter_metadata {"
			 " key: \"aigateway.envoy.io\" value { fields { key: \"per_route_rule_backend_name\""
			 " value { string_value: \"%s\" } } %s } } } } }",
			 stamp[i],
			 i == 2 ? "fields { key: \"upstream_host\" value { string_value: \"api.anthropic.example\" } }" : "");
		Envoy__Config__Core__V3__Metadata *add = cla_from(txt)->endpoints[0]->lb_endpoints[0]->metadata;
		if (!e->metadata) {
			e->metadata = add;
		} else {
			size_t n = e->metadata->n_filter_metadata;
			Envoy__Config__Core__V3__Metadata__FilterMetadataEntry **v =
				eds_arena_alloc(A, (n + 1) * sizeof *v);
			memcpy(v, e->metadata->filter_metadata, n * sizeof *v);
			v[n] = add->filter_metadata[0];
			e->metadata->filter_metadata = v;
			e->metadata->n_filter_metadata = n + 1;
		}
	}
	CHECK_STR(enc(c), enc(want));

	/* Running the stamp again changes nothing. */
	CHECK(!run_ok(AIGATEWAY, c), "idempotent");
}

/* Values that depend only on the locality are computed once per locality
 * (eds_action.per_locality); the results must be those of computing them
 * for every endpoint. */
static void test_per_locality(void)
{
	CHECK(compile_ok(AIGATEWAY) && LAST->rules[0].actions[0].per_locality &&
		      !LAST->rules[1].actions[0].per_locality && LAST->rules[0].pattern_per_locality &&
		      !LAST->rules[1].pattern_per_locality,
	      "the region match and backend name are per locality, the hostname per endpoint");
	/* a rule that writes its locality must compute every value afresh */
	const char *self = "exists(address) { set locality.metadata[\"n\"].v = address;"
			   " set metadata[\"m\"].a = locality.metadata[\"n\"].v }";
	CHECK(compile_ok(self) && !LAST->rules[0].actions[1].per_locality && !LAST->rules[0].pattern_per_locality,
	      "rule writing its locality");
	/* a per-locality pattern, true in one locality and false in the next */
	eds_arena_reset(A);
	Cla *c0 = cla_from(EG);
	run_ok("zone == \"us-east-1b\" { set hostname = \"b\" }", c0);
	CHECK(LAST->rules[0].pattern_per_locality && host_of(ep_at(c0, 1, 0)) && !strcmp(host_of(ep_at(c0, 1, 0)), "b") &&
		      !strcmp(host_of(ep_at(c0, 0, 0)), ""),
	      "pattern per locality");
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	run_ok(self, c);
	CHECK_STR(md_str(ep_at(c, 0, 0), "m", "a"), "10.0.1.11");
	CHECK_STR(md_str(ep_at(c, 0, 1), "m", "a"), "10.1.2.12");
	CHECK_STR(md_str(ep_at(c, 1, 0), "m", "a"), "2001:db8::21");
	/* more per-locality values than cache slots, in two localities */
	char rules[1024] = "region != \"\" {";
	for (int k = 1; k <= 12; k++) {
		size_t n = strlen(rules);
		snprintf(rules + n, sizeof rules - n, " set metadata[\"m\"].k%d = zone + \"/%d\";", k, k);
	}
	strcat(rules, " }");
	CHECK(compile_ok(rules) && LAST->rules[0].actions[11].per_locality, "12 per-locality values");
	c = cla_from(EG);
	run_ok(rules, c);
	for (int k = 1; k <= 12; k++) {
		char key[8], want[32];
		snprintf(key, sizeof key, "k%d", k);
		for (size_t li = 0; li < 2; li++)
			for (size_t ei = 0; ei < 2; ei++) {
				snprintf(want, sizeof want, "%s/%d", li ? "us-east-1b" : "us-east-1a", k);
				CHECK_STR(md_str(ep_at(c, li, ei), "m", key), want);
			}
	}
}

/* A thread keeps regex answers across runs (expr_eval.c, match_cached): a
 * program run again gets the same captures, and another program with its
 * pattern at the same place gets its own, though the subjects are the same
 * bytes and the program may sit where the last one did. */
static void test_match_across_runs(void)
{
	const char *a = "zone =~ \"^us-(east)-1(.)$\" { set hostname = $2 + $1 }";
	const char *b = "zone =~ \"^(us)-east-1(.)$\" { set hostname = $2 + $1 }";
	struct eds_run_opts o = { 0 };
	struct eds_diag d;
	bool ch;
	for (int round = 0; round < 3; round++) {
		struct eds_program *p = compile_ok(round == 1 ? b : a);
		for (int run = 0; run < 2; run++) {
			eds_arena_reset(A);
			Cla *c = cla_from(EG);
			CHECK(p && eds_rules_run(p, &c->base, A, &o, &ch, &d) == EDS_OK, "round %d, run %d", round, run);
			CHECK_STR(host_of(ep_at(c, 0, 0)), round == 1 ? "aus" : "aeast");
			CHECK_STR(host_of(ep_at(c, 1, 0)), round == 1 ? "bus" : "beast");
		}
	}
}

static void test_job3_drain_zone(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	CHECK(run_ok("zone == \"us-east-1a\" { set health = \"DRAINING\" }", c), "changed");
	CHECK(ep_at(c, 0, 0)->health_status == 3 && ep_at(c, 0, 1)->health_status == 3, "drained");
	CHECK(ep_at(c, 1, 0)->health_status == 0 && ep_at(c, 1, 1)->health_status == 0, "other zone untouched");
}

static void test_job4_cidr_canary(void)
{
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	CHECK(run_ok("address in \"10.1.0.0/16\" { drop }", c), "changed");
	CHECK(c->endpoints[0]->n_lb_endpoints == 1 && strcmp(addr_of(ep_at(c, 0, 0)), "10.0.1.11") == 0, "dropped");
	c = cla_from(EG);
	CHECK(run_ok("metadata[\"envoy.lb\"].canary == true { set weight = 5 }", c), "changed");
	CHECK(ep_at(c, 0, 1)->load_balancing_weight->value == 5 && ep_at(c, 0, 0)->load_balancing_weight->value == 1,
	      "canary weight");
	c = cla_from(EG);
	CHECK(run_ok("address in \"2001:db8::/32\" { drop }", c), "changed");
	CHECK(c->endpoints[1]->n_lb_endpoints == 1 && strcmp(addr_of(ep_at(c, 1, 0)), "/run/backend.sock") == 0,
	      "IPv6 CIDR");
}

/* Job 5: a generated mapping of many equality rules. */
static char *mapping_rules(int n, int *hits)
{
	size_t cap = (size_t)n * 200 + 1024, at = 0;
	char *s = malloc(cap);
	*hits = 0;
	for (int k = 0; k < n; k++) {
		char region[128];
		if (k == n / 3)
			snprintf(region, sizeof region, "httproute/default/chat/rule/0/backend/0");
		else if (k == (2 * n) / 3)
			snprintf(region, sizeof region, "httproute/default/chat/rule/0/backend/1");
		else
			snprintf(region, sizeof region, "httproute/team-%d/route-%d/rule/%d/backend/%d", k / 400, k / 4,
				 (k / 2) % 2, k % 2);
		at += (size_t)snprintf(s + at, cap - at,
				       "region == \"%s\" { set metadata[\"aigateway.envoy.io\"].per_route_rule_backend_name"
				       " = \"ns/backend-%d/route/r/rule/0/ref/%d\" }\n",
				       region, k, k % 2);
	}
	*hits = 2;
	return s;
}

static void test_job5_index(void)
{
	int hits;
	char *rules = mapping_rules(10000, &hits);
	struct eds_program *p = compile_ok(rules);
	CHECK(p && eds_rules_count(p) == 10000, "10000 rules");
	CHECK(p && eds_rules_indexed_units(p) == 1 && p->nunits == 1, "one indexed unit, %zu units",
	      p ? p->nunits : 0);
	eds_arena_reset(A);
	Cla *a = cla_from(EG), *b = cla_from(EG);
	struct eds_run_opts o = { 0 };
	struct eds_diag d = { 0 };
	bool ca = false, cb = false;
	CHECK(eds_rules_run(p, &a->base, A, &o, &ca, &d) == 0, "indexed run: %s", d.msg);
	CHECK(eds_rules_run_unindexed(p, &b->base, A, &o, &cb, &d) == 0, "unindexed run: %s", d.msg);
	CHECK(ca && cb, "both changed");
	CHECK_STR(enc(a), enc(b));
	CHECK_STR(md_str(ep_at(a, 0, 1), "aigateway.envoy.io", "per_route_rule_backend_name"),
		  "ns/backend-3333/route/r/rule/0/ref/1");
	CHECK_STR(md_str(ep_at(a, 1, 0), "aigateway.envoy.io", "per_route_rule_backend_name"),
		  "ns/backend-6666/route/r/rule/0/ref/0");
	CHECK_STR(md_str(ep_at(a, 1, 0), "envoy.transport_socket_match", "name"), "httproute/default/chat/rule/0/tls/1");
	free(rules);
}

/* Equivalence of indexed and rule-by-rule runs in the tricky cases. */
static void index_equiv(const char *rules, size_t want_indexed, const char *fixture)
{
	struct eds_program *p = compile_ok(rules);
	if (!p) {
		failed++;
		return;
	}
	check(eds_rules_indexed_units(p) == want_indexed, __func__, "%zu indexed units, want %zu: %s",
	      eds_rules_indexed_units(p), want_indexed, rules);
	eds_arena_reset(A);
	Cla *a = cla_from(fixture), *b = cla_from(fixture);
	struct eds_run_opts o = { 0 };
	struct eds_diag d1 = { 0 }, d2 = { 0 };
	bool ca, cb;
	int r1 = eds_rules_run(p, &a->base, A, &o, &ca, &d1);
	int r2 = eds_rules_run_unindexed(p, &b->base, A, &o, &cb, &d2);
	check(r1 == r2 && ca == cb, __func__, "rc %d/%d changed %d/%d: %s", r1, r2, ca, cb, rules);
	if (!r1 && !r2) {
		char *x = enc(a), *y = enc(b);
		check(strcmp(x, y) == 0, __func__, "indexed and rule-by-rule results differ for: %s\n%s---\n%s", rules, x, y);
	}
}

static void test_index_semantics(void)
{
	const char *F = "cluster_name: \"c\" endpoints { locality { zone: \"z\" }\n"
			" lb_endpoints { endpoint { hostname: \"a\" } } lb_endpoints { endpoint { hostname: \"b\" } }\n"
			" lb_endpoints { endpoint { hostname: \"c\" } } }\n"
			"endpoints { locality { zone: \"y\" } lb_endpoints { endpoint { hostname: \"a\" } } }";
	/* A rule changes the key: the next rule must see the new value. */
	index_equiv("hostname == \"a\" { set hostname = \"b\" }\n"
		    "hostname == \"b\" { set hostname = \"c\" }\n"
		    "hostname == \"c\" { set metadata[\"m\"].v = \"from-c\" }\n"
		    "hostname == \"a\" { set metadata[\"m\"].v = \"never\" }\n",
		    1, F);
	/* Going back to an earlier literal does not rerun earlier rules. */
	index_equiv("hostname == \"a\" { set hostname = \"b\" }\n"
		    "hostname == \"b\" { set hostname = \"a\" }\n"
		    "hostname == \"a\" { set metadata[\"m\"].v = hostname }\n",
		    1, F);
	/* drop inside a run */
	index_equiv("hostname == \"b\" { drop }\nhostname == \"b\" { set weight = 2 }\nhostname == \"c\" { drop }", 1, F);
	/* locality key at endpoint scope (evaluated once per locality) */
	index_equiv("zone == \"z\" { set weight = 2 }\nzone == \"y\" { set weight = 3 }\nzone == \"z\" { set port = 1 }", 1,
		    F);
	/* locality scope and CLA scope runs */
	index_equiv("zone == \"z\" { set locality.weight = 2 }\nzone == \"y\" { set priority = 1 }", 1, F);
	index_equiv("cluster == \"c\" { set cluster = \"d\" }\ncluster == \"d\" { set cluster = \"e\" }", 1, F);
	/* A rule writing outside its target is not indexed: it would change
	 * what the other targets see. */
	index_equiv("hostname == \"a\" { set locality.weight = 5 }\nhostname == \"b\" { set weight = 3 }", 0, F);
	index_equiv("hostname == \"b\" { set cluster = \"x\" }\nhostname == \"c\" { set hostname = cluster }", 0, F);
	/* ...nor one reading a sibling target. */
	index_equiv("hostname == \"a\" { set hostname = \"x\" }\n"
		    "hostname == \"b\" { set metadata[\"m\"].v = locality.lb_endpoints[0].endpoint.hostname }",
		    0, F);
	/* Different names or scopes break the run. */
	index_equiv("hostname == \"a\" { set weight = 2 }\nzone == \"z\" { set weight = 3 }\nhostname == \"c\" { drop }", 0,
		    F);
	index_equiv("hostname == \"a\" { set weight = 2 }\nhostname == \"b\" { set weight = 3 }\n"
		    "port == 1 { drop }\nhostname == \"a\" { set weight = 4 }\nhostname == \"c\" { set weight = 4 }",
		    2, F);
	/* A dynamic key that is not a string fails like the first rule would. */
	struct eds_program *p = compile_ok("metadata[\"m\"].k == \"a\" { drop }\nmetadata[\"m\"].k == \"b\" { drop }");
	eds_arena_reset(A);
	Cla *c = cla_from("cluster_name: \"c\" endpoints { lb_endpoints { metadata { filter_metadata { key: \"m\""
			  " value { fields { key: \"k\" value { number_value: 1 } } } } } } }");
	struct eds_run_opts o = { 0 };
	struct eds_diag d = { 0 };
	bool ch;
	CHECK(p && eds_rules_indexed_units(p) == 1, "indexed");
	CHECK(eds_rules_run(p, &c->base, A, &o, &ch, &d) == EDS_E_RUNTIME, "runtime error");
	CHECK_STR(d.msg, "rule at t.edsmod:1:1 failed on endpoints[0].lb_endpoints[0] (no address): "
			 "cannot compare a number with a string");
}

static void test_limits_and_misc(void)
{
	/* Rules spanning lines, comments, backslash continuation, ';' */
	eds_arena_reset(A);
	Cla *c = cla_from(EG);
	run_ok("# comment\n"
	       "zone == \"us-east-1a\"  # trailing\n"
	       "{\n"
	       "  set hostname =\n"
	       "     \"a\" +\n"
	       "     \"b\"; set weight = \\\n 4\n"
	       "} zone == \"us-east-1b\" { set weight = 6 }",
	       c);
	CHECK_STR(host_of(ep_at(c, 0, 1)), "ab");
	CHECK(ep_at(c, 0, 1)->load_balancing_weight->value == 4 && ep_at(c, 1, 0)->load_balancing_weight->value == 6,
	      "weights");
	/* Captures: $0 and groups; an unmatched optional group is null. */
	run_ok("region =~ \"^(httproute)/([a-z]+)/(x)?\" { set metadata[\"c\"].all = $0; set metadata[\"c\"].two = $2 }\n"
	       "region =~ \"^(httproute)/([a-z]+)/(x)?\" { set metadata[\"c\"].three = $3 == null }",
	       c);
	CHECK_STR(md_str(ep_at(c, 0, 0), "c", "all"), "httproute/default/");
	CHECK_STR(md_str(ep_at(c, 0, 0), "c", "two"), "default");
	CHECK(key_of(ns_of(ep_at(c, 0, 0)->metadata, "c"), "three")->bool_value, "unmatched group is null");
	/* BOM at the start of a rules file */
	CHECK(compile_ok("\xEF\xBB\xBFzone == \"a\" { drop }") != NULL, "BOM");
	/* A nesting bomb is an error, not a crash. */
	char deep[2 * EDS_RULES_MAX_NEST + 64];
	size_t k = 0;
	for (int i = 0; i < EDS_RULES_MAX_NEST + 5; i++)
		deep[k++] = '(';
	deep[k++] = '1';
	deep[k] = '\0';
	struct eds_diags errs = { 0 };
	const char *dp = deep;
	eds_arena_reset(PA);
	CHECK(compile_n(&dp, 1, PA, &errs) == NULL && errs.n == 1 &&
		      strcmp(errs.v[0].msg, "expression nested too deeply") == 0,
	      "nesting limit");
	eds_diags_release(&errs);
	/* Many errors stop at a cap. */
	size_t cap = 4000 * 16 + 1;
	char *many = malloc(cap);
	size_t at = 0;
	for (int i = 0; i < 4000; i++)
		at += (size_t)snprintf(many + at, cap - at, "zome == 1 {}\n");
	dp = many;
	CHECK(compile_n(&dp, 1, PA, &errs) == NULL && errs.n == EDS_RULES_MAX_ERRORS + 1, "%zu errors", errs.n);
	if (errs.n)
		CHECK_STR(errs.v[errs.n - 1].msg, "too many errors, giving up");
	eds_diags_release(&errs);
	free(many);
	/* The result does not point into the program: free the program and
	 * overwrite its memory, the values set stay. */
	eds_arena_reset(A);
	c = cla_from(EG);
	run_ok("region =~ \"backend/(1)$\" { set metadata[\"new.ns\"].key = \"literal\" + $1; set hostname = \"lit\" }\n"
	       "set metadata[\"new.ns\"].obj = {\"k\": [\"v\"]}",
	       c);
	eds_rules_release(LAST);
	LAST = NULL;
	eds_arena_reset(PA);
	memset(eds_arena_alloc(PA, 1 << 16), 'X', 1 << 16);
	CHECK_STR(md_str(ep_at(c, 1, 0), "new.ns", "key"), "literal1");
	CHECK_STR(host_of(ep_at(c, 1, 0)), "lit");
	CHECK_STR(ns_of(ep_at(c, 0, 0)->metadata, "new.ns")->fields[0]->key, "obj");
	const Val *obj = key_of(ns_of(ep_at(c, 0, 0)->metadata, "new.ns"), "obj");
	CHECK(obj && strcmp(obj->struct_value->fields[0]->key, "k") == 0 &&
		      strcmp(obj->struct_value->fields[0]->value->list_value->values[0]->string_value, "v") == 0,
	      "object literal copied");
	CHECK_STR(ep_at(c, 0, 0)->metadata->filter_metadata[0]->key, "new.ns");
	/* At most eds_limits_default.max_regexes regular expressions. */
	{
		size_t rcap = (eds_limits_default.max_regexes + 1) * 24 + 1, rat = 0;
		char *rx = malloc(rcap);
		for (size_t i = 0; i <= eds_limits_default.max_regexes; i++)
			rat += (size_t)snprintf(rx + rat, rcap - rat, "zone =~ \"a\" { drop }\n");
		const char *rxp = rx;
		eds_arena_reset(PA);
		CHECK(compile_n(&rxp, 1, PA, &errs) == NULL && errs.n == 1, "%zu errors", errs.n);
		if (errs.n)
			CHECK_STR(errs.v[0].msg, "more than the limit of 10000 regular expressions (--max-regexes)");
		eds_diags_release(&errs);
		free(rx);
	}
	/* A source over the size limit is refused without being read. */
	{
		struct eds_src huge = { "huge.edsmod", "drop", eds_limits_default.max_rules_size + 1 };
		struct eds_program *hp = NULL;
		eds_arena_reset(PA);
		CHECK(eds_rules_compile(&huge, 1, NULL, PA, &hp, &errs) == EDS_E_LIMIT && !hp && errs.n == 1,
		      "huge source refused");
		if (errs.n)
			CHECK_STR(errs.v[0].msg,
				  "rules source is 67108865 bytes, more than the limit of 67108864 (--max-rules-size)");
		eds_diags_release(&errs);
	}
	/* eds_rules_run with an empty program does nothing */
	bool ch = true;
	struct eds_diag d = { 0 };
	CHECK(compile_ok("") && eds_rules_run(LAST, &c->base, A, NULL, &ch, &d) == 0 && !ch, "empty program");
}

int main(void)
{
	A = eds_arena_new(1 << 16);
	PA = eds_arena_new(1 << 16);
	test_compile_errors();
	test_all_errors_reported();
	test_operators();
	test_operator_runtime_errors();
	test_set();
	test_set_metadata_merge();
	test_del();
	test_drop();
	test_assert();
	test_runtime_set_errors();
	test_skip_errors();
	test_scopes();
	test_job1_2_aigateway();
	test_per_locality();
	test_match_across_runs();
	test_job3_drain_zone();
	test_job4_cidr_canary();
	test_job5_index();
	test_index_semantics();
	test_limits_and_misc();
	eds_rules_release(LAST);
	eds_arena_free(A);
	eds_arena_free(PA);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
