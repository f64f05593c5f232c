/*
 * container: the shapes EDS snapshots come in, and one walk that hands every
 * ClusterLoadAssignment inside to a callback and writes the same container
 * back.
 *
 *   cla          one CLA; in JSON and YAML also as an Any ({"@type": ...})
 *   list         a JSON array, a YAML sequence or multi-document stream,
 *                JSON Lines, or binary CLAs each after its varint length
 *   discovery    envoy.service.discovery.v3.DiscoveryResponse (CLAs as Any,
 *                or Any of Resource) or DeltaDiscoveryResponse (Resource)
 *   config-dump  envoy.admin.v3.ConfigDump holding an EndpointsConfigDump
 *                (static and dynamic endpoint configs; other dumps are kept
 *                as they are), an EndpointsConfigDump alone, or the
 *                ?resource= form (configs of StaticEndpointConfig /
 *                DynamicEndpointConfig)
 *
 * Detection (EDS_CONT_AUTO) looks only at the outer shape: binary by the
 * wire fields (an Any's "type.googleapis.com/" where a CLA has messages,
 * varint lengths that tile the input), JSON and YAML by "@type" and the
 * top-level keys, text format by its top-level field names.
 *
 * Nothing outside the CLAs is interpreted or changed: binary containers are
 * rebuilt field by field with every other byte copied; YAML written back as
 * YAML keeps every byte, comments included, but the CLAs the callback
 * changed; JSON is re-printed with every token kept.  Converting a container
 * to another format goes through its message type, so it needs every type in
 * it known (a full config dump converts between JSON and YAML only).
 *
 * Everything decoded lives in the arena; the sites and the diagnostics'
 * sources stay valid until eds_container_run returns.
 */
#ifndef EDS_CONTAINER_H
#define EDS_CONTAINER_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "codec.h"
#include "diag.h"

enum eds_container {
	EDS_CONT_AUTO = 0,
	EDS_CONT_CLA,
	EDS_CONT_LIST,        /* any list form of the input's format */
	EDS_CONT_JSONL,       /* a list, as JSON Lines */
	EDS_CONT_DELIMITED,   /* a list, as length-delimited binary */
	EDS_CONT_DISCOVERY,
	EDS_CONT_CONFIG_DUMP,
};

/* "auto", "cla", "list", "jsonl", "delimited", "discovery", "config-dump";
 * -1 if unknown. */
int eds_container_parse(const char *name, enum eds_container *out);
const char *eds_container_name(enum eds_container c);

/* One CLA found in a container, as the callback sees it. */
struct eds_site {
	size_t index;           /* 0-based, in input order */
	char place[200];        /* "resources[3]", "[2]", "configs[1].dynamic_endpoint_configs[0]
				 * .endpoint_config"; "" for a lone CLA */
	ProtobufCMessage *cla;  /* NULL when it did not decode (keep_going) */
	bool changed;           /* the callback sets it when it changed cla */

	/* The walker's: where the CLA's text is. */
	enum eds_format fmt;
	size_t start, end;
	bool any;
	int slot;
	void *anyp;
	const void *run;
};

/* Called once per CLA in input order.  A non-zero return stops the walk
 * and is returned by eds_container_run (with d as the callback left it). */
typedef int eds_site_fn(void *ctx, struct eds_site *site, struct eds_diag *d);

struct eds_container_opts {
	enum eds_format from;       /* AUTO: detect */
	enum eds_container kind;    /* AUTO: detect */
	struct eds_limits lim;
	/* A CLA that does not decode is passed to the callback with cla NULL
	 * and d describing the problem, and the walk goes on (check). */
	bool keep_going;
	/* Output (ignored when out is NULL). */
	enum eds_format to;         /* AUTO: the input's format */
	struct eds_encode_opts enc;
	int pretty;                 /* JSON: 1, 0, or -1: as the input (pretty when a
				     * JSON input has a line break inside) */
};

struct eds_container_info {
	enum eds_format from, to;
	enum eds_container kind;
	const ProtobufCMessageDescriptor *desc; /* the container's message type, or NULL */
	size_t nsites, nchanged;
};

/*
 * Decode src, call fn on each CLA, and (when out is given) append the
 * container in o->to.  Returns EDS_OK, a decode/encode/limit code with d
 * (located in src), or the callback's code.  info may be NULL.
 */
int eds_container_run(const struct eds_src *src, const struct eds_container_opts *o,
		      struct eds_arena *arena, eds_site_fn *fn, void *ctx, struct eds_buf *out,
		      struct eds_container_info *info, struct eds_diag *d);

/* Point a diagnostic about site->cla (d->path relative to the CLA) at the
 * CLA's text: a line:col span for JSON, YAML and text inputs; for binary
 * only the source.  Call it from the callback. */
void eds_container_locate(const struct eds_site *site, struct eds_diag *d);

/* "resources[3] (cluster \"name\")", "[0] (cluster \"\")"; "" for a lone CLA. */
void eds_site_label(const struct eds_site *site, char *buf, size_t size);
/* Prefix d->path (relative to the CLA) with the site's place. */
void eds_site_path(const struct eds_site *site, struct eds_diag *d);

#endif
