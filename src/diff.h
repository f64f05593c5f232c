/*
 * diff: what changed for the data plane between two EDS snapshots.
 *
 * Clusters are matched by cluster_name, endpoints within a cluster by
 * address and port (pipe path, internal address, or endpoint_name), and
 * locality groups by locality and priority.  What Envoy ignores is not a
 * change: the order of CLAs, of locality groups and of endpoints, the order
 * of map and Struct keys, and an unset endpoint weight against 1.  What is
 * reported, per cluster:
 *   localities added or removed, and their weight, metadata and other
 *     fields changed;
 *   endpoints added or removed, and their locality, priority, weight,
 *     health, hostname, metadata (one line per key, old -> new) and other
 *     fields changed; one change made to every endpoint of a locality is
 *     reported once, for the locality;
 *   policy fields, one per leaf (policy.overprovisioning_factor).
 * Names are the proto field names, as in rules and check findings.
 *
 * eds_diff() renders the result into out, as text for a review comment or
 * as JSON, and sets *equal.  It reads the messages and allocates only in the
 * arena and in out.
 */
#ifndef EDS_DIFF_H
#define EDS_DIFF_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "diag.h"

enum eds_diff_format { EDS_DIFF_TEXT = 0, EDS_DIFF_JSON };

struct eds_diff_side {
	const char *name;                 /* shown in the header: "a.yaml" */
	ProtobufCMessage *const *clas;    /* ClusterLoadAssignments */
	size_t n;
};

/* Errors: EDS_E_ENCODE when a value cannot be rendered (a Struct holding
 * NaN), with d set.  Two CLAs with one cluster_name on a side: the later
 * one counts, and a note line says so. */
int eds_diff(const struct eds_diff_side *a, const struct eds_diff_side *b, enum eds_diff_format fmt,
	     struct eds_arena *arena, struct eds_buf *out, bool *equal, struct eds_diag *d);

#endif
