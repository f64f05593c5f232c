/*
 * codec: the three encodings of a protobuf message, each one generic walker
 * driven by protobuf-c's descriptors (no code per message type).
 *
 *   binary  codec_bin.c   protobuf wire format; unknown fields survive
 *   json    codec_json.c  proto3 JSON mapping, parsed and printed in one pass
 *   text    codec_text.c  protobuf text format, as protoc --decode/--encode
 *
 * Decoders build the message in the request arena they are given: every
 * pointer in *out lives there, so nothing needs freeing but the arena.  On
 * failure they return a code (EDS_E_DECODE, EDS_E_LIMIT) with the diag
 * pointing into src: a byte offset for binary, a line:col span for JSON and
 * text syntax, and a field path for type and range problems.  Strings are
 * always checked to be valid UTF-8.
 *
 * Encoders append to an eds_buf and return EDS_OK or a code with a diag
 * (EDS_E_ENCODE: e.g. NaN in a JSON Value, an Any of an unknown type in JSON;
 * EDS_E_LIMIT: output over buf->max).  On failure the buffer's contents are
 * unspecified: callers discard them.
 */
#ifndef EDS_CODEC_H
#define EDS_CODEC_H

#include <limits.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "arena.h"
#include "buf.h"
#include "diag.h"

enum eds_format { EDS_FMT_AUTO = 0, EDS_FMT_BINARY, EDS_FMT_JSON, EDS_FMT_TEXT, EDS_FMT_YAML };

/* "binary"/"pb"/"binpb", "json", "text"/"txtpb"/"textproto", "yaml"/"yml", "auto"; -1 if unknown. */
int eds_format_parse(const char *name, enum eds_format *out);
const char *eds_format_name(enum eds_format f);
/*
 * Guess the format of an input: JSON when the first non-blank byte is '{' or
 * '[' ; text when the input is valid UTF-8 and starts (after blanks and
 * comments) with an identifier or '[' followed by text syntax; binary
 * otherwise.  Never fails; an empty input is binary (an empty message).
 */
enum eds_format eds_format_detect(const char *data, size_t len);

/*
 * Every size a user or a peer controls is bounded by one of these, and each
 * is an option of edsmod (edsmod(1), LIMITS AND GUARANTEES).  Decoders use
 * max_input, max_depth and max_string; encoders take max_output through
 * eds_buf.max; eds_rules_compile the rules limits, and max_string for the
 * strings rules build ('+').  Start from eds_limits_default.
 */
struct eds_limits {
	size_t max_input;   /* bytes of one input */
	unsigned max_depth; /* message nesting below the top message, as protobuf's
			     * parsers count it (Struct/ListValue levels count) */
	size_t max_output;  /* bytes of one output */
	size_t max_string;  /* bytes of one string or bytes value, map or Struct key (decoded);
			     * not Any's value (a message) nor unknown fields */
	size_t max_rules;      /* rules in one program */
	size_t max_rules_size; /* bytes of one rules source (an -e or -f) */
	size_t max_regex;      /* bytes of one regular expression */
	size_t max_regexes;    /* regular expressions in one program (glibc's take 10-75 KB each) */
};

/* The wire type protobuf writes a field of type t with: 0 varint, 1 64-bit,
 * 2 length-delimited (also a packed repeated scalar's), 5 32-bit.  A field
 * that arrives with another one is an unknown field (codec_bin.c). */
static inline unsigned eds_wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_SFIXED64: case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_SFIXED32: case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_BYTES: case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

/*
 * One field of a message's encoding: its number and wire type, its tag at
 * start, its value in [vstart, vend) (a length-delimited field's content;
 * a group's fields, without its end tag) and its end (after the end tag).
 * eds_wire_next() finds the field at *off of p[0..n): 1, with *off at its
 * end; 0 at n; -1 when the field is malformed, with *off at the fault and
 * *why saying what it is.  It reads as the binary decoder does: tags and
 * lengths of at most 5 bytes, a group with everything in it (groups nested
 * at most max_depth deep) one field.
 */
struct eds_wire_field {
	uint32_t num;
	unsigned wt;
	size_t start, vstart, vend, end;
};
int eds_wire_next(const uint8_t *p, size_t n, size_t *off, struct eds_wire_field *f, unsigned max_depth,
		  const char **why);

/* The deepest level max_depth allows when the top message is level 1, as the
 * codecs count. */
static inline unsigned eds_depth_levels(unsigned max_depth)
{
	return max_depth < UINT_MAX ? max_depth + 1 : max_depth;
}
extern const struct eds_limits eds_limits_default;

struct eds_encode_opts {
	bool pretty;       /* json: 2-space indented; text: always indented */
	bool proto_names;  /* json: snake_case proto names instead of lowerCamelCase */
	bool reuse_spans;  /* binary: copy the input bytes of unchanged messages (below) */
};

/*
 * Spans.  eds_bin_decode_spans() is eds_bin_decode() that also notes, in
 * each decoded sub-message without unknown fields, where its bytes are in
 * the input: in unknown_fields, with n_unknown_fields left 0, so that
 * nothing reads it as unknown fields.  eds_bin_encode() with .reuse_spans
 * copies those bytes instead of encoding the message again, which is most of
 * the work when rules change a little of a large CLA; the input must still
 * be there.  So whoever changes a decoded message in place first calls
 * eds_msg_touch() on it and on every message that holds it.
 */
static inline void eds_msg_touch(ProtobufCMessage *m)
{
	if (m && !m->n_unknown_fields && m->unknown_fields) /* (a touched one is only read) */
		m->unknown_fields = NULL;
}

/* A span is packed into the unknown_fields pointer: the address of the
 * bytes in the low 48 bits, their length in the high 16 (codec_bin.c). */
#define EDS_SPAN_ADDR_BITS 48

/* How many input bytes m's span covers; 0 when it has none. */
static inline size_t eds_msg_span_len(const ProtobufCMessage *m)
{
	if (!m->n_unknown_fields && m->unknown_fields)
		return (uintptr_t)m->unknown_fields >> EDS_SPAN_ADDR_BITS;
	return 0;
}

typedef int eds_decode_fn(const ProtobufCMessageDescriptor *desc, const struct eds_src *src,
			  struct eds_arena *arena, const struct eds_limits *lim,
			  ProtobufCMessage **out, struct eds_diag *d);
typedef int eds_encode_fn(const ProtobufCMessage *msg, const struct eds_encode_opts *opts,
			  struct eds_buf *out, struct eds_diag *d);

eds_decode_fn eds_bin_decode, eds_bin_decode_spans, eds_json_decode, eds_text_decode;
/* From this input size on, a binary CLA's second half of localities is
 * decoded on a second thread (1 MiB; fuzz_bin lowers it to compare). */
extern size_t eds_bin_ahead_min;
/* The binary decoder's table-driven path for common fields (codec_bin.c);
 * fuzz_bin turns it off to compare. */
extern bool eds_bin_fast;
eds_encode_fn eds_bin_encode, eds_json_encode, eds_text_encode;
/* msg's binary encoding (eds_bin_encode's bytes), in the arena: an Any's
 * value.  protobuf-c's own packer would drop a proto3 -0.0. */
uint8_t *eds_bin_pack(const ProtobufCMessage *msg, struct eds_arena *arena, size_t *len);
/* From this input size on, a text CLA is parsed ahead on a second thread
 * (1 MiB); from this many endpoints on, one is printed as text on two
 * threads, in chunks of this many endpoints (4,096 and 512).  fuzz_text
 * lowers them to compare. */
extern size_t eds_text_ahead_min, eds_text_split_min, eds_text_split_chunk;
/* YAML, mapped like proto3 JSON (codec_yaml.c; see codec_yaml.h). */
eds_decode_fn eds_yaml_decode;
eds_encode_fn eds_yaml_encode;

/* Dispatch on format (not AUTO). */
int eds_codec_decode(enum eds_format f, const ProtobufCMessageDescriptor *desc,
		     const struct eds_src *src, struct eds_arena *arena,
		     const struct eds_limits *lim, ProtobufCMessage **out, struct eds_diag *d);
int eds_codec_encode(enum eds_format f, const ProtobufCMessage *msg,
		     const struct eds_encode_opts *opts, struct eds_buf *out, struct eds_diag *d);

/* Length of the longest valid UTF-8 prefix of s (== n when all valid). */
size_t eds_utf8_valid_prefix(const char *s, size_t n);

#endif
