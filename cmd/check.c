/*
 * check: validate snapshots.  One line per finding on stdout; exit 0 when
 * clean, 1 (EDS_FINDINGS) when errors were found (or warnings, with
 * --strict), and the usual codes for bad rules or unreadable input.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "cmd.h"
#include "container.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "rules.h"

enum out_format { OUT_TEXT, OUT_JSON, OUT_GITHUB };

static const struct option longopts[] = {
	{ "expression", required_argument, NULL, 'e' },
	{ "file", required_argument, NULL, 'f' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "grpc", no_argument, NULL, OPT_GRPC },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "container", required_argument, NULL, OPT_CONTAINER },
	{ "max-input", required_argument, NULL, OPT_MAX_INPUT },
	{ "max-depth", required_argument, NULL, OPT_MAX_DEPTH },
	{ "max-string", required_argument, NULL, EDS_OPT_MAX_STRING },
	{ "max-rules", required_argument, NULL, EDS_OPT_MAX_RULES },
	{ "max-rules-size", required_argument, NULL, EDS_OPT_MAX_RULES_SIZE },
	{ "max-regex", required_argument, NULL, EDS_OPT_MAX_REGEX },
	{ "max-regexes", required_argument, NULL, EDS_OPT_MAX_REGEXES },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"usage: edsmod check [-e RULE]... [-f FILE]... [--format text|json|github] [--strict]\n"
	"                    [--grpc] [--from FMT] [--container C] FILE...\n"
	"Validate ClusterLoadAssignments against Envoy's constraints and your assertions.\n"
	"See edsmod(1), CHECKS.\n";

static const char *sev_names[] = { "error", "warning", "note" };

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* GitHub workflow commands: %, CR, LF escaped; in properties also : and , */
static void gh_str(FILE *f, const char *s, int prop)
{
	for (; *s; s++) {
		if (*s == '%')
			fputs("%25", f);
		else if (*s == '\r')
			fputs("%0D", f);
		else if (*s == '\n')
			fputs("%0A", f);
		else if (prop && *s == ':')
			fputs("%3A", f);
		else if (prop && *s == ',')
			fputs("%2C", f);
		else
			fputc(*s, f);
	}
}

/* A message on one line: control characters (an assert's message may hold
 * a newline) as C escapes. */
static void line_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

/* site: the CLA the finding is about, when it sits in a container. */
static void emit(enum out_format fmt, const char *file, const struct eds_site *site,
		 const struct eds_diag *d, int *first)
{
	char label[320] = "";
	if (site)
		eds_site_label(site, label, sizeof label);
	unsigned line = 0, col = 0;
	if (d->src && d->loc == EDS_LOC_SPAN)
		eds_src_linecol(d->src, d->span.start, &line, &col);
	const char *sev = sev_names[d->severity];
	switch (fmt) {
	case OUT_TEXT:
		if (line)
			printf("%s:%u:%u: ", file, line, col);
		else
			printf("%s: ", file);
		if (label[0])
			printf("%s: ", label);
		if (d->path[0])
			printf("%s: ", d->path);
		printf("%s: ", sev);
		line_str(stdout, d->msg);
		if (d->id)
			printf(" [%s]", d->id);
		putchar('\n');
		break;
	case OUT_JSON:
		printf("%s\n  {\"file\": ", *first ? "" : ",");
		json_str(stdout, file);
		if (line)
			printf(", \"line\": %u, \"column\": %u", line, col);
		if (label[0]) {
			const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla = (const void *)site->cla;
			printf(", \"resource\": ");
			json_str(stdout, site->place);
			printf(", \"cluster\": ");
			json_str(stdout, cla && cla->cluster_name ? cla->cluster_name : "");
		}
		printf(", \"path\": ");
		json_str(stdout, d->path);
		printf(", \"severity\": \"%s\", \"id\": ", sev);
		json_str(stdout, d->id ? d->id : "");
		printf(", \"message\": ");
		json_str(stdout, d->msg);
		putchar('}');
		break;
	case OUT_GITHUB:
		printf("::%s file=", d->severity == EDS_SEV_ERROR ? "error" : "warning");
		gh_str(stdout, file, 1);
		if (line)
			printf(",line=%u,col=%u", line, col);
		printf(",title=");
		gh_str(stdout, "edsmod ", 1);
		gh_str(stdout, d->id ? d->id : "check", 1);
		printf("::");
		if (label[0]) {
			gh_str(stdout, label, 0);
			fputs(": ", stdout);
		}
		if (d->path[0]) {
			gh_str(stdout, d->path, 0);
			fputs(": ", stdout);
		}
		gh_str(stdout, d->msg, 0);
		putchar('\n');
		break;
	}
	*first = 0;
}

struct cctx {
	enum out_format fmt;
	const struct eds_check_opts *co;
	struct eds_program *prog;
	struct eds_arena *arena;
	const struct eds_src *src;
	const char *name;
	int *first;
	size_t nerrors, nwarnings;
	int bad_input;
};

/* Envoy's constraints and the assertions, on one CLA of the input. */
static int check_site(void *ctx, struct eds_site *st, struct eds_diag *d)
{
	struct cctx *c = ctx;
	if (!st->cla) { /* did not decode; the others are still checked */
		if (!d->src)
			d->src = c->src;
		eds_cli_render(stderr, d);
		if (!c->bad_input)
			c->bad_input = d->code;
		return EDS_OK;
	}
	struct eds_diags f = { 0 };
	struct eds_check_opts co = *c->co;
	/* (a lone CLA: a large list of small ones would pay a thread each) */
	bool apart = !st->place[0] && c->src->len >= EDS_CLI_PARALLEL_CHECK_MIN;
	struct eds_cli_check_job sem;
	if (apart)
		eds_cli_check_start(&sem, st->cla, &co, EDS_CHECK_SEMANTICS);
	co.parts = apart ? EDS_CHECK_FIELDS : 0;
	eds_check_cla(st->cla, &co, &f);
	if (apart) /* joined before the rules, which may change the CLA */
		eds_cli_check_join(&sem, &f);
	if (c->prog) {
		bool changed;
		struct eds_run_opts ro = { .mode = EDS_RUN_CHECK, .findings = &f, .input = c->src };
		int r = eds_rules_run(c->prog, st->cla, c->arena, &ro, &changed, d);
		if (r) {
			eds_site_path(st, d);
			eds_cli_render(stderr, d);
			eds_diag_clear(d);
			if (!c->bad_input)
				c->bad_input = r;
		}
	}
	for (size_t k = 0; k < f.n; k++) {
		if (f.v[k].loc != EDS_LOC_SPAN || f.v[k].src != c->src)
			eds_container_locate(st, &f.v[k]);
		emit(c->fmt, c->name, st->place[0] ? st : NULL, &f.v[k], c->first);
	}
	eds_diags_count(&f);
	c->nerrors += f.nerrors;
	c->nwarnings += f.nwarnings;
	eds_diags_release(&f);
	return EDS_OK;
}

int cmd_check(int argc, char **argv)
{
	struct eds_cli_input_opts in = { .lim = eds_limits_default };
	struct eds_cli_rules rules = { 0 };
	struct eds_check_opts co = { 0 };
	enum out_format fmt = OUT_TEXT;
	bool strict = false;
	struct eds_diag d = { 0 };
	int c, rc = EDS_OK;

	argv[0] = "edsmod check"; /* getopt names the command in its messages */
	optind = 1;
	while ((c = getopt_long(argc, argv, "e:f:h", longopts, NULL)) != -1) {
		int r = eds_cli_input_opt(&in, c, optarg);
		if (r < 0)
			goto usage_error;
		if (r > 0)
			continue;
		switch (c) {
		case 'e': eds_cli_rules_add_expr(&rules, optarg); break;
		case 'f': eds_cli_rules_add_file(&rules, optarg); break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") == 0)
				fmt = OUT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				fmt = OUT_JSON;
			else if (strcmp(optarg, "github") == 0)
				fmt = OUT_GITHUB;
			else {
				eds_cli_renderf(stderr, EDS_SEV_ERROR,
						"unknown --format \"%s\" (text, json, github)", optarg);
				goto usage_error;
			}
			break;
		case OPT_STRICT: strict = true; break;
		case OPT_GRPC: co.grpc = true; break;
		case 'h': fputs(usage, stdout); goto done;
		default: goto usage_error;
		}
	}
	if (optind == argc) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "check needs at least one FILE (- for stdin)");
		goto usage_error;
	}

	struct eds_arena *prog_arena = eds_arena_new(1 << 16);
	struct eds_program *prog = NULL;
	if (rules.n && (rc = eds_cli_rules_compile(&rules, &in.lim, prog_arena, &prog))) {
		eds_arena_free(prog_arena);
		goto done;
	}
	struct eds_arena *arena = eds_arena_new(1 << 20);
	int first = 1;
	if (fmt == OUT_JSON)
		putchar('[');
	struct cctx cx = { .fmt = fmt, .co = &co, .prog = prog, .arena = arena, .first = &first };
	for (int i = optind; i < argc; i++) {
		char *data = NULL;
		size_t len = 0;
		const char *name = strcmp(argv[i], "-") ? argv[i] : "<stdin>";
		struct eds_src src = { .name = name };
		int r = eds_cli_read(argv[i], in.lim.max_input, &data, &len, &d);
		if (!r) {
			src.text = data;
			src.len = len;
			cx.src = &src;
			cx.name = name;
			struct eds_container_opts o = { .from = in.from, .kind = in.container, .lim = in.lim,
							.keep_going = true };
			if ((r = eds_container_run(&src, &o, arena, check_site, &cx, NULL, NULL, &d)) && !d.src)
				d.src = &src;
		}
		if (r) {
			eds_cli_render(stderr, &d);
			eds_diag_clear(&d);
			if (!cx.bad_input || r == EDS_E_IO)
				cx.bad_input = r;
		}
		eds_cli_unread(data);
		eds_arena_reset(arena);
	}
	size_t nerrors = cx.nerrors, nwarnings = cx.nwarnings;
	int bad_input = cx.bad_input;
	if (fmt == OUT_JSON)
		printf("%s]\n", first ? "" : "\n");
	if (fmt == OUT_TEXT && (nerrors || nwarnings))
		fprintf(stderr, "%s: check: %zu error%s, %zu warning%s\n", eds_cli_prog, nerrors,
			nerrors == 1 ? "" : "s", nwarnings, nwarnings == 1 ? "" : "s");
	fflush(stdout);
	if (bad_input)
		rc = bad_input;
	else if (nerrors || (strict && nwarnings))
		rc = EDS_FINDINGS;
	eds_arena_free(arena);
	if (prog)
		eds_rules_release(prog);
	eds_arena_free(prog_arena);
done:
	eds_cli_rules_release(&rules);
	return rc;
usage_error:
	fputs("Try 'edsmod check --help' or man edsmod.\n", stderr);
	eds_cli_rules_release(&rules);
	return EDS_E_USAGE;
}
