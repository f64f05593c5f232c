/*
 * check: Envoy's own constraints on a ClusterLoadAssignment.
 *
 * eds_check_cla() appends one finding per problem to findings: severity,
 * a stable id (the ids are listed in edsmod(1), CHECKS), the field path
 * (endpoints[1].lb_endpoints[4].endpoint.address.socket_address.port_value)
 * and a message.  It never stops early and never modifies the message.
 * Findings carry no source location; the front end maps paths to line:col
 * for JSON and text inputs (eds_json_locate, eds_text_locate).
 * Returns the number of error-severity findings it added.
 */
#ifndef EDS_CHECK_H
#define EDS_CHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "diag.h"

/* The two parts of the check: every message's own fields (and deprecated or
 * unknown fields), then Envoy's rules across the CLA (addresses, duplicates,
 * weights, priorities).  They only read the CLA, so a caller may run them on
 * two threads, each into its own findings, and append the second's to the
 * first's: the same findings in the same order as both at once. */
enum { EDS_CHECK_FIELDS = 1, EDS_CHECK_SEMANTICS = 2 };

struct eds_check_opts {
	bool grpc;  /* also apply gRPC xDS clients' stricter rules (warnings become errors) */
	unsigned parts; /* EDS_CHECK_FIELDS, EDS_CHECK_SEMANTICS; 0: both */
	bool errors_only; /* only the errors, in the same order; no time spent on what can
			   * only be a warning (serve, which passes a CLA with warnings) */
};

size_t eds_check_cla(const ProtobufCMessage *cla, const struct eds_check_opts *opts,
		     struct eds_diags *findings);

#endif
