/*
 * Unit tests for eds_check_cla (src/check.c): for every rule, a CLA that
 * violates it (the exact findings: id, severity, path, message) and one that
 * just passes at the boundary.  CLAs are written in protobuf text format and
 * encoded by protoc (--encode, against proto/), an implementation independent
 * of ours, then decoded with eds_bin_decode.  Run from the repository root.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "codec.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "schema.h"

#define E EDS_SEV_ERROR
#define W EDS_SEV_WARNING

struct want {
	const char *id;
	enum eds_severity sev;
	const char *path;
	const char *msg;
};

static int npassed, nfailed;

static char *vfmt(const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	char *s = malloc((size_t)n + 1);
	if (!s)
		abort();
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

/* Encode text with protoc; returns malloc'd bytes or NULL. */
static unsigned char *protoc_encode(const char *text, size_t *len)
{
	char in[] = "/tmp/test_check_inXXXXXX", out[] = "/tmp/test_check_outXXXXXX";
	int fi = mkstemp(in), fo = mkstemp(out);
	unsigned char *data = NULL;
	char cmd[512];

	if (fi < 0 || fo < 0)
		return NULL;
	if (write(fi, text, strlen(text)) != (ssize_t)strlen(text))
		goto done;
	snprintf(cmd, sizeof cmd,
		 "protoc --encode=envoy.config.endpoint.v3.ClusterLoadAssignment -Iproto -I/usr/include "
		 "envoy/config/endpoint/v3/endpoint.proto <%s >%s 2>/dev/null",
		 in, out);
	if (system(cmd) != 0)
		goto done;
	FILE *f = fopen(out, "rb");
	if (!f)
		goto done;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 16);
	if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
		free(data);
		data = NULL;
	}
	*len = (size_t)n;
	fclose(f);
done:
	close(fi);
	close(fo);
	unlink(in);
	unlink(out);
	return data;
}

static void show(const struct eds_diags *ds, const struct want *w)
{
	fprintf(stderr, "  expected:\n");
	for (; w && w->id; w++)
		fprintf(stderr, "    [%s] %s %s: %s\n", w->id, w->sev == E ? "error" : "warning", w->path, w->msg);
	fprintf(stderr, "  got:\n");
	for (size_t i = 0; i < ds->n; i++)
		fprintf(stderr, "    [%s] %s %s: %s\n", ds->v[i].id ? ds->v[i].id : "(null)",
			ds->v[i].severity == E ? "error" : "warning", ds->v[i].path, ds->v[i].msg);
}

/* Check msg and compare the findings, in order, with want (NULL-id ended). */
static void run(const char *name, bool grpc, const ProtobufCMessage *msg, const struct want *w)
{
	struct eds_diags ds = { 0 };
	struct eds_check_opts opts = { .grpc = grpc };
	size_t nerr = eds_check_cla(msg, &opts, &ds), nw = 0, want_err = 0;
	bool ok = true;
	const char *why = "";

	for (; w && w[nw].id; nw++)
		want_err += w[nw].sev == E;
	if (ds.n != nw) {
		ok = false;
		why = "wrong number of findings";
	}
	for (size_t i = 0; ok && i < nw; i++) {
		const struct eds_diag *d = &ds.v[i];
		if (!d->id || strcmp(d->id, w[i].id) || d->severity != w[i].sev ||
		    strcmp(d->path, w[i].path) || strcmp(d->msg, w[i].msg) || d->code != EDS_FINDINGS) {
			ok = false;
			why = "finding differs";
		}
	}
	if (ok && (nerr != want_err || ds.nerrors != want_err || ds.nwarnings != nw - want_err)) {
		ok = false;
		why = "wrong error/warning counts";
	}
	/* errors_only: the same errors, in the same order, and nothing else */
	struct eds_diags eo = { 0 };
	opts.errors_only = true;
	size_t eerr = eds_check_cla(msg, &opts, &eo), k = 0;
	for (size_t i = 0; ok && i < ds.n; i++) {
		if (ds.v[i].severity != E)
			continue;
		if (k >= eo.n || strcmp(eo.v[k].id, ds.v[i].id) || strcmp(eo.v[k].path, ds.v[i].path) ||
		    strcmp(eo.v[k].msg, ds.v[i].msg) || eo.v[k].severity != E) {
			ok = false;
			why = "errors_only: an error differs or is missing";
		}
		k++;
	}
	if (ok && (k != eo.n || eerr != nerr || eo.nwarnings)) {
		ok = false;
		why = "errors_only: other findings than the errors";
	}
	eds_diags_release(&eo);
	if (ok) {
		npassed++;
	} else {
		nfailed++;
		fprintf(stderr, "FAIL %s%s: %s\n", name, grpc ? " (grpc)" : "", why);
		show(&ds, w);
	}
	eds_diags_release(&ds);
}

static void run_bytes(const char *name, bool grpc, const unsigned char *data, size_t len,
		      const struct want *w)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct eds_src src = { name, (const char *)data, len };
	struct eds_diag d = { 0 };
	ProtobufCMessage *msg = NULL;

	if (eds_bin_decode(eds_schema_cla, &src, a, &eds_limits_default, &msg, &d) != EDS_OK) {
		nfailed++;
		fprintf(stderr, "FAIL %s: cannot decode: %s\n", name, d.msg);
	} else {
		run(name, grpc, msg, w);
	}
	eds_arena_free(a);
}

static void check_text(const char *name, bool grpc, const struct want *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = vfmt(fmt, ap);
	va_end(ap);
	size_t len = 0;
	unsigned char *data = protoc_encode(text, &len);
	if (!data) {
		nfailed++;
		fprintf(stderr, "FAIL %s: protoc --encode failed for:\n%s\n", name, text);
	} else {
		run_bytes(name, grpc, data, len, w);
	}
	free(data);
	free(text);
}

#define WANT(...) ((const struct want[]){ __VA_ARGS__, { NULL, 0, NULL, NULL } })
#define NONE ((const struct want *)NULL)
/* violates / passes, in Envoy mode and in gRPC mode */
#define BAD(name, w, ...) check_text(name, false, w, __VA_ARGS__)
#define OK(name, ...) check_text(name, false, NONE, __VA_ARGS__)
#define GBAD(name, w, ...) check_text(name, true, w, __VA_ARGS__)
#define GOK(name, ...) check_text(name, true, NONE, __VA_ARGS__)

/* Text-format building blocks. */
#define SA(host, port) "address { socket_address { address: \"" host "\" port_value: " #port " } }"
#define LB(ep) "lb_endpoints { endpoint { " ep " } }"
#define CLA(loc) "cluster_name: \"c\" endpoints { " loc " }"
#define CLA1(ep) CLA(LB(ep))
#define GOOD SA("10.0.0.1", 80)
#define LOC(r) "locality { region: \"" r "\" } "
#define LEDS(cs) \
	CLA("leds_cluster_locality_config { leds_config { " cs " } " \
	    "leds_collection_name: \"xdstp://a/envoy.config.endpoint.v3.LbEndpoint/b/*\" }")
#define API(body) LEDS("api_config_source { api_type: DELTA_GRPC transport_api_version: V3 " body " }")
#define GS(body) API("grpc_services { " body " }")
#define EGRPC(body) GS("envoy_grpc { cluster_name: \"x\" " body " }")
#define GGRPC(body) GS("google_grpc { target_uri: \"t\" stat_prefix: \"s\" " body " }")

#define P_LB "endpoints[0].lb_endpoints[0]"
#define P_EP P_LB ".endpoint"
#define P_SA P_EP ".address.socket_address"
#define P_CS "endpoints[0].leds_cluster_locality_config.leds_config"
#define P_API P_CS ".api_config_source"
#define P_GS P_API ".grpc_services[0]"
#define P_EG P_GS ".envoy_grpc"
#define P_GG P_GS ".google_grpc"

static const char health_names[] =
	"UNKNOWN(0), HEALTHY(1), UNHEALTHY(2), DRAINING(3), TIMEOUT(4), DEGRADED(5)";

static void test_pgv_endpoint(void)
{
	OK("valid minimal CLA", CLA1(GOOD));
	BAD("cluster_name empty",
	    WANT({ "cluster-name-empty", E, "cluster_name", "cluster_name is empty (at least 1 character required)" }),
	    "endpoints { " LB(GOOD) " }");
	OK("cluster_name one code point", "cluster_name: \"\\303\\251\" endpoints { " LB(GOOD) " }");

	BAD("named_endpoints", WANT({ "not-implemented", W, "named_endpoints",
				      "named_endpoints is not implemented by envoy and is ignored" }),
	    CLA1(GOOD) " named_endpoints { key: \"n\" value { " GOOD " } }");
	BAD("named_endpoints value checked",
	    WANT({ "not-implemented", W, "named_endpoints", "named_endpoints is not implemented by envoy and is ignored" },
		 { "port-range", E, "named_endpoints[\"n\"].address.socket_address.port_value",
		   "port 65536 is out of range (0..65535)" }),
	    CLA1(GOOD) " named_endpoints { key: \"n\" value { " SA("10.0.0.2", 65536) " } }");

	BAD("overprovisioning_factor 0",
	    WANT({ "overprovisioning-factor", E, "policy.overprovisioning_factor",
		   "overprovisioning_factor 0 is out of range (1..4294967295)" }),
	    CLA1(GOOD) " policy { overprovisioning_factor { value: 0 } }");
	OK("overprovisioning_factor 1", CLA1(GOOD) " policy { overprovisioning_factor { value: 1 } }");

	BAD("endpoint_stale_after 0s",
	    WANT({ "duration-range", E, "policy.endpoint_stale_after",
		   "endpoint_stale_after 0s is out of range (must be greater than 0s)" }),
	    CLA1(GOOD) " policy { endpoint_stale_after { } }");
	OK("endpoint_stale_after 1ns", CLA1(GOOD) " policy { endpoint_stale_after { nanos: 1 } }");

	BAD("drop category empty",
	    WANT({ "drop-category-empty", E, "policy.drop_overloads[0].category",
		   "category is empty (at least 1 character required)" }),
	    CLA1(GOOD) " policy { drop_overloads { category: \"\" drop_percentage { numerator: 1 } } }");
	OK("drop category one char", CLA1(GOOD) " policy { drop_overloads { category: \"x\" drop_percentage { numerator: 1 } } }");

	BAD("locality weight 0",
	    WANT({ "weight-min", E, "endpoints[0].load_balancing_weight",
		   "load_balancing_weight 0 is out of range (1..4294967295)" }),
	    CLA(LOC("r") LB(GOOD) " load_balancing_weight { value: 0 }"));
	OK("locality weight 1", CLA(LOC("r") LB(GOOD) " load_balancing_weight { value: 1 }"));

	BAD("priority 129",
	    WANT({ "priority-max", E, "endpoints[0].priority", "priority 129 is out of range (0..128)" }),
	    CLA(LB(GOOD) " priority: 129"));
	BAD("priority 128 (only the gap)",
	    WANT({ "priority-gap", W, "endpoints[0].priority",
		   "priority 128 is used but priorities 0..127 have no localities (priorities must run from 0 without gaps)" }),
	    CLA(LB(GOOD) " priority: 128"));

	BAD("proximity", WANT({ "not-implemented", W, "endpoints[0].proximity",
				"proximity is not implemented by envoy and is ignored" }),
	    CLA(LB(GOOD) " proximity { value: 1 }"));

	char msg[300];
	snprintf(msg, sizeof msg, "health_status 6 is not a defined value (%s)", health_names);
	BAD("health_status 6", WANT({ "health-status-undefined", W, P_LB ".health_status", msg }),
	    CLA("lb_endpoints { endpoint { " GOOD " } health_status: 6 }"));
	OK("health_status DEGRADED", CLA("lb_endpoints { endpoint { " GOOD " } health_status: 5 }"));
	snprintf(msg, sizeof msg, "health_status -1 is not a defined value (%s)", health_names);
	BAD("health_status -1", WANT({ "health-status-undefined", W, P_LB ".health_status", msg }),
	    CLA("lb_endpoints { endpoint { " GOOD " } health_status: -1 }"));

	BAD("endpoint weight 0",
	    WANT({ "weight-min", E, P_LB ".load_balancing_weight",
		   "load_balancing_weight 0 is out of range (1..4294967295)" }),
	    CLA("lb_endpoints { endpoint { " GOOD " } load_balancing_weight { value: 0 } }"));
	OK("endpoint weight 1", CLA("lb_endpoints { endpoint { " GOOD " } load_balancing_weight { value: 1 } }"));

	BAD("health check port 65536",
	    WANT({ "port-range", E, P_EP ".health_check_config.port_value", "port 65536 is out of range (0..65535)" }),
	    CLA1(GOOD " health_check_config { port_value: 65536 }"));
	OK("health check port 65535", CLA1(GOOD " health_check_config { port_value: 65535 }"));

	BAD("filter_metadata empty key",
	    WANT({ "map-key-empty", E, P_LB ".metadata.filter_metadata[\"\"]",
		   "filter_metadata key is empty (at least 1 character required)" }),
	    CLA("lb_endpoints { endpoint { " GOOD " } metadata { filter_metadata { key: \"\" value { } } } }"));
	OK("filter_metadata key one char",
	   CLA("lb_endpoints { endpoint { " GOOD " } metadata { filter_metadata { key: \"a\" value { } } } }"));
	BAD("typed_filter_metadata empty key (locality metadata)",
	    WANT({ "map-key-empty", E, "endpoints[0].metadata.typed_filter_metadata[\"\"]",
		   "typed_filter_metadata key is empty (at least 1 character required)" }),
	    CLA(LB(GOOD) " metadata { typed_filter_metadata { key: \"a\" value { } } "
			 "typed_filter_metadata { key: \"\" value { type_url: \"type.googleapis.com/x.Y\" } } }"));

	BAD("address oneof unset",
	    WANT({ "oneof-required", E, P_EP ".address",
		   "address is not set (one of socket_address, pipe, envoy_internal_address is required)" }),
	    CLA1("address { }"));
	OK("address pipe", CLA1("address { pipe { path: \"/s\" } }"));

	snprintf(msg, sizeof msg, "protocol 2 is not a defined value (TCP(0), UDP(1))");
	BAD("protocol 2", WANT({ "enum-defined", E, P_SA ".protocol", msg }),
	    CLA1("address { socket_address { protocol: 2 address: \"10.0.0.1\" port_value: 80 } }"));
	OK("protocol UDP", CLA1("address { socket_address { protocol: UDP address: \"10.0.0.1\" port_value: 80 } }"));

	BAD("socket address empty",
	    WANT({ "address-empty", E, P_SA ".address", "address is empty (at least 1 character required)" }),
	    CLA1("address { socket_address { port_value: 80 } }"));
	OK("socket address one char",
	   CLA1("address { socket_address { address: \"a\" resolver_name: \"r\" port_value: 80 } }"));

	BAD("port_specifier unset",
	    WANT({ "oneof-required", E, P_SA,
		   "port_specifier is not set (one of port_value, named_port is required)" }),
	    CLA1("address { socket_address { address: \"10.0.0.1\" } }"));
	OK("port_value 0 counts as set", CLA1(SA("10.0.0.1", 0)));

	BAD("port 65536", WANT({ "port-range", E, P_SA ".port_value", "port 65536 is out of range (0..65535)" }),
	    CLA1(SA("10.0.0.1", 65536)));
	OK("port 65535", CLA1(SA("10.0.0.1", 65535)));

	BAD("pipe path empty",
	    WANT({ "pipe-path-empty", E, P_EP ".address.pipe.path", "path is empty (at least 1 character required)" }),
	    CLA1("address { pipe { mode: 384 } }"));
	BAD("pipe mode 512", WANT({ "pipe-mode", E, P_EP ".address.pipe.mode", "mode 512 is out of range (0..511)" }),
	    CLA1("address { pipe { path: \"@\" mode: 512 } }"));
	OK("pipe mode 511, one-char path", CLA1("address { pipe { path: \"@\" mode: 511 } }"));

	BAD("internal address name unset",
	    WANT({ "oneof-required", E, P_EP ".address.envoy_internal_address",
		   "address_name_specifier is not set (one of server_listener_name is required)" }),
	    CLA1("address { envoy_internal_address { endpoint_id: \"e\" } }"));
	OK("internal address empty name counts as set",
	   CLA1("address { envoy_internal_address { server_listener_name: \"\" } }"));

	BAD("drop denominator 3",
	    WANT({ "enum-defined", E, "policy.drop_overloads[0].drop_percentage.denominator",
		   "denominator 3 is not a defined value (HUNDRED(0), TEN_THOUSAND(1), MILLION(2))" }),
	    CLA1(GOOD) " policy { drop_overloads { category: \"x\" drop_percentage { numerator: 1 denominator: 3 } } }");
	OK("drop denominator MILLION",
	   CLA1(GOOD) " policy { drop_overloads { category: \"x\" drop_percentage { numerator: 1 denominator: MILLION } } }");
}

static void test_pgv_config_source(void)
{
	OK("leds with ads", LEDS("ads { }"));
	OK("leds api_config_source", API(""));

	BAD("config source specifier unset",
	    WANT({ "oneof-required", E, P_CS,
		   "config_source_specifier is not set (one of path, api_config_source, ads, self, path_config_source is required)" }),
	    LEDS(""));
#define NOT_LEDS(leaf, what) \
	{ "leds-config-source", E, P_CS "." leaf, "leds_config is a " what " config source; " \
	  "envoy fetches a LEDS collection only through ads or an api_config_source of api_type DELTA_GRPC, AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC" }
	BAD("config source self", WANT(NOT_LEDS("self", "self")), LEDS("self { }"));
	BAD("config source path is deprecated",
	    WANT({ "deprecated-field", W, P_CS ".path", "path is deprecated" }, NOT_LEDS("path", "path")),
	    LEDS("path: \"/x\""));

	BAD("resource_api_version 3",
	    WANT({ "enum-defined", E, P_CS ".resource_api_version",
		   "resource_api_version 3 is not a defined value (AUTO(0), V2(1), V3(2))" }),
	    LEDS("ads { } resource_api_version: 3"));
	BAD("resource_api_version V2",
	    WANT({ "deprecated-enum", W, P_CS ".resource_api_version", "resource_api_version V2 is deprecated" }),
	    LEDS("ads { } resource_api_version: V2"));
	OK("resource_api_version V3", LEDS("ads { } resource_api_version: V3"));

	BAD("authority name empty",
	    WANT({ "string-min-len", E, P_CS ".authorities[1].name", "name is empty (at least 1 character required)" }),
	    LEDS("ads { } authorities { name: \"a\" } authorities { }"));
	/* (a path_config_source cannot serve LEDS: its own rules still apply) */
	BAD("path_config_source path empty",
	    WANT({ "string-min-len", E, P_CS ".path_config_source.path", "path is empty (at least 1 character required)" },
		 NOT_LEDS("path_config_source", "path_config_source")),
	    LEDS("path_config_source { }"));
	BAD("watched_directory path empty",
	    WANT({ "string-min-len", E, P_CS ".path_config_source.watched_directory.path",
		   "path is empty (at least 1 character required)" },
		 NOT_LEDS("path_config_source", "path_config_source")),
	    LEDS("path_config_source { path: \"p\" watched_directory { } }"));
	BAD("watched_directory path one char", WANT(NOT_LEDS("path_config_source", "path_config_source")),
	    LEDS("path_config_source { path: \"p\" watched_directory { path: \"w\" } }"));

	BAD("api_type 4",
	    WANT({ "enum-defined", E, P_API ".api_type",
		   "api_type 4 is not a defined value (DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE(0), REST(1), GRPC(2), "
		   "DELTA_GRPC(3), AGGREGATED_GRPC(5), AGGREGATED_DELTA_GRPC(6))" },
		 { "leds-config-source", E, P_API ".api_type", "api_type 4 cannot fetch a LEDS collection (envoy takes "
		   "DELTA_GRPC, AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC, or ads)" }),
	    LEDS("api_config_source { api_type: 4 transport_api_version: V3 }"));
	BAD("transport_api_version 3",
	    WANT({ "enum-defined", E, P_API ".transport_api_version",
		   "transport_api_version 3 is not a defined value (AUTO(0), V2(1), V3(2))" }),
	    LEDS("api_config_source { api_type: DELTA_GRPC transport_api_version: 3 }"));
	BAD("transport_api_version AUTO",
	    WANT({ "transport-api-version", W, P_API ".transport_api_version",
		   "transport_api_version is AUTO; envoy expects V3" }),
	    LEDS("api_config_source { api_type: DELTA_GRPC }"));
	BAD("transport_api_version V2",
	    WANT({ "transport-api-version", W, P_API ".transport_api_version",
		   "transport_api_version is V2; envoy expects V3" }),
	    LEDS("api_config_source { api_type: DELTA_GRPC transport_api_version: V2 }"));

	/* LEDS through ads or delta/aggregated gRPC only */
	OK("leds api_type AGGREGATED_GRPC", LEDS("api_config_source { api_type: AGGREGATED_GRPC transport_api_version: V3 }"));
	OK("leds api_type AGGREGATED_DELTA_GRPC",
	   LEDS("api_config_source { api_type: AGGREGATED_DELTA_GRPC transport_api_version: V3 }"));
	BAD("leds api_type GRPC",
	    WANT({ "leds-config-source", E, P_API ".api_type", "api_type GRPC cannot fetch a LEDS collection (envoy takes "
		   "DELTA_GRPC, AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC, or ads)" }),
	    LEDS("api_config_source { api_type: GRPC transport_api_version: V3 }"));
	BAD("leds api_type REST",
	    WANT({ "leds-config-source", E, P_API ".api_type", "api_type REST cannot fetch a LEDS collection (envoy takes "
		   "DELTA_GRPC, AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC, or ads)" }),
	    LEDS("api_config_source { api_type: REST transport_api_version: V3 }"));

	BAD("request_timeout 0s",
	    WANT({ "duration-range", E, P_API ".request_timeout",
		   "request_timeout 0s is out of range (must be greater than 0s)" }),
	    API("request_timeout { }"));
	OK("request_timeout 1ns", API("request_timeout { nanos: 1 }"));

	BAD("self transport_api_version 9",
	    WANT({ "enum-defined", E, P_CS ".self.transport_api_version",
		   "transport_api_version 9 is not a defined value (AUTO(0), V2(1), V3(2))" },
		 NOT_LEDS("self", "self")),
	    LEDS("self { transport_api_version: 9 }"));
	BAD("self transport_api_version V2",
	    WANT({ "deprecated-enum", W, P_CS ".self.transport_api_version", "transport_api_version V2 is deprecated" },
		 NOT_LEDS("self", "self")),
	    LEDS("self { transport_api_version: V2 }"));

	BAD("fill_rate 0",
	    WANT({ "fill-rate", E, P_API ".rate_limit_settings.fill_rate",
		   "fill_rate 0 is out of range (must be finite and greater than 0)" }),
	    API("rate_limit_settings { fill_rate { } }"));
	BAD("fill_rate nan",
	    WANT({ "fill-rate", E, P_API ".rate_limit_settings.fill_rate",
		   "fill_rate nan is out of range (must be finite and greater than 0)" }),
	    API("rate_limit_settings { fill_rate { value: nan } }"));
	BAD("fill_rate inf",
	    WANT({ "fill-rate", E, P_API ".rate_limit_settings.fill_rate",
		   "fill_rate inf is out of range (must be finite and greater than 0)" }),
	    API("rate_limit_settings { fill_rate { value: inf } }"));
	OK("fill_rate 1e-300", API("rate_limit_settings { fill_rate { value: 1e-300 } }"));
	OK("fill_rate 1.7976931348623157e308", API("rate_limit_settings { fill_rate { value: 1.7976931348623157e308 } }"));
	OK("fill_rate absent", API("rate_limit_settings { max_tokens { } }"));

	BAD("typed extension name empty",
	    WANT({ "string-min-len", E, P_API ".config_validators[0].name",
		   "name is empty (at least 1 character required)" }),
	    API("config_validators { typed_config { type_url: \"type.googleapis.com/x.Y\" } }"));
	BAD("typed extension config missing",
	    WANT({ "any-required", E, P_API ".config_validators[0].typed_config", "typed_config is not set (required)" }),
	    API("config_validators { name: \"n\" }"));
	OK("typed extension", API("config_validators { name: \"n\" typed_config { } }"));

	BAD("grpc service target unset",
	    WANT({ "oneof-required", E, P_GS,
		   "target_specifier is not set (one of envoy_grpc, google_grpc is required)" }),
	    GS(""));
	BAD("envoy_grpc cluster_name empty",
	    WANT({ "string-min-len", E, P_EG ".cluster_name", "cluster_name is empty (at least 1 character required)" }),
	    GS("envoy_grpc { }"));
	OK("envoy_grpc", EGRPC(""));

	char *big = malloc(16386);
	memset(big, 'a', 16385);
	big[16385] = '\0';
	BAD("authority 16385 bytes",
	    WANT({ "header-size", E, P_EG ".authority", "authority is 16385 bytes long (at most 16384 allowed)" }),
	    EGRPC("authority: \"%s\""), big);
	BAD("authority LF",
	    WANT({ "header-chars", E, P_EG ".authority",
		   "authority \"a\\x0ab\" contains LF at byte 1 (NUL, CR and LF are not allowed in headers)" }),
	    EGRPC("authority: \"a\\nb\""));
	BAD("header key empty",
	    WANT({ "string-min-len", E, P_GS ".initial_metadata[0].key", "key is empty (at least 1 character required)" }),
	    GS("envoy_grpc { cluster_name: \"x\" } initial_metadata { value: \"v\" }"));
	BAD("header key 16385 bytes, CR",
	    WANT({ "header-size", E, P_GS ".initial_metadata[0].key", "key is 16385 bytes long (at most 16384 allowed)" },
		 { "header-chars", E, P_GS ".initial_metadata[1].key",
		   "key \"a\\x0d\" contains CR at byte 1 (NUL, CR and LF are not allowed in headers)" }),
	    GS("envoy_grpc { cluster_name: \"x\" } initial_metadata { key: \"%s\" } "
	       "initial_metadata { key: \"a\\r\" }"), big);
	BAD("header value 16385 bytes, LF",
	    WANT({ "header-size", E, P_GS ".initial_metadata[0].value", "value is 16385 bytes long (at most 16384 allowed)" },
		 { "header-chars", E, P_GS ".initial_metadata[1].value",
		   "value \"\\x0a\" contains LF at byte 0 (NUL, CR and LF are not allowed in headers)" }),
	    GS("envoy_grpc { cluster_name: \"x\" } initial_metadata { key: \"k\" value: \"%s\" } "
	       "initial_metadata { key: \"k\" value: \"\\n\" }"), big);
	BAD("header raw_value 16385 bytes",
	    WANT({ "header-size", E, P_GS ".initial_metadata[0].raw_value",
		   "raw_value is 16385 bytes long (at most 16384 allowed)" }),
	    GS("envoy_grpc { cluster_name: \"x\" } initial_metadata { key: \"k\" raw_value: \"%s\" }"), big);
	big[16384] = '\0';
	OK("headers of 16384 bytes",
	   GS("envoy_grpc { cluster_name: \"x\" authority: \"%s\" } initial_metadata { key: \"%s\" value: \"%s\" raw_value: \"%s\" }"),
	   big, big, big, big);
	free(big);

	BAD("google_grpc target_uri and stat_prefix empty",
	    WANT({ "string-min-len", E, P_GG ".target_uri", "target_uri is empty (at least 1 character required)" },
		 { "string-min-len", E, P_GG ".stat_prefix", "stat_prefix is empty (at least 1 character required)" }),
	    GS("google_grpc { }"));
	OK("google_grpc", GGRPC(""));
	BAD("channel credentials unset",
	    WANT({ "oneof-required", E, P_GG ".channel_credentials",
		   "credential_specifier is not set (one of ssl_credentials, google_default, local_credentials is required)" }),
	    GGRPC("channel_credentials { }"));
	OK("channel credentials google_default", GGRPC("channel_credentials { google_default { } }"));
	BAD("call credentials unset",
	    WANT({ "oneof-required", E, P_GG ".call_credentials[0]",
		   "credential_specifier is not set (one of access_token, google_compute_engine, "
		   "google_refresh_token, service_account_jwt_access, google_iam, from_plugin, sts_service is required)" }),
	    GGRPC("call_credentials { }"));
	OK("call credentials empty access_token", GGRPC("call_credentials { access_token: \"\" }"));
	BAD("sts subject token path and type empty",
	    WANT({ "string-min-len", E, P_GG ".call_credentials[0].sts_service.subject_token_path",
		   "subject_token_path is empty (at least 1 character required)" },
		 { "string-min-len", E, P_GG ".call_credentials[0].sts_service.subject_token_type",
		   "subject_token_type is empty (at least 1 character required)" }),
	    GGRPC("call_credentials { sts_service { } }"));
	OK("sts", GGRPC("call_credentials { sts_service { subject_token_path: \"p\" subject_token_type: \"t\" } }"));
	BAD("channel arg value unset",
	    WANT({ "oneof-required", E, P_GG ".channel_args.args[\"k\"]",
		   "value_specifier is not set (one of string_value, int_value is required)" }),
	    GGRPC("channel_args { args { key: \"k\" value { } } }"));
	OK("channel arg int 0", GGRPC("channel_args { args { key: \"k\" value { int_value: 0 } } }"));
	BAD("ssl credentials data sources",
	    WANT({ "oneof-required", E, P_GG ".channel_credentials.ssl_credentials.root_certs",
		   "specifier is not set (one of filename, inline_bytes, inline_string, environment_variable is required)" },
		 { "string-min-len", E, P_GG ".channel_credentials.ssl_credentials.private_key.filename",
		   "filename is empty (at least 1 character required)" },
		 { "string-min-len", E, P_GG ".channel_credentials.ssl_credentials.cert_chain.environment_variable",
		   "environment_variable is empty (at least 1 character required)" }),
	    GGRPC("channel_credentials { ssl_credentials { root_certs { } private_key { filename: \"\" } "
		  "cert_chain { environment_variable: \"\" } } }"));
	OK("ssl credentials", GGRPC("channel_credentials { ssl_credentials { root_certs { inline_bytes: \"\" } "
				    "private_key { filename: \"f\" } cert_chain { environment_variable: \"E\" } } }"));

	BAD("retry priority and host predicate names empty",
	    WANT({ "string-min-len", E, P_EG ".retry_policy.retry_priority.name",
		   "name is empty (at least 1 character required)" },
		 { "string-min-len", E, P_EG ".retry_policy.retry_host_predicate[0].name",
		   "name is empty (at least 1 character required)" }),
	    EGRPC("retry_policy { retry_priority { } retry_host_predicate { } }"));
	BAD("backoff base_interval missing, max_interval 0s",
	    WANT({ "duration-range", E, P_EG ".retry_policy.retry_back_off.base_interval",
		   "base_interval is not set (required)" },
		 { "duration-range", E, P_EG ".retry_policy.retry_back_off.max_interval",
		   "max_interval 0s is out of range (must be greater than 0s)" }),
	    EGRPC("retry_policy { retry_back_off { max_interval { } } }"));
	BAD("backoff base_interval below 1ms",
	    WANT({ "duration-range", E, P_GS ".retry_policy.retry_back_off.base_interval",
		   "base_interval 0.000999999s is out of range (must be at least 0.001s)" }),
	    GS("envoy_grpc { cluster_name: \"x\" } retry_policy { retry_back_off { base_interval { nanos: 999999 } } }"));
	OK("backoff base_interval 1ms", EGRPC("retry_policy { retry_back_off { base_interval { nanos: 1000000 } max_interval { nanos: 1 } } }"));
}

static void test_generic(void)
{
	BAD("duration negative",
	    WANT({ "duration-invalid", E, "policy.endpoint_stale_after",
		   "duration -1.500s is negative (envoy expects a positive duration)" }),
	    CLA1(GOOD) " policy { endpoint_stale_after { seconds: -1 nanos: -500000000 } }");
	BAD("duration nanos out of range",
	    WANT({ "duration-invalid", E, "policy.endpoint_stale_after",
		   "duration {seconds: 1, nanos: 1000000000} is not a valid google.protobuf.Duration "
		   "(seconds at most 315576000000, nanos 0..999999999)" }),
	    CLA1(GOOD) " policy { endpoint_stale_after { seconds: 1 nanos: 1000000000 } }");
	BAD("duration above envoy's limit",
	    WANT({ "duration-invalid", E, "policy.endpoint_stale_after",
		   "duration 9223372036s is out of range (envoy allows at most 9223372035s)" }),
	    CLA1(GOOD) " policy { endpoint_stale_after { seconds: 9223372036 } }");
	BAD("duration above protobuf's limit",
	    WANT({ "duration-invalid", E, "policy.endpoint_stale_after",
		   "duration 315576000001s is not a valid google.protobuf.Duration "
		   "(seconds at most 315576000000, nanos 0..999999999)" }),
	    CLA1(GOOD) " policy { endpoint_stale_after { seconds: 315576000001 } }");
	OK("duration at envoy's limit", CLA1(GOOD) " policy { endpoint_stale_after { seconds: 9223372035 nanos: 999999999 } }");
	BAD("duration without PGV rule (initial_fetch_timeout)",
	    WANT({ "duration-invalid", E, P_CS ".initial_fetch_timeout",
		   "duration -0.000001s is negative (envoy expects a positive duration)" }),
	    LEDS("ads { } initial_fetch_timeout { nanos: -1000 }"));

	BAD("load_balancer_endpoints deprecated",
	    WANT({ "deprecated-field", W, "endpoints[0].load_balancer_endpoints", "load_balancer_endpoints is deprecated" }),
	    CLA(LB(GOOD) " load_balancer_endpoints { }"));
	BAD("load_balancer_endpoints content is validated",
	    WANT({ "deprecated-field", W, "endpoints[0].load_balancer_endpoints", "load_balancer_endpoints is deprecated" },
		 { "port-range", E, "endpoints[0].load_balancer_endpoints.lb_endpoints[0].endpoint.address.socket_address.port_value",
		   "port 70000 is out of range (0..65535)" }),
	    CLA(LB(GOOD) " load_balancer_endpoints { " LB(SA("10.0.0.9", 70000)) " }"));

	/* Unknown fields survive binary decoding; field 99 (varint 1), then 98 twice. */
	size_t len = 0;
	unsigned char *data = protoc_encode(CLA1(GOOD), &len);
	if (!data) {
		nfailed++;
		fprintf(stderr, "FAIL unknown field: protoc\n");
		return;
	}
	memcpy(data + len, "\x98\x06\x01\x90\x06\x02\x90\x06\x03", 9);
	run_bytes("unknown field", false, data, len + 9,
		  WANT({ "unknown-field", W, "",
			 "unknown field 99 (varint) in envoy.config.endpoint.v3.ClusterLoadAssignment is ignored" },
		       { "unknown-field", W, "",
			 "unknown field 98 (varint) in envoy.config.endpoint.v3.ClusterLoadAssignment is ignored" }));
	run_bytes("no unknown field", false, data, len, NONE);
	free(data);
}

static void test_semantic(void)
{
	/* E3, E20: LEDS */
	BAD("leds with lb_endpoints",
	    WANT({ "leds-with-endpoints", E, "endpoints[0].lb_endpoints",
		   "locality has both leds_cluster_locality_config and 1 lb_endpoints (envoy rejects the assignment)" }),
	    CLA(LB(GOOD) " leds_cluster_locality_config { leds_config { ads { } } "
			 "leds_collection_name: \"xdstp://a/envoy.config.endpoint.v3.LbEndpoint/b/*\" }"));
	BAD("leds without config source",
	    WANT({ "leds-config-required", E, "endpoints[0].leds_cluster_locality_config.leds_config",
		   "leds_config is not set (envoy needs a config source to fetch the endpoints)" }),
	    CLA("leds_cluster_locality_config { leds_collection_name: \"xdstp://a/envoy.config.endpoint.v3.LbEndpoint/b/*\" }"));
	BAD("leds collection not xdstp",
	    WANT({ "leds-collection-name", E, "endpoints[0].leds_cluster_locality_config.leds_collection_name",
		   "leds_collection_name \"xdstp:/a/t/*\" is not an xdstp:// URL" }),
	    CLA("leds_cluster_locality_config { leds_config { ads { } } leds_collection_name: \"xdstp:/a/t/*\" }"));
	BAD("leds collection not a glob",
	    WANT({ "leds-collection-glob", W, "endpoints[0].leds_cluster_locality_config.leds_collection_name",
		   "leds_collection_name \"xdstp://a/envoy.config.endpoint.v3.LbEndpoint/b\" is not a glob collection ending in /* (the only kind envoy supports)" }),
	    CLA("leds_cluster_locality_config { leds_config { ads { } } leds_collection_name: \"xdstp://a/envoy.config.endpoint.v3.LbEndpoint/b\" }"));
	OK("leds shortest glob",
	   CLA("leds_cluster_locality_config { leds_config { ads { } } leds_collection_name: \"xdstp:///envoy.config.endpoint.v3.LbEndpoint/*\" }"));
	BAD("leds collection of another type",
	    WANT({ "leds-collection-name", E, "endpoints[0].leds_cluster_locality_config.leds_collection_name",
		   "leds_collection_name \"xdstp://a/envoy.config.endpoint.v3.LbEndpoint.X/b/*\" does not name the resource type envoy.config.endpoint.v3.LbEndpoint "
		   "(xdstp://AUTHORITY/envoy.config.endpoint.v3.LbEndpoint/ID/*)" }),
	    CLA("leds_cluster_locality_config { leds_config { ads { } } leds_collection_name: \"xdstp://a/envoy.config.endpoint.v3.LbEndpoint.X/b/*\" }"));
	BAD("leds collection without a type",
	    WANT({ "leds-collection-name", E, "endpoints[0].leds_cluster_locality_config.leds_collection_name",
		   "leds_collection_name \"xdstp://a\" does not name the resource type envoy.config.endpoint.v3.LbEndpoint "
		   "(xdstp://AUTHORITY/envoy.config.endpoint.v3.LbEndpoint/ID/*)" }),
	    CLA("leds_cluster_locality_config { leds_config { ads { } } leds_collection_name: \"xdstp://a\" }"));

	/* E4, E5: drops */
	BAD("two drop_overloads",
	    WANT({ "drop-overloads-count", E, "policy.drop_overloads[1]",
		   "drop_overloads has 2 entries (envoy accepts at most 1)" }),
	    CLA1(GOOD) " policy { drop_overloads { category: \"a\" drop_percentage { } } "
		       "drop_overloads { category: \"b\" drop_percentage { } } }");
	BAD("drop above 100%",
	    WANT({ "drop-ratio", E, "policy.drop_overloads[0].drop_percentage.numerator",
		   "drop_percentage 101/100 is above 100% (numerator at most 100)" }),
	    CLA1(GOOD) " policy { drop_overloads { category: \"a\" drop_percentage { numerator: 101 } } }");
	OK("drop 100%", CLA1(GOOD) " policy { drop_overloads { category: \"a\" drop_percentage { numerator: 100 } } }");
	BAD("drop above 100% (million)",
	    WANT({ "drop-ratio", E, "policy.drop_overloads[0].drop_percentage.numerator",
		   "drop_percentage 1000001/1000000 is above 100% (numerator at most 1000000)" }),
	    CLA1(GOOD) " policy { drop_overloads { category: \"a\" drop_percentage { numerator: 1000001 denominator: MILLION } } }");
	OK("drop without percentage (envoy)", CLA1(GOOD) " policy { drop_overloads { category: \"a\" } }");

	/* E8 */
	BAD("lb_endpoint without endpoint",
	    WANT({ "endpoint-required", E, P_LB,
		   "endpoint is not set (every lb_endpoint needs an endpoint with an address)" }),
	    CLA("lb_endpoints { }"));
	BAD("lb_endpoint with endpoint_name",
	    WANT({ "endpoint-required", E, P_LB ".endpoint_name",
		   "endpoint_name \"n\" is not implemented by envoy (set endpoint instead)" }),
	    CLA("lb_endpoints { endpoint_name: \"n\" }"));
	BAD("endpoint without address",
	    WANT({ "address-required", E, P_EP ".address", "address is not set (envoy needs an address for every endpoint)" }),
	    CLA1("hostname: \"h\""));
	BAD("additional address without address",
	    WANT({ "address-required", E, P_EP ".additional_addresses[1].address",
		   "address is not set (envoy needs an address for every additional address)" }),
	    CLA1(GOOD " additional_addresses { " SA("::1", 80) " } additional_addresses { }"));

	/* E9 */
	BAD("host name without resolver",
	    WANT({ "ip-literal", E, P_SA ".address",
		   "address \"backend.local\" is not an IP address (set resolver_name, or use a STRICT_DNS or "
		   "LOGICAL_DNS cluster for host names)" }),
	    CLA1(SA("backend.local", 80)));
	BAD("ipv4 with leading zero",
	    WANT({ "ip-literal", E, P_SA ".address",
		   "address \"10.0.0.01\" is not an IP address (set resolver_name, or use a STRICT_DNS or "
		   "LOGICAL_DNS cluster for host names)" }),
	    CLA1(SA("10.0.0.01", 80)));
	BAD("additional and health check addresses are IPs too",
	    WANT({ "ip-literal", E, P_EP ".health_check_config.address.socket_address.address",
		   "address \"hc\" is not an IP address (set resolver_name, or use a STRICT_DNS or "
		   "LOGICAL_DNS cluster for host names)" },
		 { "ip-literal", E, P_EP ".additional_addresses[0].address.socket_address.address",
		   "address \"1.2.3\" is not an IP address (set resolver_name, or use a STRICT_DNS or "
		   "LOGICAL_DNS cluster for host names)" }),
	    CLA1(GOOD " health_check_config { address { socket_address { address: \"hc\" port_value: 1 } } }"
		      " additional_addresses { " SA("1.2.3", 80) " }"));
	OK("IP literals and custom resolver",
	   "cluster_name: \"c\" endpoints { " LB(SA("::1", 80)) LB(SA("fe80::1%%eth0", 80)) LB(SA("0.0.0.0", 80))
	   LB("address { socket_address { address: \"backend.local\" resolver_name: \"r\" port_value: 80 } }") " }");
	GBAD("gRPC ignores resolver_name",
	     WANT({ "ip-literal", E, P_SA ".address",
		    "address \"backend.local\" is not an IP address (gRPC clients ignore resolver_name)" }),
	     CLA(LOC("r") LB("address { socket_address { address: \"backend.local\" resolver_name: \"r\" port_value: 80 } }")
		 " load_balancing_weight { value: 1 }"));
	BAD("named port without resolver",
	    WANT({ "named-port", E, P_SA ".named_port",
		   "named_port \"http\" needs a custom resolver_name (the default IP resolver only takes port_value)" }),
	    CLA1("address { socket_address { address: \"10.0.0.1\" named_port: \"http\" } }"));
	OK("named port with resolver",
	   CLA1("address { socket_address { address: \"10.0.0.1\" named_port: \"http\" resolver_name: \"r\" } }"));
	GBAD("gRPC rejects named port",
	     WANT({ "named-port", E, P_SA ".named_port",
		    "named_port \"http\" is not supported by gRPC clients (set port_value)" }),
	     CLA(LOC("r") LB("address { socket_address { address: \"10.0.0.1\" named_port: \"http\" resolver_name: \"r\" } }")
		 " load_balancing_weight { value: 1 }"));

	/* E10, E11 */
	BAD("health check port on a pipe",
	    WANT({ "health-check-port-non-ip", E, P_EP ".health_check_config.port_value",
		   "health check port 8080 needs an IP endpoint address, but the address is a pipe" }),
	    CLA1("address { pipe { path: \"/s\" } } health_check_config { port_value: 8080 }"));
	OK("health check port 0 on a pipe", CLA1("address { pipe { path: \"/s\" } } health_check_config { hostname: \"h\" }"));
	BAD("network namespace",
	    WANT({ "network-namespace", E, P_SA ".network_namespace_filepath",
		   "network_namespace_filepath \"/var/run/netns/a\" is set (envoy rejects network namespaces on "
		   "endpoint addresses)" }),
	    CLA1("address { socket_address { address: \"10.0.0.1\" port_value: 80 "
		 "network_namespace_filepath: \"/var/run/netns/a\" } }"));

	/* E12 */
	BAD("duplicate address across priorities",
	    WANT({ "duplicate-address", W, "endpoints[1].lb_endpoints[1].endpoint.address",
		   "address [0::1]:80 duplicates endpoints[0].lb_endpoints[0] (envoy silently keeps only the first)" }),
	    "cluster_name: \"c\" endpoints { " LB(SA("::1", 80)) " } endpoints { priority: 1 " LB(SA("::1", 81))
	    LB(SA("0::1", 80)) " }");
	OK("same IP, other port; same port, other IP",
	   "cluster_name: \"c\" endpoints { " LB(SA("10.0.0.1", 80)) LB(SA("10.0.0.1", 81)) LB(SA("10.0.0.2", 80)) " }");
	BAD("duplicate pipe and internal address",
	    WANT({ "duplicate-address", W, "endpoints[0].lb_endpoints[2].endpoint.address",
		   "address pipe \"/s\" duplicates endpoints[0].lb_endpoints[0] (envoy silently keeps only the first)" },
		 { "duplicate-address", W, "endpoints[0].lb_endpoints[3].endpoint.address",
		   "address envoy://l/e duplicates endpoints[0].lb_endpoints[1] (envoy silently keeps only the first)" }),
	    CLA(LB("address { pipe { path: \"/s\" } }")
		LB("address { envoy_internal_address { server_listener_name: \"l\" endpoint_id: \"e\" } }")
		LB("address { pipe { path: \"/s\" mode: 1 } }")
		LB("address { envoy_internal_address { server_listener_name: \"l\" endpoint_id: \"e\" } }")
		LB("address { envoy_internal_address { server_listener_name: \"l\" endpoint_id: \"f\" } }")));
	BAD("additional address duplicates (envoy: not compared)", NONE,
	    CLA1(GOOD " additional_addresses { " SA("10.0.0.1", 80) " }"));
	GBAD("gRPC: duplicate is an error, additional addresses count",
	     WANT({ "duplicate-address", E, P_EP ".additional_addresses[0].address",
		    "address 10.0.0.1:80 duplicates endpoints[0].lb_endpoints[0] (gRPC clients reject the resource)" },
		  { "duplicate-address", E, "endpoints[0].lb_endpoints[1].endpoint.address",
		    "address 10.0.0.1:80 duplicates endpoints[0].lb_endpoints[0] (gRPC clients reject the resource)" }),
	     CLA(LOC("r") LB(GOOD " additional_addresses { " SA("10.0.0.1", 80) " }") LB(GOOD)
		 " load_balancing_weight { value: 1 }"));

	/* E14 */
	BAD("locality weights mixed",
	    WANT({ "locality-weight-mixed", W, "endpoints[1]",
		   "locality has no load_balancing_weight but 1 of 2 localities at priority 0 have one "
		   "(with locality-weighted load balancing it gets no traffic)" }),
	    "cluster_name: \"c\" endpoints { " LOC("a") LB(SA("10.0.0.1", 80)) " load_balancing_weight { value: 1 } }"
	    " endpoints { " LOC("b") LB(SA("10.0.0.2", 80)) " }"
	    " endpoints { " LOC("c") LB(SA("10.0.0.3", 80)) " priority: 1 }");
	OK("locality weights all set",
	   "cluster_name: \"c\" endpoints { " LOC("a") LB(SA("10.0.0.1", 80)) " load_balancing_weight { value: 1 } }"
	   " endpoints { " LOC("b") LB(SA("10.0.0.2", 80)) " load_balancing_weight { value: 2 } }"
	   " endpoints { " LOC("c") LB(SA("10.0.0.3", 80)) " priority: 1 }");
	BAD("locality weight without locality",
	    WANT({ "locality-weight-ignored", W, "endpoints[0].load_balancing_weight",
		   "load_balancing_weight is ignored because locality is not set" }),
	    CLA(LB(GOOD) " load_balancing_weight { value: 3 }"));

	/* E15 */
	BAD("endpoint weight sum above uint32",
	    WANT({ "weight-sum", E, "endpoints[0].lb_endpoints[1].load_balancing_weight",
		   "sum of endpoint weights in the locality reaches 4294967296 here (at most 4294967295)" }),
	    CLA("lb_endpoints { endpoint { " SA("10.0.0.1", 80) " } load_balancing_weight { value: 4294967295 } }"
		"lb_endpoints { endpoint { " SA("10.0.0.2", 80) " } }"
		"lb_endpoints { endpoint { " SA("10.0.0.3", 80) " } }"));
	OK("endpoint weight sum at uint32 max",
	   CLA("lb_endpoints { endpoint { " SA("10.0.0.1", 80) " } load_balancing_weight { value: 4294967294 } }"
	       "lb_endpoints { endpoint { " SA("10.0.0.2", 80) " } }"));
	BAD("locality weight sum above uint32",
	    WANT({ "weight-sum", E, "endpoints[1].load_balancing_weight",
		   "sum of locality weights at priority 0 reaches 4294967296 here (at most 4294967295)" }),
	    "cluster_name: \"c\" endpoints { " LOC("a") LB(SA("10.0.0.1", 80)) " load_balancing_weight { value: 4294967295 } }"
	    " endpoints { " LOC("b") LB(SA("10.0.0.2", 80)) " load_balancing_weight { value: 1 } }");
	OK("locality weight sum at uint32 max",
	   "cluster_name: \"c\" endpoints { " LOC("a") LB(SA("10.0.0.1", 80)) " load_balancing_weight { value: 4294967294 } }"
	   " endpoints { " LOC("b") LB(SA("10.0.0.2", 80)) " load_balancing_weight { value: 1 } }"
	   " endpoints { " LOC("c") LB(SA("10.0.0.3", 80)) " load_balancing_weight { value: 4294967295 } priority: 1 }");

	/* E16 */
	BAD("priority gap",
	    WANT({ "priority-gap", W, "endpoints[1].priority",
		   "priority 2 is used but priority 1 has no localities (priorities must run from 0 without gaps)" }),
	    "cluster_name: \"c\" endpoints { " LB(SA("10.0.0.1", 80)) " } endpoints { priority: 2 " LB(SA("10.0.0.2", 80)) " }");
	OK("priorities contiguous (unordered)",
	   "cluster_name: \"c\" endpoints { priority: 1 } endpoints { priority: 0 } endpoints { priority: 2 }");
	BAD("priority 0 missing",
	    WANT({ "priority-gap", W, "endpoints[0].priority",
		   "priority 1 is used but priority 0 has no localities (priorities must run from 0 without gaps)" }),
	    "cluster_name: \"c\" endpoints { priority: 1 }");
	GBAD("gRPC: priority gap is an error",
	     WANT({ "priority-gap", E, "endpoints[1].priority",
		    "priority 3 is used but priorities 1..2 have no localities (priorities must run from 0 without gaps)" }),
	     "cluster_name: \"c\" endpoints { " LOC("a") " load_balancing_weight { value: 1 } }"
	     " endpoints { " LOC("a") " load_balancing_weight { value: 1 } priority: 3 }");
}

static void test_grpc(void)
{
	GOK("gRPC: valid", CLA(LOC("r") LB(GOOD) " load_balancing_weight { value: 1 }"));
	GBAD("gRPC: locality and weight required",
	     WANT({ "locality-required", E, "endpoints[0]", "locality is not set (gRPC clients require it)" },
		  { "locality-weight-required", E, "endpoints[0]",
		    "load_balancing_weight is not set (gRPC clients drop localities without a weight)" }),
	     CLA1(GOOD));
	GBAD("gRPC: socket address required",
	     WANT({ "socket-address-required", E, P_EP ".address", "address is a pipe (gRPC clients need a socket_address)" },
		  { "socket-address-required", E, P_EP ".additional_addresses[0].address",
		    "address is an envoy_internal_address (gRPC clients need a socket_address)" }),
	     CLA(LOC("r") LB("address { pipe { path: \"/s\" } } additional_addresses { address { "
			     "envoy_internal_address { server_listener_name: \"l\" } } }")
		 " load_balancing_weight { value: 1 }"));
	GBAD("gRPC: duplicate locality in a priority",
	     WANT({ "duplicate-locality", E, "endpoints[2].locality",
		    "locality at priority 0 duplicates endpoints[0] (gRPC clients reject the resource)" }),
	     "cluster_name: \"c\" endpoints { " LOC("a") LB(SA("10.0.0.1", 80)) " load_balancing_weight { value: 1 } }"
	     " endpoints { " LOC("a") LB(SA("10.0.0.2", 80)) " load_balancing_weight { value: 1 } priority: 1 }"
	     " endpoints { " LOC("a") LB(SA("10.0.0.3", 80)) " load_balancing_weight { value: 1 } }");
	GOK("gRPC: same region, other zone",
	    "cluster_name: \"c\" endpoints { " LOC("a") LB(SA("10.0.0.1", 80)) " load_balancing_weight { value: 1 } }"
	    " endpoints { locality { region: \"a\" zone: \"z\" } " LB(SA("10.0.0.2", 80)) " load_balancing_weight { value: 1 } }");
	GBAD("gRPC: drop_percentage required",
	     WANT({ "drop-percentage-required", E, "policy.drop_overloads[0].drop_percentage",
		    "drop_percentage is not set (gRPC clients require it)" }),
	     CLA(LOC("r") LB(GOOD) " load_balancing_weight { value: 1 }") " policy { drop_overloads { category: \"a\" } }");
}

static void test_eg_snapshot(void)
{
	static const char eg[] =
		"cluster_name: \"httproute/default/backend/rule/0\"\n"
		"endpoints {\n"
		"  locality { region: \"us-east-1\" zone: \"us-east-1a\" }\n"
		"  lb_endpoints {\n"
		"    endpoint { address { socket_address { address: \"10.0.1.10\" port_value: 8080 } } hostname: \"a\" }\n"
		"    health_status: HEALTHY load_balancing_weight { value: 1 }\n"
		"    metadata { filter_metadata { key: \"envoy.transport_socket_match\" value { fields { key: \"tls\" value { string_value: \"on\" } } } }\n"
		"               typed_filter_metadata { key: \"envoy.lb\" value { type_url: \"type.googleapis.com/google.protobuf.Struct\" } } }\n"
		"  }\n"
		"  lb_endpoints {\n"
		"    endpoint { address { socket_address { address: \"10.0.1.11\" port_value: 8080 } } }\n"
		"    health_status: DRAINING\n"
		"  }\n"
		"  load_balancing_weight { value: 3 }\n"
		"}\n"
		"endpoints {\n"
		"  locality { region: \"us-east-1\" zone: \"us-east-1b\" }\n"
		"  lb_endpoints { endpoint { address { socket_address { address: \"2001:db8::11\" port_value: 8080 } }\n"
		"    additional_addresses { address { socket_address { address: \"10.0.2.11\" port_value: 8080 } } } } }\n"
		"  load_balancing_weight { value: 1 }\n"
		"}\n"
		"endpoints {\n"
		"  locality { region: \"us-west-2\" }\n"
		"  lb_endpoints { endpoint { address { socket_address { address: \"10.1.0.5\" port_value: 8443 } } } }\n"
		"  load_balancing_weight { value: 1 }\n"
		"  priority: 1\n"
		"}\n"
		"policy { overprovisioning_factor { value: 140 } endpoint_stale_after { seconds: 30 } }\n";
	OK("EG snapshot", "%s", eg);
	GOK("EG snapshot", "%s", eg);
}

/* 100,000 endpoints in 100 localities; the last one duplicates the first. */
static void test_large(void)
{
	enum { NLOC = 100, PER = 1000 };
	struct eds_arena *a = eds_arena_new(1 << 20);
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment cla = ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__INIT;
	char buf[32];

	cla.cluster_name = "big";
	cla.n_endpoints = NLOC;
	cla.endpoints = eds_arena_alloc(a, NLOC * sizeof *cla.endpoints);
	for (int i = 0; i < NLOC; i++) {
		Envoy__Config__Endpoint__V3__LocalityLbEndpoints *l = eds_arena_alloc(a, sizeof *l);
		envoy__config__endpoint__v3__locality_lb_endpoints__init(l);
		l->locality = eds_arena_alloc(a, sizeof *l->locality);
		envoy__config__core__v3__locality__init(l->locality);
		snprintf(buf, sizeof buf, "zone-%d", i);
		l->locality->zone = eds_arena_strdup(a, buf);
		l->load_balancing_weight = eds_arena_alloc(a, sizeof *l->load_balancing_weight);
		google__protobuf__uint32_value__init(l->load_balancing_weight);
		l->load_balancing_weight->value = 1;
		l->n_lb_endpoints = PER;
		l->lb_endpoints = eds_arena_alloc(a, PER * sizeof *l->lb_endpoints);
		for (int j = 0; j < PER; j++) {
			int n = i * PER + j;
			Envoy__Config__Endpoint__V3__LbEndpoint *e = eds_arena_alloc(a, sizeof *e);
			envoy__config__endpoint__v3__lb_endpoint__init(e);
			e->endpoint = eds_arena_alloc(a, sizeof *e->endpoint);
			envoy__config__endpoint__v3__endpoint__init(e->endpoint);
			e->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
			Envoy__Config__Core__V3__Address *ad = eds_arena_alloc(a, sizeof *ad);
			envoy__config__core__v3__address__init(ad);
			Envoy__Config__Core__V3__SocketAddress *sa = eds_arena_alloc(a, sizeof *sa);
			envoy__config__core__v3__socket_address__init(sa);
			n = (i == NLOC - 1 && j == PER - 1) ? 0 : n;
			snprintf(buf, sizeof buf, "10.%d.%d.%d", n >> 16, (n >> 8) & 255, n & 255);
			sa->address = eds_arena_strdup(a, buf);
			sa->port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
			sa->port_value = 8080;
			ad->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
			ad->socket_address = sa;
			e->endpoint->address = ad;
			e->health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__HEALTHY;
			l->lb_endpoints[j] = e;
		}
		cla.endpoints[i] = l;
	}

	/* Through the binary codec, as the CLI sees it; speed is scripts/bench's job. */
	struct eds_buf out = { 0 };
	struct eds_diag d = { 0 };
	struct eds_arena *ra = eds_arena_new(1 << 20);
	ProtobufCMessage *back = NULL;
	struct eds_src src = { "big", NULL, 0 };
	if (eds_bin_encode(&cla.base, NULL, &out, &d) != EDS_OK) {
		nfailed++;
		fprintf(stderr, "FAIL large: encode: %s\n", d.msg);
		goto done;
	}
	src.text = out.data;
	src.len = out.len;
	if (eds_bin_decode(eds_schema_cla, &src, ra, &eds_limits_default, &back, &d) != EDS_OK) {
		nfailed++;
		fprintf(stderr, "FAIL large: decode: %s\n", d.msg);
		goto done;
	}
	struct eds_diags ds = { 0 };
	size_t nerr = eds_check_cla(back, NULL, &ds);
	if (nerr != 0 || ds.n != 1 || strcmp(ds.v[0].id, "duplicate-address") ||
	    strcmp(ds.v[0].path, "endpoints[99].lb_endpoints[999].endpoint.address")) {
		nfailed++;
		fprintf(stderr, "FAIL large: expected one duplicate-address warning, got %zu findings\n", ds.n);
		show(&ds, NULL);
	} else {
		npassed++;
	}
	eds_diags_release(&ds);
done:
	eds_buf_release(&out);
	eds_arena_free(ra);
	eds_arena_free(a);
}

int main(void)
{
	if (access("proto/envoy/config/endpoint/v3/endpoint.proto", R_OK) != 0) {
		fprintf(stderr, "test_check: run from the repository root (needs proto/ and protoc)\n");
		return 1;
	}
	test_pgv_endpoint();
	test_pgv_config_source();
	test_generic();
	test_semantic();
	test_grpc();
	test_eg_snapshot();
	test_large();
	printf("%d passed, %d failed\n", npassed, nfailed);
	return nfailed ? 1 : 0;
}
