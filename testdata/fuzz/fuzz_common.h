/*
 * Shared by the libFuzzer targets testdata/fuzz/fuzz_*.c (built by
 * scripts/fuzz): failure reporting, the round-trip property of the four
 * codecs, and the fixed rules the evaluation and serve targets run.
 *
 * A target reports a property violation with fz_fail(), which prints what
 * it saw and aborts, so libFuzzer saves the input as a crash.  Everything a
 * target allocates per input lives in one arena freed at the end of the
 * input, or in eds_bufs/diags released there: a leak is a failure (ASan's
 * leak checker runs at exit and on every crash).
 *
 * The round trip (fz_roundtrip): a decoded CLA is written as binary, text and
 * JSON.  Binary must read back to the same bytes.  Text and JSON are read
 * back and printed again, and must print the same (the printers are
 * deterministic, and whatever they print reads back to the same message);
 * the message read back, written as binary, must equal the original's
 * binary as messages: both sides with (a) every NaN made the NaN the parsers
 * return (text and JSON print NaN without its payload), (b) every
 * google.protobuf.Any of a known type re-packed (text and JSON expand Any,
 * so its value comes back in canonical field order), (c) map entries sorted
 * by key (the text printer sorts them, as protoc does) with one entry per
 * key (the last, as protobuf parsers keep; the JSON printer prints a key
 * once), a missing message value in a map entry made an empty message (text
 * and JSON print one), (d) unknown fields dropped: JSON cannot carry them,
 * and text carries them as protoc prints them, re-encoded canonically
 * (non-minimal varints do not survive), so for text the "printed the same"
 * check is what covers them, and (e) for JSON, every
 * google.protobuf.NullValue made 0 and every google.protobuf.Value without
 * a kind made null (JSON prints both as null, as protobuf does).  A message
 * whose unknown fields hold a group skips the text leg: "14 { }" reads back
 * as an empty length-delimited field (fz_has_group).  A JSON encoding that
 * fails with EDS_E_ENCODE (NaN or Infinity in a google.protobuf.Value, an
 * Any of an unknown type, a Duration out of range) skips the JSON leg; any
 * other failure is a bug.  YAML (printed from the encoder's JSON, read
 * back through the JSON decoder) is held to what JSON is: printed twice
 * the same, read back equal under (a)-(e), and skipped exactly when JSON
 * is (fz_yaml_leg).
 */
#ifndef EDS_FUZZ_COMMON_H
#define EDS_FUZZ_COMMON_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "codec.h"
#include "diag.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/struct.pb-c.h"
#include "schema.h"

#define FZ_UNUSED __attribute__((unused))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

FZ_UNUSED static void fz_dump(const char *what, const char *p, size_t n)
{
	fprintf(stderr, "--- %s (%zu bytes):\n", what, n);
	size_t show = n > 4096 ? 4096 : n;
	for (size_t i = 0; i < show; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\n' || (c >= 0x20 && c < 0x7F))
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02X", c);
	}
	fprintf(stderr, "%s\n", show < n ? "..." : "");
}

__attribute__((format(printf, 1, 2), noreturn)) FZ_UNUSED static void fz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz property violated: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

FZ_UNUSED static void fz_fail_diag(const char *what, int rc, const struct eds_diag *d)
{
	fz_fail("%s failed with code %d: %s (path \"%s\", loc %d at %u..%u)", what, rc, d->msg, d->path,
		(int)d->loc, d->span.start, d->span.end);
}

/* ---- normalising a message for comparison (see the header comment) ---- */

FZ_UNUSED static void fz_norm_msg(ProtobufCMessage *m, struct eds_arena *a, int strip, unsigned depth);

FZ_UNUSED static void fz_norm_nan(void *p, ProtobufCType t)
{
	if (t == PROTOBUF_C_TYPE_DOUBLE && isnan(*(double *)p))
		*(double *)p = NAN;
	else if (t == PROTOBUF_C_TYPE_FLOAT && isnan(*(float *)p))
		*(float *)p = NAN;
}

FZ_UNUSED static void fz_norm_any(Google__Protobuf__Any *any, struct eds_arena *a, int strip, unsigned depth)
{
	if (!any->type_url)
		return;
	const ProtobufCMessageDescriptor *inner = eds_schema_find_url(any->type_url, strlen(any->type_url));
	if (!inner || depth > 200)
		return;
	ProtobufCMessage *m = protobuf_c_message_unpack(inner, eds_arena_pbc(a), any->value.len,
							 any->value.data);
	if (!m)
		return;
	fz_norm_msg(m, a, strip, depth + 1);
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = eds_arena_alloc(a, n ? n : 1);
	protobuf_c_message_pack(m, b);
	any->value.data = b;
	any->value.len = n;
}

/* protobuf-c does not mark map entries: a nested "...Entry" with key = 1, value = 2. */
FZ_UNUSED static int fz_is_map_entry(const ProtobufCMessageDescriptor *d)
{
	size_t n = strlen(d->name);
	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && d->n_fields == 2 &&
	       d->fields[0].id == 1 && d->fields[1].id == 2 && strcmp(d->fields[0].name, "key") == 0;
}

FZ_UNUSED static int fz_key_cmp(const ProtobufCMessage *x, const ProtobufCMessage *y)
{
	const ProtobufCFieldDescriptor *k = &x->descriptor->fields[0];
	const char *px = (const char *)x + k->offset, *py = (const char *)y + k->offset;
	switch (k->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *sx = *(char *const *)px, *sy = *(char *const *)py;
		return strcmp(sx ? sx : "", sy ? sy : "");
	}
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t vx = *(const int64_t *)px, vy = *(const int64_t *)py;
		return (vx > vy) - (vx < vy);
	}
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t vx = *(const uint64_t *)px, vy = *(const uint64_t *)py;
		return (vx > vy) - (vx < vy);
	}
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t vx = *(const uint32_t *)px, vy = *(const uint32_t *)py;
		return (vx > vy) - (vx < vy);
	}
	case PROTOBUF_C_TYPE_BOOL:
		return (int)*(const protobuf_c_boolean *)px - (int)*(const protobuf_c_boolean *)py;
	default: {
		int32_t vx = *(const int32_t *)px, vy = *(const int32_t *)py;
		return (vx > vy) - (vx < vy);
	}
	}
}

/* A map entry without a value has the default value: an empty message is
 * what text and JSON print for it, and read back. */
FZ_UNUSED static void fz_map_value(ProtobufCMessage *e, struct eds_arena *a)
{
	const ProtobufCFieldDescriptor *v = &e->descriptor->fields[1];
	ProtobufCMessage **p = (ProtobufCMessage **)((char *)e + v->offset);
	if (v->type != PROTOBUF_C_TYPE_MESSAGE || *p)
		return;
	const ProtobufCMessageDescriptor *d = v->descriptor;
	*p = eds_arena_zalloc(a, d->sizeof_message);
	protobuf_c_message_init(d, *p);
}

/* Stable (merge) sort of a map's entries by key, then the last of each key
 * kept (the text printer sorts them, as protoc does; a repeated key is
 * replaced, as protobuf parsers do, and the JSON printer prints it once).
 * Returns the new count. */
FZ_UNUSED static size_t fz_sort_map(ProtobufCMessage **v, size_t n, struct eds_arena *a)
{
	ProtobufCMessage **tmp = eds_arena_alloc(a, n * sizeof *tmp);
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo + w < n; lo += 2 * w) {
			size_t mid = lo + w, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				tmp[k++] = fz_key_cmp(v[j], v[i]) < 0 ? v[j++] : v[i++];
			while (i < mid)
				tmp[k++] = v[i++];
			while (j < hi)
				tmp[k++] = v[j++];
			memcpy(v + lo, tmp + lo, (hi - lo) * sizeof *v);
		}
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && fz_key_cmp(v[i], v[i + 1]) == 0)
			continue;
		v[k++] = v[i];
	}
	return k;
}

FZ_UNUSED static void fz_norm_msg(ProtobufCMessage *m, struct eds_arena *a, int strip, unsigned depth)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	if (strip) {
		m->n_unknown_fields = 0;
		m->unknown_fields = NULL;
	}
	if (strip && eds_schema_wkt(desc) == EDS_WKT_VALUE) {
		/* JSON prints a Value without a kind as null, as protobuf does */
		Google__Protobuf__Value *v = (Google__Protobuf__Value *)m;
		if (v->kind_case == GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET) {
			v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
			v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
		}
	}
	if (eds_schema_wkt(desc) == EDS_WKT_ANY) {
		fz_norm_any((Google__Protobuf__Any *)m, a, strip, depth);
		return;
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		char *base = (char *)m + f->offset;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			if (*(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)((char *)m + f->quantifier_offset);
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				ProtobufCMessage **v = *(ProtobufCMessage ***)base;
				int map = fz_is_map_entry(f->descriptor);
				for (size_t j = 0; j < n; j++) {
					if (map)
						fz_map_value(v[j], a);
					fz_norm_msg(v[j], a, strip, depth + 1);
				}
				if (map)
					*(size_t *)((char *)m + f->quantifier_offset) = fz_sort_map(v, n, a);
			} else if (f->type == PROTOBUF_C_TYPE_DOUBLE) {
				for (size_t j = 0; j < n; j++)
					fz_norm_nan(*(double **)base + j, f->type);
			} else if (f->type == PROTOBUF_C_TYPE_FLOAT) {
				for (size_t j = 0; j < n; j++)
					fz_norm_nan(*(float **)base + j, f->type);
			}
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			ProtobufCMessage *sub = *(ProtobufCMessage **)base;
			if (sub)
				fz_norm_msg(sub, a, strip, depth + 1);
		} else if (f->type == PROTOBUF_C_TYPE_ENUM) {
			/* JSON prints any NullValue as null, which reads back as 0 */
			if (strip && strcmp(((const ProtobufCEnumDescriptor *)f->descriptor)->name,
					    "google.protobuf.NullValue") == 0)
				*(int *)base = 0;
		} else {
			fz_norm_nan(base, f->type);
		}
	}
}

/* Does an unknown length-delimited payload, which the text printer shows
 * as a nested message when it parses as one (as protoc does), hold a group?
 * "14 { }" reads back as an empty length-delimited field, not a group: the
 * text format cannot tell them apart, so such inputs skip the text leg. */
/* 1: p[0..n) parses as fields and holds a group where the printer would
 * show it; 0: parses, no group; -1: does not parse (printed as a string). */
FZ_UNUSED static int fz_ld_has_group(const uint8_t *p, size_t n, unsigned budget)
{
	size_t i = 0;
	int group = 0;
	while (i < n) {
		uint64_t tag = 0, v = 0;
		unsigned sh = 0;
		while (i < n && sh < 64) {
			tag |= (uint64_t)(p[i] & 0x7F) << sh;
			sh += 7;
			if (!(p[i++] & 0x80))
				break;
		}
		if ((tag >> 3) == 0)
			return -1;
		switch (tag & 7) {
		case 0:
			while (i < n && (p[i] & 0x80))
				i++;
			if (i++ >= n)
				return -1;
			break;
		case 1:
		case 5:
			if (n - i < ((tag & 7) == 1 ? 8u : 4u))
				return -1;
			i += (tag & 7) == 1 ? 8 : 4;
			break;
		case 2:
			sh = 0;
			while (i < n && sh < 64) {
				v |= (uint64_t)(p[i] & 0x7F) << sh;
				sh += 7;
				if (!(p[i++] & 0x80))
					break;
			}
			if (v > n - i)
				return -1;
			if (budget && fz_ld_has_group(p + i, (size_t)v, budget - 1) == 1)
				group = 1;
			i += (size_t)v;
			break;
		case 3:
		case 4:
			group = 1;
			break;
		default:
			return -1;
		}
	}
	return group;
}

FZ_UNUSED static int fz_has_group(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
		if ((unsigned)u->wire_type == 3)
			return 1;
		if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
			continue;
		/* protobuf-c keeps the length prefix in data */
		size_t k = 0;
		while (k < u->len && (u->data[k] & 0x80))
			k++;
		if (k < u->len && fz_ld_has_group(u->data + k + 1, u->len - k - 1, 10) == 1)
			return 1;
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const char *base = (const char *)m + f->offset;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)base;
			for (size_t j = 0; j < n; j++)
				if (fz_has_group(v[j]))
					return 1;
		} else if (*(ProtobufCMessage *const *)base && fz_has_group(*(ProtobufCMessage *const *)base)) {
			return 1;
		}
	}
	return 0;
}

/* ---- the round trip ---- */

FZ_UNUSED static void fz_encode(eds_encode_fn *enc, const char *what, const ProtobufCMessage *m,
		      const struct eds_encode_opts *o, struct eds_buf *out)
{
	struct eds_diag d = { 0 };
	out->len = 0;
	out->overflow = 0;
	int rc = enc(m, o, out, &d);
	if (rc)
		fz_fail_diag(what, rc, &d);
}

FZ_UNUSED static ProtobufCMessage *fz_decode(eds_decode_fn *dec, const char *what, const struct eds_buf *b,
				   struct eds_arena *a)
{
	struct eds_src src = { .name = what, .text = b->data, .len = b->len };
	struct eds_diag d = { 0 };
	ProtobufCMessage *m = NULL;
	int rc = dec(eds_schema_cla, &src, a, &eds_limits_default, &m, &d);
	if (rc) {
		fz_dump(what, b->data, b->len);
		fz_fail_diag(what, rc, &d);
	}
	return m;
}

FZ_UNUSED static void fz_same(const char *what, const struct eds_buf *want, const struct eds_buf *got,
		    const struct eds_buf *via)
{
	if (want->len == got->len && (!want->len || memcmp(want->data, got->data, want->len) == 0))
		return;
	size_t i = 0;
	while (i < want->len && i < got->len && want->data[i] == got->data[i])
		i++;
	fprintf(stderr, "--- first difference at byte %zu\n", i);
	/* FZ_DUMP=PREFIX: also write PREFIX.want/.got/.via for protoc --decode and diff */
	const char *dump = getenv("FZ_DUMP");
	const struct eds_buf *files[] = { want, got, via };
	static const char *const ext[] = { "want", "got", "via" };
	for (int k = 0; dump && k < 3; k++) {
		char path[4096];
		snprintf(path, sizeof path, "%s.%s", dump, ext[k]);
		FILE *fp = files[k] ? fopen(path, "wb") : NULL;
		if (fp) {
			fwrite(files[k]->data ? files[k]->data : "", 1, files[k]->len, fp);
			fclose(fp);
		}
	}
	fz_dump("expected", want->data, want->len);
	fz_dump("got", got->data, got->len);
	if (via)
		fz_dump("via", via->data, via->len);
	fz_fail("%s: not the same bytes", what);
}

/* The same input decoded alone (rc[0], d[0]) and with a second thread
 * (rc[1], d[1]): the same verdict and diagnostic. */
FZ_UNUSED static void fz_same_verdict(const char *how, const int rc[2], const struct eds_diag d[2])
{
	if (rc[0] != rc[1] || strcmp(d[0].msg, d[1].msg) || strcmp(d[0].path, d[1].path) ||
	    d[0].span.start != d[1].span.start || d[0].span.end != d[1].span.end)
		fz_fail("%s: %d \"%s\" at %u (%s), alone: %d \"%s\" at %u (%s)", how, rc[1], d[1].msg,
			d[1].span.start, d[1].path, rc[0], d[0].msg, d[0].span.start, d[0].path);
}

/* src decoded by dec twice into a[k]: alone (k = 0) and with a second
 * thread from the first byte on (k = 1; *ahead_min is that decoder's
 * threshold, restored afterwards). */
FZ_UNUSED static void fz_decode_twice(eds_decode_fn *dec, size_t *ahead_min, const struct eds_src *src,
				      struct eds_arena *const a[2], ProtobufCMessage *m[2], int rc[2],
				      struct eds_diag d[2])
{
	size_t keep = *ahead_min;
	for (int k = 0; k < 2; k++) {
		*ahead_min = k ? 1 : SIZE_MAX;
		m[k] = NULL;
		d[k] = (struct eds_diag){ 0 };
		rc[k] = dec(eds_schema_cla, src, a[k], &eds_limits_default, &m[k], &d[k]);
	}
	*ahead_min = keep;
}

/* The binary of m normalised for comparison (m is changed). */
FZ_UNUSED static void fz_canon(ProtobufCMessage *m, struct eds_arena *a, int strip, struct eds_buf *out)
{
	struct eds_encode_opts o = { 0 };
	fz_norm_msg(m, a, strip, 0);
	fz_encode(eds_bin_encode, "binary encode (normalised)", m, &o, out);
}

/* The YAML leg of the round trip: m as YAML must read back as mb (its
 * binary re-decode) does, and print the same again; YAML must be writable
 * exactly when JSON is (json_ok). */
FZ_UNUSED static void fz_yaml_leg(const ProtobufCMessage *m, ProtobufCMessage *mb, struct eds_arena *a,
				   const struct eds_encode_opts *o, int json_ok)
{
	struct eds_buf ys = { 0 }, ys2 = { 0 }, b1 = { 0 }, ref = { 0 };
	struct eds_diag d = { 0 };
	int rc = eds_yaml_encode(m, o, &ys, &d);
	if (rc && rc != EDS_E_ENCODE)
		fz_fail_diag("yaml encode", rc, &d);
	if ((rc == EDS_OK) != !!json_ok)
		fz_fail("yaml encode %s where json encode %s: %s", rc ? "failed" : "succeeded",
			json_ok ? "succeeded" : "failed", rc ? d.msg : "");
	if (rc == EDS_OK) {
		ProtobufCMessage *my = fz_decode(eds_yaml_decode, "yaml decode of our own output", &ys, a);
		fz_encode(eds_yaml_encode, "yaml encode after yaml", my, o, &ys2);
		fz_same("yaml printed twice", &ys, &ys2, NULL);
		fz_canon(my, a, 1, &b1);
		fz_canon(mb, a, 1, &ref);
		fz_same("yaml", &ref, &b1, &ys);
	}
	eds_buf_release(&ys);
	eds_buf_release(&ys2);
	eds_buf_release(&b1);
	eds_buf_release(&ref);
}

/* m: a CLA just decoded (in a); opt_bits picks the printers' options. */
FZ_UNUSED static void fz_roundtrip(ProtobufCMessage *m, struct eds_arena *a, unsigned opt_bits)
{
	struct eds_encode_opts o = { .pretty = opt_bits & 1, .proto_names = (opt_bits >> 1) & 1 };
	struct eds_buf b0 = { 0 }, b1 = { 0 }, txt = { 0 }, txt2 = { 0 }, js = { 0 }, js2 = { 0 },
		       ref = { 0 };
	struct eds_diag d = { 0 };

	/* binary: decode(encode(m)) encodes to the same bytes */
	fz_encode(eds_bin_encode, "binary encode", m, &o, &b0);
	ProtobufCMessage *mb = fz_decode(eds_bin_decode, "binary re-decode", &b0, a);
	fz_encode(eds_bin_encode, "binary re-encode", mb, &o, &b1);
	fz_same("binary -> binary", &b0, &b1, NULL);

	/* text */
	fz_encode(eds_text_encode, "text encode", m, &o, &txt);
	if (fz_has_group(m))
		goto json;
	ProtobufCMessage *mt = fz_decode(eds_text_decode, "text decode of our own output", &txt, a);
	fz_encode(eds_text_encode, "text encode after text", mt, &o, &txt2);
	fz_same("text printed twice", &txt, &txt2, NULL);
	fz_canon(mt, a, 1, &b1);
	fz_canon(mb, a, 1, &ref);
	fz_same("text", &ref, &b1, &txt);

json:
	js.len = 0;
	int rc = eds_json_encode(m, &o, &js, &d);
	if (rc && rc != EDS_E_ENCODE)
		fz_fail_diag("json encode", rc, &d);
	if (rc == EDS_OK) {
		ProtobufCMessage *mj = fz_decode(eds_json_decode, "json decode of our own output", &js, a);
		fz_encode(eds_json_encode, "json encode after json", mj, &o, &js2);
		fz_same("json printed twice", &js, &js2, NULL);
		fz_canon(mj, a, 1, &b1);
		fz_canon(mb, a, 1, &ref);
		fz_same("json", &ref, &b1, &js);
	}
	fz_yaml_leg(m, mb, a, &o, rc == EDS_OK);

	eds_buf_release(&b0);
	eds_buf_release(&b1);
	eds_buf_release(&txt);
	eds_buf_release(&txt2);
	eds_buf_release(&js);
	eds_buf_release(&js2);
	eds_buf_release(&ref);
}

/* Decode data as a CLA with dec; run the round trip if it decodes. */
FZ_UNUSED static int fz_decoder_target(eds_decode_fn *dec, const char *name, const uint8_t *data, size_t size)
{
	struct eds_arena *a = eds_arena_new(1 << 16);
	struct eds_src src = { .name = name, .text = (const char *)data, .len = size };
	struct eds_diag d = { 0 };
	ProtobufCMessage *m = NULL;
	int rc = dec(eds_schema_cla, &src, a, &eds_limits_default, &m, &d);
	if (rc == EDS_OK) {
		fz_roundtrip(m, a, size ? data[size - 1] : 0);
	} else {
		if (rc != EDS_E_DECODE && rc != EDS_E_LIMIT)
			fz_fail_diag(name, rc, &d);
		if (d.loc == EDS_LOC_SPAN && (d.span.start > d.span.end || d.span.end > size))
			fz_fail("%s: diagnostic span %u..%u outside the %zu-byte input", name, d.span.start,
				d.span.end, size);
		if (d.loc == EDS_LOC_OFFSET && d.span.start > size)
			fz_fail("%s: diagnostic offset %u past the %zu-byte input", name, d.span.start, size);
		if (!memchr(d.msg, 0, sizeof d.msg) || !d.msg[0])
			fz_fail("%s: failed (%d) without a message", name, rc);
	}
	eds_arena_free(a);
	return 0;
}

/* ---- fixed rules for the evaluation and serve targets ---- */

/* testdata/examples/aigateway.edsmod, then the operations of testdata/rules. */
static const char *const fz_rules[] = {
	"region =~ \"^httproute/([^/]+)/([^/]+)/rule/([0-9]+)/backend/([0-9]+)$\" {\n"
	"    set metadata[\"aigateway.envoy.io\"].per_route_rule_backend_name =\n"
	"        $1 + \"/\" + locality.metadata[\"envoy-gateway\"].resources[0].name +\n"
	"        \"/route/\" + $2 + \"/rule/\" + $3 + \"/ref/\" + $4\n"
	"}\n"
	"exists(hostname) { set metadata[\"aigateway.envoy.io\"].upstream_host = hostname }\n",
	"health == \"DRAINING\" { drop }",
	"address in \"10.1.0.0/16\" { drop }",
	"address in \"2001:db8::/32\" { set weight = 3 }",
	"address not in \"10.0.0.0/8\" { set metadata[\"t\"].outside = true }",
	"zone == \"us-east-1a\" { del weight }",
	"del metadata[\"envoy.transport_socket_match\"]",
	"metadata[\"envoy.lb\"].canary == true { set weight = 5 }",
	"region =~ \"/rule/([0-9]+)/backend/([0-9]+)$\" { set metadata[\"t\"].ref = $1 + \".\" + $2 + \" of \" + $0 }",
	"hostname =~ \"^(.)(.*)$\" { set metadata[\"t\"].first = $1; set metadata[\"t\"].rest = $2 }",
	"zone in [\"us-east-1b\", \"eu-west-1a\"] or port in [9000] { set health = \"DEGRADED\" }",
	"port == 443 { set port = 8443; set address = \"2001:db8::22\" }",
	"set cla.policy.overprovisioning_factor = 200",
	"set metadata[\"envoy.transport_socket_match\"].extra = {\"a\": [1, \"b\", null]}",
	"set metadata[\"t\"].id = cluster + \"|\" + zone + \"|\" + address",
};
#define FZ_NRULES (sizeof fz_rules / sizeof fz_rules[0])

#endif
