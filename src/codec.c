#include "codec.h"

#include <string.h>

const struct eds_limits eds_limits_default = {
	.max_input = (size_t)256 << 20,
	.max_depth = 100,
	.max_output = (size_t)1 << 30,
	.max_string = (size_t)1 << 20,
	.max_rules = 1000000,
	.max_rules_size = (size_t)64 << 20,
	.max_regex = 4096,
	.max_regexes = 10000,
};

static const struct {
	const char *name;
	enum eds_format fmt;
} formats[] = {
	{ "auto", EDS_FMT_AUTO },      { "binary", EDS_FMT_BINARY },
	{ "pb", EDS_FMT_BINARY },      { "binpb", EDS_FMT_BINARY },
	{ "json", EDS_FMT_JSON },      { "text", EDS_FMT_TEXT },
	{ "txtpb", EDS_FMT_TEXT },     { "textproto", EDS_FMT_TEXT },
	{ "textpb", EDS_FMT_TEXT },    { "pbtxt", EDS_FMT_TEXT },
	{ "yaml", EDS_FMT_YAML },      { "yml", EDS_FMT_YAML },
};

int eds_format_parse(const char *name, enum eds_format *out)
{
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		if (strcmp(name, formats[i].name) == 0) {
			*out = formats[i].fmt;
			return 0;
		}
	}
	return -1;
}

const char *eds_format_name(enum eds_format f)
{
	switch (f) {
	case EDS_FMT_BINARY: return "binary";
	case EDS_FMT_JSON: return "json";
	case EDS_FMT_TEXT: return "text";
	case EDS_FMT_YAML: return "yaml";
	default: return "auto";
	}
}

size_t eds_utf8_valid_prefix(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		unsigned min;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
			min = 0x80;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			min = 0x800;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			min = 0x10000;
		} else {
			return i;
		}
		if (n - i <= need)
			return i;
		unsigned cp = c & (0x3F >> need);
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += need + 1;
	}
	return n;
}

enum eds_format eds_format_detect(const char *data, size_t len)
{
	size_t n = len < 4096 ? len : 4096;
	/* Text and JSON are printable UTF-8; binary protobuf almost never is:
	 * tags and lengths below 0x20 appear within the first few bytes. */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)data[i];
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v')
			return EDS_FMT_BINARY;
		if (c == 0x7F)
			return EDS_FMT_BINARY;
	}
	size_t ok = eds_utf8_valid_prefix(data, n);
	if (ok < n && !(n == 4096 && n - ok < 4))
		return EDS_FMT_BINARY;
	size_t i = 0;
	if (n >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	while (i < n && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r' ||
			 data[i] == '\f' || data[i] == '\v'))
		i++;
	if (i == n && len <= 4096)
		return len == 0 ? EDS_FMT_BINARY : EDS_FMT_TEXT;
	if (data[i] == '{' || data[i] == '[')
		return EDS_FMT_JSON;
	return EDS_FMT_TEXT;
}

int eds_codec_decode(enum eds_format f, const ProtobufCMessageDescriptor *desc,
		     const struct eds_src *src, struct eds_arena *arena,
		     const struct eds_limits *lim, ProtobufCMessage **out, struct eds_diag *d)
{
	if (src->len > lim->max_input) {
		eds_diag_setf(d, EDS_E_LIMIT, "input is %zu bytes, more than the limit of %zu (--max-input)",
			      src->len, lim->max_input);
		return eds_diag_offset(d, src, lim->max_input);
	}
	switch (f) {
	case EDS_FMT_BINARY: return eds_bin_decode(desc, src, arena, lim, out, d);
	case EDS_FMT_JSON: return eds_json_decode(desc, src, arena, lim, out, d);
	case EDS_FMT_TEXT: return eds_text_decode(desc, src, arena, lim, out, d);
	case EDS_FMT_YAML: return eds_yaml_decode(desc, src, arena, lim, out, d);
	default: break;
	}
	return eds_diag_setf(d, EDS_E_INTERNAL, "decode called without a format");
}

int eds_codec_encode(enum eds_format f, const ProtobufCMessage *msg,
		     const struct eds_encode_opts *opts, struct eds_buf *out, struct eds_diag *d)
{
	switch (f) {
	case EDS_FMT_BINARY: return eds_bin_encode(msg, opts, out, d);
	case EDS_FMT_JSON: return eds_json_encode(msg, opts, out, d);
	case EDS_FMT_TEXT: return eds_text_encode(msg, opts, out, d);
	case EDS_FMT_YAML: return eds_yaml_encode(msg, opts, out, d);
	default: break;
	}
	return eds_diag_setf(d, EDS_E_INTERNAL, "encode called without a format");
}
