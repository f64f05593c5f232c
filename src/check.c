/*
 * check: Envoy's constraints on one ClusterLoadAssignment (contract in
 * check.h).  Two passes:
 *
 *  1. A generic walk driven by protobuf-c descriptors.  It applies the
 *     protoc-gen-validate rules of Envoy's protos, written below as a table
 *     (message full name, field, rule) because our subset .proto files carry
 *     no validate options; it also checks every Duration (E19), every set
 *     deprecated field (E22) and unknown fields.  Each message type's rows
 *     are looked up once per process (get_plan).
 *  2. A typed pass over localities and endpoints for Envoy's load-time rules
 *     (cla-schema.md §4) and, with opts->grpc, gRPC clients' rules.  The
 *     duplicate-address and duplicate-locality sets are open-addressing hash
 *     tables that store only a hash and indices: keys are recomputed from the
 *     message on a hash match, so there is no allocation per endpoint.
 *
 * Paths and messages are formatted only when a finding is emitted.
 */
#include "check.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "schema.h"

enum rule_kind {
	R_STR_MIN_LEN,     /* string.min_len, counted in code points */
	R_STR_MAX_BYTES,   /* string.max_bytes */
	R_STR_HEADER,      /* well_known_regex HTTP_HEADER_NAME/VALUE, strict: false */
	R_BYTES_MAX_LEN,   /* bytes.max_len */
	R_U32_LTE,         /* uint32.lte (on a UInt32Value: only when present) */
	R_U32_GTE,         /* uint32.gte, and uint32.gt as gte arg+1 */
	R_DOUBLE_GT,       /* double.gt on a DoubleValue, when present; and finite (Envoy) */
	R_ENUM_DEFINED,    /* enum.defined_only */
	R_ONEOF_REQUIRED,  /* (validate.required) on the oneof holding field */
	R_MAP_KEY_MIN_LEN, /* map.keys.string.min_len */
	R_DUR_REQUIRED,    /* duration.required */
	R_DUR_GT,          /* duration.gt, arg in nanoseconds */
	R_DUR_GTE,         /* duration.gte, arg in nanoseconds */
	R_ANY_REQUIRED,    /* any.required */
	/* Not PGV: Envoy behaviour that fits the same shape. */
	R_ENUM_DEPRECATED, /* warn when the enum equals arg */
	R_ENUM_EQUALS,     /* the enum must equal arg */
	R_NOT_IMPLEMENTED, /* warn when the field is set */
};

struct rule {
	const char *msg;   /* full message name */
	const char *field; /* the field; for R_ONEOF_REQUIRED any member */
	enum rule_kind kind;
	int64_t arg;
	const char *id;
	enum eds_severity sev;
	const char *oneof; /* R_ONEOF_REQUIRED: the oneof's name */
};

#define EP "envoy.config.endpoint.v3."
#define CORE "envoy.config.core.v3."
#define GG CORE "GrpcService.GoogleGrpc."
#define ERR(m, f, k, a, id) { m, f, k, a, id, EDS_SEV_ERROR, NULL }
#define WARN(m, f, k, a, id) { m, f, k, a, id, EDS_SEV_WARNING, NULL }
#define ONEOF(m, member, name) { m, member, R_ONEOF_REQUIRED, 0, "oneof-required", EDS_SEV_ERROR, name }
#define MIN_LEN(m, f) ERR(m, f, R_STR_MIN_LEN, 1, "string-min-len")
#define DEFINED(m, f) ERR(m, f, R_ENUM_DEFINED, 0, "enum-defined")
#define HDR_MAX 16384

/*
 * Every (validate.rules) and (validate.required) in the closure of
 * ClusterLoadAssignment (51 in Envoy's protos; each has a row here), rows of
 * one message in field order, then the non-PGV rows.
 */
static const struct rule rules[] = {
	ERR(EP "ClusterLoadAssignment", "cluster_name", R_STR_MIN_LEN, 1, "cluster-name-empty"),
	WARN(EP "ClusterLoadAssignment", "named_endpoints", R_NOT_IMPLEMENTED, 0, "not-implemented"),
	ERR(EP "ClusterLoadAssignment.Policy", "overprovisioning_factor", R_U32_GTE, 1,
	    "overprovisioning-factor"), /* gt: 0 */
	ERR(EP "ClusterLoadAssignment.Policy", "endpoint_stale_after", R_DUR_GT, 0, "duration-range"),
	ERR(EP "ClusterLoadAssignment.Policy.DropOverload", "category", R_STR_MIN_LEN, 1,
	    "drop-category-empty"),
	ERR(EP "LocalityLbEndpoints", "load_balancing_weight", R_U32_GTE, 1, "weight-min"),
	ERR(EP "LocalityLbEndpoints", "priority", R_U32_LTE, 128, "priority-max"),
	WARN(EP "LocalityLbEndpoints", "proximity", R_NOT_IMPLEMENTED, 0, "not-implemented"),
	WARN(EP "LbEndpoint", "health_status", R_ENUM_DEFINED, 0, "health-status-undefined"),
	ERR(EP "LbEndpoint", "load_balancing_weight", R_U32_GTE, 1, "weight-min"),
	ERR(EP "Endpoint.HealthCheckConfig", "port_value", R_U32_LTE, 65535, "port-range"),
	ERR(CORE "Metadata", "filter_metadata", R_MAP_KEY_MIN_LEN, 1, "map-key-empty"),
	ERR(CORE "Metadata", "typed_filter_metadata", R_MAP_KEY_MIN_LEN, 1, "map-key-empty"),
	ONEOF(CORE "Address", "socket_address", "address"),
	DEFINED(CORE "SocketAddress", "protocol"),
	ERR(CORE "SocketAddress", "address", R_STR_MIN_LEN, 1, "address-empty"),
	ONEOF(CORE "SocketAddress", "port_value", "port_specifier"),
	ERR(CORE "SocketAddress", "port_value", R_U32_LTE, 65535, "port-range"),
	ERR(CORE "Pipe", "path", R_STR_MIN_LEN, 1, "pipe-path-empty"),
	ERR(CORE "Pipe", "mode", R_U32_LTE, 0777, "pipe-mode"),
	ONEOF(CORE "EnvoyInternalAddress", "server_listener_name", "address_name_specifier"),
	DEFINED("envoy.type.v3.FractionalPercent", "denominator"),
	/* The ConfigSource subtree, reached through leds_cluster_locality_config. */
	ONEOF(CORE "ConfigSource", "path", "config_source_specifier"),
	DEFINED(CORE "ConfigSource", "resource_api_version"),
	WARN(CORE "ConfigSource", "resource_api_version", R_ENUM_DEPRECATED, 1, "deprecated-enum"),
	MIN_LEN("xds.core.v3.Authority", "name"),
	MIN_LEN(CORE "PathConfigSource", "path"),
	MIN_LEN(CORE "WatchedDirectory", "path"),
	DEFINED(CORE "ApiConfigSource", "api_type"),
	DEFINED(CORE "ApiConfigSource", "transport_api_version"),
	WARN(CORE "ApiConfigSource", "transport_api_version", R_ENUM_EQUALS, 2, "transport-api-version"),
	ERR(CORE "ApiConfigSource", "request_timeout", R_DUR_GT, 0, "duration-range"),
	DEFINED(CORE "SelfConfigSource", "transport_api_version"),
	WARN(CORE "SelfConfigSource", "transport_api_version", R_ENUM_DEPRECATED, 1, "deprecated-enum"),
	ERR(CORE "RateLimitSettings", "fill_rate", R_DOUBLE_GT, 0, "fill-rate"),
	MIN_LEN(CORE "TypedExtensionConfig", "name"),
	ERR(CORE "TypedExtensionConfig", "typed_config", R_ANY_REQUIRED, 0, "any-required"),
	ONEOF(CORE "GrpcService", "envoy_grpc", "target_specifier"),
	MIN_LEN(CORE "GrpcService.EnvoyGrpc", "cluster_name"),
	ERR(CORE "GrpcService.EnvoyGrpc", "authority", R_STR_MAX_BYTES, HDR_MAX, "header-size"),
	ERR(CORE "GrpcService.EnvoyGrpc", "authority", R_STR_HEADER, 0, "header-chars"),
	MIN_LEN(CORE "GrpcService.GoogleGrpc", "target_uri"),
	MIN_LEN(CORE "GrpcService.GoogleGrpc", "stat_prefix"),
	ONEOF(GG "ChannelCredentials", "ssl_credentials", "credential_specifier"),
	ONEOF(GG "CallCredentials", "access_token", "credential_specifier"),
	MIN_LEN(GG "CallCredentials.StsService", "subject_token_path"),
	MIN_LEN(GG "CallCredentials.StsService", "subject_token_type"),
	ONEOF(GG "ChannelArgs.Value", "string_value", "value_specifier"),
	MIN_LEN(CORE "HeaderValue", "key"),
	ERR(CORE "HeaderValue", "key", R_STR_MAX_BYTES, HDR_MAX, "header-size"),
	ERR(CORE "HeaderValue", "key", R_STR_HEADER, 0, "header-chars"),
	ERR(CORE "HeaderValue", "value", R_STR_MAX_BYTES, HDR_MAX, "header-size"),
	ERR(CORE "HeaderValue", "value", R_STR_HEADER, 0, "header-chars"),
	ERR(CORE "HeaderValue", "raw_value", R_BYTES_MAX_LEN, HDR_MAX, "header-size"),
	MIN_LEN(CORE "RetryPolicy.RetryPriority", "name"),
	MIN_LEN(CORE "RetryPolicy.RetryHostPredicate", "name"),
	ERR(CORE "BackoffStrategy", "base_interval", R_DUR_REQUIRED, 0, "duration-range"),
	ERR(CORE "BackoffStrategy", "base_interval", R_DUR_GTE, 1000000, "duration-range"),
	ERR(CORE "BackoffStrategy", "max_interval", R_DUR_GT, 0, "duration-range"),
	ONEOF(CORE "DataSource", "filename", "specifier"),
	MIN_LEN(CORE "DataSource", "filename"),
	MIN_LEN(CORE "DataSource", "environment_variable"),
};

#define PLAN_ROWS 8
#define PLAN_STEPS 24 /* fields walk looks at; a type with more is walked field by field */

/* A field walk looks at: deprecated, or messages to visit. */
enum shape { PLAIN, MAP_OF_MESSAGES, MAP_OF_SCALARS };
struct plan;
struct step {
	const ProtobufCFieldDescriptor *f;
	enum shape shape;
	bool visit; /* messages in which rules apply (see visit()) */
	_Atomic(const struct plan *) sub; /* the plan of those messages, once looked up */
};

struct plan {
	const ProtobufCMessageDescriptor *desc;
	enum eds_wkt wkt;
	unsigned n;
	const struct rule *row[PLAN_ROWS];
	const ProtobufCFieldDescriptor *field[PLAN_ROWS];
	unsigned nsteps; /* PLAN_STEPS + 1: too many, look at every field */
	struct step step[PLAN_STEPS];
};

/* A set of endpoints (or localities) keyed by address; see struct akey. */
struct dent {
	uint64_t hash;
	uint32_t i, j, k; /* endpoints[i].lb_endpoints[j], k-1: additional address */
};
struct dset {
	uint32_t *slot; /* entry index + 1, 0 = empty */
	struct dent *ent;
	size_t n, mask;
};

/*
 * An address the duplicate check looks at, in walk order.  Most addresses
 * are unique: only those whose hash occurs more than once (cand) go into the
 * set, so the walk over 100,000 endpoints does not miss the cache on a
 * 100,000-entry table.
 */
struct site {
	uint64_t hash;
	uint8_t kind; /* enum akind, 0 when the address is too broken to compare */
	bool cand;
};

struct ctx {
	bool grpc;
	bool errors_only; /* eds_check_opts.errors_only */
	bool dups;        /* look for duplicate addresses (warnings, errors for gRPC) */
	struct eds_diags *out;
	size_t nerr;
	struct eds_path path;
	const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla;
	struct site *sites;
	size_t nsites, next_site;
	const ProtobufCMessage *memo; /* a Metadata just visited without findings */
};

__attribute__((format(printf, 5, 6)))
static void emit(struct ctx *c, enum eds_severity sev, const char *id, const char *leaf,
		 const char *fmt, ...)
{
	if (c->errors_only && sev != EDS_SEV_ERROR)
		return;
	struct eds_diag *d = eds_diags_add(c->out);
	va_list ap;

	d->code = EDS_FINDINGS;
	d->severity = sev;
	d->id = id;
	if (leaf)
		eds_path_push(&c->path, leaf, -1);
	eds_diag_path(d, &c->path);
	if (leaf)
		eds_path_pop(&c->path);
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
	if (sev == EDS_SEV_ERROR) {
		c->nerr++;
		c->out->nerrors++;
	} else if (sev == EDS_SEV_WARNING) {
		c->out->nwarnings++;
	}
}

/* s as a one-line quoted string for a message, cut at 64 bytes (on a character boundary). */
static const char *quote(char *buf, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t at = 0, i;

	buf[at++] = '"';
	for (i = 0; s && s[i] && i < 64 && at + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			buf[at++] = '\\';
			buf[at++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			buf[at++] = '\\';
			buf[at++] = 'x';
			buf[at++] = hex[ch >> 4];
			buf[at++] = hex[ch & 15];
		} else {
			buf[at++] = (char)ch;
		}
	}
	/* Never cut inside a UTF-8 sequence: findings go out as JSON too.
	 * Bytes >= 0x80 were copied one for one, so at backs off with i. */
	while (i > 0 && s[i] && ((unsigned char)s[i] & 0xC0) == 0x80) {
		i--;
		at--;
	}
	buf[at++] = '"';
	if (s && s[i] && at + 4 < size) {
		memcpy(buf + at, "...", 3);
		at += 3;
	}
	buf[at] = '\0';
	return buf;
}

/* "1.500s", "-0.000000001s": protobuf's JSON form; raw fields when invalid. */
static const char *fmt_duration(char *buf, size_t size, int64_t s, int32_t n)
{
	if (n <= -1000000000 || n >= 1000000000 || (s > 0 && n < 0) || (s < 0 && n > 0)) {
		snprintf(buf, size, "{seconds: %" PRId64 ", nanos: %" PRId32 "}", s, n);
		return buf;
	}
	const char *sign = (s < 0 || n < 0) ? "-" : "";
	uint64_t us = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
	uint32_t un = (uint32_t)(n < 0 ? -n : n);
	if (un == 0)
		snprintf(buf, size, "%s%" PRIu64 "s", sign, us);
	else if (un % 1000000 == 0)
		snprintf(buf, size, "%s%" PRIu64 ".%03" PRIu32 "s", sign, us, un / 1000000);
	else if (un % 1000 == 0)
		snprintf(buf, size, "%s%" PRIu64 ".%06" PRIu32 "s", sign, us, un / 1000);
	else
		snprintf(buf, size, "%s%" PRIu64 ".%09" PRIu32 "s", sign, us, un);
	return buf;
}

static const char *str_at(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *s = *(char *const *)((const char *)m + f->offset);
	return s ? s : "";
}

static uint32_t oneof_case(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return *(const uint32_t *)((const char *)m + f->quantifier_offset);
}

static bool is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Whether a field would be serialized (set, in proto3 terms). */
static bool field_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *p = base + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) != 0;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return oneof_case(m, f) == f->id;
	switch (f->type) {
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p != NULL;
	case PROTOBUF_C_TYPE_STRING:
		return *(const char *const *)p && **(const char *const *)p;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len != 0;
	default:
		break;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
		return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return !is_zero(p, 8);
	case PROTOBUF_C_TYPE_BOOL:
		return !is_zero(p, sizeof(protobuf_c_boolean));
	default:
		return !is_zero(p, 4);
	}
}

static bool is_map_entry(const ProtobufCMessageDescriptor *parent, const ProtobufCMessageDescriptor *d)
{
	size_t pn = strlen(parent->name);
	return eds_schema_map_entry(d) && strncmp(d->name, parent->name, pn) == 0 && d->name[pn] == '.';
}

static enum shape shape_of(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *sd = f->descriptor;
	if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label != PROTOBUF_C_LABEL_REPEATED ||
	    !is_map_entry(desc, sd))
		return PLAIN;
	return sd->fields[1].type == PROTOBUF_C_TYPE_MESSAGE ? MAP_OF_MESSAGES : MAP_OF_SCALARS;
}

/* Whether walking f can find anything: visit() ignores most well-known types. */
static bool visits(const ProtobufCFieldDescriptor *f, enum shape shape)
{
	if (f->type != PROTOBUF_C_TYPE_MESSAGE || shape == MAP_OF_SCALARS)
		return false;
	const ProtobufCMessageDescriptor *sd = f->descriptor;
	if (shape == MAP_OF_MESSAGES)
		sd = sd->fields[1].descriptor;
	enum eds_wkt w = eds_schema_wkt(sd);
	return w == EDS_WKT_NONE || w == EDS_WKT_DURATION;
}

static void *build_plan(const ProtobufCMessageDescriptor *desc)
{
	struct plan *p = malloc(sizeof *p);
	if (!p)
		abort();
	p->desc = desc;
	p->wkt = eds_schema_wkt(desc);
	p->n = 0;
	for (size_t i = 0; i < sizeof rules / sizeof rules[0] && p->n < PLAN_ROWS; i++) {
		if (strcmp(rules[i].msg, desc->name) != 0)
			continue;
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(desc, rules[i].field);
		if (!f)
			continue;
		p->row[p->n] = &rules[i];
		p->field[p->n] = f;
		p->n++;
	}
	p->nsteps = 0;
	for (unsigned i = 0; i < desc->n_fields && p->nsteps <= PLAN_STEPS; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		enum shape shape = shape_of(desc, f);
		bool v = visits(f, shape);
		if (!(f->flags & PROTOBUF_C_FIELD_FLAG_DEPRECATED) && !v)
			continue;
		if (p->nsteps < PLAN_STEPS) {
			p->step[p->nsteps] = (struct step){ f, shape, v };
			atomic_init(&p->step[p->nsteps].sub, NULL);
		}
		p->nsteps++;
	}
	return p;
}

/* Each message type's plan is built on first use and shared by every call
 * and thread (as the codecs' tables are); it lives as long as the process. */
static void *_Atomic plans[EDS_SCHEMA_SLOTS];
_Static_assert(offsetof(struct plan, desc) == 0, "eds_schema_shared finds the descriptor first");

static const struct plan *get_plan(const ProtobufCMessageDescriptor *desc)
{
	return eds_schema_shared(plans, desc, build_plan); /* (build_plan never fails) */
}

static uint32_t wrapped_u32(const ProtobufCMessage *w)
{
	return *(const uint32_t *)((const char *)w + w->descriptor->fields[0].offset);
}

static void enum_names(char *buf, size_t size, const ProtobufCEnumDescriptor *ed)
{
	size_t at = 0;
	buf[0] = '\0';
	for (unsigned i = 0; i < ed->n_values && at < size; i++) {
		int k = snprintf(buf + at, size - at, "%s%s(%d)", i ? ", " : "", ed->values[i].name,
				 ed->values[i].value);
		if (k < 0)
			break;
		at += (size_t)k;
	}
}

static const char *enum_name(const ProtobufCEnumDescriptor *ed, int v, char *buf, size_t size)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	if (ev)
		return ev->name;
	snprintf(buf, size, "%d", v);
	return buf;
}

static bool dur_valid(const Google__Protobuf__Duration *d)
{
	return d->seconds >= 0 && d->nanos >= 0 && d->nanos <= 999999999 &&
	       d->seconds <= 9223372035;
}

/* Envoy's validateDurationNoThrow (E19): every Duration anywhere. */
static void check_duration(struct ctx *c, const Google__Protobuf__Duration *d)
{
	char b[64];
	const char *v = fmt_duration(b, sizeof b, d->seconds, d->nanos);

	if (d->seconds < 0 || d->nanos < 0)
		emit(c, EDS_SEV_ERROR, "duration-invalid", NULL,
		     "duration %s is negative (envoy expects a positive duration)", v);
	else if (d->nanos > 999999999 || d->seconds > 315576000000)
		emit(c, EDS_SEV_ERROR, "duration-invalid", NULL,
		     "duration %s is not a valid google.protobuf.Duration "
		     "(seconds at most 315576000000, nanos 0..999999999)", v);
	else if (d->seconds > 9223372035)
		emit(c, EDS_SEV_ERROR, "duration-invalid", NULL,
		     "duration %s is out of range (envoy allows at most 9223372035s)", v);
}

static void check_oneof(struct ctx *c, const ProtobufCMessage *m, const struct rule *r,
			const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	char names[200];
	size_t at = 0;

	if (oneof_case(m, f) != 0)
		return;
	names[0] = '\0';
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *g = &desc->fields[i];
		if (!(g->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || g->quantifier_offset != f->quantifier_offset)
			continue;
		int k = snprintf(names + at, sizeof names - at, "%s%s", at ? ", " : "", g->name);
		if (k < 0 || (size_t)k >= sizeof names - at)
			break;
		at += (size_t)k;
	}
	emit(c, r->sev, r->id, NULL, "%s is not set (one of %s is required)", r->oneof, names);
}

/* The value a uint32 row looks at: false for an absent UInt32Value. */
static inline bool u32_at(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, uint32_t *v)
{
	const void *p = (const char *)m + f->offset;
	if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
		*v = *(const uint32_t *)p;
		return true;
	}
	const ProtobufCMessage *w = *(ProtobufCMessage *const *)p;
	if (w)
		*v = wrapped_u32(w);
	return w != NULL;
}

/*
 * Whether row r passes on m: decided here for the rows every endpoint goes
 * through (address, port, weight), and for a rule on a oneof member that is
 * not set; for the others apply() decides.  Only rows that do not pass here
 * go to apply(), which reports.
 */
static inline bool passes(const ProtobufCMessage *m, const struct rule *r, const ProtobufCFieldDescriptor *f)
{
	if (r->kind == R_ONEOF_REQUIRED)
		return oneof_case(m, f) != 0;
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && oneof_case(m, f) != f->id)
		return true;
	switch (r->kind) {
	case R_STR_MIN_LEN: { /* one code point: a first byte that starts one */
		unsigned char b = (unsigned char)str_at(m, f)[0];
		return r->arg <= 1 && b && (b & 0xC0) != 0x80;
	}
	case R_U32_LTE:
	case R_U32_GTE: {
		uint32_t v;
		if (!u32_at(m, f, &v))
			return true;
		return r->kind == R_U32_LTE ? v <= r->arg : v >= r->arg;
	}
	case R_ENUM_DEFINED: { /* one range of numbers: protobuf-c's lookup, inline */
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCIntRange *vr = ed->value_ranges;
		int v = *(const int *)((const char *)m + f->offset);
		return ed->n_value_ranges == 1 && v >= vr[0].start_value &&
		       (int64_t)v - vr[0].start_value < vr[1].orig_index - vr[0].orig_index;
	}
	default:
		return false;
	}
}

static void apply(struct ctx *c, const ProtobufCMessage *m, const struct rule *r,
		  const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *p = base + f->offset;
	char b1[128], b2[400];

	switch (r->kind) {
	case R_STR_MIN_LEN: {
		const char *s = str_at(m, f);
		int64_t n = 0;
		for (; *s && n < r->arg; s++)
			n += ((unsigned char)*s & 0xC0) != 0x80;
		if (n < r->arg)
			emit(c, r->sev, r->id, f->name, "%s is empty (at least %" PRId64 " character%s required)",
			     f->name, r->arg, r->arg == 1 ? "" : "s");
		break;
	}
	case R_STR_MAX_BYTES: {
		size_t n = strlen(str_at(m, f));
		if ((int64_t)n > r->arg)
			emit(c, r->sev, r->id, f->name, "%s is %zu bytes long (at most %" PRId64 " allowed)",
			     f->name, n, r->arg);
		break;
	}
	case R_STR_HEADER: {
		const char *s = str_at(m, f);
		size_t at = strcspn(s, "\r\n");
		if (s[at])
			emit(c, r->sev, r->id, f->name,
			     "%s %s contains %s at byte %zu (NUL, CR and LF are not allowed in headers)",
			     f->name, quote(b1, sizeof b1, s), s[at] == '\r' ? "CR" : "LF", at);
		break;
	}
	case R_BYTES_MAX_LEN: {
		size_t n = ((const ProtobufCBinaryData *)p)->len;
		if ((int64_t)n > r->arg)
			emit(c, r->sev, r->id, f->name, "%s is %zu bytes long (at most %" PRId64 " allowed)",
			     f->name, n, r->arg);
		break;
	}
	case R_U32_LTE:
	case R_U32_GTE: {
		uint32_t v = 0;
		u32_at(m, f, &v); /* present and out of range: passes() cleared the others */
		const char *what = strcmp(f->name, "port_value") == 0 ? "port" : f->name;
		if (r->kind == R_U32_LTE)
			emit(c, r->sev, r->id, f->name, "%s %" PRIu32 " is out of range (0..%" PRId64 ")",
			     what, v, r->arg);
		else
			emit(c, r->sev, r->id, f->name,
			     "%s %" PRIu32 " is out of range (%" PRId64 "..4294967295)", what, v, r->arg);
		break;
	}
	case R_DOUBLE_GT: {
		const Google__Protobuf__DoubleValue *w = *(Google__Protobuf__DoubleValue *const *)p;
		/* Envoy also refuses an infinite fill_rate (parseRateLimitSettings). */
		if (w && (!(w->value > (double)r->arg) || isinf(w->value)))
			emit(c, r->sev, r->id, f->name,
			     "%s %g is out of range (must be finite and greater than %" PRId64 ")", f->name,
			     w->value, r->arg);
		break;
	}
	case R_ENUM_DEFINED: {
		int v = *(const int *)p;
		if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v)) {
			enum_names(b2, sizeof b2, f->descriptor);
			emit(c, r->sev, r->id, f->name, "%s %d is not a defined value (%s)", f->name, v, b2);
		}
		break;
	}
	case R_ENUM_DEPRECATED: {
		int v = *(const int *)p;
		if (v == r->arg)
			emit(c, r->sev, r->id, f->name, "%s %s is deprecated",
			     f->name, enum_name(f->descriptor, v, b1, sizeof b1));
		break;
	}
	case R_ENUM_EQUALS: {
		int v = *(const int *)p;
		if (v != r->arg && protobuf_c_enum_descriptor_get_value(f->descriptor, v)) {
			char b3[32];
			emit(c, r->sev, r->id, f->name, "%s is %s; envoy expects %s",
			     f->name, enum_name(f->descriptor, v, b1, sizeof b1),
			     enum_name(f->descriptor, (int)r->arg, b3, sizeof b3));
		}
		break;
	}
	case R_MAP_KEY_MIN_LEN: {
		size_t n = *(const size_t *)(base + f->quantifier_offset);
		ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)p;
		const ProtobufCMessageDescriptor *ed = f->descriptor;
		for (size_t i = 0; i < n; i++) {
			const char *key = str_at(v[i], &ed->fields[0]);
			int64_t len = 0;
			for (const char *s = key; *s && len < r->arg; s++)
				len += ((unsigned char)*s & 0xC0) != 0x80;
			if (len >= r->arg)
				continue;
			eds_path_push_key(&c->path, f->name, key, strlen(key));
			emit(c, r->sev, r->id, NULL, "%s key is empty (at least %" PRId64 " character%s required)",
			     f->name, r->arg, r->arg == 1 ? "" : "s");
			eds_path_pop(&c->path);
		}
		break;
	}
	case R_DUR_REQUIRED:
	case R_ANY_REQUIRED:
		if (!*(void *const *)p)
			emit(c, r->sev, r->id, f->name, "%s is not set (required)", f->name);
		break;
	case R_DUR_GT:
	case R_DUR_GTE: {
		const Google__Protobuf__Duration *d = *(Google__Protobuf__Duration *const *)p;
		if (!d || !dur_valid(d))
			break; /* absent passes; invalid is reported as duration-invalid */
		int64_t as = r->arg / 1000000000, an = r->arg % 1000000000;
		bool below = d->seconds < as || (d->seconds == as && d->nanos < an);
		bool equal = d->seconds == as && d->nanos == an;
		if (r->kind == R_DUR_GT ? (below || equal) : below)
			emit(c, r->sev, r->id, f->name, "%s %s is out of range (must be %s %s)", f->name,
			     fmt_duration(b1, sizeof b1, d->seconds, d->nanos),
			     r->kind == R_DUR_GT ? "greater than" : "at least",
			     fmt_duration(b2, sizeof b2, as, (int32_t)an));
		break;
	}
	case R_NOT_IMPLEMENTED:
		if (field_set(m, f))
			emit(c, r->sev, r->id, f->name, "%s is not implemented by envoy and is ignored", f->name);
		break;
	case R_ONEOF_REQUIRED:
		check_oneof(c, m, r, f);
		break;
	}
}

static void check_unknown(struct ctx *c, const ProtobufCMessage *m)
{
	static const char *const wire[] = { "varint", "64-bit", "length-delimited",
					    "group", "end-group", "32-bit" };
	for (size_t i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = m->unknown_fields[k].tag == u->tag;
		if (seen)
			continue;
		const char *wt = (unsigned)u->wire_type < 6 ? wire[u->wire_type] : "?";
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(m->descriptor, u->tag);
		if (f) /* sent with another wire type (codec_bin.c) */
			emit(c, EDS_SEV_WARNING, "unknown-field", NULL,
			     "field %" PRIu32 " (\"%s\", %s) in %s is sent as %s: Envoy ignores it, as an "
			     "unknown field", u->tag, f->name, wire[eds_wire_type(f->type)],
			     m->descriptor->name, wt);
		else
			emit(c, EDS_SEV_WARNING, "unknown-field", NULL, "unknown field %" PRIu32 " (%s) in %s is ignored",
			     u->tag, wt, m->descriptor->name);
	}
}

static void walk(struct ctx *c, const ProtobufCMessage *m, const struct plan *p);

/* The plan of m, a message field st holds (st NULL: a field without a step). */
static inline const struct plan *sub_plan(struct step *st, const ProtobufCMessage *m)
{
	const struct plan *p = st ? atomic_load_explicit(&st->sub, memory_order_acquire) : NULL;
	if (p && p->desc == m->descriptor)
		return p;
	p = get_plan(m->descriptor);
	if (st)
		atomic_store_explicit(&st->sub, p, memory_order_release);
	return p;
}

static void visit(struct ctx *c, const ProtobufCMessage *m, struct step *st)
{
	/* Endpoints may share one Metadata (rules do, expr_eval.c): what it
	 * holds was checked at the first of them, here just before. */
	if (m == c->memo)
		return;
	const struct plan *p = sub_plan(st, m);
	size_t before = c->out->n;
	if (p->wkt == EDS_WKT_DURATION)
		check_duration(c, (const Google__Protobuf__Duration *)m);
	else if (p->wkt == EDS_WKT_NONE)
		walk(c, m, p);
	/* Any, Struct, Value, wrappers, Empty: no rules apply inside */
	if (p->desc == &envoy__config__core__v3__metadata__descriptor && c->out->n == before)
		c->memo = m;
}

/* The deprecated check and the visits of one field of m (st: its step, or NULL). */
static inline void walk_field(struct ctx *c, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
			      enum shape shape, bool visit_them, struct step *st)
{
	const char *base = (const char *)m;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_DEPRECATED) && !c->errors_only && field_set(m, f))
		emit(c, EDS_SEV_WARNING, "deprecated-field", f->name, "%s is deprecated", f->name);
	if (!visit_them)
		return;
	if (f->label != PROTOBUF_C_LABEL_REPEATED) {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
		if (!sub || ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && oneof_case(m, f) != f->id))
			return;
		eds_path_push(&c->path, f->name, -1);
		visit(c, sub, st);
		eds_path_pop(&c->path);
		return;
	}
	size_t n = *(const size_t *)(base + f->quantifier_offset);
	ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);
	if (!n)
		return;
	const ProtobufCMessageDescriptor *sd = f->descriptor;
	if (shape == PLAIN) {
		for (size_t k = 0; k < n; k++) {
			eds_path_push(&c->path, f->name, (int64_t)k);
			visit(c, v[k], st);
			eds_path_pop(&c->path);
		}
		return;
	}
	for (size_t k = 0; k < n; k++) {
		const char *key = sd->fields[0].type == PROTOBUF_C_TYPE_STRING
					  ? str_at(v[k], &sd->fields[0]) : "";
		const ProtobufCMessage *val =
			*(ProtobufCMessage *const *)((const char *)v[k] + sd->fields[1].offset);
		if (!val)
			continue;
		eds_path_push_key(&c->path, f->name, key, strlen(key));
		visit(c, val, st);
		eds_path_pop(&c->path);
	}
}

static void walk(struct ctx *c, const ProtobufCMessage *m, const struct plan *p)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;

	if (m->n_unknown_fields && !c->errors_only)
		check_unknown(c, m);
	for (unsigned r = 0; r < p->n; r++)
		if ((!c->errors_only || p->row[r]->sev == EDS_SEV_ERROR) &&
		    !passes(m, p->row[r], p->field[r]))
			apply(c, m, p->row[r], p->field[r]);
	if (p->nsteps <= PLAN_STEPS) {
		for (unsigned k = 0; k < p->nsteps; k++) {
			struct step *st = (struct step *)&p->step[k]; /* (only its sub is written) */
			walk_field(c, m, st->f, st->shape, st->visit, st);
		}
		return;
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		enum shape shape = shape_of(desc, f);
		walk_field(c, m, f, shape, visits(f, shape), NULL);
	}
}

/* ---- pass 2: Envoy's load-time rules ---- */

typedef Envoy__Config__Endpoint__V3__ClusterLoadAssignment Cla;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Lle;
typedef Envoy__Config__Endpoint__V3__LbEndpoint Lbe;
typedef Envoy__Config__Endpoint__V3__Endpoint Ep;
typedef Envoy__Config__Core__V3__Address Addr;
typedef Envoy__Config__Core__V3__SocketAddress Sock;
typedef Envoy__Config__Core__V3__Locality Loc;

#define SOCK_CASE ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS
#define PIPE_CASE ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE
#define INTERNAL_CASE ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_ENVOY_INTERNAL_ADDRESS
#define PORT_VALUE_CASE ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE
#define NAMED_PORT_CASE ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_NAMED_PORT
#define LEDS_CASE ENVOY__CONFIG__ENDPOINT__V3__LOCALITY_LB_ENDPOINTS__LB_CONFIG_LEDS_CLUSTER_LOCALITY_CONFIG
#define ENDPOINT_CASE ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT
#define ENDPOINT_NAME_CASE ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT_NAME
#define MAX_PRIORITY 128

static const char *nz(const char *s) { return s ? s : ""; }

/*
 * What Envoy compares to find duplicate hosts: the resolved address.  IPs
 * are compared in binary so that "::1" and "0:0::1" match.
 */
enum akind { K_IP4 = 1, K_IP6, K_NAME, K_PIPE, K_INTERNAL, K_LOCALITY };
struct akey {
	enum akind kind;
	uint32_t port;
	unsigned char ip[16];
	const char *a, *b, *c; /* scope / host, named port / pipe path / listener, id / locality */
};

/* inet_pton(AF_INET)'s grammar: four decimal parts 0..255 without leading zeros. */
static bool parse_ip4(const char *s, unsigned char *out)
{
	for (int part = 0; part < 4; part++) {
		if (part && *s++ != '.')
			return false;
		if (*s < '0' || *s > '9')
			return false;
		unsigned v = (unsigned)(*s++ - '0');
		if (v == 0 && *s >= '0' && *s <= '9')
			return false;
		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (unsigned)(*s++ - '0');
			if (v > 255)
				return false;
		}
		out[part] = (unsigned char)v;
	}
	return *s == '\0';
}

static bool parse_ip(const char *s, struct akey *k)
{
	const char *pct;
	char buf[64];

	memset(k->ip, 0, sizeof k->ip);
	k->a = NULL;
	if (parse_ip4(s, k->ip)) {
		k->kind = K_IP4;
		return true;
	}
	if (!strchr(s, ':'))
		return false; /* every IPv6 address has one: not worth inet_pton's time */
	pct = strchr(s, '%');
	if (pct) {
		size_t n = (size_t)(pct - s);
		if (n >= sizeof buf || !pct[1])
			return false;
		memcpy(buf, s, n);
		buf[n] = '\0';
		s = buf;
	}
	if (inet_pton(AF_INET6, s, k->ip) != 1)
		return false;
	k->kind = K_IP6;
	k->a = pct ? pct + 1 : NULL;
	return true;
}

/* The key of addr; false when the address is too broken to compare. */
static bool addr_key(const Addr *addr, struct akey *k)
{
	memset(k, 0, sizeof *k);
	if (!addr)
		return false;
	switch (addr->address_case) {
	case SOCK_CASE: {
		const Sock *sa = addr->socket_address;
		const char *host = nz(sa->address);
		if (!*host || sa->port_specifier_case == 0)
			return false;
		if (sa->port_specifier_case == PORT_VALUE_CASE)
			k->port = sa->port_value;
		else
			k->b = nz(sa->named_port);
		if (!k->b && !*nz(sa->resolver_name) && parse_ip(host, k))
			return true;
		k->kind = K_NAME;
		k->a = host;
		return true;
	}
	case PIPE_CASE:
		k->kind = K_PIPE;
		k->a = nz(addr->pipe->path);
		return true;
	case INTERNAL_CASE:
		k->kind = K_INTERNAL;
		k->a = nz(addr->envoy_internal_address->server_listener_name);
		k->b = nz(addr->envoy_internal_address->endpoint_id);
		return true;
	default:
		return false;
	}
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool akey_eq(const struct akey *x, const struct akey *y)
{
	return x->kind == y->kind && x->port == y->port && memcmp(x->ip, y->ip, 16) == 0 &&
	       str_eq(x->a, y->a) && str_eq(x->b, y->b) && str_eq(x->c, y->c);
}

static inline uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 29);
}

/* s with its length, so that ("ab", "") and ("a", "b") differ */
static uint64_t mix_str(uint64_t h, const char *s)
{
	size_t n = strlen(s), i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		h = mix(h, w);
	}
	uint64_t w = 0;
	memcpy(&w, s + i, n - i);
	return mix(mix(h, w), n);
}

static uint64_t akey_hash(const struct akey *k)
{
	uint64_t h = mix(0x243F6A8885A308D3ull, (uint64_t)k->kind << 32 | k->port);
	if (k->kind == K_IP4 || k->kind == K_IP6) {
		uint64_t w[2];
		memcpy(w, k->ip, 16);
		h = mix(mix(h, w[0]), w[1]);
	}
	h = k->a ? mix_str(h, k->a) : mix(h, 1);
	h = k->b ? mix_str(h, k->b) : mix(h, 2);
	h = k->c ? mix_str(h, k->c) : mix(h, 3);
	return h;
}

static void dset_init(struct dset *s, size_t n)
{
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	s->slot = calloc(cap, sizeof *s->slot);
	s->ent = malloc((n ? n : 1) * sizeof *s->ent);
	if (!s->slot || !s->ent)
		abort(); /* as arena.c: nothing sensible to return */
	s->mask = cap - 1;
	s->n = 0;
}

static void dset_release(struct dset *s)
{
	free(s->slot);
	free(s->ent);
}

static const Addr *entry_addr(const Cla *cla, const struct dent *e)
{
	const Ep *ep = cla->endpoints[e->i]->lb_endpoints[e->j]->endpoint;
	return e->k ? ep->additional_addresses[e->k - 1]->address : ep->address;
}

static void locality_key(const Lle *l, struct akey *k)
{
	memset(k, 0, sizeof *k);
	k->kind = K_LOCALITY;
	k->port = l->priority;
	k->a = nz(l->locality->region);
	k->b = nz(l->locality->zone);
	k->c = nz(l->locality->sub_zone);
}

/*
 * Insert key for (i, j, k); returns the entry it duplicates, or NULL.  The
 * set holds either addresses or localities (k->kind tells).
 */
static const struct dent *dset_insert(struct dset *s, const Cla *cla, const struct akey *key,
				      uint32_t i, uint32_t j, uint32_t k)
{
	uint64_t h = akey_hash(key);
	size_t at = (size_t)h & s->mask;
	struct akey other;

	for (; s->slot[at]; at = (at + 1) & s->mask) {
		const struct dent *e = &s->ent[s->slot[at] - 1];
		if (e->hash != h)
			continue;
		if (key->kind == K_LOCALITY)
			locality_key(cla->endpoints[e->i], &other);
		else if (!addr_key(entry_addr(cla, e), &other))
			continue;
		if (akey_eq(key, &other))
			return e;
	}
	s->ent[s->n] = (struct dent){ h, i, j, k };
	s->slot[at] = (uint32_t)++s->n;
	return NULL;
}

/* s cut at 64 bytes (on a character boundary), control characters as '?', to keep messages one line. */
static const char *clean(char *buf, size_t size, const char *s)
{
	size_t i = 0;
	for (; s && s[i] && i < 64 && i + 1 < size; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	while (i > 0 && s[i] && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--; /* not inside a UTF-8 sequence */
	buf[i] = '\0';
	return buf;
}

static void addr_text(char *buf, size_t size, const Addr *addr)
{
	char q[100], h[72], np[72];
	if (addr->address_case == SOCK_CASE) {
		const Sock *sa = addr->socket_address;
		const char *host = clean(h, sizeof h, sa->address);
		bool v6 = strchr(host, ':') != NULL;
		if (sa->port_specifier_case == PORT_VALUE_CASE)
			snprintf(buf, size, "%s%s%s:%" PRIu32, v6 ? "[" : "", host, v6 ? "]" : "", sa->port_value);
		else
			snprintf(buf, size, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
				 clean(np, sizeof np, sa->named_port));
	} else if (addr->address_case == PIPE_CASE) {
		snprintf(buf, size, "pipe %s", quote(q, sizeof q, addr->pipe->path));
	} else {
		snprintf(buf, size, "envoy://%s/%s",
			 clean(h, sizeof h, addr->envoy_internal_address->server_listener_name),
			 clean(np, sizeof np, addr->envoy_internal_address->endpoint_id));
	}
}

enum role { ROLE_PRIMARY, ROLE_ADDITIONAL, ROLE_HEALTH };

/*
 * E9, E11 and the gRPC address rules, on the Address at path.leaf.  key is
 * addr's duplicate key when the caller has it (it tells whether the host
 * already parsed as an IP), else NULL.
 */
static void check_address(struct ctx *c, const Addr *addr, const char *leaf, enum role role,
			  const struct akey *key)
{
	bool grpc = c->grpc && role != ROLE_HEALTH;
	char q[100];

	eds_path_push(&c->path, leaf, -1);
	if (addr->address_case == SOCK_CASE) {
		const Sock *sa = addr->socket_address;
		bool custom = *nz(sa->resolver_name) != '\0';
		struct akey k;
		eds_path_push(&c->path, "socket_address", -1);
		if (sa->port_specifier_case == NAMED_PORT_CASE && (grpc || !custom))
			emit(c, EDS_SEV_ERROR, "named-port", "named_port",
			     custom ? "named_port %s is not supported by gRPC clients (set port_value)"
				    : "named_port %s needs a custom resolver_name (the default IP resolver "
				      "only takes port_value)",
			     quote(q, sizeof q, sa->named_port));
		bool ip = key ? key->kind == K_IP4 || key->kind == K_IP6 : false;
		if (*nz(sa->address) && (grpc || !custom) && !ip && !parse_ip(sa->address, &k))
			emit(c, EDS_SEV_ERROR, "ip-literal", "address",
			     custom ? "address %s is not an IP address (gRPC clients ignore resolver_name)"
				    : "address %s is not an IP address (set resolver_name, or use a "
				      "STRICT_DNS or LOGICAL_DNS cluster for host names)",
			     quote(q, sizeof q, sa->address));
		if (role == ROLE_PRIMARY && *nz(sa->network_namespace_filepath))
			emit(c, EDS_SEV_ERROR, "network-namespace", "network_namespace_filepath",
			     "network_namespace_filepath %s is set (envoy rejects network namespaces "
			     "on endpoint addresses)",
			     quote(q, sizeof q, sa->network_namespace_filepath));
		eds_path_pop(&c->path);
	} else if (grpc && (addr->address_case == PIPE_CASE || addr->address_case == INTERNAL_CASE)) {
		emit(c, EDS_SEV_ERROR, "socket-address-required", NULL,
		     "address is %s (gRPC clients need a socket_address)",
		     addr->address_case == PIPE_CASE ? "a pipe" : "an envoy_internal_address");
	}
	eds_path_pop(&c->path);
}

static void check_duplicate(struct ctx *c, struct dset *set, const Addr *addr, const struct akey *key,
			    bool cand, const char *leaf, uint32_t i, uint32_t j, uint32_t k)
{
	const struct dent *e;
	char text[200], first[120];

	if (!key->kind || !cand || !(e = dset_insert(set, c->cla, key, i, j, k)))
		return;
	int n = snprintf(first, sizeof first, "endpoints[%" PRIu32 "].lb_endpoints[%" PRIu32 "]", e->i, e->j);
	if (e->k && n > 0 && (size_t)n < sizeof first)
		snprintf(first + n, sizeof first - (size_t)n, ".endpoint.additional_addresses[%" PRIu32 "]",
			 e->k - 1);
	addr_text(text, sizeof text, addr);
	emit(c, c->grpc ? EDS_SEV_ERROR : EDS_SEV_WARNING, "duplicate-address", leaf,
	     "address %s duplicates %s (%s)", text, first,
	     c->grpc ? "gRPC clients reject the resource" : "envoy silently keeps only the first");
}

/*
 * The key of the next site, addr: whole for a candidate (returns true),
 * otherwise only its kind (all check_address needs).
 */
static bool site_key(struct ctx *c, const Addr *addr, struct akey *key)
{
	if (c->next_site < c->nsites && !c->sites[c->next_site].cand) {
		memset(key, 0, sizeof *key);
		key->kind = (enum akind)c->sites[c->next_site++].kind;
		return false;
	}
	c->next_site++;
	addr_key(addr, key);
	return true;
}

static void add_site(struct ctx *c, const Addr *addr, bool in_set, uint32_t *hashes, size_t *nh)
{
	struct akey key;
	struct site *st = &c->sites[c->nsites++];
	addr_key(addr, &key);
	st->kind = (uint8_t)key.kind;
	st->cand = false;
	st->hash = 0;
	if (in_set && key.kind) {
		st->hash = akey_hash(&key) | 1; /* 0: not in the set */
		hashes[(*nh)++] = (uint32_t)(st->hash >> 32);
	}
}

static void radix_sort(uint32_t *v, uint32_t *tmp, size_t n)
{
	for (unsigned shift = 0; shift < 32; shift += 8) {
		size_t count[257] = { 0 };
		for (size_t i = 0; i < n; i++)
			count[((v[i] >> shift) & 0xFF) + 1]++;
		for (unsigned b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
			tmp[count[(v[i] >> shift) & 0xFF]++] = v[i];
		memcpy(v, tmp, n * sizeof *v);
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/*
 * The sites of the CLA, in the order check_lb_endpoint meets them, and
 * which are candidates: in the set and sharing their hash's top 32 bits
 * with another.  Returns the number of candidates.
 */
static size_t index_sites(struct ctx *c, const Cla *cla)
{
	size_t cap = 1024, nh = 0, ncand = 0;
	uint32_t *hashes = malloc(cap * sizeof *hashes);
	c->sites = malloc(cap * sizeof *c->sites);
	if (!c->sites || !hashes)
		abort(); /* as arena.c: nothing sensible to return */
	for (size_t i = 0; i < cla->n_endpoints; i++) {
		const Lle *l = cla->endpoints[i];
		for (size_t j = 0; j < l->n_lb_endpoints; j++) {
			const Lbe *lbe = l->lb_endpoints[j];
			if (lbe->host_identifier_case != ENDPOINT_CASE || !lbe->endpoint)
				continue;
			const Ep *ep = lbe->endpoint;
			if (c->nsites + 1 + ep->n_additional_addresses > cap) {
				while (c->nsites + 1 + ep->n_additional_addresses > cap)
					cap *= 2;
				c->sites = realloc(c->sites, cap * sizeof *c->sites);
				hashes = realloc(hashes, cap * sizeof *hashes);
				if (!c->sites || !hashes)
					abort();
			}
			if (ep->address)
				add_site(c, ep->address, true, hashes, &nh);
			for (size_t k = 0; k < ep->n_additional_addresses; k++)
				if (ep->additional_addresses[k]->address)
					add_site(c, ep->additional_addresses[k]->address, c->grpc, hashes, &nh);
		}
	}
	uint32_t *tmp = malloc((nh ? nh : 1) * sizeof *tmp);
	if (!tmp)
		abort();
	radix_sort(hashes, tmp, nh);
	size_t nd = 0; /* the values that occur more than once, each once */
	for (size_t i = 1; i < nh; i++)
		if (hashes[i] == hashes[i - 1] && (nd == 0 || hashes[nd - 1] != hashes[i]))
			hashes[nd++] = hashes[i];
	for (size_t i = 0; nd && i < c->nsites; i++) {
		uint32_t h = (uint32_t)(c->sites[i].hash >> 32);
		if (c->sites[i].hash && bsearch(&h, hashes, nd, sizeof h, cmp_u32)) {
			c->sites[i].cand = true;
			ncand++;
		}
	}
	free(hashes);
	free(tmp);
	return ncand;
}

static uint64_t check_lb_endpoint(struct ctx *c, struct dset *addrs, const Lbe *lbe, uint32_t i,
				  uint32_t j, uint64_t wsum)
{
	char q[100];
	uint32_t w = lbe->load_balancing_weight ? lbe->load_balancing_weight->value : 1;
	uint64_t sum = wsum + (w ? w : 1); /* Envoy clamps a weight to at least 1 */

	eds_path_push(&c->path, "lb_endpoints", j);
	if (wsum <= UINT32_MAX && sum > UINT32_MAX)
		emit(c, EDS_SEV_ERROR, "weight-sum", "load_balancing_weight",
		     "sum of endpoint weights in the locality reaches %" PRIu64 " here (at most 4294967295)",
		     sum);
	if (lbe->host_identifier_case != ENDPOINT_CASE || !lbe->endpoint) {
		if (lbe->host_identifier_case == ENDPOINT_NAME_CASE)
			emit(c, EDS_SEV_ERROR, "endpoint-required", "endpoint_name",
			     "endpoint_name %s is not implemented by envoy (set endpoint instead)",
			     quote(q, sizeof q, lbe->endpoint_name));
		else
			emit(c, EDS_SEV_ERROR, "endpoint-required", NULL,
			     "endpoint is not set (every lb_endpoint needs an endpoint with an address)");
		eds_path_pop(&c->path);
		return sum;
	}
	const Ep *ep = lbe->endpoint;
	eds_path_push(&c->path, "endpoint", -1);
	if (!ep->address) {
		emit(c, EDS_SEV_ERROR, "address-required", "address",
		     "address is not set (envoy needs an address for every endpoint)");
	} else if (!c->dups) {
		check_address(c, ep->address, "address", ROLE_PRIMARY, NULL);
	} else {
		struct akey key;
		bool cand = site_key(c, ep->address, &key);
		check_address(c, ep->address, "address", ROLE_PRIMARY, &key);
		check_duplicate(c, addrs, ep->address, &key, cand, "address", i, j, 0);
	}
	const Envoy__Config__Endpoint__V3__Endpoint__HealthCheckConfig *hc = ep->health_check_config;
	if (hc) {
		eds_path_push(&c->path, "health_check_config", -1);
		if (hc->address)
			check_address(c, hc->address, "address", ROLE_HEALTH, NULL);
		if (hc->port_value && ep->address &&
		    (ep->address->address_case == PIPE_CASE || ep->address->address_case == INTERNAL_CASE))
			emit(c, EDS_SEV_ERROR, "health-check-port-non-ip", "port_value",
			     "health check port %" PRIu32 " needs an IP endpoint address, but the address "
			     "is %s",
			     hc->port_value,
			     ep->address->address_case == PIPE_CASE ? "a pipe" : "an envoy_internal_address");
		eds_path_pop(&c->path);
	}
	for (size_t k = 0; k < ep->n_additional_addresses; k++) {
		const Envoy__Config__Endpoint__V3__Endpoint__AdditionalAddress *aa = ep->additional_addresses[k];
		eds_path_push(&c->path, "additional_addresses", (int64_t)k);
		if (!aa->address) {
			emit(c, EDS_SEV_ERROR, "address-required", "address",
			     "address is not set (envoy needs an address for every additional address)");
		} else if (!c->dups) {
			check_address(c, aa->address, "address", ROLE_ADDITIONAL, NULL);
		} else {
			struct akey key;
			bool cand = site_key(c, aa->address, &key);
			check_address(c, aa->address, "address", ROLE_ADDITIONAL, &key);
			if (c->grpc)
				check_duplicate(c, addrs, aa->address, &key, cand, "address", i, j,
						(uint32_t)k + 1);
		}
		eds_path_pop(&c->path);
	}
	eds_path_pop(&c->path);
	eds_path_pop(&c->path);
	return sum;
}

/*
 * Envoy subscribes to a LEDS collection through ads, or an api_config_source
 * of a delta or aggregated gRPC type; anything else fails the subscription
 * ("Missing or not supported config source specifier ... for a collection",
 * "Unknown xdstp:// transport API type").
 */
static void check_leds_source(struct ctx *c, const Envoy__Config__Core__V3__ConfigSource *cs)
{
	static const char *const specifier[] = {
		[ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH] = "path",
		[ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH_CONFIG_SOURCE] = "path_config_source",
		[ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_SELF] = "self",
	};
	unsigned k = (unsigned)cs->config_source_specifier_case;
	if (k == ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS ||
	    k == ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER__NOT_SET) /* (oneof-required) */
		return;
	eds_path_push(&c->path, "leds_config", -1);
	if (k != ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_API_CONFIG_SOURCE) {
		const char *what = k < sizeof specifier / sizeof specifier[0] && specifier[k] ? specifier[k] : "?";
		emit(c, EDS_SEV_ERROR, "leds-config-source", what,
		     "leds_config is a %s config source; envoy fetches a LEDS collection only through ads or "
		     "an api_config_source of api_type DELTA_GRPC, AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC",
		     what);
	} else if (cs->api_config_source) {
		int t = (int)cs->api_config_source->api_type;
		char b[40];
		if (t != ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__DELTA_GRPC &&
		    t != ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__AGGREGATED_GRPC &&
		    t != ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__AGGREGATED_DELTA_GRPC) {
			eds_path_push(&c->path, "api_config_source", -1);
			emit(c, EDS_SEV_ERROR, "leds-config-source", "api_type",
			     "api_type %s cannot fetch a LEDS collection (envoy takes DELTA_GRPC, "
			     "AGGREGATED_GRPC or AGGREGATED_DELTA_GRPC, or ads)",
			     enum_name(&envoy__config__core__v3__api_config_source__api_type__descriptor, t, b,
				       sizeof b));
			eds_path_pop(&c->path);
		}
	}
	eds_path_pop(&c->path);
}

/* The resource type an xdstp:// URL names: xdstp://AUTHORITY/TYPE/ID. */
static bool xdstp_type_is(const char *url, const char *type)
{
	const char *t = strchr(url + 8, '/');
	if (!t)
		return false;
	t++;
	size_t n = strcspn(t, "/?#");
	return n == strlen(type) && strncmp(t, type, n) == 0;
}

#define LEDS_TYPE "envoy.config.endpoint.v3.LbEndpoint"

static void check_leds(struct ctx *c, const Lle *l)
{
	const Envoy__Config__Endpoint__V3__LedsClusterLocalityConfig *lc = l->leds_cluster_locality_config;
	const char *name = nz(lc->leds_collection_name);
	size_t n = strlen(name);
	char q[100];

	eds_path_push(&c->path, "leds_cluster_locality_config", -1);
	if (!lc->leds_config)
		emit(c, EDS_SEV_ERROR, "leds-config-required", "leds_config",
		     "leds_config is not set (envoy needs a config source to fetch the endpoints)");
	else
		check_leds_source(c, lc->leds_config);
	if (strncmp(name, "xdstp://", 8) != 0)
		emit(c, EDS_SEV_ERROR, "leds-collection-name", "leds_collection_name",
		     "leds_collection_name %s is not an xdstp:// URL", quote(q, sizeof q, name));
	else if (!xdstp_type_is(name, LEDS_TYPE))
		emit(c, EDS_SEV_ERROR, "leds-collection-name", "leds_collection_name",
		     "leds_collection_name %s does not name the resource type " LEDS_TYPE
		     " (xdstp://AUTHORITY/" LEDS_TYPE "/ID/*)",
		     quote(q, sizeof q, name));
	else if (n < 2 || strcmp(name + n - 2, "/*") != 0)
		emit(c, EDS_SEV_WARNING, "leds-collection-glob", "leds_collection_name",
		     "leds_collection_name %s is not a glob collection ending in /* (the only kind "
		     "envoy supports)",
		     quote(q, sizeof q, name));
	eds_path_pop(&c->path);
	if (l->n_lb_endpoints)
		emit(c, EDS_SEV_ERROR, "leds-with-endpoints", "lb_endpoints",
		     "locality has both leds_cluster_locality_config and %zu lb_endpoints "
		     "(envoy rejects the assignment)",
		     l->n_lb_endpoints);
}

static void check_policy(struct ctx *c, const Envoy__Config__Endpoint__V3__ClusterLoadAssignment__Policy *p)
{
	static const uint32_t denom[] = { 100, 10000, 1000000 };

	eds_path_push(&c->path, "policy", -1);
	if (p->n_drop_overloads > 1) {
		eds_path_push(&c->path, "drop_overloads", 1);
		emit(c, EDS_SEV_ERROR, "drop-overloads-count", NULL,
		     "drop_overloads has %zu entries (envoy accepts at most 1)", p->n_drop_overloads);
		eds_path_pop(&c->path);
	}
	for (size_t k = 0; k < p->n_drop_overloads; k++) {
		const Envoy__Type__V3__FractionalPercent *dp = p->drop_overloads[k]->drop_percentage;
		eds_path_push(&c->path, "drop_overloads", (int64_t)k);
		if (!dp) {
			if (c->grpc)
				emit(c, EDS_SEV_ERROR, "drop-percentage-required", "drop_percentage",
				     "drop_percentage is not set (gRPC clients require it)");
		} else if ((unsigned)dp->denominator < 3 && dp->numerator > denom[dp->denominator]) {
			eds_path_push(&c->path, "drop_percentage", -1);
			emit(c, EDS_SEV_ERROR, "drop-ratio", "numerator",
			     "drop_percentage %" PRIu32 "/%" PRIu32 " is above 100%% (numerator at most %" PRIu32 ")",
			     dp->numerator, denom[dp->denominator], denom[dp->denominator]);
			eds_path_pop(&c->path);
		}
		eds_path_pop(&c->path);
	}
	eds_path_pop(&c->path);
}

struct prio {
	uint32_t nloc, nweighted, first;
	uint64_t wsum;
};

static void check_priorities(struct ctx *c, const Cla *cla, const struct prio *pr, int maxp)
{
	for (int p = 0; p < maxp; p++) {
		if (pr[p].nloc)
			continue;
		int q = p;
		while (!pr[q].nloc)
			q++;
		eds_path_push(&c->path, "endpoints", pr[q].first);
		if (q - p == 1)
			emit(c, c->grpc ? EDS_SEV_ERROR : EDS_SEV_WARNING, "priority-gap", "priority",
			     "priority %d is used but priority %d has no localities (priorities must "
			     "run from 0 without gaps)", q, p);
		else
			emit(c, c->grpc ? EDS_SEV_ERROR : EDS_SEV_WARNING, "priority-gap", "priority",
			     "priority %d is used but priorities %d..%d have no localities (priorities "
			     "must run from 0 without gaps)", q, p, q - 1);
		eds_path_pop(&c->path);
		p = q;
	}
	if (c->grpc)
		return; /* every unweighted locality is already an error there */
	for (size_t i = 0; i < cla->n_endpoints; i++) {
		const Lle *l = cla->endpoints[i];
		if (l->priority > MAX_PRIORITY || l->load_balancing_weight)
			continue;
		const struct prio *x = &pr[l->priority];
		if (!x->nweighted)
			continue;
		eds_path_push(&c->path, "endpoints", (int64_t)i);
		emit(c, EDS_SEV_WARNING, "locality-weight-mixed", NULL,
		     "locality has no load_balancing_weight but %" PRIu32 " of %" PRIu32 " localities "
		     "at priority %" PRIu32 " have one (with locality-weighted load balancing it gets "
		     "no traffic)",
		     x->nweighted, x->nloc, l->priority);
		eds_path_pop(&c->path);
	}
}

static void check_semantics(struct ctx *c, const Cla *cla)
{
	struct prio pr[MAX_PRIORITY + 1];
	struct dset addrs, locs;
	int maxp = -1;

	if (cla->policy)
		check_policy(c, cla->policy);
	memset(pr, 0, sizeof pr);
	dset_init(&addrs, c->dups ? index_sites(c, cla) : 0);
	dset_init(&locs, c->grpc ? cla->n_endpoints : 0);

	for (size_t i = 0; i < cla->n_endpoints; i++) {
		const Lle *l = cla->endpoints[i];
		uint64_t wsum = 0;
		eds_path_push(&c->path, "endpoints", (int64_t)i);
		if (l->lb_config_case == LEDS_CASE && l->leds_cluster_locality_config)
			check_leds(c, l);
		for (size_t j = 0; j < l->n_lb_endpoints; j++)
			wsum = check_lb_endpoint(c, &addrs, l->lb_endpoints[j], (uint32_t)i, (uint32_t)j, wsum);

		if (c->grpc && !l->locality)
			emit(c, EDS_SEV_ERROR, "locality-required", NULL,
			     "locality is not set (gRPC clients require it)");
		if (c->grpc && !l->load_balancing_weight)
			emit(c, EDS_SEV_ERROR, "locality-weight-required", NULL,
			     "load_balancing_weight is not set (gRPC clients drop localities without a weight)");
		if (!c->grpc && l->load_balancing_weight && !l->locality)
			emit(c, EDS_SEV_WARNING, "locality-weight-ignored", "load_balancing_weight",
			     "load_balancing_weight is ignored because locality is not set");
		if (c->grpc && l->locality) {
			struct akey key;
			const struct dent *e;
			locality_key(l, &key);
			if ((e = dset_insert(&locs, cla, &key, (uint32_t)i, 0, 0)))
				emit(c, EDS_SEV_ERROR, "duplicate-locality", "locality",
				     "locality at priority %" PRIu32 " duplicates endpoints[%" PRIu32 "] "
				     "(gRPC clients reject the resource)",
				     l->priority, e->i);
		}
		if (l->priority <= MAX_PRIORITY) {
			struct prio *x = &pr[l->priority];
			if (!x->nloc++)
				x->first = (uint32_t)i;
			/* Envoy records a locality's weight only when its locality is
			 * set too (E14): others neither count nor add up. */
			if (l->load_balancing_weight && l->locality) {
				uint64_t s = x->wsum + l->load_balancing_weight->value;
				x->nweighted++;
				if (x->wsum <= UINT32_MAX && s > UINT32_MAX)
					emit(c, EDS_SEV_ERROR, "weight-sum", "load_balancing_weight",
					     "sum of locality weights at priority %" PRIu32 " reaches %" PRIu64
					     " here (at most 4294967295)", l->priority, s);
				x->wsum = s;
			}
			if ((int)l->priority > maxp)
				maxp = (int)l->priority;
		}
		eds_path_pop(&c->path);
	}
	check_priorities(c, cla, pr, maxp);
	dset_release(&addrs);
	dset_release(&locs);
	free(c->sites);
}

size_t eds_check_cla(const ProtobufCMessage *cla, const struct eds_check_opts *opts,
		     struct eds_diags *findings)
{
	struct ctx c[1] = { { 0 } };

	unsigned parts = opts && opts->parts ? opts->parts : EDS_CHECK_FIELDS | EDS_CHECK_SEMANTICS;
	c->grpc = opts && opts->grpc;
	c->errors_only = opts && opts->errors_only;
	c->dups = c->grpc || !c->errors_only;
	c->out = findings;
	if (parts & EDS_CHECK_FIELDS)
		visit(c, cla, NULL);
	if ((parts & EDS_CHECK_SEMANTICS) && cla->descriptor == eds_schema_cla) {
		c->cla = (const Cla *)cla;
		check_semantics(c, c->cla);
	}
	return c->nerr;
}
