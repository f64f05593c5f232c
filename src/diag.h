/*
 * diag: the one diagnostic struct every module of the core returns.
 *
 * The core never prints and never exits.  A function that can fail takes a
 * struct eds_diag *, fills it on failure and returns the diagnostic's code
 * (so "return eds_diag_setf(d, ...)" is the idiom); it returns EDS_OK (0) on
 * success and leaves the diag alone.  Locations are stored as byte offsets
 * into the source (struct eds_src) and turned into line:col only when a front
 * end renders them (eds_src_linecol).  Binary input has no lines: its
 * diagnostics carry a byte offset (loc EDS_LOC_OFFSET).  Semantic problems
 * carry a field path such as endpoints[0].lb_endpoints[2].endpoint, built
 * with struct eds_path while walking.
 *
 * The codes are stable: they are edsmod's exit statuses, listed one by one in
 * man/edsmod.1.  Never renumber them.
 */
#ifndef EDS_DIAG_H
#define EDS_DIAG_H

#include <stddef.h>
#include <stdint.h>

enum eds_code {
	EDS_OK = 0,
	EDS_FINDINGS = 1,    /* check found errors (or warnings with --strict) */
	EDS_E_USAGE = 2,     /* bad command line */
	EDS_E_RULES = 3,     /* rules do not compile */
	EDS_E_DECODE = 4,    /* an input could not be decoded */
	EDS_E_IO = 5,        /* reading or writing a file failed */
	EDS_E_RUNTIME = 6,   /* a rule failed while running (type error, assert) */
	EDS_E_INVALID = 7,   /* a result would be an invalid CLA */
	EDS_E_ENCODE = 8,    /* a message cannot be written in the output format */
	EDS_E_LIMIT = 9,     /* an input exceeded a configured limit */
	EDS_E_INTERNAL = 70, /* a bug in edsmod */
};

enum eds_severity { EDS_SEV_ERROR = 0, EDS_SEV_WARNING, EDS_SEV_NOTE };

/* Where diagnostics point: a named text (or binary) held by the caller. */
struct eds_src {
	const char *name; /* "in.json", "<stdin>", "-e #2", "rules.edsmod" */
	const char *text; /* not necessarily NUL-terminated */
	size_t len;
};

struct eds_span {
	uint32_t start, end; /* byte offsets into eds_src.text, end exclusive */
};

enum eds_loc { EDS_LOC_NONE = 0, EDS_LOC_SPAN, EDS_LOC_OFFSET };

struct eds_diag {
	enum eds_code code;
	enum eds_severity severity;
	const struct eds_src *src; /* NULL when no input is involved */
	enum eds_loc loc;
	struct eds_span span;
	const char *id;  /* stable check id ("port-range") or NULL */
	char path[384];  /* field path, "" when none */
	char msg[320];   /* lower-case, no full stop, subjects in quotes */
};

/* Set code and message (printf-style); returns code.  Keeps src/loc/path. */
int eds_diag_setf(struct eds_diag *d, enum eds_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Attach a location; each returns d->code so they chain after setf. */
int eds_diag_span(struct eds_diag *d, const struct eds_src *src, size_t start, size_t end);
int eds_diag_offset(struct eds_diag *d, const struct eds_src *src, size_t off);
void eds_diag_clear(struct eds_diag *d);

/* Growable list of diagnostics (rules compile errors, check findings). */
struct eds_diags {
	struct eds_diag *v;
	size_t n, cap;
	size_t nerrors, nwarnings;
};
/* Append a cleared diag (severity error) and return it; never NULL. */
struct eds_diag *eds_diags_add(struct eds_diags *ds);
void eds_diags_count(struct eds_diags *ds); /* recompute nerrors/nwarnings */
void eds_diags_release(struct eds_diags *ds);

/* 1-based line and column (column counts UTF-8 characters) of byte off. */
void eds_src_linecol(const struct eds_src *src, size_t off, unsigned *line, unsigned *col);
/* The line containing off: its start offset and length (no newline). */
void eds_src_line(const struct eds_src *src, size_t off, size_t *start, size_t *len);

/*
 * A field path under construction, as a stack of frames; formatting happens
 * only when a diagnostic needs it.  name points at storage that outlives the
 * path (descriptor names, or source text for map keys with key_len).
 */
#define EDS_PATH_MAX 64
struct eds_path_frame {
	const char *name;  /* field name, or NULL for a bare index/key step */
	int64_t index;     /* >= 0: [index] follows the name */
	const char *key;   /* map key: ["key"] follows the name */
	size_t key_len;
};
struct eds_path {
	struct eds_path_frame f[EDS_PATH_MAX];
	unsigned n;        /* may exceed EDS_PATH_MAX; extra frames are elided */
};
static inline void eds_path_push(struct eds_path *p, const char *name, int64_t index)
{
	if (p->n < EDS_PATH_MAX) {
		p->f[p->n].name = name;
		p->f[p->n].index = index;
		p->f[p->n].key = NULL;
		p->f[p->n].key_len = 0;
	}
	p->n++;
}
static inline void eds_path_push_key(struct eds_path *p, const char *name, const char *key, size_t key_len)
{
	if (p->n < EDS_PATH_MAX) {
		p->f[p->n].name = name;
		p->f[p->n].index = -1;
		p->f[p->n].key = key;
		p->f[p->n].key_len = key_len;
	}
	p->n++;
}
static inline void eds_path_pop(struct eds_path *p) { p->n--; }
/* "endpoints[0].lb_endpoints[2].metadata.filter_metadata[\"envoy.lb\"]" */
void eds_path_format(const struct eds_path *p, char *out, size_t size);
/* Copy the formatted path into d->path. */
void eds_diag_path(struct eds_diag *d, const struct eds_path *p);

#endif
