/*
 * buf: a growable byte buffer for encoder output.  Output is built whole in
 * memory and written only when a message has been encoded without error, so
 * a failure never leaves partial output.  The buffer owns its malloc'd
 * storage (eds_buf_release frees it).  Growth past max (0 = no cap) sets
 * overflow and drops further bytes; encoders check eds_buf_overflowed() at
 * the end and report EDS_E_LIMIT.
 */
#ifndef EDS_BUF_H
#define EDS_BUF_H

#include <stddef.h>
#include <string.h>

struct eds_buf {
	char *data;
	size_t len, cap;
	size_t max;   /* 0: unlimited */
	int overflow;
	void *map;    /* data lies in this mapping (eds_buf_adopt), not in malloc'd memory */
	size_t maplen;
};

void eds_buf_release(struct eds_buf *b);
/* Make an empty buffer own len bytes at data inside the anonymous mapping
 * map of maplen bytes (the binary encoder's output, kept where it was
 * written instead of copied).  The buffer munmaps it when done. */
void eds_buf_adopt(struct eds_buf *b, void *map, size_t maplen, char *data, size_t len);
/* Make room for n more bytes, keeping every byte up to cap (as realloc);
 * returns 0, or -1 (overflow set) past max. */
int eds_buf_reserve(struct eds_buf *b, size_t n);
void eds_buf_printf(struct eds_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void eds_buf_append(struct eds_buf *b, const void *p, size_t n)
{
	/* Even for n == 0: callers use data + len afterwards, so data must not
	 * stay NULL (and p may be NULL when n == 0). */
	if ((b->cap - b->len < n || !b->data) && eds_buf_reserve(b, n) < 0)
		return;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}
static inline void eds_buf_putc(struct eds_buf *b, char c)
{
	if (b->cap == b->len && eds_buf_reserve(b, 1) < 0)
		return;
	b->data[b->len++] = c;
}
static inline void eds_buf_puts(struct eds_buf *b, const char *s)
{
	eds_buf_append(b, s, strlen(s));
}
static inline int eds_buf_overflowed(const struct eds_buf *b) { return b->overflow; }

#endif
