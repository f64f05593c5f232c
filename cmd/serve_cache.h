/*
 * serve_cache: edsmod-serve's reply cache.  Envoy Gateway calls the hooks
 * for every cluster on every translation, and most of those requests carry
 * the same bytes as the last time.  A reply depends only on the method, the
 * request's bytes and the rules, so each rules generation owns one cache
 * (a reload starts an empty one), keyed on the method and the whole
 * request: a hash finds the entry, a byte-for-byte comparison confirms it.
 * It holds OK replies with a caller's note (its log fields), at most max
 * bytes in all, the least recently used evicted first.  A reply is kept
 * the second time its request comes (so changed CLAs, which never come
 * back, cost nothing), and not when it would take over a quarter of max.
 * Safe to call from any number of threads.
 */
#ifndef EDS_SERVE_CACHE_H
#define EDS_SERVE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct serve_cache;

/* NULL when max is 0 (no cache); the functions below accept NULL. */
struct serve_cache *serve_cache_new(size_t max);
void serve_cache_free(struct serve_cache *c);

/* On a hit, append the reply to out and the note to note; true.  Either
 * way *hash is the request's, for serve_cache_put after a miss. */
bool serve_cache_get(struct serve_cache *c, int method, const void *req, size_t len,
		     struct eds_buf *out, struct eds_buf *note, uint64_t *hash);
void serve_cache_put(struct serve_cache *c, uint64_t hash, int method, const void *req, size_t len,
		     const void *reply, size_t reply_len, const void *note, size_t note_len);

struct serve_cache_stats {
	unsigned long long hits, misses;
	size_t replies, bytes;
};
void serve_cache_stats(struct serve_cache *c, struct serve_cache_stats *st);

#endif
