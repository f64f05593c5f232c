/*
 * Unit tests of the binary codec (src/codec_bin.c) against protobuf-c 1.4,
 * whose unpack and pack it replaces.
 *
 *  - Encoder: exactly the bytes of protobuf_c_message_pack, with what
 *    protobuf C++ writes and protobuf-c leaves out added (a -0.0, a map
 *    entry's default key or value: ref_pack), on every fixture
 *    (testdata corpus and examples, transform and rules inputs, fuzz
 *    regressions, the benchmark CLAs when scripts/bench has made them), on
 *    edge values of every protobuf-c type and label (a hand-made descriptor,
 *    edstest.T, below) and on random messages.
 *  - Decoder: on every input, the same outcome as the decoder it replaced
 *    (a validating scan, then protobuf_c_message_unpack: kept below as
 *    ref_decode, verbatim but for names and for what protoc and python do
 *    and protobuf-c did not: groups and known fields sent with another wire
 *    type are unknown fields, which both sides drop before comparing; tags
 *    and lengths over 5 bytes and broken packed runs are errors with a
 *    place; a 10th varint byte's bits past the 64th are dropped): either the
 *    same diagnostic (code, message, byte offset, path) or a message that
 *    protobuf-c packs to the same bytes.  Inputs: the fixtures, random
 *    mutations of them, random wire data for edstest.T.
 *  - Protobuf's rules for repeated fields and oneofs, checked relationally
 *    (decode(a + b) against a message built by hand).
 *
 * Run from the repository root.  EDS_SEED=n changes the random inputs;
 * EDS_DUMP=1 prints the inputs on which the decoders disagree, in hex.
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "codec.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "schema.h"

/* Fewer random inputs under the sanitizers, which run them 5-10 times slower. */
#if defined(__SANITIZE_ADDRESS__)
#define SCALE 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCALE 3
#endif
#endif
#ifndef SCALE
#define SCALE 1
#endif

static int passed, failed;

__attribute__((format(printf, 2, 3)))
static void check(int ok, const char *fmt, ...)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	if (failed > 40)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* xorshift64*: deterministic unless EDS_SEED is set */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd64(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}
static unsigned rnd(unsigned n)
{
	return n ? (unsigned)(rnd64() % n) : 0;
}

/* ---- edstest.T: every protobuf-c type and label, by hand ---- */

typedef struct T T;
union t_oneof {
	char *o_s;
	T *o_m;
	T *o_m2;
	uint32_t o_u;
	ProtobufCBinaryData o_by;
};
struct T {
	ProtobufCMessage base;
	T *child, *opt_m;
	int32_t i32;
	int64_t i64;
	uint32_t u32;
	uint64_t u64;
	int32_t s32;
	int64_t s64;
	uint32_t f32;
	uint64_t f64;
	int32_t sf32;
	int64_t sf64;
	protobuf_c_boolean b;
	float fl;
	double d;
	char *s;
	ProtobufCBinaryData by;
	int e;
	uint32_t o_case;
	union t_oneof o;
	protobuf_c_boolean has_opt_i32;
	int32_t opt_i32;
	char *opt_s;
	protobuf_c_boolean has_opt_by;
	ProtobufCBinaryData opt_by;
	int32_t req;
	protobuf_c_boolean has_opt_d;
	double opt_d;
	size_t n_r_child;
	T **r_child;
	size_t n_r_s;
	char **r_s;
	size_t n_r_by;
	ProtobufCBinaryData *r_by;
	size_t n_p_i32, n_p_i64, n_p_u32, n_p_u64, n_p_s32, n_p_s64, n_p_f32, n_p_f64, n_p_sf32,
		n_p_sf64, n_p_b, n_p_fl, n_p_d, n_p_e;
	int32_t *p_i32;
	int64_t *p_i64;
	uint32_t *p_u32;
	uint64_t *p_u64;
	int32_t *p_s32;
	int64_t *p_s64;
	uint32_t *p_f32;
	uint64_t *p_f64;
	int32_t *p_sf32;
	int64_t *p_sf64;
	protobuf_c_boolean *p_b;
	float *p_fl;
	double *p_d;
	int *p_e;
	size_t n_u_i32, n_u_s64, n_u_f32, n_u_b, n_u_d, n_u_e;
	int32_t *u_i32;
	int64_t *u_s64;
	uint32_t *u_f32;
	protobuf_c_boolean *u_b;
	double *u_d;
	int *u_e;
	int32_t mid, high;
};

static const int32_t t_opt_i32_default = 7;
static const int32_t t_req_default = 5;
static char t_opt_s_default[] = "dflt";
static const ProtobufCBinaryData t_opt_by_default = { 2, (uint8_t *)"ab" };

static ProtobufCMessageDescriptor t_desc;

static void t_init(ProtobufCMessage *m)
{
	T *t = (T *)m;
	memset(t, 0, sizeof *t);
	t->base.descriptor = &t_desc;
	t->s = (char *)protobuf_c_empty_string;
	t->opt_i32 = t_opt_i32_default;
	t->opt_s = t_opt_s_default;
	t->opt_by = t_opt_by_default;
	t->req = t_req_default;
}

#define F(nm, num, lab, typ, q, mem, dflt, fl) \
	{ nm, num, PROTOBUF_C_LABEL_##lab, PROTOBUF_C_TYPE_##typ, q, offsetof(T, mem), NULL, dflt, fl, 0, NULL, NULL }
#define NONE(nm, num, typ) F(#nm, num, NONE, typ, 0, nm, NULL, 0)
#define ONEOF(nm, num, typ) F(#nm, num, NONE, typ, offsetof(T, o_case), o, NULL, PROTOBUF_C_FIELD_FLAG_ONEOF)
#define REP(nm, num, typ, fl) F(#nm, num, REPEATED, typ, offsetof(T, n_##nm), nm, NULL, fl)
#define PACKED PROTOBUF_C_FIELD_FLAG_PACKED

/* not const: the message fields' descriptor is filled in by t_setup() */
static ProtobufCFieldDescriptor t_fields[] = {
	NONE(child, 1, MESSAGE),
	ONEOF(o_m, 2, MESSAGE),
	ONEOF(o_m2, 3, MESSAGE),
	F("opt_m", 4, OPTIONAL, MESSAGE, 0, opt_m, NULL, 0),
	NONE(i32, 5, INT32),
	NONE(i64, 6, INT64),
	NONE(u32, 7, UINT32),
	NONE(u64, 8, UINT64),
	NONE(s32, 9, SINT32),
	NONE(s64, 10, SINT64),
	NONE(f32, 11, FIXED32),
	NONE(f64, 12, FIXED64),
	NONE(sf32, 13, SFIXED32),
	NONE(sf64, 14, SFIXED64),
	NONE(b, 15, BOOL),
	NONE(fl, 16, FLOAT),
	NONE(d, 17, DOUBLE),
	NONE(s, 18, STRING),
	NONE(by, 19, BYTES),
	NONE(e, 20, ENUM),
	ONEOF(o_s, 21, STRING),
	ONEOF(o_u, 22, UINT32),
	ONEOF(o_by, 23, BYTES),
	F("opt_i32", 24, OPTIONAL, INT32, offsetof(T, has_opt_i32), opt_i32, &t_opt_i32_default, 0),
	F("opt_s", 25, OPTIONAL, STRING, 0, opt_s, t_opt_s_default, 0),
	F("opt_by", 26, OPTIONAL, BYTES, offsetof(T, has_opt_by), opt_by, &t_opt_by_default, 0),
	F("req", 27, REQUIRED, SINT32, 0, req, &t_req_default, 0),
	F("opt_d", 28, OPTIONAL, DOUBLE, offsetof(T, has_opt_d), opt_d, NULL, 0),
	REP(r_child, 29, MESSAGE, 0),
	REP(r_s, 30, STRING, 0),
	REP(r_by, 31, BYTES, 0),
	REP(p_i32, 40, INT32, PACKED),
	REP(p_i64, 41, INT64, PACKED),
	REP(p_u32, 42, UINT32, PACKED),
	REP(p_u64, 43, UINT64, PACKED),
	REP(p_s32, 44, SINT32, PACKED),
	REP(p_s64, 45, SINT64, PACKED),
	REP(p_f32, 46, FIXED32, PACKED),
	REP(p_f64, 47, FIXED64, PACKED),
	REP(p_sf32, 48, SFIXED32, PACKED),
	REP(p_sf64, 49, SFIXED64, PACKED),
	REP(p_b, 50, BOOL, PACKED),
	REP(p_fl, 51, FLOAT, PACKED),
	REP(p_d, 52, DOUBLE, PACKED),
	REP(p_e, 53, ENUM, PACKED),
	REP(u_i32, 60, INT32, 0),
	REP(u_s64, 61, SINT64, 0),
	REP(u_f32, 62, FIXED32, 0),
	REP(u_b, 63, BOOL, 0),
	REP(u_d, 64, DOUBLE, 0),
	REP(u_e, 65, ENUM, 0),
	NONE(mid, 3000, SINT32),
	NONE(high, 536870911, INT32),
};
#define T_NFIELDS (sizeof t_fields / sizeof t_fields[0])

static unsigned t_by_name[T_NFIELDS];
static ProtobufCIntRange t_ranges[T_NFIELDS + 1];

static ProtobufCMessageDescriptor t_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC, "edstest.T", "T", "T", "edstest", sizeof(T),
	T_NFIELDS, t_fields, t_by_name, 0 /* set below */, t_ranges, t_init, NULL, NULL, NULL
};

static int by_name(const void *a, const void *b)
{
	return strcmp(t_fields[*(const unsigned *)a].name, t_fields[*(const unsigned *)b].name);
}

/* The parts of the descriptor that are easier to compute than to write. */
static void t_setup(void)
{
	unsigned nr = 0;
	for (unsigned i = 0; i < T_NFIELDS; i++) {
		if (t_fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			t_fields[i].descriptor = &t_desc;
		t_by_name[i] = i;
		if (i == 0 || t_fields[i].id != t_fields[i - 1].id + 1) {
			t_ranges[nr].start_value = (int)t_fields[i].id;
			t_ranges[nr].orig_index = (int)i;
			nr++;
		}
	}
	t_ranges[nr].start_value = 0;
	t_ranges[nr].orig_index = T_NFIELDS;
	qsort(t_by_name, T_NFIELDS, sizeof t_by_name[0], by_name);
	t_desc.n_field_ranges = nr;
}

/* ---- the decoder being replaced (src/codec_bin.c before issue 6) ---- */

struct ref_scan {
	bool needs_merge; /* a singular message field occurs more than once */
	bool needs_strip; /* a group, or a known field with another wire type */
	const struct eds_src *src;
	const struct eds_limits *lim;
	struct eds_diag *d;
	struct eds_path path;
};

static const char *ref_wire_names[] = { "varint", "64-bit", "length-delimited", "start-group",
				     "end-group", "32-bit", "6", "7" };

/* Reads a varint at p (< end); returns bytes used, 0 if bad or truncated. */
static size_t ref_get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < 10; i++) {
		if (p + i >= end)
			return 0;
		r |= (uint64_t)(p[i] & 0x7F) << (7 * i);
		if (!(p[i] & 0x80)) { /* (a 10th byte's bits past the 64th are dropped, as protoc does) */
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

static int ref_wire_type_for(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_BOOL: case PROTOBUF_C_TYPE_ENUM:
		return 0;
	case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	default:
		return 2;
	}
}

__attribute__((format(printf, 4, 5)))
static int ref_fail(struct ref_scan *s, enum eds_code code, size_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->d->msg, sizeof s->d->msg, fmt, ap);
	va_end(ap);
	s->d->code = code;
	eds_diag_path(s->d, &s->path);
	return eds_diag_offset(s->d, s->src, off);
}

static int ref_wire_fits(const ProtobufCFieldDescriptor *f, unsigned wt)
{
	int want = ref_wire_type_for(f);
	return (int)wt == want || (f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && wt == 2);
}

/*
 * Not in the decoder this replaced (it refused groups): an unknown group,
 * from just after its start tag (at open) to just after its end tag, as
 * protobuf C++ reads one.  *pp is moved past it.
 */
static int ref_scan_group(struct ref_scan *s, uint64_t num, const uint8_t *open, const uint8_t **pp,
			  const uint8_t *end, unsigned depth)
{
	const uint8_t *base = (const uint8_t *)s->src->text, *p = *pp;
	if (depth > eds_depth_levels(s->lim->max_depth))
		return ref_fail(s, EDS_E_LIMIT, (size_t)(open - base),
				"groups nested deeper than %u levels (--max-depth)", s->lim->max_depth);
	for (;;) {
		if (p >= end)
			return ref_fail(s, EDS_E_DECODE, (size_t)(open - base),
					"unknown group %llu is not closed (truncated input?)", (unsigned long long)num);
		const uint8_t *at = p;
		uint64_t tag, v;
		size_t n = ref_get_varint(p, end, &tag);
		if (!n || (tag >> 3) == 0 || (tag >> 3) > 536870911)
			return ref_fail(s, EDS_E_DECODE, (size_t)(at - base),
					"malformed field tag in unknown group %llu", (unsigned long long)num);
		if (n > 5)
			return ref_fail(s, EDS_E_DECODE, (size_t)(at - base),
					"field tag of %zu bytes (at most 5) in unknown group %llu", n,
					(unsigned long long)num);
		p += n;
		unsigned wt = (unsigned)(tag & 7);
		if (wt == 4) {
			if ((tag >> 3) != num)
				return ref_fail(s, EDS_E_DECODE, (size_t)(at - base),
						"end-group tag of field %llu closes group %llu",
						(unsigned long long)(tag >> 3), (unsigned long long)num);
			*pp = p;
			return EDS_OK;
		}
		if (wt == 3) {
			int rc = ref_scan_group(s, tag >> 3, at, &p, end, depth + 1);
			if (rc)
				return rc;
		} else if (wt == 0) {
			if (!(n = ref_get_varint(p, end, &v)))
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
						"truncated or malformed varint in unknown group %llu",
						(unsigned long long)num);
			p += n;
		} else if (wt == 1 || wt == 5) {
			size_t w = wt == 1 ? 8 : 4;
			if ((size_t)(end - p) < w)
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
						"truncated %s value in unknown group %llu", ref_wire_names[wt],
						(unsigned long long)num);
			p += w;
		} else if (wt == 2) {
			n = ref_get_varint(p, end, &v);
			if (!n || v > (uint64_t)(end - p) - n)
				return ref_fail(s, EDS_E_DECODE, (size_t)(at - base),
						"field %llu runs past the end of unknown group %llu (truncated input?)",
						(unsigned long long)(tag >> 3), (unsigned long long)num);
			if (n > 5)
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
						"length of %zu bytes (at most 5) in unknown group %llu", n,
						(unsigned long long)num);
			p += n + v;
		} else {
			return ref_fail(s, EDS_E_DECODE, (size_t)(at - base),
					"invalid wire type %u in unknown group %llu", wt, (unsigned long long)num);
		}
	}
}

static int ref_scan_message(struct ref_scan *s, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
			const uint8_t *end, unsigned depth)
{
	const uint8_t *base = (const uint8_t *)s->src->text;
	uint32_t counts[32] = { 0 };

	if (depth > eds_depth_levels(s->lim->max_depth)) {
		return ref_fail(s, EDS_E_LIMIT, (size_t)(p - base),
			    "messages nested deeper than %u levels (--max-depth) in %s",
			    s->lim->max_depth, desc->name);
	}
	while (p < end) {
		size_t at = (size_t)(p - base);
		uint64_t tag;
		size_t n = ref_get_varint(p, end, &tag);
		if (!n)
			return ref_fail(s, EDS_E_DECODE, at, "truncated or malformed field tag in %s",
				    desc->name);
		p += n;
		unsigned wt = (unsigned)(tag & 7);
		uint64_t num = tag >> 3;
		if (num == 0 || num > 536870911)
			return ref_fail(s, EDS_E_DECODE, at, "invalid field number %llu in %s",
				    (unsigned long long)num, desc->name);
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(desc, (unsigned)num);
		if (f && !ref_wire_fits(f, wt)) {
			/* Not in the decoder this replaced: protobuf reads it as an
			 * unknown field (ref_normalize drops it). */
			f = NULL;
			s->needs_strip = true;
		}
		/* Not in the decoder this replaced (protobuf-c refused them with
		 * no place): protoc and python refuse these too. */
		if (n > 5)
			return ref_fail(s, EDS_E_DECODE, at, "field tag of %zu bytes (at most 5) in %s", n,
					desc->name);
		if (f) {
			unsigned idx = (unsigned)(f - desc->fields);
			uint32_t seen = idx < 32 ? counts[idx]++ : 0;
			int64_t index = -1;
			if (f->label == PROTOBUF_C_LABEL_REPEATED)
				index = seen;
			else if (seen && f->type == PROTOBUF_C_TYPE_MESSAGE)
				s->needs_merge = true;
			eds_path_push(&s->path, f->name, index);
		}
		const char *fname = f ? f->name : "(unknown)";
		uint64_t v;
		switch (wt) {
		case 0:
			n = ref_get_varint(p, end, &v);
			if (!n)
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated or malformed varint in field \"%s\"", fname);
			p += n;
			break;
		case 1:
			if (end - p < 8)
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated 64-bit value in field \"%s\"", fname);
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated 32-bit value in field \"%s\"", fname);
			p += 4;
			break;
		case 2: {
			n = ref_get_varint(p, end, &v);
			if (!n)
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated or malformed length of field \"%s\"", fname);
			if (n > 5)
				return ref_fail(s, EDS_E_DECODE, (size_t)(p - base),
						"length of %zu bytes (at most 5) of field \"%s\"", n, fname);
			p += n;
			if (v > (uint64_t)(end - p))
				return ref_fail(s, EDS_E_DECODE, at,
					    "field \"%s\" runs past the end of its message (truncated input?)",
					    fname);
			const uint8_t *q = p + v;
			if (f && f->type == PROTOBUF_C_TYPE_STRING) {
				size_t ok = eds_utf8_valid_prefix((const char *)p, (size_t)v);
				if (ok < v)
					return ref_fail(s, EDS_E_DECODE, (size_t)(p - base) + ok,
						    "invalid UTF-8 in string field \"%s\"", fname);
				if (memchr(p, 0, (size_t)v))
					return ref_fail(s, EDS_E_DECODE,
						    (size_t)((const uint8_t *)memchr(p, 0, (size_t)v) - base),
						    "string field \"%s\" contains a NUL character (not supported)",
						    fname);
			} else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				int rc = ref_scan_message(s, f->descriptor, p, q, depth + 1);
				if (rc)
					return rc;
			} else if (f && ref_wire_type_for(f) != 2) {
				/* packed (what protobuf-c refused without a place) */
				int w = ref_wire_type_for(f);
				size_t len = (size_t)v, esz = w == 1 ? 8 : 4;
				if (w != 0 && len % esz)
					return ref_fail(s, EDS_E_DECODE, (size_t)(p - base) + len / esz * esz,
							"packed field \"%s\" ends inside a %zu-byte value", fname, esz);
				for (const uint8_t *r = p; w == 0 && r < q;) {
					uint64_t x;
					size_t k = ref_get_varint(r, q, &x);
					if (!k)
						return ref_fail(s, EDS_E_DECODE, (size_t)(r - base),
								"truncated or malformed varint in packed field \"%s\"",
								fname);
					r += k;
				}
			}
			p = q;
			break;
		}
		case 3: {
			s->needs_strip = true;
			int rc = ref_scan_group(s, num, base + at, &p, end, depth + 1);
			if (rc)
				return rc;
			break;
		}
		case 4:
			return ref_fail(s, EDS_E_DECODE, at, "end-group tag of field %llu outside a group",
					(unsigned long long)num);
		default:
			return ref_fail(s, EDS_E_DECODE, at, "unsupported wire type %s in field \"%s\"",
				    ref_wire_names[wt], fname);
		}
		if (f)
			eds_path_pop(&s->path);
	}
	return EDS_OK;
}

static void ref_put_varint(struct eds_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	eds_buf_append(b, tmp, n);
}

/* One wire field of already-scanned (so well-formed) data. */
struct ref_wfield {
	const uint8_t *start, *payload, *end;
	uint64_t num;
	unsigned wt;
};

static const uint8_t *ref_next_field(const uint8_t *p, const uint8_t *end, struct ref_wfield *w)
{
	uint64_t tag = 0, v = 0;
	w->start = p;
	p += ref_get_varint(p, end, &tag);
	w->num = tag >> 3;
	w->wt = (unsigned)(tag & 7);
	w->payload = p;
	switch (w->wt) {
	case 0: p += ref_get_varint(p, end, &v); break;
	case 1: p += 8; break;
	case 5: p += 4; break;
	case 3: { /* to just after the group's end tag */
		struct ref_wfield x;
		do
			p = ref_next_field(p, end, &x);
		while (x.wt != 4);
		break;
	}
	case 4: break;
	default:
		p += ref_get_varint(p, end, &v);
		w->payload = p;
		p += v;
		break;
	}
	w->end = p;
	return p;
}

/*
 * Protobuf merges the occurrences of a singular message field; protobuf-c
 * 1.4 loses the earlier occurrence's proto3 scalars when it does.  Rewrite
 * the (rare) input that has such repeats so that each singular message
 * field occurs once, at its last place, with the payloads concatenated —
 * which is what merging means on the wire.  And drop what protobuf-c cannot
 * hold (a group, a known field with another wire type): run_decoder drops
 * them from the decoded message on both sides.
 */
static void ref_normalize(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
		      const uint8_t *end, struct eds_buf *out)
{
	struct ref_wfield w, x;
	for (const uint8_t *q = p; q < end;) {
		q = ref_next_field(q, end, &w);
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(desc, (unsigned)w.num);
		if (w.wt == 3 || (f && !ref_wire_fits(f, w.wt)))
			continue;
		if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || w.wt != 2) {
			eds_buf_append(out, w.start, (size_t)(w.end - w.start));
			continue;
		}
		struct eds_buf payload = { 0 };
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			eds_buf_append(&payload, w.payload, (size_t)(w.end - w.payload));
		} else {
			bool later = false;
			for (const uint8_t *r = q; r < end && !later;) {
				r = ref_next_field(r, end, &x);
				later = x.num == w.num && x.wt == 2;
			}
			if (later)
				continue; /* emitted with the last occurrence */
			for (const uint8_t *r = p; r < q;) {
				r = ref_next_field(r, end, &x);
				if (x.num == w.num && x.wt == 2)
					eds_buf_append(&payload, x.payload, (size_t)(x.end - x.payload));
			}
		}
		struct eds_buf sub = { 0 };
		ref_normalize(f->descriptor, (const uint8_t *)payload.data,
			  (const uint8_t *)payload.data + payload.len, &sub);
		ref_put_varint(out, (w.num << 3) | 2);
		ref_put_varint(out, sub.len);
		eds_buf_append(out, sub.data, sub.len);
		eds_buf_release(&sub);
		eds_buf_release(&payload);
	}
}

static int ref_decode(const ProtobufCMessageDescriptor *desc, const struct eds_src *src,
		   struct eds_arena *arena, const struct eds_limits *lim, ProtobufCMessage **out,
		   struct eds_diag *d)
{
	struct ref_scan s = { .src = src, .lim = lim, .d = d };
	const uint8_t *p = src->text ? (const uint8_t *)src->text : (const uint8_t *)"";
	if (src->len > lim->max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)",
			      src->len, lim->max_input);
		return eds_diag_offset(d, src, lim->max_input);
	}
	int rc = ref_scan_message(&s, desc, p, p + src->len, 1);
	if (rc)
		return rc;
	if (s.needs_merge || s.needs_strip) {
		struct eds_buf norm = { 0 };
		ref_normalize(desc, p, p + src->len, &norm);
		*out = protobuf_c_message_unpack(desc, eds_arena_pbc(arena), norm.len,
						 (const uint8_t *)norm.data);
		eds_buf_release(&norm);
	} else {
		*out = protobuf_c_message_unpack(desc, eds_arena_pbc(arena), src->len, p);
	}
	if (!*out) {
		eds_diag_setf(d, EDS_E_DECODE, "malformed %s (protobuf-c rejected it)", desc->name);
		return eds_diag_offset(d, src, 0);
	}
	return EDS_OK;
}


/* ---- comparing ---- */

static struct eds_limits lim;
static const struct eds_encode_opts enc_opts;

static uint8_t *pbc_pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(*len + 1);
	protobuf_c_message_pack(m, b);
	return b;
}

static size_t first_difference(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t i = 0;
	while (i < na && i < nb && a[i] == b[i])
		i++;
	return i;
}

/*
 * protobuf-c leaves out a proto3 float or double that holds -0.0 (it tests
 * == 0); protobuf C++, Go and python test the bits and write it, and so does
 * eds_bin_encode.  The reference for such a message is protobuf-c's bytes
 * with each of those fields first set to a marker of the same width, which
 * protobuf-c writes, and the marker then replaced by -0.0's bits where it
 * follows the field's tag.
 */
#define MARK32 0x80A5C35Au
#define MARK64 0x80A5C35A5AC3A580u
struct negzero {
	void *at;
	unsigned width;
	uint32_t id;
};

static size_t mark_negzero(ProtobufCMessage *m, struct negzero *v, size_t n, size_t max)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char *member = (char *)m + f->offset;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			size_t k = f->label == PROTOBUF_C_LABEL_REPEATED ? *(size_t *)((char *)m + f->quantifier_offset) : 1;
			ProtobufCMessage **subs = f->label == PROTOBUF_C_LABEL_REPEATED ? *(ProtobufCMessage ***)member
										    : (ProtobufCMessage **)member;
			if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
				continue;
			for (size_t j = 0; j < k; j++)
				if (subs[j])
					n = mark_negzero(subs[j], v, n, max);
			continue;
		}
		bool f32 = f->type == PROTOBUF_C_TYPE_FLOAT, f64 = f->type == PROTOBUF_C_TYPE_DOUBLE;
		if ((!f32 && !f64) || f->label != PROTOBUF_C_LABEL_NONE || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
		    n == max)
			continue;
		if (f32 ? *(uint32_t *)member != 0x80000000u : *(uint64_t *)member != (uint64_t)1 << 63)
			continue;
		v[n++] = (struct negzero){ member, f32 ? 4 : 8, f->id };
		if (f32)
			*(uint32_t *)member = MARK32;
		else
			*(uint64_t *)member = MARK64;
	}
	return n;
}

/*
 * protobuf-c also leaves out a map entry's key or value that holds its
 * default ("", 0, or no message); protobuf C++ (protoc), Go and python
 * write both fields of every entry, and so does eds_bin_encode.  The
 * reference gives them back to protobuf-c's bytes: entry_fields() copies the
 * bytes p[0..n) of a desc, re-encoding each sub-message the same way, and
 * puts a map entry's missing key first and its missing value after its key
 * (before any unknown fields, which every encoder writes last).
 */
static void default_field(struct eds_buf *b, const ProtobufCFieldDescriptor *f)
{
	static const uint8_t zeros[8];
	unsigned wt = eds_wire_type(f->type);
	ref_put_varint(b, (uint64_t)f->id << 3 | wt);
	eds_buf_append(b, zeros, wt == 1 ? 8 : wt == 5 ? 4 : 1); /* (a varint 0, or length 0) */
}

static void entry_fields(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n, struct eds_buf *out)
{
	const uint8_t *end = p + n;
	bool entry = eds_schema_map_entry(desc), key = !entry, value = !entry;
	while (p < end) {
		const uint8_t *at = p;
		uint64_t tag = 0, v = 0;
		p += ref_get_varint(p, end, &tag);
		/* (protobuf-c writes fields in number order, unknown ones last) */
		if (!key && tag >> 3 != 1)
			default_field(out, &desc->fields[0]);
		key = true;
		if (!value && tag >> 3 > 2)
			default_field(out, &desc->fields[1]);
		value = value || tag >> 3 >= 2;
		unsigned wt = tag & 7;
		if (wt == 0 || wt == 2)
			p += ref_get_varint(p, end, &v);
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
		if (wt == 2 && f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			struct eds_buf sub = { .max = SIZE_MAX };
			entry_fields(f->descriptor, p, v, &sub);
			ref_put_varint(out, tag);
			ref_put_varint(out, sub.len);
			eds_buf_append(out, sub.data, sub.len);
			eds_buf_release(&sub);
			p += v;
			continue;
		}
		p += wt == 1 ? 8 : wt == 5 ? 4 : wt == 2 ? v : 0;
		eds_buf_append(out, at, (size_t)(p - at));
	}
	if (!key)
		default_field(out, &desc->fields[0]);
	if (!value)
		default_field(out, &desc->fields[1]);
}

static uint8_t *ref_pack(const ProtobufCMessage *m, size_t *len)
{
	struct negzero v[64];
	size_t n = mark_negzero((ProtobufCMessage *)m, v, 0, 64);
	uint8_t *b = pbc_pack(m, len);
	for (size_t i = 0; i < n; i++) {
		uint64_t mark = v[i].width == 4 ? MARK32 : MARK64, zero = (uint64_t)1 << (v[i].width * 8 - 1);
		if (v[i].width == 4)
			*(uint32_t *)v[i].at = 0x80000000u;
		else
			*(uint64_t *)v[i].at = zero;
		uint8_t tag[5];
		size_t nt = 0;
		for (uint32_t t = v[i].id << 3 | (v[i].width == 4 ? 5 : 1); ; t >>= 7) {
			tag[nt++] = (uint8_t)(t | (t >= 0x80 ? 0x80 : 0));
			if (t < 0x80)
				break;
		}
		for (size_t k = 0; k + nt + v[i].width <= *len; k++)
			if (memcmp(b + k, tag, nt) == 0 && memcmp(b + k + nt, &mark, v[i].width) == 0)
				memcpy(b + k + nt, &zero, v[i].width);
	}
	struct eds_buf out = { .max = SIZE_MAX };
	entry_fields(m->descriptor, b, *len, &out);
	free(b);
	*len = out.len;
	b = malloc(out.len + 1);
	if (out.len)
		memcpy(b, out.data, out.len);
	eds_buf_release(&out);
	return b;
}

/* eds_bin_encode writes exactly what protobuf_c_message_pack does, as ref_pack amends it. */
static void check_encode(const char *what, const ProtobufCMessage *m)
{
	size_t n;
	uint8_t *want = ref_pack(m, &n);
	struct eds_buf out = { 0 };
	struct eds_diag d = { 0 };
	int rc = eds_bin_encode(m, &enc_opts, &out, &d);
	check(rc == EDS_OK && out.len == n && memcmp(out.data, want, n) == 0,
	      "%s: encoding differs from protobuf-c (rc %d, %zu bytes vs %zu, first difference at byte %zu)",
	      what, rc, out.len, n, rc ? 0 : first_difference((uint8_t *)out.data, out.len, want, n));
	/* appending to a buffer that has bytes already */
	size_t before = out.len;
	if (rc == EDS_OK) {
		rc = eds_bin_encode(m, &enc_opts, &out, &d);
		check(rc == EDS_OK && out.len == before + n && memcmp(out.data + before, want, n) == 0,
		      "%s: second encoding appended to the first differs", what);
		/* again into the first one's storage (a mapping, when it was
		 * written to an empty buffer), now free room */
		out.len = 0;
		rc = eds_bin_encode(m, &enc_opts, &out, &d);
		check(rc == EDS_OK && out.len == n && memcmp(out.data, want, n) == 0,
		      "%s: encoding into the room the first one left differs", what);
	}
	eds_buf_release(&out);
	/* Into a buffer with bytes and room: the encoder writes the room first
	 * (borrow_chunk) when it is at least 4 KiB; the output fits in it, or
	 * its first bytes go to chunks of their own.  The buffer is malloc'd,
	 * or a mapping an earlier output left (as serve's reply buffer after a
	 * smaller reply), which grows by a copy instead of realloc. */
	const size_t rooms[] = { 100, 4096, 5000, n / 2 + 4096, n + 64, 2 * n + 8192 };
	for (size_t i = 0; i < 2 * sizeof rooms / sizeof rooms[0]; i++) {
		size_t room = rooms[i / 2];
		struct eds_buf b = { 0 };
		if (i % 2) {
			void *map = mmap(NULL, 3 + room, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			check(map != MAP_FAILED, "mmap");
			eds_buf_adopt(&b, map, 3 + room, map, 3 + room);
		} else {
			b.cap = 3 + room;
			b.data = malloc(b.cap);
		}
		b.len = 3;
		memcpy(b.data, "abc", 3);
		rc = eds_bin_encode(m, &enc_opts, &b, &d);
		check(rc == EDS_OK && b.len == 3 + n && memcmp(b.data, "abc", 3) == 0 &&
			      memcmp(b.data + 3, want, n) == 0,
		      "%s: encoding after 3 bytes, with room for %zu in a %s buffer, differs (rc %d, %zu bytes "
		      "of %zu, first difference at byte %zu)",
		      what, room, i % 2 ? "mapped" : "malloc'd", rc, b.len, 3 + n,
		      rc ? 0 : first_difference((uint8_t *)b.data + 3, b.len - 3, want, n));
		eds_buf_release(&b);
	}
	free(want);
}

struct outcome {
	int rc;
	struct eds_diag d;
	ProtobufCMessage *m;
	uint8_t *packed;
	size_t len;
};

/* Drop the unknown fields protobuf-c's unpack cannot make (groups, known
 * fields with another wire type: ref_normalize drops them from its input),
 * in m and every message under it. */
static void strip_unrepresentable(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	size_t k = 0;
	for (size_t i = 0; i < m->n_unknown_fields; i++) {
		ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		if ((unsigned)u->wire_type != 3 && !protobuf_c_message_descriptor_get_field(desc, u->tag))
			m->unknown_fields[k++] = *u;
	}
	if (m->n_unknown_fields && !(m->n_unknown_fields = (unsigned)k))
		m->unknown_fields = NULL; /* not a span (codec.h) */
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char *member = (char *)m + f->offset;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)((char *)m + f->quantifier_offset);
			for (size_t j = 0; j < n; j++)
				strip_unrepresentable((*(ProtobufCMessage ***)member)[j]);
		} else if ((!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
			    *(uint32_t *)((char *)m + f->quantifier_offset) == f->id) &&
			   *(ProtobufCMessage **)member) {
			strip_unrepresentable(*(ProtobufCMessage **)member);
		}
	}
}

static void run_decoder(eds_decode_fn *fn, const ProtobufCMessageDescriptor *desc, const uint8_t *data,
			size_t len, struct eds_arena *a, struct outcome *o)
{
	struct eds_src src = { "in", (const char *)data, len };
	memset(o, 0, sizeof *o);
	o->rc = fn(desc, &src, a, &lim, &o->m, &o->d);
	if (o->rc == EDS_OK) {
		strip_unrepresentable(o->m);
		o->packed = ref_pack(o->m, &o->len); /* (a missing map value and an empty one: the same) */
	}
}

static void strip_indices(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (*r == '[' && r[1] >= '0' && r[1] <= '9') {
			while (*r && *r != ']')
				r++;
			if (!*r)
				break;
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
}

enum path_check { PATH_EXACT, PATH_NO_INDICES };

/* Decoding with spans and encoding with them copied (codec.h) gives back
 * the message the plain decoder gives: merged, repeated and unknown fields
 * included. */
static void check_spans(const char *what, const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
			const struct outcome *want)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct outcome s, back;
	struct eds_buf out = { 0 };
	struct eds_diag d = { 0 };
	memset(&back, 0, sizeof back);
	run_decoder(eds_bin_decode_spans, desc, data, len, a, &s);
	int rc = s.rc ? s.rc : eds_bin_encode(s.m, &(struct eds_encode_opts){ .reuse_spans = true }, &out, &d);
	if (rc == EDS_OK)
		run_decoder(eds_bin_decode, desc, (const uint8_t *)out.data, out.len, a, &back);
	check(rc == EDS_OK && back.rc == EDS_OK && back.len == want->len &&
		      memcmp(back.packed, want->packed, want->len) == 0,
	      "%s (%zu bytes): copying spans changes the message (rc %d, %d)", what, len, rc, back.rc);
	free(s.packed);
	free(back.packed);
	eds_buf_release(&out);
	eds_arena_free(a);
}

static int decodes_seen, decodes_failed;

/*
 * The new decoder and the old one agree on data: the same diagnostic, or
 * messages that protobuf-c packs to the same bytes (and then our encoder
 * agrees with protobuf-c on the new decoder's message).  Returns the new
 * outcome's code.
 */
static int check_decode(const char *what, const ProtobufCMessageDescriptor *desc, const uint8_t *data,
			size_t len, enum path_check pc)
{
	struct eds_arena *an = eds_arena_new(1 << 16), *ao = eds_arena_new(1 << 16);
	struct outcome n, o;
	run_decoder(eds_bin_decode, desc, data, len, an, &n);
	run_decoder(ref_decode, desc, data, len, ao, &o);
	decodes_seen++;
	if (n.rc)
		decodes_failed++;
	if (n.rc != o.rc || (n.rc && strcmp(n.d.msg, o.d.msg) != 0)) {
		if (getenv("EDS_DUMP")) {
			for (size_t i = 0; i < len && i < 300; i++)
				fprintf(stderr, "%02x%s", data[i], i + 1 < len ? " " : "\n");
		}
	}
	if (n.rc != o.rc) {
		check(0, "%s (%zu bytes): new decoder returns %d (%s at %u), old %d (%s at %u)", what, len,
		      n.rc, n.rc ? n.d.msg : "ok", n.d.span.start, o.rc, o.rc ? o.d.msg : "ok", o.d.span.start);
	} else if (n.rc) {
		if (pc == PATH_NO_INDICES) {
			strip_indices(n.d.path);
			strip_indices(o.d.path);
		}
		check(strcmp(n.d.msg, o.d.msg) == 0 && n.d.span.start == o.d.span.start &&
			      n.d.loc == o.d.loc && strcmp(n.d.path, o.d.path) == 0,
		      "%s (%zu bytes): diagnostics differ:\n  new: %s at %u (%s)\n  old: %s at %u (%s)", what, len,
		      n.d.msg, n.d.span.start, n.d.path, o.d.msg, o.d.span.start, o.d.path);
	} else {
		check(n.len == o.len && memcmp(n.packed, o.packed, n.len) == 0,
		      "%s (%zu bytes): decoded messages differ (packed: %zu vs %zu bytes, first difference at %zu)",
		      what, len, n.len, o.len, first_difference(n.packed, n.len, o.packed, o.len));
		check_encode(what, n.m);
		check_spans(what, desc, data, len, &n);
	}
	free(n.packed);
	free(o.packed);
	eds_arena_free(an);
	eds_arena_free(ao);
	return n.rc;
}

/* ---- fixtures ---- */

struct blob {
	char *name;
	uint8_t *data;
	size_t len;
};
static struct blob *blobs;
static size_t nblobs;

static void add_blob(const char *name, const uint8_t *data, size_t len)
{
	blobs = realloc(blobs, (nblobs + 1) * sizeof *blobs);
	blobs[nblobs].name = strdup(name);
	blobs[nblobs].data = malloc(len + 1);
	if (len)
		memcpy(blobs[nblobs].data, data, len);
	blobs[nblobs].len = len;
	nblobs++;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 4096, n = 0;
	uint8_t *b = malloc(cap);
	for (size_t k; (k = fread(b + n, 1, cap - n, f)) > 0;) {
		n += k;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	fclose(f);
	*data = b;
	*len = n;
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Every *.binpb under dir, and every file in a directory named "bin" (fuzz regressions). */
static void collect(const char *dir, int all)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		DIR *sub = opendir(path);
		if (sub) {
			closedir(sub);
			collect(path, strcmp(e->d_name, "bin") == 0);
			continue;
		}
		if (!all && !ends_with(e->d_name, ".binpb"))
			continue;
		uint8_t *data;
		size_t len;
		if (read_file(path, &data, &len) == 0) {
			add_blob(path, data, len);
			free(data);
		}
	}
	closedir(d);
}

/* The text corpus, through our text decoder and protobuf-c's pack. */
static void collect_text(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		check(0, "cannot open %s (run from the repository root)", dir);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!ends_with(e->d_name, ".txtpb"))
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		uint8_t *data;
		size_t len;
		if (read_file(path, &data, &len))
			continue;
		struct eds_arena *a = eds_arena_new(1 << 16);
		struct eds_src src = { path, (const char *)data, len };
		struct eds_diag dg = { 0 };
		ProtobufCMessage *m;
		if (eds_text_decode(eds_schema_cla, &src, a, &lim, &m, &dg) == EDS_OK) {
			check_encode(path, m);
			size_t n;
			uint8_t *b = pbc_pack(m, &n);
			add_blob(path, b, n);
			free(b);
		}
		eds_arena_free(a);
		free(data);
	}
	closedir(d);
}

/* ---- mutations ---- */

/* The top-level fields of data, as [start, end) pairs; 0 when malformed. */
static size_t top_fields(const uint8_t *p, size_t len, size_t *starts, size_t max)
{
	size_t n = 0, i = 0;
	while (i < len && n + 1 < max) {
		starts[n++] = i;
		uint64_t tag = 0, v = 0;
		unsigned s = 0;
		do {
			if (i >= len || s > 63)
				return 0;
			tag |= (uint64_t)(p[i] & 0x7F) << s;
			s += 7;
		} while (p[i++] & 0x80);
		switch (tag & 7) {
		case 0:
			while (i < len && (p[i] & 0x80))
				i++;
			i++;
			break;
		case 1: i += 8; break;
		case 5: i += 4; break;
		case 2:
			s = 0;
			do {
				if (i >= len || s > 63)
					return 0;
				v |= (uint64_t)(p[i] & 0x7F) << s;
				s += 7;
			} while (p[i++] & 0x80);
			if (v > len - i)
				return 0;
			i += (size_t)v;
			break;
		default:
			return 0;
		}
		if (i > len)
			return 0;
	}
	starts[n] = len;
	return i == len ? n : 0;
}

/* A random change to in; returns its length in out (room for 2 * len + 64). */
static size_t mutate(const uint8_t *in, size_t len, uint8_t *out, int *dup)
{
	memcpy(out, in, len);
	*dup = 0;
	unsigned kind = rnd(9);
	size_t at = len ? rnd((unsigned)len) : 0;
	switch (kind) {
	case 0:
		if (len)
			out[at] ^= (uint8_t)(1u << rnd(8));
		return len;
	case 1:
		if (len)
			out[at] = (uint8_t)rnd(256);
		return len;
	case 2:
		if (len)
			out[at] = rnd(2) ? 0x80 : 0xFF;
		return len;
	case 3: { /* insert */
		size_t k = 1 + rnd(3);
		memmove(out + at + k, out + at, len - at);
		for (size_t i = 0; i < k; i++)
			out[at + i] = (uint8_t)rnd(256);
		return len + k;
	}
	case 4: { /* delete */
		size_t k = 1 + rnd(4);
		if (at + k > len)
			k = len - at;
		memmove(out + at, out + at + k, len - at - k);
		return len - k;
	}
	case 5:
		return at;
	default: { /* repeat a top-level field somewhere: merges, appends, last-wins */
		static size_t starts[4096];
		size_t n = top_fields(in, len, starts, 4096);
		if (!n)
			return len;
		size_t f = rnd((unsigned)n), fl = starts[f + 1] - starts[f];
		size_t to = starts[rnd((unsigned)n + 1)];
		memmove(out + to + fl, out + to, len - to);
		memcpy(out + to, in + starts[f], fl);
		*dup = 1;
		return len + fl;
	}
	}
}

static void mutations(const struct blob *b, const ProtobufCMessageDescriptor *desc, unsigned count)
{
	uint8_t *buf = malloc(2 * b->len + 64);
	char what[1100];
	for (unsigned i = 0; i < count; i++) {
		int dup;
		size_t n = mutate(b->data, b->len, buf, &dup);
		snprintf(what, sizeof what, "%s, mutation %u", b->name, i);
		check_decode(what, desc, buf, n, dup ? PATH_NO_INDICES : PATH_EXACT);
	}
	free(buf);
}

/* ---- wire data by hand ---- */

struct w {
	uint8_t *b;
	size_t n, cap;
};

static void w_raw(struct w *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		w->cap = (w->n + n) * 2 + 64;
		w->b = realloc(w->b, w->cap);
	}
	if (n)
		memcpy(w->b + w->n, p, n);
	w->n += n;
}

/* A varint, padded with pad redundant bytes (0x80 ... 0x00) when pad > 0. */
static void w_varint_pad(struct w *w, uint64_t v, unsigned pad)
{
	uint8_t t[32];
	size_t n = 0;
	do {
		t[n] = (uint8_t)(v & 0x7F);
		v >>= 7;
		if (v || pad)
			t[n] |= 0x80;
		n++;
	} while (v);
	while (pad--) {
		t[n] = pad ? 0x80 : 0;
		n++;
	}
	w_raw(w, t, n);
}

static void w_varint(struct w *w, uint64_t v)
{
	w_varint_pad(w, v, 0);
}

static void w_tag(struct w *w, uint32_t num, unsigned wt)
{
	w_varint(w, ((uint64_t)num << 3) | wt);
}

static void w_len(struct w *w, uint32_t num, const void *p, size_t n)
{
	w_tag(w, num, 2);
	w_varint(w, n);
	w_raw(w, p, n);
}

static void w_sub(struct w *w, uint32_t num, const struct w *sub)
{
	w_len(w, num, sub->b, sub->n);
}

static void w_free(struct w *w)
{
	free(w->b);
	memset(w, 0, sizeof *w);
}

/* ---- random wire data for edstest.T ---- */

static uint64_t edge_u64(void)
{
	static const uint64_t v[] = { 0, 1, 2, 127, 128, 16383, 16384, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
				      0x100000000ull, 0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull,
				      0xFFFFFFFFFFFFFFFFull, 0xFFFFFFFF80000000ull };
	unsigned k = rnd(sizeof v / sizeof v[0] + 3);
	if (k < sizeof v / sizeof v[0])
		return v[k];
	uint64_t r = rnd64();
	return k % 2 ? r : r >> rnd(64);
}

static void gen_t(struct w *w, int depth);

static void gen_string(struct w *w, int binary)
{
	uint8_t s[40];
	size_t n = rnd(24);
	for (size_t i = 0; i < n; i++)
		s[i] = binary ? (uint8_t)rnd(256) : (uint8_t)(' ' + rnd(95));
	if (!binary && n && rnd(30) == 0) {
		size_t at = rnd((unsigned)n);
		s[at] = rnd(2) ? 0 : (uint8_t)(0x80 + rnd(128)); /* NUL or bad UTF-8 */
	}
	else if (!binary && n > 2 && rnd(20) == 0)
		memcpy(s + rnd((unsigned)n - 1), "\xC3\xA9", 2); /* valid UTF-8 */
	w_varint_pad(w, n, rnd(60) ? 0 : 1 + rnd(5));
	w_raw(w, s, n);
}

static void gen_packed(struct w *w, const ProtobufCFieldDescriptor *f)
{
	struct w p = { 0 };
	unsigned k = rnd(5);
	for (unsigned i = 0; i < k; i++) {
		uint64_t v = edge_u64();
		switch (f->type) {
		case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FLOAT:
			w_raw(&p, &v, 4);
			break;
		case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
			w_raw(&p, &v, 8);
			break;
		case PROTOBUF_C_TYPE_BOOL: {
			uint8_t b = (uint8_t)(rnd(40) ? rnd(2) : 2 + rnd(200));
			w_raw(&p, &b, 1);
			break;
		}
		default:
			w_varint_pad(&p, v, rnd(30) ? 0 : rnd(4));
			break;
		}
	}
	if (rnd(40) == 0) {
		uint8_t junk = 0x80; /* a varint or a fixed value cut short */
		w_raw(&p, &junk, 1);
	}
	w_varint_pad(w, p.n, rnd(60) ? 0 : 1 + rnd(5));
	w_raw(w, p.b, p.n);
	w_free(&p);
}

/* One value of wire type wt for field f (f NULL: an unknown field). */
static void gen_value(struct w *w, const ProtobufCFieldDescriptor *f, unsigned wt, int depth)
{
	uint64_t v = edge_u64();
	switch (wt) {
	case 0:
		w_varint_pad(w, v, rnd(30) ? 0 : rnd(5));
		break;
	case 1:
		w_raw(w, &v, 8);
		break;
	case 5:
		w_raw(w, &v, 4);
		break;
	case 2:
		if (!f || f->type == PROTOBUF_C_TYPE_BYTES) {
			gen_string(w, 1);
		} else if (f->type == PROTOBUF_C_TYPE_STRING) {
			gen_string(w, 0);
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			struct w sub = { 0 };
			if (depth < 4)
				gen_t(&sub, depth + 1);
			w_varint_pad(w, sub.n, rnd(60) ? 0 : 1 + rnd(5));
			w_raw(w, sub.b, sub.n);
			w_free(&sub);
		} else {
			gen_packed(w, f);
		}
		break;
	default: /* groups and the wire types that do not exist: nothing follows */
		break;
	}
}

/*
 * Random fields of edstest.T.  Of the oneof members, one per message: the
 * old decoder merged a oneof message member's occurrences even across
 * another member (o_m, o_s, o_m), where protobuf keeps only the last
 * (checked by test_semantics instead).
 */
static void gen_t(struct w *w, int depth)
{
	static const uint32_t unknown[] = { 32, 33, 39, 99, 1000, 70000, 536870910 };
	static const uint32_t oneofs[] = { 2, 3, 21, 22, 23 };
	uint32_t member = oneofs[rnd(5)];
	unsigned nf = rnd(depth ? 6 : 14);
	for (unsigned i = 0; i < nf; i++) {
		const ProtobufCFieldDescriptor *f = NULL;
		uint32_t num;
		unsigned wt;
		if (rnd(10) == 0) {
			num = rnd(200) ? unknown[rnd(7)] : 0;
			wt = rnd(50) ? (unsigned[]){ 0, 1, 2, 5 }[rnd(4)] : rnd(8);
		} else {
			do
				f = &t_fields[rnd(T_NFIELDS)];
			while ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->id != member);
			num = f->id;
			wt = eds_wire_type(f->type);
			if (f->label == PROTOBUF_C_LABEL_REPEATED && wt != 2 && rnd(3))
				wt = 2; /* packed */
			if (rnd(40) == 0)
				wt = rnd(8);
		}
		w_varint_pad(w, ((uint64_t)num << 3) | wt, rnd(80) ? 0 : 1 + rnd(5));
		gen_value(w, f, wt, depth);
	}
}

/* ---- random edstest.T structs ---- */

static T *new_t(struct eds_arena *a)
{
	T *t = eds_arena_alloc(a, sizeof *t);
	t_init(&t->base);
	return t;
}

static float edge_float(void)
{
	static const float v[] = { 0.0f, -0.0f, 1.5f, -2.0f, 1e-45f, 3.4e38f };
	unsigned k = rnd(9);
	if (k < 6)
		return v[k];
	if (k == 6)
		return NAN;
	if (k == 7)
		return -INFINITY;
	uint32_t bits = (uint32_t)rnd64();
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

static double edge_double(void)
{
	static const double v[] = { 0.0, -0.0, 0.1, -1e300, 5e-324 };
	unsigned k = rnd(8);
	if (k < 5)
		return v[k];
	if (k == 5)
		return NAN;
	if (k == 6)
		return INFINITY;
	uint64_t bits = rnd64();
	double d;
	memcpy(&d, &bits, 8);
	return d;
}

static char *edge_string(struct eds_arena *a, int may_be_null)
{
	switch (rnd(6)) {
	case 0:
		return may_be_null ? NULL : "";
	case 1:
		return "";
	case 2: {
		size_t n = 128 + rnd(300); /* a 2-byte length */
		char *s = eds_arena_alloc(a, n + 1);
		memset(s, 'x', n);
		s[n] = '\0';
		return s;
	}
	default: {
		char *s = eds_arena_alloc(a, 16);
		snprintf(s, 16, "s%u", rnd(100000));
		return s;
	}
	}
}

static ProtobufCBinaryData edge_bytes(struct eds_arena *a)
{
	ProtobufCBinaryData bd = { 0, NULL };
	switch (rnd(3)) {
	case 0:
		break;
	case 1:
		bd.data = (uint8_t *)"unused"; /* len 0 with data: still empty */
		break;
	default:
		bd.len = rnd(200);
		bd.data = eds_arena_alloc(a, bd.len + 1);
		for (size_t i = 0; i < bd.len; i++)
			bd.data[i] = (uint8_t)rnd(256);
	}
	return bd;
}

#define RAND_ARRAY(t, a, name, gen)                                          \
	do {                                                                 \
		t->n_##name = rnd(4);                                        \
		t->name = eds_arena_alloc(a, (t->n_##name + 1) * sizeof *t->name); \
		for (size_t k_ = 0; k_ < t->n_##name; k_++)                  \
			t->name[k_] = gen;                                   \
	} while (0)

static T *rand_t(struct eds_arena *a, int depth)
{
	T *t = new_t(a);
	if (rnd(2)) t->i32 = (int32_t)edge_u64();
	if (rnd(2)) t->i64 = (int64_t)edge_u64();
	if (rnd(2)) t->u32 = (uint32_t)edge_u64();
	if (rnd(2)) t->u64 = edge_u64();
	if (rnd(2)) t->s32 = (int32_t)edge_u64();
	if (rnd(2)) t->s64 = (int64_t)edge_u64();
	if (rnd(2)) t->f32 = (uint32_t)edge_u64();
	if (rnd(2)) t->f64 = edge_u64();
	if (rnd(2)) t->sf32 = (int32_t)edge_u64();
	if (rnd(2)) t->sf64 = (int64_t)edge_u64();
	if (rnd(2)) t->b = (protobuf_c_boolean)rnd(2);
	if (rnd(2)) t->fl = edge_float();
	if (rnd(2)) t->d = edge_double();
	if (rnd(2)) t->s = edge_string(a, 1);
	if (rnd(2)) t->by = edge_bytes(a);
	if (rnd(2)) t->e = rnd(2) ? -1 : (int)rnd(5);
	if (rnd(2)) t->mid = (int32_t)edge_u64();
	if (rnd(2)) t->high = (int32_t)edge_u64();
	if (depth < 3 && rnd(3) == 0) t->child = rand_t(a, depth + 1);
	if (depth < 3 && rnd(4) == 0) t->opt_m = rand_t(a, depth + 1);
	switch (rnd(8)) {
	case 0: t->o_case = 2; t->o.o_m = depth < 3 && rnd(4) ? rand_t(a, depth + 1) : NULL; break;
	case 1: t->o_case = 3; t->o.o_m2 = depth < 3 ? rand_t(a, depth + 1) : new_t(a); break;
	case 2: t->o_case = 21; t->o.o_s = edge_string(a, 1); break;
	case 3: t->o_case = 22; t->o.o_u = (uint32_t)edge_u64(); break;
	case 4: t->o_case = 23; t->o.o_by = edge_bytes(a); break;
	case 5: t->o_case = 99; break; /* names no member */
	default: break;
	}
	if (rnd(2)) { t->has_opt_i32 = (protobuf_c_boolean)rnd(2); t->opt_i32 = (int32_t)edge_u64(); }
	if (rnd(2)) t->opt_s = rnd(3) ? edge_string(a, 1) : strcpy(eds_arena_alloc(a, 8), "dflt");
	if (rnd(2)) { t->has_opt_by = (protobuf_c_boolean)rnd(2); t->opt_by = edge_bytes(a); }
	if (rnd(2)) t->req = (int32_t)edge_u64();
	if (rnd(2)) { t->has_opt_d = (protobuf_c_boolean)rnd(2); t->opt_d = edge_double(); }
	if (depth < 3 && rnd(3) == 0)
		RAND_ARRAY(t, a, r_child, rand_t(a, depth + 1));
	if (rnd(3) == 0) RAND_ARRAY(t, a, r_s, edge_string(a, 0));
	if (rnd(3) == 0) RAND_ARRAY(t, a, r_by, edge_bytes(a));
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_i32, (int32_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_i64, (int64_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_u32, (uint32_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_u64, edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_s32, (int32_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_s64, (int64_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_f32, (uint32_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_f64, edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_sf32, (int32_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_sf64, (int64_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_b, (protobuf_c_boolean)rnd(2));
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_fl, edge_float());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_d, edge_double());
	if (rnd(3) == 0) RAND_ARRAY(t, a, p_e, rnd(2) ? -1 : (int)rnd(70000));
	if (rnd(3) == 0) RAND_ARRAY(t, a, u_i32, (int32_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, u_s64, (int64_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, u_f32, (uint32_t)edge_u64());
	if (rnd(3) == 0) RAND_ARRAY(t, a, u_b, (protobuf_c_boolean)rnd(2));
	if (rnd(3) == 0) RAND_ARRAY(t, a, u_d, edge_double());
	if (rnd(3) == 0) RAND_ARRAY(t, a, u_e, rnd(2) ? -5 : (int)rnd(3));
	if (rnd(5) == 0) {
		/* unknown fields as protobuf-c keeps them: the bytes after the tag */
		static const uint32_t tags[] = { 32, 99, 1000, 536870911 };
		size_t n = 1 + rnd(3);
		t->base.unknown_fields = eds_arena_alloc(a, n * sizeof *t->base.unknown_fields);
		t->base.n_unknown_fields = n;
		for (size_t i = 0; i < n; i++) {
			ProtobufCMessageUnknownField *u = &t->base.unknown_fields[i];
			struct w p = { 0 };
			u->tag = tags[rnd(4)];
			u->wire_type = (ProtobufCWireType)(unsigned[]){ 0, 1, 2, 5 }[rnd(4)];
			uint64_t v = edge_u64();
			if (u->wire_type == 0)
				w_varint(&p, v);
			else if (u->wire_type == 1)
				w_raw(&p, &v, 8);
			else if (u->wire_type == 5)
				w_raw(&p, &v, 4);
			else
				gen_string(&p, 1);
			u->len = p.n;
			u->data = eds_arena_alloc(a, p.n);
			memcpy(u->data, p.b, p.n);
			w_free(&p);
		}
	}
	return t;
}

/* ---- protobuf's rules for repeats, relationally ---- */

/* decode(wire) packs like want (both through protobuf-c's pack). */
static void check_decodes_to(const char *what, const struct w *wire, const T *want)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct eds_src src = { what, (const char *)wire->b, wire->n };
	struct eds_diag d = { 0 };
	ProtobufCMessage *m = NULL;
	int rc = eds_bin_decode(&t_desc, &src, a, &lim, &m, &d);
	check(rc == EDS_OK, "%s: decode failed: %s", what, d.msg);
	if (rc == EDS_OK) {
		size_t ng, nw;
		uint8_t *got = pbc_pack(m, &ng), *exp = pbc_pack(&want->base, &nw);
		check(ng == nw && memcmp(got, exp, ng) == 0, "%s: decoded message differs from the expected one",
		      what);
		check_encode(what, m);
		free(got);
		free(exp);
	}
	eds_arena_free(a);
}

/* in, nested `levels` deep below the top message, decodes with --max-depth
 * levels and is refused (exit 9) with one less. */
static void check_depth_limit(const char *what, const struct w *in, unsigned levels)
{
	struct eds_limits keep = lim;
	char name[64];
	lim.max_depth = levels - 1;
	snprintf(name, sizeof name, "%s %u deep, --max-depth %u", what, levels, levels - 1);
	check(check_decode(name, &t_desc, in->b, in->n, PATH_EXACT) == EDS_E_LIMIT,
	      "%s nested deeper than --max-depth are accepted", what);
	lim.max_depth = levels;
	snprintf(name, sizeof name, "%s %u deep, --max-depth %u", what, levels, levels);
	check(check_decode(name, &t_desc, in->b, in->n, PATH_EXACT) == EDS_OK,
	      "%s nested at --max-depth are refused", what);
	lim = keep;
}

/*
 * eds_wire_next, the scanner serve and the container walker share: each
 * case is a message's bytes, the fields it must find (number, wire type,
 * value and whole-field lengths) and, when it must fail, at which byte.
 */
static void test_wire_next(void)
{
	static const struct {
		const char *what, *bytes;
		size_t n;
		unsigned depth;
		int nfields;                  /* fields found before the end or the fault */
		unsigned num[3], wt[3];
		size_t vlen[3], len[3];
		long fault;                   /* -1: none */
	} cases[] = {
		{ "a varint, a string, a 64-bit value", "\x08\x96\x01\x12\x02hi\x19\1\2\3\4\5\6\7\x08", 16, 9, 3,
		  { 1, 2, 3 }, { 0, 2, 1 }, { 2, 2, 8 }, { 3, 4, 9 }, -1 },
		{ "a group with a group in it, then a field", "\x0b\x08\x01\x13\x1a\x00\x14\x0c\x20\x05", 10, 9, 2,
		  { 1, 4 }, { 3, 0 }, { 6, 1 }, { 8, 2 }, -1 },
		{ "a group not closed", "\x08\x01\x0b\x08\x01", 5, 9, 1, { 1 }, { 0 }, { 1 }, { 2 }, 2 },
		{ "an end tag outside any group", "\x08\x01\x0c", 3, 9, 1, { 1 }, { 0 }, { 1 }, { 2 }, 2 },
		{ "an end tag that closes another group", "\x0b\x14\x0c", 3, 9, 0, { 0 }, { 0 }, { 0 }, { 0 }, 1 },
		{ "groups nested 3 deep, 2 allowed", "\x0b\x13\x1b\x1c\x14\x0c", 6, 2, 0, { 0 }, { 0 }, { 0 }, { 0 }, 2 },
		{ "groups nested 3 deep, 3 allowed", "\x0b\x13\x1b\x1c\x14\x0c", 6, 3, 1, { 1 }, { 3 }, { 4 }, { 6 }, -1 },
		{ "a tag of 6 bytes", "\x88\x80\x80\x80\x80\x00\x01", 7, 9, 0, { 0 }, { 0 }, { 0 }, { 0 }, 0 },
		{ "a length of 6 bytes", "\x0a\x81\x80\x80\x80\x80\x00x", 8, 9, 0, { 0 }, { 0 }, { 0 }, { 0 }, 1 },
		{ "a length past the end", "\x08\x01\x12\x05hi", 6, 9, 1, { 1 }, { 0 }, { 1 }, { 2 }, 2 },
		{ "a truncated 32-bit value", "\x0d\x01\x02", 3, 9, 0, { 0 }, { 0 }, { 0 }, { 0 }, 1 },
		{ "wire type 6", "\x0e\x01", 2, 9, 0, { 0 }, { 0 }, { 0 }, { 0 }, 0 },
		{ "field number 0", "\x00\x01", 2, 9, 0, { 0 }, { 0 }, { 0 }, { 0 }, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const uint8_t *p = (const uint8_t *)cases[i].bytes;
		size_t off = 0;
		struct eds_wire_field f;
		const char *why = NULL;
		int k, nf = 0;
		while ((k = eds_wire_next(p, cases[i].n, &off, &f, cases[i].depth, &why)) > 0) {
			if (nf < 3)
				check(f.num == cases[i].num[nf] && f.wt == cases[i].wt[nf] &&
					      f.vend - f.vstart == cases[i].vlen[nf] && f.end - f.start == cases[i].len[nf] &&
					      f.end == off,
				      "eds_wire_next, %s: field %d is %u/%u, value %zu, field %zu bytes", cases[i].what,
				      nf, f.num, f.wt, f.vend - f.vstart, f.end - f.start);
			nf++;
		}
		check(nf == cases[i].nfields, "eds_wire_next, %s: %d fields, not %d", cases[i].what, nf,
		      cases[i].nfields);
		if (cases[i].fault < 0)
			check(k == 0 && off == cases[i].n, "eds_wire_next, %s: stops at byte %zu (%s)", cases[i].what,
			      off, k ? why : "the end");
		else
			check(k < 0 && why && off == (size_t)cases[i].fault,
			      "eds_wire_next, %s: %s at byte %zu, not a fault at byte %ld", cases[i].what,
			      k < 0 ? why : "no fault", off, cases[i].fault);
	}
}

static void test_semantics(void)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct w x = { 0 }, y = { 0 }, z = { 0 }, all = { 0 };

	/* a singular message seen twice is merged, recursively */
	w_tag(&x, 5, 0), w_varint(&x, 1);           /* i32 = 1 */
	w_len(&x, 18, "a", 1);                      /* s = "a" */
	w_len(&x, 30, "x", 1);                      /* r_s += "x" */
	w_tag(&z, 15, 0), w_varint(&z, 1);          /* b = true */
	w_sub(&y, 1, &z);                           /* child { b } */
	w_tag(&y, 7, 0), w_varint(&y, 2);           /* u32 = 2 */
	w_len(&y, 30, "y", 1);
	w_sub(&all, 1, &x);
	w_sub(&all, 1, &y);
	T *want = new_t(a), *c = new_t(a);
	want->child = c;
	c->i32 = 1, c->s = "a", c->u32 = 2;
	c->n_r_s = 2, c->r_s = (char *[]){ "x", "y" };
	c->child = new_t(a), c->child->b = 1;
	check_decodes_to("merge", &all, want);
	check_decode("merge (old decoder)", &t_desc, all.b, all.n, PATH_EXACT);

	/* a oneof member replaces another; the same member again is merged */
	w_free(&all);
	w_sub(&all, 2, &x);                         /* o_m { i32 s r_s } */
	w_len(&all, 21, "z", 1);                    /* o_s = "z" */
	w_sub(&all, 2, &y);                         /* o_m { child u32 r_s } */
	want = new_t(a);
	want->o_case = 2;
	want->o.o_m = new_t(a);
	want->o.o_m->child = new_t(a), want->o.o_m->child->b = 1;
	want->o.o_m->u32 = 2, want->o.o_m->n_r_s = 1, want->o.o_m->r_s = (char *[]){ "y" };
	check_decodes_to("oneof replaced", &all, want);
	w_free(&all);
	w_sub(&all, 2, &x);
	w_sub(&all, 2, &y);
	want->o.o_m->i32 = 1, want->o.o_m->s = "a";
	want->o.o_m->n_r_s = 2, want->o.o_m->r_s = (char *[]){ "x", "y" };
	check_decodes_to("oneof merged", &all, want);
	w_free(&all);
	w_tag(&all, 22, 0), w_varint(&all, 5);      /* o_u = 5 */
	w_sub(&all, 3, &z);                         /* o_m2 { b } */
	want = new_t(a);
	want->o_case = 3, want->o.o_m2 = new_t(a), want->o.o_m2->b = 1;
	check_decodes_to("oneof scalar then message", &all, want);
	w_free(&all);
	w_sub(&all, 3, &z);
	w_len(&all, 23, "", 0);                     /* o_by = "" */
	want = new_t(a);
	want->o_case = 23, want->o.o_by.data = (uint8_t *)"";
	check_decodes_to("oneof message then empty bytes", &all, want);

	/* the last scalar wins */
	w_free(&all);
	w_tag(&all, 5, 0), w_varint(&all, 1);
	w_len(&all, 18, "a", 1);
	w_tag(&all, 16, 5), w_raw(&all, "\0\0\x80\x3f", 4); /* fl = 1.0 */
	w_tag(&all, 5, 0), w_varint_pad(&all, 2, 3);
	w_len(&all, 18, "bc", 2);
	w_tag(&all, 16, 5), w_raw(&all, "\0\0\0\x80", 4);   /* fl = -0.0 */
	w_tag(&all, 20, 0), w_varint(&all, 12345);          /* e: not a value of the enum */
	w_tag(&all, 24, 0), w_varint(&all, 0);              /* opt_i32 = 0, present */
	want = new_t(a);
	want->i32 = 2, want->s = "bc", want->fl = -0.0f, want->e = 12345;
	want->has_opt_i32 = 1, want->opt_i32 = 0;
	check_decodes_to("last wins", &all, want);

	/* packed and unpacked occurrences of a repeated scalar append */
	w_free(&all);
	w_len(&all, 40, "\x01\x02", 2);                     /* p_i32 packed [1, 2] */
	w_tag(&all, 40, 0), w_varint(&all, 3);              /* p_i32 3 */
	w_len(&all, 40, "\x04", 1);
	w_tag(&all, 60, 0), w_varint(&all, 7);              /* u_i32 7 */
	w_len(&all, 60, "\x08\x09", 2);
	w_len(&all, 50, "\x01\x00\x01", 3);                 /* p_b */
	want = new_t(a);
	want->n_p_i32 = 4, want->p_i32 = (int32_t[]){ 1, 2, 3, 4 };
	want->n_u_i32 = 3, want->u_i32 = (int32_t[]){ 7, 8, 9 };
	want->n_p_b = 3, want->p_b = (protobuf_c_boolean[]){ 1, 0, 1 };
	check_decodes_to("packed and unpacked", &all, want);
	/* A bool whose only bits are past the 64th is false, packed or not, as
	 * protoc and python read it (protobuf-c's unpack has it true when packed). */
	w_len(&all, 50, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 10);
	w_tag(&all, 15, 0), w_raw(&all, "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02", 10);
	want->n_p_b = 4, want->p_b = (protobuf_c_boolean[]){ 1, 0, 1, 0 };
	want->b = 0;
	check_decodes_to("bools with bits past the 64th", &all, want);

	/* unknown fields are kept (written back last, in their order) */
	w_free(&all);
	w_tag(&all, 99, 0), w_varint(&all, 300);
	w_tag(&all, 5, 0), w_varint(&all, 1);
	w_len(&all, 1000, "xy", 2);
	w_tag(&all, 32, 1), w_raw(&all, "12345678", 8);
	w_tag(&all, 536870910, 5), w_raw(&all, "1234", 4);
	check_decode("unknown fields", &t_desc, all.b, all.n, PATH_EXACT);
	{
		struct eds_src src = { "unknown", (const char *)all.b, all.n };
		struct eds_diag d = { 0 };
		ProtobufCMessage *m = NULL;
		int rc = eds_bin_decode(&t_desc, &src, a, &lim, &m, &d);
		check(rc == EDS_OK && m->n_unknown_fields == 4 && m->unknown_fields[0].tag == 99 &&
			      m->unknown_fields[0].wire_type == 0 && m->unknown_fields[0].len == 2 &&
			      m->unknown_fields[1].tag == 1000 && m->unknown_fields[1].len == 3 &&
			      memcmp(m->unknown_fields[1].data, "\x02xy", 3) == 0 &&
			      m->unknown_fields[3].tag == 536870910 && m->unknown_fields[3].wire_type == 5,
		      "unknown fields are not kept as protobuf-c keeps them");
		if (rc == EDS_OK)
			check(strcmp(((T *)m)->s, "") == 0 && ((T *)m)->s == protobuf_c_empty_string &&
				      ((T *)m)->opt_s == t_opt_s_default && ((T *)m)->req == 5,
			      "absent fields do not keep their defaults");
	}

	/* strings are NUL-terminated copies */
	w_free(&all);
	w_len(&all, 18, "hello", 5);
	w_len(&all, 30, "", 0);
	{
		struct eds_src src = { "strings", (const char *)all.b, all.n };
		struct eds_diag d = { 0 };
		ProtobufCMessage *m = NULL;
		int rc = eds_bin_decode(&t_desc, &src, a, &lim, &m, &d);
		T *t = (T *)m;
		check(rc == EDS_OK && strcmp(t->s, "hello") == 0 && t->n_r_s == 1 && t->r_s[0][0] == '\0' &&
			      (const char *)t->s != (const char *)all.b + 2,
		      "strings are not NUL-terminated copies");
	}

	/* tags and lengths over 5 bytes: refused, as protoc and python refuse them */
	w_free(&all);
	w_varint_pad(&all, (5 << 3) | 0, 5), w_varint(&all, 1);
	check(check_decode("6-byte tag", &t_desc, all.b, all.n, PATH_EXACT) == EDS_E_DECODE,
	      "a 6-byte tag is accepted");
	w_free(&all);
	w_varint_pad(&all, (5 << 3) | 0, 4), w_varint(&all, 1);
	check(check_decode("5-byte tag", &t_desc, all.b, all.n, PATH_EXACT) == EDS_OK,
	      "a 5-byte tag is rejected");
	w_free(&all);
	w_tag(&all, 18, 2), w_varint_pad(&all, 1, 5), w_raw(&all, "a", 1);
	w_tag(&all, 18, 2), w_varint(&all, 0xC3), w_raw(&all, "a", 1); /* the first problem wins */
	check(check_decode("6-byte length", &t_desc, all.b, all.n, PATH_EXACT) == EDS_E_DECODE,
	      "a 6-byte length is accepted");

	/* nesting deeper than the limit */
	w_free(&all);
	struct w nest = { 0 };
	w_tag(&nest, 5, 0), w_varint(&nest, 1);
	for (int i = 0; i < 6; i++) {
		struct w up = { 0 };
		w_sub(&up, i % 2 ? 1 : 29, &nest);
		w_free(&nest);
		nest = up;
	}
	/* six levels below the top message: protobuf's count, --max-depth's */
	check_depth_limit("messages", &nest, 6);

	w_free(&nest);

	/* Groups, and a known field with another wire type, are unknown fields
	 * to protobuf C++ (protoc, python, Envoy): kept, written back after the
	 * known fields in the order they came. */
	struct w g = { 0 }, body = { 0 };
	w_tag(&g, 1, 0), w_varint(&g, 1);
	w_tag(&g, 2, 3), w_len(&g, 3, "x", 1), w_tag(&g, 2, 4); /* a group in the group */
	w_tag(&g, 900, 4);
	w_tag(&body, 18, 0), w_varint(&body, 7);                /* s (a string) as a varint */
	w_tag(&body, 5, 0), w_varint(&body, 1);                 /* i32 = 1 */
	w_tag(&body, 900, 3), w_raw(&body, g.b, g.n);
	w_tag(&body, 7, 5), w_raw(&body, "\1\0\0\0", 4);       /* u32 as a fixed32 */
	want = new_t(a);
	want->i32 = 1;
	ProtobufCMessageUnknownField uf[3] = {
		{ 18, PROTOBUF_C_WIRE_TYPE_VARINT, 1, (uint8_t *)"\7" },
		{ 900, (ProtobufCWireType)3, g.n, g.b },
		{ 7, PROTOBUF_C_WIRE_TYPE_32BIT, 4, (uint8_t *)"\1\0\0\0" },
	};
	want->base.n_unknown_fields = 3;
	want->base.unknown_fields = uf;
	check_decodes_to("unknown group and wire types", &body, want);
	check(check_decode("unknown group and wire types (old decoder)", &t_desc, body.b, body.n, PATH_EXACT) ==
		      EDS_OK, "an unknown group is refused");

	static const struct {
		const char *what, *msg;
		size_t len, at; /* the input is body's first len bytes, then tail */
		const char *tail;
		size_t ntail;
	} bad[] = {
		/* body: s 0-2, i32 3-4, group 900's tag 5-6, its field 1 7-8, group 2 9-13 */
		{ "unclosed group", "unknown group 900 is not closed (truncated input?)", 9, 5, "", 0 },
		{ "unclosed inner group", "unknown group 2 is not closed (truncated input?)", 10, 9, "", 0 },
		{ "end tag of another group", "end-group tag of field 9 closes group 900", 9, 9, "\x4c", 1 },
		{ "end tag alone", "end-group tag of field 9 outside a group", 5, 5, "\x4c", 1 },
		{ "truncated field in a group", "truncated 32-bit value in unknown group 900", 9, 10, "\x0d\1", 2 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct w in = { 0 };
		w_raw(&in, body.b, bad[i].len);
		w_raw(&in, bad[i].tail, bad[i].ntail);
		struct eds_src src = { bad[i].what, (const char *)in.b, in.n };
		struct eds_diag d = { 0 };
		ProtobufCMessage *m;
		int rc = eds_bin_decode(&t_desc, &src, a, &lim, &m, &d);
		check(rc == EDS_E_DECODE && strcmp(d.msg, bad[i].msg) == 0 && d.span.start == bad[i].at,
		      "%s: got %d \"%s\" at %zu", bad[i].what, rc, d.msg, (size_t)d.span.start);
		check_decode(bad[i].what, &t_desc, in.b, in.n, PATH_EXACT);
		w_free(&in);
	}
	/* groups count towards --max-depth as messages do */
	for (int i = 0; i < 7; i++)
		w_tag(&nest, 900, 3);
	for (int i = 0; i < 7; i++)
		w_tag(&nest, 900, 4);
	check_depth_limit("groups", &nest, 7);

	w_free(&nest), w_free(&g), w_free(&body);
	w_free(&x), w_free(&y), w_free(&z), w_free(&all);
	eds_arena_free(a);
}

/* ---- edge values through the well-known types of the schema ---- */

static void test_wkt(void)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	Google__Protobuf__DoubleValue dv = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT;
	Google__Protobuf__FloatValue fv = GOOGLE__PROTOBUF__FLOAT_VALUE__INIT;
	Google__Protobuf__Int64Value i64 = GOOGLE__PROTOBUF__INT64_VALUE__INIT;
	Google__Protobuf__UInt64Value u64 = GOOGLE__PROTOBUF__UINT64_VALUE__INIT;
	Google__Protobuf__Int32Value i32 = GOOGLE__PROTOBUF__INT32_VALUE__INIT;
	Google__Protobuf__UInt32Value u32 = GOOGLE__PROTOBUF__UINT32_VALUE__INIT;
	Google__Protobuf__BoolValue bv = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
	Google__Protobuf__StringValue sv = GOOGLE__PROTOBUF__STRING_VALUE__INIT;
	Google__Protobuf__BytesValue byv = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;
	Google__Protobuf__Duration dur = GOOGLE__PROTOBUF__DURATION__INIT;
	Google__Protobuf__Value val = GOOGLE__PROTOBUF__VALUE__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	char what[64];

	for (int i = 0; i < 200; i++) {
		dv.value = edge_double();
		fv.value = edge_float();
		i64.value = (int64_t)edge_u64();
		u64.value = edge_u64();
		i32.value = (int32_t)edge_u64();
		u32.value = (uint32_t)edge_u64();
		bv.value = (protobuf_c_boolean)rnd(2);
		sv.value = edge_string(a, 1);
		byv.value = edge_bytes(a);
		dur.seconds = (int64_t)edge_u64();
		dur.nanos = (int32_t)edge_u64();
		any.type_url = edge_string(a, 1);
		any.value = edge_bytes(a);
		switch (rnd(4)) {
		case 0:
			val.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
			val.number_value = edge_double(); /* in a oneof: even -0.0 is written */
			break;
		case 1:
			val.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
			val.null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
			break;
		case 2:
			val.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
			val.string_value = edge_string(a, 1);
			break;
		default:
			val.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
			val.bool_value = (protobuf_c_boolean)rnd(2);
		}
		const ProtobufCMessage *all[] = { &dv.base, &fv.base, &i64.base, &u64.base, &i32.base, &u32.base,
						  &bv.base, &sv.base, &byv.base, &dur.base, &val.base, &any.base };
		for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
			snprintf(what, sizeof what, "%s #%d", all[k]->descriptor->name, i);
			check_encode(what, all[k]);
		}
	}
	eds_arena_free(a);
}

/* ---- the encoder on CLAs protobuf-c decoded itself ---- */

static void test_fixture_encoding(void)
{
	for (size_t i = 0; i < nblobs; i++) {
		ProtobufCMessage *m = protobuf_c_message_unpack(eds_schema_cla, NULL, blobs[i].len, blobs[i].data);
		if (!m)
			continue;
		check_encode(blobs[i].name, m);
		protobuf_c_message_free_unpacked(m, NULL);
	}
}

int main(void)
{
	const char *seed = getenv("EDS_SEED");
	if (seed)
		rng_state = strtoull(seed, NULL, 0) | 1;
	t_setup();
	lim = eds_limits_default;

	collect_text("testdata/corpus");
	collect("testdata", 0);
	if (nblobs < 10)
		check(0, "only %zu fixtures found (run from the repository root)", nblobs);
	size_t nfixtures = nblobs;
	static const char *const bench[] = { ".cache/bench/cla-10.binpb", ".cache/bench/cla-1000.binpb",
					     ".cache/bench/cla-10000.binpb", ".cache/bench/cla-100000.binpb" };
	for (size_t i = 0; i < sizeof bench / sizeof bench[0]; i++) {
		uint8_t *data;
		size_t len;
		if (read_file(bench[i], &data, &len) == 0) {
			add_blob(bench[i], data, len);
			free(data);
		}
	}

	test_fixture_encoding();
	test_wkt();
	test_wire_next();

	for (int i = 0; i < 3000 / SCALE; i++) {
		struct eds_arena *a = eds_arena_new(1 << 16);
		char what[64];
		snprintf(what, sizeof what, "random edstest.T #%d", i);
		T *t = rand_t(a, 0);
		check_encode(what, &t->base);
		size_t n;
		uint8_t *b = pbc_pack(&t->base, &n);
		check_decode(what, &t_desc, b, n, PATH_EXACT);
		free(b);
		eds_arena_free(a);
	}

	test_semantics();

	for (size_t i = 0; i < nblobs; i++)
		check_decode(blobs[i].name, eds_schema_cla, blobs[i].data, blobs[i].len, PATH_EXACT);
	/* two CLAs one after the other are one CLA: their fields merged */
	for (size_t i = 0; i < nfixtures; i++) {
		for (size_t j = 0; j < nfixtures; j += 1 + rnd(3)) {
			uint8_t *cat = malloc(blobs[i].len + blobs[j].len + 1);
			memcpy(cat, blobs[i].data, blobs[i].len);
			memcpy(cat + blobs[i].len, blobs[j].data, blobs[j].len);
			char what[2200];
			snprintf(what, sizeof what, "%s + %s", blobs[i].name, blobs[j].name);
			check_decode(what, eds_schema_cla, cat, blobs[i].len + blobs[j].len, PATH_NO_INDICES);
			free(cat);
		}
	}
	for (size_t i = 0; i < nblobs; i++) {
		if (blobs[i].len > 1000000)
			continue;
		mutations(&blobs[i], eds_schema_cla, (blobs[i].len > 100000 ? 30 : 400) / SCALE);
	}
	for (int i = 0; i < 20000 / SCALE; i++) {
		struct w wire = { 0 };
		gen_t(&wire, 0);
		size_t n = wire.n;
		if (n && rnd(30) == 0)
			n = rnd((unsigned)n);
		char what[64];
		snprintf(what, sizeof what, "random edstest.T wire #%d", i);
		/* the old decoder's path indices were 0 for fields past the 32nd */
		check_decode(what, &t_desc, wire.b, n, PATH_NO_INDICES);
		w_free(&wire);
	}
	printf("%zu fixtures, %d decodes compared (%d rejected)\n", nblobs, decodes_seen, decodes_failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
