#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "codec_json.h"
#include "codec_text.h"
#include "codec_yaml.h"
#include "schema.h"

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
		return 0;
	}
}

int eds_cli_decode(const struct eds_cli_input_opts *o, const struct eds_src *src,
		   struct eds_arena *arena, enum eds_format *fmt, ProtobufCMessage **out,
		   struct eds_diag *d)
{
	enum eds_format f = o->from;
	if (f == EDS_FMT_AUTO)
		f = eds_format_detect(src->text, src->len);
	if (o->from == EDS_FMT_AUTO && f == EDS_FMT_TEXT && eds_yaml_detect(src->text, src->len) > 0)
		f = EDS_FMT_YAML;
	*fmt = f;
	int rc = eds_codec_decode(f, eds_schema_cla, src, arena, &o->lim, out, d);
	if (rc == EDS_E_DECODE && o->from == EDS_FMT_AUTO && f == EDS_FMT_TEXT) {
		/* Printable bytes can still be a binary message (a lone short
		 * cluster_name); prefer the text error unless binary parses. */
		struct eds_diag d2 = { 0 };
		if (eds_codec_decode(EDS_FMT_BINARY, eds_schema_cla, src, arena, &o->lim, out, &d2) ==
		    EDS_OK) {
			*fmt = EDS_FMT_BINARY;
			return EDS_OK;
		}
	}
	return rc;
}

void eds_cli_locate(struct eds_diag *d, const struct eds_src *src, enum eds_format fmt)
{
	size_t start, end;
	int rc = -1;
	if (!d->path[0])
		return;
	if (fmt == EDS_FMT_JSON)
		rc = eds_json_locate(src, d->path, &start, &end);
	else if (fmt == EDS_FMT_TEXT)
		rc = eds_text_locate(src, eds_schema_cla, d->path, &start, &end);
	else if (fmt == EDS_FMT_YAML)
		rc = eds_yaml_locate(src, d->path, &start, &end);
	if (rc >= 0)
		eds_diag_span(d, src, start, end);
	else
		d->src = src;
}
