/*
 * Evaluator: reads and writes the decoded ClusterLoadAssignment in place,
 * through the field descriptors bound at compile time (offsets, oneof case
 * and count fields); no name is looked at here except enum names taken
 * from dynamic values.
 *
 * Writes allocate new values in the request arena and never modify a
 * string or a shared array in place.  Setting a path creates the missing
 * message, map entry, Struct and Value levels and merges: entries it does
 * not name stay as they are.  Every write first compares with what is
 * there, so setting a value to itself changes nothing.  Pointer arrays that
 * grow (map entries, Struct fields) grow by doubling once they are larger
 * than a few elements; their capacity is remembered per run in a small
 * table keyed by the array's address, because protobuf-c keeps none.
 */
#include <arpa/inet.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "codec.h"
#include "expr.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"

typedef Google__Protobuf__Value Value;
typedef Google__Protobuf__Struct Struct;
typedef Google__Protobuf__ListValue ListValue;
typedef Google__Protobuf__Struct__FieldsEntry FieldsEntry;
typedef Envoy__Config__Endpoint__V3__LbEndpoint LbEndpoint;
typedef Envoy__Config__Endpoint__V3__LocalityLbEndpoints Locality;
typedef Envoy__Config__Core__V3__Address Address;

#define FIELD(m, off, T) (*(T *)((char *)(m) + (off)))

static const ProtobufCMessageDescriptor *const value_desc = &google__protobuf__value__descriptor;
static const ProtobufCMessageDescriptor *const struct_desc = &google__protobuf__struct__descriptor;
static const ProtobufCMessageDescriptor *const list_desc = &google__protobuf__list_value__descriptor;
static const ProtobufCMessageDescriptor *const metadata_desc = &envoy__config__core__v3__metadata__descriptor;

static void mark(struct eds_run *r)
{
	r->changed = true;
	r->touched = true;
}

/* ---- failures ---- */

static void addr_text(const LbEndpoint *ep, char *out, size_t size)
{
	const Address *a = NULL;
	if (ep->host_identifier_case == ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT &&
	    ep->endpoint)
		a = ep->endpoint->address;
	if (!a) {
		snprintf(out, size, "no address");
		return;
	}
	switch (a->address_case) {
	case ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS: {
		const Envoy__Config__Core__V3__SocketAddress *s = a->socket_address;
		const char *host = s && s->address ? s->address : "";
		bool v6 = strchr(host, ':') != NULL;
		if (!s)
			snprintf(out, size, "no address");
		else if (s->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE)
			snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)s->port_value);
		else if (s->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_NAMED_PORT)
			snprintf(out, size, v6 ? "[%s]:%s" : "%s:%s", host, s->named_port ? s->named_port : "");
		else
			snprintf(out, size, "%s", host);
		return;
	}
	case ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE:
		snprintf(out, size, "%s", a->pipe && a->pipe->path ? a->pipe->path : "");
		return;
	case ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_ENVOY_INTERNAL_ADDRESS: {
		const Envoy__Config__Core__V3__EnvoyInternalAddress *e = a->envoy_internal_address;
		snprintf(out, size, "internal listener \"%s\"",
			 e && e->address_name_specifier_case ? e->server_listener_name : "");
		return;
	}
	default:
		snprintf(out, size, "no address");
	}
}

void eds_run_target(const struct eds_run *r, char *path, size_t psize, char *what, size_t wsize)
{
	path[0] = what[0] = '\0';
	if (r->ep) {
		snprintf(path, psize, "endpoints[%zu].lb_endpoints[%zu]", r->li,
			 r->ei_of ? r->ei_of(r, r->ei_ctx) : r->ei);
		addr_text((const LbEndpoint *)r->ep, what, wsize);
	} else if (r->loc) {
		const Locality *l = (const Locality *)r->loc;
		snprintf(path, psize, "endpoints[%zu]", r->li);
		if (l->locality && l->locality->region && l->locality->region[0])
			snprintf(what, wsize, "region \"%s\"", l->locality->region);
		else if (l->locality && l->locality->zone && l->locality->zone[0])
			snprintf(what, wsize, "zone \"%s\"", l->locality->zone);
	}
}

static void rule_where(const struct eds_run *r, char *out, size_t size)
{
	const struct eds_src *src = &r->p->srcs[r->rule->src];
	unsigned line, col;
	eds_src_linecol(src, r->rule->span.start, &line, &col);
	snprintf(out, size, "rule at %s:%u:%u", src->name, line, col);
}

int eds_run_fail(struct eds_run *r, struct eds_span span, const char *fmt, ...)
{
	char detail[320], path[160], what[160], where[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	eds_run_target(r, path, sizeof path, what, sizeof what);
	rule_where(r, where, sizeof where);
	struct eds_diag *d = r->d;
	eds_diag_clear(d);
	const char *in = r->opts && r->opts->input ? r->opts->input->name : NULL;
	char on[400];
	snprintf(on, sizeof on, "%s%s%s%s%s%s", path, what[0] ? " (" : "", what, what[0] ? ")" : "",
		 in ? (path[0] ? " of " : "") : "", in ? in : "");
	if (on[0])
		eds_diag_setf(d, EDS_E_RUNTIME, "%s failed on %s: %s", where, on, detail);
	else
		eds_diag_setf(d, EDS_E_RUNTIME, "%s failed: %s", where, detail);
	d->severity = EDS_SEV_ERROR;
	/* the message names the endpoint: d->path stays empty, or front ends
	 * would show it twice, beside a location in the rules */
	return eds_diag_span(d, &r->p->srcs[r->rule->src], span.start, span.end);
}

/* The path as the user wrote it, for messages. */
static int name_len(const struct eds_run *r, const struct eds_bpath *bp, const char **s)
{
	*s = r->p->srcs[r->rule->src].text + bp->span.start;
	return (int)(bp->span.end - bp->span.start);
}

/* ---- numbers ---- */

static void fmt_num(double v, char *out, size_t size)
{
	if (v == floor(v) && fabs(v) < 1e17)
		snprintf(out, size, "%.0f", v);
	else
		snprintf(out, size, "%.17g", v);
}

static bool int_range(ProtobufCType t, double *lo, double *hi)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		*lo = -2147483648.0;
		*hi = 2147483647.0;
		return true;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		*lo = 0;
		*hi = 4294967295.0;
		return true;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		*lo = -9223372036854775808.0;
		*hi = 9223372036854775807.0;
		return true;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		*lo = 0;
		*hi = 18446744073709551615.0;
		return true;
	default:
		return false;
	}
}

/* "1.5s", "-0.25s", "30s" -> seconds and nanos; false if malformed. */
static bool parse_duration(const char *s, size_t len, int64_t *sec, int32_t *nanos)
{
	size_t i = 0;
	bool neg = false;
	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	if (i >= len || s[i] < '0' || s[i] > '9')
		return false;
	int64_t v = 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > 315576000000LL)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	int32_t ns = 0;
	if (i < len && s[i] == '.') {
		i++;
		int digits = 0;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (++digits > 9)
				return false;
			ns = ns * 10 + (s[i] - '0');
		}
		if (!digits)
			return false;
		for (; digits < 9; digits++)
			ns *= 10;
	}
	if (i + 1 != len || s[i] != 's' || v > 315576000000LL)
		return false;
	*sec = neg ? -v : v;
	*nanos = neg ? -ns : ns;
	return true;
}

/* ---- checking a value against a destination ---- */

static const ProtobufCFieldDescriptor *scalar_field(const struct eds_bpath *bp)
{
	if (bp->fkind == EDS_FK_WRAPPER)
		return &((const ProtobufCMessageDescriptor *)bp->last->descriptor)->fields[0];
	return bp->last;
}

int eds_check_store(const struct eds_bpath *bp, const char *name, size_t namelen,
		    const struct eds_val *v, int *enum_num, char *err, size_t errsize)
{
	char num[40];
	int nl = (int)namelen;
	if (v->k == EDS_V_NUM && !isfinite(v->n)) {
		snprintf(err, errsize, "\"%.*s\" cannot hold a number that is not finite", nl, name);
		return -1;
	}
	if (bp->virt == EDS_VIRT_ADDRESS || bp->virt == EDS_VIRT_PORT) {
		bool port = bp->virt == EDS_VIRT_PORT;
		if (v->k != (port ? EDS_V_NUM : EDS_V_STR)) {
			snprintf(err, errsize, "\"%.*s\" takes %s, not %s", nl, name, port ? "a number" : "a string",
				 eds_vk_an(v->k));
			return -1;
		}
		if (port && (v->n != floor(v->n) || v->n < 0 || v->n > 65535)) {
			fmt_num(v->n, num, sizeof num);
			snprintf(err, errsize, "value %s is out of range for \"%.*s\" (0 to 65535)", num, nl, name);
			return -1;
		}
		if (!port && v->len == 0) {
			snprintf(err, errsize, "\"%.*s\" must not be empty", nl, name);
			return -1;
		}
		return 0;
	}
	switch (bp->fkind) {
	case EDS_FK_VALUE:
		if (v->k == EDS_V_MSG) {
			snprintf(err, errsize, "\"%.*s\" holds JSON values, not %s", nl, name, eds_vk_an(v->k));
			return -1;
		}
		return 0;
	case EDS_FK_STRUCT:
	case EDS_FK_LIST: {
		uint8_t want = bp->fkind == EDS_FK_STRUCT ? EDS_V_OBJ : EDS_V_LIST;
		if (v->k != want) {
			snprintf(err, errsize, "\"%.*s\" takes %s, not %s", nl, name, eds_vk_an(want),
				 eds_vk_an(v->k));
			return -1;
		}
		return 0;
	}
	case EDS_FK_MSG: {
		const ProtobufCMessageDescriptor *d = bp->last ? bp->last->descriptor : NULL;
		if (v->k != EDS_V_MSG) {
			snprintf(err, errsize, "\"%.*s\" is a %s message; set its fields one by one, not %s", nl, name,
				 d ? d->name : "", eds_vk_an(v->k));
			return -1;
		}
		if (v->p && d && ((const ProtobufCMessage *)v->p)->descriptor != d) {
			snprintf(err, errsize, "\"%.*s\" takes a %s, not a %s", nl, name, d->name,
				 ((const ProtobufCMessage *)v->p)->descriptor->name);
			return -1;
		}
		return 0;
	}
	case EDS_FK_DURATION:
		if (v->k == EDS_V_NUM) {
			if (fabs(v->n) > 315576000000.0) {
				fmt_num(v->n, num, sizeof num);
				snprintf(err, errsize, "duration %s s is out of range for \"%.*s\"", num, nl, name);
				return -1;
			}
			return 0;
		}
		if (v->k == EDS_V_STR) {
			int64_t sec;
			int32_t ns;
			if (!parse_duration(v->s, v->len, &sec, &ns)) {
				snprintf(err, errsize, "\"%.*s\" takes a duration such as \"1.5s\", not \"%.*s\"", nl,
					 name, (int)(v->len > 40 ? 40 : v->len), v->s);
				return -1;
			}
			return 0;
		}
		snprintf(err, errsize, "\"%.*s\" takes a number of seconds or a string such as \"1.5s\", not %s",
			 nl, name, eds_vk_an(v->k));
		return -1;
	case EDS_FK_SCALAR:
	case EDS_FK_WRAPPER:
		break;
	default:
		snprintf(err, errsize, "\"%.*s\" cannot be set", nl, name);
		return -1;
	}
	const ProtobufCFieldDescriptor *f = scalar_field(bp);
	const struct eds_constraint *c = bp->cons;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
		if (v->k != EDS_V_STR) {
			snprintf(err, errsize, "\"%.*s\" takes a string, not %s", nl, name, eds_vk_an(v->k));
			return -1;
		}
		if (c && c->nonempty && v->len == 0) {
			snprintf(err, errsize, "\"%.*s\" must not be empty", nl, name);
			return -1;
		}
		if (f->type == PROTOBUF_C_TYPE_STRING && memchr(v->s, 0, v->len)) {
			snprintf(err, errsize, "\"%.*s\" cannot hold a NUL character", nl, name);
			return -1;
		}
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (v->k != EDS_V_BOOL) {
			snprintf(err, errsize, "\"%.*s\" takes true or false, not %s", nl, name, eds_vk_an(v->k));
			return -1;
		}
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		int value;
		if (v->k == EDS_V_STR) {
			char buf[128];
			const ProtobufCEnumValue *ev = NULL;
			if (v->len < sizeof buf) {
				memcpy(buf, v->s, v->len);
				buf[v->len] = '\0';
				ev = protobuf_c_enum_descriptor_get_value_by_name(ed, buf);
			}
			if (!ev) {
				snprintf(err, errsize, "unknown value \"%.*s\" for %s", (int)(v->len > 60 ? 60 : v->len),
					 v->s, ed->name);
				return -1;
			}
			value = ev->value;
		} else if (v->k == EDS_V_NUM) {
			if (v->n != floor(v->n) || v->n < -2147483648.0 || v->n > 2147483647.0) {
				fmt_num(v->n, num, sizeof num);
				snprintf(err, errsize, "%s is not a value of %s", num, ed->name);
				return -1;
			}
			value = (int)v->n;
			if (c && c->defined_only && !protobuf_c_enum_descriptor_get_value(ed, value)) {
				snprintf(err, errsize, "%d is not a defined value of %s", value, ed->name);
				return -1;
			}
		} else {
			snprintf(err, errsize, "\"%.*s\" takes a name of %s or a number, not %s", nl, name, ed->name,
				 eds_vk_an(v->k));
			return -1;
		}
		if (enum_num)
			*enum_num = value;
		return 0;
	}
	default:
		break;
	}
	if (v->k != EDS_V_NUM) {
		snprintf(err, errsize, "\"%.*s\" takes a number, not %s", nl, name, eds_vk_an(v->k));
		return -1;
	}
	double lo, hi;
	if (int_range(f->type, &lo, &hi)) {
		fmt_num(v->n, num, sizeof num);
		if (v->n != floor(v->n)) {
			snprintf(err, errsize, "\"%.*s\" takes a whole number, not %s", nl, name, num);
			return -1;
		}
		if (c && c->range) {
			lo = lo > c->min ? lo : c->min;
			hi = hi < c->max ? hi : c->max;
		}
		if (v->n < lo || v->n > hi) {
			char a[40], b[40];
			fmt_num(lo, a, sizeof a);
			fmt_num(hi, b, sizeof b);
			snprintf(err, errsize, "value %s is out of range for \"%.*s\" (%s to %s)", num, nl, name, a, b);
			return -1;
		}
	}
	return 0;
}

/* ---- reading ---- */

static const char empty_str[1] = "";

/* The string to store for v.  Never protobuf-c's shared empty string (what
 * an unset string field reads as): a oneof member or a Value holding that
 * pointer counts as unset, and the encoders would drop it. */
static const char *stored_str(const struct eds_val *v, const char *owned)
{
	return !v->len ? empty_str : owned ? owned : v->s;
}

static void set_str(struct eds_val *out, const char *s, size_t len)
{
	out->k = EDS_V_STR;
	out->s = s;
	out->len = len;
	out->slice = false;
}

void eds_value_val(const Value *v, struct eds_val *out)
{
	memset(out, 0, sizeof *out);
	if (!v)
		return;
	switch (v->kind_case) {
	case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
		out->k = EDS_V_NUM;
		out->n = v->number_value;
		break;
	case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
		set_str(out, v->string_value ? v->string_value : empty_str,
			v->string_value ? strlen(v->string_value) : 0);
		break;
	case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
		out->k = EDS_V_BOOL;
		out->b = v->bool_value != 0;
		break;
	case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
		out->k = EDS_V_OBJ;
		out->p = v->struct_value;
		break;
	case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
		out->k = EDS_V_LIST;
		out->p = v->list_value;
		break;
	default:
		break; /* null, or nothing set */
	}
}

static void scalar_val(struct eds_run *r, const void *ptr, const ProtobufCFieldDescriptor *f, bool raw_enum,
		       struct eds_val *out)
{
	memset(out, 0, sizeof *out);
	out->k = EDS_V_NUM;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		out->n = *(const int32_t *)ptr;
		break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		out->n = *(const uint32_t *)ptr;
		break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		out->n = (double)*(const int64_t *)ptr;
		break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		out->n = (double)*(const uint64_t *)ptr;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		out->n = *(const float *)ptr;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		out->n = *(const double *)ptr;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		out->k = EDS_V_BOOL;
		out->b = *(const protobuf_c_boolean *)ptr != 0;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int e = *(const int *)ptr;
		out->n = e;
		if (!raw_enum) {
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, e);
			if (ev)
				set_str(out, ev->name, strlen(ev->name));
		}
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)ptr;
		set_str(out, s ? s : empty_str, s ? strlen(s) : 0);
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = ptr;
		/* Copied so that regexec and friends see a terminated string. */
		char *s = eds_arena_strndup(r->req, b->len ? (const char *)b->data : "", b->len);
		set_str(out, s, b->len);
		break;
	}
	default:
		out->k = EDS_V_NULL;
		break;
	}
}

static bool scalar_is_default(const void *ptr, const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
		return *(const uint32_t *)ptr == 0;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)ptr == 0;
	case PROTOBUF_C_TYPE_FLOAT: /* raw bits, as the encoders test them: -0.0 is set */
		return *(const uint32_t *)ptr == 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const uint64_t *)ptr == 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)ptr == 0;
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)ptr;
		return !s || !*s;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)ptr)->len == 0;
	default:
		return *(void *const *)ptr == NULL;
	}
}

/* A message as a value, by what the path's end holds. */
static void msg_val(struct eds_run *r, const ProtobufCMessage *m, uint8_t fkind, bool raw_enum,
		    struct eds_val *out)
{
	memset(out, 0, sizeof *out);
	if (!m)
		return;
	switch (fkind) {
	case EDS_FK_VALUE:
		eds_value_val((const Value *)m, out);
		return;
	case EDS_FK_STRUCT:
		out->k = EDS_V_OBJ;
		out->p = m;
		return;
	case EDS_FK_LIST:
		out->k = EDS_V_LIST;
		out->p = m;
		return;
	case EDS_FK_DURATION: {
		const Google__Protobuf__Duration *d = (const Google__Protobuf__Duration *)m;
		out->k = EDS_V_NUM;
		out->n = (double)d->seconds + d->nanos / 1e9;
		return;
	}
	case EDS_FK_WRAPPER: {
		const ProtobufCFieldDescriptor *f = &m->descriptor->fields[0];
		scalar_val(r, (const char *)m + f->offset, f, raw_enum, out);
		return;
	}
	default:
		out->k = EDS_V_MSG;
		out->p = m;
		return;
	}
}

static bool in_oneof_other(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && FIELD(m, f->quantifier_offset, uint32_t) != f->id;
}

static ProtobufCMessage *get_msg(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (in_oneof_other(m, f))
		return NULL;
	return FIELD(m, f->offset, ProtobufCMessage *);
}

static ProtobufCMessage *new_msg(struct eds_run *r, const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = eds_arena_alloc(r->req, d->sizeof_message);
	protobuf_c_message_init(d, m);
	return m;
}

static ProtobufCMessage *ensure_msg(struct eds_run *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	ProtobufCMessage *c = get_msg(m, f);
	if (c)
		return c;
	c = new_msg(r, f->descriptor);
	FIELD(m, f->offset, ProtobufCMessage *) = c;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		FIELD(m, f->quantifier_offset, uint32_t) = f->id;
	mark(r);
	return c;
}

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return sizeof(void *);
	}
}

/* ---- growable pointer arrays ---- */

/* Pointer -> value tables of a run, in the request arena: the capacity of
 * the arrays a run grew, and the run's copy of each program constant. */
struct eds_capmap {
	const void **keys;
	uintptr_t *vals;
	size_t mask, used;
};

static size_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

static uintptr_t *ptrmap_slot(struct eds_run *r, struct eds_capmap **mp, const void *key, bool insert)
{
	struct eds_capmap *m = *mp;
	if (!m) {
		if (!insert)
			return NULL;
		m = *mp = eds_arena_zalloc(r->req, sizeof *m);
		m->mask = 63;
		m->keys = eds_arena_zalloc(r->req, 64 * sizeof *m->keys);
		m->vals = eds_arena_zalloc(r->req, 64 * sizeof *m->vals);
	}
	if (insert && (m->used + 1) * 2 > m->mask + 1) {
		size_t ncap = (m->mask + 1) * 2;
		const void **keys = eds_arena_zalloc(r->req, ncap * sizeof *keys);
		uintptr_t *vals = eds_arena_zalloc(r->req, ncap * sizeof *vals);
		for (size_t i = 0; i <= m->mask; i++) {
			if (!m->keys[i])
				continue;
			size_t j = ptr_hash(m->keys[i]) & (ncap - 1);
			while (keys[j])
				j = (j + 1) & (ncap - 1);
			keys[j] = m->keys[i];
			vals[j] = m->vals[i];
		}
		m->keys = keys;
		m->vals = vals;
		m->mask = ncap - 1;
	}
	for (size_t i = ptr_hash(key) & m->mask;; i = (i + 1) & m->mask) {
		if (m->keys[i] == key)
			return &m->vals[i];
		if (!m->keys[i]) {
			if (!insert)
				return NULL;
			m->keys[i] = key;
			m->used++;
			return &m->vals[i];
		}
	}
}

/* The run's copy of a constant string of the program (copied once). */
static const char *konst(struct eds_run *r, const char *s, size_t len)
{
	uintptr_t *slot = ptrmap_slot(r, &r->konsts, s, true);
	if (!*slot)
		*slot = (uintptr_t)eds_arena_strndup(r->req, s, len);
	return (const char *)*slot;
}

/* Append item to the pointer array at *arrp holding *np elements. */
static void ptr_append(struct eds_run *r, void ***arrp, size_t *np, void *item)
{
	size_t n = *np;
	void **arr = *arrp;
	if (n >= 4 && arr) {
		uintptr_t *cap = ptrmap_slot(r, &r->capmap, arr, false);
		if (cap && *cap > n) {
			arr[n] = item;
			*np = n + 1;
			return;
		}
	}
	size_t ncap = n < 4 ? n + 1 : n * 2;
	void **na = eds_arena_alloc(r->req, ncap * sizeof *na);
	if (n)
		memcpy(na, arr, n * sizeof *na);
	na[n] = item;
	if (ncap > n + 1)
		*ptrmap_slot(r, &r->capmap, na, true) = ncap;
	*arrp = na;
	*np = n + 1;
}

/* Remove element i of an array of elements of size es (in place: the array
 * belongs to the message being edited). */
static void arr_remove(void *arr, size_t *np, size_t i, size_t es)
{
	char *a = arr;
	memmove(a + i * es, a + (i + 1) * es, (*np - i - 1) * es);
	(*np)--;
}

/* ---- deep copies and equality of JSON values ---- */

static Value *copy_value(struct eds_run *r, const Value *v);

static Struct *copy_struct(struct eds_run *r, const Struct *s)
{
	Struct *o = (Struct *)new_msg(r, struct_desc);
	if (!s || !s->n_fields)
		return o;
	o->n_fields = s->n_fields;
	o->fields = eds_arena_alloc(r->req, s->n_fields * sizeof *o->fields);
	for (size_t i = 0; i < s->n_fields; i++) {
		FieldsEntry *e = eds_arena_alloc(r->req, sizeof *e);
		google__protobuf__struct__fields_entry__init(e);
		/* The source may be a literal of the program: copy its strings. */
		e->key = eds_arena_strdup(r->req, s->fields[i]->key ? s->fields[i]->key : "");
		e->value = copy_value(r, s->fields[i]->value);
		o->fields[i] = e;
	}
	return o;
}

static ListValue *copy_list(struct eds_run *r, const ListValue *l)
{
	ListValue *o = (ListValue *)new_msg(r, list_desc);
	if (!l || !l->n_values)
		return o;
	o->n_values = l->n_values;
	o->values = eds_arena_alloc(r->req, l->n_values * sizeof *o->values);
	for (size_t i = 0; i < l->n_values; i++)
		o->values[i] = copy_value(r, l->values[i]);
	return o;
}

static Value *copy_value(struct eds_run *r, const Value *v)
{
	Value *o = (Value *)new_msg(r, value_desc);
	if (!v)
		return o;
	*o = *v;
	if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE)
		o->string_value = eds_arena_strdup(r->req, v->string_value ? v->string_value : "");
	else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE)
		o->struct_value = copy_struct(r, v->struct_value);
	else if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE)
		o->list_value = copy_list(r, v->list_value);
	return o;
}

static ProtobufCMessage *copy_msg(struct eds_run *r, const ProtobufCMessage *m)
{
	size_t n;
	uint8_t *buf = eds_bin_pack(m, r->req, &n);
	return protobuf_c_message_unpack(m->descriptor, eds_arena_pbc(r->req), n, buf);
}

static FieldsEntry *struct_entry(const Struct *s, const char *key, size_t klen)
{
	if (!s)
		return NULL;
	/* The last entry wins, as when a decoder builds the map. */
	for (size_t i = s->n_fields; i-- > 0;) {
		FieldsEntry *e = s->fields[i];
		if (e->key && strncmp(e->key, key, klen) == 0 && e->key[klen] == '\0')
			return e;
	}
	return NULL;
}

static const Value *struct_get(const Struct *s, const char *key, size_t klen)
{
	const FieldsEntry *e = struct_entry(s, key, klen);
	return e ? e->value : NULL;
}

static bool struct_has(const Struct *s, const char *key, size_t klen)
{
	return struct_entry(s, key, klen) != NULL;
}

static bool struct_equal(const Struct *a, const Struct *b);
static bool list_equal(const ListValue *a, const ListValue *b);

static bool value_equal(const Value *a, const Value *b)
{
	struct eds_val x, y;
	eds_value_val(a, &x);
	eds_value_val(b, &y);
	return eds_val_equal(&x, &y);
}

static size_t struct_nkeys(const Struct *s)
{
	return s ? s->n_fields : 0;
}

static bool struct_equal(const Struct *a, const Struct *b)
{
	if (struct_nkeys(a) != struct_nkeys(b))
		return false;
	for (size_t i = 0; i < struct_nkeys(a); i++) {
		const FieldsEntry *e = a->fields[i];
		const char *k = e->key ? e->key : "";
		size_t kl = strlen(k);
		if (!struct_has(b, k, kl) || !value_equal(struct_get(a, k, kl), struct_get(b, k, kl)))
			return false;
	}
	return true;
}

static bool list_equal(const ListValue *a, const ListValue *b)
{
	size_t na = a ? a->n_values : 0, nb = b ? b->n_values : 0;
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!value_equal(a->values[i], b->values[i]))
			return false;
	return true;
}

bool eds_val_equal(const struct eds_val *a, const struct eds_val *b)
{
	if (a->k != b->k)
		return false;
	switch (a->k) {
	case EDS_V_NULL: return true;
	case EDS_V_BOOL: return a->b == b->b;
	case EDS_V_NUM: return a->n == b->n;
	case EDS_V_STR: return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	case EDS_V_OBJ: return struct_equal(a->p, b->p);
	case EDS_V_LIST: return list_equal(a->p, b->p);
	case EDS_V_MSG: {
		const ProtobufCMessage *x = a->p, *y = b->p;
		if (x == y)
			return true;
		if (x->descriptor != y->descriptor)
			return false;
		size_t n = protobuf_c_message_get_packed_size(x);
		if (n != protobuf_c_message_get_packed_size(y))
			return false;
		if (n == 0)
			return true;
		uint8_t *bx = malloc(2 * n);
		if (!bx)
			abort();
		protobuf_c_message_pack(x, bx);
		protobuf_c_message_pack(y, bx + n);
		bool eq = memcmp(bx, bx + n, n) == 0;
		free(bx);
		return eq;
	}
	default: return false;
	}
}

/* ---- shared metadata ----
 *
 * A per-locality set into the metadata of an endpoint that has none builds
 * the same Metadata for every such endpoint of the locality (the AI
 * Gateway's stamp): it is built once and the others point to it, which
 * spares most of the work and memory of stamping 100,000 endpoints.  A
 * shared Metadata is never changed in place: a walk to write through one
 * first gives its endpoint a copy of its own (unshare).  The table of
 * shared ones serves a run and its second thread, so it takes atomic slots;
 * it has room for a few actions per locality on both threads (sized for
 * the usual case, not a bound), and when it is full nothing more is shared.
 */
bool eds_rules_share = true;

struct eds_shared {
	size_t mask;
	_Atomic(ProtobufCMessage *) slot[];
};

struct eds_shared *eds_shared_new(const struct eds_program *p, size_t nloc)
{
	if (!eds_rules_share || !p->nshares)
		return NULL;
	size_t want = 8 * (nloc + 1) * (p->nshares < 4 ? p->nshares : 4), size = 64;
	while (size < want && size < ((size_t)1 << 20))
		size *= 2;
	struct eds_shared *s = malloc(sizeof *s + size * sizeof s->slot[0]);
	if (!s)
		return NULL;
	s->mask = size - 1;
	for (size_t i = 0; i < size; i++)
		atomic_init(&s->slot[i], NULL);
	return s;
}

void eds_shared_free(struct eds_shared *s)
{
	free(s);
}

static bool shared_add(struct eds_shared *s, ProtobufCMessage *m)
{
	for (size_t i = ptr_hash(m) & s->mask, k = 0; k <= s->mask; i = (i + 1) & s->mask, k++) {
		ProtobufCMessage *none = NULL;
		if (atomic_compare_exchange_strong(&s->slot[i], &none, m))
			return true;
	}
	return false;
}

static bool is_shared(const struct eds_shared *s, const ProtobufCMessage *m)
{
	if (!s || m->descriptor != metadata_desc)
		return false;
	for (size_t i = ptr_hash(m) & s->mask, k = 0; k <= s->mask; i = (i + 1) & s->mask, k++) {
		ProtobufCMessage *x = atomic_load_explicit(&((struct eds_shared *)s)->slot[i], memory_order_acquire);
		if (x == m)
			return true;
		if (!x)
			return false;
	}
	return false;
}

/* Field f of parent holds the shared Metadata m: give parent a copy. */
static ProtobufCMessage *unshare(struct eds_run *r, ProtobufCMessage *parent, const ProtobufCFieldDescriptor *f,
				 const ProtobufCMessage *m)
{
	const Envoy__Config__Core__V3__Metadata *from = (const void *)m;
	Envoy__Config__Core__V3__Metadata *to = (void *)new_msg(r, metadata_desc);
	to->n_filter_metadata = from->n_filter_metadata;
	to->filter_metadata = eds_arena_alloc(r->req, (from->n_filter_metadata + 1) * sizeof *to->filter_metadata);
	for (size_t i = 0; i < from->n_filter_metadata; i++) {
		Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *e = eds_arena_alloc(r->req, sizeof *e);
		*e = *from->filter_metadata[i];
		if (e->value)
			e->value = copy_struct(r, e->value);
		to->filter_metadata[i] = e;
	}
	to->n_typed_filter_metadata = from->n_typed_filter_metadata;
	to->typed_filter_metadata =
		eds_arena_alloc(r->req, (from->n_typed_filter_metadata + 1) * sizeof *to->typed_filter_metadata);
	for (size_t i = 0; i < from->n_typed_filter_metadata; i++) {
		Envoy__Config__Core__V3__Metadata__TypedFilterMetadataEntry *e = eds_arena_alloc(r->req, sizeof *e);
		*e = *from->typed_filter_metadata[i];
		if (e->value)
			e->value = (void *)copy_msg(r, &e->value->base);
		to->typed_filter_metadata[i] = e;
	}
	FIELD(parent, f->offset, ProtobufCMessage *) = &to->base;
	return &to->base;
}

/* ---- walking ---- */

static ProtobufCMessage *root_of(const struct eds_run *r, unsigned root)
{
	return root == EDS_LV_CLA ? r->cla : root == EDS_LV_LOC ? r->loc : r->ep;
}

static ProtobufCMessage **map_find(ProtobufCMessage *m, const struct eds_step *s)
{
	size_t n = FIELD(m, s->f->quantifier_offset, size_t);
	ProtobufCMessage **arr = FIELD(m, s->f->offset, ProtobufCMessage **);
	for (size_t i = n; i-- > 0;) {
		const char *k = FIELD(arr[i], EDS_STEP_KF(s)->offset, const char *);
		if (k && strncmp(k, s->key, s->klen) == 0 && k[s->klen] == '\0')
			return &arr[i];
	}
	return NULL;
}

static ProtobufCMessage *map_add(struct eds_run *r, ProtobufCMessage *m, const struct eds_step *s)
{
	ProtobufCMessage *e = new_msg(r, s->f->descriptor);
	FIELD(e, EDS_STEP_KF(s)->offset, const char *) = konst(r, s->key, s->klen);
	ptr_append(r, (void ***)((char *)m + s->f->offset), (size_t *)((char *)m + s->f->quantifier_offset), e);
	mark(r);
	return e;
}

static Value *skey_add(struct eds_run *r, Struct *st, const struct eds_step *s)
{
	FieldsEntry *e = eds_arena_alloc(r->req, sizeof *e);
	google__protobuf__struct__fields_entry__init(e);
	e->key = (char *)konst(r, s->key, s->klen);
	e->value = (Value *)new_msg(r, value_desc);
	ptr_append(r, (void ***)&st->fields, &st->n_fields, e);
	mark(r);
	return e->value;
}

/* The Struct a key step looks into: cur itself, or the struct in a Value.
 * In create mode a Value that holds nothing (or null) becomes a Struct. */
static int as_struct(struct eds_run *r, ProtobufCMessage *cur, bool create, Struct **out, const struct eds_bpath *bp,
		     size_t step)
{
	*out = NULL;
	if (cur->descriptor == struct_desc) {
		*out = (Struct *)cur;
		return EDS_OK;
	}
	if (cur->descriptor != value_desc)
		return EDS_OK;
	Value *v = (Value *)cur;
	if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE) {
		if (!v->struct_value && create) {
			v->struct_value = (Struct *)new_msg(r, struct_desc);
			mark(r);
		}
		*out = v->struct_value;
		return EDS_OK;
	}
	if (!create)
		return EDS_OK;
	if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET ||
	    v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE) {
		v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
		v->struct_value = (Struct *)new_msg(r, struct_desc);
		mark(r);
		*out = v->struct_value;
		return EDS_OK;
	}
	struct eds_val x;
	eds_value_val(v, &x);
	return eds_run_fail(r, bp->span, "cannot set key \"%.*s\" inside %s", (int)bp->steps[step].klen,
			    bp->steps[step].key, eds_vk_an(x.k));
}

static ListValue *as_list(ProtobufCMessage *cur)
{
	if (cur->descriptor == list_desc)
		return (ListValue *)cur;
	if (cur->descriptor == value_desc && ((Value *)cur)->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE)
		return ((Value *)cur)->list_value;
	return NULL;
}

/* One step down from cur; NULL when absent (rc stays EDS_OK) or on error.
 * touch (implied by create): touch the map or Struct entry on the way. */
static ProtobufCMessage *step_child(struct eds_run *r, ProtobufCMessage *cur, const struct eds_bpath *bp, size_t i,
				    bool create, bool touch, int *rc)
{
	const struct eds_step *s = &bp->steps[i];
	switch (s->kind) {
	case EDS_ST_FIELD:
		return create ? ensure_msg(r, cur, s->f) : get_msg(cur, s->f);
	case EDS_ST_ELEM: {
		size_t n = FIELD(cur, s->f->quantifier_offset, size_t);
		if (s->idx >= n) {
			if (create)
				*rc = eds_run_fail(r, bp->span, "index %zu of \"%s\" is out of range (%zu element%s)",
						   s->idx, s->f->name, n, n == 1 ? "" : "s");
			return NULL;
		}
		return FIELD(cur, s->f->offset, ProtobufCMessage **)[s->idx];
	}
	case EDS_ST_MAP: {
		ProtobufCMessage **e = map_find(cur, s);
		ProtobufCMessage *entry = e ? *e : NULL;
		if (!entry) {
			if (!create)
				return NULL;
			entry = map_add(r, cur, s);
		}
		if (create || touch)
			eds_msg_touch(entry);
		return create ? ensure_msg(r, entry, EDS_STEP_VF(s)) : get_msg(entry, EDS_STEP_VF(s));
	}
	case EDS_ST_SKEY: {
		Struct *st;
		*rc = as_struct(r, cur, create, &st, bp, i);
		if (*rc || !st)
			return NULL;
		FieldsEntry *e = struct_entry(st, s->key, s->klen);
		Value *v = e ? e->value : NULL;
		if (create || touch) {
			eds_msg_touch(&st->base);
			if (e)
				eds_msg_touch(&e->base);
		}
		if (create) {
			if (e && !v) { /* an entry without a value: give it one */
				v = e->value = (Value *)new_msg(r, value_desc);
				mark(r);
			} else if (!e) {
				v = skey_add(r, st, s);
			}
		}
		return (ProtobufCMessage *)v;
	}
	case EDS_ST_LIDX: {
		ListValue *l = as_list(cur);
		size_t n = l ? l->n_values : 0;
		if (l && (create || touch))
			eds_msg_touch(&l->base);
		if (s->idx >= n) {
			if (create)
				*rc = eds_run_fail(r, bp->span, "index %zu is out of range (%s)", s->idx,
						   l ? "the list is shorter" : "not a list");
			return NULL;
		}
		return (ProtobufCMessage *)l->values[s->idx];
	}
	}
	return NULL;
}

/* The current targets, which hold whatever a rule changes (see eds_msg_touch). */
static void touch_targets(struct eds_run *r, unsigned level)
{
	eds_msg_touch(r->cla);
	if (level >= EDS_LV_LOC)
		eds_msg_touch(r->loc);
	if (level >= EDS_LV_EP)
		eds_msg_touch(r->ep);
}

/* Walk every step but the last; *parent NULL when a level is absent.  A walk
 * to write (create, or touch for deleting) touches every message on the way. */
static int walk_parent(struct eds_run *r, const struct eds_bpath *bp, bool create, bool touch,
		       ProtobufCMessage **parent)
{
	ProtobufCMessage *cur = root_of(r, bp->root);
	int rc = EDS_OK;
	if (touch)
		touch_targets(r, bp->root);
	for (size_t i = 0; cur && i + 1 < bp->nsteps; i++) {
		ProtobufCMessage *up = cur;
		cur = step_child(r, cur, bp, i, create, touch, &rc);
		if ((create || touch) && cur && bp->steps[i].kind == EDS_ST_FIELD && is_shared(r->shared, cur))
			cur = unshare(r, up, bp->steps[i].f, cur);
		if (touch)
			eds_msg_touch(cur);
	}
	*parent = cur;
	return rc;
}

/* ---- virtual address and port ---- */

static Envoy__Config__Core__V3__SocketAddress *sock_of(const LbEndpoint *ep)
{
	if (!ep || ep->host_identifier_case != ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT ||
	    !ep->endpoint || !ep->endpoint->address ||
	    ep->endpoint->address->address_case != ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS)
		return NULL;
	return ep->endpoint->address->socket_address;
}

static Envoy__Config__Core__V3__Pipe *pipe_of(const LbEndpoint *ep)
{
	if (!ep || ep->host_identifier_case != ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT ||
	    !ep->endpoint || !ep->endpoint->address ||
	    ep->endpoint->address->address_case != ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE)
		return NULL;
	return ep->endpoint->address->pipe;
}

static void read_virt(const struct eds_run *r, const struct eds_bpath *bp, struct eds_val *out, bool *present)
{
	const LbEndpoint *ep = (const LbEndpoint *)r->ep;
	memset(out, 0, sizeof *out);
	*present = false;
	if (bp->virt == EDS_VIRT_PORT) {
		const Envoy__Config__Core__V3__SocketAddress *s = sock_of(ep);
		if (s && s->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE) {
			out->k = EDS_V_NUM;
			out->n = s->port_value;
			*present = true;
		}
		return;
	}
	const Envoy__Config__Core__V3__SocketAddress *s = sock_of(ep);
	const Envoy__Config__Core__V3__Pipe *pp = pipe_of(ep);
	const char *a = s ? s->address : pp ? pp->path : NULL;
	if (s || pp) {
		set_str(out, a ? a : empty_str, a ? strlen(a) : 0);
		*present = a && *a;
	}
}

/* What setting or deleting address or port may change in place. */
static void touch_address(struct eds_run *r)
{
	LbEndpoint *ep = (LbEndpoint *)r->ep;
	touch_targets(r, EDS_LV_EP);
	if (ep->host_identifier_case != ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT ||
	    !ep->endpoint)
		return;
	eds_msg_touch(&ep->endpoint->base);
	Address *a = ep->endpoint->address;
	if (!a)
		return;
	eds_msg_touch(&a->base);
	if (a->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS)
		eds_msg_touch((ProtobufCMessage *)a->socket_address);
	if (a->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE)
		eds_msg_touch((ProtobufCMessage *)a->pipe);
}

static int write_virt(struct eds_run *r, const struct eds_bpath *bp, const struct eds_val *v, char *owned)
{
	LbEndpoint *ep = (LbEndpoint *)r->ep;
	touch_address(r);
	const char *s = owned ? owned : v->s;
	if (bp->virt == EDS_VIRT_ADDRESS) {
		Envoy__Config__Core__V3__Pipe *pp = pipe_of(ep);
		if (pp) {
			if (pp->path && strcmp(pp->path, s) == 0)
				return EDS_OK;
			pp->path = (char *)s;
			mark(r);
			return EDS_OK;
		}
	}
	Envoy__Config__Core__V3__SocketAddress *sa = sock_of(ep);
	if (!sa) {
		const ProtobufCFieldDescriptor *fe = protobuf_c_message_descriptor_get_field(ep->base.descriptor, 1);
		Envoy__Config__Endpoint__V3__Endpoint *e =
			(Envoy__Config__Endpoint__V3__Endpoint *)ensure_msg(r, &ep->base, fe);
		if (!e->address) {
			e->address = (Address *)new_msg(r, &envoy__config__core__v3__address__descriptor);
			mark(r);
		}
		Address *a = e->address;
		if (a->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE) {
			return eds_run_fail(r, bp->span, "the endpoint's address is a pipe, which has no port");
		}
		if (a->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_ENVOY_INTERNAL_ADDRESS)
			return eds_run_fail(r, bp->span,
					    "the endpoint's address is an internal address; set its fields under "
					    "lb_endpoint.endpoint.address.envoy_internal_address");
		if (!a->socket_address || a->address_case != ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS) {
			a->socket_address = (Envoy__Config__Core__V3__SocketAddress *)new_msg(
				r, &envoy__config__core__v3__socket_address__descriptor);
			a->address_case = ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS;
			mark(r);
		}
		sa = a->socket_address;
	}
	if (bp->virt == EDS_VIRT_ADDRESS) {
		if (sa->address && strcmp(sa->address, s) == 0)
			return EDS_OK;
		sa->address = (char *)s;
		mark(r);
		return EDS_OK;
	}
	uint32_t port = (uint32_t)v->n;
	if (sa->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE &&
	    sa->port_value == port)
		return EDS_OK;
	sa->port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE;
	sa->port_value = port;
	mark(r);
	return EDS_OK;
}

static void del_virt(struct eds_run *r, const struct eds_bpath *bp)
{
	LbEndpoint *ep = (LbEndpoint *)r->ep;
	touch_address(r);
	Envoy__Config__Core__V3__SocketAddress *sa = sock_of(ep);
	if (bp->virt == EDS_VIRT_PORT) {
		/* port is port_value: a named_port stays ("null for named ports") */
		if (sa && sa->port_specifier_case == ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE) {
			sa->port_specifier_case = ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER__NOT_SET;
			sa->port_value = 0;
			mark(r);
		}
		return;
	}
	Envoy__Config__Core__V3__Pipe *pp = pipe_of(ep);
	char **slot = sa ? &sa->address : pp ? &pp->path : NULL;
	if (slot && *slot && **slot) {
		*slot = (char *)protobuf_c_empty_string;
		mark(r);
	}
}

/* ---- reading a path ---- */

/* A singular scalar with a has_ flag (proto2 optional, proto3 optional). */
static bool has_flag(const ProtobufCFieldDescriptor *f)
{
	return f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
	       !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type != PROTOBUF_C_TYPE_STRING;
}

/* Whether field f of m exists(): an element, a message, a has_ flag, a oneof
 * member, or a scalar other than its default. */
static bool field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return FIELD(m, f->quantifier_offset, size_t) > 0;
	if (in_oneof_other(m, f))
		return false;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return FIELD(m, f->offset, ProtobufCMessage *) != NULL;
	if (has_flag(f))
		return FIELD(m, f->quantifier_offset, protobuf_c_boolean);
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || !scalar_is_default((const char *)m + f->offset, f);
}

/* Value and presence of the final step, given its parent. */
static void read_final(struct eds_run *r, ProtobufCMessage *parent, const struct eds_bpath *bp, bool raw_enum,
		       struct eds_val *out, bool *present)
{
	memset(out, 0, sizeof *out);
	*present = false;
	if (bp->nsteps == 0) {
		msg_val(r, parent, EDS_FK_MSG, raw_enum, out);
		*present = parent != NULL;
		return;
	}
	const struct eds_step *s = &bp->steps[bp->nsteps - 1];
	switch (s->kind) {
	case EDS_ST_FIELD: {
		const ProtobufCFieldDescriptor *f = s->f;
		*present = field_present(parent, f);
		if (f->label == PROTOBUF_C_LABEL_REPEATED || in_oneof_other(parent, f))
			return;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			msg_val(r, FIELD(parent, f->offset, ProtobufCMessage *), bp->fkind, raw_enum, out);
			return;
		}
		if (has_flag(f) && !*present)
			return;
		scalar_val(r, (const char *)parent + f->offset, f, raw_enum, out);
		return;
	}
	case EDS_ST_ELEM: {
		const ProtobufCFieldDescriptor *f = s->f;
		size_t n = FIELD(parent, f->quantifier_offset, size_t);
		if (s->idx >= n)
			return;
		const char *arr = FIELD(parent, f->offset, const char *);
		*present = true;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE)
			msg_val(r, ((ProtobufCMessage *const *)arr)[s->idx], bp->fkind, raw_enum, out);
		else
			scalar_val(r, arr + s->idx * elem_size(f), f, raw_enum, out);
		return;
	}
	case EDS_ST_MAP: {
		ProtobufCMessage **e = map_find(parent, s);
		if (!e)
			return;
		*present = true;
		if (EDS_STEP_VF(s)->type == PROTOBUF_C_TYPE_MESSAGE)
			msg_val(r, FIELD(*e, EDS_STEP_VF(s)->offset, ProtobufCMessage *), bp->fkind, raw_enum, out);
		else
			scalar_val(r, (const char *)*e + EDS_STEP_VF(s)->offset, EDS_STEP_VF(s), raw_enum, out);
		return;
	}
	case EDS_ST_SKEY: {
		Struct *st;
		as_struct(r, parent, false, &st, bp, bp->nsteps - 1);
		if (!st || !struct_has(st, s->key, s->klen))
			return;
		*present = true;
		eds_value_val(struct_get(st, s->key, s->klen), out);
		return;
	}
	case EDS_ST_LIDX: {
		ListValue *l = as_list(parent);
		if (!l || s->idx >= l->n_values)
			return;
		*present = true;
		eds_value_val(l->values[s->idx], out);
		return;
	}
	}
}

static void read_path(struct eds_run *r, const struct eds_bpath *bp, bool raw_enum, struct eds_val *out,
		      bool *present)
{
	if (bp->virt) {
		read_virt(r, bp, out, present);
		return;
	}
	ProtobufCMessage *parent;
	walk_parent(r, bp, false, false, &parent);
	if (!parent) {
		memset(out, 0, sizeof *out);
		*present = false;
		return;
	}
	read_final(r, parent, bp, raw_enum, out, present);
}

/* exists(bp): read_path's present, without the value.  A path of fields
 * only (most: hostname, metadata, weight) is walked here, straight down
 * the pointers; the AI Gateway's exists(hostname) on every endpoint took
 * a tenth of a serve call through read_path. */
static bool path_present(struct eds_run *r, const struct eds_bpath *bp)
{
	ProtobufCMessage *cur = root_of(r, bp->root);
	for (uint32_t i = 0; !bp->virt && i < bp->nsteps; i++) {
		if (bp->steps[i].kind != EDS_ST_FIELD)
			break;
		if (i + 1 == bp->nsteps)
			return cur && field_present(cur, bp->steps[i].f);
		if (!cur || !(cur = get_msg(cur, bp->steps[i].f)))
			return false;
	}
	struct eds_val v;
	bool present;
	read_path(r, bp, false, &v, &present);
	return present;
}

/* ---- writing ---- */

/* Store v into a Value (inside a Struct, a list or a Value field). */
static void store_value(struct eds_run *r, Value *dst, const struct eds_val *v, const char *owned)
{
	struct eds_val cur;
	eds_value_val(dst, &cur);
	if (dst->kind_case != GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET && eds_val_equal(&cur, v))
		return;
	switch (v->k) {
	case EDS_V_NULL:
		dst->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
		dst->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
		break;
	case EDS_V_BOOL:
		dst->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
		dst->bool_value = v->b;
		break;
	case EDS_V_NUM:
		dst->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
		dst->number_value = v->n;
		break;
	case EDS_V_STR:
		dst->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
		dst->string_value = (char *)stored_str(v, owned);
		break;
	case EDS_V_OBJ:
		dst->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
		dst->struct_value = copy_struct(r, v->p);
		break;
	case EDS_V_LIST:
		dst->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
		dst->list_value = copy_list(r, v->p);
		break;
	default:
		return;
	}
	mark(r);
}

static void duration_of(const struct eds_val *v, int64_t *sec, int32_t *ns)
{
	if (v->k == EDS_V_STR) {
		parse_duration(v->s, v->len, sec, ns);
		return;
	}
	double t = trunc(v->n);
	*sec = (int64_t)t;
	*ns = (int32_t)llround((v->n - t) * 1e9);
	if (*ns >= 1000000000 || *ns <= -1000000000) {
		*sec += *ns > 0 ? 1 : -1;
		*ns = 0;
	}
}

/* Store a scalar into ptr (a field or an array element); false if equal. */
static bool store_scalar(void *ptr, const ProtobufCFieldDescriptor *f, const struct eds_val *v, int enum_num,
			 const char *owned)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32: {
		int32_t x = (int32_t)v->n;
		if (*(int32_t *)ptr == x)
			return false;
		*(int32_t *)ptr = x;
		return true;
	}
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t x = (uint32_t)v->n;
		if (*(uint32_t *)ptr == x)
			return false;
		*(uint32_t *)ptr = x;
		return true;
	}
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t x = v->n >= 9223372036854775807.0 ? INT64_MAX : (int64_t)v->n;
		if (*(int64_t *)ptr == x)
			return false;
		*(int64_t *)ptr = x;
		return true;
	}
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t x = v->n >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v->n;
		if (*(uint64_t *)ptr == x)
			return false;
		*(uint64_t *)ptr = x;
		return true;
	}
	case PROTOBUF_C_TYPE_FLOAT: {
		float x = (float)v->n;
		if (memcmp(ptr, &x, sizeof x) == 0) /* (bits: -0.0 replaces 0.0) */
			return false;
		*(float *)ptr = x;
		return true;
	}
	case PROTOBUF_C_TYPE_DOUBLE:
		if (memcmp(ptr, &v->n, sizeof v->n) == 0)
			return false;
		*(double *)ptr = v->n;
		return true;
	case PROTOBUF_C_TYPE_BOOL:
		if ((*(protobuf_c_boolean *)ptr != 0) == v->b)
			return false;
		*(protobuf_c_boolean *)ptr = v->b;
		return true;
	case PROTOBUF_C_TYPE_ENUM:
		if (*(int *)ptr == enum_num)
			return false;
		*(int *)ptr = enum_num;
		return true;
	case PROTOBUF_C_TYPE_STRING: {
		const char *old = *(char **)ptr;
		if (old && strlen(old) == v->len && memcmp(old, v->s, v->len) == 0)
			return false;
		*(const char **)ptr = stored_str(v, owned);
		return old != NULL || v->len != 0; /* NULL reads as "" */
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = ptr;
		if (b->len == v->len && (v->len == 0 || memcmp(b->data, v->s, v->len) == 0))
			return false;
		b->len = v->len;
		b->data = (uint8_t *)(owned ? owned : v->s);
		return true;
	}
	default:
		return false;
	}
}

/* Store v into field f of m (a message field, or a singular scalar). */
static int store_field(struct eds_run *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, uint8_t fkind,
		       const struct eds_val *v, int enum_num, const char *owned)
{
	bool oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
	bool selected = !oneof || FIELD(m, f->quantifier_offset, uint32_t) == f->id;
	if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
		void *ptr = (char *)m + f->offset;
		bool has_flag = f->label == PROTOBUF_C_LABEL_OPTIONAL && !oneof && f->type != PROTOBUF_C_TYPE_STRING &&
				f->type != PROTOBUF_C_TYPE_MESSAGE;
		bool had = has_flag ? FIELD(m, f->quantifier_offset, protobuf_c_boolean) != 0 : selected;
		if (!selected)
			memset(ptr, 0, elem_size(f)); /* the union held another member */
		bool diff = store_scalar(ptr, f, v, enum_num, owned);
		if (!had) {
			if (oneof)
				FIELD(m, f->quantifier_offset, uint32_t) = f->id;
			else if (has_flag)
				FIELD(m, f->quantifier_offset, protobuf_c_boolean) = 1;
			diff = true;
		}
		if (diff)
			mark(r);
		return EDS_OK;
	}
	ProtobufCMessage *cur = selected ? FIELD(m, f->offset, ProtobufCMessage *) : NULL;
	eds_msg_touch(cur);
	switch (fkind) {
	case EDS_FK_WRAPPER: {
		ProtobufCMessage *w = cur ? cur : ensure_msg(r, m, f);
		const ProtobufCFieldDescriptor *vf = &w->descriptor->fields[0];
		if (store_scalar((char *)w + vf->offset, vf, v, enum_num, owned))
			mark(r);
		return EDS_OK;
	}
	case EDS_FK_DURATION: {
		int64_t sec;
		int32_t ns;
		duration_of(v, &sec, &ns);
		Google__Protobuf__Duration *d = (Google__Protobuf__Duration *)(cur ? cur : ensure_msg(r, m, f));
		if (d->seconds != sec || d->nanos != ns) {
			d->seconds = sec;
			d->nanos = ns;
			mark(r);
		}
		return EDS_OK;
	}
	case EDS_FK_VALUE: {
		Value *dst = (Value *)(cur ? cur : ensure_msg(r, m, f));
		store_value(r, dst, v, owned);
		return EDS_OK;
	}
	case EDS_FK_STRUCT:
	case EDS_FK_LIST:
	case EDS_FK_MSG: {
		struct eds_val old;
		msg_val(r, cur, fkind, false, &old);
		if (cur && eds_val_equal(&old, v))
			return EDS_OK;
		ProtobufCMessage *c = fkind == EDS_FK_STRUCT ? (ProtobufCMessage *)copy_struct(r, v->p)
				      : fkind == EDS_FK_LIST ? (ProtobufCMessage *)copy_list(r, v->p)
							     : copy_msg(r, v->p);
		FIELD(m, f->offset, ProtobufCMessage *) = c;
		if (oneof)
			FIELD(m, f->quantifier_offset, uint32_t) = f->id;
		mark(r);
		return EDS_OK;
	}
	}
	return EDS_OK;
}

static int write_path(struct eds_run *r, const struct eds_bpath *bp, const struct eds_val *v, int enum_num,
		      const char *owned)
{
	if (bp->virt)
		return write_virt(r, bp, v, (char *)owned);
	ProtobufCMessage *parent;
	int rc = walk_parent(r, bp, true, true, &parent);
	if (rc || !parent)
		return rc;
	const struct eds_step *s = &bp->steps[bp->nsteps - 1];
	switch (s->kind) {
	case EDS_ST_FIELD:
		return store_field(r, parent, s->f, bp->fkind, v, enum_num, owned);
	case EDS_ST_ELEM: {
		const ProtobufCFieldDescriptor *f = s->f;
		size_t n = FIELD(parent, f->quantifier_offset, size_t);
		if (s->idx >= n)
			return eds_run_fail(r, bp->span, "index %zu of \"%s\" is out of range (%zu element%s)", s->idx,
					    f->name, n, n == 1 ? "" : "s");
		char *arr = FIELD(parent, f->offset, char *);
		if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
			if (store_scalar(arr + s->idx * elem_size(f), f, v, enum_num, owned))
				mark(r);
			return EDS_OK;
		}
		ProtobufCMessage **slot = (ProtobufCMessage **)arr + s->idx;
		eds_msg_touch(*slot);
		if (bp->fkind == EDS_FK_VALUE) {
			store_value(r, (Value *)*slot, v, owned);
			return EDS_OK;
		}
		struct eds_val old;
		msg_val(r, *slot, bp->fkind, false, &old);
		if (bp->fkind == EDS_FK_WRAPPER || bp->fkind == EDS_FK_DURATION) {
			/* wrappers and durations in repeated fields: rewrite in place */
			if (bp->fkind == EDS_FK_WRAPPER) {
				const ProtobufCFieldDescriptor *vf = &(*slot)->descriptor->fields[0];
				if (store_scalar((char *)*slot + vf->offset, vf, v, enum_num, owned))
					mark(r);
			} else {
				int64_t sec;
				int32_t ns;
				duration_of(v, &sec, &ns);
				Google__Protobuf__Duration *d = (Google__Protobuf__Duration *)*slot;
				if (d->seconds != sec || d->nanos != ns) {
					d->seconds = sec;
					d->nanos = ns;
					mark(r);
				}
			}
			return EDS_OK;
		}
		if (eds_val_equal(&old, v))
			return EDS_OK;
		*slot = bp->fkind == EDS_FK_STRUCT ? (ProtobufCMessage *)copy_struct(r, v->p)
			: bp->fkind == EDS_FK_LIST ? (ProtobufCMessage *)copy_list(r, v->p)
						   : copy_msg(r, v->p);
		mark(r);
		return EDS_OK;
	}
	case EDS_ST_MAP: {
		ProtobufCMessage **e = map_find(parent, s);
		ProtobufCMessage *entry = e ? *e : map_add(r, parent, s);
		eds_msg_touch(entry);
		return store_field(r, entry, EDS_STEP_VF(s), bp->fkind, v, enum_num, owned);
	}
	case EDS_ST_SKEY:
	case EDS_ST_LIDX: {
		rc = EDS_OK;
		ProtobufCMessage *dst = step_child(r, parent, bp, bp->nsteps - 1, true, true, &rc);
		if (rc || !dst)
			return rc;
		eds_msg_touch(dst);
		store_value(r, (Value *)dst, v, owned);
		return EDS_OK;
	}
	}
	return EDS_OK;
}

static void del_entries(struct eds_run *r, ProtobufCMessage **arr, size_t *np, size_t key_off, const char *key,
			size_t klen)
{
	size_t w = 0, n = *np;
	for (size_t i = 0; i < n; i++) {
		const char *k = FIELD(arr[i], key_off, const char *);
		if (k && strncmp(k, key, klen) == 0 && k[klen] == '\0')
			continue;
		arr[w++] = arr[i];
	}
	if (w != n) {
		*np = w;
		mark(r);
	}
}

static void clear_field(struct eds_run *r, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	void *ptr = (char *)m + f->offset;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t *n = (size_t *)((char *)m + f->quantifier_offset);
		if (*n) {
			*n = 0;
			mark(r);
		}
		return;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *c = (uint32_t *)((char *)m + f->quantifier_offset);
		if (*c == f->id) {
			*c = 0;
			memset(ptr, 0, elem_size(f));
			mark(r);
		}
		return;
	}
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		if (*(void **)ptr) {
			*(void **)ptr = NULL;
			mark(r);
		}
		return;
	}
	bool has_flag = f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING;
	if (has_flag && FIELD(m, f->quantifier_offset, protobuf_c_boolean)) {
		FIELD(m, f->quantifier_offset, protobuf_c_boolean) = 0;
		mark(r);
	}
	if (scalar_is_default(ptr, f))
		return;
	if (f->type == PROTOBUF_C_TYPE_STRING)
		/* protobuf-c stores a string field's default as the string itself */
		*(const char **)ptr = f->default_value ? (const char *)f->default_value
						       : (const char *)protobuf_c_empty_string;
	else
		memset(ptr, 0, elem_size(f));
	mark(r);
}

static int del_path(struct eds_run *r, const struct eds_bpath *bp)
{
	if (bp->virt) {
		del_virt(r, bp);
		return EDS_OK;
	}
	ProtobufCMessage *parent;
	int rc = walk_parent(r, bp, false, true, &parent);
	if (rc || !parent)
		return rc;
	const struct eds_step *s = &bp->steps[bp->nsteps - 1];
	switch (s->kind) {
	case EDS_ST_FIELD:
		clear_field(r, parent, s->f);
		break;
	case EDS_ST_ELEM: {
		size_t *n = (size_t *)((char *)parent + s->f->quantifier_offset);
		if (s->idx < *n) {
			arr_remove(FIELD(parent, s->f->offset, void *), n, s->idx, elem_size(s->f));
			mark(r);
		}
		break;
	}
	case EDS_ST_MAP:
		del_entries(r, FIELD(parent, s->f->offset, ProtobufCMessage **),
			    (size_t *)((char *)parent + s->f->quantifier_offset), EDS_STEP_KF(s)->offset, s->key, s->klen);
		break;
	case EDS_ST_SKEY: {
		Struct *st;
		as_struct(r, parent, false, &st, bp, bp->nsteps - 1);
		if (st) {
			eds_msg_touch(&st->base);
			del_entries(r, (ProtobufCMessage **)st->fields, &st->n_fields,
				    offsetof(FieldsEntry, key), s->key, s->klen);
		}
		break;
	}
	case EDS_ST_LIDX: {
		ListValue *l = as_list(parent);
		if (l && s->idx < l->n_values) {
			eds_msg_touch(&l->base);
			arr_remove(l->values, &l->n_values, s->idx, sizeof *l->values);
			mark(r);
		}
		break;
	}
	}
	return EDS_OK;
}

/* ---- expressions ---- */

static int type_fail(struct eds_run *r, const struct eds_node *n, const char *fmt, unsigned k1, unsigned k2)
{
	return eds_run_fail(r, n->span, fmt, eds_vk_an(k1), eds_vk_an(k2));
}

int eds_eval_cond(struct eds_run *r, const struct eds_node *n, bool *out)
{
	if (n->kind == EDS_N_EXISTS) {
		*out = path_present(r, n->lhs->path);
		return EDS_OK;
	}
	struct eds_val v;
	int rc = eds_eval(r, n, &v);
	if (rc)
		return rc;
	if (v.k == EDS_V_NULL) {
		*out = false;
		return EDS_OK;
	}
	if (v.k != EDS_V_BOOL)
		return eds_run_fail(r, n->span, "expected true or false, got %s", eds_vk_an(v.k));
	*out = v.b;
	return EDS_OK;
}

static const char *cstr(struct eds_run *r, const struct eds_val *v);

/* Enums compare by number (n->enum_cmp): the value compared with an enum
 * field read as its number, v, a name of one of its values, becomes that
 * value's number; an error when it names none. */
static int enum_number(struct eds_run *r, const struct eds_node *n, struct eds_val *v)
{
	const struct eds_node *e = n->lhs->kind == EDS_N_PATH && n->lhs->raw_enum ? n->lhs : n->rhs;
	const ProtobufCEnumDescriptor *ed = e->path->last->descriptor;
	if (v->k != EDS_V_STR)
		return EDS_OK; /* (a number, or null; other types fail in compare) */
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, cstr(r, v));
	if (!ev)
		return eds_run_fail(r, n->span, "\"%.*s\" is not a value of %s", (int)(v->len > 200 ? 200 : v->len),
				    v->s, ed->name);
	memset(v, 0, sizeof *v);
	v->k = EDS_V_NUM;
	v->n = ev->value;
	return EDS_OK;
}

static int compare(struct eds_run *r, const struct eds_node *n, const struct eds_val *a, const struct eds_val *b,
		   bool *out)
{
	uint8_t op = n->op;
	if (a->k == EDS_V_NULL || b->k == EDS_V_NULL) {
		bool both = a->k == b->k;
		*out = op == EDS_OP_EQ ? both : op == EDS_OP_NE ? !both : false;
		return EDS_OK;
	}
	if (a->k != b->k)
		return type_fail(r, n, "cannot compare %s with %s", a->k, b->k);
	int c = 0;
	switch (a->k) {
	case EDS_V_NUM:
		c = a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
		if (a->n != a->n || b->n != b->n) { /* NaN from binary input */
			*out = op == EDS_OP_NE;
			return EDS_OK;
		}
		break;
	case EDS_V_STR: {
		size_t m = a->len < b->len ? a->len : b->len;
		c = m ? memcmp(a->s, b->s, m) : 0;
		if (!c)
			c = a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
		break;
	}
	default:
		if (op != EDS_OP_EQ && op != EDS_OP_NE)
			return eds_run_fail(r, n->span, "only numbers and strings can be ordered, not %s",
					    eds_vk_an(a->k));
		*out = eds_val_equal(a, b) == (op == EDS_OP_EQ);
		return EDS_OK;
	}
	switch (op) {
	case EDS_OP_EQ: *out = c == 0; break;
	case EDS_OP_NE: *out = c != 0; break;
	case EDS_OP_LT: *out = c < 0; break;
	case EDS_OP_LE: *out = c <= 0; break;
	case EDS_OP_GT: *out = c > 0; break;
	default: *out = c >= 0; break;
	}
	return EDS_OK;
}

/* A NUL-terminated copy of a string value when it is a slice. */
static const char *cstr(struct eds_run *r, const struct eds_val *v)
{
	return v->slice ? eds_arena_strndup(r->req, v->s, v->len) : v->s;
}

static bool all_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * Across runs: serve matches the same localities' names call after call,
 * and glibc's regexec with captures takes microseconds.  Each thread keeps
 * its last answers, by program (serial: a reloaded program never sees
 * another's), pattern and subject bytes, for subjects up to XMATCH_LEN.
 */
#define XMATCH_SLOTS 64
#define XMATCH_LEN 120
struct xmatch {
	uint64_t serial; /* 0: empty */
	uint32_t re_id, len;
	bool matched;
	regmatch_t m[10];
	char s[XMATCH_LEN];
};
static _Thread_local struct xmatch xmatch[XMATCH_SLOTS];

static size_t xmatch_slot(const struct eds_run *r, const struct eds_node *n, const char *s, size_t len)
{
	uint64_t h = eds_expr_hash(s, len) ^ (r->p->serial * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)n->re_id << 32);
	return (size_t)((h ^ (h >> 32)) % XMATCH_SLOTS);
}

static bool match_cached(const struct eds_run *r, const struct eds_node *n, const char *s, size_t len,
			 struct eds_rcache *c)
{
	if (len > XMATCH_LEN)
		return false;
	const struct xmatch *x = &xmatch[xmatch_slot(r, n, s, len)];
	if (x->serial != r->p->serial || x->re_id != n->re_id || x->len != len || memcmp(x->s, s, len) != 0)
		return false;
	c->matched = x->matched;
	memcpy(c->m, x->m, sizeof c->m);
	return true;
}

static void match(struct eds_run *r, const struct eds_node *n, const char *s, size_t len, struct eds_rcache *c)
{
	size_t nm = n->negate ? 0 : n->re_nsub + 1;
	if (nm > 10)
		nm = 10;
	if (n->re_utf8 && !all_ascii(s, len)) {
		locale_t old = uselocale(eds_expr_utf8_locale());
		c->matched = regexec(n->re_utf8, s, nm, c->m, 0) == 0;
		uselocale(old);
	} else {
		c->matched = regexec(n->re, s, nm, c->m, 0) == 0;
	}
	for (size_t i = nm; i < 10; i++)
		c->m[i].rm_so = c->m[i].rm_eo = -1;
	/* for the next run on this thread (match_cached) */
	if (len <= XMATCH_LEN) {
		struct xmatch *x = &xmatch[xmatch_slot(r, n, s, len)];
		x->serial = r->p->serial;
		x->re_id = n->re_id;
		x->len = (uint32_t)len;
		memcpy(x->s, s, len);
		x->matched = c->matched;
		memcpy(x->m, c->m, sizeof x->m);
	}
}

static int eval_match(struct eds_run *r, const struct eds_node *n, struct eds_val *out)
{
	struct eds_val v;
	int rc = eds_eval(r, n->lhs, &v);
	if (rc)
		return rc;
	out->k = EDS_V_BOOL;
	out->b = false;
	if (v.k == EDS_V_NULL)
		return EDS_OK;
	if (v.k != EDS_V_STR)
		return eds_run_fail(r, n->lhs->span, "'%s' needs a string, got %s", n->negate ? "!~" : "=~",
				    eds_vk_an(v.k));
	const char *s = cstr(r, &v);
	struct eds_rcache *c = &r->rcache[n->re_id];
	/* A locality's region is matched once for all its endpoints: the same
	 * string (same pointer, never modified) gives the same answer. */
	if (!(c->subj == s && c->len == v.len)) {
		c->subj = s;
		c->len = v.len;
		if (!match_cached(r, n, s, v.len, c))
			match(r, n, s, v.len, c);
	}
	if (c->matched && !n->negate) {
		r->cap_subj = s;
		r->cap_valid = true;
		memcpy(r->cap, c->m, sizeof r->cap);
	}
	out->b = n->negate ? !c->matched : c->matched;
	return EDS_OK;
}

static int eval_cidr(struct eds_run *r, const struct eds_node *n, struct eds_val *out)
{
	struct eds_val v;
	int rc = eds_eval(r, n->lhs, &v);
	if (rc)
		return rc;
	out->k = EDS_V_BOOL;
	out->b = false;
	if (v.k == EDS_V_NULL)
		return EDS_OK;
	if (v.k != EDS_V_STR)
		return eds_run_fail(r, n->lhs->span, "'in' with a CIDR needs an address string, got %s",
				    eds_vk_an(v.k));
	char buf[64];
	if (v.len >= sizeof buf)
		return EDS_OK;
	memcpy(buf, v.s, v.len);
	buf[v.len] = '\0';
	uint8_t a[16];
	const struct eds_cidr *c = n->cidr;
	if (inet_pton(c->family, buf, a) != 1)
		return EDS_OK; /* a hostname, or the other family: not in the range */
	unsigned bits = c->bits;
	size_t full = bits / 8;
	if (memcmp(a, c->addr, full) != 0)
		return EDS_OK;
	if (bits % 8) {
		uint8_t mask = (uint8_t)(0xFF00u >> (bits % 8));
		if ((a[full] & mask) != c->addr[full])
			return EDS_OK;
	}
	out->b = true;
	return EDS_OK;
}

static int eval_concat(struct eds_run *r, const struct eds_node *n, struct eds_val *out)
{
	struct eds_val small[16];
	struct eds_val *vals = n->nkids <= 16 ? small : eds_arena_alloc(r->req, n->nkids * sizeof *vals);
	size_t total = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		int rc = eds_eval(r, n->kids[i], &vals[i]);
		if (rc)
			return rc;
		if (vals[i].k != EDS_V_STR) {
			/* name the pair around the culprit */
			size_t o = i ? i - 1 : 1;
			struct eds_val ov;
			if (o < i)
				ov = vals[o];
			else if ((rc = eds_eval(r, n->kids[o], &ov)))
				return rc;
			unsigned lt = i ? ov.k : vals[i].k, rt = i ? vals[i].k : ov.k;
			const struct eds_node *ln = n->kids[i ? o : i], *rn = n->kids[i ? i : o];
			return eds_run_fail(r, (struct eds_span){ ln->span.start, rn->span.end },
					    "'+' joins strings, got %s and %s", eds_vk_an(lt), eds_vk_an(rt));
		}
		total += vals[i].len;
	}
	if (total > r->p->lim.max_string)
		return eds_run_fail(r, n->span, "'+' would make a string of %zu bytes, more than the limit of %zu "
				    "(--max-string)", total, r->p->lim.max_string);
	char *s = eds_arena_alloc(r->req, total + 1);
	size_t at = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		if (vals[i].len)
			memcpy(s + at, vals[i].s, vals[i].len);
		at += vals[i].len;
	}
	s[at] = '\0';
	memset(out, 0, sizeof *out);
	set_str(out, s, total);
	return EDS_OK;
}

int eds_eval(struct eds_run *r, const struct eds_node *n, struct eds_val *out)
{
	int rc;
	bool present;
	switch (n->kind) {
	case EDS_N_LIT:
		*out = n->val;
		return EDS_OK;
	case EDS_N_PATH:
		read_path(r, n->path, n->raw_enum, out, &present);
		return EDS_OK;
	case EDS_N_CAP:
		memset(out, 0, sizeof *out);
		if (r->cap_valid && r->cap[n->cap].rm_so >= 0) {
			out->k = EDS_V_STR;
			out->s = r->cap_subj + r->cap[n->cap].rm_so;
			out->len = (size_t)(r->cap[n->cap].rm_eo - r->cap[n->cap].rm_so);
			out->slice = true;
		}
		return EDS_OK;
	case EDS_N_EXISTS:
		memset(out, 0, sizeof *out);
		out->k = EDS_V_BOOL;
		out->b = path_present(r, n->lhs->path);
		return EDS_OK;
	case EDS_N_NOT: {
		bool b;
		if ((rc = eds_eval_cond(r, n->lhs, &b)))
			return rc;
		memset(out, 0, sizeof *out);
		out->k = EDS_V_BOOL;
		out->b = !b;
		return EDS_OK;
	}
	case EDS_N_AND:
	case EDS_N_OR: {
		bool want = n->kind == EDS_N_OR, b = !want;
		for (size_t i = 0; i < n->nkids; i++) {
			if ((rc = eds_eval_cond(r, n->kids[i], &b)))
				return rc;
			if (b == want)
				break;
		}
		memset(out, 0, sizeof *out);
		out->k = EDS_V_BOOL;
		out->b = b;
		return EDS_OK;
	}
	case EDS_N_CMP: {
		struct eds_val a, b;
		if ((rc = eds_eval(r, n->lhs, &a)) || (rc = eds_eval(r, n->rhs, &b)))
			return rc;
		if (n->enum_cmp && ((rc = enum_number(r, n, &a)) || (rc = enum_number(r, n, &b))))
			return rc;
		bool res = false;
		if ((rc = compare(r, n, &a, &b, &res)))
			return rc;
		memset(out, 0, sizeof *out);
		out->k = EDS_V_BOOL;
		out->b = res;
		return EDS_OK;
	}
	case EDS_N_MATCH:
		memset(out, 0, sizeof *out);
		return eval_match(r, n, out);
	case EDS_N_IN_CIDR:
		memset(out, 0, sizeof *out);
		return eval_cidr(r, n, out);
	case EDS_N_IN_LIST: {
		struct eds_val v;
		if ((rc = eds_eval(r, n->lhs, &v)))
			return rc;
		memset(out, 0, sizeof *out);
		out->k = EDS_V_BOOL;
		if (v.k == EDS_V_NULL)
			return EDS_OK;
		const ListValue *l = n->rhs->val.p;
		for (size_t i = 0; i < l->n_values && !out->b; i++) {
			struct eds_val e;
			eds_value_val(l->values[i], &e);
			out->b = eds_val_equal(&v, &e);
		}
		return EDS_OK;
	}
	case EDS_N_CONCAT:
		return eval_concat(r, n, out);
	}
	return eds_run_fail(r, n->span, "internal error: unknown expression");
}

/* ---- actions ---- */

static int assert_failed(struct eds_run *r, const struct eds_action *a)
{
	const char *text = r->p->srcs[r->rule->src].text;
	char msg[240];
	if (a->msg)
		snprintf(msg, sizeof msg, "%.*s", (int)a->msglen, a->msg);
	else
		snprintf(msg, sizeof msg, "assertion failed: %.*s", (int)(a->expr->span.end - a->expr->span.start),
			 text + a->expr->span.start);
	if (r->opts && r->opts->mode == EDS_RUN_CHECK && r->opts->findings) {
		char path[160], what[160], where[200];
		eds_run_target(r, path, sizeof path, what, sizeof what);
		struct eds_diag *f = eds_diags_add(r->opts->findings);
		eds_diag_setf(f, EDS_FINDINGS, "%s", msg);
		f->severity = EDS_SEV_ERROR;
		f->id = "assert";
		snprintf(f->path, sizeof f->path, "%s", path);
		(void)where;
		r->opts->findings->nerrors++;
		return EDS_OK;
	}
	if (a->msg)
		return eds_run_fail(r, a->span, "assertion failed: %s", msg);
	return eds_run_fail(r, a->span, "%s", msg);
}

/* Levels of messages in m, itself included, as the decoders count them. */
static uint32_t msg_height(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	uint32_t h = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = FIELD(m, f->quantifier_offset, size_t);
			ProtobufCMessage **v = FIELD(m, f->offset, ProtobufCMessage **);
			for (size_t k = 0; k < n; k++) {
				uint32_t s = v[k] ? msg_height(v[k]) : 0;
				h = s > h ? s : h;
			}
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && FIELD(m, f->quantifier_offset, uint32_t) != f->id)
			continue;
		const ProtobufCMessage *sub = FIELD(m, f->offset, ProtobufCMessage *);
		uint32_t s = sub ? msg_height(sub) : 0;
		h = s > h ? s : h;
	}
	return 1 + h;
}

/* A per-locality or literal set: into an endpoint without metadata, the
 * locality's shared Metadata when there is one (see unshare). */
static int write_hoisted(struct eds_run *r, const struct eds_action *a, struct eds_hoist *h)
{
	const struct eds_bpath *bp = a->target->path;
	const ProtobufCFieldDescriptor *f = bp->steps[0].f;
	bool bare = a->shares_meta && r->shared && !FIELD(r->ep, f->offset, ProtobufCMessage *);
	if (bare && h->meta) {
		touch_targets(r, EDS_LV_EP);
		FIELD(r->ep, f->offset, ProtobufCMessage *) = h->meta;
		mark(r);
		return EDS_OK;
	}
	int rc = write_path(r, bp, &h->v, h->enum_num, h->owned);
	ProtobufCMessage *m = bare && !rc ? FIELD(r->ep, f->offset, ProtobufCMessage *) : NULL;
	if (m && shared_add(r->shared, m))
		h->meta = m;
	return rc;
}

int eds_exec_action(struct eds_run *r, const struct eds_action *a)
{
	int rc;
	switch (a->kind) {
	case EDS_A_SET: {
		struct eds_val v;
		struct eds_hoist *h = NULL;
		if ((a->per_locality || a->shares_meta) && r->ep) {
			h = &r->hoist[((uintptr_t)a / sizeof *a) % (sizeof r->hoist / sizeof *r->hoist)];
			if (h->a == a && h->loc == r->loc)
				return write_hoisted(r, a, h);
		}
		if ((rc = eds_eval(r, a->expr, &v)))
			return rc;
		const struct eds_bpath *bp = a->target->path;
		const char *name;
		int nl = name_len(r, bp, &name);
		if (v.k == EDS_V_NULL && bp->fkind != EDS_FK_VALUE)
			return eds_run_fail(r, a->expr->span, "the value for \"%.*s\" is null (use del to clear it)",
					    nl, name);
		char err[256];
		int enum_num = 0;
		if (a->expr->kind == EDS_N_LIT && bp->is_enum && v.k == EDS_V_NUM) {
			enum_num = (int)v.n; /* checked and converted when binding */
		} else if (eds_check_store(bp, name, (size_t)nl, &v, &enum_num, err, sizeof err)) {
			return eds_run_fail(r, a->expr->span, "%s", err);
		}
		if ((v.k == EDS_V_OBJ || v.k == EDS_V_LIST || v.k == EDS_V_MSG) && v.p) {
			/* a copy may go deeper than where it came from; a Value
			 * holds the Struct or list one level down */
			uint32_t deepest = bp->depth + msg_height(v.p) - (bp->fkind == EDS_FK_VALUE ? 0 : 1);
			if (deepest > eds_depth_levels(r->p->lim.max_depth))
				return eds_run_fail(r, a->expr->span,
						    "\"%.*s\" would nest messages %u levels below the CLA, more than the "
						    "limit of %u (--max-depth)", nl, name, (unsigned)deepest - 1,
						    (unsigned)r->p->lim.max_depth);
		}
		const char *owned = v.k != EDS_V_STR ? NULL
				    : v.konst ? konst(r, v.s, v.len)
				    : v.slice ? eds_arena_strndup(r->req, v.s, v.len)
					      : NULL;
		if (h) {
			*h = (struct eds_hoist){ .a = a, .loc = r->loc, .v = v, .enum_num = enum_num, .owned = owned };
			return write_hoisted(r, a, h);
		}
		return write_path(r, bp, &v, enum_num, owned);
	}
	case EDS_A_DEL:
		return del_path(r, a->target->path);
	case EDS_A_DROP:
		r->dropped = true;
		return EDS_OK;
	case EDS_A_ASSERT: {
		bool ok;
		if ((rc = eds_eval_cond(r, a->expr, &ok)))
			return rc;
		return ok ? EDS_OK : assert_failed(r, a);
	}
	}
	return EDS_OK;
}
