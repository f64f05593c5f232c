/*
 * codec_text: helpers of the protobuf text-format codec beyond the
 * eds_text_decode / eds_text_encode pair declared in codec.h.
 *
 * The decoder reports its own errors with a line:col span.  Check findings
 * carry only a field path, so when a front end wants to show where a finding
 * sits in a text input it calls eds_text_locate, which tokenizes the source
 * again.  It allocates nothing and is meant for error paths only.
 */
#ifndef EDS_CODEC_TEXT_H
#define EDS_CODEC_TEXT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "diag.h"

/*
 * Find the value at path in the text-format source of a message of type
 * desc.  path is what eds_path_format produces: segments name, .name, [N]
 * (the N-th occurrence of a repeated field, list elements counted one by
 * one) and ["key"] (with \" and \\ escaped: the map entry with that key).
 * After a google.protobuf.Struct, ["key"] is the "fields" entry with that key
 * and leads to its Value; after a Value, ["key"] and [N] go through its
 * struct_value or list_value; [N] after a ListValue is its N-th "values".
 * Through an Any the path goes on inside the [type URL] { ... } block.
 * Sets [*start, *end) to the byte span of the value (a whole { ... } block
 * for a message) and returns 0; when only a prefix of the path exists, gives
 * the span of the deepest value found and returns 1; returns -1 when not
 * even the first segment is found.  "" gives the whole text and 0.
 */
int eds_text_locate(const struct eds_src *src, const ProtobufCMessageDescriptor *desc,
		    const char *path, size_t *start, size_t *end);

#endif
