#include "serve_cache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A request is kept when it comes a second time: one that never comes back
 * (a changed CLA) costs no memory and evicts nothing. */
#define SEEN 16384

struct entry {
	struct entry *chain;         /* the next in its bucket */
	struct entry *newer, *older; /* the LRU list */
	uint64_t hash;
	size_t len, reply_len, note_len;
	int method;
	unsigned char data[]; /* request, reply, note */
};

struct serve_cache {
	pthread_mutex_t lock;
	struct entry **bucket; /* nbucket, a power of two */
	size_t nbucket, n;
	struct entry *newest, *oldest;
	size_t bytes, max;
	unsigned long long hits, misses;
	uint64_t seen[SEEN]; /* hashes of requests answered once, by hash mod SEEN */
};

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0xc2b2ae3d27d4eb4fULL

static uint64_t rotl(uint64_t x, unsigned r) { return x << r | x >> (64 - r); }
static uint64_t mix(uint64_t h, uint64_t v) { return rotl(h ^ v * K2, 31) * K1; }

/* Not cryptographic (a match is compared byte for byte); four lanes so a
 * 30 KB request hashes in about a microsecond. */
static uint64_t hash(int method, const unsigned char *p, size_t n)
{
	uint64_t h[4] = { K1, K2, K1 ^ n, K2 ^ (uint64_t)method }, v;
	size_t i = 0;
	for (; i + 32 <= n; i += 32)
		for (int k = 0; k < 4; k++) {
			memcpy(&v, p + i + 8 * k, 8);
			h[k] = mix(h[k], v);
		}
	uint64_t x = h[0] ^ rotl(h[1], 17) ^ rotl(h[2], 34) ^ rotl(h[3], 51);
	for (; i + 8 <= n; i += 8) {
		memcpy(&v, p + i, 8);
		x = mix(x, v);
	}
	v = 0;
	memcpy(&v, p + i, n - i);
	x = mix(x, v);
	x ^= x >> 29;
	x *= K1;
	return x ^ x >> 32;
}

static size_t cost(const struct entry *e)
{
	return sizeof *e + e->len + e->reply_len + e->note_len;
}

struct serve_cache *serve_cache_new(size_t max)
{
	if (!max)
		return NULL;
	struct serve_cache *c = calloc(1, sizeof *c);
	if (!c)
		abort();
	pthread_mutex_init(&c->lock, NULL);
	c->max = max;
	return c;
}

void serve_cache_free(struct serve_cache *c)
{
	if (!c)
		return;
	for (struct entry *e = c->newest, *next; e; e = next) {
		next = e->older;
		free(e);
	}
	free(c->bucket);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct entry **slot(struct serve_cache *c, uint64_t h, int method, const void *req, size_t len)
{
	struct entry **p = &c->bucket[h & (c->nbucket - 1)];
	for (; *p; p = &(*p)->chain)
		if ((*p)->hash == h && (*p)->method == method && (*p)->len == len &&
		    memcmp((*p)->data, req, len) == 0)
			break;
	return p;
}

static void unlink_lru(struct serve_cache *c, struct entry *e)
{
	*(e->newer ? &e->newer->older : &c->newest) = e->older;
	*(e->older ? &e->older->newer : &c->oldest) = e->newer;
}

static void push_lru(struct serve_cache *c, struct entry *e)
{
	e->newer = NULL;
	e->older = c->newest;
	*(c->newest ? &c->newest->newer : &c->oldest) = e;
	c->newest = e;
}

bool serve_cache_get(struct serve_cache *c, int method, const void *req, size_t len,
		     struct eds_buf *out, struct eds_buf *note, uint64_t *hash_out)
{
	if (!c)
		return false;
	uint64_t h = *hash_out = hash(method, req, len);
	pthread_mutex_lock(&c->lock);
	struct entry *e = c->n ? *slot(c, h, method, req, len) : NULL;
	if (e) {
		unlink_lru(c, e);
		push_lru(c, e);
		eds_buf_append(out, e->data + e->len, e->reply_len);
		eds_buf_append(note, e->data + e->len + e->reply_len, e->note_len);
	}
	*(e ? &c->hits : &c->misses) += 1;
	pthread_mutex_unlock(&c->lock);
	return e != NULL;
}

void serve_cache_stats(struct serve_cache *c, struct serve_cache_stats *st)
{
	*st = (struct serve_cache_stats){ 0 };
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	*st = (struct serve_cache_stats){ c->hits, c->misses, c->n, c->bytes };
	pthread_mutex_unlock(&c->lock);
}

static void grow(struct serve_cache *c)
{
	size_t nb = c->nbucket ? c->nbucket * 2 : 64;
	struct entry **b = calloc(nb, sizeof *b);
	if (!b)
		abort();
	for (size_t i = 0; i < c->nbucket; i++)
		for (struct entry *e = c->bucket[i], *next; e; e = next) {
			next = e->chain;
			e->chain = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(c->bucket);
	c->bucket = b;
	c->nbucket = nb;
}

void serve_cache_put(struct serve_cache *c, uint64_t h, int method, const void *req, size_t len,
		     const void *reply, size_t reply_len, const void *note, size_t note_len)
{
	if (!c || sizeof(struct entry) + len + reply_len + note_len > c->max / 4)
		return;
	pthread_mutex_lock(&c->lock);
	bool again = c->seen[h % SEEN] == h;
	c->seen[h % SEEN] = h;
	pthread_mutex_unlock(&c->lock);
	if (!again)
		return;
	struct entry *e = malloc(sizeof *e + len + reply_len + note_len);
	if (!e)
		return; /* a cache may forget */
	*e = (struct entry){ .hash = h, .len = len, .reply_len = reply_len,
			     .note_len = note_len, .method = method };
	memcpy(e->data, req, len);
	if (reply_len)
		memcpy(e->data + len, reply, reply_len);
	if (note_len)
		memcpy(e->data + len + reply_len, note, note_len);

	pthread_mutex_lock(&c->lock);
	if (c->n >= c->nbucket)
		grow(c);
	if (*slot(c, e->hash, method, req, len)) { /* another worker answered it first */
		pthread_mutex_unlock(&c->lock);
		free(e);
		return;
	}
	while (c->bytes + cost(e) > c->max) {
		struct entry *old = c->oldest, **q = &c->bucket[old->hash & (c->nbucket - 1)];
		while (*q != old)
			q = &(*q)->chain;
		*q = old->chain;
		unlink_lru(c, old);
		c->bytes -= cost(old);
		c->n--;
		free(old);
	}
	e->chain = c->bucket[e->hash & (c->nbucket - 1)];
	c->bucket[e->hash & (c->nbucket - 1)] = e;
	push_lru(c, e);
	c->bytes += cost(e);
	c->n++;
	pthread_mutex_unlock(&c->lock);
}
