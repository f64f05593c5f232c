#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *eds_cli_prog = "edsmod";

static const char *sev_name[] = { "error", "warning", "note" };

/*
 * A large regular file is mapped, not read: no copy, and no fresh memory
 * to fault in (30 MB of JSON cost 7,000 page faults read).  A file that
 * shrinks while mapped raises SIGBUS on the missing pages: that ends the
 * run with an I/O error naming the file.  Nothing is lost: output is
 * written last, and -i and -o replace files by renaming them.
 */
#define MAP_MIN ((size_t)1 << 20)

struct mapping {
	char *data;
	size_t len;
	struct mapping *next;
	size_t msg_len;
	char msg[]; /* what SIGBUS in this mapping prints */
};
static struct mapping *mappings;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	static const char other[] = "edsmod: error: an input file shrank while being read\n";
	const char *msg = other;
	size_t len = sizeof other - 1;
	(void)sig;
	(void)uc;
	for (const struct mapping *m = mappings; m; m = m->next) {
		if ((char *)si->si_addr >= m->data && (char *)si->si_addr < m->data + m->len) {
			msg = m->msg;
			len = m->msg_len;
		}
	}
	ssize_t n = write(2, msg, len);
	(void)n;
	_exit(EDS_E_IO);
}

static char *map_input(int fd, const char *name, size_t size)
{
	static const char fmt[] = "%s: error: cannot read \"%s\": it shrank while being read (another program changed it)\n";
	int n = snprintf(NULL, 0, fmt, eds_cli_prog, name);
	struct mapping *m = malloc(sizeof *m + (n > 0 ? (size_t)n : 0) + 1);
	if (!m || n < 0)
		abort();
	m->data = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (m->data == MAP_FAILED) {
		free(m);
		return NULL;
	}
	m->len = size;
	m->msg_len = (size_t)snprintf(m->msg, (size_t)n + 1, fmt, eds_cli_prog, name);
	m->next = mappings;
	mappings = m;
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	return m->data;
}

void eds_cli_unread(char *data)
{
	for (struct mapping **p = &mappings; *p; p = &(*p)->next) {
		if ((*p)->data == data) {
			struct mapping *m = *p;
			*p = m->next;
			munmap(m->data, m->len);
			free(m);
			return;
		}
	}
	free(data);
}

int eds_cli_read(const char *path, size_t max, char **data, size_t *len, struct eds_diag *d)
{
	int stdin_ = strcmp(path, "-") == 0;
	const char *name = stdin_ ? "<stdin>" : path;
	int fd = stdin_ ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return eds_diag_setf(d, EDS_E_IO, "cannot open \"%s\": %s", name, strerror(errno));
	struct stat st;
	size_t cap = 65536;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		if ((unsigned long long)st.st_size > max) {
			if (!stdin_)
				close(fd);
			return eds_diag_setf(d, EDS_E_LIMIT,
					     "\"%s\" is %lld bytes, more than the input limit of %zu (--max-input)",
					     name, (long long)st.st_size, max);
		}
		cap = (size_t)st.st_size + 1;
		char *mapped = (size_t)st.st_size >= MAP_MIN ? map_input(fd, name, (size_t)st.st_size) : NULL;
		if (mapped) {
			if (!stdin_)
				close(fd);
			*data = mapped;
			*len = (size_t)st.st_size;
			return EDS_OK;
		}
	} else if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (!stdin_)
			close(fd);
		return eds_diag_setf(d, EDS_E_IO, "cannot read \"%s\": is a directory", name);
	}
	char *buf = malloc(cap);
	size_t n = 0;
	if (!buf)
		abort();
	for (;;) {
		if (n == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				abort();
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			if (!stdin_)
				close(fd);
			return eds_diag_setf(d, EDS_E_IO, "cannot read \"%s\": %s", name, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(buf);
			if (!stdin_)
				close(fd);
			return eds_diag_setf(d, EDS_E_LIMIT,
					     "\"%s\" is more than the input limit of %zu bytes (--max-input)",
					     name, max);
		}
	}
	if (!stdin_)
		close(fd);
	*data = buf;
	*len = n;
	return EDS_OK;
}

void eds_cli_renderf(FILE *f, enum eds_severity sev, const char *fmt, ...)
{
	va_list ap;
	fprintf(f, "%s: %s: ", eds_cli_prog, sev_name[sev]);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

/* Show the source line around the span with a caret under it.  Long lines
 * (minified JSON) are cut to a window around the column. */
static void show_source(FILE *f, const struct eds_src *src, struct eds_span span)
{
	size_t ls, ll;
	eds_src_line(src, span.start, &ls, &ll);
	size_t col = span.start - ls; /* bytes into the line */
	size_t from = 0, to = ll;
	if (ll > 120) {
		from = col > 60 ? col - 60 : 0;
		while (from > 0 && ((unsigned char)src->text[ls + from] & 0xC0) == 0x80)
			from--;
		to = from + 120 < ll ? from + 120 : ll;
		while (to < ll && ((unsigned char)src->text[ls + to] & 0xC0) == 0x80)
			to++;
	}
	const char *line = src->text + ls;
	fputs("    ", f);
	if (from)
		fputs("...", f);
	for (size_t i = from; i < to; i++)
		fputc((unsigned char)line[i] < 0x20 && line[i] != '\t' ? '?' : line[i], f);
	if (to < ll)
		fputs("...", f);
	fputs("\n    ", f);
	if (from)
		fputs("   ", f);
	for (size_t i = from; i < col && i < to; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c & 0xC0) == 0x80)
			continue;
		fputc(c == '\t' ? '\t' : ' ', f);
	}
	fputc('^', f);
	size_t end = span.end > span.start ? span.end - ls : col + 1;
	if (end > to)
		end = to;
	for (size_t i = col + 1; i < end; i++)
		if (((unsigned char)line[i] & 0xC0) != 0x80)
			fputc('~', f);
	fputc('\n', f);
}

void eds_cli_render(FILE *f, const struct eds_diag *d)
{
	fprintf(f, "%s: %s: %s", eds_cli_prog, sev_name[d->severity], d->msg);
	if (d->id)
		fprintf(f, " [%s]", d->id);
	const struct eds_src *src = d->src;
	const char *path = d->path;
	if (src && d->loc == EDS_LOC_SPAN) {
		unsigned line, col;
		eds_src_linecol(src, d->span.start, &line, &col);
		fprintf(f, " at %s:%u:%u", src->name, line, col);
		if (path[0])
			fprintf(f, " (%s)", path);
		fputs(":\n", f);
		show_source(f, src, d->span);
		return;
	}
	if (src && d->loc == EDS_LOC_OFFSET)
		fprintf(f, " at %s: byte %u", src->name, d->span.start);
	else if (src)
		fprintf(f, " at %s", src->name);
	if (path[0])
		fprintf(f, src ? " (%s)" : " at %s", path);
	fputc('\n', f);
}

/* Append a source; files[i] is its path when it is a -f file to read. */
static void rules_push(struct eds_cli_rules *r, const struct eds_src *src, const char *file)
{
	struct eds_src *v = realloc(r->srcs, (r->n + 1) * sizeof *v);
	char **o = realloc(r->owned, (r->n + 1) * sizeof *o);
	const char **f = realloc(r->files, (r->n + 1) * sizeof *f);
	if (!v || !o || !f)
		abort();
	r->srcs = v;
	r->owned = o;
	r->files = f;
	r->srcs[r->n] = *src;
	r->owned[r->n] = NULL;
	r->files[r->n] = file;
	r->n++;
}

void eds_cli_rules_add_expr(struct eds_cli_rules *r, const char *expr)
{
	char *name = malloc(32);
	if (!name)
		abort();
	int k = 0;
	for (size_t i = 0; i < r->n; i++)
		k += !r->files[i];
	snprintf(name, 32, "-e #%d", k + 1);
	rules_push(r, &(struct eds_src){ .name = name, .text = expr, .len = strlen(expr) }, NULL);
}

void eds_cli_rules_add_file(struct eds_cli_rules *r, const char *path)
{
	char *name = strdup(strcmp(path, "-") ? path : "<stdin>");
	if (!name)
		abort();
	rules_push(r, &(struct eds_src){ .name = name, .text = "", .len = 0 }, path);
}

int eds_cli_rules_compile(struct eds_cli_rules *r, const struct eds_limits *lim, struct eds_arena *arena,
			  struct eds_program **out)
{
	for (size_t i = 0; i < r->n; i++) {
		if (!r->files[i] || r->owned[i])
			continue;
		struct eds_diag d = { 0 };
		int rc = eds_cli_read(r->files[i], lim->max_rules_size, &r->owned[i], &r->srcs[i].len, &d);
		if (rc == EDS_E_LIMIT)
			eds_diag_setf(&d, EDS_E_LIMIT, "rules file \"%s\" is more than the limit of %zu bytes "
				      "(--max-rules-size)", r->srcs[i].name, lim->max_rules_size);
		if (rc) {
			eds_cli_render(stderr, &d);
			return rc;
		}
		r->srcs[i].text = r->owned[i];
	}
	struct eds_diags errs = { 0 };
	int rc = eds_rules_compile(r->srcs, r->n, lim, arena, out, &errs);
	for (size_t i = 0; i < errs.n; i++)
		eds_cli_render(stderr, &errs.v[i]);
	if (rc && errs.n > 1)
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "%zu errors in rules", errs.n);
	eds_diags_release(&errs);
	return rc;
}

void eds_cli_rules_release(struct eds_cli_rules *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free((char *)r->srcs[i].name);
		eds_cli_unread(r->owned[i]);
	}
	free(r->srcs);
	free(r->owned);
	free(r->files);
	memset(r, 0, sizeof *r);
}

int eds_cli_write_fd(int fd, const char *name, const char *data, size_t len, struct eds_diag *d)
{
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return eds_diag_setf(d, EDS_E_IO, "cannot write \"%s\": %s", name, strerror(errno));
		data += w;
		len -= (size_t)w;
	}
	return EDS_OK;
}

/* The descriptor path names (/dev/stdout, /dev/fd/3, ...), or -1. */
static int names_a_descriptor(const char *path)
{
	const char *num = NULL;
	if (strcmp(path, "/dev/stdout") == 0)
		return 1;
	if (strcmp(path, "/dev/stderr") == 0)
		return 2;
	if (strncmp(path, "/dev/fd/", 8) == 0)
		num = path + 8;
	else if (strncmp(path, "/proc/self/fd/", 14) == 0)
		num = path + 14;
	if (!num || *num < '0' || *num > '9')
		return -1;
	char *end;
	long fd = strtol(num, &end, 10);
	return *end || fd > 1 << 20 ? -1 : (int)fd;
}

int eds_cli_write_atomic(const char *path, const char *data, size_t len, bool only_regular, struct eds_diag *d)
{
	struct stat st;
	bool exists = stat(path, &st) == 0; /* (through symlinks) */
	int stream = names_a_descriptor(path);
	if (exists && S_ISDIR(st.st_mode))
		return eds_diag_setf(d, EDS_E_IO, "cannot write \"%s\": it is a directory", path);
	if (stream >= 0 || (exists && !S_ISREG(st.st_mode))) {
		/* A standard stream, a device, a FIFO or a socket: there is
		 * nothing to replace, so write to it (the output is complete). */
		if (only_regular)
			return eds_diag_setf(d, EDS_E_IO, "cannot edit \"%s\" in place: not a regular file", path);
		if (stream >= 0) /* as the shell opened it (appending, say) */
			return eds_cli_write_fd(stream, path, data, len, d);
		int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0)
			return eds_diag_setf(d, EDS_E_IO, "cannot write \"%s\": %s", path, strerror(errno));
		int rc = eds_cli_write_fd(fd, path, data, len, d);
		if (close(fd) < 0 && !rc)
			rc = eds_diag_setf(d, EDS_E_IO, "cannot write \"%s\": %s", path, strerror(errno));
		return rc;
	}
	/* A symlink to a file: replace the file it leads to, keep the link. */
	char *real = exists ? realpath(path, NULL) : NULL;
	const char *target = real ? real : path;
	char *copy = strdup(target);
	if (!copy)
		abort();
	const char *dir = dirname(copy);
	size_t n = strlen(dir) + 32;
	char *tmp = malloc(n);
	if (!tmp)
		abort();
	snprintf(tmp, n, "%s/.edsmod.XXXXXX", dir);
	free(copy);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int rc = eds_diag_setf(d, EDS_E_IO, "cannot create a temporary file next to \"%s\": %s",
				       target, strerror(errno));
		free(tmp);
		free(real);
		return rc;
	}
	mode_t mode;
	if (exists) {
		mode = st.st_mode & 07777;
		/* its owner and group too, where we may (as sed -i does) */
		int own = fchown(fd, st.st_uid, st.st_gid);
		if (own < 0)
			own = fchown(fd, (uid_t)-1, st.st_gid);
		(void)own;
	} else {
		mode_t um = umask(0);
		umask(um);
		mode = 0666 & ~um;
	}
	int rc = eds_cli_write_fd(fd, path, data, len, d);
	if (!rc && fchmod(fd, mode) < 0)
		rc = eds_diag_setf(d, EDS_E_IO, "cannot set the mode of \"%s\": %s", tmp, strerror(errno));
	if (!rc && fsync(fd) < 0)
		rc = eds_diag_setf(d, EDS_E_IO, "cannot write \"%s\": %s", path, strerror(errno));
	if (close(fd) < 0 && !rc)
		rc = eds_diag_setf(d, EDS_E_IO, "cannot write \"%s\": %s", path, strerror(errno));
	if (!rc && rename(tmp, target) < 0)
		rc = eds_diag_setf(d, EDS_E_IO, "cannot replace \"%s\": %s", target, strerror(errno));
	if (rc)
		unlink(tmp);
	free(tmp);
	free(real);
	return rc;
}

long long eds_cli_parse_size(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	long long mul = 1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = 1LL << 10; end++; break;
	case 'm': case 'M': mul = 1LL << 20; end++; break;
	case 'g': case 'G': mul = 1LL << 30; end++; break;
	default: return -1;
	}
	if (*end == 'i' && end[-1] != '\0')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > (1LL << 62) / mul)
		return -1;
	return v * mul;
}

/* A positive count (no suffix); -1 on error. */
static long long parse_count(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	return errno || end == s || *end || v < 1 ? -1 : v;
}

int eds_cli_limit_opt(struct eds_limits *lim, int opt, const char *arg)
{
	const char *name;
	size_t *dst;
	bool count = false;
	switch (opt) {
	case EDS_OPT_MAX_STRING: name = "--max-string"; dst = &lim->max_string; break;
	case EDS_OPT_MAX_RULES: name = "--max-rules"; dst = &lim->max_rules; count = true; break;
	case EDS_OPT_MAX_RULES_SIZE: name = "--max-rules-size"; dst = &lim->max_rules_size; break;
	case EDS_OPT_MAX_REGEX: name = "--max-regex"; dst = &lim->max_regex; break;
	case EDS_OPT_MAX_REGEXES: name = "--max-regexes"; dst = &lim->max_regexes; count = true; break;
	default: return 0;
	}
	long long v = count ? parse_count(arg) : eds_cli_parse_size(arg);
	if (v <= 0) {
		eds_cli_renderf(stderr, EDS_SEV_ERROR, "bad %s \"%s\" (a positive number%s)", name, arg,
				count ? "" : ", optionally with K, M or G");
		return -1;
	}
	*dst = (size_t)v;
	return 1;
}

static void *check_run(void *arg)
{
	struct eds_cli_check_job *j = arg;
	j->nerr = eds_check_cla(j->cla, &j->co, &j->f);
	return NULL;
}

void eds_cli_check_start(struct eds_cli_check_job *j, const ProtobufCMessage *cla,
			 const struct eds_check_opts *co, unsigned part)
{
	*j = (struct eds_cli_check_job){ .cla = cla, .co = *co };
	j->co.parts = part;
	j->started = pthread_create(&j->thread, NULL, check_run, j) == 0;
	if (!j->started)
		check_run(j);
}

size_t eds_cli_check_join(struct eds_cli_check_job *j, struct eds_diags *into)
{
	if (j->started)
		pthread_join(j->thread, NULL);
	for (size_t k = 0; k < j->f.n; k++)
		*eds_diags_add(into) = j->f.v[k];
	eds_diags_count(into);
	eds_diags_release(&j->f);
	return j->nerr;
}
