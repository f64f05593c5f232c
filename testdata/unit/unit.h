/*
 * Shared by the C unit tests (testdata/unit/test_*.c): the counters and
 * check(), which reports a failure with where it happened and goes on, so
 * that one run lists every failure.  main() prints the counts and fails
 * when failed is not 0.
 */
#ifndef EDS_UNIT_H
#define EDS_UNIT_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;

__attribute__((format(printf, 3, 4), unused))
static void check(int ok, const char *where, const char *fmt, ...)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL %s: ", where);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* check(), with the calling function as where */
#define CHECK(cond, ...) check(!!(cond), __func__, __VA_ARGS__)

#endif
