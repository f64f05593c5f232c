/*
 * serve_grpc: gRPC core (C API, as in Debian's 1.51) behind serve_grpc.h.
 *
 * The workers share one completion queue, so the thread that read a
 * request from its connection also answers it: with a queue per worker,
 * gRPC's poller woke another thread for most calls, which cost CPU and,
 * with a client on the same cores, milliseconds of latency.  The server
 * has a fixed set of slots per method.  A slot goes IDLE -> WAIT (request
 * posted) -> BUSY (a worker runs the handler) -> SEND (reply batch
 * started) -> IDLE when the batch completes, so no call allocates besides
 * what gRPC itself does and the reply slice (the request is read in place,
 * or gathered into a worker's buffer that is kept).  Slot states change
 * under one lock, held briefly (never while a handler runs).
 * POSTED_PER_METHOD slots of each method and worker wait for requests at
 * any time; the others carry replies in flight.  A reply's batch completes
 * only when the client has taken the reply (HTTP/2 flow control), so a
 * client that never reads must not hold the posted requests: it would
 * block that method for every caller.  Replies not taken within the send
 * timeout are cancelled, which frees their slots.
 */
#include "serve_grpc.h"

#include "grpc_absl.h"

#include <errno.h>
#include <fcntl.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Requests kept posted per method and worker, and slots per method and
 * worker (posted requests plus replies in flight): bounds the calls the
 * server holds at once (one handled per worker; the rest are replies in
 * flight).  A reply not taken by its client within SEND_TIMEOUT_MS
 * (cfg->send_timeout_ms when set) is cancelled; CANCEL_SCAN_MS is how often
 * a worker looks. */
#define POSTED_PER_METHOD 4
#define SLOTS_PER_METHOD 64
#define SEND_TIMEOUT_MS 30000
#define CANCEL_SCAN_MS 250
/* The last idle scan after a call (each worker's counts) that may trim malloc's memory. */
#define IDLE_SCANS_TRIMMED 64
/* How long a stop reads the requests already on their way before the
 * shutdown refuses new calls. */
#define DRAIN_READ_MS 200

enum slot_state { SLOT_IDLE = 0, SLOT_WAIT, SLOT_BUSY, SLOT_SEND };

struct serve_grpc;

struct slot {
	struct serve_grpc *s;
	int method; /* -1: the catch-all for unregistered methods */
	enum slot_state state;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details;
	grpc_byte_buffer *payload;
	grpc_byte_buffer *reply;
	grpc_slice status_msg;
	int cancelled;
	gpr_timespec send_by; /* SEND: cancel the call if the reply is still out then */
	bool timed_out;
};

struct worker {
	struct serve_grpc *s;
	unsigned index;
	char *req; /* a request that came in several slices, gathered */
	size_t req_cap;
	pthread_t thread;
	bool started;
	void *state;
};

struct serve_grpc {
	const struct serve_grpc_config *cfg;
	grpc_server *server;
	void **registered; /* grpc_server_register_method handles */
	grpc_completion_queue *cq, *shutdown_cq;
	struct worker *workers;
	unsigned nworkers;
	pthread_mutex_t lock; /* slot states, waiting, next_scan, idle_scans */
	struct slot *slots;   /* SLOTS_PER_METHOD * nworkers per method, the catch-all first */
	size_t per_method;
	size_t *waiting;      /* per method, the catch-all first: its slots in WAIT */
	gpr_timespec next_scan;
	unsigned idle_scans; /* scans run out while idle since the last call taken */
	atomic_bool stopping;
	bool draining; /* stopping soon: every idle slot is posted (under lock) */
	bool cq_closed; /* cq shut down: no batch may start on it (under lock) */
	bool started;
};

static const struct serve_grpc_config *log_cfg;

static void forward_log(gpr_log_func_args *a)
{
	if (!log_cfg || !log_cfg->log)
		return;
	enum serve_log_level lv = a->severity == GPR_LOG_SEVERITY_ERROR ? SERVE_LOG_WARN : SERVE_LOG_DEBUG;
	char line[1024];
	snprintf(line, sizeof line, "grpc: %s", a->message);
	log_cfg->log(lv, true, line);
}

/*
 * gRPC 1.51 stops accepting on a listener for good when accept4() fails
 * with anything but EAGAIN, EWOULDBLOCK, ECONNABORTED or EINTR
 * (tcp_server_posix.cc, on_read): a process at its open-file limit
 * (EMFILE) would never take a connection again, even after descriptors
 * free up.  gRPC calls accept4 through the PLT, so this definition in the
 * executable comes first.  At the limit it sheds what waits in the backlog
 * (a descriptor kept in reserve makes room to accept and close each one at
 * once, so callers see the connection closed and retry instead of hanging)
 * and tells gRPC EAGAIN: the listener waits for the next connection, which
 * is accepted once descriptors are free (ENOBUFS and ENOMEM: the same,
 * without shedding).  Network errors that accept(2) passes on from a
 * connection that died in the backlog are retried, as accept(2) advises,
 * instead of ending the listener too.  Accepts are serialized, so no other
 * accept takes the room the spare descriptor made.
 */
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static int spare_fd = -1;
static unsigned long shed_total;
static time_t shed_logged;

static int sys_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

/* At the limit: accept and close what waits on lfd, one at a time in the
 * room the spare descriptor makes.  Under accept_lock, so no other accept
 * takes that room; returns how many were closed. */
static unsigned long shed_backlog(int lfd)
{
	unsigned long n = 0;
	for (;;) {
		if (spare_fd >= 0)
			close(spare_fd);
		int c = sys_accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0) {
			close(c);
			n++;
		}
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (c < 0 && errno != EINTR)
			return n; /* the backlog is empty */
	}
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int c, e;
	unsigned long total = 0;
	pthread_mutex_lock(&accept_lock);
	for (;;) {
		c = sys_accept4(fd, addr, len, flags);
		e = errno;
		if (c >= 0 || (e != ENETDOWN && e != EPROTO && e != ENOPROTOOPT && e != EHOSTDOWN && e != ENONET &&
			       e != EHOSTUNREACH && e != EOPNOTSUPP && e != ENETUNREACH))
			break;
	}
	if (c < 0 && (e == EMFILE || e == ENFILE)) {
		shed_total += shed_backlog(fd);
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		/* (only once something was shed: a first EMFILE that shed
		 * nothing must not hold back the warning for 10 s) */
		if (shed_total && (!shed_logged || now.tv_sec - shed_logged >= 10)) {
			shed_logged = now.tv_sec;
			total = shed_total;
		}
	}
	pthread_mutex_unlock(&accept_lock);
	if (total && log_cfg && log_cfg->log) {
		struct rlimit rl;
		char line[256];
		getrlimit(RLIMIT_NOFILE, &rl);
		snprintf(line, sizeof line,
			 "at the open-file limit (%llu): closing new connections until descriptors free up "
			 "(%lu closed so far)", (unsigned long long)rl.rlim_cur, total);
		log_cfg->log(SERVE_LOG_WARN, false, line);
	}
	if (c < 0 && (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM))
		e = EAGAIN;
	errno = e;
	return c;
}

const char *serve_status_name(enum serve_status st)
{
	switch (st) {
	case SERVE_OK: return "OK";
	case SERVE_CANCELLED: return "CANCELLED";
	case SERVE_UNKNOWN: return "UNKNOWN";
	case SERVE_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
	case SERVE_NOT_FOUND: return "NOT_FOUND";
	case SERVE_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
	case SERVE_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
	case SERVE_UNIMPLEMENTED: return "UNIMPLEMENTED";
	case SERVE_INTERNAL: return "INTERNAL";
	case SERVE_UNAVAILABLE: return "UNAVAILABLE";
	}
	return "?";
}

const char *serve_grpc_version(void)
{
	return grpc_version_string();
}

static unsigned send_timeout_ms(const struct serve_grpc_config *cfg)
{
	return cfg->send_timeout_ms ? cfg->send_timeout_ms : SEND_TIMEOUT_MS;
}

/* (Under s->lock, as every change of a slot's state.) */
static void slot_post(struct slot *sl)
{
	struct serve_grpc *s = sl->s;
	grpc_call_error e;

	if (atomic_load(&s->stopping)) {
		sl->state = SLOT_IDLE;
		return;
	}
	sl->call = NULL;
	sl->payload = NULL;
	sl->reply = NULL;
	grpc_metadata_array_init(&sl->md);
	sl->state = SLOT_WAIT;
	if (sl->method >= 0) {
		e = grpc_server_request_registered_call(s->server, s->registered[sl->method], &sl->call,
							&sl->deadline, &sl->md, &sl->payload,
							s->cq, s->cq, sl);
	} else {
		grpc_call_details_init(&sl->details);
		e = grpc_server_request_call(s->server, &sl->call, &sl->details, &sl->md, s->cq, s->cq, sl);
	}
	if (e == GRPC_CALL_OK) {
		s->waiting[sl->method + 1]++;
	} else {
		/* Only during shutdown (the queue is closing): the slot retires. */
		grpc_metadata_array_destroy(&sl->md);
		if (sl->method < 0)
			grpc_call_details_destroy(&sl->details);
		sl->state = SLOT_IDLE;
	}
}

static void slot_release(struct slot *sl)
{
	if (sl->payload)
		grpc_byte_buffer_destroy(sl->payload);
	if (sl->reply)
		grpc_byte_buffer_destroy(sl->reply);
	grpc_slice_unref(sl->status_msg);
	sl->status_msg = grpc_empty_slice();
	grpc_metadata_array_destroy(&sl->md);
	if (sl->method < 0)
		grpc_call_details_destroy(&sl->details);
	if (sl->call)
		grpc_call_unref(sl->call);
	sl->call = NULL;
	sl->payload = sl->reply = NULL;
	sl->state = SLOT_IDLE;
}

/* The request's bytes, for as long as r lives: its one slice as it is, or
 * its slices gathered into the worker's buffer (which only ever grows, up
 * to the largest request), so a call costs no allocation and at most one
 * copy. */
static const char *request_bytes(struct worker *w, grpc_byte_buffer_reader *r, size_t *len)
{
	grpc_slice_buffer *sb = &r->buffer_out->data.raw.slice_buffer;
	size_t n = grpc_byte_buffer_length(r->buffer_out);
	*len = n;
	if (n == 0)
		return "";
	if (sb->count == 1)
		return (const char *)GRPC_SLICE_START_PTR(sb->slices[0]);
	if (n > w->req_cap) {
		free(w->req);
		w->req = malloc(n);
		if (!w->req)
			abort();
		w->req_cap = n;
	}
	size_t o = 0;
	for (size_t i = 0; i < sb->count; i++) {
		size_t k = GRPC_SLICE_LENGTH(sb->slices[i]);
		memcpy(w->req + o, GRPC_SLICE_START_PTR(sb->slices[i]), k);
		o += k;
	}
	return w->req;
}

static void method_refill(struct serve_grpc *s, int method);

/* A request arrived in sl (BUSY, so only this thread touches it): run the
 * handler on worker w, start the one batch that answers. */
static void slot_answer(struct worker *w, struct slot *sl)
{
	const struct serve_grpc_config *cfg = w->s->cfg;
	struct serve_call call = { .method = sl->method };
	struct serve_reply reply = { .status = SERVE_INTERNAL };
	char path[256];
	grpc_byte_buffer_reader r;
	bool reading = false;

	if (sl->method >= 0) {
		call.path = cfg->methods[sl->method];
		/* (never compressed: the channel allows identity only) */
		if (sl->payload && grpc_byte_buffer_reader_init(&r, sl->payload)) {
			reading = true;
			call.req = request_bytes(w, &r, &call.len);
		}
	} else {
		size_t n = GRPC_SLICE_LENGTH(sl->details.method);
		if (n >= sizeof path)
			n = sizeof path - 1;
		memcpy(path, GRPC_SLICE_START_PTR(sl->details.method), n);
		path[n] = '\0';
		call.path = path;
	}
	cfg->handle(w->state, &call, &reply);

	grpc_op ops[4];
	size_t nops = 0;
	memset(ops, 0, sizeof ops);
	ops[nops++].op = GRPC_OP_SEND_INITIAL_METADATA;
	if (reply.status == SERVE_OK) {
		grpc_slice out = grpc_slice_malloc(reply.len);
		if (reply.len)
			memcpy(GRPC_SLICE_START_PTR(out), reply.data, reply.len);
		sl->reply = grpc_raw_byte_buffer_create(&out, 1);
		grpc_slice_unref(out);
		ops[nops].op = GRPC_OP_SEND_MESSAGE;
		ops[nops++].data.send_message.send_message = sl->reply;
	}
	if (reading)
		grpc_byte_buffer_reader_destroy(&r);
	ops[nops].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[nops].data.send_status_from_server.status = (grpc_status_code)reply.status;
	if (reply.msg) {
		sl->status_msg = grpc_slice_from_copied_string(reply.msg);
		ops[nops].data.send_status_from_server.status_details = &sl->status_msg;
	}
	nops++;
	ops[nops].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[nops++].data.recv_close_on_server.cancelled = &sl->cancelled;

	pthread_mutex_lock(&w->s->lock);
	sl->state = SLOT_SEND;
	sl->timed_out = false;
	sl->send_by = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(send_timeout_ms(cfg),
										    GPR_TIMESPAN));
	/* A handler that outlived the stop's grace period: its call was
	 * cancelled and the queue is closed, where a batch would abort. */
	if (w->s->cq_closed || grpc_call_start_batch(sl->call, ops, nops, sl, NULL) != GRPC_CALL_OK) {
		slot_release(sl);
		method_refill(w->s, sl->method);
	}
	pthread_mutex_unlock(&w->s->lock);
}

/* Keep POSTED_PER_METHOD requests of method posted per worker, from its
 * idle slots (under s->lock). */
static void method_refill(struct serve_grpc *s, int method)
{
	struct slot *first = &s->slots[(size_t)(method + 1) * s->per_method];
	const size_t *waiting = &s->waiting[method + 1];
	size_t want = s->draining ? s->per_method : (size_t)POSTED_PER_METHOD * s->nworkers;
	if (s->cq_closed)
		return;
	for (size_t i = 0; i < s->per_method && *waiting < want; i++) {
		if (first[i].state != SLOT_IDLE)
			continue;
		slot_post(&first[i]);
		if (first[i].state != SLOT_WAIT)
			return; /* shutting down */
	}
}

/* Cancel the calls whose reply the client has not taken in time (it never
 * reads, or its window stays shut): their batches then complete and free
 * the slots.  Under s->lock, so no slot is released meanwhile. */
static void cancel_stalled(struct serve_grpc *s, gpr_timespec now)
{
	const struct serve_grpc_config *cfg = s->cfg;
	size_t n = 0, nslots = (cfg->nmethods + 1) * s->per_method;
	char line[512];
	for (size_t i = 0; i < nslots; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->state != SLOT_SEND || sl->timed_out || gpr_time_cmp(now, sl->send_by) < 0)
			continue;
		sl->timed_out = true;
		if (!n++ && cfg->log) {
			char *peer = grpc_call_get_peer(sl->call);
			snprintf(line, sizeof line, "(%s from %s)",
				 sl->method >= 0 ? cfg->methods[sl->method] : "unimplemented method",
				 peer ? peer : "?");
			gpr_free(peer);
		}
		grpc_call_cancel_with_status(sl->call, GRPC_STATUS_DEADLINE_EXCEEDED,
					     "the reply was not read in time", NULL);
	}
	/* One line per scan, however many: a peer controls how many. */
	if (n && cfg->log) {
		char msg[640];
		snprintf(msg, sizeof msg, "%zu call%s whose client did not take the reply within %u ms: cancelled %s%s",
			 n, n == 1 ? "" : "s", send_timeout_ms(cfg), n == 1 ? "" : "the first ", line);
		cfg->log(SERVE_LOG_WARN, false, msg);
	}
}

/* No call is handled or sending (under s->lock). */
static bool slots_idle(const struct serve_grpc *s)
{
	size_t nslots = (s->cfg->nmethods + 1) * s->per_method;
	for (size_t i = 0; i < nslots; i++)
		if (s->slots[i].state == SLOT_BUSY || s->slots[i].state == SLOT_SEND)
			return false;
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct serve_grpc *s = w->s;
	gpr_timespec scan = gpr_time_from_millis(CANCEL_SCAN_MS, GPR_TIMESPAN);

	pthread_mutex_lock(&s->lock);
	gpr_timespec until = s->next_scan;
	pthread_mutex_unlock(&s->lock);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq, until, NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
		pthread_mutex_lock(&s->lock);
		if (gpr_time_cmp(now, s->next_scan) >= 0) {
			cancel_stalled(s, now);
			s->next_scan = gpr_time_add(now, scan);
		}
		struct slot *sl = ev.type == GRPC_OP_COMPLETE ? ev.tag : NULL;
		bool answer = false;
		if (sl && sl->state == SLOT_WAIT)
			s->waiting[sl->method + 1]--;
		if (sl && sl->state == SLOT_WAIT && !ev.success) {
			/* The server is shutting down: the request was never matched. */
			slot_release(sl);
		} else if (sl && sl->state == SLOT_WAIT) {
			sl->state = SLOT_BUSY;
			s->idle_scans = 0;
			method_refill(s, sl->method); /* others take new calls meanwhile */
			answer = true;
		} else if (sl && sl->state == SLOT_SEND) {
			slot_release(sl);
			method_refill(s, sl->method);
		}
		/*
		 * A burst of large calls leaves malloc's free memory with the
		 * process (glibc raises its trim threshold as large blocks are
		 * freed).  When the server is idle (a scan's wait ran out and no
		 * call is handled or sending), give it back, on the 1st, 2nd,
		 * 4th, ... such scan up to IDLE_SCANS_TRIMMED (gRPC frees some of
		 * a call's memory later): the next burst pays page faults, not
		 * the idle server.
		 */
		bool trim = false;
		if (ev.type == GRPC_QUEUE_TIMEOUT && s->idle_scans <= IDLE_SCANS_TRIMMED && slots_idle(s)) {
			s->idle_scans++;
			trim = !(s->idle_scans & (s->idle_scans - 1));
		}
		until = s->next_scan;
		pthread_mutex_unlock(&s->lock);
		if (trim)
			malloc_trim(0);
		if (answer)
			slot_answer(w, sl);
	}
	return NULL;
}

static grpc_server_credentials *make_creds(const struct serve_grpc_config *cfg)
{
	if (!cfg->cert_pem)
		return grpc_insecure_server_credentials_create();
	grpc_ssl_pem_key_cert_pair pair = { .private_key = cfg->key_pem, .cert_chain = cfg->cert_pem };
	return grpc_ssl_server_credentials_create_ex(
		cfg->client_ca_pem, &pair, 1,
		cfg->client_ca_pem ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
				   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
		NULL);
}

struct serve_grpc *serve_grpc_start(const struct serve_grpc_config *cfg,
				    struct serve_grpc_listener *ls, size_t nls, char *err,
				    size_t errlen)
{
	log_cfg = cfg;
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	gpr_set_log_function(forward_log);
	grpc_absl_deadlock_detection_off();
	grpc_init();
	gpr_set_log_verbosity(GPR_LOG_SEVERITY_ERROR);

	struct serve_grpc *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->cfg = cfg;
	s->idle_scans = IDLE_SCANS_TRIMMED + 1; /* no trim before the first call */
	atomic_init(&s->stopping, false);

	/* gRPC 1.51 opens a stream's receive window to whatever length the
	 * message prefix announces and checks max_message only once it holds
	 * the whole message: one client announcing 2 GiB would make it buffer
	 * 2 GiB.  Under a memory quota gRPC cancels the streams that overrun
	 * it (ENHANCE_YOUR_CALM); room for a few requests of the largest size
	 * plus connection buffers. */
	uint64_t quota_bytes = 4 * (uint64_t)cfg->max_message + ((uint64_t)64 << 20);
	grpc_resource_quota *quota = grpc_resource_quota_create("edsmod-serve");
	grpc_resource_quota_resize(quota, quota_bytes > SIZE_MAX ? SIZE_MAX : (size_t)quota_bytes);
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = (int)cfg->max_message },
		/* gRPC sets SO_REUSEPORT by default: a second server on the same
		 * port would start silently and share the traffic. */
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0 },
		/* gRPC 1.51 inflates a compressed message whole and only then
		 * compares it with max_message: a few MB of gzip can make GBs.
		 * Identity only; Envoy Gateway does not compress. */
		{ .type = GRPC_ARG_INTEGER, .key = GRPC_COMPRESSION_CHANNEL_ENABLED_ALGORITHMS_BITSET,
		  .value.integer = 1 << GRPC_COMPRESS_NONE },
		{ .type = GRPC_ARG_POINTER, .key = GRPC_ARG_RESOURCE_QUOTA,
		  .value.pointer = { .p = quota, .vtable = grpc_resource_quota_arg_vtable() } },
	};
	grpc_channel_args cargs = { .num_args = sizeof args / sizeof args[0], .args = args };
	s->server = grpc_server_create(&cargs, NULL);
	grpc_resource_quota_unref(quota);

	s->registered = calloc(cfg->nmethods ? cfg->nmethods : 1, sizeof *s->registered);
	if (!s->registered)
		abort();
	for (size_t i = 0; i < cfg->nmethods; i++)
		s->registered[i] = grpc_server_register_method(
			s->server, cfg->methods[i], NULL, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);

	s->nworkers = cfg->nthreads ? cfg->nthreads : 1;
	s->workers = calloc(s->nworkers, sizeof *s->workers);
	if (!s->workers)
		abort();
	for (unsigned i = 0; i < s->nworkers; i++) {
		s->workers[i].s = s;
		s->workers[i].index = i;
	}
	s->cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	pthread_mutex_init(&s->lock, NULL);
	s->per_method = (size_t)SLOTS_PER_METHOD * s->nworkers;
	size_t nslots = (cfg->nmethods + 1) * s->per_method;
	s->slots = calloc(nslots, sizeof *s->slots);
	s->waiting = calloc(cfg->nmethods + 1, sizeof *s->waiting);
	if (!s->slots || !s->waiting)
		abort();
	for (size_t k = 0; k < nslots; k++) {
		s->slots[k].s = s;
		s->slots[k].method = (int)(k / s->per_method) - 1;
		s->slots[k].status_msg = grpc_empty_slice();
	}
	s->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(s->server, s->shutdown_cq, NULL);

	grpc_server_credentials *creds = make_creds(cfg);
	for (size_t i = 0; i < nls; i++) {
		int port = grpc_server_add_http2_port(s->server, ls[i].addr, creds);
		if (port <= 0) {
			snprintf(err, errlen, "cannot listen on \"%s\"%s", ls[i].addr,
				 cfg->cert_pem ? " (bad address, address in use, or the TLS "
						 "certificate and key do not load or match)"
					       : " (bad address or address in use)");
			grpc_server_credentials_release(creds);
			/* gRPC core destroys a server with listeners only after a
			 * shutdown, and shuts down only a started one. */
			if (i > 0) {
				grpc_server_start(s->server);
				s->started = true;
			}
			serve_grpc_stop(s, 0);
			return NULL;
		}
		ls[i].port = strncmp(ls[i].addr, "unix:", 5) == 0 ? 0 : port;
	}
	grpc_server_credentials_release(creds);
	grpc_server_start(s->server);
	s->started = true;

	/* Each worker's state (the handler's arena and buffers) exists before
	 * any request is posted: whichever thread a call reaches answers it. */
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		w->state = cfg->worker_new ? cfg->worker_new(cfg->ctx, w->index) : NULL;
	}
	pthread_mutex_lock(&s->lock);
	for (int m = -1; m < (int)cfg->nmethods; m++)
		method_refill(s, m);
	s->next_scan = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
				    gpr_time_from_millis(CANCEL_SCAN_MS, GPR_TIMESPAN));
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		int e = pthread_create(&w->thread, NULL, worker_main, w);
		if (e) {
			snprintf(err, errlen, "cannot start worker thread %u: %s", i, strerror(e));
			serve_grpc_stop(s, 0);
			return NULL;
		}
		w->started = true;
	}
	return s;
}

void serve_grpc_stop(struct serve_grpc *s, unsigned grace_ms)
{
	int tag;
	if (s->started) {
		/* Requests clients sent before the stop are served.  While every
		 * worker runs a handler no thread reads the connections, and once
		 * the shutdown has begun gRPC cancels the calls it reads (or holds
		 * unmatched): first post every idle slot, and read for a moment. */
		pthread_mutex_lock(&s->lock);
		s->draining = true;
		for (int m = -1; m < (int)s->cfg->nmethods; m++)
			method_refill(s, m);
		pthread_mutex_unlock(&s->lock);
		grpc_completion_queue_next(s->shutdown_cq,
					   gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
							gpr_time_from_millis(DRAIN_READ_MS, GPR_TIMESPAN)),
					   NULL);
	}
	atomic_store(&s->stopping, true);
	if (s->started) {
		grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, &tag);
		gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						  gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(s->shutdown_cq, until, NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			if (log_cfg && log_cfg->log)
				log_cfg->log(SERVE_LOG_WARN, false,
					     "calls still running after the grace period: cancelling them");
			grpc_server_cancel_all_calls(s->server);
			grpc_completion_queue_next(s->shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		}
	}
	pthread_mutex_lock(&s->lock);
	s->cq_closed = true;
	grpc_completion_queue_shutdown(s->cq);
	pthread_mutex_unlock(&s->lock);
	bool polled = false;
	for (unsigned i = 0; i < s->nworkers; i++)
		if (s->workers[i].started) {
			pthread_join(s->workers[i].thread, NULL);
			polled = true;
		}
	while (!polled) { /* no worker ran: the requests posted come back failed */
		grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			slot_release(ev.tag);
	}
	grpc_server_destroy(s->server);
	grpc_completion_queue_shutdown(s->shutdown_cq);
	while (grpc_completion_queue_next(s->shutdown_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(s->shutdown_cq);
	grpc_completion_queue_destroy(s->cq);
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		if (w->state && s->cfg->worker_free)
			s->cfg->worker_free(w->state);
		free(w->req);
	}
	free(s->slots);
	free(s->waiting);
	pthread_mutex_destroy(&s->lock);
	free(s->workers);
	free(s->registered);
	free(s);
	grpc_shutdown_blocking();
	if (spare_fd >= 0)
		close(spare_fd);
	spare_fd = -1;
}
