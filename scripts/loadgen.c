/*
 * loadgen: a gRPC load generator on gRPC core's C API, for scripts/loadtest
 * and scripts/bench (job 7).  Built by `make build/loadgen`; not installed.
 *
 *   loadgen --target HOST:PORT --method /pkg.Svc/Method --request FILE
 *           [--expect FILE [--same-size]] [--callers 8] [--seconds 30]
 *           [--warmup 3] [--connections N] [--timeout-ms 30000] [--distinct]
 *
 * N callers, each with one unary call in flight at a time (a closed loop:
 * a caller starts its next call when the previous one completes), driven by
 * one thread from one completion queue, so the generator costs as little
 * CPU as gRPC allows; it measures its own (getrusage, gRPC's threads
 * included) and reports it.  Callers spread over --connections channels
 * (default one per caller), each its own TCP connection.
 *
 * --distinct makes every request differ from all the others, so a server
 * cannot answer any from a cache: each call appends a field 2 holding an
 * unknown field 1000 (fixed64, the call's number) to the request.  For a
 * PostEndpointsModifyRequest that is its post_endpoints_context (empty
 * today; repeated occurrences of a message field merge), which the reply
 * does not echo.
 *
 * Every reply is checked: status OK and, with --expect, the reply's bytes
 * equal to the file's (with --same-size: as many bytes, for servers that
 * write map entries in no fixed order), else a non-empty reply.  Calls that start during the
 * warm-up are not counted; calls that start in the measured window count,
 * including those that finish after it.  On stdout: "# measuring" when the
 * window opens (for a caller that samples the server meanwhile), "# done"
 * when it closes, then one JSON line with calls, errors, calls/s, latency
 * percentiles (microseconds, as the callers see them), the generator's CPU
 * and the first error.  Exit status 0 when every call succeeded, 1 when a
 * call failed, 2 on a usage or setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../cmd/grpc_absl.h"

struct caller {
	unsigned index;
	grpc_channel *ch;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array md_initial, md_trailing;
	grpc_status_code status;
	grpc_slice details;
	uint64_t t0;
	bool counted; /* started inside the measured window */
};

static struct {
	const char *target, *method, *request, *expect;
	bool same_size, distinct;
	unsigned callers, connections;
	double seconds, warmup;
	unsigned timeout_ms;
} opt = { .callers = 8, .seconds = 30, .warmup = 3, .timeout_ms = 30000 };

static grpc_slice req_slice, method_slice;
static uint64_t ncalls; /* started, for --distinct */
static char *expect_data;
static size_t expect_len;
static grpc_completion_queue *cq;

static uint32_t *lat; /* microseconds, counted calls */
static size_t nlat, caplat;
static size_t nerrors, nwarm;
static char first_error[512];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "loadgen: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(2);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		die("cannot open %s", path);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t k;
	while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
		n += k;
		if (n == cap)
			buf = realloc(buf, cap *= 2);
	}
	if (!buf || ferror(f))
		die("cannot read %s", path);
	fclose(f);
	*len = n;
	return buf;
}

/* The reply's bytes equal expect_data, slice by slice (no flattening copy). */
static bool reply_matches(grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader r;
	grpc_slice s;
	size_t off = 0;
	bool ok = true;
	if (!grpc_byte_buffer_reader_init(&r, bb))
		return false;
	while (grpc_byte_buffer_reader_next(&r, &s)) {
		size_t n = GRPC_SLICE_LENGTH(s);
		if (ok && (n > expect_len - off || memcmp(GRPC_SLICE_START_PTR(s), expect_data + off, n) != 0))
			ok = false;
		off += n;
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_reader_destroy(&r);
	return ok && off == expect_len;
}

static void note_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note_error(const char *fmt, ...)
{
	nerrors++;
	if (first_error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(first_error, sizeof first_error, fmt, ap);
	va_end(ap);
}

static void start_call(struct caller *c, uint64_t t, bool counted)
{
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_millis(opt.timeout_ms, GPR_TIMESPAN));
	c->call = grpc_channel_create_call(c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method_slice, NULL,
					   deadline, NULL);
	if (opt.distinct) {
		/* field 2, 10 bytes: field 1000 (varint tag 0xc1 0x3e), fixed64 */
		unsigned char tail[12] = { 0x12, 10, 0xc1, 0x3e };
		uint64_t k = ncalls++;
		for (int i = 0; i < 8; i++)
			tail[4 + i] = (unsigned char)(k >> 8 * i);
		grpc_slice parts[2] = { req_slice, grpc_slice_from_copied_buffer((char *)tail, sizeof tail) };
		c->send = grpc_raw_byte_buffer_create(parts, 2);
		grpc_slice_unref(parts[1]);
	} else {
		c->send = grpc_raw_byte_buffer_create(&req_slice, 1);
	}
	c->recv = NULL;
	grpc_metadata_array_init(&c->md_initial);
	grpc_metadata_array_init(&c->md_trailing);
	c->details = grpc_empty_slice();
	c->t0 = t;
	c->counted = counted;

	grpc_op ops[6];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->md_initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &c->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &c->md_trailing;
	ops[5].data.recv_status_on_client.status = &c->status;
	ops[5].data.recv_status_on_client.status_details = &c->details;
	grpc_call_error e = grpc_call_start_batch(c->call, ops, 6, c, NULL);
	if (e != GRPC_CALL_OK) {
		fprintf(stderr, "loadgen: grpc_call_start_batch: error %d\n", (int)e);
		exit(2);
	}
}

/* A call completed: check it, record it, release it. */
static void finish_call(struct caller *c, bool success, uint64_t t)
{
	if (!success) {
		note_error("caller %u: the batch failed", c->index);
	} else if (c->status != GRPC_STATUS_OK) {
		char *d = grpc_slice_to_c_string(c->details);
		note_error("status %d: %s", (int)c->status, d);
		gpr_free(d);
	} else if (!c->recv) {
		note_error("status OK without a reply message");
	} else if (expect_data && opt.same_size ? grpc_byte_buffer_length(c->recv) != expect_len
		   : expect_data			? !reply_matches(c->recv)
							: grpc_byte_buffer_length(c->recv) == 0) {
		note_error(expect_data ? "the reply differs from the expected bytes (%zu bytes, expected %zu)"
				       : "empty reply (%zu bytes, expected %zu)",
			   grpc_byte_buffer_length(c->recv), expect_len);
	} else if (c->counted) {
		if (nlat == caplat) {
			caplat = caplat ? 2 * caplat : 1 << 16;
			lat = realloc(lat, caplat * sizeof *lat);
			if (!lat)
				abort();
		}
		uint64_t us = (t - c->t0) / 1000;
		lat[nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	} else {
		nwarm++;
	}
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	grpc_byte_buffer_destroy(c->send);
	grpc_metadata_array_destroy(&c->md_initial);
	grpc_metadata_array_destroy(&c->md_trailing);
	grpc_slice_unref(c->details);
	grpc_call_unref(c->call);
	c->call = NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	if (!nlat)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)nlat);
	return lat[i < nlat ? i : nlat - 1];
}

/* The JSON string s, escaped. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static const char usage[] =
	"usage: loadgen --target HOST:PORT --method /pkg.Svc/Method --request FILE\n"
	"               [--expect FILE [--same-size]] [--callers 8] [--seconds 30] [--warmup 3]\n"
	"               [--connections N] [--timeout-ms 30000] [--distinct]\n";

static double parse_num(const char *s, const char *what)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || v < 0)
		die("bad %s", what);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, 't' },   { "method", required_argument, NULL, 'm' },
		{ "request", required_argument, NULL, 'r' },  { "expect", required_argument, NULL, 'x' },
		{ "callers", required_argument, NULL, 'c' },  { "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },   { "connections", required_argument, NULL, 'n' },
		{ "timeout-ms", required_argument, NULL, 'T' }, { "same-size", no_argument, NULL, 'S' },
		{ "distinct", no_argument, NULL, 'D' },         { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': opt.target = optarg; break;
		case 'm': opt.method = optarg; break;
		case 'r': opt.request = optarg; break;
		case 'x': opt.expect = optarg; break;
		case 'c': opt.callers = (unsigned)parse_num(optarg, "--callers"); break;
		case 's': opt.seconds = parse_num(optarg, "--seconds"); break;
		case 'w': opt.warmup = parse_num(optarg, "--warmup"); break;
		case 'n': opt.connections = (unsigned)parse_num(optarg, "--connections"); break;
		case 'T': opt.timeout_ms = (unsigned)parse_num(optarg, "--timeout-ms"); break;
		case 'S': opt.same_size = true; break;
		case 'D': opt.distinct = true; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!opt.target || !opt.method || !opt.request || optind < argc || !opt.callers ||
	    opt.seconds <= 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (!opt.connections || opt.connections > opt.callers)
		opt.connections = opt.callers;

	size_t req_len;
	char *req = read_file(opt.request, &req_len);
	if (opt.expect)
		expect_data = read_file(opt.expect, &expect_len);

	grpc_absl_deadlock_detection_off();
	grpc_init();
	req_slice = grpc_slice_from_copied_buffer(req, req_len);
	free(req);
	method_slice = grpc_slice_from_static_string(opt.method);
	cq = grpc_completion_queue_create_for_next(NULL);

	/* One TCP connection per channel: without a local subchannel pool,
	 * channels with equal arguments share one. */
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = INT32_MAX },
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1 },
	};
	grpc_channel_args cargs = { .num_args = sizeof args / sizeof args[0], .args = args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel **chans = calloc(opt.connections, sizeof *chans);
	struct caller *callers = calloc(opt.callers, sizeof *callers);
	if (!chans || !callers)
		abort();
	for (unsigned i = 0; i < opt.connections; i++)
		chans[i] = grpc_channel_create(opt.target, creds, &cargs);
	grpc_channel_credentials_release(creds);

	uint64_t t = now_ns();
	uint64_t t_start = t + (uint64_t)(opt.warmup * 1e9);
	uint64_t t_end = t_start + (uint64_t)(opt.seconds * 1e9);
	double cpu0 = 0, cpu1 = 0;
	bool measuring = false, done = false;
	for (unsigned i = 0; i < opt.callers; i++) {
		callers[i].index = i;
		callers[i].ch = chans[i % opt.connections];
		start_call(&callers[i], t, t >= t_start);
	}
	unsigned inflight = opt.callers;
	while (inflight) {
		gpr_timespec wake = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(cq, wake, NULL);
		t = now_ns();
		if (!measuring && t >= t_start) {
			measuring = true;
			cpu0 = cpu_seconds();
			puts("# measuring");
			fflush(stdout);
		}
		if (!done && t >= t_end) {
			done = true;
			cpu1 = cpu_seconds();
			puts("# done");
			fflush(stdout);
		}
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct caller *c = ev.tag;
		finish_call(c, ev.success, t);
		if (t < t_end && nerrors < 1000)
			start_call(c, t, t >= t_start);
		else
			inflight--;
	}

	for (unsigned i = 0; i < opt.connections; i++)
		grpc_channel_destroy(chans[i]);
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_slice_unref(req_slice);
	grpc_shutdown_blocking();

	if (!done)
		cpu1 = cpu_seconds();
	if (nlat)
		qsort(lat, nlat, sizeof *lat, cmp_u32);
	double cpu = cpu1 - cpu0;
	printf("{\"calls\": %zu, \"errors\": %zu, \"warmup_calls\": %zu, \"seconds\": %.3f, \"callers\": %u, "
	       "\"connections\": %u, \"request_bytes\": %zu, \"cps\": %.1f, \"p50_us\": %u, \"p90_us\": %u, "
	       "\"p99_us\": %u, \"max_us\": %u, \"client_cpu_s\": %.3f, \"client_cpu_pct\": %.1f, "
	       "\"client_cpu_us_per_call\": %.1f, \"first_error\": ",
	       nlat, nerrors, nwarm, opt.seconds, opt.callers, opt.connections, req_len, (double)nlat / opt.seconds,
	       pct(50), pct(90), pct(99), nlat ? lat[nlat - 1] : 0, cpu, cpu / opt.seconds * 100,
	       nlat ? cpu / (double)nlat * 1e6 : 0.0);
	json_str(first_error);
	puts("}");
	free(lat);
	free(chans);
	free(callers);
	free(expect_data);
	return nerrors || !nlat ? 1 : 0;
}
