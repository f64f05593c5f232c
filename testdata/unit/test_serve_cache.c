/*
 * Unit tests of edsmod-serve's reply cache (cmd/serve_cache.c, included
 * here so that no gRPC is linked): a reply is kept the second time its
 * request comes and only then found, keyed on the method and every byte;
 * over a quarter of the size it is never kept; the least recently used
 * reply is evicted first; the counts add up; and four threads hammering one
 * cache only ever get back the reply that belongs to their request.
 */
#include <pthread.h>

#include "../../cmd/serve_cache.c"
#include "unit.h"

/* Request k: 100 + k % 50 bytes derived from k; its reply: k's bytes reversed. */
static size_t req_of(unsigned k, char *b)
{
	size_t n = 100 + k % 50;
	for (size_t i = 0; i < n; i++)
		b[i] = (char)(k * 31 + i * 7 + (k >> 8));
	return n;
}

static size_t reply_of(unsigned k, char *b)
{
	char r[160];
	size_t n = req_of(k, r);
	for (size_t i = 0; i < n; i++)
		b[i] = r[n - 1 - i];
	return n;
}

static void put(struct serve_cache *c, int method, unsigned k)
{
	char q[160], r[160];
	size_t qn = req_of(k, q), rn = reply_of(k, r);
	serve_cache_put(c, hash(method, (const unsigned char *)q, qn), method, q, qn, r, rn, &k, sizeof k);
}

/* 1: found with the right reply and note, 0: not found, -1: wrong bytes
 * (or a wrong hash for serve_cache_put). */
static int get(struct serve_cache *c, int method, unsigned k)
{
	char q[160], r[160];
	size_t qn = req_of(k, q), rn = reply_of(k, r);
	struct eds_buf out = { 0 }, note = { 0 };
	uint64_t h = 0;
	int got = serve_cache_get(c, method, q, qn, &out, &note, &h);
	if (c && h != hash(method, (const unsigned char *)q, qn))
		got = -1;
	if (got && (out.len != rn || memcmp(out.data, r, rn) || note.len != sizeof k ||
		    memcmp(note.data, &k, sizeof k)))
		got = -1;
	eds_buf_release(&out);
	eds_buf_release(&note);
	return got;
}

static void test_admission_and_key(void)
{
	struct serve_cache *c = serve_cache_new(1 << 20);
	CHECK(get(c, 0, 1) == 0, "empty cache: a miss");
	put(c, 0, 1);
	CHECK(get(c, 0, 1) == 0, "a reply is not kept the first time its request comes");
	put(c, 0, 1);
	CHECK(get(c, 0, 1) == 1, "kept the second time, found with its reply and note");
	CHECK(get(c, 1, 1) == 0, "the same bytes for another method: a miss");
	char q[160];
	size_t qn = req_of(1, q);
	q[qn - 1] ^= 1;
	struct eds_buf out = { 0 }, note = { 0 };
	uint64_t h;
	CHECK(!serve_cache_get(c, 0, q, qn, &out, &note, &h), "one byte changed: a miss");
	CHECK(!serve_cache_get(c, 0, q, qn - 1, &out, &note, &h), "one byte shorter: a miss");
	CHECK(out.len == 0 && note.len == 0, "a miss appends nothing");
	struct serve_cache_stats st;
	serve_cache_stats(c, &st);
	CHECK(st.hits == 1 && st.misses == 5 && st.replies == 1, "stats: %llu hits, %llu misses, %zu replies",
	      st.hits, st.misses, st.replies);
	CHECK(st.bytes == sizeof(struct entry) + qn + qn + sizeof(unsigned), "stats: %zu bytes", st.bytes);
	serve_cache_free(c);
	CHECK(serve_cache_new(0) == NULL, "size 0: no cache");
	CHECK(!serve_cache_get(NULL, 0, q, qn, &out, &note, &h), "no cache: every get a miss");
	serve_cache_put(NULL, 0, 0, q, qn, q, qn, NULL, 0);
	serve_cache_stats(NULL, &st);
	CHECK(st.hits == 0 && st.replies == 0, "no cache: zero stats");
}

static void test_bounds_and_lru(void)
{
	size_t one = sizeof(struct entry) + 2 * req_of(0, (char[160]){ 0 }) + sizeof(unsigned);
	/* k = 0, 50, 100, ... all have 100-byte requests: entries of one size */
	struct serve_cache *c = serve_cache_new(4 * one);
	for (unsigned i = 0; i < 6; i++) {
		put(c, 0, 50 * i);
		put(c, 0, 50 * i);
	}
	CHECK(get(c, 0, 0) == 0 && get(c, 0, 50) == 0, "the two oldest of six were evicted");
	CHECK(get(c, 0, 250) == 1 && get(c, 0, 100) == 1, "the four newest are kept");
	/* now 100 is the most recent, then 250; 150 is the least recent */
	put(c, 0, 0); /* (seen before: kept at once) */
	CHECK(get(c, 0, 150) == 0, "the least recently used went first");
	CHECK(get(c, 0, 0) == 1 && get(c, 0, 100) == 1 && get(c, 0, 200) == 1 && get(c, 0, 250) == 1,
	      "the other three and the new one are there");
	struct serve_cache_stats st;
	serve_cache_stats(c, &st);
	CHECK(st.replies == 4 && st.bytes <= 4 * one, "bounded: %zu replies, %zu bytes", st.replies, st.bytes);
	serve_cache_free(c);

	/* over a quarter of the size: never kept */
	c = serve_cache_new(4 * one - 4);
	put(c, 0, 0);
	put(c, 0, 0);
	CHECK(get(c, 0, 0) == 0, "a reply over a quarter of the cache is not kept");
	serve_cache_free(c);
}

struct worker {
	struct serve_cache *c;
	unsigned seed;
	int wrong, hits;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 20000; i++) {
		w->seed = w->seed * 1103515245u + 12345u;
		unsigned k = (w->seed >> 8) % 300;
		int g = get(w->c, (int)(k % 2), k);
		if (g < 0)
			w->wrong++;
		else if (g)
			w->hits++;
		else
			put(w->c, (int)(k % 2), k);
	}
	return NULL;
}

static void test_threads(void)
{
	/* room for about 100 of the 300 requests: constant eviction */
	struct serve_cache *c = serve_cache_new(100 * (sizeof(struct entry) + 2 * 125 + sizeof(unsigned)));
	struct worker w[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .c = c, .seed = (unsigned)i * 7919u + 1 };
		if (pthread_create(&t[i], NULL, hammer, &w[i]) != 0)
			CHECK(0, "pthread_create");
	}
	int wrong = 0, hits = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		wrong += w[i].wrong;
		hits += w[i].hits;
	}
	CHECK(wrong == 0, "four threads: %d replies that belong to another request", wrong);
	CHECK(hits > 1000, "four threads: %d hits (the cache was used)", hits);
	struct serve_cache_stats st;
	serve_cache_stats(c, &st);
	CHECK(st.hits == (unsigned long long)hits && st.hits + st.misses == 80000,
	      "four threads: the counts add up (%llu + %llu)", st.hits, st.misses);
	CHECK(st.bytes <= 100 * (sizeof(struct entry) + 2 * 125 + sizeof(unsigned)), "four threads: bounded");
	size_t n = 0, bytes = 0;
	for (struct entry *e = c->newest; e; e = e->older) {
		n++;
		bytes += cost(e);
	}
	CHECK(n == st.replies && bytes == st.bytes, "the LRU list holds every reply (%zu of %zu)", n, st.replies);
	serve_cache_free(c);
}

int main(void)
{
	test_admission_and_key();
	test_bounds_and_lru();
	test_threads();
	printf("serve_cache: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
