/*
 * schema: the message types edsmod knows, looked up by full name or Any
 * type URL, and the well-known types that have special JSON forms.
 * Everything here is static data from the generated protobuf-c code.
 */
#ifndef EDS_SCHEMA_H
#define EDS_SCHEMA_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

enum eds_wkt {
	EDS_WKT_NONE = 0,
	EDS_WKT_ANY,
	EDS_WKT_STRUCT,
	EDS_WKT_VALUE,
	EDS_WKT_LIST_VALUE,
	EDS_WKT_DURATION,
	EDS_WKT_TIMESTAMP,
	EDS_WKT_WRAPPER, /* google.protobuf.*Value wrappers: field 1 "value" */
	EDS_WKT_EMPTY,
	EDS_WKT_FIELD_MASK,
};

enum eds_wkt eds_schema_wkt(const ProtobufCMessageDescriptor *desc);
/* Whether desc is a map field's entry type.  protobuf-c 1.4 has no map
 * flag: an entry is a message named *Entry whose fields are exactly 1 "key"
 * and 2 "value". */
bool eds_schema_map_entry(const ProtobufCMessageDescriptor *desc);
/* "envoy.config.endpoint.v3.ClusterLoadAssignment" -> descriptor, or NULL. */
const ProtobufCMessageDescriptor *eds_schema_find(const char *full_name, size_t len);
/* Resolve an Any type URL: the text after the last '/'. NULL if unknown. */
const ProtobufCMessageDescriptor *eds_schema_find_url(const char *url, size_t len);
/* The CLA descriptor, the root of everything edsmod edits. */
extern const ProtobufCMessageDescriptor *const eds_schema_cla;

/*
 * A per-message-type table that every thread shares (the decoder's field
 * tables, the encoder's and the check's plans): EDS_SCHEMA_SLOTS slots, all
 * NULL at first, hold entries whose first member is their descriptor.
 * Returns desc's entry, made by build on first use (malloc'd); NULL only
 * when build returns NULL.  There are more slots than message types linked
 * in (schema.c checks it when compiling), so the table never fills.
 * Entries live as long as the process.
 */
#define EDS_SCHEMA_SLOTS 512
void *eds_schema_shared(void *_Atomic *slots, const ProtobufCMessageDescriptor *desc,
			void *(*build)(const ProtobufCMessageDescriptor *desc));

#endif
