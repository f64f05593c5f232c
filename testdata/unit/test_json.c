/*
 * Unit tests of the proto3 JSON codec (src/codec_json.c): round trips of a
 * CLA built in C, exact output, accepted input variants, every error class
 * (syntax, types, ranges, unknown names, duplicates, limits) with its exact
 * message, field path and line:col, encode errors, number printing, and
 * eds_json_locate.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "codec_json.h"
#include "envoy/config/core/v3/address.pb-c.h"
#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/core/v3/config_source.pb-c.h"
#include "envoy/config/core/v3/grpc_service.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint_components.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "unit.h"

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Lle;
typedef Envoy__Config__Endpoint__V3__LbEndpoint Lbe;
typedef Envoy__Config__Endpoint__V3__Endpoint Ep;
typedef Envoy__Config__Core__V3__Address Addr;
typedef Envoy__Config__Core__V3__SocketAddress Sa;
typedef Google__Protobuf__Value Val;
typedef Google__Protobuf__Struct St;

#define CLA_DESC (&envoy__config__endpoint__v3__cluster_load_assignment__descriptor)

static struct eds_arena *A;

static void *new_msg(const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = eds_arena_alloc(A, desc->sizeof_message);
	protobuf_c_message_init(desc, m);
	return m;
}

static void *array(size_t n)
{
	return eds_arena_zalloc(A, n * sizeof(void *));
}

static Google__Protobuf__Any *pack_any(const char *url, const ProtobufCMessage *m)
{
	Google__Protobuf__Any *any = new_msg(&google__protobuf__any__descriptor);
	any->type_url = (char *)url;
	any->value.len = protobuf_c_message_get_packed_size(m);
	any->value.data = eds_arena_alloc(A, any->value.len + 1);
	protobuf_c_message_pack(m, any->value.data);
	return any;
}

static Val *num_val(double v)
{
	Val *x = new_msg(&google__protobuf__value__descriptor);
	x->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
	x->number_value = v;
	return x;
}

static Val *str_val(const char *s)
{
	Val *x = new_msg(&google__protobuf__value__descriptor);
	x->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
	x->string_value = (char *)s;
	return x;
}

static Val *bool_val(int b)
{
	Val *x = new_msg(&google__protobuf__value__descriptor);
	x->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
	x->bool_value = b;
	return x;
}

static Val *null_val(void)
{
	Val *x = new_msg(&google__protobuf__value__descriptor);
	x->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
	return x;
}

/* A Struct of n (key, value) pairs. */
static St *mk_struct(size_t n, ...)
{
	St *s = new_msg(&google__protobuf__struct__descriptor);
	s->n_fields = n;
	s->fields = array(n);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		Google__Protobuf__Struct__FieldsEntry *e =
			new_msg(&google__protobuf__struct__fields_entry__descriptor);
		e->key = va_arg(ap, char *);
		e->value = va_arg(ap, Val *);
		s->fields[i] = e;
	}
	va_end(ap);
	return s;
}

static Val *struct_val(St *s)
{
	Val *x = new_msg(&google__protobuf__value__descriptor);
	x->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
	x->struct_value = s;
	return x;
}

static Val *list_val(size_t n, ...)
{
	Val *x = new_msg(&google__protobuf__value__descriptor);
	Google__Protobuf__ListValue *l = new_msg(&google__protobuf__list_value__descriptor);
	l->n_values = n;
	l->values = array(n);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		l->values[i] = va_arg(ap, Val *);
	va_end(ap);
	x->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
	x->list_value = l;
	return x;
}

static Google__Protobuf__UInt32Value *u32w(uint32_t v)
{
	Google__Protobuf__UInt32Value *w = new_msg(&google__protobuf__uint32_value__descriptor);
	w->value = v;
	return w;
}

static Google__Protobuf__Duration *dur(int64_t s, int32_t ns)
{
	Google__Protobuf__Duration *d = new_msg(&google__protobuf__duration__descriptor);
	d->seconds = s;
	d->nanos = ns;
	return d;
}

static Addr *sock_addr(const char *ip, uint32_t port)
{
	Addr *a = new_msg(&envoy__config__core__v3__address__descriptor);
	Sa *s = new_msg(&envoy__config__core__v3__socket_address__descriptor);
	s->address = (char *)ip;
	s->port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
	s->port_value = port;
	a->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
	a->socket_address = s;
	return a;
}

/* ---------------------------------------------------------------------- */

static char *encode(const ProtobufCMessage *m, bool pretty, bool proto_names, int *rc,
		    struct eds_diag *d)
{
	static struct eds_buf b;
	struct eds_encode_opts o = { .pretty = pretty, .proto_names = proto_names };
	b.len = 0;
	b.overflow = 0;
	eds_diag_clear(d);
	*rc = eds_json_encode(m, &o, &b, d);
	eds_buf_putc(&b, '\0');
	return b.data;
}

static int decode_desc(const ProtobufCMessageDescriptor *desc, const char *text,
		       const struct eds_limits *lim, ProtobufCMessage **out, struct eds_diag *d,
		       struct eds_src *src)
{
	src->name = "t.json";
	src->text = text;
	src->len = strlen(text);
	eds_diag_clear(d);
	*out = NULL;
	return eds_json_decode(desc, src, A, lim ? lim : &eds_limits_default, out, d);
}

static int decode(const char *text, ProtobufCMessage **out, struct eds_diag *d, struct eds_src *src)
{
	return decode_desc(CLA_DESC, text, NULL, out, d, src);
}

static bool same_binary(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a);
	size_t nb = protobuf_c_message_get_packed_size(b);
	if (na != nb)
		return false;
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	bool same = memcmp(pa, pb, na) == 0;
	free(pa);
	free(pb);
	return same;
}

/* A CLA touching every JSON form the closure has. */
static Cla *rich_cla(void)
{
	Cla *cla = new_msg(CLA_DESC);
	cla->cluster_name = "svc-\xc3\xa9-\xe2\x9c\x93 \"q\" \\ \n\t\x01\x1f/";

	Lle *l0 = new_msg(&envoy__config__endpoint__v3__locality_lb_endpoints__descriptor);
	Envoy__Config__Core__V3__Locality *loc = new_msg(&envoy__config__core__v3__locality__descriptor);
	loc->region = "us";
	loc->zone = "us-a";
	loc->sub_zone = "a";
	l0->locality = loc;
	l0->load_balancing_weight = u32w(10);
	l0->proximity = u32w(0);

	/* lb endpoint 0: metadata with Struct and Any of several kinds */
	Lbe *e0 = new_msg(&envoy__config__endpoint__v3__lb_endpoint__descriptor);
	Ep *ep0 = new_msg(&envoy__config__endpoint__v3__endpoint__descriptor);
	ep0->address = sock_addr("10.0.0.1", 0);
	ep0->hostname = "h1";
	Envoy__Config__Endpoint__V3__Endpoint__HealthCheckConfig *hc =
		new_msg(&envoy__config__endpoint__v3__endpoint__health_check_config__descriptor);
	hc->port_value = 9901;
	hc->disable_active_health_check = 1;
	ep0->health_check_config = hc;
	ep0->n_additional_addresses = 2;
	ep0->additional_addresses = array(2);
	for (int i = 0; i < 2; i++) {
		Envoy__Config__Endpoint__V3__Endpoint__AdditionalAddress *aa =
			new_msg(&envoy__config__endpoint__v3__endpoint__additional_address__descriptor);
		aa->address = sock_addr(i ? "::1" : "10.0.0.2", 8080 + (uint32_t)i);
		ep0->additional_addresses[i] = aa;
	}
	e0->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
	e0->endpoint = ep0;
	e0->health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING;
	e0->load_balancing_weight = u32w(0);
	Envoy__Config__Core__V3__Metadata *md = new_msg(&envoy__config__core__v3__metadata__descriptor);
	md->n_filter_metadata = 2;
	md->filter_metadata = array(2);
	Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *fm =
		new_msg(&envoy__config__core__v3__metadata__filter_metadata_entry__descriptor);
	fm->key = "envoy.lb";
	fm->value = mk_struct(
		7, "canary", bool_val(1), "w", num_val(1.5), "n", null_val(), "s",
		str_val("\xe6\x97\xa5\xe6\x9c\xac"), "l",
		list_val(5, num_val(1), str_val("a"), bool_val(0), struct_val(mk_struct(0)), list_val(0)),
		"o", struct_val(mk_struct(1, "deep", struct_val(mk_struct(1, "x", num_val(-0.25))))),
		"big", num_val(1e300));
	md->filter_metadata[0] = fm;
	fm = new_msg(&envoy__config__core__v3__metadata__filter_metadata_entry__descriptor);
	fm->key = "empty \"k\"";
	fm->value = mk_struct(0);
	md->filter_metadata[1] = fm;
	const char *tk[] = { "addr", "struct", "dur", "wrap", "value", "empty-any", "cla", "any" };
	md->n_typed_filter_metadata = 8;
	md->typed_filter_metadata = array(8);
	Google__Protobuf__Any *anys[8];
	anys[0] = pack_any("type.googleapis.com/envoy.config.core.v3.Address",
			   (ProtobufCMessage *)sock_addr("1.2.3.4", 3128));
	anys[1] = pack_any("type.googleapis.com/google.protobuf.Struct",
			   (ProtobufCMessage *)mk_struct(1, "a", num_val(1)));
	anys[2] = pack_any("type.googleapis.com/google.protobuf.Duration",
			   (ProtobufCMessage *)dur(1, 500000000));
	anys[3] = pack_any("type.googleapis.com/google.protobuf.UInt32Value", (ProtobufCMessage *)u32w(7));
	anys[4] = pack_any("type.googleapis.com/google.protobuf.Value", (ProtobufCMessage *)str_val("v"));
	anys[5] = new_msg(&google__protobuf__any__descriptor);
	Cla *inner = new_msg(CLA_DESC);
	inner->cluster_name = "inner";
	anys[6] = pack_any("type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
			   (ProtobufCMessage *)inner);
	anys[7] = pack_any("type.googleapis.com/google.protobuf.Any", (ProtobufCMessage *)anys[0]);
	for (int i = 0; i < 8; i++) {
		Envoy__Config__Core__V3__Metadata__TypedFilterMetadataEntry *te =
			new_msg(&envoy__config__core__v3__metadata__typed_filter_metadata_entry__descriptor);
		te->key = (char *)tk[i];
		te->value = anys[i];
		md->typed_filter_metadata[i] = te;
	}
	e0->metadata = md;

	/* lb endpoint 1: oneof set to an empty string */
	Lbe *e1 = new_msg(&envoy__config__endpoint__v3__lb_endpoint__descriptor);
	e1->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT_NAME;
	e1->endpoint_name = "";
	/* lb endpoint 2: pipe and an unknown enum number */
	Lbe *e2 = new_msg(&envoy__config__endpoint__v3__lb_endpoint__descriptor);
	Ep *ep2 = new_msg(&envoy__config__endpoint__v3__endpoint__descriptor);
	Addr *pa = new_msg(&envoy__config__core__v3__address__descriptor);
	Envoy__Config__Core__V3__Pipe *pipe = new_msg(&envoy__config__core__v3__pipe__descriptor);
	pipe->path = "/tmp/s";
	pipe->mode = 0600;
	pa->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE;
	pa->pipe = pipe;
	ep2->address = pa;
	e2->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
	e2->endpoint = ep2;
	e2->health_status = 42;
	/* lb endpoint 3: internal address with an empty oneof string, empty endpoint */
	Lbe *e3 = new_msg(&envoy__config__endpoint__v3__lb_endpoint__descriptor);
	Ep *ep3 = new_msg(&envoy__config__endpoint__v3__endpoint__descriptor);
	Addr *ia = new_msg(&envoy__config__core__v3__address__descriptor);
	Envoy__Config__Core__V3__EnvoyInternalAddress *eia =
		new_msg(&envoy__config__core__v3__envoy_internal_address__descriptor);
	eia->address_name_specifier_case =
		ENVOY__CONFIG__CORE__V3__ENVOY_INTERNAL_ADDRESS__ADDRESS_NAME_SPECIFIER_SERVER_LISTENER_NAME;
	eia->server_listener_name = "";
	ia->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_ENVOY_INTERNAL_ADDRESS;
	ia->envoy_internal_address = eia;
	ep3->address = ia;
	e3->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
	e3->endpoint = ep3;
	Lbe *e4 = new_msg(&envoy__config__endpoint__v3__lb_endpoint__descriptor);
	e4->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
	e4->endpoint = new_msg(&envoy__config__endpoint__v3__endpoint__descriptor);

	l0->n_lb_endpoints = 5;
	l0->lb_endpoints = array(5);
	l0->lb_endpoints[0] = e0;
	l0->lb_endpoints[1] = e1;
	l0->lb_endpoints[2] = e2;
	l0->lb_endpoints[3] = e3;
	l0->lb_endpoints[4] = e4;

	/* locality 1: LEDS with an ADS config source */
	Lle *l1 = new_msg(&envoy__config__endpoint__v3__locality_lb_endpoints__descriptor);
	l1->priority = 1;
	Envoy__Config__Endpoint__V3__LedsClusterLocalityConfig *leds =
		new_msg(&envoy__config__endpoint__v3__leds_cluster_locality_config__descriptor);
	Envoy__Config__Core__V3__ConfigSource *cs = new_msg(&envoy__config__core__v3__config_source__descriptor);
	cs->config_source_specifier_case = ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
	cs->ads = new_msg(&envoy__config__core__v3__aggregated_config_source__descriptor);
	cs->initial_fetch_timeout = dur(0, -500000000);
	cs->resource_api_version = ENVOY__CONFIG__CORE__V3__API_VERSION__V3;
	leds->leds_config = cs;
	leds->leds_collection_name = "xdstp://test/envoy.config.endpoint.v3.LbEndpoint/foo/*";
	l1->lb_config_case = ENVOY__CONFIG__ENDPOINT__V3__LOCALITY_LB_ENDPOINTS__LB_CONFIG_LEDS_CLUSTER_LOCALITY_CONFIG;
	l1->leds_cluster_locality_config = leds;

	cla->n_endpoints = 2;
	cla->endpoints = array(2);
	cla->endpoints[0] = l0;
	cla->endpoints[1] = l1;

	Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy *pol =
		new_msg(&envoy__config__endpoint__v3__cluster_load_assignment__policy__descriptor);
	pol->n_drop_overloads = 1;
	pol->drop_overloads = array(1);
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy__DropOverload *dro =
		new_msg(&envoy__config__endpoint__v3__cluster_load_assignment__policy__drop_overload__descriptor);
	dro->category = "throttle";
	Envoy__Type__V3__FractionalPercent *fp = new_msg(&envoy__type__v3__fractional_percent__descriptor);
	fp->numerator = 5;
	fp->denominator = ENVOY__TYPE__V3__FRACTIONAL_PERCENT__DENOMINATOR_TYPE__TEN_THOUSAND;
	dro->drop_percentage = fp;
	pol->drop_overloads[0] = dro;
	pol->overprovisioning_factor = u32w(0);
	pol->endpoint_stale_after = dur(0, 0);
	pol->weighted_priority_health = 1;
	cla->policy = pol;

	cla->n_named_endpoints = 2;
	cla->named_endpoints = array(2);
	const char *nk[] = { "z", "a" };
	for (int i = 0; i < 2; i++) {
		Envoy__Config__Endpoint__V3__ClusterLoadAssignment__NamedEndpointsEntry *ne =
			new_msg(&envoy__config__endpoint__v3__cluster_load_assignment__named_endpoints_entry__descriptor);
		ne->key = (char *)nk[i];
		ne->value = new_msg(&envoy__config__endpoint__v3__endpoint__descriptor);
		ne->value->hostname = i ? "" : "x";
		cla->named_endpoints[i] = ne;
	}
	return cla;
}

/* ---------------------------------------------------------------------- */

static void test_golden(void)
{
	Cla *cla = new_msg(CLA_DESC);
	cla->cluster_name = "svc";
	Lle *l = new_msg(&envoy__config__endpoint__v3__locality_lb_endpoints__descriptor);
	Lbe *e = new_msg(&envoy__config__endpoint__v3__lb_endpoint__descriptor);
	Ep *ep = new_msg(&envoy__config__endpoint__v3__endpoint__descriptor);
	ep->address = sock_addr("10.0.0.1", 0);
	e->host_identifier_case = ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT;
	e->endpoint = ep;
	e->health_status = ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING;
	e->load_balancing_weight = u32w(3);
	l->n_lb_endpoints = 1;
	l->lb_endpoints = array(1);
	l->lb_endpoints[0] = e;
	l->priority = 1;
	l->metadata = new_msg(&envoy__config__core__v3__metadata__descriptor);
	cla->n_endpoints = 1;
	cla->endpoints = array(1);
	cla->endpoints[0] = l;
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy *pol =
		new_msg(&envoy__config__endpoint__v3__cluster_load_assignment__policy__descriptor);
	pol->overprovisioning_factor = u32w(140);
	pol->endpoint_stale_after = dur(30, 500000000);
	cla->policy = pol;

	struct eds_diag d;
	int rc;
	const char *want =
		"{\"clusterName\":\"svc\",\"endpoints\":[{\"lbEndpoints\":[{\"endpoint\":{\"address\":"
		"{\"socketAddress\":{\"address\":\"10.0.0.1\",\"portValue\":0}}},\"healthStatus\":"
		"\"DRAINING\",\"loadBalancingWeight\":3}],\"priority\":1,\"metadata\":{}}],\"policy\":"
		"{\"overprovisioningFactor\":140,\"endpointStaleAfter\":\"30.500s\"}}\n";
	char *got = encode(&cla->base, false, false, &rc, &d);
	CHECK(rc == 0 && strcmp(got, want) == 0, "compact:\n%s\nwant:\n%s", got, want);

	want = "{\n"
	       "  \"clusterName\": \"svc\",\n"
	       "  \"endpoints\": [\n"
	       "    {\n"
	       "      \"lbEndpoints\": [\n"
	       "        {\n"
	       "          \"endpoint\": {\n"
	       "            \"address\": {\n"
	       "              \"socketAddress\": {\n"
	       "                \"address\": \"10.0.0.1\",\n"
	       "                \"portValue\": 0\n"
	       "              }\n"
	       "            }\n"
	       "          },\n"
	       "          \"healthStatus\": \"DRAINING\",\n"
	       "          \"loadBalancingWeight\": 3\n"
	       "        }\n"
	       "      ],\n"
	       "      \"priority\": 1,\n"
	       "      \"metadata\": {}\n"
	       "    }\n"
	       "  ],\n"
	       "  \"policy\": {\n"
	       "    \"overprovisioningFactor\": 140,\n"
	       "    \"endpointStaleAfter\": \"30.500s\"\n"
	       "  }\n"
	       "}\n";
	got = encode(&cla->base, true, false, &rc, &d);
	CHECK(rc == 0 && strcmp(got, want) == 0, "pretty:\n%s\nwant:\n%s", got, want);

	got = encode(&cla->base, false, true, &rc, &d);
	CHECK(rc == 0 && strstr(got, "{\"cluster_name\":\"svc\",\"endpoints\":[{\"lb_endpoints\":") &&
		      strstr(got, "\"socket_address\":{\"address\":\"10.0.0.1\",\"port_value\":0}") &&
		      strstr(got, "\"overprovisioning_factor\":140,\"endpoint_stale_after\":\"30.500s\""),
	      "proto names: %s", got);

	Cla *empty = new_msg(CLA_DESC);
	got = encode(&empty->base, true, false, &rc, &d);
	CHECK(rc == 0 && strcmp(got, "{}\n") == 0, "empty pretty: %s", got);
	got = encode(&empty->base, false, false, &rc, &d);
	CHECK(rc == 0 && strcmp(got, "{}\n") == 0, "empty compact: %s", got);
}

static void test_rich_roundtrip(void)
{
	Cla *cla = rich_cla();
	struct eds_diag d;
	struct eds_src src;
	int rc;
	for (int mode = 0; mode < 4; mode++) {
		char *js = encode(&cla->base, mode & 1, mode & 2, &rc, &d);
		CHECK(rc == 0, "mode %d encode: %s", mode, d.msg);
		if (rc)
			continue;
		char *copy = strdup(js);
		ProtobufCMessage *back;
		rc = decode(copy, &back, &d, &src);
		CHECK(rc == 0, "mode %d decode: %s at %s", mode, d.msg, d.path);
		if (rc == 0) {
			CHECK(same_binary(&cla->base, back), "mode %d: binary differs after round trip:\n%s",
			      mode, js);
			int rc2;
			char *again = encode(back, mode & 1, mode & 2, &rc2, &d);
			CHECK(rc2 == 0 && strcmp(again, copy) == 0, "mode %d: second encode differs", mode);
		}
		free(copy);
	}

	char *js = encode(&cla->base, false, false, &rc, &d);
	static const char *const want[] = {
		"{\"clusterName\":\"svc-\xc3\xa9-\xe2\x9c\x93 \\\"q\\\" \\\\ \\n\\t\\u0001\\u001f/\"",
		"\"portValue\":0",
		"\"healthCheckConfig\":{\"portValue\":9901,\"disableActiveHealthCheck\":true}",
		"\"loadBalancingWeight\":0",
		"\"healthStatus\":\"DRAINING\"",
		"\"healthStatus\":42",
		"{\"endpointName\":\"\"}",
		"\"envoyInternalAddress\":{\"serverListenerName\":\"\"}",
		"{\"endpoint\":{}}",
		"\"pipe\":{\"path\":\"/tmp/s\",\"mode\":384}",
		"\"proximity\":0",
		"\"filterMetadata\":{\"envoy.lb\":{\"canary\":true,\"w\":1.5,\"n\":null,\"s\":\"\xe6\x97\xa5\xe6\x9c\xac\","
		"\"l\":[1,\"a\",false,{},[]],\"o\":{\"deep\":{\"x\":-0.25}},\"big\":1e+300},\"empty \\\"k\\\"\":{}}",
		"\"addr\":{\"@type\":\"type.googleapis.com/envoy.config.core.v3.Address\",\"socketAddress\":"
		"{\"address\":\"1.2.3.4\",\"portValue\":3128}}",
		"\"struct\":{\"@type\":\"type.googleapis.com/google.protobuf.Struct\",\"value\":{\"a\":1}}",
		"\"dur\":{\"@type\":\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"1.500s\"}",
		"\"wrap\":{\"@type\":\"type.googleapis.com/google.protobuf.UInt32Value\",\"value\":7}",
		"\"value\":{\"@type\":\"type.googleapis.com/google.protobuf.Value\",\"value\":\"v\"}",
		"\"empty-any\":{}",
		"\"cla\":{\"@type\":\"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\","
		"\"clusterName\":\"inner\"}",
		"\"any\":{\"@type\":\"type.googleapis.com/google.protobuf.Any\",\"value\":{\"@type\":"
		"\"type.googleapis.com/envoy.config.core.v3.Address\",\"socketAddress\":",
		"\"initialFetchTimeout\":\"-0.500s\",\"resourceApiVersion\":\"V3\"",
		"\"ads\":{}",
		"\"dropOverloads\":[{\"category\":\"throttle\",\"dropPercentage\":{\"numerator\":5,"
		"\"denominator\":\"TEN_THOUSAND\"}}],\"overprovisioningFactor\":0,\"endpointStaleAfter\":\"0s\","
		"\"weightedPriorityHealth\":true}",
		"\"namedEndpoints\":{\"z\":{\"hostname\":\"x\"},\"a\":{}}}\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK(rc == 0 && strstr(js, want[i]), "output lacks %s\nin %s", want[i], js);
}

/* ConfigSource subtree: int64, uint64, bytes, DoubleValue, Empty, ChannelArgs map. */
static void test_config_source_types(void)
{
	const char *in =
		"{\"endpoints\":[{\"ledsClusterLocalityConfig\":{\"ledsConfig\":{\"apiConfigSource\":{"
		"\"apiType\":\"GRPC\",\"transportApiVersion\":2,\"clusterNames\":[\"a\",\"b\"],"
		"\"refreshDelay\":\"0.000000001s\",\"requestTimeout\":\"-1.000001s\","
		"\"rateLimitSettings\":{\"maxTokens\":\"5\",\"fillRate\":\"NaN\"},"
		"\"grpcServices\":[{\"googleGrpc\":{\"targetUri\":\"t\",\"channelCredentials\":{\"googleDefault\":{}},"
		"\"callCredentials\":[{\"serviceAccountJwtAccess\":{\"jsonKey\":\"k\","
		"\"tokenLifetimeSeconds\":\"18446744073709551615\"}}],"
		"\"channelArgs\":{\"args\":{\"n\":{\"intValue\":\"-9223372036854775808\"},\"s\":{\"stringValue\":\"v\"}}},"
		"\"config\":{\"k\":[1,2]},\"statPrefix\":\"p\"},"
		"\"retryPolicy\":{\"hostSelectionRetryMaxAttempts\":-5,\"numRetries\":3},"
		"\"initialMetadata\":[{\"key\":\"k\",\"rawValue\":\"AAEC/w==\"},{\"key\":\"u\",\"raw_value\":\"-_8\"}]},"
		"{\"googleGrpc\":{\"targetUri\":\"t2\",\"statPrefix\":\"p\",\"channelCredentials\":"
		"{\"sslCredentials\":{\"rootCerts\":{\"inlineBytes\":\"aGVsbG8\"}}}},\"timeout\":\"2s\"}]}}}}]}";
	struct eds_diag d;
	struct eds_src src;
	ProtobufCMessage *m;
	int rc = decode(in, &m, &d, &src);
	CHECK(rc == 0, "decode: %s at %s", d.msg, d.path);
	if (rc)
		return;
	Cla *cla = (Cla *)m;
	Envoy__Config__Core__V3__ApiConfigSource *acs =
		cla->endpoints[0]->leds_cluster_locality_config->leds_config->api_config_source;
	CHECK(acs->api_type == ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__GRPC &&
		      acs->transport_api_version == 2 && acs->n_cluster_names == 2 &&
		      strcmp(acs->cluster_names[1], "b") == 0,
	      "api config source scalars");
	CHECK(acs->refresh_delay->seconds == 0 && acs->refresh_delay->nanos == 1, "refresh delay");
	CHECK(acs->request_timeout->seconds == -1 && acs->request_timeout->nanos == -1000, "request timeout");
	CHECK(acs->rate_limit_settings->max_tokens->value == 5 &&
		      isnan(acs->rate_limit_settings->fill_rate->value),
	      "rate limit settings");
	Envoy__Config__Core__V3__GrpcService *g0 = acs->grpc_services[0];
	CHECK(g0->google_grpc->call_credentials[0]->service_account_jwt_access->token_lifetime_seconds ==
		      UINT64_MAX,
	      "uint64 max");
	CHECK(g0->google_grpc->channel_args->args[0]->value->int_value == INT64_MIN, "int64 min");
	CHECK(g0->retry_policy->host_selection_retry_max_attempts == -5 &&
		      g0->retry_policy->num_retries->value == 3,
	      "retry policy");
	CHECK(g0->initial_metadata[0]->raw_value.len == 4 &&
		      memcmp(g0->initial_metadata[0]->raw_value.data, "\x00\x01\x02\xff", 4) == 0 &&
		      g0->initial_metadata[1]->raw_value.len == 2 &&
		      memcmp(g0->initial_metadata[1]->raw_value.data, "\xfb\xff", 2) == 0,
	      "bytes");
	CHECK(acs->grpc_services[1]->google_grpc->channel_credentials->ssl_credentials->root_certs
			      ->inline_bytes.len == 5,
	      "unpadded base64");

	char *js = encode(m, false, false, &rc, &d);
	static const char *const want[] = {
		"\"apiType\":\"GRPC\",\"clusterNames\":[\"a\",\"b\"]",
		"\"rateLimitSettings\":{\"maxTokens\":5,\"fillRate\":\"NaN\"},\"transportApiVersion\":\"V3\"}",
		"\"refreshDelay\":\"0.000000001s\"",
		"\"requestTimeout\":\"-1.000001s\"",
		"\"rateLimitSettings\":{\"maxTokens\":5,\"fillRate\":\"NaN\"}",
		"\"googleDefault\":{}",
		"\"tokenLifetimeSeconds\":\"18446744073709551615\"",
		"\"args\":{\"n\":{\"intValue\":\"-9223372036854775808\"},\"s\":{\"stringValue\":\"v\"}}",
		"\"config\":{\"k\":[1,2]}",
		"\"hostSelectionRetryMaxAttempts\":\"-5\"",
		"\"rawValue\":\"AAEC/w==\"",
		"\"rawValue\":\"+/8=\"",
		"\"inlineBytes\":\"aGVsbG8=\"",
		"\"timeout\":\"2s\"",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		CHECK(rc == 0 && strstr(js, want[i]), "output lacks %s\nin %s", want[i], js);
	char *copy = strdup(js);
	ProtobufCMessage *back;
	rc = decode(copy, &back, &d, &src);
	CHECK(rc == 0 && same_binary(m, back), "round trip: %s", d.msg);
	free(copy);
}

static void test_input_variants(void)
{
	const char *in =
		"{\"cluster_name\":\"c\",\"endpoints\":[{\"lb_endpoints\":["
		"{\"endpoint\":{\"address\":{\"socket_address\":{\"address\":\"a\",\"port_value\":\"8080\"}}},"
		"\"health_status\":3,\"load_balancing_weight\":\"7\"},"
		"{\"endpoint\":{\"address\":{\"socketAddress\":{\"portValue\":80.0,\"protocol\":\"UDP\"}}},"
		"\"healthStatus\":\"5\",\"loadBalancingWeight\":1e2,\"metadata\":null},"
		"{\"endpoint\":{\"address\":{\"socketAddress\":{\"portValue\":\"1e3\",\"protocol\":1.0}}},"
		"\"healthStatus\":null,\"endpointName\":null}"
		"],\"priority\":2.0,\"locality\":null,\"loadBalancingWeight\":null}],"
		"\"namedEndpoints\":null,\"policy\":{\"dropOverloads\":null,"
		"\"endpointStaleAfter\":\"-0.5s\",\"overprovisioningFactor\":4294967295}}";
	struct eds_diag d;
	struct eds_src src;
	ProtobufCMessage *m;
	int rc = decode(in, &m, &d, &src);
	CHECK(rc == 0, "decode: %s at %s", d.msg, d.path);
	if (rc)
		return;
	Cla *cla = (Cla *)m;
	Lle *l = cla->endpoints[0];
	CHECK(strcmp(cla->cluster_name, "c") == 0 && l->priority == 2 && !l->locality &&
		      !l->load_balancing_weight && cla->n_named_endpoints == 0,
	      "snake names, nulls");
	CHECK(l->lb_endpoints[0]->endpoint->address->socket_address->port_value == 8080 &&
		      l->lb_endpoints[0]->health_status == 3 &&
		      l->lb_endpoints[0]->load_balancing_weight->value == 7,
	      "strings holding numbers");
	CHECK(l->lb_endpoints[1]->endpoint->address->socket_address->port_value == 80 &&
		      l->lb_endpoints[1]->endpoint->address->socket_address->protocol == 1 &&
		      l->lb_endpoints[1]->health_status == 5 &&
		      l->lb_endpoints[1]->load_balancing_weight->value == 100 && !l->lb_endpoints[1]->metadata,
	      "integral reals, enum as numeric string");
	CHECK(l->lb_endpoints[2]->endpoint->address->socket_address->port_value == 1000 &&
		      l->lb_endpoints[2]->endpoint->address->socket_address->protocol == 1 &&
		      l->lb_endpoints[2]->host_identifier_case ==
			      ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT,
	      "exponent in string, null oneof member");
	CHECK(cla->policy->n_drop_overloads == 0 && cla->policy->endpoint_stale_after->seconds == 0 &&
		      cla->policy->endpoint_stale_after->nanos == -500000000 &&
		      cla->policy->overprovisioning_factor->value == 4294967295u,
	      "policy");

	/* Value null stays null_value; a list may hold nulls */
	rc = decode("{\"endpoints\":[{\"metadata\":{\"filterMetadata\":{\"f\":{\"n\":null,\"l\":[null,1]}}}}]}",
		    &m, &d, &src);
	CHECK(rc == 0, "struct nulls: %s", d.msg);
	if (rc == 0) {
		St *s = ((Cla *)m)->endpoints[0]->metadata->filter_metadata[0]->value;
		CHECK(s->n_fields == 2 && s->fields[0]->value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE &&
			      s->fields[1]->value->list_value->n_values == 2 &&
			      s->fields[1]->value->list_value->values[0]->kind_case ==
				      GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE,
		      "struct nulls kept");
	}
	/* key order of a map is kept */
	rc = decode("{\"namedEndpoints\":{\"b\":{},\"a\":{},\"c\":{}}}", &m, &d, &src);
	CHECK(rc == 0 && ((Cla *)m)->n_named_endpoints == 3 &&
		      strcmp(((Cla *)m)->named_endpoints[0]->key, "b") == 0 &&
		      strcmp(((Cla *)m)->named_endpoints[2]->key, "c") == 0,
	      "map order");
	/* a byte-order mark, escapes in keys, blanks around the object */
	rc = decode("\xef\xbb\xbf \n{\"cluster\\u004eame\" : \"x\" , \"endpoints\":[ ] }\r\n\t", &m, &d, &src);
	CHECK(rc == 0 && strcmp(((Cla *)m)->cluster_name, "x") == 0 && ((Cla *)m)->n_endpoints == 0,
	      "bom, escaped key: %s", d.msg);
	/* -0 stays negative zero in a Value */
	rc = decode("{\"endpoints\":[{\"metadata\":{\"filterMetadata\":{\"f\":{\"z\":-0,\"u\":18446744073709551616}}}}]}",
		    &m, &d, &src);
	CHECK(rc == 0, "struct numbers: %s", d.msg);
	if (rc == 0) {
		St *st = ((Cla *)m)->endpoints[0]->metadata->filter_metadata[0]->value;
		CHECK(signbit(st->fields[0]->value->number_value) && st->fields[0]->value->number_value == 0 &&
			      st->fields[1]->value->number_value == 18446744073709551616.0,
		      "-0 and 2^64 in a Value");
	}
	/* escapes and surrogate pairs in strings */
	rc = decode("{\"clusterName\":\"\\u00e9\\ud83d\\ude00\\n\"}", &m, &d, &src);
	CHECK(rc == 0 && strcmp(((Cla *)m)->cluster_name, "\xc3\xa9\xf0\x9f\x98\x80\n") == 0,
	      "unicode escapes");
	/* Any of Empty, and an Any holding a Value null */
	rc = decode("{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{"
		    "\"e\":{\"@type\":\"type.googleapis.com/google.protobuf.Empty\"},"
		    "\"n\":{\"@type\":\"type.googleapis.com/google.protobuf.Value\",\"value\":null},"
		    "\"z\":{}}}}]}",
		    &m, &d, &src);
	CHECK(rc == 0, "any empty: %s at %s", d.msg, d.path);
	if (rc == 0) {
		Envoy__Config__Core__V3__Metadata *md = ((Cla *)m)->endpoints[0]->metadata;
		CHECK(md->typed_filter_metadata[0]->value->value.len == 0 &&
			      strcmp(md->typed_filter_metadata[1]->value->type_url,
				     "type.googleapis.com/google.protobuf.Value") == 0 &&
			      md->typed_filter_metadata[1]->value->value.len == 2 &&
			      md->typed_filter_metadata[2]->value->type_url[0] == '\0',
		      "any contents");
		char *js = encode(m, false, false, &rc, &d);
		CHECK(rc == 0 && strstr(js, "\"e\":{\"@type\":\"type.googleapis.com/google.protobuf.Empty\"}") &&
			      strstr(js, "\"value\":null}") && strstr(js, "\"z\":{}"),
		      "any empty output: %s", js);
	}
}

struct err_case {
	const char *in;
	int code;
	const char *msg;
	const char *path;
	unsigned line, col; /* 0: no location expected */
};

static void test_errors(void)
{
	static const struct err_case cases[] = {
		{ "{\"clusterName\": }", EDS_E_DECODE, "invalid JSON: expected a value, got '}'", "cluster_name", 1, 17 },
		{ "{\"clusterName\": \"a\",\n \"clusterName\": \"b\"}", EDS_E_DECODE,
		  "field \"cluster_name\" is given twice in envoy.config.endpoint.v3.ClusterLoadAssignment", "", 2,
		  2 },
		{ "{\"clusterName\": \"a\" \"x\"}", EDS_E_DECODE,
		  "invalid JSON: expected ',' or '}' after an object member, got '\"'", "", 1, 21 },
		{ "{\"clusterName\" \"a\"}", EDS_E_DECODE, "invalid JSON: expected ':' after an object key, got '\"'",
		  "", 1, 16 },
		{ "{\"clusterName\": \"a\",}", EDS_E_DECODE, "invalid JSON: expected a string key, got '}'", "", 1,
		  21 },
		{ "{clusterName: \"a\"}", EDS_E_DECODE, "invalid JSON: expected a string key, got 'c'", "", 1, 2 },
		{ "{\"endpoints\": [{},]}", EDS_E_DECODE, "invalid JSON: expected a value after ',', got ']'", "",
		  1, 19 },
		{ "{\"endpoints\": [{} {}]}", EDS_E_DECODE,
		  "invalid JSON: expected ',' or ']' after an array element, got '{'", "", 1, 19 },
		{ "{\"clusterName\": \"a}", EDS_E_DECODE, "invalid JSON: unterminated string", "cluster_name", 1, 17 },
		{ "{\"clusterName\": \"a\\qb\"}", EDS_E_DECODE, "invalid JSON: invalid escape '\\q'",
		  "cluster_name", 1, 19 },
		{ "{\"clusterName\": \"a\tb\"}", EDS_E_DECODE,
		  "invalid JSON: control character 0x09 in string (escape it)", "cluster_name", 1, 19 },
		{ "{\"clusterName\": \"a\xff\"}", EDS_E_DECODE, "invalid JSON: invalid UTF-8 in string",
		  "cluster_name", 1, 19 },
		{ "{\"clusterName\": \"\\u0000\"}", EDS_E_DECODE,
		  "invalid JSON: \\u0000 (NUL) is not allowed in strings", "cluster_name", 1, 18 },
		{ "{\"clusterName\": \"\\ud800x\"}", EDS_E_DECODE, "invalid JSON: unpaired surrogate \\ud800",
		  "cluster_name", 1, 18 },
		{ "{\"clusterName\": \"\\u12G4\"}", EDS_E_DECODE,
		  "invalid JSON: \\u must be followed by 4 hex digits", "cluster_name", 1, 18 },
		{ "{\"endpoints\": [{\"priority\": 01}]}", EDS_E_DECODE, "invalid JSON: invalid number '01'",
		  "endpoints[0].priority", 1, 29 },
		{ "{\"endpoints\": [{\"priority\": 1.}]}", EDS_E_DECODE, "invalid JSON: invalid number '1.'",
		  "endpoints[0].priority", 1, 29 },
		{ "{\"endpoints\": [{\"priority\": NaN}]}", EDS_E_DECODE, "invalid JSON: invalid token 'NaN'",
		  "endpoints[0].priority", 1, 29 },
		{ "{\"endpoints\": [{\"priority\": nulll}]}", EDS_E_DECODE, "invalid JSON: invalid token 'nulll'",
		  "endpoints[0].priority", 1, 29 },
		{ "{} x", EDS_E_DECODE, "invalid JSON: unexpected text after the top-level object", "", 1, 4 },
		{ "{\"clusterName\": \"a\"", EDS_E_DECODE, "invalid JSON: unexpected end of input", "", 1, 20 },
		{ "{\"namedEndpoints\": {\"a\": {}, \"b\": {}, \"a\": {}}}", EDS_E_DECODE,
		  "duplicate key \"a\" in map field \"named_endpoints\"", "named_endpoints", 1, 39 },
		{ "{\"namedEndpoints\": {\"a\": {}, \"b\": {}, \"c\": {}, \"d\": {}, \"e\": {}, \"f\": {}, \"g\": {},"
		  " \"h\": {}, \"i\": {}, \"d\": {}, \"j\": {}}}",
		  EDS_E_DECODE, "duplicate key \"d\" in map field \"named_endpoints\"", "named_endpoints", 1, 102 },
		{ "{\"endpoints\":[{\"metadata\":{\"filterMetadata\":{\"f\":{\"x\":1,\"x\":2}}}}]}", EDS_E_DECODE,
		  "duplicate key \"x\" in google.protobuf.Struct", "endpoints[0].metadata.filter_metadata[\"f\"]", 1,
		  57 },
		{ "{\"clusterName\": \"a\",\n \"cluster_name\": \"b\"}", EDS_E_DECODE,
		  "field \"cluster_name\" is given twice in envoy.config.endpoint.v3.ClusterLoadAssignment", "", 2,
		  2 },
		{ "", EDS_E_DECODE, "empty input: expected a JSON object", "", 1, 1 },
		{ " [1]", EDS_E_DECODE,
		  "expected a JSON object (envoy.config.endpoint.v3.ClusterLoadAssignment), got an array", "", 1, 2 },
		{ "\"x\"", EDS_E_DECODE,
		  "expected a JSON object (envoy.config.endpoint.v3.ClusterLoadAssignment), got a string", "", 1, 1 },
		{ "{\"endpoints\":[{\"lbEndpoints\":[{\"endpoint\":{\"address\":{\"socketAddress\":\n"
		  "   {\"address\":\"a\", \"prt\": 1}}}}]}]}",
		  EDS_E_DECODE, "unknown field \"prt\" in envoy.config.core.v3.SocketAddress",
		  "endpoints[0].lb_endpoints[0].endpoint.address.socket_address", 2, 20 },
		{ "{\"endpoints\":[{\"lbEndpoints\":[{},{\"endpoint\":{\"address\":{\"socketAddress\":\n"
		  "   {\"portValue\": 4294967296}}}}]}]}",
		  EDS_E_DECODE, "4294967296 is out of range for uint32",
		  "endpoints[0].lb_endpoints[1].endpoint.address.socket_address.port_value", 2, 18 },
		{ "{\"endpoints\":[{\"priority\": -1}]}", EDS_E_DECODE, "-1 is out of range for uint32",
		  "endpoints[0].priority", 1, 28 },
		{ "{\"endpoints\":[{\"priority\": 1.5}]}", EDS_E_DECODE, "1.5 is not an integer (uint32)",
		  "endpoints[0].priority", 1, 28 },
		{ "{\"endpoints\":[{\"priority\": \"12a\"}]}", EDS_E_DECODE, "invalid uint32 \"12a\"",
		  "endpoints[0].priority", 1, 28 },
		{ "{\"endpoints\":[{\"priority\": true}]}", EDS_E_DECODE,
		  "expected an integer (uint32), got true", "endpoints[0].priority", 1, 28 },
		{ "{\"policy\":{\"weightedPriorityHealth\":\"true\"}}", EDS_E_DECODE,
		  "expected true or false, got a string", "policy.weighted_priority_health", 1, 37 },
		{ "{\"clusterName\":5}", EDS_E_DECODE, "expected a string, got a number", "cluster_name", 1, 16 },
		{ "{\"endpoints\":[{\"lbEndpoints\":[{\"healthStatus\":\"NOPE\"}]}]}", EDS_E_DECODE,
		  "unknown enum value \"NOPE\" for envoy.config.core.v3.HealthStatus",
		  "endpoints[0].lb_endpoints[0].health_status", 1, 47 },
		{ "{\"endpoints\":[{\"lbEndpoints\":[{\"healthStatus\":2147483648}]}]}", EDS_E_DECODE,
		  "2147483648 is out of range for enum", "endpoints[0].lb_endpoints[0].health_status", 1, 47 },
		{ "{\"endpoints\":[{\"lbEndpoints\":[{\"endpoint\":{\"address\":{\"socketAddress\":{},\n"
		  "  \"pipe\":{}}}}]}]}",
		  EDS_E_DECODE,
		  "field \"pipe\" is specified along with field \"socket_address\", another member of the same oneof",
		  "endpoints[0].lb_endpoints[0].endpoint.address", 2, 3 },
		{ "{\"endpoints\":[{\"lbEndpoints\":[{\"endpointName\":\"\", \"endpoint\":{}}]}]}", EDS_E_DECODE,
		  "field \"endpoint\" is specified along with field \"endpoint_name\", another member of the same oneof",
		  "endpoints[0].lb_endpoints[0]", 1, 51 },
		{ "{\"endpoints\":[{\"lbEndpoints\":[{}, null]}]}", EDS_E_DECODE,
		  "null is not allowed as an element of \"lb_endpoints\"", "endpoints[0].lb_endpoints[1]", 1, 35 },
		{ "{\"endpoints\":{}}", EDS_E_DECODE,
		  "expected an array for repeated field \"endpoints\", got an object", "endpoints", 1, 14 },
		{ "{\"namedEndpoints\":[]}", EDS_E_DECODE,
		  "expected an object for map field \"named_endpoints\", got an array", "named_endpoints", 1, 19 },
		{ "{\"namedEndpoints\":{\"a\":null}}", EDS_E_DECODE, "null is not allowed as a map value",
		  "named_endpoints[\"a\"]", 1, 24 },
		{ "{\"policy\":[]}", EDS_E_DECODE,
		  "expected an object for envoy.config.endpoint.v3.ClusterLoadAssignment.Policy, got an array",
		  "policy", 1, 11 },
		{ "{\"endpoints\":[{\"loadBalancingWeight\":{\"value\":3}}]}", EDS_E_DECODE,
		  "google.protobuf.UInt32Value is written as a bare value in JSON, got an object",
		  "endpoints[0].load_balancing_weight", 1, 38 },
		{ "{\"policy\":{\"endpointStaleAfter\":\"1.5\"}}", EDS_E_DECODE,
		  "invalid duration \"1.5\" (expected seconds with an \"s\" suffix, e.g. \"1.5s\")",
		  "policy.endpoint_stale_after", 1, 33 },
		{ "{\"policy\":{\"endpointStaleAfter\":\"1.0000000001s\"}}", EDS_E_DECODE,
		  "invalid duration \"1.0000000001s\" (expected seconds with an \"s\" suffix, e.g. \"1.5s\")",
		  "policy.endpoint_stale_after", 1, 33 },
		{ "{\"policy\":{\"endpointStaleAfter\":\"1.99999999999s\"}}", EDS_E_DECODE,
		  "invalid duration \"1.99999999999s\" (expected seconds with an \"s\" suffix, e.g. \"1.5s\")",
		  "policy.endpoint_stale_after", 1, 33 },
		{ "{\"policy\":{\"endpointStaleAfter\":\"315576000001s\"}}", EDS_E_DECODE,
		  "duration \"315576000001s\" is out of range (at most 315576000000 seconds)",
		  "policy.endpoint_stale_after", 1, 33 },
		{ "{\"policy\":{\"endpointStaleAfter\":30}}", EDS_E_DECODE,
		  "expected a duration string such as \"1.5s\" (google.protobuf.Duration), got a number",
		  "policy.endpoint_stale_after", 1, 33 },
		{ "{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"k\":\n"
		  "  {\"@type\":\"type.googleapis.com/no.Such\"}}}}]}",
		  EDS_E_DECODE, "unknown type \"type.googleapis.com/no.Such\" in google.protobuf.Any",
		  "endpoints[0].metadata.typed_filter_metadata[\"k\"]", 2, 12 },
		{ "{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"k\":{\"@type\":"
		  "\"type.googleapis.com/envoy.config.core.v3.Pipe\",\"@type\":\"x\"}}}}]}",
		  EDS_E_DECODE, "\"@type\" is given twice in google.protobuf.Any",
		  "endpoints[0].metadata.typed_filter_metadata[\"k\"]", 1, 112 },
		{ "{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"k\":{\"@type\":"
		  "\"type.googleapis.com/google.protobuf.Value\",\"value\":1,\"value\":2}}}}]}",
		  EDS_E_DECODE, "\"value\" is given twice in google.protobuf.Any",
		  "endpoints[0].metadata.typed_filter_metadata[\"k\"]", 1, 118 },
		{ "{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"k\":{\"a\":1}}}}]}", EDS_E_DECODE,
		  "missing \"@type\" in google.protobuf.Any", "endpoints[0].metadata.typed_filter_metadata[\"k\"]",
		  1, 55 },
		{ "{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"k\":{\"@type\":"
		  "\"type.googleapis.com/envoy.config.core.v3.Address\",\"pipe\":{\"mode\":\"x\"}}}}}]}",
		  EDS_E_DECODE, "invalid uint32 \"x\"",
		  "endpoints[0].metadata.typed_filter_metadata[\"k\"].pipe.mode", 1, 130 },
		{ "{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"k\":{\"@type\":"
		  "\"type.googleapis.com/google.protobuf.Duration\",\"value\":\"1\"}}}}]}",
		  EDS_E_DECODE,
		  "invalid duration \"1\" (expected seconds with an \"s\" suffix, e.g. \"1.5s\")",
		  "endpoints[0].metadata.typed_filter_metadata[\"k\"].value", 1, 119 },
		{ "{\"endpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"k\":{\"@type\":"
		  "\"type.googleapis.com/google.protobuf.Struct\",\"fields\":{}}}}}]}",
		  EDS_E_DECODE,
		  "unknown field \"fields\" in google.protobuf.Any of type google.protobuf.Struct (expected only "
		  "\"@type\" and \"value\")",
		  "endpoints[0].metadata.typed_filter_metadata[\"k\"]", 1, 109 },
		{ "{\"endpoints\":[{\"metadata\":{\"filterMetadata\":{\"f\":{\"a\":[1,{\"b\":[true,{\"c\":x}]}]}}}}]}",
		  EDS_E_DECODE, "invalid JSON: invalid token 'x'",
		  "endpoints[0].metadata.filter_metadata[\"f\"][\"a\"][1][\"b\"][1][\"c\"]", 1, 74 },
		{ "{\"endpoints\":[{\"metadata\":{\"filterMetadata\":{\"f\":[]}}}]}", EDS_E_DECODE,
		  "expected an object for google.protobuf.Struct, got an array",
		  "endpoints[0].metadata.filter_metadata[\"f\"]", 1, 50 },
		{ "{\"endpoints\":[{\"ledsClusterLocalityConfig\":{\"ledsConfig\":{\"apiConfigSource\":{"
		  "\"grpcServices\":[{\"initialMetadata\":[{\"rawValue\":\"AAE=A\"}]}]}}}}]}",
		  EDS_E_DECODE, "invalid base64 in bytes field",
		  "endpoints[0].leds_cluster_locality_config.leds_config.api_config_source.grpc_services[0]"
		  ".initial_metadata[0].raw_value",
		  1, 126 },
		{ "{\"endpoints\":[{\"ledsClusterLocalityConfig\":{\"ledsConfig\":{\"apiConfigSource\":{"
		  "\"rateLimitSettings\":{\"fillRate\":\"1e999\"}}}}}]}",
		  EDS_E_DECODE, "\"1e999\" is out of range for double",
		  "endpoints[0].leds_cluster_locality_config.leds_config.api_config_source.rate_limit_settings"
		  ".fill_rate",
		  1, 110 },
		{ "{\"endpoints\":[{\"ledsClusterLocalityConfig\":{\"ledsConfig\":{\"apiConfigSource\":{"
		  "\"grpcServices\":[{\"retryPolicy\":{\"hostSelectionRetryMaxAttempts\":\"9223372036854775808\"}}]}}}}]}",
		  EDS_E_DECODE, "\"9223372036854775808\" is out of range for int64",
		  "endpoints[0].leds_cluster_locality_config.leds_config.api_config_source.grpc_services[0]"
		  ".retry_policy.host_selection_retry_max_attempts",
		  1, 142 },
		{ "{\"endpoints\":[{\"ledsClusterLocalityConfig\":{\"ledsConfig\":{\"apiConfigSource\":{"
		  "\"grpcServices\":[{\"googleGrpc\":{\"callCredentials\":[{\"serviceAccountJwtAccess\":"
		  "{\"tokenLifetimeSeconds\":-1}}]}}]}}}}]}",
		  EDS_E_DECODE, "-1 is out of range for uint64",
		  "endpoints[0].leds_cluster_locality_config.leds_config.api_config_source.grpc_services[0]"
		  ".google_grpc.call_credentials[0].service_account_jwt_access.token_lifetime_seconds",
		  1, 179 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct err_case *k = &cases[i];
		struct eds_diag d;
		struct eds_src src;
		ProtobufCMessage *m;
		int rc = decode(k->in, &m, &d, &src);
		unsigned line = 0, col = 0;
		if (d.loc == EDS_LOC_SPAN)
			eds_src_linecol(&src, d.span.start, &line, &col);
		CHECK(rc == k->code && (int)d.code == k->code, "case %zu: code %d, want %d (%s)", i, rc, k->code,
		      d.msg);
		CHECK(strcmp(d.msg, k->msg) == 0, "case %zu: message\n  got:  %s\n  want: %s", i, d.msg, k->msg);
		CHECK(strcmp(d.path, k->path) == 0, "case %zu: path\n  got:  %s\n  want: %s", i, d.path,
		      k->path);
		CHECK(line == k->line && col == k->col, "case %zu: location %u:%u, want %u:%u", i, line, col,
		      k->line, k->col);
	}
}

static char *nested_struct_json(size_t levels)
{
	/* {"endpoints":[{"metadata":{"filterMetadata":{"f": {"a":{"a":...{}}} }}}]} */
	const char *head = "{\"endpoints\":[{\"metadata\":{\"filterMetadata\":{\"f\":";
	const char *tail = "}}}]}";
	size_t n = strlen(head) + levels * 6 + 2 + levels + strlen(tail) + 1;
	char *s = malloc(n), *p = s;
	p += sprintf(p, "%s", head);
	for (size_t i = 0; i < levels; i++)
		p += sprintf(p, "{\"a\":");
	p += sprintf(p, "{}");
	for (size_t i = 0; i < levels; i++)
		*p++ = '}';
	sprintf(p, "%s", tail);
	return s;
}

static void test_depth(void)
{
	struct eds_diag d;
	struct eds_src src;
	ProtobufCMessage *m;

	char *deep = nested_struct_json(10000);
	int rc = decode(deep, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT &&
		      strcmp(d.msg, "messages nested deeper than 100 levels (--max-depth) in "
				    "google.protobuf.Struct.FieldsEntry") == 0 && d.loc == EDS_LOC_SPAN,
	      "10000-deep struct: %d %s", rc, d.msg);
	/* with no message depth limit, the JSON nesting cap still holds */
	struct eds_limits unlimited = eds_limits_default;
	unlimited.max_depth = 0;
	rc = decode_desc(CLA_DESC, deep, &unlimited, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT && strcmp(d.msg, "JSON nested deeper than 2048 levels") == 0 &&
		      d.loc == EDS_LOC_SPAN,
	      "10000-deep struct, no depth limit: %d %s", rc, d.msg);
	free(deep);
	deep = nested_struct_json(1000);
	rc = decode_desc(CLA_DESC, deep, &unlimited, &m, &d, &src);
	CHECK(rc == 0, "1000-deep struct, no depth limit: %d %s", rc, d.msg);
	free(deep);

	/* Below the CLA: LocalityLbEndpoints 1, Metadata 2, entry 3, Struct 4,
	 * then 3 per level (entry, Value, Struct) */
	deep = nested_struct_json(40);
	rc = decode(deep, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT &&
		      strcmp(d.msg, "messages nested deeper than 100 levels (--max-depth) in "
				    "google.protobuf.Struct.FieldsEntry") == 0,
	      "40-deep struct: %d %s", rc, d.msg);
	CHECK(strncmp(d.path, "endpoints[0].metadata.filter_metadata[\"f\"][\"a\"][\"a\"]", 52) == 0,
	      "depth path: %s", d.path);
	free(deep);

	deep = nested_struct_json(32); /* innermost Struct at 4 + 3*32 = 100 */
	rc = decode(deep, &m, &d, &src);
	CHECK(rc == 0, "32-deep struct is within the limit: %s", d.msg);
	if (rc == 0) {
		char *js = encode(m, false, false, &rc, &d);
		CHECK(rc == 0 && strlen(js) == strlen(deep) + 1 && memcmp(js, deep, strlen(deep)) == 0,
		      "32-deep struct prints back");
	}
	free(deep);

	struct eds_limits lim = eds_limits_default;
	lim.max_depth = 2; /* below the CLA: LocalityLbEndpoints 1, Locality 2 */
	rc = decode_desc(CLA_DESC, "{\"endpoints\":[{\"locality\":{}}]}", &lim, &m, &d, &src);
	CHECK(rc == 0, "depth 2 ok: %s", d.msg);
	rc = decode_desc(CLA_DESC, "{\"endpoints\":[{\"lbEndpoints\":[{\"endpoint\":{}}]}]}", &lim, &m, &d,
			 &src);
	CHECK(rc == EDS_E_LIMIT && strcmp(d.path, "endpoints[0].lb_endpoints[0].endpoint") == 0,
	      "depth 3 fails: %s at %s", d.msg, d.path);

	lim = eds_limits_default;
	lim.max_input = 10;
	rc = decode_desc(CLA_DESC, "{\"clusterName\":\"abc\"}", &lim, &m, &d, &src);
	CHECK(rc == EDS_E_LIMIT && strstr(d.msg, "more than the limit of 10"), "max input: %s", d.msg);
}

static void test_encode_errors(void)
{
	struct eds_diag d;
	int rc;
	Cla *cla = new_msg(CLA_DESC);
	Lle *l = new_msg(&envoy__config__endpoint__v3__locality_lb_endpoints__descriptor);
	cla->n_endpoints = 1;
	cla->endpoints = array(1);
	cla->endpoints[0] = l;
	Envoy__Config__Core__V3__Metadata *md = new_msg(&envoy__config__core__v3__metadata__descriptor);
	l->metadata = md;
	Envoy__Config__Core__V3__Metadata__TypedFilterMetadataEntry *te =
		new_msg(&envoy__config__core__v3__metadata__typed_filter_metadata_entry__descriptor);
	te->key = "k";
	md->n_typed_filter_metadata = 1;
	md->typed_filter_metadata = array(1);
	md->typed_filter_metadata[0] = te;

	te->value = new_msg(&google__protobuf__any__descriptor);
	te->value->type_url = "type.googleapis.com/no.Such";
	encode(&cla->base, false, false, &rc, &d);
	CHECK(rc == EDS_E_ENCODE &&
		      strcmp(d.msg, "cannot print google.protobuf.Any of unknown type "
				    "\"type.googleapis.com/no.Such\" as JSON") == 0 &&
		      strcmp(d.path, "endpoints[0].metadata.typed_filter_metadata[\"k\"]") == 0,
	      "unknown any: %d %s at %s", rc, d.msg, d.path);

	te->value->type_url = "type.googleapis.com/envoy.config.core.v3.Address";
	te->value->value.data = (uint8_t *)"\x0a\x05\x01";
	te->value->value.len = 3;
	encode(&cla->base, false, false, &rc, &d);
	CHECK(rc == EDS_E_ENCODE && strstr(d.msg, "does not decode"), "bad any value: %d %s", rc, d.msg);

	te->value->type_url = "type.googleapis.com/google.protobuf.Value";
	{
		/* Value{list_value{values{list_value{...}}}}: tag 0x32 (Value.list_value),
		 * tag 0x0a (ListValue.values) alternate; lengths grow by 2 per level */
		size_t levels = 120;
		uint8_t *buf = eds_arena_alloc(A, levels * 3 + 8);
		size_t len = 0;
		uint8_t *end = buf + levels * 3 + 8, *p = end;
		for (size_t i = 0; i < levels; i++) {
			uint8_t tag = i % 2 ? 0x32 : 0x0a;
			size_t inner = len;
			if (inner < 128) {
				*--p = (uint8_t)inner;
			} else {
				*--p = (uint8_t)(inner >> 7);
				*--p = (uint8_t)(0x80 | (inner & 0x7f));
			}
			*--p = tag;
			len = (size_t)(end - p);
		}
		/* the outermost tag must be Value.list_value (0x32) */
		if (*p != 0x32) {
			p += 2;
			len -= 2;
		}
		te->value->value.data = p;
		te->value->value.len = len;
		encode(&cla->base, false, false, &rc, &d);
		CHECK(rc == EDS_E_ENCODE && strstr(d.msg, "nests messages deeper than 100 levels"),
		      "deep any: %d %s", rc, d.msg);
	}

	Val *nan = num_val(NAN);
	te->value = pack_any("type.googleapis.com/google.protobuf.Value", &nan->base);
	encode(&cla->base, false, false, &rc, &d);
	CHECK(rc == EDS_E_ENCODE &&
		      strcmp(d.msg, "cannot print NaN in a google.protobuf.Value as JSON") == 0 &&
		      strcmp(d.path, "endpoints[0].metadata.typed_filter_metadata[\"k\"].value") == 0,
	      "NaN value: %d %s at %s", rc, d.msg, d.path);

	md->n_typed_filter_metadata = 0;
	Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *fm =
		new_msg(&envoy__config__core__v3__metadata__filter_metadata_entry__descriptor);
	fm->key = "f";
	fm->value = mk_struct(1, "x", num_val(-INFINITY));
	md->n_filter_metadata = 1;
	md->filter_metadata = array(1);
	md->filter_metadata[0] = fm;
	encode(&cla->base, false, false, &rc, &d);
	CHECK(rc == EDS_E_ENCODE && strcmp(d.msg, "cannot print Infinity in a google.protobuf.Value as JSON") == 0 &&
		      strcmp(d.path, "endpoints[0].metadata.filter_metadata[\"f\"][\"x\"]") == 0,
	      "Infinity in struct: %d %s at %s", rc, d.msg, d.path);

	md->n_filter_metadata = 0;
	Cla *c2 = new_msg(CLA_DESC);
	c2->policy = new_msg(&envoy__config__endpoint__v3__cluster_load_assignment__policy__descriptor);
	c2->policy->endpoint_stale_after = dur(1, -5);
	encode(&c2->base, false, false, &rc, &d);
	CHECK(rc == EDS_E_ENCODE && strcmp(d.path, "policy.endpoint_stale_after") == 0,
	      "bad duration: %d %s", rc, d.msg);

	c2->policy->endpoint_stale_after = dur(-315576000000, -999999999);
	char *js = encode(&c2->base, false, false, &rc, &d);
	CHECK(rc == 0 && strstr(js, "\"-315576000000.999999999s\""), "min duration: %s", js);

	c2->cluster_name = "bad \xff utf8";
	encode(&c2->base, false, false, &rc, &d);
	CHECK(rc == EDS_E_ENCODE && strcmp(d.path, "cluster_name") == 0, "invalid utf-8: %s", d.msg);

	Cla *big = rich_cla();
	struct eds_buf b = { .max = 100 };
	struct eds_encode_opts o = { 0 };
	eds_diag_clear(&d);
	rc = eds_json_encode(&big->base, &o, &b, &d);
	CHECK(rc == EDS_E_LIMIT && strcmp(d.msg, "output larger than 100 bytes (--max-output)") == 0,
	      "output limit: %d %s", rc, d.msg);
	eds_buf_release(&b);
}

/* Binary input may repeat a map key: the last entry wins, each key printed once. */
static void test_repeated_map_keys(void)
{
	struct eds_diag d;
	int rc;
	Cla *cla = new_msg(CLA_DESC);
	const char *keys[] = { "a", "b", "a" };
	const char *hosts[] = { "first", "b", "last" };
	cla->n_named_endpoints = 3;
	cla->named_endpoints = array(3);
	for (int i = 0; i < 3; i++) {
		Envoy__Config__Endpoint__V3__ClusterLoadAssignment__NamedEndpointsEntry *ne =
			new_msg(&envoy__config__endpoint__v3__cluster_load_assignment__named_endpoints_entry__descriptor);
		ne->key = (char *)keys[i];
		ne->value = new_msg(&envoy__config__endpoint__v3__endpoint__descriptor);
		ne->value->hostname = (char *)hosts[i];
		cla->named_endpoints[i] = ne;
	}
	char *js = encode(&cla->base, false, false, &rc, &d);
	CHECK(rc == 0 && strcmp(js, "{\"namedEndpoints\":{\"b\":{\"hostname\":\"b\"},\"a\":{\"hostname\":\"last\"}}}\n") == 0,
	      "small map: %s", js);

	/* a Struct of 40 entries, keys k0..k19 twice: the sorting path */
	St *st = new_msg(&google__protobuf__struct__descriptor);
	st->n_fields = 40;
	st->fields = array(40);
	for (int i = 0; i < 40; i++) {
		Google__Protobuf__Struct__FieldsEntry *fe = new_msg(&google__protobuf__struct__fields_entry__descriptor);
		fe->key = eds_arena_alloc(A, 8);
		snprintf(fe->key, 8, "k%d", i % 20);
		fe->value = num_val(i);
		st->fields[i] = fe;
	}
	Val *v = struct_val(st);
	js = encode(&v->base, false, false, &rc, &d);
	char want[512], *p = want;
	p += sprintf(p, "{");
	for (int i = 20; i < 40; i++)
		p += sprintf(p, "%s\"k%d\":%d", i > 20 ? "," : "", i % 20, i);
	sprintf(p, "}\n");
	CHECK(rc == 0 && strcmp(js, want) == 0, "large struct:\n%s\nwant:\n%s", js, want);
}

static void test_numbers(void)
{
	struct eds_diag d;
	int rc;
	static const struct {
		double v;
		const char *want;
	} nums[] = {
		{ 0.1, "0.1" },         { 1.0 / 3, "0.3333333333333333" }, { 1e21, "1e+21" },
		{ 123456789, "123456789" }, { -2.5e-8, "-2.5e-08" },        { 5e-324, "4.94065645841247e-324" },
		{ 9007199254740993.0, "9007199254740992" },
	};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		Cla *cla = new_msg(CLA_DESC);
		Lle *l = new_msg(&envoy__config__endpoint__v3__locality_lb_endpoints__descriptor);
		l->metadata = new_msg(&envoy__config__core__v3__metadata__descriptor);
		Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *fm =
			new_msg(&envoy__config__core__v3__metadata__filter_metadata_entry__descriptor);
		fm->key = "f";
		fm->value = mk_struct(1, "x", num_val(nums[i].v));
		l->metadata->n_filter_metadata = 1;
		l->metadata->filter_metadata = array(1);
		l->metadata->filter_metadata[0] = fm;
		cla->n_endpoints = 1;
		cla->endpoints = array(1);
		cla->endpoints[0] = l;
		char *js = encode(&cla->base, false, false, &rc, &d);
		char want[128];
		snprintf(want, sizeof want, "{\"x\":%s}", nums[i].want);
		CHECK(rc == 0 && strstr(js, want), "number %s: %s", nums[i].want, js);
		struct eds_src src;
		ProtobufCMessage *m;
		char *copy = strdup(js);
		rc = decode(copy, &m, &d, &src);
		CHECK(rc == 0 && ((Cla *)m)->endpoints[0]->metadata->filter_metadata[0]->value->fields[0]
						 ->value->number_value == nums[i].v,
		      "number %s reads back", nums[i].want);
		free(copy);
	}

	/* A float is in range when it rounds to a finite float: FLT_MAX prints
	 * as 3.4028235e+38, a little above it as a double, and reads back. */
	static const struct {
		const char *in;
		bool ok;
		uint32_t bits;
	} floats[] = {
		{ "3.4028235e+38", true, 0x7f7fffff }, { "-3.4028235e+38", true, 0xff7fffff },
		{ "\"3.4028235e+38\"", true, 0x7f7fffff }, { "3.40282356e+38", true, 0x7f7fffff },
		{ "3.4028236e+38", false, 0 }, { "-1e39", false, 0 }, { "1e-46", true, 0 },
		{ "-0", true, 0x80000000 },
	};
	for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
		char js[256];
		snprintf(js, sizeof js,
			 "{\"endpoints\":[{\"lbEndpoints\":[{\"metadata\":{\"typedFilterMetadata\":{\"f\":"
			 "{\"@type\":\"type.googleapis.com/google.protobuf.FloatValue\",\"value\":%s}}}}]}]}",
			 floats[i].in);
		struct eds_src src;
		ProtobufCMessage *m;
		rc = decode(js, &m, &d, &src);
		if (!floats[i].ok) {
			CHECK(rc == EDS_E_DECODE && strstr(d.msg, "is out of range for float"), "float %s: rc %d (%s)",
			      floats[i].in, rc, rc ? d.msg : "");
			continue;
		}
		const ProtobufCBinaryData *v = rc ? NULL
					       : &((Cla *)m)->endpoints[0]->lb_endpoints[0]->metadata
							  ->typed_filter_metadata[0]->value->value;
		/* field 1, fixed32; +0.0 (1e-46 underflows) is not written */
		uint8_t want[5] = { 0x0d };
		memcpy(want + 1, &floats[i].bits, 4);
		size_t wlen = floats[i].bits ? 5 : 0;
		CHECK(v && v->len == wlen && (!wlen || memcmp(v->data, want, wlen) == 0), "float %s: rc %d, %zu bytes (%s)",
		      floats[i].in, rc, v ? v->len : 0, rc ? d.msg : "");
	}
}

static void test_locate(void)
{
	const char *text =
		"{\n"
		"  \"clusterName\" : \"c\",\n"
		"  \"endpoints\": [ {\"priority\": 1},\n"
		"    { \"lb_endpoints\": [ {}, { \"endpoint\" : { \"hostname\": \"h\\\"x\" } } ],\n"
		"      \"metadata\": { \"filterMetadata\": { \"a\\\"b\\\\\": { \"k\": [1, [2, 3]] },\n"
		"                                       \"caf\\u00e9\": 7 },\n"
		"        \"typedFilterMetadata\": {\"t\": {\"@type\": \"x/y\", \"socketAddress\": {\"portValue\": 9}}}}}\n"
		"  ]\n"
		"}\n";
	struct eds_src src = { "t.json", text, strlen(text) };
	static const struct {
		const char *path;
		int rc;
		const char *value;
	} cases[] = {
		{ "", 0, NULL },
		{ "cluster_name", 0, "\"c\"" },
		{ "endpoints[0].priority", 0, "1" },
		{ "endpoints[1].lb_endpoints[1].endpoint.hostname", 0, "\"h\\\"x\"" },
		{ "endpoints[1].metadata.filter_metadata[\"a\\\"b\\\\\"][\"k\"][1][0]", 0, "2" },
		{ "endpoints[1].metadata.filter_metadata[\"caf\xc3\xa9\"]", 0, "7" },
		{ "endpoints[1].metadata.typed_filter_metadata[\"t\"].socket_address.port_value", 0, "9" },
		{ "endpoints[1].lb_endpoints[1].endpoint.address.socket_address", 1,
		  "{ \"hostname\": \"h\\\"x\" }" },
		{ "endpoints[5].priority", 1, NULL },
		{ "endpoints[0].priority[0]", 1, "1" },
		{ "endpoints[0].pri...", 1, NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t s = 0, e = 0;
		int rc = eds_json_locate(&src, cases[i].path, &s, &e);
		const char *want = cases[i].value;
		size_t wlen = want ? strlen(want) : 0;
		bool span_ok;
		if (want)
			span_ok = e - s == wlen && memcmp(text + s, want, wlen) == 0;
		else if (cases[i].rc == 0 || strncmp(cases[i].path, "endpoints[5]", 12) == 0)
			span_ok = text[s] == (cases[i].rc == 0 ? '{' : '[') && text[e - 1] == (cases[i].rc == 0 ? '}' : ']');
		else
			span_ok = text[s] == '{' && e - s == 15; /* {"priority": 1} */
		CHECK(rc == cases[i].rc && span_ok, "locate %s: rc %d, span \"%.*s\"", cases[i].path, rc,
		      (int)(e - s), text + s);
	}
	struct eds_src empty = { "e", "  ", 2 };
	size_t s, e;
	CHECK(eds_json_locate(&empty, "cluster_name", &s, &e) == -1, "locate in empty text");
	struct eds_src deep = { "d", NULL, 0 };
	char *buf = malloc(20001);
	memset(buf, '[', 10000);
	memset(buf + 10000, ']', 10000);
	deep.text = buf;
	deep.len = 20000;
	CHECK(eds_json_locate(&deep, "[0][0][0]", &s, &e) == 0 && s == 3 && e == 19997,
	      "locate in 10000-deep arrays: %zu %zu", s, e);
	free(buf);
}

int main(void)
{
	A = eds_arena_new(1 << 20);
	test_golden();
	test_rich_roundtrip();
	test_config_source_types();
	test_input_variants();
	test_errors();
	test_depth();
	test_encode_errors();
	test_repeated_map_keys();
	test_numbers();
	test_locate();
	eds_arena_free(A);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
