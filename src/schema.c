#include "schema.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema_table.inc"

const ProtobufCMessageDescriptor *const eds_schema_cla =
	&envoy__config__endpoint__v3__cluster_load_assignment__descriptor;

enum eds_wkt eds_schema_wkt(const ProtobufCMessageDescriptor *desc)
{
	if (strcmp(desc->package_name, "google.protobuf") != 0)
		return EDS_WKT_NONE;
	if (desc == &google__protobuf__any__descriptor)
		return EDS_WKT_ANY;
	if (desc == &google__protobuf__struct__descriptor)
		return EDS_WKT_STRUCT;
	if (desc == &google__protobuf__value__descriptor)
		return EDS_WKT_VALUE;
	if (desc == &google__protobuf__list_value__descriptor)
		return EDS_WKT_LIST_VALUE;
	if (desc == &google__protobuf__duration__descriptor)
		return EDS_WKT_DURATION;
	if (desc == &google__protobuf__timestamp__descriptor)
		return EDS_WKT_TIMESTAMP;
	if (desc == &google__protobuf__empty__descriptor)
		return EDS_WKT_EMPTY;
	if (desc == &google__protobuf__field_mask__descriptor)
		return EDS_WKT_FIELD_MASK;
	size_t n = strlen(desc->name);
	if (n > 5 && strcmp(desc->name + n - 5, "Value") == 0 && desc->n_fields == 1 &&
	    strcmp(desc->fields[0].name, "value") == 0)
		return EDS_WKT_WRAPPER;
	return EDS_WKT_NONE;
}

bool eds_schema_map_entry(const ProtobufCMessageDescriptor *d)
{
	if (d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2) /* (most messages stop here) */
		return false;
	size_t n = strlen(d->name);
	return n > 5 && strcmp(d->name + n - 5, "Entry") == 0 && strcmp(d->fields[0].name, "key") == 0 &&
	       strcmp(d->fields[1].name, "value") == 0;
}

const ProtobufCMessageDescriptor *eds_schema_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof schema_table / sizeof schema_table[0]; i++) {
		const char *full = schema_table[i]->name;
		if (strncmp(full, name, len) == 0 && full[len] == '\0')
			return schema_table[i];
	}
	return NULL;
}

const ProtobufCMessageDescriptor *eds_schema_find_url(const char *url, size_t len)
{
	size_t slash = len;
	while (slash > 0 && url[slash - 1] != '/')
		slash--;
	if (slash == 0)
		return NULL; /* a type URL always has a '/' before the name */
	return eds_schema_find(url + slash, len - slash);
}

/* Every message type of the core, plus edsmod-serve's service messages
 * (envoygateway.extension, grpc.health: under 64), fit with room. */
_Static_assert(sizeof schema_table / sizeof schema_table[0] + 64 <= EDS_SCHEMA_SLOTS / 2,
	       "EDS_SCHEMA_SLOTS: more message types than a shared table holds");

void *eds_schema_shared(void *_Atomic *slots, const ProtobufCMessageDescriptor *desc,
			void *(*build)(const ProtobufCMessageDescriptor *desc))
{
	uint64_t h = ((uintptr_t)desc >> 4) * 0x9E3779B97F4A7C15ull;
	h ^= h >> 32;
	for (size_t k = 0; k < EDS_SCHEMA_SLOTS; k++) {
		void *_Atomic *slot = &slots[(h + k) % EDS_SCHEMA_SLOTS];
		void *e = atomic_load_explicit(slot, memory_order_acquire);
		if (!e) {
			void *n = build(desc);
			if (!n)
				return NULL;
			if (atomic_compare_exchange_strong_explicit(slot, &e, n, memory_order_acq_rel,
								    memory_order_acquire))
				return n;
			free(n); /* another thread filled the slot: e is its entry */
		}
		if (*(const ProtobufCMessageDescriptor *const *)e == desc)
			return e;
	}
	return NULL;
}
