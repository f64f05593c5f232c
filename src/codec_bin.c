/*
 * Binary protobuf.  protobuf-c does the unpacking and packing; it gives no
 * reason when input is malformed and it recurses without a depth limit, so a
 * validating pre-scan walks the wire data first against the descriptor: it
 * reports the first problem with its byte offset and field path (truncation,
 * bad varint, wrong wire type, invalid UTF-8, nesting too deep) and only then
 * lets protobuf-c build the message in the arena.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

struct scan {
	bool needs_merge; /* a singular message field occurs more than once */
	const struct eds_src *src;
	const struct eds_limits *lim;
	struct eds_diag *d;
	struct eds_path path;
};

static const char *wire_names[] = { "varint", "64-bit", "length-delimited", "start-group",
				     "end-group", "32-bit", "6", "7" };

/* Reads a varint at p (< end); returns bytes used, 0 if bad or truncated. */
static size_t get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < 10; i++) {
		if (p + i >= end)
			return 0;
		r |= (uint64_t)(p[i] & 0x7F) << (7 * i);
		if (!(p[i] & 0x80)) {
			if (i == 9 && p[i] > 1)
				return 0;
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

static int wire_type_for(const ProtobufCFieldDescriptor *f)
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
static int fail(struct scan *s, enum eds_code code, size_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->d->msg, sizeof s->d->msg, fmt, ap);
	va_end(ap);
	s->d->code = code;
	eds_diag_path(s->d, &s->path);
	return eds_diag_offset(s->d, s->src, off);
}

static int scan_message(struct scan *s, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
			const uint8_t *end, unsigned depth)
{
	const uint8_t *base = (const uint8_t *)s->src->text;
	uint32_t counts[32] = { 0 };

	if (depth > s->lim->max_depth) {
		return fail(s, EDS_E_LIMIT, (size_t)(p - base),
			    "messages nested deeper than %u levels (--max-depth) in %s",
			    s->lim->max_depth, desc->name);
	}
	while (p < end) {
		size_t at = (size_t)(p - base);
		uint64_t tag;
		size_t n = get_varint(p, end, &tag);
		if (!n)
			return fail(s, EDS_E_DECODE, at, "truncated or malformed field tag in %s",
				    desc->name);
		p += n;
		unsigned wt = (unsigned)(tag & 7);
		uint64_t num = tag >> 3;
		if (num == 0 || num > 536870911)
			return fail(s, EDS_E_DECODE, at, "invalid field number %llu in %s",
				    (unsigned long long)num, desc->name);
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(desc, (unsigned)num);
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
		if (f) {
			int want = wire_type_for(f);
			int packed = (f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && wt == 2);
			if ((int)wt != want && !packed) {
				return fail(s, EDS_E_DECODE, at,
					    "wrong wire type %s for field \"%s\" (expected %s)",
					    wire_names[wt], fname, wire_names[want]);
			}
		}
		uint64_t v;
		switch (wt) {
		case 0:
			n = get_varint(p, end, &v);
			if (!n)
				return fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated or malformed varint in field \"%s\"", fname);
			p += n;
			break;
		case 1:
			if (end - p < 8)
				return fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated 64-bit value in field \"%s\"", fname);
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated 32-bit value in field \"%s\"", fname);
			p += 4;
			break;
		case 2: {
			n = get_varint(p, end, &v);
			if (!n)
				return fail(s, EDS_E_DECODE, (size_t)(p - base),
					    "truncated or malformed length of field \"%s\"", fname);
			p += n;
			if (v > (uint64_t)(end - p))
				return fail(s, EDS_E_DECODE, at,
					    "field \"%s\" runs past the end of its message (truncated input?)",
					    fname);
			const uint8_t *q = p + v;
			if (f && f->type == PROTOBUF_C_TYPE_STRING) {
				size_t ok = eds_utf8_valid_prefix((const char *)p, (size_t)v);
				if (ok < v)
					return fail(s, EDS_E_DECODE, (size_t)(p - base) + ok,
						    "invalid UTF-8 in string field \"%s\"", fname);
				if (memchr(p, 0, (size_t)v))
					return fail(s, EDS_E_DECODE,
						    (size_t)((const uint8_t *)memchr(p, 0, (size_t)v) - base),
						    "string field \"%s\" contains a NUL character (not supported)",
						    fname);
			} else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				int rc = scan_message(s, f->descriptor, p, q, depth + 1);
				if (rc)
					return rc;
			}
			p = q;
			break;
		}
		default:
			return fail(s, EDS_E_DECODE, at, "unsupported wire type %s in field \"%s\"",
				    wire_names[wt], fname);
		}
		if (f)
			eds_path_pop(&s->path);
	}
	return EDS_OK;
}

static void put_varint(struct eds_buf *b, uint64_t v)
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
struct wfield {
	const uint8_t *start, *payload, *end;
	uint64_t num;
	unsigned wt;
};

static const uint8_t *next_field(const uint8_t *p, const uint8_t *end, struct wfield *w)
{
	uint64_t tag = 0, v = 0;
	w->start = p;
	p += get_varint(p, end, &tag);
	w->num = tag >> 3;
	w->wt = (unsigned)(tag & 7);
	w->payload = p;
	switch (w->wt) {
	case 0: p += get_varint(p, end, &v); break;
	case 1: p += 8; break;
	case 5: p += 4; break;
	default:
		p += get_varint(p, end, &v);
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
 * which is what merging means on the wire.
 */
static void normalize(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
		      const uint8_t *end, struct eds_buf *out)
{
	struct wfield w, x;
	for (const uint8_t *q = p; q < end;) {
		q = next_field(q, end, &w);
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(desc, (unsigned)w.num);
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
				r = next_field(r, end, &x);
				later = x.num == w.num;
			}
			if (later)
				continue; /* emitted with the last occurrence */
			for (const uint8_t *r = p; r < q;) {
				r = next_field(r, end, &x);
				if (x.num == w.num && x.wt == 2)
					eds_buf_append(&payload, x.payload, (size_t)(x.end - x.payload));
			}
		}
		struct eds_buf sub = { 0 };
		normalize(f->descriptor, (const uint8_t *)payload.data,
			  (const uint8_t *)payload.data + payload.len, &sub);
		put_varint(out, (w.num << 3) | 2);
		put_varint(out, sub.len);
		eds_buf_append(out, sub.data, sub.len);
		eds_buf_release(&sub);
		eds_buf_release(&payload);
	}
}

int eds_bin_decode(const ProtobufCMessageDescriptor *desc, const struct eds_src *src,
		   struct eds_arena *arena, const struct eds_limits *lim, ProtobufCMessage **out,
		   struct eds_diag *d)
{
	struct scan s = { .src = src, .lim = lim, .d = d };
	const uint8_t *p = (const uint8_t *)src->text;
	if (src->len > lim->max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)",
			      src->len, lim->max_input);
		return eds_diag_offset(d, src, lim->max_input);
	}
	int rc = scan_message(&s, desc, p, p + src->len, 1);
	if (rc)
		return rc;
	if (s.needs_merge) {
		struct eds_buf norm = { 0 };
		normalize(desc, p, p + src->len, &norm);
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

int eds_bin_encode(const ProtobufCMessage *msg, const struct eds_encode_opts *opts,
		   struct eds_buf *out, struct eds_diag *d)
{
	(void)opts;
	size_t n = protobuf_c_message_get_packed_size(msg);
	if (eds_buf_reserve(out, n) < 0)
		return eds_diag_setf(d, EDS_E_LIMIT, "output of %zu bytes is larger than the limit of %zu",
				     out->len + n, out->max);
	protobuf_c_message_pack(msg, (uint8_t *)out->data + out->len);
	out->len += n;
	return EDS_OK;
}
