/*
 * edsmod-serve: Envoy Gateway's extension server (`edsmod serve` execs it).
 *
 * Every call runs the same rules as `edsmod transform`:
 *   PostEndpointsModify  decode -> rules -> check -> encode; an unchanged
 *                        CLA is answered with an empty response ("no change")
 *   PostClusterModify,   rules on the CLA inlined in Cluster.load_assignment
 *   PostTranslateModify  (field 33).  Clusters are not re-encoded: their
 *                        top-level fields are scanned and only field 33's
 *                        bytes are replaced when the rules changed the CLA;
 *                        every other byte, secret, listener and route is
 *                        copied verbatim.
 *   grpc.health.v1.Health/Check  SERVING
 *   anything else        UNIMPLEMENTED
 * Status codes: bytes that do not decode -> INVALID_ARGUMENT; a rule that
 * fails, renames the cluster or leaves an invalid CLA -> FAILED_PRECONDITION
 * (the request was fine; this server's rules cannot handle it), naming the
 * cluster, the rule and the finding.  The inline CLA of a STRICT_DNS or
 * LOGICAL_DNS cluster (or of the DNS cluster extension) names hosts, so its
 * ip-literal findings are no error.
 * EDSMOD_SERVE_TEST_DELAY_MS=N (for tests) holds every call N ms so a test
 * can signal the server while a call is in flight;
 * EDSMOD_SERVE_TEST_SEND_TIMEOUT_MS=N cancels a reply its client has not
 * read after N ms instead of 30 s (testdata/abuse.bats);
 * EDSMOD_SERVE_TEST_GRACE_MS=N gives a drain N ms instead of 10 s.
 *
 * No gRPC call here: the transport is serve_grpc.c.  Threads: the main
 * thread waits for signals (SIGHUP reloads the -f files, SIGTERM/SIGINT
 * drain and exit 0); workers call handle() with their own request arena.
 * The compiled rules are shared read-only; a reload swaps in a new
 * generation, and the old one is freed when its last call finishes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "codec.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoygateway/extension/service.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rules.h"
#include "schema.h"
#include "serve_cache.h"
#include "serve_grpc.h"

#define DRAIN_GRACE_MS 10000
#define ARENA_KEEP ((size_t)64 << 20) /* arenas and buffers bigger than this are freed after a call */
#define REPLY_MAX ((size_t)INT32_MAX)

static const char usage[] =
	"usage: edsmod serve [--listen ADDR]... [-e RULE]... [-f FILE]... [options]\n"
	"Envoy Gateway extension server: apply the rules to every ClusterLoadAssignment\n"
	"Envoy Gateway sends (PostEndpointsModify, PostClusterModify, PostTranslateModify).\n"
	"  --listen ADDR            HOST:PORT, [V6]:PORT or unix:PATH (repeatable;\n"
	"                           default 127.0.0.1:5005)\n"
	"  -e RULE                  apply RULE (repeatable; in order with -f)\n"
	"  -f FILE                  apply the rules in FILE (repeatable; SIGHUP reloads)\n"
	"  --threads N              worker threads (default: the CPUs it may run on,\n"
	"                           at most 16)\n"
	"  --cache-size SIZE        memory for the replies to requests seen before\n"
	"                           (default 64M; 0: no cache)\n"
	"  --max-message-size SIZE  largest request accepted (default 64M)\n"
	"  --max-string SIZE, --max-rules N, --max-rules-size SIZE, --max-regex SIZE,\n"
	"  --max-regexes N          limits as for transform (edsmod(1), LIMITS AND GUARANTEES)\n"
	"  --tls-cert FILE, --tls-key FILE   serve TLS with this certificate and key\n"
	"  --client-ca FILE         require client certificates signed by these CAs\n"
	"  --log-level LEVEL        error, warn, info (default; one line per call), debug\n"
	"  -h, --help\n"
	"SIGHUP reloads the rules files; SIGTERM or SIGINT drains in-flight calls and exits.\n"
	"See edsmod(1), SERVE.\n";

enum {
	OPT_LISTEN = 0x100,
	OPT_THREADS,
	OPT_CACHE_SIZE,
	OPT_MAX_MESSAGE,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_CLIENT_CA,
	OPT_LOG_LEVEL,
};

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "expression", required_argument, NULL, 'e' },
	{ "file", required_argument, NULL, 'f' },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "cache-size", required_argument, NULL, OPT_CACHE_SIZE },
	{ "max-message-size", required_argument, NULL, OPT_MAX_MESSAGE },
	{ "max-string", required_argument, NULL, EDS_OPT_MAX_STRING },
	{ "max-rules", required_argument, NULL, EDS_OPT_MAX_RULES },
	{ "max-rules-size", required_argument, NULL, EDS_OPT_MAX_RULES_SIZE },
	{ "max-regex", required_argument, NULL, EDS_OPT_MAX_REGEX },
	{ "max-regexes", required_argument, NULL, EDS_OPT_MAX_REGEXES },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "client-ca", required_argument, NULL, OPT_CLIENT_CA },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* ---- logging: one write(2) per line so lines from workers never mix ---- */

static enum serve_log_level log_level = SERVE_LOG_INFO;
static const char *const level_names[] = { "error", "warning", "info", "debug" };

__attribute__((format(printf, 2, 3)))
static void logmsg(enum serve_log_level lv, const char *fmt, ...)
{
	if (lv > log_level)
		return;
	char line[2048];
	int n = snprintf(line, sizeof line, "%s: %s: ", eds_cli_prog, level_names[lv]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	while (write(2, line, len) < 0 && errno == EINTR)
		;
}

/*
 * Lines about single calls, and gRPC's own, are rate-limited: a peer that
 * opens and resets streams as fast as it can (HTTP/2 "rapid reset") must
 * not turn each one into a log line.  Past LOG_PER_SEC lines in a second
 * they are counted instead, and log_allow (or main, every second) reports
 * the count in one line.  Start-up, reload and shutdown lines always go.
 */
#define LOG_PER_SEC 100

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static time_t log_sec;
static unsigned log_lines;
static unsigned long log_dropped[4];

/* A new second: say how many lines the last one dropped.  Under log_lock. */
static void log_roll(time_t sec)
{
	if (sec == log_sec)
		return;
	log_sec = sec;
	log_lines = 0;
	unsigned long n = 0;
	int worst = SERVE_LOG_DEBUG;
	for (int i = SERVE_LOG_DEBUG; i >= SERVE_LOG_ERROR; i--) {
		n += log_dropped[i];
		if (log_dropped[i])
			worst = i;
	}
	if (!n)
		return;
	char by[200] = "";
	size_t o = 0;
	for (int i = SERVE_LOG_ERROR; i <= SERVE_LOG_DEBUG; i++)
		if (log_dropped[i] && o < sizeof by)
			o += (size_t)snprintf(by + o, sizeof by - o, "%s%lu %s", o ? ", " : "", log_dropped[i],
					      level_names[i]);
	memset(log_dropped, 0, sizeof log_dropped);
	logmsg((enum serve_log_level)worst, "%lu more line%s not logged (over %d a second): %s", n,
	       n == 1 ? "" : "s", LOG_PER_SEC, by);
}

static time_t log_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return ts.tv_sec;
}

/* May a line of level lv about one call be logged now? */
static bool log_allow(enum serve_log_level lv)
{
	if (lv > log_level)
		return false;
	pthread_mutex_lock(&log_lock);
	log_roll(log_now());
	bool ok = log_lines < LOG_PER_SEC;
	if (ok)
		log_lines++;
	else
		log_dropped[lv]++;
	pthread_mutex_unlock(&log_lock);
	return ok;
}

/* Report what the rate limit held back: from seconds past, or (at exit) all. */
static void log_flush(bool all)
{
	pthread_mutex_lock(&log_lock);
	log_roll(all ? log_sec + 1 : log_now());
	pthread_mutex_unlock(&log_lock);
}

static void grpc_log(enum serve_log_level lv, bool per_event, const char *msg)
{
	if (per_event ? log_allow(lv) : lv <= log_level)
		logmsg(lv, "%s", msg);
}

/* Copy s into out (size > 4) as printable UTF-8: invalid bytes and control
 * characters become \xNN (names from the wire must not break log lines). */
static void utf8_clean(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	while (n && o + 5 < size) {
		size_t k = eds_utf8_valid_prefix(s, n);
		for (size_t i = 0; i < k; i++) {
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) {
				k = i;
				break;
			}
		}
		if (k > size - 5 - o) {
			k = size - 5 - o;
			while (k && ((unsigned char)s[k] & 0xC0) == 0x80)
				k--; /* do not split a character */
			if (!k)
				break;
		}
		memcpy(out + o, s, k);
		o += k;
		s += k;
		n -= k;
		if (n && k == 0) {
			o += (size_t)snprintf(out + o, size - o, "\\x%02X", (unsigned char)*s);
			s++;
			n--;
		}
	}
	out[o] = '\0';
}

/* ---- rules generations ---- */

struct rule_arg {
	bool file;
	const char *arg;
};

struct gen {
	struct eds_arena *arena;
	struct eds_program *prog; /* NULL: no rules */
	struct eds_cli_rules rules; /* sources stay alive for diagnostics */
	char sources[256];          /* "rules.edsmod, -e #1" */
	struct serve_cache *cache;  /* replies under these rules; NULL: none */
	unsigned refs;              /* under gen_lock */
};

static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gen *gen_cur;

static void gen_free(struct gen *g)
{
	eds_rules_release(g->prog);
	serve_cache_free(g->cache);
	eds_arena_free(g->arena);
	eds_cli_rules_release(&g->rules);
	free(g);
}

static struct eds_limits serve_limits; /* the options' (max_input: --max-message-size) */
static size_t cache_max = (size_t)64 << 20; /* --cache-size */

/* Read and compile every -e/-f in order.  Prints its errors; NULL on failure
 * with *code set (EDS_E_IO, EDS_E_LIMIT or EDS_E_RULES). */
static struct gen *gen_load(const struct rule_arg *args, size_t n, int *code)
{
	struct gen *g = calloc(1, sizeof *g);
	if (!g)
		abort();
	g->arena = eds_arena_new(1 << 16);
	g->refs = 1;
	for (size_t i = 0; i < n; i++) {
		if (args[i].file)
			eds_cli_rules_add_file(&g->rules, args[i].arg);
		else
			eds_cli_rules_add_expr(&g->rules, args[i].arg);
	}
	if (g->rules.n) {
		int rc = eds_cli_rules_compile(&g->rules, &serve_limits, g->arena, &g->prog);
		if (rc) {
			*code = rc;
			gen_free(g);
			return NULL;
		}
	}
	size_t o = 0;
	for (size_t i = 0; i < g->rules.n && o < sizeof g->sources; i++) {
		int w = snprintf(g->sources + o, sizeof g->sources - o, "%s%s", i ? ", " : "",
				 g->rules.srcs[i].name);
		o += w < 0 ? 0 : (size_t)w;
	}
	g->cache = serve_cache_new(cache_max);
	return g;
}

static struct gen *gen_acquire(void)
{
	pthread_mutex_lock(&gen_lock);
	struct gen *g = gen_cur;
	g->refs++;
	pthread_mutex_unlock(&gen_lock);
	return g;
}

static void gen_release(struct gen *g)
{
	pthread_mutex_lock(&gen_lock);
	bool last = --g->refs == 0;
	pthread_mutex_unlock(&gen_lock);
	if (last)
		gen_free(g);
}

static void gen_install(struct gen *g)
{
	pthread_mutex_lock(&gen_lock);
	struct gen *old = gen_cur;
	gen_cur = g;
	pthread_mutex_unlock(&gen_lock);
	if (old)
		gen_release(old);
}

/* "reply cache of WHOSE rules: ..." at a reload and at the end. */
static void gen_log_cache(struct gen *g, const char *whose)
{
	struct serve_cache_stats st;
	serve_cache_stats(g->cache, &st);
	if (g->cache)
		logmsg(SERVE_LOG_INFO, "reply cache of %s rules: %llu hit%s, %llu miss%s, %zu repl%s kept (%.1f MB)",
		       whose, st.hits, st.hits == 1 ? "" : "s", st.misses, st.misses == 1 ? "" : "es", st.replies,
		       st.replies == 1 ? "y" : "ies", (double)st.bytes / (1 << 20));
}

static size_t gen_rule_count(const struct gen *g)
{
	return g->prog ? eds_rules_count(g->prog) : 0;
}

/* ---- the protobuf wire format, top level only ---- */

static size_t get_varint(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < 10 && i < n; i++) {
		r |= (uint64_t)(p[i] & 0x7F) << (7 * i);
		if (!(p[i] & 0x80)) { /* (a 10th byte's bits past the 64th are dropped, as protoc does) */
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void put_varint(struct eds_buf *b, uint64_t v)
{
	while (v >= 0x80) {
		eds_buf_putc(b, (char)(v | 0x80));
		v >>= 7;
	}
	eds_buf_putc(b, (char)v);
}

static void put_len_field(struct eds_buf *b, uint32_t num, const void *p, size_t n)
{
	put_varint(b, (uint64_t)num << 3 | 2);
	put_varint(b, n);
	eds_buf_append(b, p, n);
}

/* ---- per-worker state and the call's log line ---- */

struct worker {
	struct eds_arena *arena;
	struct eds_buf out;
	struct eds_buf cla; /* a spliced cluster's new load_assignment */
	struct eds_buf note; /* a cached reply's struct call_log, then its cluster name */
	struct eds_diags findings;
	struct eds_limits lim;
	char msg[1024];
	struct gen *gen;
};

struct call_log {
	const char *cluster;  /* first cluster named, arena or request string */
	size_t cluster_len;
	size_t nclusters, nchanged;
	size_t ep_in, ep_out;
};

static unsigned test_delay_ms; /* EDSMOD_SERVE_TEST_DELAY_MS: lets tests catch a call in flight */

static void *worker_new(void *ctx, unsigned index)
{
	(void)ctx;
	(void)index;
	struct worker *w = calloc(1, sizeof *w);
	if (!w)
		abort();
	w->arena = eds_arena_new(1 << 20);
	w->out.max = w->cla.max = REPLY_MAX;
	w->lim = serve_limits;
	return w;
}

static void worker_free(void *state)
{
	struct worker *w = state;
	eds_arena_free(w->arena);
	eds_buf_release(&w->out);
	eds_buf_release(&w->cla);
	eds_buf_release(&w->note);
	eds_diags_release(&w->findings);
	free(w);
}

__attribute__((format(printf, 4, 5)))
static void fail(struct worker *w, struct serve_reply *r, enum serve_status st, const char *fmt, ...)
{
	char tmp[sizeof w->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	utf8_clean(tmp, strlen(tmp), w->msg, sizeof w->msg);
	r->status = st;
	r->msg = w->msg;
	r->data = NULL;
	r->len = 0;
}

/* " at FILE:LINE:COL" / " at byte N" plus " (PATH)" for a diagnostic;
 * base shifts byte offsets, prefix goes before the path. */
static void diag_where(const struct eds_diag *d, size_t base, const char *prefix, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	if (d->src && d->loc == EDS_LOC_SPAN) {
		unsigned line, col;
		eds_src_linecol(d->src, d->span.start, &line, &col);
		o += (size_t)snprintf(out, size, " at %s:%u:%u", d->src->name, line, col);
	} else if (d->loc == EDS_LOC_OFFSET) {
		o += (size_t)snprintf(out, size, " at byte %zu", base + d->span.start);
	}
	if (o < size && (d->path[0] || prefix[0]))
		snprintf(out + o, size - o, " (%s%s%s)", prefix, prefix[0] && d->path[0] ? "." : "",
			 d->path);
}

static size_t count_endpoints(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla)
{
	size_t n = 0;
	for (size_t i = 0; i < cla->n_endpoints; i++)
		n += cla->endpoints[i]->n_lb_endpoints;
	return n;
}

/* Run the rules on one CLA and validate the result.  Returns 0 (with
 * *changed) or -1 with the reply set to an error status. */
static int run_cla(struct worker *w, ProtobufCMessage *msg, const struct eds_src *input, bool dns,
		   struct call_log *lg, bool *changed, struct serve_reply *r)
{
	Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla = (void *)msg;
	const char *name = eds_arena_strdup(w->arena, cla->cluster_name ? cla->cluster_name : "");
	struct gen *g = w->gen;
	struct eds_diag d = { 0 };
	char where[512];

	if (!lg->cluster) {
		lg->cluster = name;
		lg->cluster_len = strlen(name);
	}
	lg->nclusters++;
	size_t in = count_endpoints(cla);
	lg->ep_in += in;
	*changed = false;
	if (!g->prog) {
		lg->ep_out += in;
		return 0;
	}
	w->findings.n = 0;
	struct eds_run_opts ro = { .mode = EDS_RUN_TRANSFORM, .findings = &w->findings, .input = input };
	if (eds_rules_run(g->prog, msg, w->arena, &ro, changed, &d)) {
		/* The rules' messages usually name the rule already. */
		if (d.src && strstr(d.msg, d.src->name))
			where[0] = '\0';
		else
			diag_where(&d, 0, "", where, sizeof where);
		fail(w, r, d.code == EDS_E_INTERNAL ? SERVE_INTERNAL : SERVE_FAILED_PRECONDITION,
		     "cluster \"%s\": %s%s", name, d.msg, where);
		return -1;
	}
	lg->ep_out += count_endpoints(cla);
	if (!*changed)
		return 0;
	lg->nchanged++;
	const char *now = cla->cluster_name ? cla->cluster_name : "";
	if (strcmp(now, name) != 0) {
		fail(w, r, SERVE_FAILED_PRECONDITION,
		     "cluster \"%s\": the rules (%s) renamed it to \"%s\"; cluster_name may not be changed",
		     name, g->sources, now);
		return -1;
	}
	w->findings.n = 0;
	struct eds_check_opts co = { .errors_only = true }; /* warnings pass */
	eds_check_cla(msg, &co, &w->findings);
	/* A STRICT_DNS or LOGICAL_DNS cluster's inline CLA names hosts: that
	 * is the point of it, not an error. */
	size_t nerr = 0;
	const struct eds_diag *f = NULL;
	for (size_t i = 0; i < w->findings.n; i++) {
		const struct eds_diag *x = &w->findings.v[i];
		if (x->severity != EDS_SEV_ERROR || (dns && x->id && strcmp(x->id, "ip-literal") == 0))
			continue;
		if (!nerr++)
			f = x;
	}
	if (nerr) {
		char more[64] = "";
		if (nerr > 1)
			snprintf(more, sizeof more, " (and %zu more error%s)", nerr - 1, nerr > 2 ? "s" : "");
		fail(w, r, SERVE_FAILED_PRECONDITION,
		     "cluster \"%s\": the rules (%s) left the ClusterLoadAssignment invalid: %s%s%s%s%s%s",
		     name, g->sources, f->path[0] ? f->path : "", f->path[0] ? ": " : "", f->msg,
		     f->id ? " [" : "", f->id ? f->id : "", f->id ? "]" : "");
		if (more[0]) {
			size_t l = strlen(w->msg);
			utf8_clean(more, strlen(more), w->msg + l, sizeof w->msg - l);
		}
		return -1;
	}
	return 0;
}

static int decode_failed(struct worker *w, struct serve_reply *r, const char *what,
			 const struct eds_diag *d, size_t base, const char *prefix)
{
	char where[512];
	diag_where(d, base, prefix, where, sizeof where);
	fail(w, r, SERVE_INVALID_ARGUMENT, "invalid %s: %s%s", what, d->msg, where);
	return -1;
}

static void reply_buf(struct worker *w, struct serve_reply *r)
{
	if (eds_buf_overflowed(&w->out)) {
		fail(w, r, SERVE_RESOURCE_EXHAUSTED, "the reply would be larger than %zu bytes", w->out.max);
		return;
	}
	r->status = SERVE_OK;
	r->data = w->out.data;
	r->len = w->out.len;
}

/* Append m's encoding to b with the core's encoder (protobuf-c's pack
 * sizes every nested message again at each level: several times slower),
 * copying the request's bytes of every message the rules left alone. */
static void pack_into(struct eds_buf *b, const ProtobufCMessage *m)
{
	struct eds_diag d;
	if (eds_bin_encode(m, &(struct eds_encode_opts){ .reuse_spans = true }, b, &d))
		b->overflow = 1; /* it fails only past b->max */
}

static void handle_endpoints(struct worker *w, const struct serve_call *c, struct serve_reply *r,
			     struct call_log *lg)
{
	struct eds_src src = { .name = "PostEndpointsModifyRequest", .text = c->req, .len = c->len };
	struct eds_diag d = { 0 };
	ProtobufCMessage *msg;
	if (eds_bin_decode_spans(&envoygateway__extension__post_endpoints_modify_request__descriptor, &src,
				 w->arena, &w->lim, &msg, &d)) {
		decode_failed(w, r, "PostEndpointsModifyRequest", &d, 0, "");
		return;
	}
	Envoygateway__Extension__PostEndpointsModifyRequest *req = (void *)msg;
	if (!req->load_assignment) {
		fail(w, r, SERVE_INVALID_ARGUMENT, "PostEndpointsModifyRequest without a load_assignment");
		return;
	}
	bool changed;
	if (run_cla(w, &req->load_assignment->base, &src, false, lg, &changed, r))
		return;
	if (changed) {
		Envoygateway__Extension__PostEndpointsModifyResponse resp =
			ENVOYGATEWAY__EXTENSION__POST_ENDPOINTS_MODIFY_RESPONSE__INIT;
		resp.load_assignment = req->load_assignment;
		eds_msg_touch(&req->load_assignment->base); /* (the rules touched it already) */
		pack_into(&w->out, &resp.base);
	}
	reply_buf(w, r);
}

/* Whether a Cluster.cluster_type (CustomClusterType: 1 name, 2 typed_config
 * Any, whose 1 is type_url) is Envoy's DNS cluster extension. */
static bool dns_extension(const uint8_t *p, size_t n, unsigned depth)
{
	static const char url[] = "/envoy.extensions.clusters.dns.v3.DnsCluster";
	static const char *const names[] = { "envoy.cluster.dns", "envoy.cluster.strict_dns",
					     "envoy.cluster.logical_dns" };
	struct eds_wire_field f, g;
	size_t off = 0, o2;
	const char *why;
	while (eds_wire_next(p, n, &off, &f, depth, &why) > 0) {
		const char *v = (const char *)p + f.vstart;
		size_t len = f.vend - f.vstart;
		if (f.wt != 2)
			continue;
		for (size_t i = 0; f.num == 1 && i < sizeof names / sizeof names[0]; i++)
			if (len == strlen(names[i]) && memcmp(v, names[i], len) == 0)
				return true;
		for (o2 = 0; f.num == 2 && eds_wire_next((const uint8_t *)v, len, &o2, &g, depth, &why) > 0;)
			if (g.num == 1 && g.wt == 2 && g.vend - g.vstart >= sizeof url - 1 &&
			    memcmp(v + g.vend - (sizeof url - 1), url, sizeof url - 1) == 0)
				return true;
	}
	return false;
}

/*
 * One envoy.config.cluster.v3.Cluster (p[0..n), at byte base of the
 * request): append it to w->out as field out_num, with field 33 replaced
 * when the rules changed the CLA, every other byte as it came.
 */
static int splice_cluster(struct worker *w, const uint8_t *p, size_t n, size_t base,
			  const char *prefix, uint32_t out_num, struct call_log *lg,
			  struct serve_reply *r)
{
	struct eds_wire_field f, first33 = { 0 };
	size_t off = 0, n33 = 0, len33 = 0, rec33 = 0;
	const uint8_t *name = NULL;
	size_t name_len = 0;
	const char *why;
	bool dns = false;
	uint64_t v;
	int k;

	while ((k = eds_wire_next(p, n, &off, &f, w->lim.max_depth, &why)) > 0) {
		if (f.num == 1 && f.wt == 2) {
			name = p + f.vstart;
			name_len = f.vend - f.vstart;
		} else if (f.num == 2 && f.wt == 0 && get_varint(p + f.vstart, f.vend - f.vstart, &v)) {
			dns = v == 1 || v == 2; /* Cluster.type STRICT_DNS, LOGICAL_DNS */
		} else if (f.num == 38 && f.wt == 2) { /* cluster_type, in type's oneof */
			dns = dns_extension(p + f.vstart, f.vend - f.vstart, w->lim.max_depth);
		} else if (f.num == 33 && f.wt == 2) { /* (another wire type: an unknown field) */
			if (!n33++)
				first33 = f;
			len33 += f.vend - f.vstart;
			rec33 += f.end - f.start;
		}
	}
	if (k < 0) {
		fail(w, r, SERVE_INVALID_ARGUMENT, "invalid %s: %s at byte %zu", prefix, why, base + off);
		return -1;
	}
	if (!n33) {
		if (!lg->cluster && name) {
			lg->cluster = (const char *)name;
			lg->cluster_len = name_len;
		}
		lg->nclusters++;
		put_len_field(&w->out, out_num, p, n);
		return 0;
	}
	/* Several occurrences of a message field merge: decode them as one. */
	const uint8_t *cla_bytes = p + first33.vstart;
	if (n33 > 1) {
		uint8_t *cat = eds_arena_alloc(w->arena, len33);
		size_t o = 0;
		off = 0;
		while (eds_wire_next(p, n, &off, &f, w->lim.max_depth, &why) > 0) {
			if (f.num == 33 && f.wt == 2) {
				memcpy(cat + o, p + f.vstart, f.vend - f.vstart);
				o += f.vend - f.vstart;
			}
		}
		cla_bytes = cat;
		base = 0; /* offsets into the merged bytes mean nothing in the request */
	} else {
		base += first33.vstart;
	}
	struct eds_src src = { .name = "load_assignment", .text = (const char *)cla_bytes, .len = len33 };
	struct eds_diag d = { 0 };
	ProtobufCMessage *msg;
	char what[64];
	snprintf(what, sizeof what, "%s.load_assignment", prefix);
	if (eds_bin_decode_spans(eds_schema_cla, &src, w->arena, &w->lim, &msg, &d))
		return decode_failed(w, r, "ClusterLoadAssignment", &d, n33 > 1 ? 0 : base, what);
	bool changed;
	if (run_cla(w, msg, &src, dns, lg, &changed, r))
		return -1;
	if (!changed) {
		put_len_field(&w->out, out_num, p, n);
		return 0;
	}
	w->cla.len = 0;
	pack_into(&w->cla, msg);
	if (eds_buf_overflowed(&w->cla)) {
		w->out.overflow = 1;
		return 0;
	}
	size_t cla_len = w->cla.len;
	size_t total = n - rec33 + 2 + varint_size(cla_len) + cla_len;
	put_varint(&w->out, (uint64_t)out_num << 3 | 2);
	put_varint(&w->out, total);
	eds_buf_append(&w->out, p, first33.start);
	put_len_field(&w->out, 33, w->cla.data, cla_len);
	off = first33.end;
	while (eds_wire_next(p, n, &off, &f, w->lim.max_depth, &why) > 0)
		if (f.num != 33 || f.wt != 2)
			eds_buf_append(&w->out, p + f.start, f.end - f.start);
	return 0;
}

static void handle_cluster(struct worker *w, const struct serve_call *c, struct serve_reply *r,
			   struct call_log *lg)
{
	const uint8_t *p = (const uint8_t *)c->req;
	struct eds_wire_field f;
	size_t off = 0, n1 = 0, len1 = 0;
	struct eds_wire_field first = { 0 };
	const char *why;
	int k;

	while ((k = eds_wire_next(p, c->len, &off, &f, w->lim.max_depth, &why)) > 0) {
		if (f.num != 1 || f.wt != 2)
			continue; /* (another wire type: an unknown field) */
		if (!n1++)
			first = f;
		len1 += f.vend - f.vstart;
	}
	if (k < 0) {
		fail(w, r, SERVE_INVALID_ARGUMENT, "invalid PostClusterModifyRequest: %s at byte %zu", why, off);
		return;
	}
	if (n1 == 0) {
		fail(w, r, SERVE_INVALID_ARGUMENT, "PostClusterModifyRequest without a cluster");
		return;
	}
	const uint8_t *cl = p + first.vstart;
	size_t base = first.vstart;
	if (n1 > 1) {
		uint8_t *cat = eds_arena_alloc(w->arena, len1);
		size_t o = 0;
		off = 0;
		while (eds_wire_next(p, c->len, &off, &f, w->lim.max_depth, &why) > 0) {
			if (f.num == 1 && f.wt == 2) {
				memcpy(cat + o, p + f.vstart, f.vend - f.vstart);
				o += f.vend - f.vstart;
			}
		}
		cl = cat;
		base = 0;
	}
	if (splice_cluster(w, cl, len1, base, "cluster", 1, lg, r) == 0)
		reply_buf(w, r);
}

static void handle_translate(struct worker *w, const struct serve_call *c, struct serve_reply *r,
			     struct call_log *lg)
{
	const uint8_t *p = (const uint8_t *)c->req;
	struct eds_wire_field f;
	size_t off = 0, ncl = 0;
	const char *why;
	int k;

	while ((k = eds_wire_next(p, c->len, &off, &f, w->lim.max_depth, &why)) > 0) {
		if (f.num > 5 || f.wt != 2)
			continue; /* a newer EG's field, or an unknown one: no place in our response */
		/* The response numbers fields one lower: clusters=1, secrets=2, ... */
		if (f.num == 2) {
			char prefix[48];
			snprintf(prefix, sizeof prefix, "clusters[%zu]", ncl++);
			if (splice_cluster(w, p + f.vstart, f.vend - f.vstart, f.vstart, prefix, 1, lg, r))
				return;
		} else if (f.num > 2) {
			put_len_field(&w->out, f.num - 1, p + f.vstart, f.vend - f.vstart);
		}
	}
	if (k < 0) {
		fail(w, r, SERVE_INVALID_ARGUMENT, "invalid PostTranslateModifyRequest: %s at byte %zu", why,
		     off);
		return;
	}
	reply_buf(w, r);
}

static void handle_health(struct worker *w, const struct serve_call *c, struct serve_reply *r)
{
	struct eds_src src = { .name = "HealthCheckRequest", .text = c->req, .len = c->len };
	struct eds_diag d = { 0 };
	ProtobufCMessage *msg;
	if (eds_bin_decode(&grpc__health__v1__health_check_request__descriptor, &src, w->arena, &w->lim,
			   &msg, &d)) {
		decode_failed(w, r, "HealthCheckRequest", &d, 0, "");
		return;
	}
	const char *svc = ((Grpc__Health__V1__HealthCheckRequest *)msg)->service;
	if (svc && svc[0] && strcmp(svc, "envoygateway.extension.EnvoyGatewayExtension") != 0) {
		fail(w, r, SERVE_NOT_FOUND, "unknown service \"%s\"", svc);
		return;
	}
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	pack_into(&w->out, &resp.base);
	reply_buf(w, r);
}

enum { M_ENDPOINTS, M_CLUSTER, M_TRANSLATE, M_HEALTH };
static const char *const methods[] = {
	"/envoygateway.extension.EnvoyGatewayExtension/PostEndpointsModify",
	"/envoygateway.extension.EnvoyGatewayExtension/PostClusterModify",
	"/envoygateway.extension.EnvoyGatewayExtension/PostTranslateModify",
	"/grpc.health.v1.Health/Check",
};

static void handle(void *state, const struct serve_call *c, struct serve_reply *r)
{
	struct worker *w = state;
	struct call_log lg = { 0 };
	bool cached = false;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);

	/* An outlier's buffers: give them back. */
	if (w->out.cap > ARENA_KEEP)
		eds_buf_release(&w->out);
	if (w->cla.cap > ARENA_KEEP)
		eds_buf_release(&w->cla);
	w->out.len = w->cla.len = w->note.len = 0;
	w->out.overflow = w->cla.overflow = 0;
	*r = (struct serve_reply){ .status = SERVE_INTERNAL };
	if (c->method < 0) {
		fail(w, r, SERVE_UNIMPLEMENTED, "method \"%s\" is not implemented by edsmod serve", c->path);
	} else if (!c->req) {
		fail(w, r, SERVE_INVALID_ARGUMENT, "no request message");
	} else {
		if (test_delay_ms && c->method != M_HEALTH) {
			logmsg(SERVE_LOG_INFO, "EDSMOD_SERVE_TEST_DELAY_MS: holding the call for %u ms",
			       test_delay_ms);
			struct timespec ts = { test_delay_ms / 1000, (long)(test_delay_ms % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		w->gen = gen_acquire();
		struct serve_cache *cache = c->method == M_HEALTH ? NULL : w->gen->cache;
		uint64_t h = 0;
		if (serve_cache_get(cache, c->method, c->req, c->len, &w->out, &w->note, &h)) {
			memcpy(&lg, w->note.data, sizeof lg);
			lg.cluster = w->note.data + sizeof lg;
			reply_buf(w, r);
			cached = true;
		} else {
			switch (c->method) {
			case M_ENDPOINTS: handle_endpoints(w, c, r, &lg); break;
			case M_CLUSTER: handle_cluster(w, c, r, &lg); break;
			case M_TRANSLATE: handle_translate(w, c, r, &lg); break;
			case M_HEALTH: handle_health(w, c, r); break;
			}
		}
		if (cache && !cached && r->status == SERVE_OK) {
			size_t n = lg.cluster_len < 256 ? lg.cluster_len : 256;
			eds_buf_append(&w->note, &lg, sizeof lg);
			eds_buf_append(&w->note, lg.cluster, n);
			((struct call_log *)(void *)w->note.data)->cluster_len = n;
			serve_cache_put(cache, h, c->method, c->req, c->len, r->data, r->len, w->note.data,
					w->note.len);
		}
		gen_release(w->gen);
		w->gen = NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long us = (t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;

	enum serve_log_level lv = c->method == M_HEALTH ? SERVE_LOG_DEBUG : SERVE_LOG_INFO;
	if (r->status == SERVE_INTERNAL)
		lv = SERVE_LOG_ERROR;
	else if (r->status != SERVE_OK && r->status != SERVE_UNIMPLEMENTED && c->method != M_HEALTH)
		lv = SERVE_LOG_WARN;
	if (log_allow(lv)) {
		const char *m = strrchr(c->path, '/');
		char cluster[300] = "", what[400];
		if (lg.cluster)
			utf8_clean(lg.cluster, lg.cluster_len < 256 ? lg.cluster_len : 256, cluster,
				   sizeof cluster);
		size_t o = 0;
		what[0] = '\0';
		if (c->method == M_TRANSLATE)
			o = (size_t)snprintf(what, sizeof what, " clusters=%zu", lg.nclusters);
		else if (lg.nclusters)
			o = (size_t)snprintf(what, sizeof what, " cluster=\"%s\"", cluster);
		if (lg.nclusters && r->status == SERVE_OK)
			snprintf(what + o, sizeof what - o, " endpoints=%zu->%zu changed=%zu", lg.ep_in,
				 lg.ep_out, lg.nchanged);
		else if (lg.nclusters)
			snprintf(what + o, sizeof what - o, " endpoints=%zu", lg.ep_in);
		logmsg(lv, "%s%s status=%s %lldus%s%s%s", m && c->method >= 0 ? m + 1 : c->path, what,
		       serve_status_name(r->status), us, cached ? " cached" : "", r->msg ? ": " : "",
		       r->msg ? r->msg : "");
	}
	if (eds_arena_used(w->arena) > ARENA_KEEP) {
		eds_arena_free(w->arena);
		w->arena = eds_arena_new(1 << 20);
	} else {
		eds_arena_reset(w->arena);
	}
}

/* ---- start-up ---- */

static int check_addr(const char *a)
{
	if (strncmp(a, "unix:", 5) == 0)
		return a[5] ? 0 : -1;
	const char *colon;
	if (a[0] == '[') {
		const char *close = strchr(a, ']');
		if (!close || close == a + 1 || close[1] != ':')
			return -1;
		colon = close + 1;
	} else {
		colon = strrchr(a, ':');
		if (!colon || colon == a || memchr(a, ':', (size_t)(colon - a)))
			return -1;
	}
	const char *port = colon + 1;
	if (!*port || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		return -1;
	return 0;
}

static char *read_pem(const char *path, const char *opt, int *code)
{
	char *data;
	size_t len;
	struct eds_diag d = { 0 };
	if (eds_cli_read(path, 1 << 20, &data, &len, &d)) {
		eds_cli_render(stderr, &d);
		*code = d.code == EDS_E_LIMIT ? EDS_E_IO : d.code;
		return NULL;
	}
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	eds_cli_unread(data);
	if (strlen(s) != len || !strstr(s, "-----BEGIN ")) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "%s \"%s\" is not a PEM file", opt, path);
		free(s);
		*code = EDS_E_IO;
		return NULL;
	}
	return s;
}

static const char *listener_name(const struct serve_grpc_listener *l, char *buf, size_t size)
{
	if (strncmp(l->addr, "unix:", 5) == 0)
		return l->addr;
	const char *colon = strrchr(l->addr, ':');
	snprintf(buf, size, "%.*s:%d", (int)(colon - l->addr), l->addr, l->port);
	return buf;
}

int main(int argc, char **argv)
{
	struct rule_arg *rargs = calloc((size_t)argc, sizeof *rargs);
	struct serve_grpc_listener *ls = calloc((size_t)argc + 1, sizeof *ls);
	size_t nrargs = 0, nls = 0;
	const char *cert = NULL, *key = NULL, *ca = NULL;
	long long max_msg = 64LL << 20;
	long threads = 0;
	int c, rc = EDS_OK;

	if (!rargs || !ls)
		abort();
	eds_cli_prog = "edsmod serve";
	serve_limits = eds_limits_default;
	while ((c = getopt_long(argc, argv, "e:f:h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'e':
		case 'f':
			rargs[nrargs].file = c == 'f';
			rargs[nrargs++].arg = optarg;
			break;
		case OPT_LISTEN:
			if (check_addr(optarg) < 0) {
				eds_cli_renderf(stderr, EDS_SEV_ERROR,
						"bad --listen address \"%s\" (HOST:PORT, [V6]:PORT or unix:PATH)",
						optarg);
				goto usage_error;
			}
			ls[nls++].addr = optarg;
			break;
		case OPT_THREADS:
			errno = 0;
			threads = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || threads < 1 || threads > 256) {
				eds_cli_renderf(stderr, EDS_SEV_ERROR, "bad --threads \"%s\" (1 to 256)", optarg);
				goto usage_error;
			}
			break;
		case OPT_CACHE_SIZE: {
			long long v = eds_cli_parse_size(optarg);
			if (v < 0 || (unsigned long long)v > SIZE_MAX / 2) {
				eds_cli_renderf(stderr, EDS_SEV_ERROR, "bad --cache-size \"%s\" (a size, e.g. 64M, or 0)",
						optarg);
				goto usage_error;
			}
			cache_max = (size_t)v;
			break;
		}
		case OPT_MAX_MESSAGE:
			max_msg = eds_cli_parse_size(optarg);
			if (max_msg <= 0 || max_msg > INT32_MAX) {
				eds_cli_renderf(stderr, EDS_SEV_ERROR,
						"bad --max-message-size \"%s\" (a size below 2G, e.g. 64M)", optarg);
				goto usage_error;
			}
			break;
		case OPT_TLS_CERT: cert = optarg; break;
		case OPT_TLS_KEY: key = optarg; break;
		case OPT_CLIENT_CA: ca = optarg; break;
		case OPT_LOG_LEVEL: {
			int lv = -1;
			for (int i = 0; i < 4; i++)
				if (strcmp(optarg, level_names[i]) == 0 ||
				    (i == SERVE_LOG_WARN && strcmp(optarg, "warn") == 0))
					lv = i;
			if (lv < 0) {
				eds_cli_renderf(stderr, EDS_SEV_ERROR,
						"bad --log-level \"%s\" (error, warn, info, debug)", optarg);
				goto usage_error;
			}
			log_level = (enum serve_log_level)lv;
			break;
		}
		case 'h':
			fputs(usage, stdout);
			goto done;
		default:
			if (eds_cli_limit_opt(&serve_limits, c, optarg) > 0)
				break;
			goto usage_error;
		}
	}
	if (optind < argc) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "unexpected argument \"%s\"", argv[optind]);
		goto usage_error;
	}
	if (!cert != !key) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "--tls-cert and --tls-key go together");
		goto usage_error;
	}
	if (ca && !cert) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "--client-ca needs --tls-cert and --tls-key");
		goto usage_error;
	}
	if (!nls)
		ls[nls++].addr = "127.0.0.1:5005";
	if (!threads) { /* the CPUs this process may run on (taskset, a container's cpuset) */
		cpu_set_t set;
		threads = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
		if (threads < 1)
			threads = sysconf(_SC_NPROCESSORS_ONLN);
		threads = threads < 1 ? 1 : threads > 16 ? 16 : threads;
	}
	const char *delay = getenv("EDSMOD_SERVE_TEST_DELAY_MS");
	if (delay)
		test_delay_ms = (unsigned)strtoul(delay, NULL, 10);
	const char *send_timeout = getenv("EDSMOD_SERVE_TEST_SEND_TIMEOUT_MS");
	const char *grace = getenv("EDSMOD_SERVE_TEST_GRACE_MS");
	serve_limits.max_input = (size_t)max_msg;

	/* Blocked before gRPC starts its threads (they inherit the mask), so the
	 * signals reach sigwait below and nothing else; a SIGTERM during start-up
	 * waits there too. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Each connection holds a descriptor, and gRPC 1.51 stops accepting for
	 * good once accept4() fails with EMFILE: take what the hard limit
	 * allows (soft limits are often 1024).  The kernel refuses more than
	 * fs.nr_open, whatever the hard limit says. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		rlim_t want = nofile.rlim_max;
		nofile.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &nofile) != 0 && want > (rlim_t)1 << 20) {
			nofile.rlim_cur = (rlim_t)1 << 20;
			setrlimit(RLIMIT_NOFILE, &nofile);
		}
	}

	struct gen *g = gen_load(rargs, nrargs, &rc);
	if (!g)
		goto done;
	gen_install(g);

	char *cert_pem = NULL, *key_pem = NULL, *ca_pem = NULL;
	if (cert && (!(cert_pem = read_pem(cert, "--tls-cert", &rc)) ||
		     !(key_pem = read_pem(key, "--tls-key", &rc)) ||
		     (ca && !(ca_pem = read_pem(ca, "--client-ca", &rc)))))
		goto free_tls;

	struct serve_grpc_config cfg = {
		.methods = methods,
		.nmethods = sizeof methods / sizeof methods[0],
		.nthreads = (unsigned)threads,
		.max_message = (size_t)max_msg,
		.send_timeout_ms = send_timeout ? (unsigned)strtoul(send_timeout, NULL, 10) : 0,
		.cert_pem = cert_pem,
		.key_pem = key_pem,
		.client_ca_pem = ca_pem,
		.worker_new = worker_new,
		.worker_free = worker_free,
		.handle = handle,
		.log = grpc_log,
	};
	char err[512];
	struct serve_grpc *srv = serve_grpc_start(&cfg, ls, nls, err, sizeof err);
	if (!srv) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "%s", err);
		rc = EDS_E_IO;
		goto free_tls;
	}
	for (size_t i = 0; i < nls; i++) {
		char buf[300];
		logmsg(SERVE_LOG_INFO, "listening on %s (%s)", listener_name(&ls[i], buf, sizeof buf),
		      ca ? "mTLS" : cert ? "TLS" : "plaintext");
	}
	logmsg(SERVE_LOG_INFO, "serving %zu rule%s%s%s with %ld thread%s (gRPC core %s)", gen_rule_count(g),
	      gen_rule_count(g) == 1 ? "" : "s", g->sources[0] ? " from " : "", g->sources, threads,
	      threads == 1 ? "" : "s", serve_grpc_version());
	if (!g->prog)
		logmsg(SERVE_LOG_WARN, "no rules (-e, -f): every call is answered unchanged");

	for (;;) {
		/* Wakes every second to report the lines the rate limit held back. */
		struct timespec tick = { 1, 0 };
		int sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig < 0) {
			log_flush(false);
			continue;
		}
		if (sig != SIGHUP) {
			logmsg(SERVE_LOG_INFO, "%s: draining in-flight calls", sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		int code = 0;
		struct gen *ng = gen_load(rargs, nrargs, &code);
		if (!ng) {
			logmsg(SERVE_LOG_ERROR, "SIGHUP: the rules did not load; keeping the previous rules");
			continue;
		}
		gen_log_cache(gen_cur, "the previous");
		gen_install(ng);
		logmsg(SERVE_LOG_INFO, "SIGHUP: reloaded %zu rule%s%s%s", gen_rule_count(ng),
		      gen_rule_count(ng) == 1 ? "" : "s", ng->sources[0] ? " from " : "", ng->sources);
	}
	serve_grpc_stop(srv, grace ? (unsigned)strtoul(grace, NULL, 10) : DRAIN_GRACE_MS);
	log_flush(true);
	gen_log_cache(gen_cur, "the");
	logmsg(SERVE_LOG_INFO, "stopped");
free_tls:
	free(cert_pem);
	free(key_pem);
	free(ca_pem);
	gen_install(NULL);
done:
	free(rargs);
	free(ls);
	return rc;
usage_error:
	fputs("Try 'edsmod serve --help' or man edsmod.\n", stderr);
	free(rargs);
	free(ls);
	return EDS_E_USAGE;
}
