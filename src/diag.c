#include "diag.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eds_diag_setf(struct eds_diag *d, enum eds_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
	d->code = code;
	return code;
}

int eds_diag_span(struct eds_diag *d, const struct eds_src *src, size_t start, size_t end)
{
	d->src = src;
	d->loc = EDS_LOC_SPAN;
	d->span.start = (uint32_t)start;
	d->span.end = (uint32_t)(end < start ? start : end);
	return d->code;
}

int eds_diag_offset(struct eds_diag *d, const struct eds_src *src, size_t off)
{
	d->src = src;
	d->loc = EDS_LOC_OFFSET;
	d->span.start = d->span.end = (uint32_t)off;
	return d->code;
}

void eds_diag_clear(struct eds_diag *d)
{
	memset(d, 0, sizeof *d);
}

struct eds_diag *eds_diags_add(struct eds_diags *ds)
{
	if (ds->n == ds->cap) {
		size_t cap = ds->cap ? ds->cap * 2 : 8;
		struct eds_diag *v = realloc(ds->v, cap * sizeof *v);
		if (!v)
			abort();
		ds->v = v;
		ds->cap = cap;
	}
	struct eds_diag *d = &ds->v[ds->n++];
	eds_diag_clear(d);
	return d;
}

void eds_diags_count(struct eds_diags *ds)
{
	ds->nerrors = ds->nwarnings = 0;
	for (size_t i = 0; i < ds->n; i++) {
		if (ds->v[i].severity == EDS_SEV_ERROR)
			ds->nerrors++;
		else if (ds->v[i].severity == EDS_SEV_WARNING)
			ds->nwarnings++;
	}
}

void eds_diags_release(struct eds_diags *ds)
{
	free(ds->v);
	memset(ds, 0, sizeof *ds);
}

/* A line ends at "\n", "\r\n" or a "\r" alone (YAML's line breaks; editors'). */
static bool breaks_line(const struct eds_src *src, size_t i)
{
	return src->text[i] == '\n' || (src->text[i] == '\r' && (i + 1 == src->len || src->text[i + 1] != '\n'));
}

void eds_src_linecol(const struct eds_src *src, size_t off, unsigned *line, unsigned *col)
{
	unsigned l = 1, c = 1;
	if (off > src->len)
		off = src->len;
	for (size_t i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)src->text[i];
		if (breaks_line(src, i)) {
			l++;
			c = 1;
		} else if ((ch & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

void eds_src_line(const struct eds_src *src, size_t off, size_t *start, size_t *len)
{
	if (off > src->len)
		off = src->len;
	size_t s = off;
	while (s > 0 && !breaks_line(src, s - 1))
		s--;
	size_t e = off;
	while (e < src->len && src->text[e] != '\n' && src->text[e] != '\r')
		e++;
	*start = s;
	*len = e - s;
}

static size_t put(char *out, size_t size, size_t at, const char *s, size_t n)
{
	for (size_t i = 0; i < n && at + 1 < size; i++)
		out[at++] = s[i];
	if (size)
		out[at < size ? at : size - 1] = '\0';
	return at;
}

void eds_path_format(const struct eds_path *p, char *out, size_t size)
{
	size_t at = 0;
	char num[32];
	unsigned n = p->n < EDS_PATH_MAX ? p->n : EDS_PATH_MAX;
	if (size)
		out[0] = '\0';
	for (unsigned i = 0; i < n; i++) {
		const struct eds_path_frame *f = &p->f[i];
		if (f->name) {
			if (at)
				at = put(out, size, at, ".", 1);
			at = put(out, size, at, f->name, strlen(f->name));
		}
		if (f->index >= 0) {
			int k = snprintf(num, sizeof num, "[%lld]", (long long)f->index);
			at = put(out, size, at, num, (size_t)k);
		} else if (f->key) {
			at = put(out, size, at, "[\"", 2);
			for (size_t j = 0; j < f->key_len; j++) {
				char c = f->key[j];
				if (c == '"' || c == '\\')
					at = put(out, size, at, "\\", 1);
				at = put(out, size, at, &c, 1);
			}
			at = put(out, size, at, "\"]", 2);
		}
	}
	if (p->n > EDS_PATH_MAX)
		put(out, size, at, "...", 3);
}

void eds_diag_path(struct eds_diag *d, const struct eds_path *p)
{
	eds_path_format(p, d->path, sizeof d->path);
}
