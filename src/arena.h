/*
 * arena: a bump allocator, one per unit of work.
 *
 * A program arena holds compiled rules for the life of the process; a request
 * arena holds one decoded message and everything derived from it, and is reset
 * between messages.  Nothing allocated here is freed on its own: reset or free
 * the arena.  eds_arena_pbc() wraps the arena as a ProtobufCAllocator whose
 * free does nothing, so protobuf-c unpacks straight into it and error paths
 * cannot leak.  Allocation failure aborts (there is nothing sensible to
 * return to a protobuf-c callback); callers bound the work with eds_limits.
 */
#ifndef EDS_ARENA_H
#define EDS_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct eds_arena;

struct eds_arena *eds_arena_new(size_t first_block);
void eds_arena_free(struct eds_arena *a);
/* Forget everything allocated, keep the largest block for reuse. */
void eds_arena_reset(struct eds_arena *a);
/* Take over from's memory (freed with a) and free from itself. */
void eds_arena_adopt(struct eds_arena *a, struct eds_arena *from);
/* 8-byte aligned, never NULL. */
void *eds_arena_alloc(struct eds_arena *a, size_t n);
void *eds_arena_zalloc(struct eds_arena *a, size_t n);
/* NUL-terminated copy of n bytes. */
char *eds_arena_strndup(struct eds_arena *a, const char *s, size_t n);
char *eds_arena_strdup(struct eds_arena *a, const char *s);
/* Bytes handed out since the last reset (for limits and benchmarks). */
size_t eds_arena_used(const struct eds_arena *a);
ProtobufCAllocator *eds_arena_pbc(struct eds_arena *a);

#endif
