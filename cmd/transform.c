/*
 * transform: the default command.  Read each input, apply the rules, write
 * it out.  All output is built in memory first: nothing is written unless
 * every input decoded, ran and encoded cleanly (with -i, each file stands
 * alone and is replaced atomically).
 */
#include <getopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "cmd.h"
#include "container.h"
#include "rules.h"

static const char usage[] =
	"usage: edsmod [--from FMT] [--to FMT] [-e RULE]... [-f FILE]... [-o OUT | -i] [FILE...]\n"
	"       edsmod check [-e RULE]... [-f FILE]... [--format text|json|github] [--strict] FILE...\n"
	"       edsmod diff [--format text|json] A B\n"
	"       edsmod serve [--listen ADDR]... [-e RULE]... [-f FILE]...\n"
	"Rewrite Envoy ClusterLoadAssignments (binary, json, yaml or text protobuf).\n"
	"  --from FMT       input format: auto (default), binary, json, yaml, text\n"
	"  --to FMT         output format (default: the input's)\n"
	"  --container C    auto (default), cla, list, jsonl, delimited, discovery, config-dump\n"
	"  -e RULE          apply RULE (repeatable; in order with -f)\n"
	"  -f FILE          apply the rules in FILE (repeatable)\n"
	"  -o OUT           write to OUT (atomically) instead of stdout\n"
	"  -i               edit each FILE in place (atomically)\n"
	"  --pretty, --compact, --proto-names   JSON output layout and field names\n"
	"  --validate, --no-validate, --skip-errors\n"
	"  --max-input N, --max-depth N, --max-output N, --max-string N\n"
	"  --max-rules N, --max-rules-size N, --max-regex N, --max-regexes N\n"
	"  -h, --help, --version\n"
	"See edsmod(1) for the rules language, exit statuses and examples.\n";

static const struct option longopts[] = {
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "container", required_argument, NULL, OPT_CONTAINER },
	{ "output", required_argument, NULL, 'o' },
	{ "in-place", no_argument, NULL, 'i' },
	{ "expression", required_argument, NULL, 'e' },
	{ "file", required_argument, NULL, 'f' },
	{ "pretty", no_argument, NULL, OPT_PRETTY },
	{ "compact", no_argument, NULL, OPT_COMPACT },
	{ "proto-names", no_argument, NULL, OPT_PROTO_NAMES },
	{ "validate", no_argument, NULL, OPT_VALIDATE },
	{ "no-validate", no_argument, NULL, OPT_NO_VALIDATE },
	{ "skip-errors", no_argument, NULL, OPT_SKIP_ERRORS },
	{ "max-input", required_argument, NULL, OPT_MAX_INPUT },
	{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
	{ "max-output", required_argument, NULL, OPT_MAX_OUTPUT },
	{ "max-string", required_argument, NULL, EDS_OPT_MAX_STRING },
	{ "max-rules", required_argument, NULL, EDS_OPT_MAX_RULES },
	{ "max-rules-size", required_argument, NULL, EDS_OPT_MAX_RULES_SIZE },
	{ "max-regex", required_argument, NULL, EDS_OPT_MAX_REGEX },
	{ "max-regexes", required_argument, NULL, EDS_OPT_MAX_REGEXES },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct transform {
	struct eds_cli_input_opts in;
	enum eds_format to;
	int pretty;   /* -1: default */
	bool proto_names, validate, no_validate, skip_errors, in_place;
	const char *out_path;
	struct eds_program *prog;
};

/*
 * The validation of a large rewritten CLA runs on two more threads while
 * the container encodes it (all three only read the tree), one for each
 * part of the check; the output is kept only if it passes.
 */

struct tsite {
	struct transform *t;
	const struct eds_src *src;
	struct eds_arena *arena;
	bool reported; /* the callback printed its own diagnostics */
	bool pending;  /* the jobs run */
	struct eds_cli_check_job job[2];
	struct eds_site site; /* a copy: a lone CLA's, which needs no container */
};

/* Print the errors of an invalid CLA (f holds nerr of them) and the verdict. */
static int report_invalid(struct tsite *ts, struct eds_site *st, bool changed, struct eds_diags *f, size_t nerr)
{
	const struct eds_src *src = ts->src;
	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].severity != EDS_SEV_ERROR)
			continue;
		if (!changed)
			eds_container_locate(st, &f->v[i]);
		else
			f->v[i].src = src;
		eds_site_path(st, &f->v[i]);
		eds_cli_render(stderr, &f->v[i]);
	}
	char label[320];
	eds_site_label(st, label, sizeof label);
	eds_cli_renderf(stderr, EDS_SEV_ERROR,
			"%s: %s%s%s is not a valid ClusterLoadAssignment (%zu error%s); nothing written%s",
			src->name, changed ? "the result of the rules" : label[0] ? "" : "the input",
			changed && label[0] ? " for " : "", label, nerr, nerr == 1 ? "" : "s",
			changed ? " (--no-validate writes it anyway)" : "");
	ts->reported = true;
	return EDS_E_INVALID;
}

/* Rules, then validation, for one CLA of the input. */
static int on_site(void *ctx, struct eds_site *st, struct eds_diag *d)
{
	struct tsite *ts = ctx;
	struct transform *t = ts->t;
	const struct eds_src *src = ts->src;
	bool changed = false;
	int rc;
	if (t->prog) {
		struct eds_diags warns = { 0 };
		struct eds_run_opts ro = { .mode = EDS_RUN_TRANSFORM,
					   .skip_errors = t->skip_errors,
					   .findings = &warns,
					   .input = src };
		rc = eds_rules_run(t->prog, st->cla, ts->arena, &ro, &changed, d);
		for (size_t i = 0; i < warns.n; i++) {
			eds_site_path(st, &warns.v[i]);
			eds_cli_render(stderr, &warns.v[i]);
		}
		eds_diags_release(&warns);
		if (rc) {
			eds_site_path(st, d);
			eds_cli_render(stderr, d);
			ts->reported = true;
			return rc;
		}
	}
	st->changed = changed;
	if ((changed && !t->no_validate) || t->validate) {
		if (changed && !st->place[0] && src->len >= EDS_CLI_PARALLEL_CHECK_MIN && !ts->pending) {
			struct eds_check_opts co = { .errors_only = true }; /* (report_invalid) */
			ts->site = *st;
			ts->pending = true;
			eds_cli_check_start(&ts->job[0], st->cla, &co, EDS_CHECK_FIELDS);
			eds_cli_check_start(&ts->job[1], st->cla, &co, EDS_CHECK_SEMANTICS);
			return EDS_OK; /* one() joins them */
		}
		struct eds_diags f = { 0 };
		struct eds_check_opts co = { .errors_only = true }; /* only errors refuse a CLA */
		size_t nerr = eds_check_cla(st->cla, &co, &f);
		rc = nerr ? report_invalid(ts, st, changed, &f, nerr) : EDS_OK;
		eds_diags_release(&f);
		return rc;
	}
	return EDS_OK;
}

static void *free_arena(void *arena)
{
	eds_arena_free(arena);
	return NULL;
}

/* Decode, run, validate and encode one input (every CLA in it), appending to out. */
static int one(struct transform *t, const struct eds_src *src, struct eds_arena *arena,
	       struct eds_buf *out, enum eds_format *to_used)
{
	struct eds_diag d = { 0 };
	struct tsite ts = { .t = t, .src = src, .arena = arena };
	struct eds_container_opts o = { .from = t->in.from,
					.kind = t->in.container,
					.lim = t->in.lim,
					.to = t->to,
					.enc = { .proto_names = t->proto_names } };
	if (t->pretty >= 0)
		o.pretty = t->pretty;
	else if (t->in_place)
		o.pretty = -1; /* keep the file's layout */
	else
		o.pretty = !t->out_path && isatty(1);
	struct eds_container_info info;
	size_t before = out->len;
	int rc = eds_container_run(src, &o, arena, on_site, &ts, out, &info, &d);
	*to_used = info.to;
	if (ts.pending) {
		struct eds_diags f = { 0 };
		size_t nerr = eds_cli_check_join(&ts.job[0], &f);
		nerr += eds_cli_check_join(&ts.job[1], &f);
		if (nerr) /* what a validation before encoding would have said */
			rc = report_invalid(&ts, &ts.site, true, &f, nerr);
		eds_diags_release(&f);
	}
	if (rc) {
		out->len = before;
		if (!ts.reported) {
			if (!d.src)
				d.src = src;
			eds_cli_render(stderr, &d);
		}
	}
	return rc;
}

int cmd_transform(int argc, char **argv)
{
	struct transform t = { .in = { .lim = eds_limits_default }, .pretty = -1 };
	struct eds_cli_rules rules = { 0 };
	struct eds_diag d = { 0 };
	int c, rc = EDS_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "e:f:o:ih", longopts, NULL)) != -1) {
		int r = eds_cli_input_opt(&t.in, c, optarg);
		if (r < 0)
			goto usage_error;
		if (r > 0)
			continue;
		switch (c) {
		case 'e': eds_cli_rules_add_expr(&rules, optarg); break;
		case 'f': eds_cli_rules_add_file(&rules, optarg); break;
		case 'o': t.out_path = optarg; break;
		case 'i': t.in_place = true; break;
		case OPT_TO:
			if (eds_format_parse(optarg, &t.to) < 0 || t.to == EDS_FMT_AUTO) {
				eds_cli_renderf(stderr, EDS_SEV_ERROR,
						"unknown format \"%s\" for --to (binary, json, yaml, text)", optarg);
				goto usage_error;
			}
			break;
		case OPT_PRETTY: t.pretty = 1; break;
		case OPT_COMPACT: t.pretty = 0; break;
		case OPT_PROTO_NAMES: t.proto_names = true; break;
		case OPT_VALIDATE: t.validate = true; break;
		case OPT_NO_VALIDATE: t.no_validate = true; break;
		case OPT_SKIP_ERRORS: t.skip_errors = true; break;
		case 'h': fputs(usage, stdout); goto done;
		case OPT_VERSION: printf("edsmod %s\n", EDSMOD_VERSION); goto done;
		default: goto usage_error;
		}
	}
	char **files = argv + optind;
	int nfiles = argc - optind;
	static char *stdin_only[] = { "-", NULL };
	if (nfiles == 0) {
		if (t.in_place) {
			eds_cli_renderf(stderr, EDS_SEV_ERROR, "-i needs at least one FILE to edit");
			goto usage_error;
		}
		files = stdin_only;
		nfiles = 1;
	}
	if (t.in_place && t.out_path) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "-i and -o cannot be used together");
		goto usage_error;
	}
	if (t.validate && t.no_validate) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "--validate and --no-validate cannot be used together");
		goto usage_error;
	}
	for (int i = 0; t.in_place && i < nfiles; i++) {
		if (strcmp(files[i], "-") == 0) {
			eds_cli_renderf(stderr, EDS_SEV_ERROR, "-i cannot edit standard input");
			goto usage_error;
		}
	}
	for (int i = 0; t.in_place && i < nfiles; i++) {
		struct stat st; /* (a FIFO would be read, then could not be replaced) */
		if (stat(files[i], &st) == 0 && !S_ISREG(st.st_mode)) {
			eds_cli_renderf(stderr, EDS_SEV_ERROR, "cannot edit \"%s\" in place: not a regular file",
					files[i]);
			eds_cli_rules_release(&rules);
			return EDS_E_IO;
		}
	}

	struct eds_arena *prog_arena = eds_arena_new(1 << 16);
	if (rules.n) {
		rc = eds_cli_rules_compile(&rules, &t.in.lim, prog_arena, &t.prog);
		if (rc)
			goto free_prog;
	}

	struct eds_arena *arena = eds_arena_new(1 << 20);
	struct eds_buf out = { .max = t.in.lim.max_output };
	enum eds_format first_to = EDS_FMT_AUTO;
	int nfailed = 0;
	for (int i = 0; i < nfiles; i++) {
		char *data = NULL;
		size_t len = 0;
		struct eds_src src = { .name = strcmp(files[i], "-") ? files[i] : "<stdin>" };
		int r = eds_cli_read(files[i], t.in.lim.max_input, &data, &len, &d);
		if (r) {
			eds_cli_render(stderr, &d);
		} else {
			src.text = data;
			src.len = len;
			enum eds_format to = EDS_FMT_AUTO;
			size_t before = out.len;
			if (t.in_place)
				out.len = 0;
			r = one(&t, &src, arena, &out, &to);
			if (!r && !t.in_place && i > 0 && to == EDS_FMT_YAML) {
				/* one YAML document per input */
				size_t n = out.len - before;
				eds_buf_append(&out, "---\n", 4);
				if (!eds_buf_overflowed(&out)) {
					memmove(out.data + before + 4, out.data + before, n);
					memcpy(out.data + before, "---\n", 4);
				}
			}
			if (!r && t.in_place) {
				r = eds_cli_write_atomic(files[i], out.data, out.len, true, &d);
				if (r)
					eds_cli_render(stderr, &d);
			} else if (!r && nfiles > 1 && to != EDS_FMT_JSON && to != EDS_FMT_YAML) {
				eds_cli_renderf(stderr, EDS_SEV_ERROR,
						"%d inputs cannot go to one %s output: protobuf would merge them "
						"into one message; use -i, one file at a time, or --to json",
						nfiles, eds_format_name(to));
				eds_cli_unread(data);
				rc = EDS_E_USAGE;
				goto free_all;
			} else if (r) {
				out.len = before;
			}
			if (first_to == EDS_FMT_AUTO)
				first_to = to;
		}
		eds_cli_unread(data);
		if (t.in_place || i + 1 < nfiles)
			eds_arena_reset(arena); /* (the last is freed while the output is written) */
		if (r) {
			nfailed++;
			if (!rc)
				rc = r;
			if (!t.in_place)
				break; /* nothing is written: stop at the first failure */
		}
	}
	if (t.in_place && nfailed && nfiles > 1)
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "%d of %d files failed and were left unchanged",
				nfailed, nfiles);
	/* Giving back a large input's tree takes milliseconds: another thread
	 * does it while the output is written (a small one is not worth it). */
	pthread_t reaper;
	bool reaping = eds_arena_used(arena) >= ((size_t)4 << 20) &&
		       pthread_create(&reaper, NULL, free_arena, arena) == 0;
	if (!reaping)
		eds_arena_free(arena);
	arena = NULL;
	if (!rc && !t.in_place) {
		if (t.out_path && strcmp(t.out_path, "-") != 0)
			rc = eds_cli_write_atomic(t.out_path, out.data, out.len, false, &d);
		else
			rc = eds_cli_write_fd(1, "<stdout>", out.data, out.len, &d);
		if (rc)
			eds_cli_render(stderr, &d);
	}
	if (reaping)
		pthread_join(reaper, NULL);
free_all:
	eds_buf_release(&out);
	eds_arena_free(arena);
free_prog:
	if (t.prog)
		eds_rules_release(t.prog);
	eds_arena_free(prog_arena);
done:
	eds_cli_rules_release(&rules);
	return rc;
usage_error:
	fputs("Try 'edsmod --help' or man edsmod.\n", stderr);
	eds_cli_rules_release(&rules);
	return EDS_E_USAGE;
}
