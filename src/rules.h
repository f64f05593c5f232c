/*
 * rules: edsmod's mutation language (see EXPRESSIONS and RULES in edsmod(1)).
 *
 *   PATTERN { ACTION; ACTION ... }      e.g.  zone == "us-east-1a" { set health = "DRAINING" }
 *
 * eds_rules_compile() lexes, parses and binds every source (each -e
 * expression and -f file, in command-line order) into one program: names
 * are resolved to protobuf-c field descriptors here, once, so a misspelt
 * field is an error before any input is read.  All errors of all sources
 * are appended to errs (code EDS_E_RULES, span into the source) and the
 * call returns EDS_E_RULES; nothing is compiled then.  Sources, rules and
 * regexes past lim (max_rules_size, max_rules, max_regex, max_regexes; NULL:
 * eds_limits_default) are errors of code EDS_E_LIMIT, and the call returns
 * EDS_E_LIMIT when there is one.  The program keeps lim->max_string: a
 * string '+' would build longer fails the run.  The program lives in
 * the arena given (the program arena) and is read-only afterwards: serve
 * shares one program across threads.
 *
 * eds_rules_run() applies the program to one ClusterLoadAssignment in
 * place.  New values (strings, Struct levels, arrays) are allocated in the
 * request arena.  *changed tells whether anything was actually modified
 * (setting a value to what it already is changes nothing).  A run-time
 * problem (type error, an invalid value for a field, a failed assert in
 * transform mode) returns EDS_E_RUNTIME with a diag naming the rule's source
 * location and the endpoint's field path and address; with skip_errors the
 * endpoint is restored as it was, a warning is appended to opts->findings,
 * and the run goes on.
 */
#ifndef EDS_RULES_H
#define EDS_RULES_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "arena.h"
#include "codec.h"
#include "diag.h"

struct eds_program;

int eds_rules_compile(const struct eds_src *srcs, size_t nsrcs, const struct eds_limits *lim,
		      struct eds_arena *arena, struct eds_program **out, struct eds_diags *errs);

/* Free what a program holds outside its arena (compiled regexes); call it
 * before freeing or resetting the program arena.  NULL is a no-op. */
void eds_rules_release(struct eds_program *p);

/* Number of rules compiled (0 for an empty program). */
size_t eds_rules_count(const struct eds_program *p);

enum eds_run_mode {
	EDS_RUN_TRANSFORM = 0, /* assert failure stops the run with EDS_E_RUNTIME */
	EDS_RUN_CHECK,         /* assert failure appends a finding (id "assert") */
};

struct eds_run_opts {
	enum eds_run_mode mode;
	bool skip_errors;          /* transform: skip endpoints whose rules fail */
	struct eds_diags *findings; /* check: failed asserts; skip_errors: warnings */
	const struct eds_src *input; /* the input being processed, for diagnostics */
};

/* From this many endpoints on, a unit of endpoint-local rules runs the
 * second half of the endpoints on a second thread (fuzz_eval lowers it). */
extern size_t eds_rules_split_min;

/* A set whose value is the same for a locality's endpoints, into those
 * without metadata, gives them one shared Metadata (false: each its own;
 * fuzz_eval compares the two). */
extern bool eds_rules_share;

/* cla is an Envoy__Config__Endpoint__V3__ClusterLoadAssignment. */
int eds_rules_run(const struct eds_program *p, ProtobufCMessage *cla, struct eds_arena *req,
		  const struct eds_run_opts *opts, bool *changed, struct eds_diag *d);

#endif
