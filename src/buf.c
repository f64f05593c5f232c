#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

void eds_buf_release(struct eds_buf *b)
{
	if (b->map)
		munmap(b->map, b->maplen);
	else
		free(b->data);
	b->map = NULL;
	b->maplen = 0;
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = 0;
}

int eds_buf_reserve(struct eds_buf *b, size_t n)
{
	if (b->overflow)
		return -1;
	/* Even for n == 0, leave data non-NULL: callers write at data + len. */
	if (b->data && b->cap - b->len >= n)
		return 0;
	size_t want = b->len + n;
	if (b->max && want > b->max) {
		b->overflow = 1;
		return -1;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < want)
		cap *= 2;
	if (b->max && cap > b->max)
		cap = b->max; /* so that every append past max comes here */
	char *p = b->map ? malloc(cap) : realloc(b->data, cap);
	if (p && b->map) {
		/* all of the old room, as realloc keeps it: the encoder may have
		 * written past len (codec_bin.c, borrow_chunk) */
		memcpy(p, b->data, b->cap);
		munmap(b->map, b->maplen);
		b->map = NULL;
		b->maplen = 0;
	}
	if (!p) {
		fprintf(stderr, "edsmod: out of memory (output of %zu bytes)\n", cap);
		abort();
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void eds_buf_printf(struct eds_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || eds_buf_reserve(b, (size_t)n + 1) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void eds_buf_adopt(struct eds_buf *b, void *map, size_t maplen, char *data, size_t len)
{
	eds_buf_release(b);
	b->map = map;
	b->maplen = maplen;
	b->data = data;
	b->len = b->cap = len;
}
