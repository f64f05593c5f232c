/*
 * codec_json: helpers of the proto3 JSON codec beyond the eds_json_decode /
 * eds_json_encode pair declared in codec.h.
 *
 * A decoded message keeps no source positions, so when a check finding (or
 * any later diagnostic) about a JSON input needs a line:col,
 * eds_json_locate scans the source text again for the field path.  It
 * allocates nothing and is meant for error paths only (it is linear in the
 * text).  Decode errors need it not: they carry their span already.
 */
#ifndef EDS_CODEC_JSON_H
#define EDS_CODEC_JSON_H

#include <stddef.h>

#include "diag.h"

/*
 * Find the value at path in the JSON text of src.  path is what
 * eds_path_format produces: segments name, .name, [N] and ["key"] (with \"
 * and \\ escaped); a name matches a JSON key equal to it or to its
 * lowerCamelCase form; "" is the top-level value.  Through an Any object the
 * path goes on with the embedded message's fields, which are keys of the
 * same object.  Sets [*start, *end) to the byte span of the value and returns
 * 0; when only a prefix of the path exists, gives the span of the deepest
 * value found and returns 1; returns -1 when the text holds no JSON value.
 */
int eds_json_locate(const struct eds_src *src, const char *path, size_t *start, size_t *end);

#endif
