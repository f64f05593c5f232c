/*
 * serve_grpc: the one module of edsmod-serve that calls gRPC core.  gRPC
 * core's C API is internal and unstable upstream; keeping every grpc_* call
 * here means a new gRPC version changes this file only.
 *
 * The server runs `nthreads` workers polling one completion queue, so a
 * call is answered by the thread that read it.  Requests for registered methods arrive with their payload; the
 * adapter hands the payload's bytes to cfg->handle on the worker thread and
 * sends back what the handler put in struct serve_reply (copied before the
 * handler runs again on that worker, so it may point into per-worker
 * buffers or into the request).  Calls to methods not in cfg->methods reach
 * the handler with method -1 and no payload.  The handler must answer every
 * call; it never blocks on the network.  Replies wait for their clients
 * without holding up other calls, up to a bound per worker and method and
 * for at most send_timeout_ms each.
 *
 * Ownership: cfg (with its method paths and PEM strings) must outlive the
 * server; serve_grpc_start fills in ls[i].port.  It returns NULL with a
 * message in err on a bad address, a port in use or unusable TLS material,
 * having released everything.  serve_grpc_stop stops accepting calls, lets
 * in-flight calls finish for up to grace_ms, cancels the rest, joins the
 * workers and frees everything, gRPC core included.
 */
#ifndef EDS_SERVE_GRPC_H
#define EDS_SERVE_GRPC_H

#include <stdbool.h>
#include <stddef.h>

/* gRPC status codes (the numbers are the protocol's). */
enum serve_status {
	SERVE_OK = 0,
	SERVE_CANCELLED = 1,
	SERVE_UNKNOWN = 2,
	SERVE_INVALID_ARGUMENT = 3,
	SERVE_NOT_FOUND = 5,
	SERVE_RESOURCE_EXHAUSTED = 8,
	SERVE_FAILED_PRECONDITION = 9,
	SERVE_UNIMPLEMENTED = 12,
	SERVE_INTERNAL = 13,
	SERVE_UNAVAILABLE = 14,
};
const char *serve_status_name(enum serve_status s);

struct serve_call {
	int method;        /* index into serve_grpc_config.methods, -1: unregistered */
	const char *path;  /* "/package.Service/Method", NUL-terminated */
	const char *req;   /* the request message (NULL when there is none) */
	size_t len;
};

struct serve_reply {
	enum serve_status status;
	const char *msg;   /* status message, valid UTF-8, or NULL */
	const char *data;  /* the reply message (status SERVE_OK only) */
	size_t len;
};

enum serve_log_level { SERVE_LOG_ERROR = 0, SERVE_LOG_WARN, SERVE_LOG_INFO, SERVE_LOG_DEBUG };

struct serve_grpc_config {
	const char *const *methods; /* paths of the methods with payloads */
	size_t nmethods;
	unsigned nthreads;
	size_t max_message;         /* largest request accepted, bytes (< 2 GiB) */
	unsigned send_timeout_ms;   /* a reply the client has not taken by then is
				     * cancelled (0: 30 s) */
	/* TLS for every listener when cert_pem is set; client_ca_pem also
	 * requires and verifies client certificates (mTLS). */
	const char *cert_pem, *key_pem, *client_ca_pem;
	/* Per-worker state, made on the worker's thread before it serves. */
	void *(*worker_new)(void *ctx, unsigned worker);
	void (*worker_free)(void *state);
	void (*handle)(void *state, const struct serve_call *call, struct serve_reply *reply);
	/* Log lines: gRPC core's own, mapped to our levels (per_event: one
	 * line per thing a peer can do at will, to be rate-limited), and the
	 * adapter's, which are bounded already (one a scan, or once). */
	void (*log)(enum serve_log_level level, bool per_event, const char *msg);
	void *ctx;
};

struct serve_grpc_listener {
	const char *addr; /* "HOST:PORT", "[V6]:PORT", "unix:PATH" */
	int port;         /* out: the bound TCP port (0 for unix sockets) */
};

struct serve_grpc;

struct serve_grpc *serve_grpc_start(const struct serve_grpc_config *cfg,
				    struct serve_grpc_listener *ls, size_t nls, char *err,
				    size_t errlen);
void serve_grpc_stop(struct serve_grpc *s, unsigned grace_ms);
const char *serve_grpc_version(void);

#endif
