/*
 * edsmod: the command table.  Adding a subcommand: a row below, a
 * cmd/<name>.c with int cmd_<name>(int argc, char **argv), a section in
 * man/edsmod.1 (scripts/check-man enforces it), and testdata/<name>.bats.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd.h"

static int cmd_serve(int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "transform", cmd_transform },
	{ "check", cmd_check },
	{ "diff", cmd_diff },
	{ "serve", cmd_serve },
};

/* gRPC core costs ~9 ms of start-up: the server is its own executable,
 * found next to this one or in ../libexec/edsmod/, like git's helpers. */
static int cmd_serve(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		const char *tries[] = { "%s/edsmod-serve", "%s/../libexec/edsmod/edsmod-serve" };
		for (size_t i = 0; i < 2; i++) {
			snprintf(path, sizeof path, tries[i], self);
			if (access(path, X_OK) == 0) {
				argv[0] = path;
				execv(path, argv);
				eds_cli_renderf(stderr, EDS_SEV_ERROR, "cannot run \"%s\": %s", path,
						strerror(errno));
				return EDS_E_IO;
			}
		}
	}
	(void)argc;
	eds_cli_renderf(stderr, EDS_SEV_ERROR,
			"edsmod-serve not found next to edsmod or in ../libexec/edsmod/");
	return EDS_E_IO;
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
			if (strcmp(argv[1], commands[i].name) == 0)
				return commands[i].fn(argc - 1, argv + 1);
	}
	return cmd_transform(argc, argv);
}
