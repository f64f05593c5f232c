#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"

int eds_cli_input_opt(struct eds_cli_input_opts *o, int opt, const char *arg)
{
	long long v;
	switch (opt) {
	case OPT_FROM:
		if (eds_format_parse(arg, &o->from) < 0) {
			eds_cli_renderf(stderr, EDS_SEV_ERROR,
					"unknown format \"%s\" for --from (binary, json, yaml, text, auto)", arg);
			return -1;
		}
		return 1;
	case OPT_CONTAINER:
		if (eds_container_parse(arg, &o->container) < 0) {
			eds_cli_renderf(stderr, EDS_SEV_ERROR,
					"unknown container \"%s\" for --container (auto, cla, list, jsonl, delimited, "
					"discovery, config-dump)", arg);
			return -1;
		}
		return 1;
	case OPT_MAX_INPUT:
	case OPT_MAX_OUTPUT:
		v = eds_cli_parse_size(arg);
		if (v <= 0) {
			eds_cli_renderf(stderr, EDS_SEV_ERROR,
					"bad size \"%s\" for %s (a number, optionally with K, M or G)", arg,
					opt == OPT_MAX_INPUT ? "--max-input" : "--max-output");
			return -1;
		}
		if (opt == OPT_MAX_INPUT)
			o->lim.max_input = (size_t)v;
		else
			o->lim.max_output = (size_t)v;
		return 1;
	case OPT_MAX_DEPTH: {
		char *end;
		long d = strtol(arg, &end, 10);
		if (*end || end == arg || d < 1 || d > 10000) {
			eds_cli_renderf(stderr, EDS_SEV_ERROR, "bad --max-depth \"%s\" (1..10000)", arg);
			return -1;
		}
		o->lim.max_depth = (unsigned)d;
		return 1;
	}
	default:
		return eds_cli_limit_opt(&o->lim, opt, arg);
	}
}
