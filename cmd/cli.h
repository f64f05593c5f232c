/*
 * cli: what every front end shares — reading inputs, loading rules,
 * rendering diagnostics, writing outputs atomically.  Only cmd/ code prints
 * or exits; these helpers print diagnostics to stderr and return codes.
 */
#ifndef EDS_CLI_H
#define EDS_CLI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "arena.h"
#include "check.h"
#include "codec.h"
#include "diag.h"
#include "rules.h"

extern const char *eds_cli_prog; /* "edsmod" */

/* From this input size on, the two parts of a CLA's check (check.h) run on
 * threads of their own; below it a thread costs more than it saves. */
#define EDS_CLI_PARALLEL_CHECK_MIN ((size_t)256 << 10)

/* One part of eds_check_cla on a thread of its own (on this one when no
 * thread starts).  The CLA must not change until it is joined. */
struct eds_cli_check_job {
	pthread_t thread;
	bool started;
	const ProtobufCMessage *cla;
	struct eds_check_opts co;
	struct eds_diags f;
	size_t nerr;
};
void eds_cli_check_start(struct eds_cli_check_job *j, const ProtobufCMessage *cla,
			 const struct eds_check_opts *co, unsigned part);
/* Wait for it, append its findings to into (in order) and return its error count. */
size_t eds_cli_check_join(struct eds_cli_check_job *j, struct eds_diags *into);

/* Read a whole file ("-" = stdin) into memory, at most max bytes (a large
 * regular file is mapped); on failure fills d (EDS_E_IO or EDS_E_LIMIT) and
 * returns its code. */
int eds_cli_read(const char *path, size_t max, char **data, size_t *len, struct eds_diag *d);
/* Give back what eds_cli_read returned. */
void eds_cli_unread(char *data);

/* Print one diagnostic the house way:
 *   edsmod: error: MESSAGE at FILE:LINE:COL:
 *       source line
 *       ^~~~
 * (byte offsets for binary sources, field paths when no span is known). */
void eds_cli_render(FILE *f, const struct eds_diag *d);
void eds_cli_renderf(FILE *f, enum eds_severity sev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Rules from -e and -f in command-line order.  -f files are read when
 * compiling, so that a --max-rules-size after them applies. */
struct eds_cli_rules {
	struct eds_src *srcs;
	size_t n;
	char **owned;       /* file contents to free */
	const char **files; /* -f paths; NULL for -e */
};
void eds_cli_rules_add_expr(struct eds_cli_rules *r, const char *expr);
void eds_cli_rules_add_file(struct eds_cli_rules *r, const char *path);
/* Read the files and compile into arena within lim; prints every error;
 * returns EDS_OK or EDS_E_RULES, EDS_E_LIMIT or EDS_E_IO. */
int eds_cli_rules_compile(struct eds_cli_rules *r, const struct eds_limits *lim, struct eds_arena *arena,
			  struct eds_program **out);
void eds_cli_rules_release(struct eds_cli_rules *r);

/* Long options of the limits (edsmod(1), LIMITS AND GUARANTEES) that every
 * command taking input or rules shares; ids apart from the commands' own. */
enum {
	EDS_OPT_MAX_STRING = 0x200,
	EDS_OPT_MAX_RULES,
	EDS_OPT_MAX_RULES_SIZE,
	EDS_OPT_MAX_REGEX,
	EDS_OPT_MAX_REGEXES,
};
/* Set the limit of option opt from arg: 1 if set, 0 if opt is not one of
 * these, -1 (after a message) if arg is not a positive number or size. */
int eds_cli_limit_opt(struct eds_limits *lim, int opt, const char *arg);

/* Write data to path atomically: temp file in the same directory, fsync,
 * rename over path (keeping its mode, and its owner where allowed).  On
 * failure path is untouched.  A symlink to a file stays: the file it leads
 * to is replaced.  A device, FIFO, socket or standard stream (/dev/stdout)
 * is written to instead, unless only_regular, when it is an error. */
int eds_cli_write_atomic(const char *path, const char *data, size_t len, bool only_regular,
			 struct eds_diag *d);
/* Write all of data to fd; EDS_E_IO with d on failure. */
int eds_cli_write_fd(int fd, const char *name, const char *data, size_t len, struct eds_diag *d);

/* Parse a size like 64M, 1G, 4096; -1 on error. */
long long eds_cli_parse_size(const char *s);

#endif
