/*
 * diff: what changed between two snapshots, for Envoy.  Exit 0 when they
 * are the same, 1 (EDS_FINDINGS) when they differ, and the usual codes for
 * unreadable input.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "container.h"
#include "diff.h"

static const struct option longopts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "container", required_argument, NULL, OPT_CONTAINER },
	{ "max-input", required_argument, NULL, OPT_MAX_INPUT },
	{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
	{ "max-string", required_argument, NULL, EDS_OPT_MAX_STRING },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"usage: edsmod diff [--format text|json] [--from FMT] [--container C] A B\n"
	"Compare two EDS snapshots endpoint by endpoint; exit 0 when equal, 1 when not.\n"
	"See edsmod(1), DIFF.\n";

struct collected {
	ProtobufCMessage **v;
	size_t n, cap;
};

static int collect(void *ctx, struct eds_site *st, struct eds_diag *d)
{
	(void)d;
	struct collected *c = ctx;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = realloc(c->v, c->cap * sizeof *c->v);
		if (!c->v)
			abort();
	}
	c->v[c->n++] = st->cla;
	return EDS_OK;
}

static int load(const struct eds_cli_input_opts *in, const char *path, struct eds_arena *arena,
		char **data, struct collected *c)
{
	struct eds_diag d = { 0 };
	size_t len;
	struct eds_src src = { .name = strcmp(path, "-") ? path : "<stdin>" };
	int rc = eds_cli_read(path, in->lim.max_input, data, &len, &d);
	if (!rc) {
		src.text = *data;
		src.len = len;
		struct eds_container_opts o = { .from = in->from, .kind = in->container, .lim = in->lim };
		if ((rc = eds_container_run(&src, &o, arena, collect, c, NULL, NULL, &d)) && !d.src)
			d.src = &src;
	}
	if (rc)
		eds_cli_render(stderr, &d);
	return rc;
}

int cmd_diff(int argc, char **argv)
{
	struct eds_cli_input_opts in = { .lim = eds_limits_default };
	enum eds_diff_format fmt = EDS_DIFF_TEXT;
	int c;
	argv[0] = "edsmod diff";
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int r = eds_cli_input_opt(&in, c, optarg);
		if (r < 0)
			goto usage_error;
		if (r > 0)
			continue;
		switch (c) {
		case OPT_FORMAT:
			if (strcmp(optarg, "text") == 0) {
				fmt = EDS_DIFF_TEXT;
			} else if (strcmp(optarg, "json") == 0) {
				fmt = EDS_DIFF_JSON;
			} else {
				eds_cli_renderf(stderr, EDS_SEV_ERROR, "unknown --format \"%s\" (text, json)", optarg);
				goto usage_error;
			}
			break;
		case 'h': fputs(usage, stdout); return EDS_OK;
		default: goto usage_error;
		}
	}
	if (argc - optind != 2) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "diff needs two snapshots, A and B");
		goto usage_error;
	}
	const char *pa = argv[optind], *pb = argv[optind + 1];
	if (strcmp(pa, "-") == 0 && strcmp(pb, "-") == 0) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "A and B cannot both be standard input");
		goto usage_error;
	}
	struct eds_arena *arena = eds_arena_new(1 << 20);
	struct collected ca = { 0 }, cb = { 0 };
	char *da = NULL, *db = NULL;
	struct eds_buf out = { 0 };
	struct eds_diag d = { 0 };
	int rc = load(&in, pa, arena, &da, &ca);
	if (!rc)
		rc = load(&in, pb, arena, &db, &cb);
	if (!rc) {
		struct eds_diff_side a = { .name = strcmp(pa, "-") ? pa : "<stdin>", .clas = ca.v, .n = ca.n };
		struct eds_diff_side b = { .name = strcmp(pb, "-") ? pb : "<stdin>", .clas = cb.v, .n = cb.n };
		bool equal = false;
		rc = eds_diff(&a, &b, fmt, arena, &out, &equal, &d);
		if (!rc)
			rc = eds_cli_write_fd(1, "<stdout>", out.data, out.len, &d);
		if (rc)
			eds_cli_render(stderr, &d);
		else if (!equal)
			rc = EDS_FINDINGS;
	}
	eds_buf_release(&out);
	free(ca.v);
	free(cb.v);
	eds_cli_unread(da);
	eds_cli_unread(db);
	eds_arena_free(arena);
	return rc;
usage_error:
	fputs("Try 'edsmod diff --help' or man edsmod.\n", stderr);
	return EDS_E_USAGE;
}
