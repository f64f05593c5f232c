/*
 * Unit tests of the protobuf text-format codec (src/codec_text.c): protoc's
 * exact output (golden text checked against protoc --decode 3.21), round
 * trips, every grammar rule accepted and rejected (message, line:col, path),
 * unknown fields, Any, depth and size limits, eds_text_locate.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_text.h"
#include "envoy/config/core/v3/address.pb-c.h"
#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint_components.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "unit.h"

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
typedef Envoy__Config__Core__V3__Locality Loc;
typedef Google__Protobuf__Value Val;
typedef Google__Protobuf__Struct St;

#define CLA_DESC (&envoy__config__endpoint__v3__cluster_load_assignment__descriptor)

static struct eds_arena *A;

static struct eds_limits lim_default(void)
{
	return eds_limits_default;
}

static int decode_lim(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
		      const struct eds_limits *lim, ProtobufCMessage **out, struct eds_diag *d,
		      struct eds_src *src)
{
	src->name = "test.txtpb";
	src->text = text;
	src->len = len;
	eds_diag_clear(d);
	*out = NULL;
	return eds_text_decode(desc, src, A, lim, out, d);
}

static int decode(const char *text, ProtobufCMessage **out, struct eds_diag *d, struct eds_src *src)
{
	struct eds_limits lim = lim_default();
	return decode_lim(CLA_DESC, text, strlen(text), &lim, out, d, src);
}

/* The text form of m as an arena string, or NULL with *rc set. */
static char *encode(const ProtobufCMessage *m, int *rc, struct eds_diag *d)
{
	struct eds_buf b = { 0 };
	struct eds_encode_opts o = { 0 };
	eds_diag_clear(d);
	*rc = eds_text_encode(m, &o, &b, d);
	char *s = *rc ? NULL : eds_arena_strndup(A, b.data ? b.data : "", b.len);
	eds_buf_release(&b);
	return s;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *n)
{
	*n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = eds_arena_alloc(A, *n + 1);
	protobuf_c_message_pack(m, p);
	return p;
}

static bool same_binary(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na, nb;
	uint8_t *pa = pack(a, &na), *pb = pack(b, &nb);
	return na == nb && memcmp(pa, pb, na) == 0;
}

static void show_diff(const char *what, const char *want, const char *got)
{
	size_t i = 0;
	while (want[i] && want[i] == got[i])
		i++;
	size_t from = i > 60 ? i - 60 : 0;
	fprintf(stderr, "  %s differs at byte %zu:\n  want ...%.120s\n  got  ...%.120s\n", what, i,
		want + from, got + from);
}

/* Decodes in (a CLA) and checks its text form is exactly want. */
static void expect_text(const char *where, const char *in, const char *want)
{
	ProtobufCMessage *m;
	struct eds_diag d;
	struct eds_src src;
	int rc = decode(in, &m, &d, &src);
	if (rc) {
		unsigned l, c;
		eds_src_linecol(&src, d.span.start, &l, &c);
		check(0, where, "decode of %s failed: %u:%u %s", in, l, c, d.msg);
		return;
	}
	char *got = encode(m, &rc, &d);
	if (!got) {
		check(0, where, "encode failed: %s", d.msg);
		return;
	}
	bool ok = strcmp(got, want) == 0;
	check(ok, where, "text of %s", in);
	if (!ok)
		show_diff("text", want, got);
}

/* Decodes in and checks the error: code, message, line:col of the span start, path. */
static void expect_error(const char *where, const char *in, int code, const char *msg,
			 unsigned line, unsigned col, const char *path)
{
	ProtobufCMessage *m;
	struct eds_diag d;
	struct eds_src src;
	int rc = decode(in, &m, &d, &src);
	unsigned l = 0, c = 0;
	if (rc)
		eds_src_linecol(&src, d.span.start, &l, &c);
	bool ok = rc == code && (int)d.code == code && strcmp(d.msg, msg) == 0 && l == line &&
		  c == col && strcmp(d.path, path) == 0 && d.loc == EDS_LOC_SPAN && d.src == &src;
	check(ok, where, "input %s\n  want %d %u:%u [%s] %s\n  got  %d %u:%u [%s] %s", in, code,
	      line, col, path, msg, rc, l, c, d.path, d.msg);
}

/* ----------------------------------------------------------- golden text */

static const char golden_in[] =
	"named_endpoints { key: \"b\" value { hostname: \"2\" } }\n"
	"named_endpoints { key: \"a\" value { } }\n"
	"policy { overprovisioning_factor { value: 0 } weighted_priority_health: false }\n"
	"cluster_name: \"caf\\303\\251 \\\"q\\\" 'a' \\\\ \\t\\001\"\n"
	"endpoints {\n"
	"  priority: 0\n"
	"  lb_endpoints {\n"
	"    health_status: 9\n"
	"    endpoint {\n"
	"      address { socket_address { protocol: TCP address: \"::1\" port_value: 0 } }\n"
	"    }\n"
	"  }\n"
	"  lb_endpoints { endpoint_name: \"\" health_status: DRAINING }\n"
	"  metadata {\n"
	"    filter_metadata {\n"
	"      key: \"m\"\n"
	"      value {\n"
	"        fields { key: \"n\" value { number_value: 0.1 } }\n"
	"        fields { key: \"e\" value { number_value: 1e20 } }\n"
	"        fields { key: \"z\" value { number_value: -0 } }\n"
	"        fields { key: \"i\" value { number_value: -inf } }\n"
	"        fields { key: \"l\" value { list_value { values { null_value: NULL_VALUE } values { bool_value: false } } } }\n"
	"      }\n"
	"    }\n"
	"  }\n"
	"  load_balancing_weight { }\n"
	"  locality { }\n"
	"}\n"
	"7: 150\n"
	"8: 0x0000000a\n"
	"9: 0x00000000000000ff\n"
	"10: \"not \\001 a message\"\n"
	"11 { 1: 2 }\n";

/* protoc --decode of the binary form of golden_in, byte for byte */
static const char golden_out[] =
	"cluster_name: \"caf\\303\\251 \\\"q\\\" \\'a\\' \\\\ \\t\\001\"\n"
	"endpoints {\n"
	"  locality {\n"
	"  }\n"
	"  lb_endpoints {\n"
	"    endpoint {\n"
	"      address {\n"
	"        socket_address {\n"
	"          address: \"::1\"\n"
	"          port_value: 0\n"
	"        }\n"
	"      }\n"
	"    }\n"
	"    health_status: 9\n"
	"  }\n"
	"  lb_endpoints {\n"
	"    health_status: DRAINING\n"
	"    endpoint_name: \"\"\n"
	"  }\n"
	"  load_balancing_weight {\n"
	"  }\n"
	"  metadata {\n"
	"    filter_metadata {\n"
	"      key: \"m\"\n"
	"      value {\n"
	"        fields {\n"
	"          key: \"e\"\n"
	"          value {\n"
	"            number_value: 1e+20\n"
	"          }\n"
	"        }\n"
	"        fields {\n"
	"          key: \"i\"\n"
	"          value {\n"
	"            number_value: -inf\n"
	"          }\n"
	"        }\n"
	"        fields {\n"
	"          key: \"l\"\n"
	"          value {\n"
	"            list_value {\n"
	"              values {\n"
	"                null_value: NULL_VALUE\n"
	"              }\n"
	"              values {\n"
	"                bool_value: false\n"
	"              }\n"
	"            }\n"
	"          }\n"
	"        }\n"
	"        fields {\n"
	"          key: \"n\"\n"
	"          value {\n"
	"            number_value: 0.1\n"
	"          }\n"
	"        }\n"
	"        fields {\n"
	"          key: \"z\"\n"
	"          value {\n"
	"            number_value: -0\n"
	"          }\n"
	"        }\n"
	"      }\n"
	"    }\n"
	"  }\n"
	"}\n"
	"policy {\n"
	"  overprovisioning_factor {\n"
	"  }\n"
	"}\n"
	"named_endpoints {\n"
	"  key: \"a\"\n"
	"  value {\n"
	"  }\n"
	"}\n"
	"named_endpoints {\n"
	"  key: \"b\"\n"
	"  value {\n"
	"    hostname: \"2\"\n"
	"  }\n"
	"}\n"
	"7: 150\n"
	"8: 0x0000000a\n"
	"9: 0x00000000000000ff\n"
	"10: \"not \\001 a message\"\n"
	"11 {\n"
	"  1: 2\n"
	"}\n";

static void test_golden(void)
{
	expect_text(__func__, golden_in, golden_out);
	/* the printed form reads back to the same message and prints the same */
	expect_text(__func__, golden_out, golden_out);

	ProtobufCMessage *a, *b;
	struct eds_diag d;
	struct eds_src s1, s2;
	CHECK(!decode(golden_in, &a, &d, &s1) && !decode(golden_out, &b, &d, &s2), "decode: %s", d.msg);
	if (a && b) {
		/* map entries are printed sorted, so compare through a second pass */
		int rc;
		char *t = encode(b, &rc, &d);
		ProtobufCMessage *c;
		CHECK(t && !decode(t, &c, &d, &s1) && same_binary(b, c), "re-decode differs");
		Cla *cla = (Cla *)a;
		CHECK(cla->n_endpoints == 1 && cla->endpoints[0]->n_lb_endpoints == 2, "endpoint count");
		CHECK(cla->base.n_unknown_fields == 5, "unknown fields kept: %u", cla->base.n_unknown_fields);
		CHECK(cla->endpoints[0]->lb_endpoints[0]->health_status == 9, "open enum");
		Envoy__Config__Core__V3__SocketAddress *sa =
			cla->endpoints[0]->lb_endpoints[0]->endpoint->address->socket_address;
		CHECK(sa->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE &&
		      sa->port_value == 0, "oneof member set to zero is present");
	}
}

/* Binary with unknown fields at several levels -> text -> binary is lossless. */
static void test_unknown_roundtrip(void)
{
	const char *in =
		"cluster_name: \"u\"\n"
		"endpoints { 99: 1 locality { 7: \"x\" } lb_endpoints { 99 { 1 { 2: 0x0000000000000001 } } } }\n"
		"3: 7\n"
		"100: 0x00000001\n"
		"101: \"\"\n"
		"102: \"\\377\\000\"\n"
		"103 < 1: 18446744073709551615 >\n"
		"104: [1, \"a\", { 5: 5 }]\n"
		"105: -2\n"
		"106: \"\"\n";
	ProtobufCMessage *m;
	struct eds_diag d;
	struct eds_src src;
	int rc = decode(in, &m, &d, &src);
	CHECK(!rc, "decode: %s", d.msg);
	if (rc)
		return;
	size_t n;
	uint8_t *bin = pack(m, &n);
	ProtobufCMessage *u = protobuf_c_message_unpack(CLA_DESC, eds_arena_pbc(A), n, bin);
	CHECK(u != NULL, "unpack");
	if (!u)
		return;
	char *t = encode(u, &rc, &d);
	CHECK(t != NULL, "encode: %s", d.msg);
	if (!t)
		return;
	const char *want_tail =
		"3: 7\n"
		"100: 0x00000001\n"
		"101: \"\"\n"
		"102: \"\\377\\000\"\n"
		"103 {\n"
		"  1: 18446744073709551615\n"
		"}\n"
		"104: 1\n"
		"104: \"a\"\n"
		"104 {\n"
		"  5: 5\n"
		"}\n"
		"105: 18446744073709551614\n"
		"106: \"\"\n";
	size_t tl = strlen(t), wl = strlen(want_tail);
	CHECK(tl > wl && strcmp(t + tl - wl, want_tail) == 0, "unknown fields printed as protoc does:\n%s", t);
	CHECK(strstr(t, "  locality {\n    7: \"x\"\n  }\n") != NULL, "nested unknown:\n%s", t);
	CHECK(strstr(t, "    99 {\n      1 {\n        2: 0x0000000000000001\n      }\n    }\n") != NULL,
	      "unknown message:\n%s", t);
	ProtobufCMessage *back;
	rc = decode(t, &back, &d, &src);
	CHECK(!rc, "decode of printed text: %s", d.msg);
	if (!rc) {
		size_t n2;
		uint8_t *bin2 = pack(back, &n2);
		CHECK(n2 == n && memcmp(bin, bin2, n) == 0, "binary -> text -> binary changed the bytes");
	}
}

/* A block given by number is a group where protoc prints nothing else so:
 * under a string, bytes, message or repeated field's number, or empty. */
static void test_unknown_groups(void)
{
	const char *in = "cluster_name: \"g\"\nendpoints { 1 { } }\n1 { 2: 3 }\n106 { }\n99 { 1: 1 }\n";
	/* (what protoc --decode prints of want, and text reads back) */
	const char *text = "cluster_name: \"g\"\nendpoints {\n  1 {\n  }\n}\n1 {\n  2: 3\n}\n106 {\n}\n"
			   "99 {\n  1: 1\n}\n";
	static const uint8_t want[] = { 0x0a, 0x01, 'g',  0x12, 0x02, 0x0b, 0x0c, 0x0b, 0x10, 0x03,
					0x0c, 0xd3, 0x06, 0xd4, 0x06, 0x9a, 0x06, 0x02, 0x08, 0x01 };
	for (int k = 0; k < 2; k++) {
		ProtobufCMessage *m;
		struct eds_diag d;
		struct eds_src src;
		int rc = decode(k ? text : in, &m, &d, &src);
		CHECK(!rc, "groups: decode: %s", d.msg);
		if (rc)
			return;
		size_t n;
		uint8_t *bin = pack(m, &n);
		CHECK(n == sizeof want && memcmp(bin, want, n) == 0, "groups: the blocks are not written as groups");
		struct eds_src bs = { "bin", (const char *)want, sizeof want };
		struct eds_limits lim = lim_default();
		ProtobufCMessage *b;
		rc = eds_bin_decode(CLA_DESC, &bs, A, &lim, &b, &d);
		CHECK(!rc, "groups: binary decode: %s", d.msg);
		char *t = rc ? NULL : encode(b, &rc, &d);
		CHECK(t && strcmp(t, text) == 0, "groups: printed as\n%s", t ? t : d.msg);
	}
}

/* protoc prints a length-delimited unknown field as a message 10 levels deep at most. */
static void test_unknown_budget(void)
{
	char in[512] = "", want[2048] = "";
	for (int i = 0; i < 12; i++)
		strcat(in, "99 { ");
	strcat(in, "1: 1");
	for (int i = 0; i < 12; i++)
		strcat(in, " }");
	ProtobufCMessage *m;
	struct eds_diag d;
	struct eds_src src;
	int rc = decode(in, &m, &d, &src);
	CHECK(!rc, "decode: %s", d.msg);
	if (rc)
		return;
	char *t = encode(m, &rc, &d);
	/* 10 levels of braces, then the remaining two levels as bytes */
	for (int i = 0; i < 10; i++) {
		for (int k = 0; k < i; k++)
			strcat(want, "  ");
		strcat(want, "99 {\n");
	}
	for (int k = 0; k < 10; k++)
		strcat(want, "  ");
	strcat(want, "99: \"\\232\\006\\002\\010\\001\"\n");
	for (int i = 9; i >= 0; i--) {
		for (int k = 0; k < i; k++)
			strcat(want, "  ");
		strcat(want, "}\n");
	}
	CHECK(t && strcmp(t, want) == 0, "got:\n%s\nwant:\n%s", t ? t : "", want);
}

/* ------------------------------------------------------- accepted input */

static void test_accepted(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "# comment\n  cluster_name: \"a\" # trailing\n#last", "cluster_name: \"a\"\n" },
		{ "cluster_name:\"a\"endpoints{}", "cluster_name: \"a\"\nendpoints {\n}\n" },
		{ "endpoints < priority: 1 >", "endpoints {\n  priority: 1\n}\n" },
		{ "policy: { weighted_priority_health: true }",
		  "policy {\n  weighted_priority_health: true\n}\n" },
		{ "cluster_name: \"a\"; endpoints {},policy{};",
		  "cluster_name: \"a\"\nendpoints {\n}\npolicy {\n}\n" },
		{ "endpoints [ { priority: 1 }, < priority: 2 > ] endpoints: [] endpoints []",
		  "endpoints {\n  priority: 1\n}\nendpoints {\n  priority: 2\n}\n" },
		{ "endpoints { leds_cluster_locality_config { leds_config { api_config_source {"
		  " cluster_names: [\"a\" 'b', \"c\"] cluster_names: [] cluster_names: \"d\" } } } }",
		  "endpoints {\n  leds_cluster_locality_config {\n    leds_config {\n"
		  "      api_config_source {\n        cluster_names: \"ab\"\n        cluster_names: \"c\"\n"
		  "        cluster_names: \"d\"\n      }\n    }\n  }\n}\n" },
		{ "cluster_name: 'a' \"b\"\n 'c\\'\"'", "cluster_name: \"abc\\'\\\"\"\n" },
		{ "cluster_name: \"\\a\\b\\f\\n\\r\\t\\v\\\\\\'\\\"\\?\\101\\x41\\x4a\\7\\u00e9\\U0001F600\\ud83d\\ude00\"",
		  "cluster_name: \"\\007\\010\\014\\n\\r\\t\\013\\\\\\'\\\"?AAJ\\007\\303\\251"
		  "\\360\\237\\230\\200\\360\\237\\230\\200\"\n" },
		{ "endpoints { metadata { typed_filter_metadata { key: \"k\" value { type_url: \"x/y\""
		  " value: \"\\0\\x7\\377\\u00e9\\xfF\" } } } }",
		  "endpoints {\n  metadata {\n    typed_filter_metadata {\n      key: \"k\"\n"
		  "      value {\n        type_url: \"x/y\"\n        value: \"\\000\\007\\377\\303\\251\\377\"\n"
		  "      }\n    }\n  }\n}\n" },
		{ "endpoints { priority: 0x1F } endpoints { priority: 010 } endpoints { priority: 0 }",
		  "endpoints {\n  priority: 31\n}\nendpoints {\n  priority: 8\n}\nendpoints {\n}\n" },
		{ "policy { endpoint_stale_after { seconds: -9223372036854775808 nanos: - 5 } }",
		  "policy {\n  endpoint_stale_after {\n    seconds: -9223372036854775808\n    nanos: -5\n  }\n}\n" },
		{ "endpoints { lb_endpoints { health_status: 3 } lb_endpoints { health_status: -2147483648 }"
		  " lb_endpoints { endpoint { address { socket_address { protocol: 1 ipv4_compat: t } } } } }",
		  "endpoints {\n  lb_endpoints {\n    health_status: DRAINING\n  }\n"
		  "  lb_endpoints {\n    health_status: -2147483648\n  }\n"
		  "  lb_endpoints {\n    endpoint {\n      address {\n        socket_address {\n"
		  "          protocol: UDP\n          ipv4_compat: true\n        }\n      }\n    }\n  }\n}\n" },
		{ "named_endpoints { }", "named_endpoints {\n  key: \"\"\n  value {\n  }\n}\n" },
		/* a known field's number with a value of another wire type: unknown */
		{ "1: 5 2: 6 5: 0x00000007 endpoints { 1: 7 lb_endpoints { 2: \"x\" 2: -0x00000001 } } 1: \"a\"",
		  "cluster_name: \"a\"\nendpoints {\n  lb_endpoints {\n    health_status: -1\n"
		  "    2: \"x\"\n  }\n  1: 7\n}\n1: 5\n2: 6\n5: 0x00000007\n" },
		/* a block by number is unknown even under a message field's number
		 * (protoc prints a group so): it does not merge into the field */
		{ "endpoints { priority: 1 } 2 { 5: 2 }",
		  "endpoints {\n  priority: 1\n}\n2 {\n  5: 2\n}\n" },
		{ "1: \"by number\" 99: [1, -1] 98: 0x0000000000000001 97: 0x1",
		  "cluster_name: \"by number\"\n99: 1\n99: 18446744073709551615\n"
		  "98: 0x0000000000000001\n97: 1\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char where[48];
		snprintf(where, sizeof where, "%s[%zu]", __func__, i);
		expect_text(where, cases[i].in, cases[i].out);
	}
}

/* Number and bool spellings, checked on the decoded values. */
static void test_scalars(void)
{
	static const struct {
		const char *lit;
		double want;
	} dbl[] = {
		{ ".5e1", 5 }, { "1.5f", 1.5 }, { "1.5F", 1.5 }, { "1e-3", 0.001 }, { "10", 10 },
		{ "- 2.5", -2.5 }, { "1.", 1 }, { "18446744073709551616", 18446744073709551616.0 },
		{ "inf", INFINITY }, { "Infinity", INFINITY }, { "-INF", -INFINITY },
	};
	for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
		char in[200];
		snprintf(in, sizeof in, "number_value: %s", dbl[i].lit);
		ProtobufCMessage *m;
		struct eds_diag d;
		struct eds_src src;
		struct eds_limits lim = lim_default();
		int rc = decode_lim(&google__protobuf__value__descriptor, in, strlen(in), &lim, &m, &d, &src);
		CHECK(!rc && ((Val *)m)->number_value == dbl[i].want, "%s: %s", in, d.msg);
	}
	const char *nans[] = { "nan", "NaN", "-nan" };
	for (size_t i = 0; i < 3; i++) {
		char in[64];
		snprintf(in, sizeof in, "number_value: %s", nans[i]);
		ProtobufCMessage *m;
		struct eds_diag d;
		struct eds_src src;
		struct eds_limits lim = lim_default();
		int rc = decode_lim(&google__protobuf__value__descriptor, in, strlen(in), &lim, &m, &d, &src);
		CHECK(!rc && isnan(((Val *)m)->number_value), "%s", in);
	}
	static const struct {
		const char *lit;
		int want;
	} bools[] = { { "true", 1 }, { "True", 1 }, { "t", 1 }, { "1", 1 }, { "0x1", 1 },
		      { "false", 0 }, { "False", 0 }, { "f", 0 }, { "0", 0 } };
	for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		char in[64];
		snprintf(in, sizeof in, "bool_value: %s", bools[i].lit);
		ProtobufCMessage *m;
		struct eds_diag d;
		struct eds_src src;
		struct eds_limits lim = lim_default();
		int rc = decode_lim(&google__protobuf__value__descriptor, in, strlen(in), &lim, &m, &d, &src);
		CHECK(!rc && ((Val *)m)->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE &&
		      ((Val *)m)->bool_value == bools[i].want, "%s: %s", in, d.msg);
	}
}

/* Doubles print as C++ SimpleDtoa does (%.15g, else %.17g). */
static void test_double_printing(void)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
		{ 0.1, "0.1" }, { 1e20, "1e+20" }, { 100, "100" }, { 1e-5, "1e-05" }, { 0.0001, "0.0001" },
		{ 123456789012345678.0, "1.2345678901234568e+17" }, { 1e15, "1e+15" }, { 2.5, "2.5" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" }, { 4.9e-324, "4.94065645841247e-324" },
		{ 0.3, "0.3" }, { 1.0 / 3, "0.33333333333333331" }, { -0.0, "-0" }, { 0.0, "0" },
		{ INFINITY, "inf" }, { -INFINITY, "-inf" }, { NAN, "nan" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Val v = GOOGLE__PROTOBUF__VALUE__INIT;
		v.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		v.number_value = cases[i].v;
		char want[64];
		snprintf(want, sizeof want, "number_value: %s\n", cases[i].want);
		int rc;
		struct eds_diag d;
		char *t = encode(&v.base, &rc, &d);
		CHECK(t && strcmp(t, want) == 0, "%.17g: got %s", cases[i].v, t ? t : d.msg);
	}
}

/* ------------------------------------------------------- rejected input */

static void test_errors(void)
{
	const char *sa = "endpoints { lb_endpoints { endpoint { address { socket_address { ";
	const char *sa_path = "endpoints[0].lb_endpoints[0].endpoint.address.socket_address";
	char in[512], path[256];
	const char *E = "test_errors";

	expect_error(E, "cluster_name \"a\"", EDS_E_DECODE,
		     "expected ':' after field name \"cluster_name\"", 1, 14, "cluster_name");
	snprintf(in, sizeof in, "%sprt: 1 } } } } }", sa);
	expect_error(E, in, EDS_E_DECODE,
		     "unknown field \"prt\" in envoy.config.core.v3.SocketAddress", 1, 66, sa_path);
	snprintf(in, sizeof in, "%s\n  port_value: 4294967296 } } } } }", sa);
	snprintf(path, sizeof path, "%s.port_value", sa_path);
	expect_error(E, in, EDS_E_DECODE,
		     "integer 4294967296 out of range for uint32 field \"port_value\"", 2, 15, path);
	snprintf(in, sizeof in, "%sport_value: -1 } } } } }", sa);
	expect_error(E, in, EDS_E_DECODE,
		     "integer -1 out of range for uint32 field \"port_value\"", 1, 78, path);
	snprintf(in, sizeof in, "%sport_value: 1.0 } } } } }", sa);
	expect_error(E, in, EDS_E_DECODE,
		     "expected integer for uint32 field \"port_value\", got \"1.0\"", 1, 78, path);
	snprintf(in, sizeof in, "%sport_value: 1 named_port: \"x\" } } } } }", sa);
	expect_error(E, in, EDS_E_DECODE,
		     "field \"named_port\" is specified along with field \"port_value\", another "
		     "member of the same oneof", 1, 80, sa_path);
	snprintf(in, sizeof in, "%sipv4_compat: yes } } } } }", sa);
	snprintf(path, sizeof path, "%s.ipv4_compat", sa_path);
	expect_error(E, in, EDS_E_DECODE, "invalid value \"yes\" for bool field \"ipv4_compat\"", 1, 79,
		     path);
	snprintf(in, sizeof in, "%sipv4_compat: 2 } } } } }", sa);
	expect_error(E, in, EDS_E_DECODE, "integer 2 out of range for bool field \"ipv4_compat\"", 1,
		     79, path);
	snprintf(in, sizeof in, "%sprotocol: SCTP } } } } }", sa);
	snprintf(path, sizeof path, "%s.protocol", sa_path);
	expect_error(E, in, EDS_E_DECODE,
		     "unknown value \"SCTP\" for enum field \"protocol\" "
		     "(envoy.config.core.v3.SocketAddress.Protocol)", 1, 76, path);

	expect_error(E, "cluster_name: \"a\"\ncluster_name: \"b\"", EDS_E_DECODE,
		     "non-repeated field \"cluster_name\" is specified multiple times", 2, 1, "");
	expect_error(E, "policy { } policy { }", EDS_E_DECODE,
		     "non-repeated field \"policy\" is specified multiple times", 1, 12, "");
	expect_error(E, "cluster_name: \"a\";;", EDS_E_DECODE, "expected field name, got ';'", 1, 19,
		     "");
	expect_error(E, "cluster_name: \"a\",,", EDS_E_DECODE, "expected field name, got ','", 1, 19,
		     "");
	expect_error(E, "clusterName: \"a\"", EDS_E_DECODE,
		     "unknown field \"clusterName\" in envoy.config.endpoint.v3.ClusterLoadAssignment "
		     "(text format uses the proto name \"cluster_name\")", 1, 1, "");
	expect_error(E, "endpoints { priority: 1abc }", EDS_E_DECODE,
		     "need space between number and identifier", 1, 23, "endpoints[0].priority");
	expect_error(E, "endpoints { priority: 08 }", EDS_E_DECODE,
		     "a number with a leading zero must be octal", 1, 23, "endpoints[0].priority");
	expect_error(E, "endpoints { priority: 0x }", EDS_E_DECODE,
		     "\"0x\" must be followed by hex digits", 1, 23, "endpoints[0].priority");
	expect_error(E, "endpoints { priority: 4294967296 }", EDS_E_DECODE,
		     "integer 4294967296 out of range for uint32 field \"priority\"", 1, 23,
		     "endpoints[0].priority");
	expect_error(E, "endpoints { lb_endpoints { health_status: 2147483648 } }", EDS_E_DECODE,
		     "integer 2147483648 out of range for enum field \"health_status\"", 1, 43,
		     "endpoints[0].lb_endpoints[0].health_status");
	expect_error(E, "policy { endpoint_stale_after { seconds: -9223372036854775809 } }",
		     EDS_E_DECODE, "integer -9223372036854775809 out of range for int64 field \"seconds\"",
		     1, 42, "policy.endpoint_stale_after.seconds");
	expect_error(E, "endpoints { load_balancing_weight: 3 }", EDS_E_DECODE,
		     "expected '{' or '<' for message field \"load_balancing_weight\", got \"3\"", 1, 36,
		     "endpoints[0].load_balancing_weight");
	expect_error(E, "endpoints { leds_cluster_locality_config { leds_config { api_config_source "
		     "{ cluster_names [\"a\"] } } } }", EDS_E_DECODE,
		     "expected ':' after field name \"cluster_names\"", 1, 92,
		     "endpoints[0].leds_cluster_locality_config.leds_config.api_config_source.cluster_names[0]");
	expect_error(E, "endpoints [ { }, ]", EDS_E_DECODE,
		     "expected '{' or '<' for message field \"endpoints\", got ']'", 1, 18, "endpoints[1]");
	expect_error(E, "endpoints { priority: [1] }", EDS_E_DECODE,
		     "expected integer for uint32 field \"priority\", got '['", 1, 23,
		     "endpoints[0].priority");
	expect_error(E, "endpoints { }\nendpoints {\n  priority: 1\n", EDS_E_DECODE,
		     "expected '}' to match '{' at 2:11, got end of input", 4, 1, "endpoints[1]");
	expect_error(E, "endpoints { >", EDS_E_DECODE, "expected '}' to match '{' at 1:11, got '>'",
		     1, 13, "endpoints[0]");
	expect_error(E, "}", EDS_E_DECODE, "unexpected '}' with no matching opening bracket", 1, 1, "");
	expect_error(E, "cluster_name: \"\\xff\"", EDS_E_DECODE,
		     "invalid UTF-8 in string field \"cluster_name\" (use a bytes field for binary data)",
		     1, 15, "cluster_name");
	expect_error(E, "cluster_name: \"\\ud800\"", EDS_E_DECODE,
		     "invalid UTF-8 in string field \"cluster_name\" (use a bytes field for binary data)",
		     1, 15, "cluster_name");
	expect_error(E, "cluster_name: \"a\\0b\"", EDS_E_DECODE,
		     "string field \"cluster_name\" contains a NUL character (not supported)", 1, 15,
		     "cluster_name");
	expect_error(E, "cluster_name: \"a\\qb\"", EDS_E_DECODE, "invalid escape sequence in string",
		     1, 17, "cluster_name");
	expect_error(E, "cluster_name: \"\\xg\"", EDS_E_DECODE, "expected hex digits after \\x", 1,
		     16, "cluster_name");
	expect_error(E, "cluster_name: \"\\u12\"", EDS_E_DECODE, "expected 4 hex digits after \\u",
		     1, 16, "cluster_name");
	expect_error(E, "cluster_name: \"\\U0010FFF\"", EDS_E_DECODE,
		     "expected 8 hex digits after \\U", 1, 16, "cluster_name");
	expect_error(E, "cluster_name: \"\\U00110000\"", EDS_E_DECODE, "\\U escape beyond U+10FFFF",
		     1, 16, "cluster_name");
	expect_error(E, "cluster_name: \"abc\n\"", EDS_E_DECODE, "string literals cannot span lines",
		     1, 15, "cluster_name");
	expect_error(E, "cluster_name: 'abc", EDS_E_DECODE, "unterminated string", 1, 15,
		     "cluster_name");
	expect_error(E, "cluster_name: abc", EDS_E_DECODE,
		     "expected a string for string field \"cluster_name\", got \"abc\"", 1, 15,
		     "cluster_name");
	expect_error(E, "cluster_name: \"a\" \x01", EDS_E_DECODE, "invalid control character", 1, 19,
		     "");
	expect_error(E, "endpoints { priority: 1 \"\\q\" }", EDS_E_DECODE,
		     "invalid escape sequence in string", 1, 26, "endpoints[0]");
	expect_error(E, "\xc3\xa9: 1", EDS_E_DECODE,
		     "unexpected non-ASCII character outside a string", 1, 1, "");
	expect_error(E, "[foo.bar]: 1", EDS_E_DECODE,
		     "extensions are not supported (in envoy.config.endpoint.v3.ClusterLoadAssignment)",
		     1, 1, "");
	expect_error(E, "0: 1", EDS_E_DECODE, "invalid field number \"0\"", 1, 1, "");
	expect_error(E, "536870912: 1", EDS_E_DECODE, "invalid field number \"536870912\"", 1, 1, "");
	expect_error(E, "99 1", EDS_E_DECODE, "expected ':' after field number 99", 1, 4, "99");
	expect_error(E, "99: 1.5", EDS_E_DECODE,
		     "expected an integer, string or message for unknown field 99, got \"1.5\"", 1, 5,
		     "99");
	expect_error(E, "99 { name: 1 }", EDS_E_DECODE,
		     "expected a field number inside unknown field 99, got \"name\"", 1, 6, "99");
	expect_error(E, "99 { 1 { 2: [1 2] } }", EDS_E_DECODE,
		     "expected ',' or ']' in list of field 2, got \"2\"", 1, 16, "99.1.2");

	/* numbers of the double type */
	const char *nv = "endpoints { metadata { filter_metadata { key: \"a\" value { fields { key: \"x\" "
			 "value { number_value: ";
	const char *nv_path = "endpoints[0].metadata.filter_metadata[\"a\"][\"x\"].number_value";
	snprintf(in, sizeof in, "%s0x10 } } } } } }", nv);
	expect_error(E, in, EDS_E_DECODE,
		     "expected a decimal number for double field \"number_value\", got \"0x10\"", 1, 99,
		     nv_path);
	snprintf(in, sizeof in, "%s1e } } } } } }", nv);
	expect_error(E, in, EDS_E_DECODE, "\"e\" must be followed by an exponent", 1, 99, nv_path);
	snprintf(in, sizeof in, "%s1.2.3 } } } } } }", nv);
	expect_error(E, in, EDS_E_DECODE, "unexpected '.' after number", 1, 99, nv_path);
	snprintf(in, sizeof in, "%sinfinite } } } } } }", nv);
	expect_error(E, in, EDS_E_DECODE,
		     "expected a number for double field \"number_value\", got \"infinite\"", 1, 99, nv_path);
	snprintf(in, sizeof in, "%s1 } bool_value: true } } } } }", nv);
	expect_error(E, in, EDS_E_DECODE,
		     "unknown field \"bool_value\" in google.protobuf.Struct.FieldsEntry", 1, 103,
		     "endpoints[0].metadata.filter_metadata[\"a\"][\"x\"]");
	snprintf(in, sizeof in, "%s1 bool_value: true } } } } } }", nv);
	expect_error(E, in, EDS_E_DECODE,
		     "field \"bool_value\" is specified along with field \"number_value\", another "
		     "member of the same oneof", 1, 101, "endpoints[0].metadata.filter_metadata[\"a\"][\"x\"]");

	/* Any */
	const char *tf = "endpoints { metadata { typed_filter_metadata { key: \"t\" value { ";
	const char *tf_path = "endpoints[0].metadata.typed_filter_metadata[\"t\"]";
	snprintf(in, sizeof in, "%s[example.com/envoy.config.core.v3.Locality] { } } } } }", tf);
	expect_error(E, in, EDS_E_DECODE,
		     "could not find type \"example.com/envoy.config.core.v3.Locality\"", 1, 66, tf_path);
	snprintf(in, sizeof in, "%s[type.googleapis.com/no.Such] { } } } } }", tf);
	expect_error(E, in, EDS_E_DECODE, "could not find type \"type.googleapis.com/no.Such\"", 1, 66,
		     tf_path);
	snprintf(in, sizeof in, "%s[type.googleapis.com/google.protobuf.Empty] { }\n"
		 "[type.googleapis.com/google.protobuf.Empty] { } } } } }", tf);
	expect_error(E, in, EDS_E_DECODE, "non-repeated Any specified multiple times", 2, 1, tf_path);
	snprintf(in, sizeof in, "%stype_url: \"a/b\" [type.googleapis.com/google.protobuf.Empty] { } } } } }",
		 tf);
	expect_error(E, in, EDS_E_DECODE, "non-repeated Any specified multiple times", 1, 81, tf_path);
	snprintf(in, sizeof in, "%s[type.googleapis.com/google.protobuf.Empty] { } type_url: \"a/b\" } } } }",
		 tf);
	expect_error(E, in, EDS_E_DECODE,
		     "non-repeated field \"type_url\" is specified multiple times", 1, 113, tf_path);
	snprintf(in, sizeof in, "%s[type.googleapis.com/envoy.config.core.v3.Locality] { zone: 1 } } } } }",
		 tf);
	expect_error(E, in, EDS_E_DECODE,
		     "expected a string for string field \"zone\", got \"1\"", 1, 125,
		     "endpoints[0].metadata.typed_filter_metadata[\"t\"].zone");
	snprintf(in, sizeof in, "%s[type.googleapis.com/envoy.config.core.v3.Locality] region: \"x\" } } } }",
		 tf);
	expect_error(E, in, EDS_E_DECODE,
		     "expected '{' or '<' after \"[type.googleapis.com/envoy.config.core.v3.Locality]\", "
		     "got \"region\"", 1, 117, tf_path);
	/* a map key names its entry in the path once it is known */
	expect_error(E, "named_endpoints { key: \"n\\\"1\" value { hostname: 5 } }", EDS_E_DECODE,
		     "expected a string for string field \"hostname\", got \"5\"", 1, 49,
		     "named_endpoints[\"n\\\"1\"].hostname");
	expect_error(E, "named_endpoints { key: \"a\" } named_endpoints { value { hostname: 5 } }",
		     EDS_E_DECODE, "expected a string for string field \"hostname\", got \"5\"", 1, 66,
		     "named_endpoints[1].hostname");
}

/* ----------------------------------------------------------------- limits */

static char *deep_struct(size_t levels)
{
	const char *head = "endpoints { metadata { filter_metadata { key: \"k\" value { ";
	const char *open = "fields { key: \"a\" value { struct_value { ";
	const char *close = "} } } ";
	size_t n = strlen(head) + levels * (strlen(open) + strlen(close)) + 32;
	char *s = eds_arena_alloc(A, n), *p = s;
	p += sprintf(p, "%s", head);
	for (size_t i = 0; i < levels; i++)
		p += sprintf(p, "%s", open);
	for (size_t i = 0; i < levels; i++)
		p += sprintf(p, "%s", close);
	sprintf(p, "} } } }");
	return s;
}

static void test_limits(void)
{
	ProtobufCMessage *m;
	struct eds_diag d;
	struct eds_src src;
	struct eds_limits lim = lim_default();
	lim.max_depth = 100;
	char *deep = deep_struct(10000);
	int rc = decode_lim(CLA_DESC, deep, strlen(deep), &lim, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT && d.code == EDS_E_LIMIT &&
	      strcmp(d.msg, "messages nested deeper than 100 levels (--max-depth) in "
			    "google.protobuf.Struct.FieldsEntry") == 0,
	      "10,000-deep Struct: %d %s", rc, d.msg);
	CHECK(strncmp(d.path, "endpoints[0].metadata.filter_metadata[\"k\"][\"a\"][\"a\"]", 51) == 0,
	      "path %s", d.path);
	/* the same even when the configured limit is far too big for the stack */
	lim.max_depth = 1000000;
	rc = decode_lim(CLA_DESC, deep, strlen(deep), &lim, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT, "huge --max-depth: %d %s", rc, d.msg);

	/* below the CLA: LocalityLbEndpoints 1, Metadata 2, entry 3, Struct 4,
	 * entry 5, Value 6, Struct 7 */
	char *seven = deep_struct(1);
	lim.max_depth = 7;
	rc = decode_lim(CLA_DESC, seven, strlen(seven), &lim, &m, &d, &src);
	CHECK(rc == 0, "7 levels within a limit of 7: %s", d.msg);
	lim.max_depth = 6;
	rc = decode_lim(CLA_DESC, seven, strlen(seven), &lim, &m, &d, &src);
	unsigned l, c;
	eds_src_linecol(&src, d.span.start, &l, &c);
	CHECK(rc == EDS_E_LIMIT && l == 1 && c == 98, "7 levels over a limit of 6: %d %u:%u %s", rc, l,
	      c, d.msg);
	/* unknown fields given as messages count too */
	lim.max_depth = 2;
	rc = decode_lim(CLA_DESC, "9 { 9 { 9 { } } }", 17, &lim, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT, "unknown message nesting: %d %s", rc, d.msg);
	rc = decode_lim(CLA_DESC, "9 { 9 { } }", 11, &lim, &m, &d, &src);
	CHECK(rc == 0, "unknown message nesting within the limit: %s", d.msg);

	lim = lim_default();
	lim.max_input = 10;
	rc = decode_lim(CLA_DESC, "cluster_name: \"a\"", 17, &lim, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT && d.loc == EDS_LOC_OFFSET, "max_input: %d %s", rc, d.msg);
	rc = decode_lim(CLA_DESC, "policy {}", 9, &lim, &m, &d, &src);
	CHECK(rc == 0, "input within max_input: %s", d.msg);

	/* output over the buffer's cap (which eds_buf checks when it grows) */
	Cla cla = ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__INIT;
	cla.cluster_name = eds_arena_alloc(A, 10001);
	memset(cla.cluster_name, 'x', 10000);
	cla.cluster_name[10000] = '\0';
	struct eds_encode_opts o = { 0 };
	struct eds_buf b = { 0 };
	b.max = 8192;
	rc = eds_text_encode(&cla.base, &o, &b, &d);
	CHECK(rc == EDS_E_LIMIT && d.code == EDS_E_LIMIT, "max output: %d", rc);
	eds_buf_release(&b);
	b.max = 10017; /* exactly the output: cluster_name: "x..."\n */
	rc = eds_text_encode(&cla.base, &o, &b, &d);
	CHECK(rc == 0 && b.len == 10017, "output of exactly max: %d %zu", rc, b.len);
	eds_buf_release(&b);
}

/* ------------------------------------------------------------------- Any */

static Google__Protobuf__Any *pack_any(const char *url, const ProtobufCMessage *m)
{
	Google__Protobuf__Any *any = eds_arena_alloc(A, sizeof *any);
	google__protobuf__any__init(any);
	any->type_url = (char *)url;
	any->value.data = pack(m, &any->value.len);
	return any;
}

static char *encode_any_cla(Google__Protobuf__Any *any)
{
	Cla *cla = eds_arena_alloc(A, sizeof *cla);
	envoy__config__endpoint__v3__cluster_load_assignment__init(cla);
	Envoy__Config__Endpoint__V3__LocalityLbEndpoints *e = eds_arena_alloc(A, sizeof *e);
	envoy__config__endpoint__v3__locality_lb_endpoints__init(e);
	Envoy__Config__Core__V3__Metadata *md = eds_arena_alloc(A, sizeof *md);
	envoy__config__core__v3__metadata__init(md);
	Envoy__Config__Core__V3__Metadata__TypedFilterMetadataEntry *en = eds_arena_alloc(A, sizeof *en);
	envoy__config__core__v3__metadata__typed_filter_metadata_entry__init(en);
	en->key = "k";
	en->value = any;
	md->n_typed_filter_metadata = 1;
	md->typed_filter_metadata = eds_arena_alloc(A, sizeof(void *));
	md->typed_filter_metadata[0] = en;
	e->metadata = md;
	cla->n_endpoints = 1;
	cla->endpoints = eds_arena_alloc(A, sizeof(void *));
	cla->endpoints[0] = e;
	int rc;
	struct eds_diag d;
	return encode(&cla->base, &rc, &d);
}

static void test_any(void)
{
	const char *in =
		"endpoints { metadata {\n"
		"  typed_filter_metadata { key: \"a\" value { [type.googleapis.com/envoy.config.core.v3.Address]:"
		" < socket_address { address: \"1.2.3.4\" port_value: 3128 } > } }\n"
		"  typed_filter_metadata { key: \"b\" value { [ type.googleprod.com / google.protobuf.Any ] {"
		" [type.googleapis.com/envoy.config.core.v3.Locality] { region: \"r\" } } } }\n"
		"  typed_filter_metadata { key: \"c\" value { type_url: \"type.googleapis.com/x.Unknown\""
		" value: \"\\n\\001x\" } }\n"
		"} }\n";
	const char *want =
		"endpoints {\n"
		"  metadata {\n"
		"    typed_filter_metadata {\n"
		"      key: \"a\"\n"
		"      value {\n"
		"        [type.googleapis.com/envoy.config.core.v3.Address] {\n"
		"          socket_address {\n"
		"            address: \"1.2.3.4\"\n"
		"            port_value: 3128\n"
		"          }\n"
		"        }\n"
		"      }\n"
		"    }\n"
		"    typed_filter_metadata {\n"
		"      key: \"b\"\n"
		"      value {\n"
		"        [type.googleprod.com/google.protobuf.Any] {\n"
		"          [type.googleapis.com/envoy.config.core.v3.Locality] {\n"
		"            region: \"r\"\n"
		"          }\n"
		"        }\n"
		"      }\n"
		"    }\n"
		"    typed_filter_metadata {\n"
		"      key: \"c\"\n"
		"      value {\n"
		"        type_url: \"type.googleapis.com/x.Unknown\"\n"
		"        value: \"\\n\\001x\"\n"
		"      }\n"
		"    }\n"
		"  }\n"
		"}\n";
	expect_text(__func__, in, want);
	expect_text(__func__, want, want);

	/* the expansion is packed into Any.value exactly as protobuf-c packs it */
	ProtobufCMessage *m;
	struct eds_diag d;
	struct eds_src src;
	if (!decode(in, &m, &d, &src)) {
		Google__Protobuf__Any *any =
			((Cla *)m)->endpoints[0]->metadata->typed_filter_metadata[0]->value;
		CHECK(strcmp(any->type_url, "type.googleapis.com/envoy.config.core.v3.Address") == 0 &&
		      any->value.len == 14 &&
		      memcmp(any->value.data, "\n\x0c\x12\x07" "1.2.3.4" "\x18\xb8\x18", 14) == 0,
		      "packed Any value");
	}

	Loc loc = ENVOY__CONFIG__CORE__V3__LOCALITY__INIT;
	loc.region = "\xff";
	char *t = encode_any_cla(pack_any("type.googleapis.com/envoy.config.core.v3.Locality", &loc.base));
	CHECK(t && strstr(t, "type_url: \"type.googleapis.com/envoy.config.core.v3.Locality\"\n") &&
	      strstr(t, "value: \"\\n\\001\\377\"\n") && !strchr(t, '['),
	      "an Any holding invalid UTF-8 prints raw:\n%s", t ? t : "");
	loc.region = "ok";
	t = encode_any_cla(pack_any("example.com/envoy.config.core.v3.Locality", &loc.base));
	CHECK(t && strstr(t, "type_url: \"example.com/envoy.config.core.v3.Locality\"") && !strchr(t, '['),
	      "other URL prefixes print raw:\n%s", t ? t : "");
	t = encode_any_cla(pack_any("type.googleapis.com/envoy.config.core.v3.Locality", &loc.base));
	CHECK(t && strstr(t, "[type.googleapis.com/envoy.config.core.v3.Locality] {\n"), "expanded:\n%s",
	      t ? t : "");

	/* a Struct nested deeper than the depth limit inside an Any: raw, no crash */
	St *inner = NULL;
	for (int i = 0; i < 300; i++) {
		St *s = eds_arena_alloc(A, sizeof *s);
		google__protobuf__struct__init(s);
		if (inner) {
			Google__Protobuf__Struct__FieldsEntry *fe = eds_arena_alloc(A, sizeof *fe);
			google__protobuf__struct__fields_entry__init(fe);
			Val *v = eds_arena_alloc(A, sizeof *v);
			google__protobuf__value__init(v);
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
			v->struct_value = inner;
			fe->key = "a";
			fe->value = v;
			s->n_fields = 1;
			s->fields = eds_arena_alloc(A, sizeof(void *));
			s->fields[0] = fe;
		}
		inner = s;
	}
	t = encode_any_cla(pack_any("type.googleapis.com/google.protobuf.Struct", &inner->base));
	CHECK(t && strstr(t, "type_url: \"type.googleapis.com/google.protobuf.Struct\"") && !strchr(t, '['),
	      "too deep Any value prints raw");
	ProtobufCMessage *back;
	CHECK(t && !decode(t, &back, &d, &src), "raw Any reads back: %s", d.msg);
}

/* ---------------------------------------------------------------- locate */

static void expect_loc(const struct eds_src *src, const char *path, int want_rc, unsigned line,
		       unsigned col, const char *want_text)
{
	size_t s = 0, e = 0;
	int rc = eds_text_locate(src, CLA_DESC, path, &s, &e);
	unsigned l = 0, c = 0;
	if (rc >= 0)
		eds_src_linecol(src, s, &l, &c);
	bool ok = rc == want_rc && (rc < 0 || (l == line && c == col && e >= s &&
					       strlen(want_text) == e - s &&
					       memcmp(src->text + s, want_text, e - s) == 0));
	check(ok, "test_locate", "%s: want %d %u:%u [%s], got %d %u:%u [%.*s]", path, want_rc, line,
	      col, want_text, rc, l, c, (int)(rc >= 0 ? e - s : 0), rc >= 0 ? src->text + s : "");
}

static void test_locate(void)
{
	const char *text =
		"cluster_name: \"svc\"\n"                                              /* 1 */
		"endpoints {\n"                                                        /* 2 */
		"  lb_endpoints: [ { endpoint { hostname: 'h0' } }, { endpoint_name: \"n\" } ]\n"
		"  lb_endpoints < health_status: DRAINING >\n"                        /* 4 */
		"  metadata { filter_metadata { key: \"envoy.lb\" value {\n"          /* 5 */
		"    fields { key: \"canary\" value { bool_value: true } }\n"         /* 6 */
		"    fields { key: \"l\" value { list_value { values { number_value: 1 } values { number_value: - 2 } } } }\n"
		"    fields { key: \"s\" value { struct_value { fields { key: \"x\\\"y\" value { string_value: \"a\" \"b\" } } } } }\n"
		"  } }\n"                                                              /* 9 */
		"  typed_filter_metadata { key: \"t\" value { [type.googleapis.com/envoy.config.core.v3.Address] {\n"
		"    socket_address { port_value: 8080 } } } } }\n"                  /* 11 */
		"}\n"                                                                  /* 12 */
		"policy { drop_overloads { } drop_overloads { category: \"c\" } }\n"; /* 13 */
	struct eds_src src = { "t.txtpb", text, strlen(text) };
	expect_loc(&src, "", 0, 1, 1, text);
	expect_loc(&src, "cluster_name", 0, 1, 15, "\"svc\"");
	expect_loc(&src, "endpoints[0].lb_endpoints[0].endpoint.hostname", 0, 3, 42, "'h0'");
	expect_loc(&src, "endpoints[0].lb_endpoints[1]", 0, 3, 52, "{ endpoint_name: \"n\" }");
	expect_loc(&src, "endpoints[0].lb_endpoints[2].health_status", 0, 4, 33, "DRAINING");
	expect_loc(&src, "endpoints[0].metadata.filter_metadata[\"envoy.lb\"][\"canary\"]", 0, 6, 34,
		   "{ bool_value: true }");
	expect_loc(&src, "endpoints[0].metadata.filter_metadata[\"envoy.lb\"][\"l\"][1].number_value", 0,
		   7, 94, "- 2");
	expect_loc(&src, "endpoints[0].metadata.filter_metadata[\"envoy.lb\"][\"s\"][\"x\\\"y\"].string_value",
		   0, 8, 89, "\"a\" \"b\"");
	expect_loc(&src, "endpoints[0].metadata.typed_filter_metadata[\"t\"].socket_address.port_value",
		   0, 11, 34, "8080");
	expect_loc(&src, "policy.drop_overloads[1].category", 0, 13, 56, "\"c\"");
	/* partial matches give the deepest value found */
	expect_loc(&src, "endpoints[0].metadata.filter_metadata[\"envoy.lb\"][\"nope\"]", 1, 5, 54,
		   "{\n    fields { key: \"canary\" value { bool_value: true } }\n"
		   "    fields { key: \"l\" value { list_value { values { number_value: 1 } values { number_value: - 2 } } } }\n"
		   "    fields { key: \"s\" value { struct_value { fields { key: \"x\\\"y\" value { string_value: \"a\" \"b\" } } } } }\n"
		   "  }");
	expect_loc(&src, "policy.drop_overloads[5]", 1, 13, 1 + 7,
		   "{ drop_overloads { } drop_overloads { category: \"c\" } }");
	expect_loc(&src, "named_endpoints[\"x\"]", -1, 0, 0, "");
	expect_loc(&src, "no_such_field", -1, 0, 0, "");
}

int main(void)
{
	A = eds_arena_new(1 << 16);
	test_golden();
	test_unknown_roundtrip();
	test_unknown_groups();
	test_unknown_budget();
	test_accepted();
	test_scalars();
	test_double_printing();
	test_errors();
	test_limits();
	test_any();
	test_locate();
	eds_arena_free(A);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
