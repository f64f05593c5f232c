/*
 * codec_yaml: YAML in and out, mapped exactly like proto3 JSON, and the JSON
 * text tools the container walker shares with it.
 *
 * YAML is read by converting it to JSON text and handing that to the JSON
 * codec, so both spellings of field names, the well-known types' forms and
 * every check are the JSON codec's own.  The conversion (libyaml events, no
 * tree) records, for every YAML node, where its JSON text starts and ends
 * and where the node sits in the YAML source; a JSON diagnostic is mapped
 * back through that table, so errors carry the YAML line:col.  Scalars are
 * typed by the YAML 1.2 core schema: plain null/~, true/false, integers
 * (decimal, 0o octal, 0x hex) and floats (.inf, .nan too) become JSON
 * literals; everything else, and every quoted or block scalar, a string.
 * Anchors and aliases are expanded (the expansion counts against the input
 * limit); merge keys ("<<") are not supported.
 *
 * YAML is written by printing the JSON encoder's output as block YAML:
 * two-space indents, sequences under a key at the key's column (as
 * Envoy Gateway's and kubectl's YAML), strings plain unless a YAML 1.1 or
 * 1.2 reader would take them for something else.
 *
 * Everything returned lives in malloc'd buffers owned by the caller
 * (eds_buf, struct eds_yaml_json); nothing is kept between calls.
 */
#ifndef EDS_CODEC_YAML_H
#define EDS_CODEC_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "codec.h"
#include "diag.h"

/* One YAML node: its JSON text [jstart, jend) and YAML text [ystart, yend)
 * (byte offsets; yend is the end of its last character, trailing blanks
 * and comments excluded). */
struct eds_yaml_node {
	uint32_t jstart, jend, ystart, yend;
	uint8_t flags;
};
enum {
	EDS_YN_FLOW = 1,       /* flow style, or inside a flow collection */
	EDS_YN_ANCHOR = 2,     /* carries an anchor, or is an alias */
	EDS_YN_COLLECTION = 4, /* a mapping or sequence */
	EDS_YN_KEY = 8,        /* a mapping key */
};

struct eds_yaml_json {
	struct eds_buf json;          /* each document as one JSON value, '\n' after each;
				       * NUL-terminated (not counted in len) */
	size_t ndocs;
	struct eds_yaml_node *nodes;  /* in document order (by jstart) */
	size_t nnodes, cap;
};

/* Convert a YAML stream to JSON text.  EDS_E_DECODE with a YAML span for
 * syntax errors, unsupported tags, keys that are not scalars; EDS_E_LIMIT
 * when aliases expand past lim->max_input or nesting passes the limit.
 * Release out in every case. */
int eds_yaml_to_json(const struct eds_src *yaml, const struct eds_limits *lim,
		     struct eds_yaml_json *out, struct eds_diag *d);
void eds_yaml_json_release(struct eds_yaml_json *yj);
/* The innermost node whose JSON text contains byte off of yj->json, or NULL. */
const struct eds_yaml_node *eds_yaml_json_node(const struct eds_yaml_json *yj, size_t off);
/* Move a diagnostic about yj->json (d->src == jsrc) onto the YAML source:
 * its span becomes the span of the node it falls in. */
void eds_yaml_json_remap(const struct eds_yaml_json *yj, const struct eds_src *jsrc,
			 const struct eds_src *yaml, struct eds_diag *d);

/*
 * Print JSON text (one value, or several separated by blanks: then one YAML
 * document each, "---" between them) as block YAML.  The first line is not
 * indented and the others by indent columns, so the result can replace a
 * node that starts at column indent; the text ends with a newline.
 * EDS_E_DECODE when json is not valid JSON, EDS_E_ENCODE for a string YAML
 * cannot hold (a lone UTF-16 surrogate), EDS_E_LIMIT past out->max.
 */
int eds_json_to_yaml(const char *json, size_t len, unsigned indent, struct eds_buf *out,
		     struct eds_diag *d);
/* JSON text as one line of YAML flow: compact JSON, with what YAML cannot
 * hold raw in a double-quoted scalar (DEL, C1 controls, U+2028, U+2029,
 * BOM, U+FFFE, U+FFFF) escaped; a newline at the end. */
int eds_json_to_yaml_flow(const char *json, size_t len, struct eds_buf *out, struct eds_diag *d);
/* Print JSON text again, pretty (the JSON encoder's layout, newline at the
 * end) or compact (no blanks), keeping every token as it is.  Several
 * values go one per line (JSON Lines) when compact. */
int eds_json_reformat(const char *json, size_t len, bool pretty, struct eds_buf *out,
		      struct eds_diag *d);

/*
 * Validate and skip one JSON value at src->text[*i] (blanks before it are
 * skipped); *i ends just past it.  Nesting deeper than max_depth is
 * EDS_E_LIMIT, bad JSON EDS_E_DECODE ("invalid JSON: ...") with a span.
 */
int eds_json_skip(const struct eds_src *src, size_t *i, unsigned max_depth, struct eds_diag *d);
size_t eds_json_ws(const char *s, size_t n, size_t i);
/* Does the JSON string token tok (quotes included) spell want? */
bool eds_json_str_eq(const char *tok, size_t len, const char *want);

/*
 * Is this input YAML rather than protobuf text format?  Both start with
 * "name: value"; YAML is recognised by "---", "- " items, "key:" ending a
 * line, block scalars, quoted or camelCase keys, text format by "name {",
 * "name <", "[ext]" and "}".  1: YAML, -1: text format, 0: undecided (only
 * "name: scalar" lines).
 */
int eds_yaml_detect(const char *data, size_t len);

/* eds_json_locate for YAML: the node at path (see codec_json.h). */
int eds_yaml_locate(const struct eds_src *src, const char *path, size_t *start, size_t *end);

#endif
