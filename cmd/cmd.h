#ifndef EDS_CMD_H
#define EDS_CMD_H

#include "codec.h"
#include "container.h"

int cmd_transform(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);

#define EDSMOD_VERSION "0.1.0"

/* Options shared by transform, check and diff. */
struct eds_cli_input_opts {
	enum eds_format from;
	enum eds_container container;
	struct eds_limits lim;
};
/* Handle --from/--container/--max-input/--max-depth/--max-output (long
 * option ids below) and the limits of eds_cli_limit_opt; returns 1 if
 * handled, 0 if not ours, -1 on a bad value. */
enum {
	OPT_FROM = 0x100, OPT_TO, OPT_MAX_INPUT, OPT_MAX_DEPTH, OPT_MAX_OUTPUT, OPT_PRETTY,
	OPT_COMPACT, OPT_PROTO_NAMES, OPT_VALIDATE, OPT_NO_VALIDATE, OPT_SKIP_ERRORS,
	OPT_FORMAT, OPT_STRICT, OPT_GRPC, OPT_VERSION, OPT_CONTAINER,
};
int eds_cli_input_opt(struct eds_cli_input_opts *o, int opt, const char *arg);

#endif
