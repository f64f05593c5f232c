/*
 * Binary protobuf, driven by protobuf-c's descriptors but without its
 * unpack and pack: protobuf-c gives no reason when input is malformed,
 * recurses without a depth limit, loses scalars when it merges a repeated
 * singular message field, and walks every message twice to pack it.
 *
 * Decoding is one pass over the wire data that validates as it builds the
 * protobuf-c structs in the arena: the first problem is reported with its
 * byte offset and field path (truncation, bad varint, a tag or length over
 * 5 bytes, a broken packed run or group, invalid UTF-8 or NUL in a string,
 * nesting too deep).  Repeats follow protobuf: a singular message field seen
 * again is merged into the message already there, the last value of a
 * singular scalar wins, a oneof member replaces another, repeated fields
 * append (packed or not).  Unknown fields (groups, and known fields sent with
 * another wire type, included) are kept as protobuf-c keeps them, so that
 * encoding writes them back.
 *
 * Encoding is one pass that writes backwards (as upb does), so that each
 * sub-message's length is known when its tag is written and no size is
 * computed ahead.  The bytes are those of protobuf_c_message_pack
 * (field-number order, unknown fields last, protobuf-c's idea of which
 * proto3 fields are set) but for a proto3 float or double holding -0.0,
 * which protobuf-c leaves out and protoc, Go and python write.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec.h"
#include "envoy/config/core/v3/base.pb-c.h"
#include "schema.h"

static const char *wire_names[] = { "varint", "64-bit", "length-delimited", "start-group",
				     "end-group", "32-bit", "6", "7" };

/* Reads a varint at p (< end); returns bytes used, 0 if bad or truncated. */
static inline size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	if (p < end && p[0] < 0x80) {
		*v = p[0];
		return 1;
	}
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

/* Whether wire type wt is field f's.  Another one makes an unknown field to
 * protoc, python and Envoy alike; packed and unpacked repeated scalars are
 * the same field. */
static inline bool wire_fits(const ProtobufCFieldDescriptor *f, unsigned wt)
{
	unsigned want = eds_wire_type(f->type);
	return wt == want || (f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && wt == 2);
}

/* Size of one element of a repeated field's array (protobuf-c's layout). */
static size_t elt_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 4;
	}
}

/* ---- decoding ---- */

/*
 * Small allocations are carved from arena chunks of up to 64 KiB (the first
 * ones sized by the input): messages and arrays 8-byte aligned, string
 * bytes unaligned (the arena rounds each allocation up to 8 bytes).
 */
#define CHUNK ((size_t)64 << 10)

struct pool {
	char *cur, *end;
};

struct dec {
	const uint8_t *base;
	const struct eds_src *src;
	const struct eds_limits *lim;
	struct eds_diag *d;
	struct eds_arena *arena;
	struct pool words, bytes;
	size_t chunk; /* the next refill: small for a small input, doubling to CHUNK */
	bool spans; /* note where sub-messages are (eds_bin_decode_spans) */
	struct ahead *ahead; /* a large CLA's second half, decoded on another thread */
	/* On failure, the fields it is in, innermost first (the last EDS_PATH_MAX). */
	struct eds_path_frame frames[EDS_PATH_MAX];
	unsigned nframes;
};

static void *pool_refill(struct dec *x, struct pool *p, size_t n)
{
	if (n > CHUNK / 16)
		return eds_arena_alloc(x->arena, n);
	size_t size = x->chunk;
	while (size < n)
		size *= 2;
	if (x->chunk < CHUNK)
		x->chunk *= 2;
	p->cur = eds_arena_alloc(x->arena, size);
	p->end = p->cur + size;
	void *r = p->cur;
	p->cur += n;
	return r;
}

static inline void *pool_take(struct dec *x, struct pool *p, size_t n)
{
	if ((size_t)(p->end - p->cur) < n)
		return pool_refill(x, p, n);
	void *r = p->cur;
	p->cur += n;
	return r;
}

static inline void *take_words(struct dec *x, size_t n)
{
	return pool_take(x, &x->words, (n + 7) & ~(size_t)7);
}

__attribute__((format(printf, 4, 5)))
static int fail(struct dec *x, enum eds_code code, const uint8_t *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->d->msg, sizeof x->d->msg, fmt, ap);
	va_end(ap);
	x->d->code = code;
	eds_diag_offset(x->d, x->src, (size_t)(at - x->base));
	return code;
}

static void add_frame(struct dec *x, const ProtobufCFieldDescriptor *f, int64_t index)
{
	struct eds_path_frame *fr = &x->frames[x->nframes % EDS_PATH_MAX];
	fr->name = f->name;
	fr->index = index;
	fr->key = NULL;
	fr->key_len = 0;
	x->nframes++;
}

/* The path of the failure, outermost first, as a top-down walk would have built it. */
static void set_path(struct dec *x)
{
	struct eds_path path;
	path.n = 0;
	unsigned keep = x->nframes < EDS_PATH_MAX ? x->nframes : EDS_PATH_MAX;
	for (unsigned k = 0; k < keep; k++) {
		const struct eds_path_frame *fr = &x->frames[(x->nframes - 1 - k) % EDS_PATH_MAX];
		eds_path_push(&path, fr->name, fr->index);
	}
	path.n = x->nframes;
	eds_diag_path(x->d, &path);
}

static void init_generic(const ProtobufCMessageDescriptor *desc, ProtobufCMessage *m)
{
	memset(m, 0, desc->sizeof_message);
	m->descriptor = desc;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		if (!f->default_value || f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		void *member = (char *)m + f->offset;
		if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
			*(const void **)member = f->default_value;
		else
			memcpy(member, f->default_value, elt_size(f->type));
	}
}

static ProtobufCMessage *new_message(struct dec *x, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = take_words(x, desc->sizeof_message);
	if (desc->message_init)
		desc->message_init(m);
	else
		init_generic(desc, m);
	return m;
}

/* Arrays grow to powers of two, so the capacity follows from the count alone. */
static inline size_t capacity(size_t n)
{
	return n <= 1 ? n : (size_t)1 << (64 - __builtin_clzll((unsigned long long)n - 1));
}

/* arr (holding n elements of elt bytes) with room for add more. */
static void *grow(struct dec *x, void *arr, size_t n, size_t add, size_t elt)
{
	if (n + add <= capacity(n))
		return arr;
	void *a = take_words(x, capacity(n + add) * elt);
	if (n)
		memcpy(a, arr, n * elt);
	return a;
}

static const ProtobufCFieldDescriptor *find_field_search(const ProtobufCMessageDescriptor *desc,
							 uint32_t num, unsigned *hint)
{
	const ProtobufCFieldDescriptor *fs = desc->fields;
	unsigned n = desc->n_fields;
	unsigned lo = 0, hi = n;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (fs[mid].id < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && fs[lo].id == num) {
		*hint = lo;
		return &fs[lo];
	}
	return NULL;
}

static inline const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *desc,
							 uint32_t num, unsigned *hint)
{
	const ProtobufCFieldDescriptor *fs = desc->fields;
	unsigned h = *hint, n = desc->n_fields;
	/* Fields mostly come in field-number order: try where the last one was, and the next. */
	if (h < n && fs[h].id == num)
		return &fs[h];
	if (h + 1 < n && fs[h + 1].id == num) {
		*hint = h + 1;
		return &fs[h + 1];
	}
	return find_field_search(desc, num, hint);
}

/* True when all n bytes are ASCII and none is NUL (the usual string). */
static inline bool plain_ascii(const uint8_t *p, size_t n)
{
	const uint64_t hi = 0x8080808080808080ull, lo = 0x0101010101010101ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if ((w & hi) || ((w - lo) & ~w & hi))
			return false;
	}
	for (; i < n; i++)
		if (p[i] == 0 || p[i] >= 0x80)
			return false;
	return true;
}

static inline void store_varint(void *dst, ProtobufCType t, uint64_t v)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SINT32: {
		uint32_t u = (uint32_t)v;
		*(int32_t *)dst = (int32_t)((u >> 1) ^ (0u - (u & 1)));
		break;
	}
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64:
		*(uint64_t *)dst = v;
		break;
	case PROTOBUF_C_TYPE_SINT64:
		*(int64_t *)dst = (int64_t)((v >> 1) ^ (0ull - (v & 1)));
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)dst = v != 0;
		break;
	default: /* int32, uint32, enum: the low 32 bits, as protobuf-c */
		*(uint32_t *)dst = (uint32_t)v;
		break;
	}
}

/*
 * A packed run of scalars: fixed-size values must fill the run exactly;
 * everything else (bool included) is varints, each well-formed.
 */
static int decode_packed(struct dec *x, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
			 const uint8_t *p, const uint8_t *end)
{
	char *base = (char *)m;
	size_t *pn = (size_t *)(base + f->quantifier_offset);
	void **parr = (void **)(base + f->offset);
	size_t len = (size_t)(end - p), count = 0, esz = elt_size(f->type);
	unsigned wt = eds_wire_type(f->type);

	if (wt == 5 || wt == 1) {
		if (len % esz)
			return fail(x, EDS_E_DECODE, p + len / esz * esz,
				    "packed field \"%s\" ends inside a %zu-byte value", f->name, esz);
		count = len / esz;
	} else {
		for (size_t i = 0, k; i < len; i += k, count++) {
			uint64_t v;
			if (!(k = get_varint(p + i, end, &v)))
				return fail(x, EDS_E_DECODE, p + i,
					    "truncated or malformed varint in packed field \"%s\"", f->name);
		}
	}
	if (!count)
		return EDS_OK;
	*parr = grow(x, *parr, *pn, count, esz);
	char *dst = (char *)*parr + *pn * esz;
	if (wt == 5 || wt == 1) {
		memcpy(dst, p, len);
	} else {
		for (size_t i = 0; i < count; i++, dst += esz) {
			uint64_t v = 0;
			for (unsigned s = 0;; s += 7) {
				uint8_t b = *p++;
				v |= (uint64_t)(b & 0x7F) << s; /* s <= 63: bits past the 64th dropped */
				if (!(b & 0x80))
					break;
			}
			store_varint(dst, f->type, v);
		}
	}
	*pn += count;
	return EDS_OK;
}

static int decode_message(struct dec *x, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *m,
			  const uint8_t *p, const uint8_t *end, unsigned depth);

/*
 * Skip the fields of group num from *pp through its end-group tag, as
 * protoc and Envoy keep an unknown group (groups nest; each level counts
 * towards --max-depth like a message).
 */
static int skip_group(struct dec *x, uint32_t num, const uint8_t *open, const uint8_t **pp,
		      const uint8_t *end, unsigned depth)
{
	const uint8_t *p = *pp;
	if (depth > eds_depth_levels(x->lim->max_depth))
		return fail(x, EDS_E_LIMIT, open, "groups nested deeper than %u levels (--max-depth)",
			    x->lim->max_depth);
	while (p < end) {
		const uint8_t *at = p;
		uint64_t tag, v;
		size_t n = get_varint(p, end, &tag);
		if (!n || tag >> 3 == 0 || tag >> 3 > 536870911)
			return fail(x, EDS_E_DECODE, at, "malformed field tag in unknown group %" PRIu32, num);
		if (n > 5)
			return fail(x, EDS_E_DECODE, at, "field tag of %zu bytes (at most 5) in unknown group %"
				    PRIu32, n, num);
		p += n;
		switch (tag & 7) {
		case 0:
			if (!(n = get_varint(p, end, &v)))
				return fail(x, EDS_E_DECODE, p, "truncated or malformed varint in unknown group %" PRIu32,
					    num);
			p += n;
			break;
		case 1:
		case 5:
			n = (tag & 7) == 1 ? 8 : 4;
			if ((size_t)(end - p) < n)
				return fail(x, EDS_E_DECODE, p, "truncated %s value in unknown group %" PRIu32,
					    n == 8 ? "64-bit" : "32-bit", num);
			p += n;
			break;
		case 2:
			if (!(n = get_varint(p, end, &v)) || v > (uint64_t)(end - p - n))
				return fail(x, EDS_E_DECODE, at, "field %" PRIu64 " runs past the end of unknown group %"
					    PRIu32 " (truncated input?)", tag >> 3, num);
			if (n > 5)
				return fail(x, EDS_E_DECODE, p, "length of %zu bytes (at most 5) in unknown group %"
					    PRIu32, n, num);
			p += n + v;
			break;
		case 3: {
			int rc = skip_group(x, (uint32_t)(tag >> 3), at, &p, end, depth + 1);
			if (rc)
				return rc;
			break;
		}
		case 4:
			if (tag >> 3 != num)
				return fail(x, EDS_E_DECODE, at, "end-group tag of field %" PRIu64 " closes group %"
					    PRIu32, tag >> 3, num);
			*pp = p;
			return EDS_OK;
		default:
			return fail(x, EDS_E_DECODE, at, "invalid wire type %u in unknown group %" PRIu32,
				    (unsigned)(tag & 7), num);
		}
	}
	return fail(x, EDS_E_DECODE, open, "unknown group %" PRIu32 " is not closed (truncated input?)", num);
}

static int decode_unknown(struct dec *x, ProtobufCMessage *m, uint32_t num, unsigned wt,
			  const uint8_t *at, const uint8_t **pp, const uint8_t *end, unsigned depth)
{
	const uint8_t *p = *pp, *data = p;
	uint64_t v;
	size_t n;
	int rc;

	switch (wt) {
	case 0:
		if (!(n = get_varint(p, end, &v)))
			return fail(x, EDS_E_DECODE, p, "truncated or malformed varint in field \"%s\"",
				    "(unknown)");
		p += n;
		break;
	case 1:
		if (end - p < 8)
			return fail(x, EDS_E_DECODE, p, "truncated 64-bit value in field \"%s\"",
				    "(unknown)");
		p += 8;
		break;
	case 5:
		if (end - p < 4)
			return fail(x, EDS_E_DECODE, p, "truncated 32-bit value in field \"%s\"",
				    "(unknown)");
		p += 4;
		break;
	case 2:
		if (!(n = get_varint(p, end, &v)))
			return fail(x, EDS_E_DECODE, p, "truncated or malformed length of field \"%s\"",
				    "(unknown)");
		if (n > 5)
			return fail(x, EDS_E_DECODE, p, "length of %zu bytes (at most 5) of field \"%s\"", n,
				    "(unknown)");
		p += n;
		if (v > (uint64_t)(end - p))
			return fail(x, EDS_E_DECODE, at,
				    "field \"%s\" runs past the end of its message (truncated input?)",
				    "(unknown)");
		p += v;
		break;
	case 3: /* kept with its end-group tag: the encoder writes the start tag before data */
		if ((rc = skip_group(x, num, at, &p, end, depth + 1)))
			return rc;
		break;
	case 4:
		return fail(x, EDS_E_DECODE, at, "end-group tag of field %" PRIu32 " outside a group", num);
	default:
		return fail(x, EDS_E_DECODE, at, "unsupported wire type %s in field \"%s\"",
			    wire_names[wt], "(unknown)");
	}
	*pp = p;
	size_t len = (size_t)(p - data);
	m->unknown_fields = grow(x, m->unknown_fields, m->n_unknown_fields, 1,
				 sizeof(ProtobufCMessageUnknownField));
	ProtobufCMessageUnknownField *u = &m->unknown_fields[m->n_unknown_fields++];
	u->tag = num;
	u->wire_type = (ProtobufCWireType)wt;
	u->len = len;
	u->data = pool_take(x, &x->bytes, len ? len : 1);
	memcpy(u->data, data, len);
	return EDS_OK;
}

/* A tag or length over 5 bytes, of field f (NULL: unknown). */
#define SPAN_ADDR_BITS EDS_SPAN_ADDR_BITS /* (codec.h) */
#define SPAN_MAX ((size_t)0xFFFF)

static void set_span(ProtobufCMessage *m, const uint8_t *p, size_t len, bool merged)
{
	uintptr_t a = (uintptr_t)p;
	if (m->n_unknown_fields)
		return;
	m->unknown_fields = NULL;
	if (!merged && len <= SPAN_MAX && !(a >> SPAN_ADDR_BITS))
		m->unknown_fields = (ProtobufCMessageUnknownField *)(a | (uintptr_t)len << SPAN_ADDR_BITS);
}

/* Setting oneof member f: forget another member that is set (they share storage). */
static void clear_other_member(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	uint32_t *oneof_case = (uint32_t *)((char *)m + f->quantifier_offset);
	if (*oneof_case == 0 || *oneof_case == f->id)
		return;
	unsigned hint = 0;
	const ProtobufCFieldDescriptor *old = find_field(m->descriptor, *oneof_case, &hint);
	if (old)
		memset((char *)m + old->offset, 0, elt_size(old->type));
	*oneof_case = 0;
}

/*
 * The field at p (well-formed or not, tags and lengths of any size): its
 * tag, where its value starts and, for a length-delimited one, its length.
 * Returns the end of the field, NULL when it is malformed or truncated.
 * A start- or end-group tag alone is a field without a value here.
 */
static const uint8_t *field_at(const uint8_t *p, const uint8_t *end, uint64_t *tag, const uint8_t **val,
			       uint64_t *len)
{
	size_t k = get_varint(p, end, tag);
	if (!k)
		return NULL;
	p += k;
	*len = 0;
	switch (*tag & 7) {
	case 0: k = get_varint(p, end, len); *len = 0; break;
	case 1: k = end - p >= 8 ? 8 : 0; break;
	case 5: k = end - p >= 4 ? 4 : 0; break;
	case 2: k = get_varint(p, end, len); break;
	case 3: case 4: *val = p; return p;
	default: k = 0;
	}
	if (!k || *len > (uint64_t)(end - p - k))
		return NULL;
	*val = p + k;
	return p + k + *len;
}

/* field_at, with a group's fields and end tag as its value (unchecked: the
 * walk checks them). */
static const uint8_t *next_field(const uint8_t *p, const uint8_t *end, uint64_t *tag, const uint8_t **val,
				 uint64_t *len)
{
	const uint8_t *q = field_at(p, end, tag, val, len), *v;
	uint64_t t, l;
	for (size_t open = q && (*tag & 7) == 3; open;) {
		if (!(q = field_at(q, end, &t, &v, &l)))
			break;
		if ((t & 7) == 3)
			open++;
		else if ((t & 7) == 4)
			open--;
	}
	return q;
}

/*
 * The scanner for code that walks a message's top-level fields without a
 * descriptor (serve's Cluster, the container walker): the same reading as
 * the decoder's, a group with its nested groups and end tag one field.
 */
int eds_wire_next(const uint8_t *p, size_t n, size_t *off, struct eds_wire_field *f, unsigned max_depth,
		  const char **why)
{
	if (*off >= n)
		return 0; /* (p may be NULL then) */
	const uint8_t *end = p + n, *q = p + *off;
	uint32_t open[64]; /* the groups open, innermost last (deeper: only counted) */
	unsigned depth = 0;
	do {
		const uint8_t *at = q;
		uint64_t tag, v;
		size_t k = get_varint(q, end, &tag);
		*off = (size_t)(at - p);
		if (!k || tag >> 3 == 0 || tag >> 3 > 536870911 || k > 5) {
			*why = k > 5 ? "a field tag of more than 5 bytes" : "a malformed field tag";
			return -1;
		}
		q += k;
		if (!depth) {
			f->num = (uint32_t)(tag >> 3);
			f->wt = (unsigned)(tag & 7);
			f->start = *off;
			f->vstart = (size_t)(q - p);
		}
		switch (tag & 7) {
		case 0:
			if (!(k = get_varint(q, end, &v))) {
				*off = (size_t)(q - p);
				*why = "a truncated or malformed varint";
				return -1;
			}
			q += k;
			break;
		case 1:
		case 5:
			k = (tag & 7) == 1 ? 8 : 4;
			if ((size_t)(end - q) < k) {
				*off = (size_t)(q - p);
				*why = "a truncated fixed-size value";
				return -1;
			}
			q += k;
			break;
		case 2:
			k = get_varint(q, end, &v);
			if (!k || k > 5) {
				*off = (size_t)(q - p);
				*why = k ? "a length of more than 5 bytes" : "a truncated or malformed length";
				return -1;
			}
			if (v > (uint64_t)(end - q - k)) {
				*why = "a field that runs past the end of its message (truncated input?)";
				return -1;
			}
			q += k;
			if (!depth)
				f->vstart = (size_t)(q - p);
			q += v;
			break;
		case 3:
			if (depth >= max_depth) {
				*why = "groups nested deeper than --max-depth allows";
				return -1;
			}
			if (depth < sizeof open / sizeof open[0])
				open[depth] = (uint32_t)(tag >> 3);
			depth++;
			continue;
		case 4:
			if (!depth) {
				*why = "an end-group tag outside any group";
				return -1;
			}
			depth--;
			if (depth < sizeof open / sizeof open[0] && open[depth] != (uint32_t)(tag >> 3)) {
				*why = "an end-group tag that closes another group";
				return -1;
			}
			if (!depth)
				f->vend = (size_t)(at - p);
			continue;
		default:
			*why = "an invalid wire type";
			return -1;
		}
		if (!depth)
			f->vend = (size_t)(q - p);
	} while (depth && q < end);
	if (depth) {
		*off = f->start;
		*why = "a group that is not closed (truncated input?)";
		return -1;
	}
	f->end = (size_t)(q - p);
	*off = f->end;
	return 1;
}

/*
 * A large CLA's second half is decoded by a second thread, into an arena
 * of its own, while this one decodes the first half: the endpoints (field 2
 * of LocalityLbEndpoints) of the locality the middle falls in, from the
 * middle on, then the localities (field 2) after it.  The walk then takes
 * those messages in order instead of decoding them.  The first one the
 * other thread could not decode, and everything after it, this thread
 * decodes itself, so a failure reads exactly as it would without the
 * second thread.
 */
size_t eds_bin_ahead_min = (size_t)1 << 20;

struct ahead {
	pthread_t thread;
	bool joined;
	struct dec x;          /* the thread's decoder, on its own arena */
	struct eds_diag d;
	const uint8_t *from, *mid_end, *end; /* endpoints in [from, mid_end), then localities */
	const uint8_t **at;    /* tag of each message decoded, in input order */
	ProtobufCMessage **msg;
	size_t n, next;
};

static int decode_message(struct dec *x, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *m,
			  const uint8_t *p, const uint8_t *end, unsigned depth);
static void set_span(ProtobufCMessage *m, const uint8_t *p, size_t len, bool merged);

/* Decode every minimally encoded field 2 in [p, end) as a desc (at depth);
 * false when one fails (the walk decodes it again and reports). */
static bool ahead_fields(struct ahead *a, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
			 const uint8_t *end, unsigned depth, size_t *cap)
{
	const uint8_t *next, *val;
	uint64_t tag, len;
	for (; p < end && (next = next_field(p, end, &tag, &val, &len)); p = next) {
		/* Only a minimally encoded tag and length: the walk flags the others. */
		if (p[0] != (2 << 3 | 2) || val - p > 6)
			continue;
		ProtobufCMessage *m = new_message(&a->x, desc);
		if (decode_message(&a->x, desc, m, val, next, depth))
			return false;
		if (a->x.spans)
			set_span(m, val, (size_t)len, false);
		if (a->n == *cap) {
			*cap = *cap ? 2 * *cap : 64;
			a->at = realloc(a->at, *cap * sizeof *a->at);
			a->msg = realloc(a->msg, *cap * sizeof *a->msg);
			if (!a->at || !a->msg)
				abort(); /* as arena.c: nothing sensible to return */
		}
		a->at[a->n] = p;
		a->msg[a->n++] = m;
	}
	return true;
}

static void *ahead_run(void *arg)
{
	struct ahead *a = arg;
	const ProtobufCMessageDescriptor *loc = protobuf_c_message_descriptor_get_field(eds_schema_cla, 2)->descriptor;
	const ProtobufCMessageDescriptor *lbe = protobuf_c_message_descriptor_get_field(loc, 2)->descriptor;
	size_t cap = 0;
	if (ahead_fields(a, lbe, a->from, a->mid_end, 3, &cap))
		ahead_fields(a, loc, a->mid_end, a->end, 2, &cap);
	return NULL;
}

/* Start the second thread on the CLA in [p, end) when it is large. */
static void ahead_start(struct dec *x, const uint8_t *p, const uint8_t *end)
{
	const uint8_t *mid = p + (end - p) / 2, *val, *next = p, *from, *mid_end;
	uint64_t tag, len;
	do { /* the top-level field the middle falls in */
		p = next;
		next = next_field(p, end, &tag, &val, &len);
	} while (next && next <= mid);
	if (!next)
		return; /* malformed: the walk reports it */
	from = mid_end = next;
	if (p[0] == (2 << 3 | 2) && val - p <= 6) {
		/* A locality (minimally encoded): its endpoints from the middle on. */
		const uint8_t *q = val, *lend = next;
		while (q && q < mid)
			q = next_field(q, lend, &tag, &val, &len);
		if (q && q < lend)
			from = q;
	}
	if (from >= end)
		return; /* nothing after the middle */
	struct ahead *a = calloc(1, sizeof *a);
	if (!a)
		return;
	a->x = *x;
	a->x.arena = eds_arena_new((size_t)4 << 20); /* large from the start: huge pages (arena.c) */
	a->x.words = a->x.bytes = (struct pool){ 0 };
	a->x.d = &a->d;
	a->x.nframes = 0;
	a->from = from;
	a->mid_end = mid_end;
	a->end = end;
	if (pthread_create(&a->thread, NULL, ahead_run, a) != 0) {
		eds_arena_free(a->x.arena);
		free(a);
		return;
	}
	x->ahead = a;
}

static void ahead_join(struct dec *x)
{
	struct ahead *a = x->ahead;
	if (a->joined)
		return;
	pthread_join(a->thread, NULL);
	a->joined = true;
}

/* The message of field f whose tag is at at, when the other thread decoded it. */
static ProtobufCMessage *ahead_take(struct dec *x, const ProtobufCFieldDescriptor *f, const uint8_t *at)
{
	struct ahead *a = x->ahead;
	if (at < a->from)
		return NULL;
	ahead_join(x);
	if (a->next < a->n && a->at[a->next] == at && a->msg[a->next]->descriptor == f->descriptor)
		return a->msg[a->next++];
	return NULL;
}

/* Join the thread (if the walk stopped early) and keep its memory. */
static void ahead_end(struct dec *x)
{
	struct ahead *a = x->ahead;
	if (!a)
		return;
	ahead_join(x);
	eds_arena_adopt(x->arena, a->x.arena);
	free(a->at);
	free(a->msg);
	free(a);
	x->ahead = NULL;
}

/* One known field at p (just after its tag, which starts at at). */
static int decode_field(struct dec *x, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
			unsigned wt, const uint8_t *at, const uint8_t **pp, const uint8_t *end,
			unsigned depth)
{
	char *base = (char *)m;
	void *member = base + f->offset;
	const uint8_t *p = *pp;
	unsigned want = eds_wire_type(f->type);
	bool repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
	uint64_t v;
	size_t n;

	size_t *pn = repeated ? (size_t *)(base + f->quantifier_offset) : NULL;
	void *dst = member;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		clear_other_member(m, f);
	switch (wt) {
	case 0:
		if (!(n = get_varint(p, end, &v)))
			return fail(x, EDS_E_DECODE, p, "truncated or malformed varint in field \"%s\"",
				    f->name);
		*pp = p + n;
		if (repeated) {
			*(void **)member = grow(x, *(void **)member, *pn, 1, elt_size(f->type));
			dst = (char *)*(void **)member + *pn * elt_size(f->type);
		}
		store_varint(dst, f->type, v);
		break;
	case 1:
	case 5: {
		size_t w = wt == 1 ? 8 : 4;
		if ((size_t)(end - p) < w)
			return fail(x, EDS_E_DECODE, p, "truncated %s value in field \"%s\"",
				    wt == 1 ? "64-bit" : "32-bit", f->name);
		*pp = p + w;
		if (repeated) {
			*(void **)member = grow(x, *(void **)member, *pn, 1, w);
			dst = (char *)*(void **)member + *pn * w;
		}
		memcpy(dst, p, w);
		break;
	}
	default: { /* 2 */
		if (!(n = get_varint(p, end, &v)))
			return fail(x, EDS_E_DECODE, p, "truncated or malformed length of field \"%s\"",
				    f->name);
		if (n > 5)
			return fail(x, EDS_E_DECODE, p, "length of %zu bytes (at most 5) of field \"%s\"", n,
				    f->name);
		p += n;
		if (v > (uint64_t)(end - p))
			return fail(x, EDS_E_DECODE, at,
				    "field \"%s\" runs past the end of its message (truncated input?)",
				    f->name);
		const uint8_t *q = p + v;
		size_t len = (size_t)v;
		*pp = q;
		if (want != 2)
			return decode_packed(x, m, f, p, q); /* count already advanced */
		/* Any's value is a message, checked when it is decoded */
		if (len > x->lim->max_string && f->type != PROTOBUF_C_TYPE_MESSAGE &&
		    strcmp(m->descriptor->name, "google.protobuf.Any") != 0)
			return fail(x, EDS_E_LIMIT, at, "%s is %zu bytes, more than the limit of %zu (--max-string)",
				    f->type == PROTOBUF_C_TYPE_STRING ? "string" : "bytes value", len,
				    x->lim->max_string);
		if (repeated) {
			*(void **)member = grow(x, *(void **)member, *pn, 1, elt_size(f->type));
			dst = (char *)*(void **)member + *pn * elt_size(f->type);
		}
		switch (f->type) {
		case PROTOBUF_C_TYPE_STRING: {
			if (!plain_ascii(p, len)) {
				size_t ok = eds_utf8_valid_prefix((const char *)p, len);
				if (ok < len)
					return fail(x, EDS_E_DECODE, p + ok,
						    "invalid UTF-8 in string field \"%s\"", f->name);
				const uint8_t *nul = memchr(p, 0, len);
				if (nul)
					return fail(x, EDS_E_DECODE, nul,
						    "string field \"%s\" contains a NUL character (not supported)",
						    f->name);
			}
			char *s = pool_take(x, &x->bytes, len + 1);
			memcpy(s, p, len);
			s[len] = '\0';
			*(char **)dst = s;
			break;
		}
		case PROTOBUF_C_TYPE_BYTES: {
			ProtobufCBinaryData *bd = dst;
			bd->len = len;
			bd->data = NULL;
			if (len) {
				bd->data = pool_take(x, &x->bytes, len);
				memcpy(bd->data, p, len);
			}
			break;
		}
		default: { /* message */
			ProtobufCMessage **pm = dst, *sub = NULL;
			bool oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
			/* merge into the message already there (another oneof member was cleared above) */
			if (!repeated && *pm && *pm != f->default_value &&
			    (!oneof || *(uint32_t *)(base + f->quantifier_offset) == f->id)) {
				sub = *pm;
			}
			bool merging = sub != NULL;
			if (!sub && x->ahead && depth <= 2 && (sub = ahead_take(x, f, at))) {
				*pm = sub; /* decoded, span set, by the other thread */
				break;
			}
			if (!sub)
				sub = new_message(x, f->descriptor);
			int rc = decode_message(x, f->descriptor, sub, p, q, depth + 1);
			if (rc)
				return rc;
			if (x->spans) /* a merged message's bytes are in two places */
				set_span(sub, p, len, merging);
			*pm = sub;
			break;
		}
		}
		break;
	}
	}
	if (repeated) {
		++*pn;
	} else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		*(uint32_t *)(base + f->quantifier_offset) = f->id;
	} else if (f->quantifier_offset) {
		*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1; /* has_ of an optional scalar */
	}
	return EDS_OK;
}

/*
 * How many times field num occurs in [p, end), fields that decoded: the
 * index a failure's path shows, counted within this occurrence of the
 * message (as edsmod always did), not in the merged array.
 */
static int64_t occurrences(const uint8_t *p, const uint8_t *end, const ProtobufCFieldDescriptor *f)
{
	int64_t n = 0;
	uint64_t tag, len;
	const uint8_t *val;
	while (p < end && (p = next_field(p, end, &tag, &val, &len)))
		n += (tag >> 3) == f->id && wire_fits(f, (unsigned)(tag & 7));
	return n;
}

/*
 * The common case, without decode_field's questions: per message type, for
 * field numbers 1-15 (one-byte tags, nearly every field a CLA has), a
 * singular int32/uint32/enum/int64/uint64/bool, string or message field (a
 * oneof member or not), or a repeated message field.  decode_fields takes
 * such a field here when nothing about it is unusual; anything else (a
 * message to merge, another oneof member set, a string that is not plain
 * ASCII or is over --max-string, a length over 5 bytes, bytes that do not
 * parse, a message the second thread decoded) goes to decode_field, which
 * does the same and reports.  Tables are built on first use and shared by
 * every thread; they live as long as the process.
 */
enum fast_kind { FK_SLOW, FK_U32, FK_U64, FK_BOOL, FK_STR, FK_MSG, FK_REPMSG };

struct fast_table;
struct fast_field {
	uint8_t kind, wt;
	bool oneof, has; /* quantifier_offset is the oneof case, or a has_ flag */
	uint32_t off, qoff;
	const ProtobufCFieldDescriptor *f;
	_Atomic(struct fast_table *) sub; /* a message's table, once looked up */
};

struct fast_table {
	const ProtobufCMessageDescriptor *desc;
	struct fast_field by_num[16];
};

bool eds_bin_fast = true;

static void *_Atomic fast_tables[EDS_SCHEMA_SLOTS];
_Static_assert(offsetof(struct fast_table, desc) == 0, "eds_schema_shared finds the descriptor first");

static int decode_fields(struct dec *x, struct fast_table *ft, const ProtobufCMessageDescriptor *desc,
			 ProtobufCMessage *m, const uint8_t *p, const uint8_t *end, unsigned depth);

static void *fast_build(const ProtobufCMessageDescriptor *desc)
{
	struct fast_table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->desc = desc;
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		if (f->id >= 16)
			continue;
		struct fast_field *ff = &t->by_num[f->id];
		uint8_t k = FK_SLOW;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (f->type == PROTOBUF_C_TYPE_MESSAGE)
				k = FK_REPMSG;
		} else {
			switch (f->type) {
			case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_ENUM:
				k = FK_U32; break;
			case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64: k = FK_U64; break;
			case PROTOBUF_C_TYPE_BOOL: k = FK_BOOL; break;
			case PROTOBUF_C_TYPE_STRING: k = FK_STR; break;
			case PROTOBUF_C_TYPE_MESSAGE: k = FK_MSG; break;
			default: break;
			}
			ff->oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
			ff->has = !ff->oneof && f->quantifier_offset;
		}
		ff->kind = k;
		ff->wt = (uint8_t)eds_wire_type(f->type);
		ff->off = f->offset;
		ff->qoff = f->quantifier_offset;
		ff->f = f;
	}
	return t;
}

/* desc's table; NULL when there is no room for it (decode_field does all).
 * Out of line: inlined into fast_field's first-use path, it slowed the
 * whole decode loop by a seventh (code layout alone; it runs once a type). */
__attribute__((noinline)) static struct fast_table *fast_for(const ProtobufCMessageDescriptor *desc)
{
	return eds_schema_shared(fast_tables, desc, fast_build);
}

/*
 * Field ff at p (its one-byte tag at at, in the message that starts at
 * start): 1 when taken, with *pp past it; 0 when decode_field must take it
 * (nothing changed); or the failure code of a sub-message.
 */
static inline int fast_field(struct dec *x, ProtobufCMessage *m, struct fast_field *ff,
			     const uint8_t *start, const uint8_t *at, const uint8_t **pp,
			     const uint8_t *end, unsigned depth)
{
	char *base = (char *)m;
	const uint8_t *p = *pp;
	uint64_t v;
	size_t n = get_varint(p, end, &v);
	if (!n || n > 5)
		return 0;
	if (ff->oneof) {
		uint32_t c = *(uint32_t *)(base + ff->qoff);
		if (c && c != ff->f->id)
			return 0;
	}
	p += n;
	switch (ff->kind) {
	case FK_U32: *(uint32_t *)(base + ff->off) = (uint32_t)v; break;
	case FK_U64: *(uint64_t *)(base + ff->off) = v; break;
	case FK_BOOL: *(protobuf_c_boolean *)(base + ff->off) = v != 0; break;
	case FK_STR: {
		if (v > (uint64_t)(end - p) || v > x->lim->max_string || !plain_ascii(p, (size_t)v))
			return 0;
		char *s = pool_take(x, &x->bytes, (size_t)v + 1);
		memcpy(s, p, (size_t)v);
		s[v] = '\0';
		*(char **)(base + ff->off) = s;
		p += v;
		break;
	}
	default: { /* FK_MSG, FK_REPMSG */
		ProtobufCMessage **pm = (ProtobufCMessage **)(base + ff->off);
		if (v > (uint64_t)(end - p) || (ff->kind == FK_MSG && *pm) ||
		    (x->ahead && depth <= 2 && at >= x->ahead->from))
			return 0; /* (merged; or the second thread's) */
		size_t *pn = NULL;
		if (ff->kind == FK_REPMSG) {
			pn = (size_t *)(base + ff->qoff);
			ProtobufCMessage ***parr = (ProtobufCMessage ***)pm;
			*parr = grow(x, *parr, *pn, 1, sizeof *pm);
			pm = *parr + *pn;
		}
		const ProtobufCMessageDescriptor *sd = ff->f->descriptor;
		struct fast_table *st = atomic_load_explicit(&ff->sub, memory_order_acquire);
		if (!st) {
			st = fast_for(sd);
			atomic_store_explicit(&ff->sub, st, memory_order_release);
		}
		ProtobufCMessage *sub = new_message(x, sd);
		int rc = decode_fields(x, st, sd, sub, p, p + v, depth + 1);
		if (rc) {
			add_frame(x, ff->f, pn ? occurrences(start, at, ff->f) : -1);
			return rc;
		}
		if (x->spans)
			set_span(sub, p, (size_t)v, false);
		*pm = sub;
		p += v;
		if (pn) {
			++*pn;
			*pp = p;
			return 1;
		}
		break;
	}
	}
	if (ff->oneof)
		*(uint32_t *)(base + ff->qoff) = ff->f->id;
	else if (ff->has)
		*(protobuf_c_boolean *)(base + ff->qoff) = 1;
	*pp = p;
	return 1;
}

static int decode_message(struct dec *x, const ProtobufCMessageDescriptor *desc, ProtobufCMessage *m,
			  const uint8_t *p, const uint8_t *end, unsigned depth)
{
	return decode_fields(x, eds_bin_fast ? fast_for(desc) : NULL, desc, m, p, end, depth);
}

/* decode_message, with desc's table (NULL: none) */
static int decode_fields(struct dec *x, struct fast_table *ft, const ProtobufCMessageDescriptor *desc,
			 ProtobufCMessage *m, const uint8_t *p, const uint8_t *end, unsigned depth)
{
	const uint8_t *start = p;
	unsigned hint = 0;

	if (depth > eds_depth_levels(x->lim->max_depth))
		return fail(x, EDS_E_LIMIT, p,
			    "messages nested deeper than %u levels (--max-depth) in %s",
			    x->lim->max_depth, desc->name);
	while (p < end) {
		const uint8_t *at = p;
		uint64_t tag;
		if (p[0] < 0x80) {
			tag = p[0];
			p++;
			struct fast_field *ff = ft ? &ft->by_num[tag >> 3 & 15] : NULL;
			if (ff && ff->kind && ff->wt == (tag & 7)) {
				int rc = fast_field(x, m, ff, start, at, &p, end, depth);
				if (rc == 1)
					continue;
				if (rc)
					return rc;
			}
		} else {
			size_t n = get_varint(p, end, &tag);
			if (!n)
				return fail(x, EDS_E_DECODE, at, "truncated or malformed field tag in %s",
					    desc->name);
			p += n;
		}
		unsigned wt = (unsigned)(tag & 7);
		uint64_t num = tag >> 3;
		if (num == 0 || num > 536870911)
			return fail(x, EDS_E_DECODE, at, "invalid field number %llu in %s",
				    (unsigned long long)num, desc->name);
		const ProtobufCFieldDescriptor *f = find_field(desc, (uint32_t)num, &hint);
		if (f && !wire_fits(f, wt))
			f = NULL; /* an unknown field (wire_fits) */
		if (p - at > 5)
			return fail(x, EDS_E_DECODE, at, "field tag of %zu bytes (at most 5) in %s",
				    (size_t)(p - at), desc->name);
		int rc;
		if (!f) {
			rc = decode_unknown(x, m, (uint32_t)num, wt, at, &p, end, depth);
			if (rc)
				return rc;
			continue;
		}
		rc = decode_field(x, m, f, wt, at, &p, end, depth);
		if (rc) {
			add_frame(x, f, f->label == PROTOBUF_C_LABEL_REPEATED ? occurrences(start, at, f) : -1);
			return rc;
		}
	}
	return EDS_OK;
}

static int decode(const ProtobufCMessageDescriptor *desc, const struct eds_src *src, struct eds_arena *arena,
		  const struct eds_limits *lim, ProtobufCMessage **out, struct eds_diag *d, bool spans)
{
	const uint8_t *p = (const uint8_t *)src->text;
	if (src->len > lim->max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)",
			      src->len, lim->max_input);
		return eds_diag_offset(d, src, lim->max_input);
	}
	/* Many small CLAs (a list) must not take a whole chunk each. */
	size_t chunk = 256;
	while (chunk < CHUNK && chunk < 4 * src->len)
		chunk *= 2;
	struct dec x = { .base = p, .src = src, .lim = lim, .d = d, .arena = arena, .spans = spans,
			 .chunk = chunk };
	ProtobufCMessage *m = new_message(&x, desc);
	if (desc == eds_schema_cla && src->len && src->len >= eds_bin_ahead_min)
		ahead_start(&x, p, p + src->len);
	int rc = decode_message(&x, desc, m, p, src->len ? p + src->len : p, 1);
	ahead_end(&x);
	*out = NULL;
	if (rc) {
		set_path(&x);
		return rc;
	}
	*out = m;
	return EDS_OK;
}

int eds_bin_decode(const ProtobufCMessageDescriptor *desc, const struct eds_src *src, struct eds_arena *arena,
		   const struct eds_limits *lim, ProtobufCMessage **out, struct eds_diag *d)
{
	return decode(desc, src, arena, lim, out, d, false);
}

int eds_bin_decode_spans(const ProtobufCMessageDescriptor *desc, const struct eds_src *src,
			 struct eds_arena *arena, const struct eds_limits *lim, ProtobufCMessage **out,
			 struct eds_diag *d)
{
	return decode(desc, src, arena, lim, out, d, true);
}

/* ---- encoding ---- */

/*
 * Backwards: fields from the last to the first (unknown fields, which
 * protobuf-c writes last, first), each value before its tag, a sub-message
 * before its length.  Each message type gets a plan once (plan_for): per
 * field, how presence is tested and how a value is written.  Presence is
 * protobuf-c's: required always; repeated when non-empty; a oneof member
 * when the case names it; an optional scalar by its has_ flag; a string or
 * message pointer when neither NULL nor the default; otherwise (proto3) when
 * any of its bits is set, as C++ and Go test it: -0.0 and NaN are written.
 * Most tests are "the 4 or 8 bytes at toff differ from cmp" (inverted for
 * oneofs); the rest add a check.
 */
enum extra { X_NONE, X_PTR_DEFAULT, X_STR_EMPTY };

/* How one value is written. */
enum how { H_U32, H_I32, H_S32, H_U64, H_S64, H_F32, H_F64, H_BOOL, H_STR, H_BYTES, H_MSG };

struct mplan;

#define ALWAYS UINT32_MAX

struct fplan {
	uint32_t off;     /* the value, or the array of a repeated field */
	uint32_t toff;    /* what the presence test reads; ALWAYS for required fields */
	uint32_t cmp;     /* present when the value read differs from cmp... */
	uint8_t inv;      /* ...or, when set, equals it (oneof case == id) */
	uint8_t wide;     /* the test reads 8 bytes (else 4) */
	uint8_t extra;    /* enum extra */
	uint8_t how;      /* enum how */
	uint8_t repeated; /* 0, 1, 2 when packed */
	uint8_t keylen;
	uint8_t key[8];   /* the tag, with the wire type of one value (2 when packed),
			   * in the last keylen bytes: written with one 8-byte store */
	const void *dflt;
	_Atomic(struct mplan *) sub; /* plan of the sub-messages, found on first use */
};

struct mplan {
	const ProtobufCMessageDescriptor *desc;
	unsigned n;
	struct fplan f[];
};

/*
 * Output is written backwards, from the last byte to the first, into a
 * chain of chunks: a message's length is known once its fields are written.
 */
#define BIG_CHUNK ((size_t)256 << 10)
#define ROOM 24 /* a tag and a varint, with room to spare */

struct chunk {
	struct chunk *prev;
	size_t mapped; /* size of the mapping, 0 when malloc'd */
	uint8_t *from; /* where this chunk's bytes start once it is full */
	uint8_t *end;
	uint8_t data[];
};

struct enc {
	uint8_t *ptr, *lim;  /* the next byte goes at ptr - 1; lim is the chunk's start */
	struct chunk *chunk;
	size_t done;         /* bytes in the chunks before this one */
	size_t next_size;
	bool spans;          /* copy the spans of unchanged messages */
	/* The last Metadata written: rules share one between endpoints
	 * (expr_eval.c), so the next endpoint's is often the same, copied. */
	const ProtobufCMessage *memo;
	const uint8_t *memo_at;
	size_t memo_len;
};

static const size_t how_size[] = {
	[H_U32] = 4, [H_I32] = 4, [H_S32] = 4, [H_U64] = 8, [H_S64] = 8, [H_F32] = 4, [H_F64] = 8,
	[H_BOOL] = sizeof(protobuf_c_boolean), [H_STR] = sizeof(char *),
	[H_BYTES] = sizeof(ProtobufCBinaryData), [H_MSG] = sizeof(void *),
};

static void oom(void)
{
	fprintf(stderr, "edsmod: out of memory (binary encoder)\n");
	abort(); /* as arena.c: nothing sensible to return */
}

static enum how how_for(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_ENUM: return H_I32;
	case PROTOBUF_C_TYPE_SINT32: return H_S32;
	case PROTOBUF_C_TYPE_UINT32: return H_U32;
	case PROTOBUF_C_TYPE_SINT64: return H_S64;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_UINT64: return H_U64;
	case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FLOAT: return H_F32;
	case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE: return H_F64;
	case PROTOBUF_C_TYPE_BOOL: return H_BOOL;
	case PROTOBUF_C_TYPE_STRING: return H_STR;
	case PROTOBUF_C_TYPE_BYTES: return H_BYTES;
	default: return H_MSG;
	}
}

static void plan_presence(struct fplan *fp, const ProtobufCFieldDescriptor *f)
{
	bool ptr = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;

	fp->toff = f->offset;
	fp->cmp = 0;
	fp->inv = 0;
	fp->wide = 0;
	fp->extra = X_NONE;
	switch (f->label) {
	case PROTOBUF_C_LABEL_REQUIRED:
		fp->toff = ALWAYS;
		return;
	case PROTOBUF_C_LABEL_REPEATED:
		fp->toff = f->quantifier_offset;
		fp->wide = 1;
		return;
	default:
		break;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		fp->toff = f->quantifier_offset;
		fp->cmp = f->id;
		fp->inv = 1;
		if (ptr)
			fp->extra = X_PTR_DEFAULT;
		return;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !ptr) {
		fp->toff = f->quantifier_offset;
		return;
	}
	if (ptr) {
		fp->wide = 1;
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
			fp->extra = X_PTR_DEFAULT;
		else if (f->type == PROTOBUF_C_TYPE_STRING)
			fp->extra = X_STR_EMPTY;
		return;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_BYTES: /* its len */
		fp->wide = 1;
		break;
	default:
		fp->wide = elt_size(f->type) == 8;
		break;
	}
}

static void *build_plan(const ProtobufCMessageDescriptor *desc)
{
	struct mplan *p = malloc(sizeof *p + desc->n_fields * sizeof p->f[0]);
	if (!p)
		oom();
	p->desc = desc;
	p->n = desc->n_fields;
	bool map_entry = eds_schema_map_entry(desc);
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		struct fplan *fp = &p->f[i];
		plan_presence(fp, f);
		if (map_entry)
			fp->toff = ALWAYS; /* key and value, default or not, as protobuf's own encoders */
		fp->off = f->offset;
		fp->how = (uint8_t)how_for(f->type);
		fp->dflt = f->default_value;
		atomic_init(&fp->sub, NULL);
		fp->repeated = 0;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			fp->repeated = (f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) ? 2 : 1;
		unsigned wt = fp->repeated == 2 ? 2 : eds_wire_type(f->type);
		uint64_t key = ((uint64_t)f->id << 3) | wt;
		uint8_t tag[8];
		fp->keylen = 0;
		do {
			tag[fp->keylen++] = (uint8_t)(key >= 0x80 ? (key & 0x7F) | 0x80 : key);
			key >>= 7;
		} while (key);
		memset(fp->key, 0, sizeof fp->key);
		memcpy(fp->key + sizeof fp->key - fp->keylen, tag, fp->keylen);
	}
	return p;
}

/* Plans are built on first use and shared by every thread and call, as the
 * decoder's tables are; they live as long as the process. */
static void *_Atomic enc_plans[EDS_SCHEMA_SLOTS];
_Static_assert(offsetof(struct mplan, desc) == 0, "eds_schema_shared finds the descriptor first");

static struct mplan *plan_for(const ProtobufCMessageDescriptor *desc)
{
	return eds_schema_shared(enc_plans, desc, build_plan); /* (build_plan never fails) */
}

static inline size_t varint_size(uint64_t v)
{
	unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
	return (bits * 9 + 64) / 64; /* 1 + (bits - 1) / 7 for bits in 1..64 */
}

static inline uint8_t *put_varint(uint8_t *w, uint64_t v)
{
	while (v >= 0x80) {
		*w++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*w++ = (uint8_t)v;
	return w;
}

static inline uint32_t zigzag32(int32_t v)
{
	return ((uint32_t)v << 1) ^ (0u - ((uint32_t)v >> 31));
}

static inline uint64_t zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (0ull - ((uint64_t)v >> 63));
}

static bool present_extra(const char *base, const struct fplan *fp)
{
	const void *member = base + fp->off;
	switch ((enum extra)fp->extra) {
	case X_PTR_DEFAULT: {
		const void *ptr = *(const void *const *)member;
		return ptr != NULL && ptr != fp->dflt;
	}
	case X_STR_EMPTY:
		return **(const char *const *)member != '\0';
	default:
		return true;
	}
}

static inline bool present(const char *base, const struct fplan *fp)
{
	if (fp->toff == ALWAYS)
		return true;
	const char *t = base + fp->toff;
	uint64_t v;
	if (fp->wide)
		memcpy(&v, t, 8);
	else {
		uint32_t v32;
		memcpy(&v32, t, 4);
		v = v32;
	}
	if ((v != fp->cmp) == fp->inv)
		return false;
	return fp->extra == X_NONE || present_extra(base, fp);
}

static void back_message(struct enc *e, struct mplan *pl, const ProtobufCMessage *m);

static void new_chunk(struct enc *e, size_t n)
{
	size_t size = e->next_size;
	while (size < n)
		size *= 2;
	if (e->next_size < ((size_t)1 << 20))
		e->next_size *= 2;
	/*
	 * Large chunks are mapped, not malloc'd, so that each goes back to the
	 * system once copied to the output (malloc may keep freed memory).
	 */
	struct chunk *c;
	size_t total = sizeof *c + size;
	if (size < BIG_CHUNK) {
		c = malloc(total);
		if (!c)
			oom();
		c->mapped = 0;
	} else {
		c = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			oom();
		c->mapped = total;
	}
	if (e->chunk) {
		e->chunk->from = e->ptr;
		e->done += (size_t)(e->chunk->end - e->ptr);
	}
	c->prev = e->chunk;
	c->end = c->data + size;
	e->chunk = c;
	e->lim = c->data;
	e->ptr = c->end;
}

/*
 * The first chunk of an output that goes to an empty buffer: one mapping as
 * large as the output may be, of which only the pages written are ever
 * touched; the buffer then adopts it, so the output is not copied.
 */
#define MAPPED_MAX ((size_t)4 << 30)

static bool map_chunk(struct enc *e, size_t max)
{
	size_t size = max && max < MAPPED_MAX ? max + ROOM : MAPPED_MAX;
	size_t total = sizeof(struct chunk) + size;
	struct chunk *c = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			       -1, 0);
	if (c == MAP_FAILED)
		return false;
	/* Huge pages below the top 2 MiB: small outputs stay cheap, large ones
	 * take a fault per 2 MiB instead of per 4 KiB. */
	size_t top = (size_t)2 << 20;
	if (total > 2 * top)
		madvise(c, (total - top) & ~(top - 1), MADV_HUGEPAGE);
	c->mapped = total;
	c->prev = NULL;
	c->end = c->data + size;
	e->chunk = c;
	e->lim = c->data;
	e->ptr = c->end;
	return true;
}

/*
 * The first chunk of an output appended to a buffer that has room for it:
 * that room, written from its end; the bytes move down once their length is
 * known.  serve reuses one reply buffer call after call, so its replies take
 * no chunk and touch no new page.  Past the room, chunks are allocated as
 * usual (the borrowed one then holds the output's last bytes).
 */
#define BORROW_MIN ((size_t)4 << 10)

static bool borrow_chunk(struct enc *e, struct eds_buf *out)
{
	if (!out->data || out->overflow || out->cap - out->len < BORROW_MIN)
		return false;
	struct chunk *c = malloc(sizeof *c);
	if (!c)
		oom();
	c->mapped = 0; /* (only the header is this chunk's: free_chunk frees it) */
	c->prev = NULL;
	c->end = (uint8_t *)out->data + out->cap;
	e->chunk = c;
	e->lim = (uint8_t *)out->data + out->len;
	e->ptr = c->end;
	return true;
}

static void free_chunk(struct chunk *c)
{
	if (c->mapped)
		munmap(c, c->mapped);
	else
		free(c);
}

/* Bytes written so far. */
static inline size_t written(const struct enc *e)
{
	return e->done + (size_t)(e->chunk->end - e->ptr);
}

/* Make sure n bytes fit below ptr (a value is never split across chunks). */
static inline void room(struct enc *e, size_t n)
{
	if ((size_t)(e->ptr - e->lim) < n)
		new_chunk(e, n);
}

static inline void back_varint(struct enc *e, uint64_t v)
{
	e->ptr -= varint_size(v);
	put_varint(e->ptr, v);
}

static inline void back_bytes(struct enc *e, const void *p, size_t n)
{
	e->ptr -= n;
	if (n)
		memcpy(e->ptr, p, n);
}

/* One value of fp at v, without its tag; ROOM bytes are free below ptr. */
static inline void back_value(struct enc *e, struct fplan *fp, const void *v)
{
	switch ((enum how)fp->how) {
	case H_U32: back_varint(e, *(const uint32_t *)v); break;
	case H_I32: back_varint(e, (uint64_t)(int64_t)*(const int32_t *)v); break; /* sign-extended */
	case H_S32: back_varint(e, zigzag32(*(const int32_t *)v)); break;
	case H_U64: back_varint(e, *(const uint64_t *)v); break;
	case H_S64: back_varint(e, zigzag64(*(const int64_t *)v)); break;
	case H_F32: back_bytes(e, v, 4); break;
	case H_F64: back_bytes(e, v, 8); break;
	case H_BOOL: *--e->ptr = *(const protobuf_c_boolean *)v ? 1 : 0; break;
	case H_STR: {
		const char *s = *(const char *const *)v;
		size_t len = s ? strlen(s) : 0;
		room(e, len + ROOM);
		back_bytes(e, s, len);
		back_varint(e, len);
		break;
	}
	case H_BYTES: {
		const ProtobufCBinaryData *bd = v;
		room(e, bd->len + ROOM);
		back_bytes(e, bd->data, bd->len);
		back_varint(e, bd->len);
		break;
	}
	case H_MSG: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)v;
		size_t len = 0;
		if (sub && e->spans && !sub->n_unknown_fields && sub->unknown_fields) {
			uintptr_t span = (uintptr_t)sub->unknown_fields;
			len = span >> SPAN_ADDR_BITS;
			room(e, len + ROOM);
			back_bytes(e, (const void *)(span & (((uintptr_t)1 << SPAN_ADDR_BITS) - 1)), len);
		} else if (sub && sub == e->memo) {
			len = e->memo_len;
			room(e, len + ROOM);
			back_bytes(e, e->memo_at, len);
		} else if (sub) {
			size_t before = written(e);
			const struct chunk *c = e->chunk;
			struct mplan *sp = atomic_load_explicit(&fp->sub, memory_order_acquire);
			if (!sp || sp->desc != sub->descriptor) {
				sp = plan_for(sub->descriptor);
				atomic_store_explicit(&fp->sub, sp, memory_order_release);
			}
			back_message(e, sp, sub);
			len = written(e) - before;
			if (sub->descriptor == &envoy__config__core__v3__metadata__descriptor && e->chunk == c) {
				e->memo = sub; /* (its bytes are in one chunk) */
				e->memo_at = e->ptr;
				e->memo_len = len;
			}
			room(e, ROOM);
		}
		back_varint(e, len);
		break;
	}
	}
}

static inline void back_key(struct enc *e, const struct fplan *fp)
{
	/* ROOM bytes are free below ptr: the bytes before the key are scratch */
	memcpy(e->ptr - sizeof fp->key, fp->key, sizeof fp->key);
	e->ptr -= fp->keylen;
}

static void back_field(struct enc *e, struct fplan *fp, const char *base)
{
	if (!fp->repeated) {
		room(e, ROOM);
		back_value(e, fp, base + fp->off);
		back_key(e, fp);
		return;
	}
	size_t count = *(const size_t *)(base + fp->toff);
	const char *arr = *(const char *const *)(base + fp->off);
	size_t esz = how_size[fp->how];
	if (fp->repeated == 2) {
		size_t before = written(e);
		for (size_t k = count; k-- > 0;) {
			room(e, ROOM);
			back_value(e, fp, arr + k * esz);
		}
		room(e, ROOM);
		back_varint(e, written(e) - before);
		back_key(e, fp);
		return;
	}
	for (size_t k = count; k-- > 0;) {
		room(e, ROOM);
		back_value(e, fp, arr + k * esz);
		back_key(e, fp);
	}
}

static void back_message(struct enc *e, struct mplan *pl, const ProtobufCMessage *m)
{
	const char *base = (const char *)m;

	for (size_t i = m->n_unknown_fields; i-- > 0;) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		room(e, u->len + ROOM);
		back_bytes(e, u->data, u->len);
		back_varint(e, ((uint64_t)u->tag << 3) | u->wire_type);
	}
	for (unsigned i = pl->n; i-- > 0;) {
		struct fplan *fp = &pl->f[i];
		if (present(base, fp))
			back_field(e, fp, base);
	}
}

/* Copy e's output to `to` (the newest chunk holds the first bytes),
 * freeing each chunk once copied. */
static void drain(struct enc *e, char *to)
{
	while (e->chunk) {
		struct chunk *c = e->chunk;
		size_t k = (size_t)(c->end - c->from);
		if (k)
			memcpy(to, c->from, k);
		to += k;
		e->chunk = c->prev;
		free_chunk(c);
	}
}

uint8_t *eds_bin_pack(const ProtobufCMessage *msg, struct eds_arena *arena, size_t *len)
{
	struct enc e = { .next_size = 512 };
	new_chunk(&e, ROOM);
	back_message(&e, plan_for(msg->descriptor), msg);
	*len = written(&e);
	e.chunk->from = e.ptr;
	uint8_t *buf = eds_arena_alloc(arena, *len ? *len : 1);
	drain(&e, (char *)buf);
	return buf;
}

int eds_bin_encode(const ProtobufCMessage *msg, const struct eds_encode_opts *opts,
		   struct eds_buf *out, struct eds_diag *d)
{
	struct enc e = { .next_size = (size_t)64 << 10, .spans = opts && opts->reuse_spans };
	int rc = EDS_OK;

	bool adopt = !out->data && !out->len && !out->overflow && map_chunk(&e, out->max);
	bool borrowed = !adopt && borrow_chunk(&e, out);
	if (!adopt && !borrowed)
		new_chunk(&e, ROOM);
	back_message(&e, plan_for(msg->descriptor), msg);
	size_t n = written(&e);
	e.chunk->from = e.ptr;
	/* where the borrowed room's bytes are, as an offset: reserve may move them */
	struct chunk *b = e.chunk;
	while (b->prev)
		b = b->prev;
	size_t bk = (size_t)(b->end - b->from), boff = borrowed ? (size_t)((char *)b->from - out->data) : 0;
	if (adopt && !e.chunk->prev && (!out->max || n <= out->max)) {
		/* give back the untouched pages below the output */
		struct chunk *c = e.chunk;
		uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
		char *map = (char *)c, *keep = (char *)((uintptr_t)e.ptr & ~(page - 1));
		size_t maplen = c->mapped;
		e.chunk = NULL;
		if (keep > map + page) {
			munmap(map, (size_t)(keep - map));
			maplen -= (size_t)(keep - map);
			map = keep;
		}
		eds_buf_adopt(out, map, maplen, (char *)e.ptr, n);
	} else if (eds_buf_reserve(out, n) < 0) {
		rc = eds_diag_setf(d, EDS_E_LIMIT, "output of %zu bytes is larger than the limit of %zu",
				   out->len + n, out->max);
	} else if (borrowed) {
		/* The borrowed room, the oldest chunk, holds the last bytes: they
		 * go to the end of the output first, then the newer chunks' bytes
		 * before them. */
		char *at = out->data + out->len;
		memmove(at + n - bk, out->data + boff, bk);
		for (struct chunk *c = e.chunk; c != b; c = c->prev) {
			memcpy(at, c->from, (size_t)(c->end - c->from));
			at += c->end - c->from;
		}
		out->len += n;
	} else {
		drain(&e, out->data + out->len);
		out->len += n;
	}
	while (e.chunk) {
		struct chunk *prev = e.chunk->prev;
		free_chunk(e.chunk);
		e.chunk = prev;
	}
	return rc;
}
