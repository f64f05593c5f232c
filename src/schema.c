#include "schema.h"

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
