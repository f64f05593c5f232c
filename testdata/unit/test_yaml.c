/*
 * Unit tests of the YAML codec and JSON text tools (src/codec_yaml.c) and of
 * the container walker (src/container.c): scalar typing, node spans, YAML
 * printing at an indent, the JSON re-printer against the encoder's own
 * layout, YAML-or-text detection, errors with their YAML line:col, and the
 * callback's view of the CLAs in a container.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_yaml.h"
#include "container.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "unit.h"

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;

static const struct eds_src *src_of(const char *text)
{
	static struct eds_src s;
	s = (struct eds_src){ .name = "t.yaml", .text = text, .len = strlen(text) };
	return &s;
}

/* YAML to JSON text (one document, without the trailing newline). */
static char *to_json(const char *yaml)
{
	static char out[4096];
	struct eds_yaml_json yj;
	struct eds_diag d = { 0 };
	int rc = eds_yaml_to_json(src_of(yaml), &eds_limits_default, &yj, &d);
	if (rc)
		snprintf(out, sizeof out, "ERROR %d %s", rc, d.msg);
	else
		snprintf(out, sizeof out, "%.*s", (int)(yj.json.len ? yj.json.len - 1 : 0), yj.json.data);
	eds_yaml_json_release(&yj);
	return out;
}

static void test_scalars(void)
{
	static const struct {
		const char *yaml, *json;
	} cases[] = {
		{ "a: 1", "{\"a\":1}" },
		{ "a: +007", "{\"a\":7}" },
		{ "a: -0", "{\"a\":-0}" },
		{ "a: 0x1F", "{\"a\":31}" },
		{ "a: 0o17", "{\"a\":15}" },
		{ "a: 1.", "{\"a\":1}" },
		{ "a: .5", "{\"a\":0.5}" },
		{ "a: -1.5e+3", "{\"a\":-1.5e+3}" },
		{ "a: .inf", "{\"a\":\"Infinity\"}" },
		{ "a: -.Inf", "{\"a\":\"-Infinity\"}" },
		{ "a: .NaN", "{\"a\":\"NaN\"}" },
		{ "a: ~", "{\"a\":null}" },
		{ "a:", "{\"a\":null}" },
		{ "a: True", "{\"a\":true}" },
		{ "a: yes", "{\"a\":\"yes\"}" },          /* YAML 1.1's bool, 1.2's string */
		{ "a: 1_000", "{\"a\":\"1_000\"}" },
		{ "a: 0x", "{\"a\":\"0x\"}" },
		{ "a: 10.0.0.1", "{\"a\":\"10.0.0.1\"}" },
		{ "a: '1'", "{\"a\":\"1\"}" },
		{ "a: \"tab\\there\"", "{\"a\":\"tab\\there\"}" },
		{ "a: !!str 1", "{\"a\":\"1\"}" },
		{ "a: !!int 0x10", "{\"a\":16}" },
		{ "a: !!float 2", "{\"a\":2}" },
		{ "a: !!null x", "{\"a\":null}" },
		{ "a: ! 1", "{\"a\":\"1\"}" },
		{ "a: !!binary |\n  aGVs\n  bG8=\n", "{\"a\":\"aGVsbG8=\"}" },
		{ "1: x", "{\"1\":\"x\"}" },
		{ "a: &x [1, {b: c}]\nd: *x", "{\"a\":[1,{\"b\":\"c\"}],\"d\":[1,{\"b\":\"c\"}]}" },
		{ "a: |\n  l1\n  l2\n", "{\"a\":\"l1\\nl2\\n\"}" },
		{ "a: 0x10000000000000000", "ERROR 4 0x10000000000000000 is too large for an integer" },
		{ "a: !!int x", "ERROR 4 \"x\" is not a valid !!int" },
		{ "a: !foo x", "ERROR 4 unsupported YAML tag \"!foo\"" },
		{ "a: *nope", "ERROR 4 unknown alias \"*nope\"" },
		{ "[a]: b", "ERROR 4 a mapping key must be a scalar, not a sequence" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = to_json(cases[i].yaml);
		CHECK(strcmp(got, cases[i].json) == 0, "%s -> %s, want %s", cases[i].yaml, got, cases[i].json);
	}
}

static void test_spans(void)
{
	const char *y = "# c\nk: v\nlist:\n- a: 1   # x\n  b: [2, 3]\n\n# tail\n";
	struct eds_yaml_json yj;
	struct eds_diag d = { 0 };
	CHECK(eds_yaml_to_json(src_of(y), &eds_limits_default, &yj, &d) == EDS_OK, "%s", d.msg);
	const char *j = yj.json.data;
	CHECK(strcmp(j, "{\"k\":\"v\",\"list\":[{\"a\":1,\"b\":[2,3]}]}\n") == 0, "json %s", j);
	/* the mapping in the list: from "a" to the "]" of b's flow sequence,
	 * without the comment, blank line or tail */
	const struct eds_yaml_node *nd = eds_yaml_json_node(&yj, (size_t)(strstr(j, "{\"a\"") - j));
	CHECK(nd && nd->jstart == (size_t)(strstr(j, "{\"a\"") - j), "node of the list element");
	CHECK(nd && strncmp(y + nd->ystart, "a: 1", 4) == 0 && y[nd->yend - 1] == ']' &&
		      nd->yend == (size_t)(strstr(y, "3]") - y) + 2,
	      "element span %u..%u", nd ? nd->ystart : 0, nd ? nd->yend : 0);
	CHECK(nd && (nd->flags & EDS_YN_COLLECTION) && !(nd->flags & EDS_YN_FLOW), "element flags");
	nd = eds_yaml_json_node(&yj, (size_t)(strstr(j, "[2") - j) + 1);
	CHECK(nd && y[nd->ystart] == '2' && (nd->flags & EDS_YN_FLOW), "scalar in a flow sequence");
	nd = eds_yaml_json_node(&yj, (size_t)(strstr(j, "\"list\"") - j));
	CHECK(nd && (nd->flags & EDS_YN_KEY) && strncmp(y + nd->ystart, "list", 4) == 0, "key node");
	eds_yaml_json_release(&yj);
	/* characters, not bytes: a span after multi-byte text */
	y = "a: \xC3\xA9\xC3\xA9\nb: x\n";
	CHECK(eds_yaml_to_json(src_of(y), &eds_limits_default, &yj, &d) == EDS_OK, "%s", d.msg);
	nd = eds_yaml_json_node(&yj, (size_t)(strstr(yj.json.data, "\"x\"") - yj.json.data));
	CHECK(nd && nd->ystart == 11 && nd->yend == 12, "span after UTF-8 %u..%u", nd ? nd->ystart : 0,
	      nd ? nd->yend : 0);
	eds_yaml_json_release(&yj);
}

static void test_print(void)
{
	static const struct {
		const char *json;
		unsigned indent;
		const char *yaml;
	} cases[] = {
		{ "{\"a\":{\"b\":[1,{\"c\":[]}]},\"d\":{}}", 0, "a:\n  b:\n  - 1\n  - c: []\nd: {}\n" },
		{ "{\"a\":1,\"b\":{\"c\":2}}", 4, "a: 1\n    b:\n      c: 2\n" },
		{ "[[1,2],[]]", 0, "- - 1\n  - 2\n- []\n" },
		{ "{\"a\":1}\n{\"b\":2}\n", 0, "a: 1\n---\nb: 2\n" },
		{ "{\"@t\":\"true\",\"n\":1e5,\"z\":-0,\"s\":\"2001:db8::1\",\"p\":\"10.0.0.1\"}", 0,
		  "\"@t\": \"true\"\n\"n\": 1.0e+5\nz: -0.0\ns: \"2001:db8::1\"\np: 10.0.0.1\n" },
		{ "{\"u\":\"\\ud83d\\ude00\\u2028\"}", 0, "u: \"\xF0\x9F\x98\x80\\L\"\n" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct eds_buf b = { 0 };
		struct eds_diag d = { 0 };
		int rc = eds_json_to_yaml(cases[i].json, strlen(cases[i].json), cases[i].indent, &b, &d);
		eds_buf_putc(&b, '\0');
		CHECK(rc == EDS_OK && strcmp(b.data, cases[i].yaml) == 0, "%s -> [%s] (%s)", cases[i].json, b.data,
		      d.msg);
		eds_buf_release(&b);
	}
	struct eds_buf b = { 0 };
	struct eds_diag d = { 0 };
	CHECK(eds_json_to_yaml("{\"a\":\"\\udc00\"}", 14, 0, &b, &d) == EDS_E_ENCODE, "lone surrogate");
	eds_buf_release(&b);
}

/* The re-printer's pretty layout is the encoder's. */
static void test_reformat(void)
{
	const char *j = "{\"clusterName\":\"a\",\"endpoints\":[{\"locality\":{\"zone\":\"z\"},\"lbEndpoints\":[{\"endpoint\":"
			"{\"address\":{\"socketAddress\":{\"address\":\"10.0.0.1\",\"portValue\":80}}},\"metadata\":"
			"{\"filterMetadata\":{\"x\":{\"l\":[],\"o\":{}}}}}]}],\"policy\":{\"overprovisioningFactor\":140}}";
	struct eds_arena *a = eds_arena_new(1 << 16);
	ProtobufCMessage *m;
	struct eds_diag d = { 0 };
	struct eds_src s = { .name = "j", .text = j, .len = strlen(j) };
	CHECK(eds_json_decode(&envoy__config__endpoint__v3__cluster_load_assignment__descriptor, &s, a,
			      &eds_limits_default, &m, &d) == EDS_OK,
	      "decode %s", d.msg);
	struct eds_buf enc = { 0 }, re = { 0 }, compact = { 0 };
	struct eds_encode_opts o = { .pretty = true };
	CHECK(eds_json_encode(m, &o, &enc, &d) == EDS_OK, "encode");
	CHECK(eds_json_reformat(j, strlen(j), true, &re, &d) == EDS_OK, "reformat");
	CHECK(re.len == enc.len && memcmp(re.data, enc.data, re.len) == 0, "pretty layouts differ:\n%.*s\n%.*s",
	      (int)re.len, re.data, (int)enc.len, enc.data);
	CHECK(eds_json_reformat(enc.data, enc.len, false, &compact, &d) == EDS_OK &&
		      compact.len == strlen(j) + 1 && memcmp(compact.data, j, strlen(j)) == 0,
	      "compact again");
	eds_buf_release(&enc);
	eds_buf_release(&re);
	eds_buf_release(&compact);
	eds_arena_free(a);
	/* skip and its errors */
	struct eds_src bad = { .name = "b", .text = "{\"a\": [1, 2,]}", .len = 14 };
	size_t i = 0;
	CHECK(eds_json_skip(&bad, &i, 100, &d) == EDS_E_DECODE && strstr(d.msg, "expected a value") &&
		      d.span.start == 12,
	      "skip error %s at %u", d.msg, d.span.start);
	struct eds_src deep = { .name = "d", .text = "[[[[1]]]]", .len = 9 };
	i = 0;
	CHECK(eds_json_skip(&deep, &i, 3, &d) == EDS_E_LIMIT, "depth limit");
	CHECK(eds_json_str_eq("\"\\u0040type\"", 12, "@type") && !eds_json_str_eq("\"@typ\"", 6, "@type"),
	      "str_eq");
}

static void test_detect(void)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
		{ "cluster_name: \"a\"\nendpoints {\n}\n", -1 },
		{ "cluster_name: \"a\"\nendpoints: {\n}\n", -1 },
		{ "# c\n[type.googleapis.com/x] {}\n", -1 },
		{ "clusterName: a\n", 1 },
		{ "cluster_name: a\nendpoints:\n- x\n", 1 },
		{ "---\ncluster_name: a\n", 1 },
		{ "- clusterName: a\n", 1 },
		{ "\"cluster_name\": a\n", 1 },
		{ "cluster_name: |\n  a\n", 1 },
		{ "cluster_name: a\npolicy: x\n", 0 },
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = eds_yaml_detect(cases[i].text, strlen(cases[i].text));
		CHECK(got == cases[i].want, "detect [%s]: %d, want %d", cases[i].text, got, cases[i].want);
	}
}

static void test_decode_errors(void)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	ProtobufCMessage *m;
	struct eds_diag d = { 0 };
	const struct eds_src *s = src_of("clusterName: x\nendpoints:\n- priority: -1\n");
	CHECK(eds_yaml_decode(&envoy__config__endpoint__v3__cluster_load_assignment__descriptor, s, a,
			      &eds_limits_default, &m, &d) == EDS_E_DECODE,
	      "range");
	unsigned line = 0, col = 0;
	if (d.src)
		eds_src_linecol(d.src, d.span.start, &line, &col);
	CHECK(d.src == s && line == 3 && col == 13 && strcmp(d.path, "endpoints[0].priority") == 0,
	      "located at %u:%u %s (%s)", line, col, d.path, d.msg);
	eds_diag_clear(&d);
	s = src_of("a: [1, 2\n");
	CHECK(eds_yaml_decode(&envoy__config__endpoint__v3__cluster_load_assignment__descriptor, s, a,
			      &eds_limits_default, &m, &d) == EDS_E_DECODE &&
		      strncmp(d.msg, "invalid YAML: ", 14) == 0,
	      "syntax: %s", d.msg);
	eds_diag_clear(&d);
	/* aliases that expand without end hit the limit */
	char bomb[600];
	snprintf(bomb, sizeof bomb,
		 "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		 "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		 "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n");
	s = src_of(bomb);
	CHECK(eds_yaml_decode(&envoy__config__endpoint__v3__cluster_load_assignment__descriptor, s, a,
			      &eds_limits_default, &m, &d) == EDS_E_LIMIT,
	      "alias bomb: %d %s", d.code, d.msg);
	eds_arena_free(a);
}

struct seen {
	char places[8][200];
	char names[8][64];
	size_t n;
};

static int collect(void *ctx, struct eds_site *st, struct eds_diag *d)
{
	(void)d;
	struct seen *s = ctx;
	if (s->n < 8) {
		snprintf(s->places[s->n], sizeof s->places[0], "%s", st->place);
		snprintf(s->names[s->n], sizeof s->names[0], "%s", ((Cla *)st->cla)->cluster_name);
	}
	s->n++;
	return EDS_OK;
}

static void test_containers(void)
{
	static const struct {
		const char *text, *places, *names;
		enum eds_container kind;
	} cases[] = {
		{ "[{\"clusterName\":\"a\"},{\"@type\":\"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\","
		  "\"clusterName\":\"b\"}]",
		  "[0] [1] ", "a b ", EDS_CONT_LIST },
		{ "{\"clusterName\":\"a\"}\n{\"clusterName\":\"b\"}\n", "[0] [1] ", "a b ", EDS_CONT_JSONL },
		{ "- clusterName: a\n- cluster_name: b\n", "[0] [1] ", "a b ", EDS_CONT_LIST },
		{ "clusterName: a\n---\nclusterName: b\n", "[0] [1] ", "a b ", EDS_CONT_LIST },
		{ "{\"resources\":[{\"@type\":\"x/envoy.config.endpoint.v3.ClusterLoadAssignment\",\"clusterName\":\"a\"}]}",
		  "resources[0] ", "a ", EDS_CONT_DISCOVERY },
		{ "{\"resources\":[{\"name\":\"a\",\"resource\":{\"@type\":"
		  "\"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\",\"clusterName\":\"a\"}},"
		  "{\"name\":\"hb\"}]}",
		  "resources[0].resource ", "a ", EDS_CONT_DISCOVERY },
		{ "{\"dynamicEndpointConfigs\":[{\"endpointConfig\":{\"@type\":"
		  "\"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\",\"clusterName\":\"a\"}}]}",
		  "dynamic_endpoint_configs[0].endpoint_config ", "a ", EDS_CONT_CONFIG_DUMP },
		{ "{\"clusterName\":\"a\"}", " ", "a ", EDS_CONT_CLA },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct eds_arena *a = eds_arena_new(1 << 16);
		struct seen s = { 0 };
		struct eds_container_opts o = { .lim = eds_limits_default };
		struct eds_container_info info;
		struct eds_diag d = { 0 };
		struct eds_src src = { .name = "c", .text = cases[i].text, .len = strlen(cases[i].text) };
		int rc = eds_container_run(&src, &o, a, collect, &s, NULL, &info, &d);
		char places[512] = "", names[512] = "";
		for (size_t k = 0; k < s.n && k < 8; k++) {
			strcat(strcat(places, s.places[k]), " ");
			strcat(strcat(names, s.names[k]), " ");
		}
		CHECK(rc == EDS_OK && info.kind == cases[i].kind && strcmp(places, cases[i].places) == 0 &&
			      strcmp(names, cases[i].names) == 0,
		      "case %zu: rc %d (%s) kind %s places [%s] names [%s]", i, rc, d.msg, eds_container_name(info.kind),
		      places, names);
		eds_arena_free(a);
	}
}

int main(void)
{
	test_scalars();
	test_spans();
	test_print();
	test_reformat();
	test_detect();
	test_decode_errors();
	test_containers();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
